//! Being QEMU's parent: spawning it (own session, stdin null, output to `qemu.log`),
//! connecting the events QMP socket, `cont`, and waiting for it while recording events, then
//! writing the `exit` file. The foreground kiln and the detached supervisor both use this.
//!
//! Also the pid helpers `status`/`stop` need: whether a pid is alive and really this
//! instance's QEMU. This module does not decide names or read `machine.json`.

use std::fs::{self, File};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::InstanceError;
use super::dir::{InstanceDir, MachineRecord, now_unix, write_json};
use super::exit::{ExitRecord, log_tail};
use crate::qemu::{EventWait, MachineEvent, Qmp};

/// How often the parent looks at the child while waiting (and the added exit latency).
const TICK: Duration = Duration::from_millis(5);

/// QEMU, started and running, with us as its parent.
pub(super) struct Parent {
    child: Child,
    events: Qmp,
    dir: InstanceDir,
    panicked: bool,
}

/// Spawns QEMU for `record` in `dir`, connects to its events socket and lets the guest run.
/// With `tie_to_parent`, QEMU gets SIGTERM when the calling thread's process dies (the
/// foreground case), so a killed kiln does not leave it behind.
pub(super) fn start(
    dir: &InstanceDir,
    record: &MachineRecord,
    timeout: Duration,
    tie_to_parent: bool,
) -> Result<Parent, InstanceError> {
    let log_path = dir.qemu_log();
    let log = File::create(&log_path).map_err(InstanceError::io(&log_path))?;
    let log2 = log.try_clone().map_err(InstanceError::io(&log_path))?;
    let Some((program, args)) = record.argv.split_first() else {
        return Err(InstanceError::Damaged {
            path: dir.file("machine.json"),
            reason: "empty argv".into(),
        });
    };
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(log).stderr(log2);
    // SAFETY: the hook runs in the forked child before exec and calls only async-signal-safe
    // system calls (setsid, prctl, getppid, kill) with constant arguments.
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            if tie_to_parent {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                if libc::getppid() != parent {
                    libc::kill(libc::getpid(), libc::SIGTERM);
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => InstanceError::NoQemu(program.clone()),
        _ => InstanceError::io(program)(e),
    })?;
    match connect_and_cont(&mut child, dir, timeout) {
        Ok(events) => Ok(Parent {
            child,
            events,
            dir: dir.clone(),
            panicked: false,
        }),
        Err(e) => {
            let _ = child.kill();
            let status = child.wait();
            match (e, status) {
                (InstanceError::Qmp(_), Ok(status)) if !killed_by_us(status) => {
                    Err(InstanceError::StartFailed {
                        status: describe(status),
                        log: log_tail(&log_path, 20).join("\n"),
                    })
                }
                (e, _) => Err(e),
            }
        }
    }
}

fn killed_by_us(status: ExitStatus) -> bool {
    status.signal() == Some(libc::SIGKILL)
}

fn connect_and_cont(
    child: &mut Child,
    dir: &InstanceDir,
    timeout: Duration,
) -> Result<Qmp, InstanceError> {
    let socket = dir.qemu_paths().events_socket;
    let mut alive = || matches!(child.try_wait(), Ok(None));
    let mut qmp = Qmp::connect_while(&socket, timeout, &mut alive)?;
    qmp.cont()?;
    Ok(qmp)
}

impl Parent {
    /// QEMU's pid.
    pub(super) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for QEMU to exit (stopping it once `timeout` has passed), writes `exit`, and
    /// returns the record.
    pub(super) fn wait(mut self, timeout: Option<Duration>) -> Result<ExitRecord, InstanceError> {
        let deadline = timeout.map(|t| (Instant::now() + t, t));
        let mut timed_out = None;
        let status = loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(InstanceError::io("waitpid"))?
            {
                break status;
            }
            if let Some((at, t)) = deadline
                && timed_out.is_none()
                && Instant::now() >= at
            {
                timed_out = Some(t.as_millis() as u64);
                break self.terminate()?;
            }
            self.pump_events(TICK);
        };
        self.pump_events(Duration::ZERO);
        let record = self.record(status, timed_out);
        // `kiln rm` from elsewhere may have deleted the directory meanwhile: nothing to record.
        if self.dir.path().is_dir() {
            write_json(&self.dir.file("exit"), &record)?;
        }
        Ok(record)
    }

    fn pump_events(&mut self, wait: Duration) {
        match self.events.next_event(wait) {
            EventWait::Event(MachineEvent::GuestPanicked) => self.panicked = true,
            EventWait::Event(_) | EventWait::Nothing => {}
            // QEMU is exiting; don't spin on a closed channel while the child finishes.
            EventWait::Closed => std::thread::sleep(wait),
        }
    }

    /// `quit` over QMP, then SIGKILL if QEMU is still there after two seconds.
    fn terminate(&mut self) -> Result<ExitStatus, InstanceError> {
        let _ = self.events.quit();
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(InstanceError::io("waitpid"))?
            {
                return Ok(status);
            }
            std::thread::sleep(TICK);
        }
        let _ = self.child.kill();
        self.child.wait().map_err(InstanceError::io("waitpid"))
    }

    fn record(&self, status: ExitStatus, timed_out_ms: Option<u64>) -> ExitRecord {
        let code = status.code();
        let clean = matches!(code, Some(0 | 83 | 85));
        ExitRecord {
            code,
            signal: status.signal(),
            guest_panicked: self.panicked,
            stopped: self.dir.file("stopping").exists(),
            timed_out_ms,
            qemu_log_tail: if clean {
                Vec::new()
            } else {
                log_tail(&self.dir.qemu_log(), 20)
            },
            finished_unix: now_unix(),
        }
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "unknown status".into(),
    }
}

/// The pid in `<dir>/pid`, if the file exists and holds one.
pub(super) fn read_pid(dir: &InstanceDir) -> Option<i32> {
    fs::read_to_string(dir.file("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&p: &i32| p > 0)
}

/// Whether `pid` is a live process whose command line names `dir` (so a reused pid, or a
/// zombie, whose command line is empty, does not count).
pub(super) fn is_ours(pid: i32, dir: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let mut needle = dir.as_os_str().as_encoded_bytes().to_vec();
    needle.push(b'/');
    cmdline
        .windows(needle.len())
        .any(|w| w == needle.as_slice())
}

/// Sends `signal` to `pid` (errors ignored: the process may be gone already).
pub(super) fn send_signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) with a positive pid has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) };
}

/// Waits up to `grace` for `pid` to stop being this instance's QEMU.
pub(super) fn wait_gone(pid: i32, dir: &Path, grace: Duration) -> bool {
    let until = Instant::now() + grace;
    loop {
        if !is_ours(pid, dir) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(TICK);
    }
}
