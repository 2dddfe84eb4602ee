//! The merged Kconfig of one target, in a documented, deterministic order.
//!
//! Later layers override earlier ones, symbol by symbol:
//! 1. the core's `kconfig` (`unikraft:`);
//! 2. each library's, libraries sorted by name;
//! 3. the template's;
//! 4. the options implied by the target's architecture and platform (as kraft sets them);
//! 5. the target's own `kconfig`;
//! 6. the Kraftfile's `env:`, as `CONFIG_LIBPOSIX_ENVIRON_ENVP<N>="K=V"`, numbered after any
//!    ENVP entries already set, in sorted order of the variable names.
//!
//! The result is a sorted list of `(symbol, value)`; this module writes no files.

use std::collections::BTreeMap;

use crate::kraftfile::{Arch, Kraftfile, Platform, Target};

/// Symbol -> value, sorted by symbol.
pub type KconfigValues = BTreeMap<String, String>;

/// The options kraft implies for a target.
pub fn implied(target: &Target) -> KconfigValues {
    let mut m = KconfigValues::new();
    let arch = match target.arch {
        Arch::X86_64 => "CONFIG_ARCH_X86_64",
        Arch::Arm64 => "CONFIG_ARCH_ARM_64",
        Arch::Arm => "CONFIG_ARCH_ARM_32",
    };
    m.insert(arch.into(), "y".into());
    match target.plat {
        Platform::Qemu => {
            m.insert("CONFIG_PLAT_KVM".into(), "y".into());
            m.insert("CONFIG_KVM_VMM_QEMU".into(), "y".into());
        }
        Platform::Fc => {
            m.insert("CONFIG_PLAT_KVM".into(), "y".into());
            m.insert("CONFIG_KVM_VMM_FIRECRACKER".into(), "y".into());
        }
        Platform::Xen => {
            m.insert("CONFIG_PLAT_XEN".into(), "y".into());
        }
    }
    m
}

/// The merged options of `target` in `kf` (host env lookups resolved by `env`).
pub fn merged(
    kf: &Kraftfile,
    target: &Target,
    env: &dyn Fn(&str) -> Option<String>,
) -> KconfigValues {
    let mut m = KconfigValues::new();
    let layers = kf
        .unikraft
        .iter()
        .chain(kf.libraries.values())
        .chain(kf.template.iter())
        .map(|c| &c.kconfig.0);
    for layer in layers {
        m.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    m.extend(implied(target));
    m.extend(target.kconfig.0.iter().map(|(k, v)| (k.clone(), v.clone())));
    let taken = m
        .keys()
        .filter(|k| k.starts_with("CONFIG_LIBPOSIX_ENVIRON_ENVP"))
        .count();
    let mut vars: Vec<(String, String)> = kf
        .env
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                e.value.clone().or_else(|| env(&e.name)).unwrap_or_default(),
            )
        })
        .collect();
    vars.sort();
    for (i, (k, v)) in vars.into_iter().enumerate() {
        m.insert(
            format!("CONFIG_LIBPOSIX_ENVIRON_ENVP{}", taken + i),
            format!("\"{k}={v}\""),
        );
    }
    m
}
