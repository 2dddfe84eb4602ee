//! `kiln build --watch` and `kiln run --watch` on real files, the real watch daemon and real
//! QEMU: an edit rebuilds (and, for run, the next boot prints it), edits in a row collapse
//! into one build, kiln's own writes start none, a failed rebuild keeps the machine
//! running, and Ctrl-C ends the watch (stopping the machine). Without a daemon, kiln plans
//! again every second and still sees the edit.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A `kiln ... --watch` running in the background, its stdout and stderr in files.
struct Watching {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Watching {
    fn start(w: &World, p: &Path, daemon: bool, args: &[&str]) -> Watching {
        let logs = w.dir("logs");
        let n = std::fs::read_dir(&logs).map(|d| d.count()).unwrap_or(0);
        let (out, err) = (logs.join(format!("{n}.out")), logs.join(format!("{n}.err")));
        let child = kiln_std(w.cache_dir(), p)
            .env("KILN_WATCH", if daemon { "1" } else { "0" })
            .env("XDG_STATE_HOME", w.dir("state"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("start kiln");
        Watching { child, out, err }
    }

    fn stderr(&self) -> String {
        text(&std::fs::read(&self.err).unwrap_or_default())
    }

    fn stdout(&self) -> String {
        text(&std::fs::read(&self.out).unwrap_or_default()).replace('\r', "")
    }

    /// Waits (at most 60 s) until `count(stderr or stdout)` reaches `n`.
    fn wait_for(&self, what: &str, n: usize, count: impl Fn(&Self) -> usize) {
        let start = Instant::now();
        while count(self) < n {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "waited for {what} ({n}):\n--- stderr\n{}\n--- stdout\n{}",
                self.stderr(),
                self.stdout()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the watch has built `n` times (its summary lines).
    fn builds(&self, n: usize) {
        self.wait_for("builds", n, |s| s.stderr().matches("kiln: built ").count());
    }

    /// Ctrl-C, and the exit status.
    fn interrupt(mut self) -> i32 {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "kiln did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kiln ps -o json` of the watch's state directory.
fn machines(w: &World, p: &Path) -> serde_json::Value {
    let state = w.dir("state");
    let ps = w
        .kiln(p)
        .env("XDG_STATE_HOME", state)
        .args(["ps", "-o", "json"])
        .output();
    json(&ps.expect("kiln ps").stdout)
}

fn motd_in_initrd(p: &Path) -> String {
    let cpio = parse_cpio(&read(&initramfs(p, "x86_64")));
    text(&cpio.get("etc/motd").data)
}

#[test]
fn build_watch_rebuilds_an_edit_once_however_many_writes_it_takes() {
    let w = World::new();
    let p = w.runtime_project("rt", RUNTIME_KRAFTFILE);
    let watch = Watching::start(&w, &p, true, &["build", "--watch", "--progress", "plain"]);
    watch.builds(1);
    assert!(
        watch.stderr().contains("through the watch daemon"),
        "{}",
        watch.stderr()
    );
    // Nothing changes: no build, even though the first one wrote kiln's state.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        watch.stderr().matches("kiln: built ").count(),
        1,
        "{}",
        watch.stderr()
    );

    // Ten writes in a row are one change.
    for i in 0..10 {
        write(&p.join("rootfs/etc/motd"), format!("edit {i}\n"));
        std::thread::sleep(Duration::from_millis(10));
    }
    watch.builds(2);
    std::thread::sleep(Duration::from_secs(2));
    let err = watch.stderr();
    assert_eq!(
        err.matches("kiln: built ").count(),
        2,
        "one build for the burst:\n{err}"
    );
    assert!(
        err.contains("kiln: sources changed; building again"),
        "{err}"
    );
    assert_eq!(motd_in_initrd(&p), "edit 9\n");

    // The Kraftfile is watched too.
    write(
        &p.join("Kraftfile"),
        format!("{RUNTIME_KRAFTFILE}cmd: [\"/bin/hello\"]\n"),
    );
    watch.builds(3);
    assert_eq!(watch.interrupt(), 0);
}

#[test]
fn without_a_daemon_the_watch_plans_again_every_second() {
    let w = World::new();
    let p = w.runtime_project("poll", RUNTIME_KRAFTFILE);
    let watch = Watching::start(&w, &p, false, &["build", "--watch", "--progress", "plain"]);
    watch.builds(1);
    assert!(
        watch.stderr().contains("planning again every second"),
        "{}",
        watch.stderr()
    );
    write(&p.join("rootfs/etc/motd"), "polled\n");
    watch.builds(2);
    assert_eq!(motd_in_initrd(&p), "polled\n");
    assert_eq!(watch.interrupt(), 0);
}

#[test]
fn run_watch_boots_each_good_build_and_keeps_the_machine_through_a_bad_one() {
    let w = World::new();
    let p = kernel_project(
        &w,
        "machine",
        "    CONFIG_LIBVFSCORE_AUTOMOUNT_CI_EINITRD: y\n",
    );
    let watch = Watching::start(
        &w,
        &p,
        true,
        &["run", "--watch", "-W", "--progress", "plain", "--", "hang"],
    );
    let boots = |s: &Watching| s.stdout().matches("testkernel: hello").count();
    watch.wait_for("the first boot", 1, boots);
    watch.wait_for("the motd", 1, |s| {
        s.stdout()
            .matches("initrd-data: etc/motd: welcome to kiln")
            .count()
    });

    // A rootfs edit: rebuilt, the old machine quits, the new one prints the new file.
    write(&p.join("rootfs/etc/motd"), "edited while watching\n");
    watch.wait_for("the edited motd", 1, |s| {
        s.stdout()
            .matches("initrd-data: etc/motd: edited while watching")
            .count()
    });
    assert!(
        watch.stderr().contains("kiln: stopping "),
        "{}",
        watch.stderr()
    );

    // A broken app: the build fails, the machine keeps running.
    write(&p.join("main.c"), "this is not C\n");
    watch.wait_for("the failed build", 1, |s| {
        s.stderr().matches("the machine keeps running").count()
    });
    let listed = machines(&w, &p);
    let running: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"] == "running")
        .collect();
    assert_eq!(running.len(), 1, "{listed:#}");
    let boots_before = boots(&watch);
    assert_eq!(boots_before, 2);

    assert_eq!(watch.interrupt(), 0);
    let left = machines(&w, &p);
    assert!(
        left.as_array()
            .unwrap()
            .iter()
            .all(|m| m["status"] != "running"),
        "Ctrl-C stopped the machine: {left:#}"
    );
}
