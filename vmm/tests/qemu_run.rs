//! Real QEMU (TCG) booting the test kernel (`testkernel/`, built once per run of this test
//! binary): foreground and detached runs, QMP pause/resume, stop, outside kills, crashes,
//! timeouts, port forwarding, 9p, names. Every QEMU a test starts is killed by a [`Guard`]
//! even when the test fails.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kiln_vmm::instance::{
    self, CleanExit, InstanceDir, InstanceError, LaunchOptions, RunFailure, State, Supervisor,
};
use kiln_vmm::qemu::Qmp;
use kiln_vmm::serial;
use kiln_vmm::spec::{Accel, GuestArch, MachineSpec, PortMap, Proto, SharedDir, Vmm};

/// Builds the x86_64 test kernel once (incrementally across runs, under Cargo's target tmp).
fn kernel() -> &'static Path {
    static KERNEL: OnceLock<PathBuf> = OnceLock::new();
    KERNEL.get_or_init(|| build_kernel("x86_64", "CONFIG_ARCH_X86_64=y"))
}

fn build_kernel(arch: &str, arch_config: &str) -> PathBuf {
    let tk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkernel");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("qemu-testkernel-{arch}"));
    std::fs::create_dir_all(&out).unwrap();
    // Concurrent runs of this binary share the directory: build one at a time.
    let lock = std::fs::File::create(out.with_extension("lock")).unwrap();
    // SAFETY: flock on a descriptor we own; released when `lock` is closed.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    let defconfig = out.join("defconfig");
    let config = format!("{arch_config}\nCONFIG_PLAT_KVM=y\nCONFIG_KVM_VMM_QEMU=y\n");
    std::fs::write(&defconfig, config).unwrap();
    let vars = [
        format!("A={}", tk.join("example-app").display()),
        format!("O={}", out.display()),
        format!("C={}", out.join(".config").display()),
        "N=t".to_owned(),
        format!("UK_DEFCONFIG={}", defconfig.display()),
    ];
    for goal in [Some("defconfig"), None] {
        let status = Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(&tk)
            .args(&vars)
            .args(goal)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "building the {arch} test kernel failed");
    }
    out.join(format!("t_qemu-{arch}"))
}

fn spec(cmdline: &str) -> MachineSpec {
    MachineSpec {
        name: String::new(),
        vmm: Vmm::Qemu,
        arch: GuestArch::X86_64,
        kernel: kernel().to_owned(),
        initrd: None,
        cmdline: cmdline.into(),
        memory_mib: 64,
        cpus: 1,
        ports: vec![],
        shared_dirs: vec![],
        accel: Accel::Tcg,
    }
}

