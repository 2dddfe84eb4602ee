//! End-to-end kernel builds of the repository's test kernel (testkernel/, which speaks
//! Unikraft's make interface) with real make and gcc, booted with real QEMU under TCG:
//! a cold build, a no-op that does not run make, a rootfs change that only relinks, a
//! kconfig change, a stale `.config` that must not win, two targets at once within the job
//! limit, switching targets, a passed (not embedded) initrd, a compile error, and arm64.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Std;

use common::*;
use serde_json::Value;

fn testkernel() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testkernel")
}

/// A kernel project `name` whose app is the test kernel's example app.
fn project(w: &World, name: &str, targets: &str, extra_kconfig: &str) -> PathBuf {
    let p = w.dir(name);
    write(
        &p.join("Kraftfile"),
        format!(
            "spec: v0.6\nname: hello\nunikraft:\n  source: {}\n  kconfig:\n    \
             CONFIG_APP_GREETING: hi there\n{extra_kconfig}rootfs: ./rootfs\ntargets:\n{targets}",
            testkernel().display()
        ),
    );
    let app = std::fs::read(testkernel().join("example-app/main.c")).expect("example app");
    write(&p.join("main.c"), app);
    standard_rootfs(&p.join("rootfs"));
    p
}

const EINITRD: &str = "    CONFIG_LIBVFSCORE_AUTOMOUNT_CI_EINITRD: y\n";
const QEMU_X86: &str = "  - qemu/x86_64\n";

/// A directory of `make` and `gcc` wrappers: each run of make is logged, and the greatest
/// number of compiles (gcc with `-c`) alive at once is recorded. gcc runs that compile
/// nothing (make's parse-time `$(shell $(CC) -dumpmachine)`, here also in kiln's dry run
/// that estimates the object count) are not jobs of the jobserver, and are not counted.
struct Shims {
    dir: tempfile::TempDir,
}

impl Shims {
    fn new() -> Shims {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display();
        let make = format!("#!/bin/sh\necho \"$*\" >> {d}/make-calls\nexec /usr/bin/make \"$@\"\n");
        let gcc = format!(
            "#!/bin/sh\n\
             case \" $* \" in *\" -c \"*) ;; *) exec /usr/bin/gcc \"$@\" ;; esac\n\
             exec 9>{d}/lock\n\
             flock 9; n=$(( $(cat {d}/live 2>/dev/null || echo 0) + 1 )); echo $n > {d}/live\n\
             m=$(cat {d}/max 2>/dev/null || echo 0); [ $n -gt $m ] && echo $n > {d}/max; flock -u 9\n\
             /usr/bin/gcc \"$@\"; rc=$?\n\
             flock 9; echo $(( $(cat {d}/live) - 1 )) > {d}/live; flock -u 9\n\
             exit $rc\n"
        );
        for (name, text) in [("make", make), ("gcc", gcc)] {
            let path = dir.path().join(name);
            write(&path, text);
            chmod(&path, 0o755);
        }
        Shims { dir }
    }
    fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
    fn make_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("make-calls"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
    fn max_gcc(&self) -> u32 {
        std::fs::read_to_string(self.dir.path().join("max"))
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0)
    }
}

/// `kiln build -o json [args]` with the shims first on PATH; returns (exit code, doc, stderr).
fn build(w: &World, p: &Path, shims: &Shims, args: &[&str]) -> (i32, Value, String) {
    let mut cmd = w.kiln(p);
    cmd.env("PATH", shims.path_env());
    build_json_with(cmd, args)
}

fn ok_build(w: &World, p: &Path, shims: &Shims, args: &[&str]) -> Value {
    let (code, doc, err) = build(w, p, shims, args);
    assert_eq!(code, 0, "kiln build failed:\n{err}");
    doc
}

fn status(doc: &Value, id: &str) -> String {
    step(doc, id)["status"].as_str().unwrap_or("").to_string()
}

fn kernel(p: &Path, plat: &str) -> PathBuf {
    p.join(format!(".unikraft/build/hello_{plat}-x86_64"))
}

