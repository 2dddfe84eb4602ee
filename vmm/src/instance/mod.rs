//! Instances: QEMU machines kiln started, with their state on disk so that `kiln ps`, `logs`,
//! `stop` and `rm` work from any later process.
//!
//! # On-disk layout
//!
//! The root (chosen by the caller; kiln uses `$XDG_STATE_HOME/kiln/instances`, else
//! `~/.local/state/kiln/instances`) holds one directory per instance, named after it, plus
//! `.kvm-probe` (the accelerator verdict cache, see `crate::accel`). In `<root>/<name>/`:
//!
//! | file | written by | content |
//! |---|---|---|
//! | `machine.json` | launch | [`MachineRecord`]: the spec, created time, vmm, accel, argv, mode |
//! | `qemu.log` | QEMU | its stdout and stderr (created at spawn: its presence means "started") |
//! | `pid` | QEMU (`-pidfile`) | QEMU's pid; QEMU deletes it when it exits cleanly |
//! | `serial.log` | QEMU | the guest's serial console, raw |
//! | `qmp.sock` | QEMU | QMP for short-lived command clients (status, stop) |
//! | `events.sock` | QEMU | QMP held by the machine's parent, which records events |
//! | `stopping` | stop | marker: kiln asked the machine to stop (the exit reads "stopped") |
//! | `exit` | the parent | [`ExitRecord`] as JSON, written atomically once QEMU is reaped |
//! | `supervisor.log` | the supervisor | its stderr (detached runs only) |
//!
//! The parent of QEMU is the kiln process itself in the foreground, or, detached, a
//! supervisor process (`kiln __supervise <dir>`, calling [`supervise`]) that outlives the
//! kiln that launched it. Whoever is the parent reaps QEMU and writes `exit`; a QEMU whose
//! parent died too (both killed) shows as exited without a recorded status.
//!
//! Architecture invariant: the state is derived from the files and the live process each
//! time; nothing is cached in memory between calls, and a pid is trusted only while
//! `/proc/<pid>/cmdline` names this instance's directory (pids are reused).

mod control;
mod dir;
mod exit;
mod launch;
mod names;
mod process;

use std::path::PathBuf;

pub use control::{InstanceInfo, InstanceStatus, State, alive, list, remove, status, stop};
pub use dir::{InstanceDir, MachineRecord, create};
pub use exit::{CleanExit, ExitRecord, RunFailure};
pub use launch::{LaunchOptions, Launched, Supervisor, launch, supervise};
pub use names::{generate_name, validate_name};

/// Errors of instance management.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// A name outside `[a-z0-9_-]`.
    #[error(
        "invalid instance name {0:?}: use 1-63 characters from a-z, 0-9, '_' and '-', \
         starting with a letter or digit"
    )]
    BadName(String),
    /// No such instance.
    #[error("no instance named {0:?}")]
    NotFound(String),
    /// The name is taken by a live machine.
    #[error("instance {name:?} is {state}; stop it first (`kiln stop {name}`)")]
    InUse {
        /// The name.
        name: String,
        /// Its state (`running`, `paused`, ...).
        state: String,
    },
    /// The name is taken by an exited machine.
    #[error(
        "an exited instance named {0:?} exists; remove it first (`kiln rm {0}`) or ask to replace it"
    )]
    Exists(String),
    /// Filesystem trouble.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A state file that does not parse.
    #[error("{path} is damaged: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A path that cannot be a Unix socket address (108 bytes at most).
    #[error(
        "the instance directory {0} is too long for QEMU's sockets; choose a shorter state root"
    )]
    PathTooLong(PathBuf),
    /// A file the machine needs is missing.
    #[error("{what} {path} {why}")]
    Missing {
        /// `kernel`, `initrd`, `shared directory`.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// What is wrong with it ("does not exist", "is a directory, not a file").
        why: &'static str,
    },
    /// QEMU is not installed.
    #[error(
        "{0} not found; install it (Debian: apt-get install qemu-system-x86 / qemu-system-arm)"
    )]
    NoQemu(String),
    /// QEMU exited while starting.
    #[error("QEMU exited while starting ({status}):\n{log}")]
    StartFailed {
        /// Its exit status.
        status: String,
        /// The end of `qemu.log`.
        log: String,
    },
    /// The detached supervisor did not report a started machine.
    #[error("the supervisor did not start the machine: {0}")]
    Supervisor(String),
    /// The accelerator request cannot be met.
    #[error(transparent)]
    Accel(#[from] crate::accel::AccelError),
    /// The spec cannot be turned into QEMU arguments.
    #[error(transparent)]
    Args(#[from] crate::qemu::QemuArgsError),
    /// QMP failed.
    #[error(transparent)]
    Qmp(#[from] crate::qemu::QmpError),
}

impl InstanceError {
    fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> InstanceError {
        let path = path.into();
        move |source| InstanceError::Io { path, source }
    }
}
