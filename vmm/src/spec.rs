//! What to boot: the VMM-independent description of one machine.
//!
//! The caller (kiln's CLI, with the Unikraft rules) has already built the kernel and the
//! kernel command line; each VMM module turns a [`MachineSpec`] into its own configuration
//! and refuses, before starting anything, the combinations it cannot do.

use std::path::PathBuf;

/// Which monitor runs the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vmm {
    /// QEMU (`qemu-system-x86_64` / `qemu-system-aarch64`).
    Qemu,
    /// Firecracker.
    Firecracker,
    /// Xen, through `xl`.
    Xen,
}

/// The guest's architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuestArch {
    /// x86_64.
    X86_64,
    /// arm64 (AArch64).
    Arm64,
}

/// How to accelerate a QEMU guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM when it really works on this machine, else TCG.
    #[default]
    Auto,
    /// KVM (an error if it does not work).
    Kvm,
    /// Software emulation.
    Tcg,
}

/// The transport protocol of a port mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// A host port forwarded to a guest port (`-p HOST:GUEST[/udp]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMap {
    /// The host address to listen on (default: all).
    pub host_ip: Option<String>,
    /// The host port.
    pub host: u16,
    /// The guest port.
    pub guest: u16,
    /// TCP or UDP.
    pub proto: Proto,
}

/// A host directory shared with the guest over 9p (`-v HOST:GUEST`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SharedDir {
    /// The host directory (absolute).
    pub host: PathBuf,
    /// The 9p mount tag the guest mounts by (`fs0`, `fs1`, ...).
    pub tag: String,
    /// Read-only in the guest.
    pub readonly: bool,
}

/// Everything needed to boot one machine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MachineSpec {
    /// The instance's name.
    pub name: String,
    /// Which monitor.
    pub vmm: Vmm,
    /// The guest architecture.
    pub arch: GuestArch,
    /// The kernel image.
    pub kernel: PathBuf,
    /// An initrd passed at boot.
    pub initrd: Option<PathBuf>,
    /// The complete kernel command line (`<lib params> -- <app args>`).
    pub cmdline: String,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Port mappings.
    pub ports: Vec<PortMap>,
    /// Shared directories.
    pub shared_dirs: Vec<SharedDir>,
    /// Acceleration (QEMU only).
    pub accel: Accel,
}
