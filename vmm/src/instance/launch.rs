//! Starting a machine: [`launch`] in the foreground (kiln is QEMU's parent) or detached (a
//! supervisor process is), and [`supervise`], the supervisor's body.
//!
//! Detached start-up handshake: `launch` runs the caller's supervisor command (for kiln,
//! `kiln __supervise <dir>`) in a new session with stdout on a pipe; the supervisor starts
//! QEMU, lets the guest run, prints `kiln-supervisor: ready <pid>` (or `kiln-supervisor:
//! error <message>`) and stops writing to the pipe. `launch` returns when it has read that
//! line; the supervisor goes on waiting for QEMU and writes `exit`. Other lines on the pipe
//! are ignored, so a supervisor that prints a banner first still works.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::InstanceError;
use super::dir::{InstanceDir, MachineRecord, now_unix};
use super::exit::{ExitRecord, log_tail};
use super::process::{self, Parent};
use crate::qemu::QemuArgs;
use crate::spec::MachineSpec;
use crate::{accel, serial};

const READY: &str = "kiln-supervisor: ready ";
const FAILED: &str = "kiln-supervisor: error ";

/// The command that becomes the parent of a detached machine. [`launch`] appends the
/// instance directory as its last argument; the command must call [`supervise`] with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervisor {
    /// The program (kiln: `std::env::current_exe()`).
    pub program: OsString,
    /// Its arguments before the directory (kiln: `["__supervise"]`).
    pub args: Vec<OsString>,
}

/// How to launch.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// `None`: foreground (the calling process is QEMU's parent; call [`Launched::wait`]).
    /// `Some`: detached under this supervisor.
    pub detach: Option<Supervisor>,
    /// Delete the instance directory once the machine has exited.
    pub remove_on_exit: bool,
    /// How long QEMU may take to open its QMP socket.
    pub start_timeout: Duration,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions {
            detach: None,
            remove_on_exit: false,
            start_timeout: Duration::from_secs(10),
        }
    }
}

/// A started machine (the guest is running).
pub struct Launched {
    /// The instance.
    pub dir: InstanceDir,
    /// QEMU's pid.
    pub pid: i32,
    /// The accelerator in use.
    pub accel: accel::ResolvedAccel,
    parent: Option<Parent>,
    /// The detached supervisor, reaped when it has finished (best effort: it outlives us).
    supervisor: Option<std::process::Child>,
    remove_on_exit: bool,
}

impl Drop for Launched {
    fn drop(&mut self) {
        if let Some(s) = &mut self.supervisor {
            let _ = s.try_wait();
        }
    }
}

impl std::fmt::Debug for Launched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launched")
            .field("dir", &self.dir)
            .field("pid", &self.pid)
            .finish()
    }
}

impl Launched {
    /// Waits for the machine to end and returns how it ended. In the foreground this reaps
    /// QEMU, writes `exit` and, after `timeout`, stops the machine (the record then says
    /// timed out); detached it waits for the supervisor's `exit` file (`timeout` then only
    /// bounds the wait, and the machine is stopped). With `remove_on_exit`, the directory is
    /// deleted after the record is made.
    pub fn wait(mut self, timeout: Option<Duration>) -> Result<ExitRecord, InstanceError> {
        let record = match self.parent.take() {
            Some(parent) => parent.wait(timeout)?,
            None => wait_detached(&self.dir, self.pid, timeout)?,
        };
        if self.remove_on_exit {
            let _ = fs::remove_dir_all(self.dir.path());
        }
        Ok(record)
    }

