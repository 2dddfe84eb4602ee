//! Runtime kernels from a registry, end to end with real parts: the test kernel packaged as
//! `<registry>/base:latest` and pushed to Debian's docker-registry on loopback; a runtime
//! project on it that builds offline without it, pins it in Kraftfile.lock, pulls it and
//! boots it under QEMU with its own initrd and command line; a package of that project run
//! as `kiln run REF` on another machine; and the errors for what the index does not hold.
//! The pulls of a build are spans of its kernel step in `--trace`.

mod common;

use std::path::{Path, PathBuf};

use common::registry::{Kind, Registry, private_home};
use common::*;
use serde_json::Value;

struct Machine {
    w: World,
}

impl Machine {
    fn new() -> Machine {
        Machine { w: World::new() }
    }
    fn kiln(&self, cwd: &Path) -> assert_cmd::Command {
        let mut c = self.w.kiln(cwd);
        private_home(&mut c, &self.w.scratch.path().join("home"));
        c.env("XDG_STATE_HOME", self.w.scratch.path().join("state"));
        c
    }
    fn ok(&self, cwd: &Path, args: &[&str]) -> (String, String) {
        let out = self.kiln(cwd).args(args).output().unwrap();
        let (o, e) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "kiln {args:?}:\n{o}\n{e}");
        (o, e)
    }
    fn fails(&self, cwd: &Path, args: &[&str]) -> String {
        let out = self.kiln(cwd).args(args).output().unwrap();
        assert!(!out.status.success(), "kiln {args:?} must fail");
        text(&out.stderr)
    }
}

/// The test kernel (no rootfs: it boots the initrd it is given) as `<reg>/base:latest`.
fn push_base(m: &Machine, reg: &Registry) -> String {
    let p = m.w.dir("base");
    write(
        &p.join("Kraftfile"),
        format!(
            "spec: v0.6\nname: base\nunikraft:\n  source: {}\n  kconfig:\n    CONFIG_APP_GREETING: from the registry\ntargets:\n  - qemu/x86_64\n",
            testkernel_dir().display()
        ),
    );
    write(
        &p.join("main.c"),
        read(&testkernel_dir().join("example-app/main.c")),
    );
    let name = format!("{}/base:latest", reg.addr);
    m.ok(&p, &["pkg", "--name", &name, "--push"]);
    let out = m
        .kiln(&p)
        .args(["pkg", "ls", "-o", "json"])
        .output()
        .unwrap();
    json(&out.stdout)[0]["digest"].as_str().unwrap().to_string()
}

fn runtime_project(m: &Machine, reg: &Registry, extra: &str) -> PathBuf {
    let p = m.w.dir("app");
    write(
        &p.join("Kraftfile"),
        format!(
            "spec: v0.6\nname: app\nruntime: {}/base:latest\nrootfs: ./rootfs\ncmd: [\"/bin/hello\", \"--from\", \"runtime\"]\n{extra}",
            reg.addr
        ),
    );
    standard_rootfs(&p.join("rootfs"));
    p
}

