//! Looking at and ending instances from any process: [`status`], [`stop`], [`remove`],
//! [`list`]. Everything is derived from the files and `/proc`; see the layout in `mod.rs`.
//!
//! This module never starts machines.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::InstanceError;
use super::dir::{InstanceDir, MachineRecord, read_json};
use super::exit::ExitRecord;
use super::process::{is_ours, read_pid, send_signal, wait_gone};
use crate::qemu::{Qmp, RunState};

/// How long a status query waits for QMP (another client may hold the socket).
const STATUS_QMP_TIMEOUT: Duration = Duration::from_millis(500);

/// An instance's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Created, QEMU not started (or not yet: a launch is under way).
    Created,
    /// QEMU is alive and the guest runs.
    Running,
    /// QEMU is alive and the guest does not run (paused, prelaunch, shut down, panicked).
    Paused,
    /// QEMU is gone.
    Exited,
}

impl State {
    /// `created`, `running`, `paused`, `exited`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Exited => "exited",
        }
    }
}

/// What [`status`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    /// The state.
    pub state: State,
    /// QEMU's pid while alive (else the last one recorded, if any).
    pub pid: Option<i32>,
    /// QEMU's own run state while alive (`None` if QMP did not answer).
    pub run_state: Option<RunState>,
    /// How it ended, once recorded.
    pub exit: Option<ExitRecord>,
}

/// One line of `kiln ps`.
#[derive(Debug, Clone)]
pub struct InstanceInfo {
    /// The name.
    pub name: String,
    /// The directory.
    pub dir: PathBuf,
    /// `machine.json` (`None` if it is missing or damaged: `kiln rm` can still remove it).
    pub record: Option<MachineRecord>,
    /// The status.
    pub status: InstanceStatus,
}

/// The instance's current status: `exited` when QEMU's pid is dead, a zombie, or reused by
/// another program, whatever the files say.
pub fn status(dir: &InstanceDir) -> Result<InstanceStatus, InstanceError> {
    let exit: Option<ExitRecord> = read_json(&dir.file("exit"))?;
    let pid = read_pid(dir);
    let path = dir.path();
    match pid {
        Some(pid) if exit.is_none() && is_ours(pid, &path) => {
            let run_state = query(dir);
            let state = match &run_state {
                None | Some(RunState::Running) => State::Running,
                Some(RunState::Prelaunch) => State::Created,
                Some(_) => State::Paused,
            };
            Ok(InstanceStatus {
                state,
                pid: Some(pid),
                run_state,
                exit: None,
            })
        }
        _ => {
            // qemu.log is created when QEMU is spawned: without it, nothing ever started.
            let started = exit.is_some() || pid.is_some() || dir.qemu_log().exists();
            let state = if started {
                State::Exited
            } else {
                State::Created
            };
            Ok(InstanceStatus {
                state,
                pid,
                run_state: None,
                exit,
            })
        }
    }
}

/// Whether the instance's QEMU is alive — cheap (no QMP), for `serial::follow`'s `stop`
/// in `kiln logs -f`: `follow(&log, out, || !alive(&dir))`.
pub fn alive(dir: &InstanceDir) -> bool {
    read_pid(dir).is_some_and(|pid| is_ours(pid, &dir.path()))
}

fn query(dir: &InstanceDir) -> Option<RunState> {
    Qmp::connect(&dir.qmp_socket(), STATUS_QMP_TIMEOUT)
        .ok()?
        .status()
        .ok()
}

/// Stops the machine: QMP `quit`, then SIGTERM, then SIGKILL, each after `grace` without
/// effect. Stopping a machine that is not running is not an error. The exit record (written
/// by QEMU's parent) says `stopped`.
pub fn stop(dir: &InstanceDir, grace: Duration) -> Result<(), InstanceError> {
    let path = dir.path();
    let Some(pid) = read_pid(dir).filter(|&p| is_ours(p, &path)) else {
        return Ok(());
    };
    let marker = dir.file("stopping");
    fs::write(&marker, b"").map_err(InstanceError::io(&marker))?;
    if let Ok(mut qmp) = Qmp::connect(&dir.qmp_socket(), grace.min(Duration::from_secs(1))) {
        let _ = qmp.quit();
    }
    if !wait_gone(pid, &path, grace) {
        send_signal(pid, libc::SIGTERM);
        if !wait_gone(pid, &path, grace) {
            send_signal(pid, libc::SIGKILL);
            wait_gone(pid, &path, Duration::from_secs(2));
        }
    }
    wait_for_exit_record(dir);
    Ok(())
}

/// A detached machine's supervisor writes `exit` just after QEMU is reaped; wait briefly so
/// that a `ps` right after `stop` shows it. (In the foreground the caller is the parent and
/// writes it itself, later.)
fn wait_for_exit_record(dir: &InstanceDir) {
    let detached = dir.record().map(|r| r.detached).unwrap_or(false);
    let until = Instant::now() + Duration::from_secs(2);
    while detached && dir.path().exists() && !dir.file("exit").exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Stops the machine (see [`stop`]) and deletes its directory.
pub fn remove(dir: &InstanceDir, grace: Duration) -> Result<(), InstanceError> {
    stop(dir, grace)?;
    match fs::remove_dir_all(dir.path()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(InstanceError::io(dir.path())(e)),
        _ => Ok(()),
    }
}

/// All instances under `root` with their status, oldest first (an absent root: none).
pub fn list(root: &Path) -> Result<Vec<InstanceInfo>, InstanceError> {
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(InstanceError::io(root)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(InstanceError::io(root))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') || !entry.path().is_dir() {
            continue;
        }
        let Ok(dir) = InstanceDir::open(root, &name) else {
            continue;
        };
        let record = dir.record().ok();
        let status = status(&dir).unwrap_or(InstanceStatus {
            state: State::Exited,
            pid: None,
            run_state: None,
            exit: None,
        });
        out.push(InstanceInfo {
            name,
            dir: dir.path(),
            record,
            status,
        });
    }
    out.sort_by_key(|i| (i.record.as_ref().map(|r| r.created_unix), i.name.clone()));
    Ok(out)
}