    /// [`Launched::wait`] while streaming the serial console to `out` (escape sequences
    /// stripped, CRLF as LF; see `serial::follow`), for `kiln run` in the foreground. Every
    /// byte the guest wrote is in `out` when this returns.
    pub fn wait_streaming(
        self,
        out: &mut (dyn Write + Send),
        timeout: Option<Duration>,
    ) -> Result<ExitRecord, InstanceError> {
        let serial = self.dir.serial_log();
        let done = AtomicBool::new(false);
        let (record, streamed) = std::thread::scope(|s| {
            let follower = s.spawn(|| serial::follow(&serial, out, || done.load(Ordering::SeqCst)));
            let record = self.wait(timeout);
            done.store(true, Ordering::SeqCst);
            (record, follower.join())
        });
        // A closed terminal (EPIPE) must not hide how the machine ended.
        let _ = streamed;
        record
    }
}

/// Starts `spec` in the (new, empty) instance directory `dir`: resolves the accelerator
/// (probing KVM through the cache in the instances root), writes `machine.json`, starts
/// QEMU paused, connects QMP and lets the guest run.
///
/// In the foreground, QEMU gets SIGTERM when the *thread* that called `launch` ends
/// (`PR_SET_PDEATHSIG`), so a killed kiln leaves no machine behind: call it from the thread
/// that will wait (the main thread). QEMU runs in its own session, so the terminal's Ctrl-C
/// reaches kiln only; kiln should answer it with [`super::stop`] and keep waiting.
pub fn launch(
    spec: &MachineSpec,
    dir: &InstanceDir,
    opts: &LaunchOptions,
) -> Result<Launched, InstanceError> {
    check_files(spec)?;
    if dir.qemu_paths().events_socket.as_os_str().len() > 107 {
        return Err(InstanceError::PathTooLong(dir.path()));
    }
    let accel = accel::resolve(spec.accel, spec.arch, dir.root())?;
    let mut spec = spec.clone();
    spec.name = dir.name().to_owned();
    let args = QemuArgs::build(&spec, accel, &dir.qemu_paths())?;
    let argv = args
        .argv()
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let record = MachineRecord {
        vmm: spec.vmm,
        spec,
        created_unix: now_unix(),
        accel,
        argv,
        detached: opts.detach.is_some(),
        remove_on_exit: opts.remove_on_exit,
    };
    dir.write_record(&record)?;
    let (pid, parent, supervisor) = match &opts.detach {
        None => {
            let parent = process::start(dir, &record, opts.start_timeout, true)?;
            (parent.pid(), Some(parent), None)
        }
        Some(sup) => {
            let (pid, child) = start_supervisor(sup, dir, opts.start_timeout)?;
            (pid, None, Some(child))
        }
    };
    dir.setup_done();
    let remove_on_exit = opts.remove_on_exit && parent.is_some();
    Ok(Launched {
        dir: dir.clone(),
        pid,
        accel,
        parent,
        supervisor,
        remove_on_exit,
    })
}

fn check_files(spec: &MachineSpec) -> Result<(), InstanceError> {
    let missing = |what, path: &Path, why| InstanceError::Missing {
        what,
        path: path.to_owned(),
        why,
    };
    if let Some(why) = crate::not_a_file(&spec.kernel) {
        return Err(missing("kernel", &spec.kernel, why));
    }
    if let Some(initrd) = spec.initrd.as_deref()
        && let Some(why) = crate::not_a_file(initrd)
    {
        return Err(missing("initrd", initrd, why));
    }
    match spec.shared_dirs.iter().find(|d| !d.host.is_dir()) {
        Some(d) if d.host.exists() => {
            Err(missing("shared directory", &d.host, "is not a directory"))
        }
        Some(d) => Err(missing("shared directory", &d.host, "does not exist")),
        None => Ok(()),
    }
}

