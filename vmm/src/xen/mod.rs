//! Xen: a [`MachineSpec`] becomes an `xl` domain configuration ([`config`]), which
//! [`launch`] hands to `xl create -p`, then attaches `xl console` and unpauses the domain.
//!
//! What kiln generates follows what kraft asks libxl for (kraft calls libxl directly; kiln
//! writes the equivalent xl.cfg(5) text, which an operator can read and rerun):
//! - x86_64: `type = "pv"`. Unikraft's Xen platform is PV-only on x86 (its
//!   `XEN_HVMLITE` option is off there) and kraft creates PV domains.
//! - arm64: `type = "pvh"`. Unikraft's Xen platform supports arm64 (`XEN_HVMLITE`, the
//!   only guest type xl offers on Arm). The config is generated anywhere; [`launch`] only
//!   runs it on an arm64 host, since Xen does not emulate another architecture.
//! - one vCPU: Unikraft's `PLAT_XEN` excludes SMP, so more vCPUs would never come up.
//! - port mappings are refused: a Xen guest reaches the network through a vif on a host
//!   bridge ([`XenOptions::vifs`]); there is no user-mode forwarding as QEMU has.
//! - shared directories become `p9` devices with `security_model=none`, the only model
//!   xl documents; read-only shares are refused, as the Xen 9pfs backend has no read-only
//!   mode.
//! - the command line goes to `extra` unchanged (kraft does not prepend the kernel's name
//!   on Xen, unlike Firecracker).

mod config;
mod launch;

use std::path::PathBuf;

pub use config::config;
pub use launch::{CONFIG_FILE, SERIAL_LOG, XenInstance, XlCommands, launch, launch_with};

/// Everything that can go wrong generating or launching a Xen domain.
#[derive(Debug, thiserror::Error)]
pub enum XenError {
    /// The spec maps ports.
    #[error(
        "port mappings (-p) are not supported on Xen: a Xen guest is networked through a \
         vif on a host bridge (configure one and attach it), or run with qemu"
    )]
    PortsUnsupported,
    /// More than one vCPU.
    #[error("Unikraft's Xen platform is single-core (PLAT_XEN excludes SMP): use 1 vCPU, not {0}")]
    SmpUnsupported(u32),
    /// No vCPU.
    #[error("the guest needs 1 vCPU, not 0")]
    NoCpu,
    /// The memory size is zero.
    #[error("the guest needs some memory: 0 MiB requested")]
    NoMemory,
    /// A shared directory is read-only.
    #[error(
        "{0}: read-only shared directories are not supported on Xen (its 9pfs backend has \
         no read-only mode); share it read-write or use qemu"
    )]
    ReadonlyShare(PathBuf),
    /// A path is relative, not UTF-8, or contains characters xl cannot take.
    #[error("{0}: xl needs an absolute UTF-8 path without ',', quotes, '\\' or control characters")]
    BadPath(PathBuf),
    /// A value for xl is malformed.
    #[error("{what} {value:?} is not valid for xl: {why}")]
    BadValue {
        /// What the value is (`domain name`, `bridge`, ...).
        what: &'static str,
        /// The value.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The guest's architecture is not the host's.
    #[error("an {guest} Xen guest cannot run on this {host} host")]
    ForeignArch {
        /// The guest's architecture.
        guest: &'static str,
        /// The host's architecture.
        host: &'static str,
    },
    /// No `xl` on `PATH`.
    #[error(
        "xl is not installed: no `xl` on PATH. Run kiln in a Xen dom0 with the Xen tools \
         (Debian: xen-utils), or run with qemu"
    )]
    NotInstalled,
    /// A file in the state directory could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// `xl` could not be started.
    #[error("could not run {command}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// What failed.
        source: std::io::Error,
    },
    /// `xl` failed.
    #[error("{command} failed ({status}): {stderr}")]
    Xl {
        /// The command line.
        command: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
}

/// A virtual network interface on a host bridge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XenVif {
    /// The host bridge (for example `xenbr0`); it must exist.
    pub bridge: String,
    /// The guest's MAC address; xl picks one (`00:16:3e:...`) when unset.
    pub mac: Option<String>,
}

/// Xen-only settings that a [`crate::spec::MachineSpec`] does not carry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XenOptions {
    /// Network interfaces, in guest order.
    pub vifs: Vec<XenVif>,
}
