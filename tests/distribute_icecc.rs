//! Distributed compiles end to end with real icecream (Debian `icecc`) on loopback: a
//! scheduler, this machine's daemon and two workers, and real builds of the test kernel:
//! - `--distribute` sends C compiles to the workers (their logs name the files), the
//!   jobserver grows by the scheduler's slots, and the kernel is byte-identical to a local
//!   build on another machine, under the same compile key;
//! - a worker killed while it compiles costs a recompile, not the build;
//! - an unreachable scheduler, or no local daemon: one message, local compiles, success;
//! - distcc in the config is refused with the reason, naming the file and line.

mod common;

use common::icecc::Icecream;
use common::machine::Machine;
use common::*;

const COMPILE: &str = "qemu-x86_64/compile";

/// One test at a time: the workers share this machine's cores, and the scheduler skips a
/// worker whose load is high, so builds of parallel tests would keep jobs from the workers.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A config file for `m` naming `scheduler` in `[distribute]`.
fn config(m: &Machine, scheduler: &str) -> std::path::PathBuf {
    let file = m.home.path().join("kiln.toml");
    write(
        &file,
        format!("[distribute]\nscheduler = \"{scheduler}\"\n"),
    );
    file
}

/// `kiln build -o json --distribute` on `m` with icecream's client environment `env`.
fn distributed_build(
    m: &Machine,
    scheduler: &str,
    env: &[(String, String)],
) -> (i32, serde_json::Value, String) {
    let mut cmd = m.cmd();
    cmd.env("KILN_CONFIG", config(m, scheduler));
    for (k, v) in env {
        cmd.env(k, v);
    }
    build_json_with(cmd, &["--distribute"])
}

fn key(doc: &serde_json::Value) -> String {
    step(doc, COMPILE)["key"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn compiles_go_to_the_workers_and_the_kernel_equals_a_local_one() {
    let _one = serial();
    let ice = Icecream::start(&["worker1", "worker2"]);
    let a = Machine::new("distributed");
    let (code, doc, err) = distributed_build(&a, &ice.scheduler(), &ice.client_env());
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_of(&doc, COMPILE), "ran");
    // The scheduler lists two workers with 2 slots each: make's jobserver grows by 4.
    assert!(
        err.contains("kiln: distribute: icecream, 4 remote slots on 2 hosts"),
        "{err}"
    );
    let remote: Vec<String> = ["worker1", "worker2"]
        .iter()
        .flat_map(|w| ice.compiled_by(w))
        .collect();
    assert!(
        !remote.is_empty(),
        "no compile reached a worker:\n{err}\n{}",
        ice.log("scheduler")
    );
    let tk = testkernel_dir().display().to_string();
    assert!(
        remote
            .iter()
            .all(|f| f.starts_with(&tk) || f.starts_with(&a.project.display().to_string())),
        "{remote:?}"
    );
    // Another machine, no icecream: the same key and the same bytes.
    let b = Machine::new("local");
    let (local, _) = b.ok(&[]);
    assert_eq!(key(&local), key(&doc));
    assert!(
        a.kernel() == b.kernel(),
        "a distributed kernel differs from a local one"
    );
    let (code, boot) = boot_x86(
        &a.project.join(".unikraft/build/hello_qemu-x86_64"),
        Some(&initramfs(&a.project, "x86_64")),
        "",
    );
    assert_eq!(code, 83, "the test kernel halts with 83: {boot}");
    assert!(boot.contains("hi there"), "{boot}");
}

#[test]
fn a_worker_killed_mid_compile_costs_a_recompile_not_the_build() {
    let _one = serial();
    let mut ice = Icecream::start(&["worker1"]);
    let a = Machine::new("dying");
    write(&a.project.join("slow.c"), slow_c_source(600));
    let mut env = ice.client_env();
    env.push(("ICECC_PREFERRED_HOST".into(), "worker1".into()));
    let child = {
        let mut env: Vec<(&str, String)> =
            env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        env.push((
            "KILN_CONFIG",
            config(&a, &ice.scheduler()).display().to_string(),
        ));
        a.spawn(&["--distribute"], &env)
    };
    let slow = a.project.join("slow.c").display().to_string();
    let start = std::time::Instant::now();
    while !ice.compiled_by("worker1").contains(&slow) {
        assert!(
            start.elapsed().as_secs() < 120,
            "slow.c never reached the worker:\n{}",
            ice.log("scheduler")
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ice.kill("worker1");
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let doc = json(&out.stdout);
    assert_eq!(status_of(&doc, COMPILE), "ran", "{err}");
    let b = Machine::new("reference");
    write(&b.project.join("slow.c"), slow_c_source(600));
    b.ok(&[]);
    assert!(
        a.kernel() == b.kernel(),
        "the kernel after a worker died differs from a local one"
    );
}

#[test]
fn no_scheduler_or_no_daemon_means_local_compiles_and_one_message() {
    let _one = serial();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = Machine::new("nosched");
    let sock = a.home.path().join("no-daemon.socket").display().to_string();
    // icecream installed, no daemon: the probe stops at the socket.
    let env = [("ICECC_TEST_SOCKET".to_string(), sock)];
    let (code, doc, err) = distributed_build(&a, &format!("127.0.0.1:{}", port - 1), &env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_of(&doc, COMPILE), "ran");
    assert_eq!(err.matches("kiln: distribute:").count(), 1, "{err}");
    assert!(
        err.contains("the local icecream daemon (iceccd) does not answer"),
        "{err}"
    );
    assert!(err.contains("compiling locally"), "{err}");
    // A daemon but no scheduler behind the named address.
    let ice = Icecream::start(&[]);
    let b = Machine::new("nosched2");
    let (code, _, err) =
        distributed_build(&b, &format!("127.0.0.1:{}", port - 1), &ice.client_env());
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("kiln: distribute:").count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "the icecream scheduler at 127.0.0.1:{} is unreachable",
            port - 1
        )),
        "{err}"
    );
    assert!(a.kernel() == b.kernel());
    // --offline: not asked at all.
    let c = Machine::new("offline");
    let mut cmd = c.cmd();
    cmd.env("KILN_CONFIG", config(&c, &ice.scheduler()));
    let (code, _, err) = build_json_with(cmd, &["--distribute", "--offline"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("--offline: compiles are not distributed"),
        "{err}"
    );
}

#[test]
fn distcc_in_the_config_is_refused_with_the_reason() {
    let m = Machine::new("distcc");
    let file = m.home.path().join("kiln.toml");
    write(&file, "[distribute]\nengine = \"distcc\"\n");
    let out = m
        .cmd()
        .env("KILN_CONFIG", &file)
        .arg("build")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:2", file.display())), "{err}");
    assert!(
        err.contains("unknown [distribute] engine \"distcc\""),
        "{err}"
    );
    assert!(err.contains("icecream"), "{err}");
}