#[test]
fn a_runtime_project_runs_on_the_kernel_it_pulls() {
    let mut reg = Registry::start(Kind::Open);
    let publisher = Machine::new();
    let base_digest = push_base(&publisher, &reg);

    let dev = Machine::new();
    let p = runtime_project(&dev, &reg, "targets:\n  - qemu/x86_64\n");
    // As with kraft, a build is the initrd: offline, with nothing pulled, it succeeds.
    let (_, err) = dev.ok(&p, &["build", "--offline"]);
    assert!(err.contains("1 ran"), "{err}");
    assert!(!p.join("Kraftfile.lock").exists());
    let (plan, _) = dev.ok(&p, &["plan", "--offline"]);
    let line = plan
        .lines()
        .find(|l| l.contains("qemu-x86_64/runtime"))
        .unwrap_or_default();
    assert!(
        line.contains("unresolved") && line.contains("kiln pkg pull"),
        "{plan}"
    );

    let trace = dev.w.scratch.path().join("run-trace.json");
    let trace_arg = trace.display().to_string();
    let (console, err) = dev.ok(&p, &["run", "-W", "--rm", "--trace", &trace_arg]);
    assert!(
        console.contains("app: greeting: from the registry"),
        "the pulled kernel boots:\n{console}\n{err}"
    );
    // Each blob the kernel step pulled is a span of that step in the profile.
    let profile: Value = serde_json::from_slice(&read(&trace)).unwrap();
    let pulls: Vec<&Value> = profile["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["args"]["step"] == "qemu-x86_64/kernel")
        .filter(|e| e["name"].as_str().is_some_and(|n| n.starts_with("pull ")))
        .collect();
    assert!(!pulls.is_empty(), "{profile:#}");
    assert!(
        pulls
            .iter()
            .all(|e| e["args"]["detail"].as_str().unwrap().ends_with(" bytes"))
    );
    assert!(
        console.contains("initrd-data: etc/motd: welcome to kiln\\n"),
        "with the project's initrd:\n{console}"
    );
    assert!(
        console.contains("app: args: /bin/hello --from runtime"),
        "and its command line:\n{console}"
    );
    let lock = String::from_utf8(read(&p.join("Kraftfile.lock"))).unwrap();
    assert!(
        lock.contains("[[runtime]]") && lock.contains(&format!("index = \"{base_digest}\"")),
        "{lock}"
    );

    // Pinned and pulled: it runs with --locked, and offline once the registry is gone.
    dev.ok(&p, &["run", "-W", "--rm", "--locked"]);
    reg.stop();
    let (console, _) = dev.ok(&p, &["run", "-W", "--rm", "--offline"]);
    assert!(
        console.contains("app: greeting: from the registry"),
        "{console}"
    );
}

#[test]
fn a_packaged_runtime_project_runs_by_reference_elsewhere() {
    let reg = Registry::start(Kind::Open);
    let publisher = Machine::new();
    push_base(&publisher, &reg);
    let p = runtime_project(
        &publisher,
        &reg,
        "env:\n  MOOD: sunny\ntargets:\n  - qemu/x86_64\n",
    );
    let app = format!("{}/app:1.0", reg.addr);
    publisher.ok(&p, &["pkg", "--name", &app, "--push"]);
    assert_eq!(
        reg.uploads("app"),
        2,
        "the kernel layer is mounted from base, not uploaded again"
    );

    let other = Machine::new();
    let cwd = other.w.dir("anywhere");
    let (console, _) = other.ok(&cwd, &["run", "-W", "--rm", &app]);
    assert!(
        console.contains("app: greeting: from the registry"),
        "{console}"
    );
    assert!(
        console.contains("app: args: /bin/hello --from runtime"),
        "Cmd from the config:\n{console}"
    );
    assert!(
        console.contains("MOOD=sunny"),
        "Env from the config:\n{console}"
    );
    let (console, _) = other.ok(&cwd, &["run", "-W", "--rm", &app, "--", "/bin/other"]);
    assert!(console.contains("app: args: /bin/other"), "{console}");

    let (name, _) = other.ok(&cwd, &["run", "-W", "-d", "--name", "byref", &app]);
    assert_eq!(name.trim(), "byref");
    let out = other
        .kiln(&cwd)
        .args(["ps", "-o", "json"])
        .output()
        .unwrap();
    let ps: Value = json(&out.stdout);
    let row = ps
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "byref")
        .cloned()
        .unwrap_or_default();
    assert_eq!(row["kernel"], format!("oci://{app}"), "{ps}");
    other.ok(&cwd, &["rm", "byref"]);

    let err = other.fails(&cwd, &["run", "-W", "--rm", "--plat", "fc", &app]);
    assert!(
        err.contains("has no manifest for fc/x86_64") && err.contains("qemu/x86_64"),
        "{err}"
    );
}

#[test]
fn the_manifest_is_chosen_by_platform_and_kconfig() {
    let reg = Registry::start(Kind::Open);
    let publisher = Machine::new();
    let base_digest = push_base(&publisher, &reg);
    let dev = Machine::new();
    let p = runtime_project(&dev, &reg, "targets:\n  - fc/x86_64\n");
    let err = dev.fails(&p, &["run", "-W", "--rm"]);
    assert!(
        err.contains("no manifest for fc/x86_64") && err.contains("its index holds qemu/x86_64"),
        "{err}"
    );
    let p2 = dev.w.dir("app2");
    write(
        &p2.join("Kraftfile"),
        format!(
            "spec: v0.6\nname: app\nruntime:\n  source: {}/base:latest\n  kconfig:\n    CONFIG_NOT_IN_BASE: y\nrootfs: ./rootfs\ntargets:\n  - qemu/x86_64\n",
            reg.addr
        ),
    );
    standard_rootfs(&p2.join("rootfs"));
    let err = dev.fails(&p2, &["run", "-W", "--rm"]);
    assert!(
        err.contains("CONFIG_NOT_IN_BASE=y"),
        "the kconfig it asks for is named: {err}"
    );

    // A runtime named by digest needs no tag.
    let p3 = dev.w.dir("app3");
    write(
        &p3.join("Kraftfile"),
        format!(
            "spec: v0.6\nname: app\nruntime: {}/base@{base_digest}\nrootfs: ./rootfs\ntargets:\n  - qemu/x86_64\n",
            reg.addr
        ),
    );
    standard_rootfs(&p3.join("rootfs"));
    let (console, _) = dev.ok(&p3, &["run", "-W", "--rm"]);
    assert!(
        console.contains("app: greeting: from the registry"),
        "{console}"
    );
}
