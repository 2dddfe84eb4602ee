//! Firecracker: a [`MachineSpec`] becomes an ordered list of API requests ([`plan`]), which
//! [`launch`] sends over the API socket of a `firecracker --api-sock` process it starts.
//!
//! The stages follow Firecracker's own: the spec (input) → [`FcConfig`] (validated, every
//! request typed after `specs/firecracker-api.yaml`) → a booted [`FcInstance`]. Everything
//! Firecracker cannot do is refused in [`plan`], before a process exists:
//! - port mappings: Firecracker has no user-mode network stack (no SLIRP); a guest reaches
//!   the network only through a host tap device ([`FcOptions::taps`]);
//! - shared directories: Firecracker has no virtio-9p device;
//! - software emulation: Firecracker runs on KVM only.
//!
//! This module does not track instances after boot or stop them; that is the caller's.

mod api;
mod client;
mod launch;

use std::path::{Path, PathBuf};

pub use api::{
    ActionType, ApiFault, ApiRequest, BootSource, Drive, InstanceActionInfo, InstanceInfo,
    InstanceState, Logger, MachineConfiguration, NetworkInterface,
};
pub use client::ApiClient;
pub use launch::{
    API_SOCKET, FIRECRACKER_LOG, FcInstance, SERIAL_LOG, configure_and_start, find_program, launch,
    launch_with,
};

use crate::spec::{Accel, GuestArch, MachineSpec};

/// The most vCPUs Firecracker accepts (`MachineConfiguration.vcpu_count` maximum).
pub const MAX_VCPUS: u32 = 32;

/// Everything that can go wrong planning or launching a Firecracker machine.
#[derive(Debug, thiserror::Error)]
pub enum FcError {
    /// The spec maps ports.
    #[error(
        "port mappings (-p) are not supported on Firecracker: it has no user-mode networking. \
         Attach a tap device instead, or run with qemu"
    )]
    PortsUnsupported,
    /// The spec shares host directories.
    #[error(
        "shared directories (-v, 9p) are not supported on Firecracker: it has no virtio-9p \
         device. Put the files in the initrd, or run with qemu"
    )]
    SharedDirsUnsupported,
    /// The spec asks for software emulation.
    #[error("Firecracker needs KVM: software emulation (TCG) is only available with qemu")]
    EmulationUnsupported,
    /// The vCPU count is outside 1..=32.
    #[error("Firecracker supports 1 to {MAX_VCPUS} vCPUs, not {0}")]
    BadCpuCount(u32),
    /// The memory size is zero.
    #[error("the guest needs some memory: 0 MiB requested")]
    NoMemory,
    /// A path cannot be sent as a JSON string or has no file name.
    #[error("{0}: Firecracker needs an absolute UTF-8 path to a file")]
    BadPath(PathBuf),
    /// A tap device name is not a valid Linux interface name.
    #[error("{0:?} is not a tap device name (1 to 15 characters, no '/', ':' or spaces)")]
    BadTap(String),
    /// A MAC address is malformed.
    #[error("{0:?} is not a MAC address (six hex pairs separated by ':')")]
    BadMac(String),
    /// The guest's architecture is not the host's; Firecracker cannot emulate.
    #[error("an {guest} guest cannot run under Firecracker on this {host} host (KVM only)")]
    ForeignArch {
        /// The guest's architecture.
        guest: &'static str,
        /// The host's architecture.
        host: &'static str,
    },
    /// No `firecracker` binary on `PATH`.
    #[error(
        "firecracker is not installed: no `firecracker` on PATH. Install a release from \
         https://github.com/firecracker-microvm/firecracker/releases, or run with qemu"
    )]
    NotInstalled,
    /// A file in the state directory could not be prepared.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The process could not be started.
    #[error("could not start {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The process exited before or while it was being configured.
    #[error("firecracker exited early ({status}); see {log}")]
    Exited {
        /// How it exited.
        status: std::process::ExitStatus,
        /// Its log.
        log: PathBuf,
    },
    /// The API socket did not appear in time.
    #[error("firecracker's API socket {0} did not appear within 5 s")]
    SocketTimeout(PathBuf),
    /// The API socket could not be connected to or configured.
    #[error("API socket {socket}: {source}")]
    Socket {
        /// The socket.
        socket: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A request body could not be encoded.
    #[error("encoding a request body: {0}")]
    Encode(serde_json::Error),
    /// The peer did not speak HTTP/1.1 as expected.
    #[error("Firecracker API: {0}")]
    Protocol(String),
    /// Firecracker refused a request.
    #[error("Firecracker refused {method} {path} ({status}): {fault_message}")]
    Api {
        /// The method.
        method: String,
        /// The path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// Firecracker's `fault_message`.
        fault_message: String,
    },
}