/// The body of a detached machine's supervisor (`kiln __supervise <dir>`): starts QEMU for
/// `<dir>/machine.json`, reports on stdout, waits for QEMU, writes `exit`, and removes the
/// directory if the record asks. Returns the exit record.
pub fn supervise(dir: &Path) -> Result<ExitRecord, InstanceError> {
    let report = |line: String| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    };
    let started = InstanceDir::from_path(dir).and_then(|d| {
        let record = d.record()?;
        let parent = process::start(&d, &record, Duration::from_secs(10), false)?;
        Ok((d, record, parent))
    });
    let (dir, record, parent) = match started {
        Ok(s) => s,
        Err(e) => {
            report(format!("{FAILED}{}", e.to_string().replace('\n', "\\n")));
            return Err(e);
        }
    };
    report(format!("{READY}{}", parent.pid()));
    detach_stdout();
    let exit = parent.wait(None)?;
    if record.remove_on_exit {
        let _ = fs::remove_dir_all(dir.path());
    }
    Ok(exit)
}

/// Points stdout at /dev/null so that the launcher's pipe closes and later writes (the test
/// harness's, say) go nowhere.
fn detach_stdout() {
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        // SAFETY: dup2 onto fd 1 with a descriptor we own; std's stdout keeps using fd 1.
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
}

fn start_supervisor(
    sup: &Supervisor,
    dir: &InstanceDir,
    timeout: Duration,
) -> Result<(i32, std::process::Child), InstanceError> {
    let log_path = dir.file("supervisor.log");
    let log = File::create(&log_path).map_err(InstanceError::io(&log_path))?;
    let mut cmd = Command::new(&sup.program);
    cmd.args(&sup.args).arg(dir.path());
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
    // SAFETY: setsid is async-signal-safe; the hook runs in the child before exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(InstanceError::io(&sup.program))?;
    let Some(stdout) = child.stdout.take() else {
        return Err(InstanceError::Supervisor(
            "no pipe to the supervisor".into(),
        ));
    };
    let answer = read_handshake(stdout, timeout + Duration::from_secs(2));
    let fail = |msg: String| {
        let tail = log_tail(&log_path, 10).join("\n");
        InstanceError::Supervisor(if tail.is_empty() {
            msg
        } else {
            format!("{msg}\n{tail}")
        })
    };
    match answer {
        Some(line) if line.starts_with(READY) => match line[READY.len()..].trim().parse() {
            Ok(pid) => Ok((pid, child)),
            Err(_) => Err(fail(format!("bad answer {line:?}"))),
        },
        // The supervisor's own answer says it all; its log holds the same words again.
        Some(line) => Err(InstanceError::Supervisor(
            line[FAILED.len()..].replace("\\n", "\n"),
        )),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(fail("it exited or did not answer in time".into()))
        }
    }
}

/// The first `ready`/`error` line from the supervisor, or `None` on EOF or timeout.
fn read_handshake(stdout: std::process::ChildStdout, timeout: Duration) -> Option<String> {
    let fd = stdout.as_raw_fd();
    let mut reader = BufReader::new(stdout);
    let until = Instant::now() + timeout;
    loop {
        if reader.buffer().is_empty() {
            crate::fdwait::readable_before(fd, until)?;
        }
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.starts_with(READY) || line.starts_with(FAILED) {
            return Some(line.trim_end().to_owned());
        }
    }
}

fn wait_detached(
    dir: &InstanceDir,
    pid: i32,
    timeout: Option<Duration>,
) -> Result<ExitRecord, InstanceError> {
    let start = Instant::now();
    loop {
        if let Some(record) = super::dir::read_json::<ExitRecord>(&dir.file("exit"))? {
            return Ok(record);
        }
        if !process::is_ours(pid, &dir.path()) && !dir.file("exit").exists() {
            // Give the supervisor a moment to write the record after reaping QEMU.
            std::thread::sleep(Duration::from_millis(200));
            return super::dir::read_json(&dir.file("exit")).map(|r| r.unwrap_or_default());
        }
        if let Some(t) = timeout.filter(|t| start.elapsed() >= *t) {
            super::control::stop(dir, Duration::from_secs(2))?;
            let mut record: ExitRecord =
                super::dir::read_json(&dir.file("exit"))?.unwrap_or_default();
            record.timed_out_ms = Some(t.as_millis() as u64);
            return Ok(record);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