#[test]
fn cold_build_noop_relink_and_kconfig_change() {
    let w = World::new();
    let shims = Shims::new();
    let p = project(&w, "k", QEMU_X86, EINITRD);

    let doc = ok_build(&w, &p, &shims, &["-j", "2"]);
    for id in [
        "qemu-x86_64/kconfig",
        "qemu-x86_64/compile",
        "qemu-x86_64/embed",
        "initrd",
    ] {
        assert_eq!(status(&doc, id), "ran", "{id}");
    }
    assert!(
        kernel(&p, "qemu").is_file() && p.join(".unikraft/build/hello_qemu-x86_64.dbg").is_file()
    );
    let (code, serial) = boot_x86(&kernel(&p, "qemu"), None, "netdev.ip=10.0.0.2 -- one two");
    assert_eq!(code, 83, "{serial}");
    for line in [
        "testkernel: hello qemu-x86_64",
        "cmdline: netdev.ip=10.0.0.2 -- one two",
        "initrd-source: embedded",
        "initrd-data: etc/motd: welcome to kiln",
        "app: greeting: hi there",
    ] {
        assert!(serial.contains(line), "missing {line:?} in:\n{serial}");
    }

    // No-op: everything up to date and make is never started.
    let calls = shims.make_calls().len();
    let doc = ok_build(&w, &p, &shims, &[]);
    assert!(
        statuses(&doc)
            .iter()
            .all(|(_, s)| s == "up-to-date" || s == "hashed"),
        "{doc:#}"
    );
    assert_eq!(
        shims.make_calls().len(),
        calls,
        "a no-op build must not run make"
    );

    // A rootfs change: initrd and embed run, compile does not; make only relinks.
    write(&p.join("rootfs/etc/motd"), "a new motd\n");
    let log = p.join(".unikraft/kiln/work/qemu-x86_64/kiln-make.log");
    let log_before = std::fs::read_to_string(&log).expect("make log").len();
    let doc = ok_build(&w, &p, &shims, &["--explain"]);
    assert_eq!(status(&doc, "qemu-x86_64/compile"), "up-to-date");
    assert_eq!(status(&doc, "qemu-x86_64/kconfig"), "up-to-date");
    assert_eq!(status(&doc, "qemu-x86_64/embed"), "ran");
    let reason = step(&doc, "qemu-x86_64/embed")["reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        reason.starts_with("not cached: input `initrd` changed"),
        "{reason}"
    );
    let relink = &std::fs::read_to_string(&log).expect("make log")[log_before..];
    assert!(
        !relink.contains(" CC "),
        "a rootfs change recompiled C:\n{relink}"
    );
    assert!(relink.contains("einitrd"), "{relink}");
    let (code, serial) = boot_x86(&kernel(&p, "qemu"), None, "x");
    assert_eq!(code, 83);
    assert!(
        serial.contains("initrd-data: etc/motd: a new motd"),
        "{serial}"
    );

    // A kconfig change: kconfig, compile and embed run; the kernel says the new greeting.
    let kf = std::fs::read_to_string(p.join("Kraftfile")).expect("Kraftfile");
    write(&p.join("Kraftfile"), kf.replace("hi there", "good morning"));
    let doc = ok_build(&w, &p, &shims, &[]);
    for id in [
        "qemu-x86_64/kconfig",
        "qemu-x86_64/compile",
        "qemu-x86_64/embed",
    ] {
        assert_eq!(status(&doc, id), "ran", "{id}");
    }
    assert_eq!(status(&doc, "initrd"), "up-to-date");
    let (_, serial) = boot_x86(&kernel(&p, "qemu"), None, "x");
    assert!(serial.contains("app: greeting: good morning"), "{serial}");
}

#[test]
fn a_stale_config_never_overrides_the_kraftfile() {
    let w = World::new();
    let shims = Shims::new();
    let p = project(&w, "k", QEMU_X86, EINITRD);
    ok_build(&w, &p, &shims, &[]);
    let config = p.join(".unikraft/kiln/work/qemu-x86_64/.config");
    let text = std::fs::read_to_string(&config).expect(".config");
    assert!(text.contains("CONFIG_APP_GREETING=\"hi there\""), "{text}");
    write(&config, text.replace("hi there", "hand edited"));
    // The next make run (a relink after a rootfs edit) must use the Kraftfile's value.
    write(&p.join("rootfs/etc/motd"), "changed\n");
    ok_build(&w, &p, &shims, &[]);
    let (_, serial) = boot_x86(&kernel(&p, "qemu"), None, "x");
    assert!(serial.contains("app: greeting: hi there"), "{serial}");
}