/// Kills the instance's QEMU (if it is still this instance's) when dropped.
struct Guard(InstanceDir);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(st) = instance::status(&self.0)
            && let (Some(pid), State::Running | State::Paused | State::Created) = (st.pid, st.state)
        {
            // SAFETY: kill(2) on the pid this instance recorded, which status() just checked.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn serial_text(dir: &InstanceDir) -> String {
    let mut out = Vec::new();
    serial::dump(&dir.serial_log(), &mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// The supervisor for detached runs is this very test binary, running the ignored test
/// `supervisor_entry` (libtest takes the appended directory as one more, unmatched, filter).
fn supervisor() -> Supervisor {
    Supervisor {
        program: std::env::current_exe().unwrap().into(),
        args: ["--exact", "supervisor_entry", "--ignored", "--nocapture"]
            .map(Into::into)
            .into(),
    }
}

#[test]
#[ignore = "the detached-machine supervisor, run by the other tests"]
fn supervisor_entry() {
    let Some(dir) = std::env::args_os().next_back().map(PathBuf::from) else {
        return;
    };
    if dir.join("machine.json").is_file() {
        instance::supervise(&dir).unwrap();
    }
}

#[test]
fn foreground_boot_streams_serial_and_halts_cleanly() {
    let root = tempfile::tempdir().unwrap();
    let dir = instance::create(root.path(), Some("fg"), false).unwrap();
    let _guard = Guard(dir.clone());
    let spec = MachineSpec {
        accel: Accel::Auto,
        ..spec("hello world")
    };
    let start = Instant::now();
    let launched = instance::launch(&spec, &dir, &LaunchOptions::default()).unwrap();
    let first_byte = OnceLock::new();
    let mut out = FirstByte {
        buf: Vec::new(),
        start,
        first: &first_byte,
    };
    let record = launched
        .wait_streaming(&mut out, Some(Duration::from_secs(20)))
        .unwrap();
    eprintln!(
        "launch() to first serial byte: {:?}, to exit: {:?}",
        first_byte.get(),
        start.elapsed()
    );
    assert_eq!(record.code, Some(83));
    assert_eq!(record.outcome(), Ok(CleanExit::Halted));
    let text = String::from_utf8(out.buf).unwrap();
    assert!(text.contains("testkernel: t qemu-x86_64\n"), "{text}");
    assert!(text.contains("cmdline: hello world\n"), "{text}");
    assert!(text.contains("testkernel: halt\n"), "{text}");
    assert!(!text.contains('\x1b') && !text.contains('\r'), "{text:?}");
    let st = instance::status(&dir).unwrap();
    assert_eq!(
        (st.state, st.exit.map(|e| e.code)),
        (State::Exited, Some(Some(83)))
    );
    let rec = dir.record().unwrap();
    assert_eq!(rec.accel, kiln_vmm::accel::ResolvedAccel::Tcg);
    assert_eq!(rec.spec.name, "fg");
}

struct FirstByte<'a> {
    buf: Vec<u8>,
    start: Instant,
    first: &'a OnceLock<Duration>,
}

impl std::io::Write for FirstByte<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if !b.is_empty() {
            self.first.get_or_init(|| self.start.elapsed());
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn detached_hang_pauses_resumes_and_stops_idempotently() {
    let root = tempfile::tempdir().unwrap();
    let dir = instance::create(root.path(), Some("bg"), false).unwrap();
    let _guard = Guard(dir.clone());
    let opts = LaunchOptions {
        detach: Some(supervisor()),
        ..Default::default()
    };
    let launched = instance::launch(&spec("hang"), &dir, &opts).unwrap();
    wait_for("the app to finish", || {
        serial_text(&dir).contains("app returned")
    });
    let st = instance::status(&dir).unwrap();
    assert_eq!((st.state, st.pid), (State::Running, Some(launched.pid)));

    // The name is taken while the machine runs, replace or not.
    let err = instance::create(root.path(), Some("bg"), true).unwrap_err();
    assert!(matches!(err, InstanceError::InUse { .. }), "{err}");

    let mut qmp = Qmp::connect(&dir.qmp_socket(), Duration::from_secs(2)).unwrap();
    qmp.stop().unwrap();
    drop(qmp);
    assert_eq!(instance::status(&dir).unwrap().state, State::Paused);
    let mut qmp = Qmp::connect(&dir.qmp_socket(), Duration::from_secs(2)).unwrap();
    qmp.cont().unwrap();
    drop(qmp);
    assert_eq!(instance::status(&dir).unwrap().state, State::Running);

    assert!(instance::alive(&dir));
    instance::stop(&dir, Duration::from_secs(2)).unwrap();
    assert!(!instance::alive(&dir));
    let st = instance::status(&dir).unwrap();
    assert_eq!(st.state, State::Exited);
    let exit = st.exit.expect("the supervisor records the exit");
    assert_eq!(exit.outcome(), Ok(CleanExit::Stopped));
    instance::stop(&dir, Duration::from_secs(2)).unwrap();

    let listed = instance::list(root.path()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].status.state),
        ("bg", State::Exited)
    );
    let err = instance::create(root.path(), Some("bg"), false).unwrap_err();
    assert!(err.to_string().contains("kiln rm bg"), "{err}");
    instance::create(root.path(), Some("bg"), true).unwrap();
}

#[test]
fn killed_from_outside_shows_exited_and_says_which_signal() {
    let root = tempfile::tempdir().unwrap();
    let dir = instance::create(root.path(), None, false).unwrap();
    let _guard = Guard(dir.clone());
    let launched = instance::launch(&spec("hang"), &dir, &LaunchOptions::default()).unwrap();
    assert_eq!(instance::status(&dir).unwrap().state, State::Running);
    // SAFETY: killing the QEMU this test started.
    unsafe { libc::kill(launched.pid, libc::SIGKILL) };
    // Not yet reaped by its parent (us): a zombie is not "running".
    wait_for("exited", || {
        instance::status(&dir).unwrap().state == State::Exited
    });
    let record = launched.wait(Some(Duration::from_secs(5))).unwrap();
    let failure = record.outcome().unwrap_err();
    assert_eq!(failure.to_string(), "QEMU was killed by signal 9 (SIGKILL)");
}

#[test]
fn crash_is_reported_as_isa_debug_exit_85() {
    let root = tempfile::tempdir().unwrap();
    let dir = instance::create(root.path(), Some("crash"), false).unwrap();
    let _guard = Guard(dir.clone());
    let launched = instance::launch(&spec("crash"), &dir, &LaunchOptions::default()).unwrap();
    let record = launched.wait(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(record.outcome(), Err(RunFailure::Crashed));
    assert!(serial_text(&dir).contains("testkernel: crash"));
}

#[test]
fn timeout_stops_the_machine_and_remove_on_exit_cleans_up() {
    let root = tempfile::tempdir().unwrap();
    let dir = instance::create(root.path(), Some("slow"), false).unwrap();
    let _guard = Guard(dir.clone());
    let opts = LaunchOptions {
        remove_on_exit: true,
        ..Default::default()
    };
    let launched = instance::launch(&spec("hang"), &dir, &opts).unwrap();
    let record = launched.wait(Some(Duration::from_millis(300))).unwrap();
    assert_eq!(
        record.outcome().unwrap_err().to_string(),
        "timed out after 300ms"
    );
    assert!(!dir.path().exists());
}

#[test]
fn forwarded_port_accepts_connections_while_running() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let root = tempfile::tempdir().unwrap();
    let dir = instance::create(root.path(), Some("net"), false).unwrap();
    let _guard = Guard(dir.clone());
    let ports = vec![PortMap {
        host_ip: Some("127.0.0.1".into()),
        host: port,
        guest: 80,
        proto: Proto::Tcp,
    }];
    let spec = MachineSpec {
        ports,
        ..spec("hang")
    };
    let launched = instance::launch(&spec, &dir, &LaunchOptions::default()).unwrap();
    let conn = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2));
    assert!(conn.is_ok(), "{conn:?}");
    instance::stop(&dir, Duration::from_secs(2)).unwrap();
    assert_eq!(
        launched.wait(None).unwrap().outcome(),
        Ok(CleanExit::Stopped)
    );
    instance::remove(&dir, Duration::from_secs(2)).unwrap();
    assert!(!dir.path().exists());
}

