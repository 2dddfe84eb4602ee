//! End-to-end tests of builds with the change-watching daemon: a no-op build is vouched for
//! by the daemon (nothing scanned), and every kind of change made between builds — content
//! (same size), new files in new directories, deletions, renames, exec bits — is still seen.
//! Also: a daemon killed from outside leaves builds correct.

mod common;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use common::*;
use serde_json::Value;

const KRAFTFILE: &str = "spec: v0.6\nruntime: base:latest\nrootfs: ./rootfs\n";

/// A kiln command with the daemon on, on a socket private to this test.
fn kiln_watching(world: &World, cwd: &Path) -> Command {
    let mut c = world.kiln(cwd);
    c.env("KILN_WATCH", "1")
        .env("KILN_WATCH_SOCKET", world.cache_dir().join("w.sock"))
        .env("KILN_WATCH_IDLE_SECS", "30");
    c
}

fn build_json(world: &World, cwd: &Path) -> Value {
    let out = kiln_watching(world, cwd)
        .args(["build", "-o", "json"])
        .output()
        .expect("run kiln");
    assert!(out.status.success(), "{}", text(&out.stderr));
    json(&out.stdout)
}

fn rootfs_reason(doc: &Value) -> String {
    step(doc, "rootfs")["reason"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// A change made to the rootfs between two builds.
type Edit = Box<dyn Fn(&Path)>;

fn stop_daemon(world: &World) {
    let sock = world.cache_dir().join("w.sock");
    if let Some(client) = kiln_watch::WatchClient::connect(&sock, Duration::from_millis(500)) {
        let _ = client.shutdown();
    }
}

#[test]
fn noop_is_vouched_for_and_every_change_is_seen() {
    let world = World::new();
    let p = world.runtime_project("p", KRAFTFILE);
    build_json(&world, &p);
    let second = build_json(&world, &p);
    assert_eq!(
        rootfs_reason(&second),
        "unchanged (the file watcher saw no change; nothing was scanned)"
    );
    assert_eq!(step(&second, "initrd")["status"], "up-to-date");

    // Each edit is made right before the build: no sleeps, so a late event would be missed.
    let edits: Vec<(&str, Edit)> = vec![
        (
            "same-size edit",
            Box::new(|r| write(&r.join("etc/motd"), "Hello, kiln!\n".replace('k', "K"))),
        ),
        (
            "new file in new dir",
            Box::new(|r| write(&r.join("new/deeper/file"), "x")),
        ),
        (
            "edit inside new dir",
            Box::new(|r| write(&r.join("new/deeper/file"), "y")),
        ),
        (
            "chmod +x",
            Box::new(|r| chmod(&r.join("new/deeper/file"), 0o755)),
        ),
        (
            "rename",
            Box::new(|r| std::fs::rename(r.join("new"), r.join("renamed")).unwrap()),
        ),
        (
            "delete",
            Box::new(|r| std::fs::remove_dir_all(r.join("renamed")).unwrap()),
        ),
    ];
    let root = p.join("rootfs");
    for (what, edit) in edits {
        let before = read(&initramfs(&p, "x86_64"));
        edit(&root);
        let doc = build_json(&world, &p);
        assert!(
            rootfs_reason(&doc).starts_with("changed: "),
            "{what}: {}",
            rootfs_reason(&doc)
        );
        assert_ne!(
            read(&initramfs(&p, "x86_64")),
            before,
            "{what}: the initrd did not change"
        );
        // What the daemon-assisted build produced equals what a plain scan produces.
        let plain = world
            .kiln(&p)
            .args(["plan", "-o", "json"])
            .output()
            .unwrap();
        let plan = json(&plain.stdout);
        assert_eq!(step(&plan, "initrd")["status"], "up-to-date", "{what}");
        let again = build_json(&world, &p);
        assert!(
            rootfs_reason(&again).starts_with("unchanged (the file watcher"),
            "{what}"
        );
    }
    stop_daemon(&world);
}

#[test]
fn a_killed_daemon_leaves_builds_correct() {
    let world = World::new();
    let p = world.runtime_project("p", KRAFTFILE);
    build_json(&world, &p);
    build_json(&world, &p);
    let sock = world.cache_dir().join("w.sock");
    let client = kiln_watch::WatchClient::connect(&sock, Duration::from_millis(500))
        .expect("the build started a daemon");
    let pid = client.daemon_pid();
    drop(client);
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(50));
    write(&p.join("rootfs/etc/motd"), "changed while no daemon ran\n");
    let doc = build_json(&world, &p);
    assert!(
        rootfs_reason(&doc).starts_with("changed: modified etc/motd"),
        "{}",
        rootfs_reason(&doc)
    );
    let cpio = parse_cpio(&read(&initramfs(&p, "x86_64")));
    assert_eq!(cpio.get("etc/motd").data, b"changed while no daemon ran\n");
    // The build started a new daemon; the next no-op is vouched for again.
    let doc = build_json(&world, &p);
    assert!(
        rootfs_reason(&doc).starts_with("unchanged (the file watcher"),
        "{}",
        rootfs_reason(&doc)
    );
    stop_daemon(&world);
}

#[test]
fn watching_is_off_under_ci_unless_asked() {
    let world = World::new();
    let p = world.runtime_project("p", KRAFTFILE);
    for _ in 0..2 {
        let out = world
            .kiln(&p)
            .env("CI", "true")
            .env_remove("KILN_WATCH")
            .env("KILN_WATCH_SOCKET", world.cache_dir().join("w.sock"))
            .args(["build", "-o", "json"])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            !rootfs_reason(&json(&out.stdout)).starts_with("unchanged (the file watcher"),
            "no watcher under CI"
        );
    }
    assert!(
        !world.cache_dir().join("w.sock").exists(),
        "no daemon was started"
    );
}