#[test]
fn two_targets_build_at_once_within_the_job_limit_and_switching_rebuilds_nothing() {
    let w = World::new();
    let shims = Shims::new();
    let targets = "  - qemu/x86_64\n  - fc/x86_64\n  - xen/x86_64\n";
    let p = project(&w, "k", targets, "");
    let doc = ok_build(&w, &p, &shims, &["-j", "2"]);
    for t in ["qemu-x86_64", "fc-x86_64", "xen-x86_64"] {
        assert_eq!(status(&doc, &format!("{t}/compile")), "ran", "{t}");
    }
    // Three targets' makes share one jobserver: exactly two compilers at the busiest moment.
    assert_eq!(shims.max_gcc(), 2, "compilers alive at once with -j 2");
    for plat in ["qemu", "fc", "xen"] {
        let (code, serial) = boot_x86(&kernel(&p, plat), None, "x");
        assert_eq!(code, 83, "{plat}: {serial}");
        assert!(
            serial.contains(&format!("testkernel: hello {plat}-x86_64")),
            "{serial}"
        );
    }
    // Building one target, then another, then the first again runs make for none of them:
    // each target has its own work directory.
    let calls = shims.make_calls().len();
    for t in ["fc-x86_64", "qemu-x86_64", "fc-x86_64"] {
        let doc = ok_build(&w, &p, &shims, &["-t", t]);
        assert_eq!(status(&doc, &format!("{t}/compile")), "up-to-date");
    }
    assert_eq!(shims.make_calls().len(), calls);
}

#[test]
fn without_embedding_the_initrd_is_passed_at_boot() {
    let w = World::new();
    let shims = Shims::new();
    let p = project(&w, "k", QEMU_X86, "");
    let doc = ok_build(&w, &p, &shims, &[]);
    assert!(steps(&doc).iter().all(|s| s["kind"] != "embed"));
    let initrd = initramfs(&p, "x86_64");
    // Passed at boot, the initrd is mounted by the fstab entry kiln writes (as Unikraft
    // needs); without it, it is not mounted.
    let fstab = "vfs.fstab=[ \"initrd0:/:extract:::\" ] -- x";
    let (code, serial) = boot_x86(&kernel(&p, "qemu"), Some(&initrd), fstab);
    assert_eq!(code, 83, "{serial}");
    assert!(serial.contains("initrd-source: module"), "{serial}");
    assert!(serial.contains("initrd: mounted at /"), "{serial}");
    assert!(
        serial.contains("initrd-data: etc/motd: welcome to kiln"),
        "{serial}"
    );
    // A rootfs change does not touch the kernel at all here.
    write(&p.join("rootfs/etc/motd"), "other\n");
    let doc = ok_build(&w, &p, &shims, &[]);
    assert_eq!(status(&doc, "qemu-x86_64/compile"), "up-to-date");
    assert_eq!(status(&doc, "initrd"), "ran");
    let (_, serial) = boot_x86(&kernel(&p, "qemu"), Some(&initrd), "x");
    assert!(serial.contains("initrd: not mounted"), "{serial}");
}

#[test]
fn a_compile_error_fails_with_make_output_and_caches_nothing() {
    let w = World::new();
    let shims = Shims::new();
    let p = project(&w, "k", QEMU_X86, "");
    write(
        &p.join("broken.c"),
        "int broken(void) { return missing_symbol; }\n",
    );
    let (code, doc, err) = build(&w, &p, &shims, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("missing_symbol"),
        "gcc's message is shown:\n{err}"
    );
    assert!(err.contains("full log: "), "{err}");
    assert!(err.contains("kiln-make.log"), "{err}");
    assert_eq!(status(&doc, "qemu-x86_64/compile"), "failed");
    // Fixing the error builds; the failure was not cached.
    std::fs::remove_file(p.join("broken.c")).expect("rm");
    let doc = ok_build(&w, &p, &shims, &[]);
    assert_eq!(status(&doc, "qemu-x86_64/compile"), "ran");
}

#[test]
fn arm64_builds_with_the_cross_compiler_and_boots() {
    assert!(
        Std::new("aarch64-linux-gnu-gcc")
            .arg("--version")
            .output()
            .is_ok(),
        "aarch64-linux-gnu-gcc is missing: apt-get install gcc-aarch64-linux-gnu (scripts/test.sh does)"
    );
    let w = World::new();
    let shims = Shims::new();
    let p = project(
        &w,
        "k",
        "  - qemu/arm64\n",
        "    CONFIG_TESTKERNEL_SEMIHOSTING: y\n",
    );
    ok_build(&w, &p, &shims, &[]);
    let k = p.join(".unikraft/build/hello_qemu-arm64");
    let out = Std::new("timeout")
        .args([
            "30",
            "qemu-system-aarch64",
            "-machine",
            "virt",
            "-cpu",
            "max",
            "-m",
            "64M",
        ])
        .args([
            "-display",
            "none",
            "-serial",
            "stdio",
            "-monitor",
            "none",
            "-no-reboot",
        ])
        .args(["-semihosting", "-kernel"])
        .arg(&k)
        .arg("-initrd")
        .arg(initramfs(&p, "arm64"))
        .args([
            "-append",
            "vfs.fstab=[ \"initrd0:/:extract:::\" ] -- hello arm",
        ])
        .output()
        .expect("qemu-system-aarch64 is installed (scripts/test.sh installs it)");
    let serial = text(&out.stdout).replace('\r', "");
    assert_eq!(out.status.code(), Some(83), "{serial}");
    assert!(serial.contains("testkernel: hello qemu-arm64"), "{serial}");
    assert!(
        serial.contains("initrd-data: etc/motd: welcome to kiln"),
        "{serial}"
    );
}