#[test]
fn shared_directory_is_passed_and_qemu_starts_with_it() {
    let root = tempfile::tempdir().unwrap();
    let share = tempfile::tempdir().unwrap();
    let dir = instance::create(root.path(), Some("ninep"), false).unwrap();
    let _guard = Guard(dir.clone());
    let shared = SharedDir {
        host: share.path().to_owned(),
        tag: "fs0".into(),
        readonly: true,
    };
    let spec = MachineSpec {
        shared_dirs: vec![shared],
        ..spec("")
    };
    let launched = instance::launch(&spec, &dir, &LaunchOptions::default()).unwrap();
    let argv = dir.record().unwrap().argv;
    assert!(
        argv.iter()
            .any(|a| a == "virtio-9p-pci,fsdev=fsdev0,mount_tag=fs0"),
        "{argv:?}"
    );
    let record = launched.wait(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(record.outcome(), Ok(CleanExit::Halted));
}

#[test]
fn names_generated_duplicate_invalid_and_missing_kernel() {
    let root = tempfile::tempdir().unwrap();
    let a = instance::create(root.path(), None, false).unwrap();
    let b = instance::create(root.path(), None, false).unwrap();
    assert_ne!(a.name(), b.name());
    let err = instance::create(root.path(), Some("Bad Name"), false).unwrap_err();
    assert!(matches!(err, InstanceError::BadName(_)), "{err}");
    // Created, not started yet, and its creator (`a`, still held) is alive: starting.
    let err = instance::create(root.path(), Some(a.name()), true).unwrap_err();
    assert!(
        matches!(&err, InstanceError::InUse { state, .. } if state == "starting"),
        "{err}"
    );
    // Its creator gone without starting it: taken, replaceable.
    let name = a.name().to_owned();
    drop(a);
    let err = instance::create(root.path(), Some(&name), false).unwrap_err();
    assert!(matches!(err, InstanceError::Exists(_)), "{err}");
    let a = instance::create(root.path(), Some(&name), true).unwrap();
    assert_eq!(instance::status(&a).unwrap().state, State::Created);
    let bad = MachineSpec {
        kernel: "/nonexistent/kernel".into(),
        ..spec("")
    };
    let err = instance::launch(&bad, &a, &LaunchOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("kernel /nonexistent/kernel does not exist"),
        "{err}"
    );
    let dir_as_kernel = MachineSpec {
        kernel: root.path().to_path_buf(),
        ..spec("")
    };
    let err = instance::launch(&dir_as_kernel, &a, &LaunchOptions::default()).unwrap_err();
    assert!(
        err.to_string().ends_with("is a directory, not a file"),
        "{err}"
    );
}

#[test]
fn arm64_boots_under_qemu_system_aarch64() {
    let have = |bin: &str| Command::new(bin).arg("--version").output().is_ok();
    if !have("aarch64-linux-gnu-gcc") || !have("qemu-system-aarch64") {
        eprintln!("skipped: needs gcc-aarch64-linux-gnu and qemu-system-arm");
        return;
    }
    let kernel = build_kernel("arm64", "CONFIG_ARCH_ARM_64=y");
    let root = tempfile::tempdir().unwrap();
    let dir = instance::create(root.path(), Some("arm"), false).unwrap();
    let _guard = Guard(dir.clone());
    let spec = MachineSpec {
        arch: GuestArch::Arm64,
        kernel,
        accel: Accel::Auto,
        ..spec("hi")
    };
    let launched = instance::launch(&spec, &dir, &LaunchOptions::default()).unwrap();
    let record = launched.wait(Some(Duration::from_secs(20))).unwrap();
    // PSCI SYSTEM_OFF: QEMU exits 0.
    assert_eq!(record.outcome(), Ok(CleanExit::PoweredOff));
    let serial = serial_text(&dir);
    assert!(serial.contains("testkernel: t qemu-arm64\n"), "{serial}");
    assert!(serial.contains("\ncmdline: hi\n"), "{serial}");
}
