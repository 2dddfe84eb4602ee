//! Which monitor this host offers, for `kiln run` without `--plat` (kraft's rule, in
//! kraftkit's machine/platform/detect.go: Xen when the host is a Xen domain with `xl`, else
//! QEMU when a `qemu-system-*` binary or a KVM device is there, else Firecracker when its
//! binary is installed). Only looks at files and `PATH`; starts nothing.

use std::path::Path;

use crate::spec::Vmm;

/// The monitor `kiln run` uses by default on this host, for guests of `qemu_binary`'s
/// architecture (`qemu-system-x86_64`, `qemu-system-aarch64`).
pub fn host_vmm(qemu_binary: &str) -> Vmm {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = |name: &str| std::env::split_paths(&path).any(|d| d.join(name).is_file());
    if Path::new("/proc/xen").exists() && on_path("xl") {
        Vmm::Xen
    } else if on_path(qemu_binary) || Path::new("/dev/kvm").exists() {
        Vmm::Qemu
    } else if on_path("firecracker") {
        Vmm::Firecracker
    } else {
        Vmm::Qemu
    }
}