/// A directory `bin` of links to the host's `tools` (those it has), to be a test's whole PATH.
fn bin_with(w: &World, tools: &[&str]) -> PathBuf {
    let bin = w.dir("bin");
    for tool in tools {
        let real = Std::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output();
        let real = text(&real.expect("sh").stdout).trim().to_string();
        if !real.is_empty() {
            std::os::unix::fs::symlink(&real, bin.join(tool)).expect("symlink");
        }
    }
    bin
}

/// `kiln plan -o json` in `p` with `bin` as the whole PATH.
fn plan_with_path(w: &World, p: &Path, bin: &Path) -> Value {
    let out = w
        .kiln(p)
        .env("PATH", bin)
        .args(["plan", "-o", "json"])
        .output()
        .expect("run kiln");
    json(&out.stdout)
}

#[test]
fn a_missing_cross_compiler_is_unresolved_with_the_package_to_install() {
    let w = World::new();
    let p = project(&w, "k", "  - qemu/arm64\n", "");
    // A PATH with make, gcc and ld but no aarch64 cross compiler.
    let bin = bin_with(&w, &["make", "gcc", "ld", "git", "sh", "flex", "bison"]);
    let doc = plan_with_path(&w, &p, &bin);
    let kconfig = step(&doc, "qemu-arm64/kconfig");
    assert_eq!(kconfig["status"], "unresolved", "{kconfig:#}");
    let why = kconfig["unresolved"].as_str().unwrap_or("");
    assert!(why.contains("aarch64-linux-gnu-gcc"), "{why}");
    assert!(
        why.contains("apt-get install gcc-aarch64-linux-gnu"),
        "{why}"
    );
}

#[test]
fn a_machine_without_flex_is_told_before_make_runs() {
    let w = World::new();
    let p = project(&w, "k", QEMU_X86, "");
    // Every tool but flex, with make logging its calls.
    let bin = bin_with(&w, &["gcc", "ld", "git", "sh", "bison", "cc1"]);
    let calls = w.dir("calls").join("make");
    write(
        &bin.join("make"),
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec /usr/bin/make \"$@\"\n",
            calls.display()
        ),
    );
    chmod(&bin.join("make"), 0o755);
    let doc = plan_with_path(&w, &p, &bin);
    let why = step(&doc, "qemu-x86_64/kconfig")["unresolved"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        why.contains("`flex` (Debian package flex)") && why.contains("apt-get install flex"),
        "{why}"
    );
    assert!(!why.contains("bison"), "bison is there: {why}");
    let out = w
        .kiln(&p)
        .env("PATH", &bin)
        .arg("build")
        .output()
        .expect("run kiln");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("apt-get install flex"), "{err}");
    // Only asked for its version (the toolchain fingerprint), never run on the project.
    let ran = std::fs::read_to_string(&calls).unwrap_or_default();
    assert!(
        ran.lines().all(|l| l == "--version"),
        "make was started: {ran}"
    );
}

#[test]
fn the_same_project_at_two_paths_gives_identical_kernels() {
    let (w1, w2) = (World::new(), World::new());
    let shims = Shims::new();
    let a = project(&w1, "a", QEMU_X86, EINITRD);
    let b = project(&w2, "some/deeper/b", QEMU_X86, EINITRD);
    ok_build(&w1, &a, &shims, &[]);
    ok_build(&w2, &b, &shims, &[]);
    for f in [
        "hello_qemu-x86_64",
        "hello_qemu-x86_64.dbg",
        "initramfs-x86_64.cpio",
    ] {
        let (fa, fb) = (
            a.join(".unikraft/build").join(f),
            b.join(".unikraft/build").join(f),
        );
        assert!(
            read(&fa) == read(&fb),
            "{f} differs between the two checkouts"
        );
    }
    // What makes real Unikraft reproducible too: the build date and path maps reach make.
    let calls = shims.make_calls();
    let build = calls
        .iter()
        .find(|c| c.contains(" O=") && !c.contains("defconfig"))
        .expect("a build call");
    assert!(
        build.contains("HOSTUTC=2023-11-14T22:13:20+00:00"),
        "{build}"
    );
    assert!(
        build.contains(&format!("-ffile-prefix-map={}=/kiln/app", a.display())),
        "{build}"
    );
    assert!(
        build.contains("-ffile-prefix-map=") && build.contains("=/kiln/work"),
        "{build}"
    );
}
