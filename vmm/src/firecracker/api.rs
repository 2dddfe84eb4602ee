//! The Firecracker API bodies kiln sends and reads, typed after `specs/firecracker-api.yaml`.
//!
//! Each struct mirrors one definition of the Swagger document with the same field names;
//! optional fields are left out of the JSON when unset, as Firecracker applies its own
//! defaults then. Only the definitions kiln uses are here. [`ApiRequest`] pairs a body with
//! its method and path, so a [`super::FcConfig`] is a plain ordered list of requests.

use serde::{Deserialize, Serialize};

/// `MachineConfiguration`: vCPUs and memory (`PUT /machine-config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineConfiguration {
    /// Number of vCPUs, 1 to 32 (with SMT off any count in that range is allowed).
    pub vcpu_count: u32,
    /// Guest memory in MiB.
    pub mem_size_mib: u64,
    /// Simultaneous multithreading; kiln always sends `false` (Unikraft guests gain nothing).
    pub smt: bool,
    /// Dirty-page tracking for diff snapshots; left to Firecracker's default when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track_dirty_pages: Option<bool>,
}

/// `BootSource`: the kernel, its initrd and command line (`PUT /boot-source`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootSource {
    /// Host path of the kernel image.
    pub kernel_image_path: String,
    /// Host path of the initrd, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initrd_path: Option<String>,
    /// The kernel command line (`<kernel basename> <params> -- <args>` for Unikraft).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_args: Option<String>,
}

/// `NetworkInterface`: a virtio-net device backed by a host tap device
/// (`PUT /network-interfaces/{iface_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkInterface {
    /// The interface id; the same string is the last path segment.
    pub iface_id: String,
    /// The host tap device's name (for example `tap0`).
    pub host_dev_name: String,
    /// The guest's MAC address; Firecracker lets the guest choose when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest_mac: Option<String>,
}

/// `Drive`: a virtio-block device (`PUT /drives/{drive_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drive {
    /// The drive id; the same string is the last path segment.
    pub drive_id: String,
    /// Host path of the backing file.
    pub path_on_host: String,
    /// Whether the guest boots from this drive.
    pub is_root_device: bool,
    /// Whether the guest sees the drive read-only.
    pub is_read_only: bool,
}

/// `Logger`: where Firecracker writes its own log (`PUT /logger`), kept apart from the
/// guest's serial output on stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logger {
    /// Host path of the log file (it must exist).
    pub log_path: String,
    /// `Error`, `Warning`, `Info`, `Debug`, `Trace` or `Off`.
    pub level: String,
}

/// The `action_type` of an `InstanceActionInfo` (`PUT /actions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionType {
    /// Boot the configured machine.
    InstanceStart,
    /// Send Ctrl+Alt+Del (x86_64 only): asks the guest to shut down.
    SendCtrlAltDel,
    /// Flush Firecracker's metrics.
    FlushMetrics,
}

/// `InstanceActionInfo`: a synchronous action (`PUT /actions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceActionInfo {
    /// Which action.
    pub action_type: ActionType,
}

/// `InstanceInfo`: what `GET /` (describeInstance) answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// The application name (`Firecracker`).
    pub app_name: String,
    /// The instance id (`--id`, default `anonymous-instance`).
    pub id: String,
    /// `Not started`, `Running` or `Paused`.
    pub state: InstanceState,
    /// Firecracker's version.
    pub vmm_version: String,
}

/// The `state` of an [`InstanceInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceState {
    /// Configured (or not) but not booted.
    #[serde(rename = "Not started")]
    NotStarted,
    /// Booted and running.
    Running,
    /// Paused.
    Paused,
}

/// `Error`: the body of a non-2xx answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiFault {
    /// Firecracker's description of what was wrong.
    #[serde(default)]
    pub fault_message: String,
}

/// One pre-boot configuration request: its path and its typed body (all are `PUT`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiRequest {
    /// `PUT /logger`.
    Logger(Logger),
    /// `PUT /machine-config`.
    MachineConfig(MachineConfiguration),
    /// `PUT /boot-source`.
    BootSource(BootSource),
    /// `PUT /drives/{drive_id}`.
    Drive(Drive),
    /// `PUT /network-interfaces/{iface_id}`.
    NetworkInterface(NetworkInterface),
    /// `PUT /actions`.
    Action(InstanceActionInfo),
}

impl ApiRequest {
    /// The HTTP method; every configuration request is a `PUT`.
    pub fn method(&self) -> &'static str {
        "PUT"
    }

    /// The request path, with the device id filled in where the path has one.
    pub fn path(&self) -> String {
        match self {
            Self::Logger(_) => "/logger".to_owned(),
            Self::MachineConfig(_) => "/machine-config".to_owned(),
            Self::BootSource(_) => "/boot-source".to_owned(),
            Self::Drive(d) => format!("/drives/{}", d.drive_id),
            Self::NetworkInterface(n) => format!("/network-interfaces/{}", n.iface_id),
            Self::Action(_) => "/actions".to_owned(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Self::Logger(b) => serde_json::to_vec(b),
            Self::MachineConfig(b) => serde_json::to_vec(b),
            Self::BootSource(b) => serde_json::to_vec(b),
            Self::Drive(b) => serde_json::to_vec(b),
            Self::NetworkInterface(b) => serde_json::to_vec(b),
            Self::Action(b) => serde_json::to_vec(b),
        }
    }
}