/// A hard link made after the last scan, from outside the tree, then a write through it:
/// the daemon sees the link (the file's own watch), so the build scans and takes the new
/// bytes, and from then on the tree (which now has a link outside) is always scanned.
#[test]
fn edits_through_a_hard_link_made_after_the_scan_are_seen() {
    let world = World::new();
    let p = world.runtime_project("p", KRAFTFILE);
    let outside = world.dir("elsewhere");
    build_json(&world, &p);
    settle();
    let vouched = build_json(&world, &p);
    assert!(rootfs_reason(&vouched).starts_with("unchanged (the file watcher"));
    std::fs::hard_link(p.join("rootfs/etc/motd"), outside.join("motd")).unwrap();
    std::fs::write(outside.join("motd"), "written through the outside link\n").unwrap();
    let doc = build_json(&world, &p);
    assert!(
        rootfs_reason(&doc).starts_with("changed: modified etc/motd"),
        "{}",
        rootfs_reason(&doc)
    );
    let cpio = parse_cpio(&read(&initramfs(&p, "x86_64")));
    assert_eq!(
        cpio.get("etc/motd").data,
        b"written through the outside link\n"
    );
    // `cp -al`-style snapshots: every later build scans instead of trusting the watcher.
    std::fs::write(outside.join("motd"), "and again\n").unwrap();
    let doc = build_json(&world, &p);
    assert!(rootfs_reason(&doc).starts_with("changed: modified etc/motd"));
    let cpio = parse_cpio(&read(&initramfs(&p, "x86_64")));
    assert_eq!(cpio.get("etc/motd").data, b"and again\n");
    stop_daemon(&world);
}

/// `rm -rf` of a cache directory ends its daemon at once, instead of after its idle hours.
#[test]
fn deleting_the_cache_directory_ends_its_daemon() {
    let world = World::new();
    let p = world.runtime_project("p", KRAFTFILE);
    build_json(&world, &p);
    let sock = world.cache_dir().join("w.sock");
    let client = kiln_watch::WatchClient::connect(&sock, Duration::from_millis(500))
        .expect("the build started a daemon");
    let pid = client.daemon_pid();
    drop(client);
    for entry in std::fs::read_dir(world.cache_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    let start = std::time::Instant::now();
    // The daemon is a child of an exited kiln, reparented to init: once it exits it is
    // reaped and /proc/<pid> disappears (a zombie would still show `State: Z`).
    while proc_dir.exists()
        && !std::fs::read_to_string(proc_dir.join("status"))
            .unwrap_or_default()
            .contains("State:\tZ")
    {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "daemon {pid} outlived its cache directory"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