/// A host tap device to attach as the guest's next network interface.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TapInterface {
    /// The host tap device (for example `tap0`); it must exist and be up.
    pub tap: String,
    /// The guest's MAC address; the guest picks one when unset.
    pub guest_mac: Option<String>,
}

/// Firecracker-only settings that a [`MachineSpec`] does not carry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FcOptions {
    /// Network interfaces, in guest order (`net0`, `net1`, ...).
    pub taps: Vec<TapInterface>,
}

/// A validated Firecracker machine: the configuration requests, in the order to send them.
///
/// `InstanceStart` is not among them: [`launch`] sends it after all of these succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcConfig {
    /// The guest's architecture (checked against the host at launch).
    pub arch: GuestArch,
    /// `PUT /machine-config`, `PUT /boot-source`, then one `PUT /network-interfaces/{id}`
    /// per tap.
    pub requests: Vec<ApiRequest>,
}

/// Validates `spec` for Firecracker and returns the requests that configure it.
///
/// Pure apart from making relative paths absolute against the current directory
/// (Firecracker resolves paths from its own working directory).
pub fn plan(spec: &MachineSpec, options: &FcOptions) -> Result<FcConfig, FcError> {
    check_supported(spec)?;
    let kernel = json_path(&spec.kernel)?;
    let basename = spec
        .kernel
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| FcError::BadPath(spec.kernel.clone()))?;
    let initrd = spec.initrd.as_deref().map(json_path).transpose()?;
    let mut requests = vec![
        ApiRequest::MachineConfig(MachineConfiguration {
            vcpu_count: spec.cpus,
            mem_size_mib: spec.memory_mib,
            smt: false,
            track_dirty_pages: None,
        }),
        ApiRequest::BootSource(BootSource {
            kernel_image_path: kernel,
            initrd_path: initrd,
            boot_args: Some(boot_args(basename, &spec.cmdline)),
        }),
    ];
    for (index, tap) in options.taps.iter().enumerate() {
        requests.push(ApiRequest::NetworkInterface(network_interface(index, tap)?));
    }
    Ok(FcConfig {
        arch: spec.arch,
        requests,
    })
}

/// `<kernel basename> <cmdline>`, as kraft passes it: Unikraft on Firecracker takes the
/// first word of the command line as argv[0].
pub fn boot_args(kernel_basename: &str, cmdline: &str) -> String {
    let cmdline = cmdline.trim();
    if cmdline.is_empty() {
        kernel_basename.to_owned()
    } else {
        format!("{kernel_basename} {cmdline}")
    }
}

/// Refuses what Firecracker cannot do.
fn check_supported(spec: &MachineSpec) -> Result<(), FcError> {
    if !spec.ports.is_empty() {
        return Err(FcError::PortsUnsupported);
    }
    if !spec.shared_dirs.is_empty() {
        return Err(FcError::SharedDirsUnsupported);
    }
    if spec.accel == Accel::Tcg {
        return Err(FcError::EmulationUnsupported);
    }
    if !(1..=MAX_VCPUS).contains(&spec.cpus) {
        return Err(FcError::BadCpuCount(spec.cpus));
    }
    if spec.memory_mib == 0 {
        return Err(FcError::NoMemory);
    }
    Ok(())
}

/// The absolute path as a JSON string.
fn json_path(path: &Path) -> Result<String, FcError> {
    let absolute = std::path::absolute(path).map_err(|_| FcError::BadPath(path.to_path_buf()))?;
    match absolute.to_str() {
        Some(s) if absolute.file_name().is_some() => Ok(s.to_owned()),
        _ => Err(FcError::BadPath(path.to_path_buf())),
    }
}

/// The `index`-th network interface, `net<index>`.
fn network_interface(index: usize, tap: &TapInterface) -> Result<NetworkInterface, FcError> {
    let name_ok = (1..=15).contains(&tap.tap.len())
        && !tap.tap.contains(['/', ':'])
        && !tap.tap.chars().any(|c| c.is_whitespace() || c.is_control());
    if !name_ok {
        return Err(FcError::BadTap(tap.tap.clone()));
    }
    if let Some(mac) = &tap.guest_mac
        && !is_mac(mac)
    {
        return Err(FcError::BadMac(mac.clone()));
    }
    Ok(NetworkInterface {
        iface_id: format!("net{index}"),
        host_dev_name: tap.tap.clone(),
        guest_mac: tap.guest_mac.clone(),
    })
}

/// Whether `mac` looks like `02:00:00:00:00:01`.
pub(crate) fn is_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The architecture's name as kiln and Rust spell it.
pub(crate) fn arch_name(arch: GuestArch) -> &'static str {
    match arch {
        GuestArch::X86_64 => "x86_64",
        GuestArch::Arm64 => "aarch64",
    }
}
