//! `kiln run` and the machine lifecycle end to end, with the test kernel built by kiln and
//! booted by real QEMU (TCG): a foreground run with args, env and an initrd; a crash; a
//! timeout; a detached run through ps, logs, stop and rm; a port mapping accepting TCP; QEMU
//! killed from outside; unsupported VMM combinations refused before anything starts.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::*;
use serde_json::Value;

/// A world with its own instances root.
struct Machines {
    w: World,
    project: PathBuf,
}

fn setup(targets: &str) -> Machines {
    let w = World::new();
    let project = w.dir("p");
    let tk = Path::new(env!("CARGO_MANIFEST_DIR")).join("testkernel");
    write(
        &project.join("Kraftfile"),
        format!(
            "spec: v0.6\nname: hello\nunikraft:\n  source: {}\nrootfs: ./rootfs\n\
             cmd: [\"/bin/app\", \"--flag\"]\nenv:\n  GREETING: hi there\ntargets:\n{targets}",
            tk.display()
        ),
    );
    write(
        &project.join("main.c"),
        read(&tk.join("example-app/main.c")),
    );
    standard_rootfs(&project.join("rootfs"));
    Machines { w, project }
}

impl Machines {
    fn kiln(&self) -> Command {
        let mut c = self.w.kiln(&self.project);
        c.env("XDG_STATE_HOME", self.w.dir("state"));
        c
    }
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self
            .kiln()
            .arg("run")
            .args(args)
            .output()
            .expect("run kiln");
        (
            out.status.code().unwrap_or(-1),
            text(&out.stdout),
            text(&out.stderr),
        )
    }
    fn ps(&self) -> Vec<Value> {
        let out = self.kiln().args(["ps", "-o", "json"]).output().expect("ps");
        assert!(out.status.success(), "{}", text(&out.stderr));
        json(&out.stdout).as_array().cloned().unwrap_or_default()
    }
    fn ps_of(&self, name: &str) -> Option<Value> {
        self.ps().into_iter().find(|m| m["name"] == name)
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.kiln().args(args).output().expect("kiln");
        assert!(out.status.success(), "kiln {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }
}

/// Stops every machine of the world when the test ends, whatever happened.
impl Drop for Machines {
    fn drop(&mut self) {
        for m in self.ps() {
            if let Some(n) = m["name"].as_str() {
                let _ = self.kiln().args(["rm", n]).output();
            }
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn foreground_run_with_args_env_and_initrd() {
    let m = setup("  - qemu/x86_64\n");
    let (code, out, err) = m.run(&["-e", "EXTRA=1", "-W"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("testkernel: hello qemu-x86_64\n"),
        "no BIOS noise first:\n{out}"
    );
    assert!(
        out.contains(
            "cmdline: vfs.fstab=[ \"initrd0:/:extract:::\" ] env.vars=[ \"GREETING=hi there\" \"EXTRA=1\" ] -- /bin/app --flag\n"
        ),
        "{out}"
    );
    assert!(out.contains("initrd-source: module"), "{out}");
    assert!(out.contains("initrd: mounted at /\n"), "{out}");
    assert!(
        out.contains("initrd-data: etc/motd: welcome to kiln"),
        "{out}"
    );
    assert!(
        out.contains("env: EXTRA=1\nargs: /bin/app --flag\n"),
        "{out}"
    );
    assert!(
        !out.contains('\r') && !out.contains('\x1b'),
        "CRLF and escapes are cleaned"
    );
    // Arguments after `--` replace the Kraftfile's cmd; without parameters there is no `--`.
    let (code, out, _) = m.run(&["--", "one", "two words"]);
    assert_eq!(code, 0);
    assert!(out.contains("-- one \"two words\"\n"), "{out}");
    // The machine stays listed as exited, with its exit.
    let listed = m.ps();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|i| i["status"] == "exited" && i["exit"] == "halted"),
        "{listed:?}"
    );
}

#[test]
fn a_crashing_guest_fails_with_the_reason_and_rm_cleans_up() {
    let m = setup("  - qemu/x86_64\n");
    let (code, out, err) = m.run(&["--rm", "--name", "crashy", "--", "crash"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("testkernel: crash"), "{out}");
    assert!(
        err.trim_end().ends_with(
            "error: machine crashy: the guest crashed or failed to initialise (isa-debug-exit 85)"
        ),
        "{err}"
    );
    assert!(m.ps_of("crashy").is_none(), "--rm removed it");
}

#[test]
fn timeout_stops_a_hanging_guest() {
    let m = setup("  - qemu/x86_64\n");
    let start = Instant::now();
    let (code, _, err) = m.run(&["--timeout", "1s", "--name", "slow", "--", "hang"]);
    assert_eq!(code, 1);
    assert!(err.contains("timed out after 1s"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(m.ps_of("slow").expect("listed")["status"], "exited");
}

#[test]
fn detached_lifecycle_ps_logs_stop_rm_and_ports() {
    let m = setup("  - qemu/x86_64\n");
    let port = free_port();
    let (code, out, err) = m.run(&[
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{port}:80"),
        "--",
        "hang",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "web\n");
    let info = m.ps_of("web").expect("listed");
    assert_eq!(info["status"], "running");
    assert_eq!(info["ports"], serde_json::json!([format!("{port}:80")]));
    assert_eq!(info["plat"], "qemu");
    assert_eq!(info["arch"], "x86_64");
    assert_eq!(info["mem"], "64M");
    assert!(info["pid"].as_i64().is_some_and(|p| p > 1));
    assert!(
        info["kernel"]
            .as_str()
            .is_some_and(|k| k.ends_with("hello_qemu-x86_64"))
    );
    assert!(info["created"].as_u64().is_some());
    // The host port accepts a connection while the machine runs (QEMU's user networking).
    TcpStream::connect(("127.0.0.1", port)).expect("the mapped port accepts TCP");
    // The serial console is in the logs.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !m
        .ok(&["logs", "web"])
        .contains("testkernel: app returned 0")
    {
        assert!(Instant::now() < deadline, "logs never showed the app");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A second machine cannot take the name.
    let (code, _, err) = m.run(&["-d", "--name", "web", "--", "hang"]);
    assert_eq!(code, 1);
    assert!(err.contains("web"), "{err}");
    m.ok(&["stop", "web"]);
    assert_eq!(m.ps_of("web").expect("listed")["status"], "exited");
    m.ok(&["stop", "web"]); // idempotent
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the port is released"
    );
    m.ok(&["rm", "web"]);
    assert!(m.ps_of("web").is_none());
    let out = m.kiln().args(["rm", "web"]).output().expect("rm");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_qemu_killed_from_outside_shows_as_exited_and_does_not_block() {
    let m = setup("  - qemu/x86_64\n");
    let (code, _, err) = m.run(&["-d", "--name", "victim", "--", "hang"]);
    assert_eq!(code, 0, "{err}");
    let pid = m.ps_of("victim").expect("listed")["pid"]
        .as_i64()
        .expect("pid");
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
    assert!(killed.expect("kill").success());
    // The signal is delivered asynchronously; once ps says exited (the pid is dead, or a
    // zombie), it must stay so, and the supervisor records how QEMU ended.
    let deadline = Instant::now() + Duration::from_secs(10);
    while m.ps_of("victim").expect("listed")["exit"].is_null() {
        assert!(Instant::now() < deadline, "the end was never recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..3 {
        let info = m.ps_of("victim").expect("listed");
        assert_eq!(info["status"], "exited", "{info}");
        assert_eq!(info["exit"], "killed (SIGKILL)", "{info}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, _, err) = m.run(&["--name", "next"]);
    assert_eq!(code, 0, "stale state does not block another run: {err}");
}

#[test]
fn one_target_only_and_unsupported_combinations_fail_before_starting() {
    let m = setup("  - qemu/x86_64\n  - fc/x86_64\n  - xen/x86_64\n");
    // Several targets, no choice given: as kraft, the host's monitor and architecture.
    let (code, out, err) = m.run(&["--rm"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("kiln: using arch=x86_64 plat=qemu\n"), "{err}");
    assert!(out.contains("testkernel: hello qemu-x86_64"), "{out}");
    // A choice that still matches several is an error listing them.
    let (code, _, err) = m.run(&["--arch", "x86_64"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("kiln run boots one target, and 3 match"),
        "{err}"
    );
    let (code, _, err) = m.run(&["-t", "fc-x86_64", "-p", "8080:80"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.to_lowercase().contains("tap"), "{err}");
    let (code, _, err) = m.run(&["-t", "fc-x86_64"]);
    assert_eq!(code, 1);
    assert!(err.contains("firecracker is not installed"), "{err}");
    let (code, _, err) = m.run(&["-t", "xen-x86_64", "-p", "8080:80"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = m.run(&["-t", "qemu-x86_64", "--accel", "kvm"]);
    assert_eq!(code, 1, "KVM is broken on these machines: {err}");
    assert!(err.contains("--accel tcg"), "{err}");
    assert!(m.ps().is_empty(), "nothing was left behind: {:?}", m.ps());
}

#[test]
fn arm64_runs_under_qemu_system_aarch64() {
    let m = setup("  - qemu/arm64\n");
    let (code, out, err) = m.run(&["--", "on", "arm"]);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(out.contains("testkernel: hello qemu-arm64"), "{out}");
    assert!(out.contains("-- on arm\n"), "{out}");
    assert!(
        out.contains("initrd-data: etc/motd: welcome to kiln"),
        "{out}"
    );
}

#[test]
fn a_runtime_project_boots_its_kernel_with_the_initrd() {
    let m = setup("  - qemu/x86_64\n");
    m.ok(&["build"]);
    let runtime = m.w.dir("rt");
    // `kiln run --rm` of the runtime project: the guest's console, after a clean exit.
    let boot = || {
        let out =
            m.w.kiln(&runtime)
                .env("XDG_STATE_HOME", m.w.dir("state"))
                .args(["run", "--rm"])
                .output()
                .expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    write(
        &runtime.join("Kraftfile"),
        format!(
            "spec: v0.6\nruntime: kernel://{}\nrootfs: ./rootfs\ncmd: /srv/start\n",
            m.project
                .join(".unikraft/build/hello_qemu-x86_64")
                .display()
        ),
    );
    write(&runtime.join("rootfs/srv/start"), "#!/bin/sh\n");
    let serial = boot();
    assert!(
        serial.contains("cmdline: vfs.fstab=[ \"initrd0:/:extract:::\" ] -- /srv/start\n"),
        "{serial}"
    );
    assert!(serial.contains("initrd: 100644 10 srv/start"), "{serial}");
    // Without `cmd` there are no app arguments, but the `--` still follows the parameters:
    // otherwise Unikraft hands `vfs.fstab=[ … ]` to the app and never mounts the initrd.
    write(
        &runtime.join("Kraftfile"),
        format!(
            "spec: v0.6\nruntime: kernel://{}\nrootfs: ./rootfs\n",
            m.project
                .join(".unikraft/build/hello_qemu-x86_64")
                .display()
        ),
    );
    let serial = boot();
    assert!(
        serial.contains("cmdline: vfs.fstab=[ \"initrd0:/:extract:::\" ] --\n"),
        "{serial}"
    );
    assert!(
        !serial.contains("args: vfs.fstab"),
        "the parameters reached the app: {serial}"
    );
    assert!(serial.contains("initrd: mounted at /"), "{serial}");
    assert!(serial.contains("initrd: 100644 10 srv/start"), "{serial}");
}

#[test]
fn ctrl_c_stops_the_machine_gracefully() {
    let m = setup("  - qemu/x86_64\n");
    m.ok(&["build"]);
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kiln"))
        .current_dir(&m.project)
        .env("KILN_CACHE_DIR", m.w.cache_dir())
        .env("KILN_WATCH", "0")
        .env("XDG_STATE_HOME", m.w.dir("state"))
        .args(["run", "--name", "fg", "--", "hang"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn kiln run");
    let deadline = Instant::now() + Duration::from_secs(20);
    while m.ps_of("fg").is_none_or(|i| i["status"] != "running") {
        assert!(Instant::now() < deadline, "the machine never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(sent.expect("kill").success());
    let out = child.wait_with_output().expect("wait");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("stopping fg (Ctrl-C)"), "{err}");
    assert!(err.contains("machine fg stopped by Ctrl-C"), "{err}");
    let info = m.ps_of("fg").expect("listed");
    assert_eq!(
        (&info["status"], &info["exit"]),
        (&Value::from("exited"), &Value::from("stopped"))
    );
}

#[test]
fn a_volume_is_a_9p_share_with_an_fstab_entry() {
    let m = setup("  - qemu/x86_64\n");
    let data = m.w.dir("data");
    let vol = format!("{}:/data:ro", data.display());
    let (code, out, err) = m.run(&["--name", "vol", "-v", &vol, "--", "x"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("cmdline: vfs.fstab=[ \"initrd0:/:extract:::\" \"fs2:/data:9pfs:::mkmp\" ]"),
        "{out}"
    );
    // /data is not in the rootfs: Unikraft creates it (`mkmp`, as kraft asks).
    assert!(out.contains("mount: created mount point /data"), "{out}");
    let record = m.w.dir("state").join("kiln/instances/vol/machine.json");
    let record: Value = serde_json::from_slice(&read(&record)).expect("machine.json");
    let argv: Vec<&str> = record["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let fsdev = format!(
        "local,id=fsdev0,path={},security_model=passthrough,readonly=on",
        data.display()
    );
    assert!(argv.contains(&fsdev.as_str()), "{argv:?}");
    assert!(
        argv.contains(&"virtio-9p-pci,fsdev=fsdev0,mount_tag=fs2"),
        "{argv:?}"
    );
    let (code, _, err) = m.run(&["-v", "/nonexistent-kiln-dir:/x"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("/nonexistent-kiln-dir is not a directory"),
        "{err}"
    );
}

#[test]
fn a_well_known_boot_failure_is_explained_in_the_reason() {
    let m = setup("  - qemu/x86_64\n");
    // ukrandom, as in app-helloworld's unmodified Kraftfile: TCG has no RDSEED.
    let kraftfile = text(&read(&m.project.join("Kraftfile"))).replace(
        "unikraft:\n  source:",
        "unikraft:\n  kconfig:\n    CONFIG_LIBUKRANDOM: 'y'\n  source:",
    );
    write(&m.project.join("Kraftfile"), kraftfile);
    let (code, out, err) = m.run(&["--rm", "-W"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("Could not initialize the HWRNG (-95)"),
        "{out}"
    );
    assert!(
        err.contains("crashed") && err.contains("set `CONFIG_LIBUKRANDOM: 'n'`"),
        "{err}"
    );
}

#[test]
fn no_target_for_this_host_is_an_error_listing_them() {
    let m = setup("  - fc/arm64\n  - xen/arm64\n");
    let (code, _, err) = m.run(&[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no target runs on this host (plat=qemu, arch=x86_64)")
            && err.contains("fc/arm64"),
        "{err}"
    );
}

#[test]
fn five_runs_with_one_name_at_once_tell_the_losers_it_is_taken_not_exited() {
    let m = setup("  - qemu/x86_64\n");
    m.ok(&["build"]);
    let children: Vec<std::process::Child> = (0..5)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("kiln"))
                .args(["run", "-d", "--name", "same", "--", "hang"])
                .current_dir(&m.project)
                .envs(m.kiln().get_envs().filter_map(|(k, v)| Some((k, v?))))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start kiln run")
        })
        .collect();
    let outs: Vec<std::process::Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    let winners = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(winners, 1, "exactly one run takes the name");
    for o in outs.iter().filter(|o| !o.status.success()) {
        let err = text(&o.stderr);
        assert!(
            err.contains("\"same\" is running") || err.contains("\"same\" is starting"),
            "a loser was told: {err}"
        );
        assert!(!err.contains("exited"), "{err}");
    }
    m.ok(&["stop", "same"]);
}

#[test]
fn a_detached_run_on_a_taken_port_says_so_once() {
    let m = setup("  - qemu/x86_64\n");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().unwrap().port();
    let (code, _, err) = m.run(&[
        "-d",
        "--name",
        "p",
        "-p",
        &format!("{port}:80"),
        "--",
        "hang",
    ]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err.matches("Could not set up host forwarding rule").count(),
        1,
        "{err}"
    );
}
