//! Concurrent `kiln build` processes: two builds of the same project started at once (the
//! project lock serialises them), and two different projects sharing one cache directory.
//! Both must exit 0 and leave correct archives and a consistent cache.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};

use common::*;

fn spawn_build(cache: &Path, project: &Path) -> Child {
    kiln_std(cache, project)
        .args(["build", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kiln")
}

fn finish(child: Child) -> serde_json::Value {
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out.stdout)
}

/// The archive a fresh, solitary build of the standard rootfs gives.
fn reference_archive() -> Vec<u8> {
    let w = World::new();
    let p = w.runtime_project("ref", RUNTIME_KRAFTFILE);
    w.kiln(&p).arg("build").assert().code(0);
    read(&initramfs(&p, "x86_64"))
}

#[test]
fn two_builds_of_one_project_at_once() {
    let want = reference_archive();
    for _ in 0..3 {
        let w = World::new();
        let p = w.runtime_project("p", RUNTIME_TWO_TARGETS);
        let a = spawn_build(w.cache_dir(), &p);
        let b = spawn_build(w.cache_dir(), &p);
        let (da, db) = (finish(a), finish(b));
        assert_eq!(da["ok"], true);
        assert_eq!(db["ok"], true);
        let mut st = [
            step(&da, "initrd")["status"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            step(&db, "initrd")["status"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        ];
        st.sort();
        // One ran; the other, serialised behind it, found the result.
        assert_eq!(st, ["ran", "up-to-date"]);
        assert_eq!(read(&initramfs(&p, "x86_64")), want);
        assert_eq!(read(&initramfs(&p, "arm64")), want);
        // No temp files left behind next to the outputs.
        let mut names: Vec<String> = std::fs::read_dir(p.join(".unikraft/build"))
            .expect("outdir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["initramfs-arm64.cpio", "initramfs-x86_64.cpio"]);
    }
}

#[test]
fn two_projects_share_one_cache_at_once() {
    let want = reference_archive();
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    let q = w.runtime_project("q", RUNTIME_KRAFTFILE);
    let r = w.runtime_project("r", RUNTIME_KRAFTFILE);
    write(&r.join("rootfs/etc/motd"), "different\n");
    let children: Vec<Child> = [&p, &q, &r]
        .iter()
        .map(|d| spawn_build(w.cache_dir(), d))
        .collect();
    for c in children {
        assert_eq!(finish(c)["ok"], true);
    }
    assert_eq!(read(&initramfs(&p, "x86_64")), want);
    assert_eq!(read(&initramfs(&q, "x86_64")), want);
    let other = read(&initramfs(&r, "x86_64"));
    assert_eq!(parse_cpio(&other).get("etc/motd").data, b"different\n");
    // The cache holds exactly the two archives, intact.
    let out = w
        .kiln(w.scratch.path())
        .args(["cache", "verify", "-o", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out.stdout);
    assert_eq!(v["blobs_removed"], serde_json::json!([]), "{v:#}");
    assert_eq!(v["strays_removed"], serde_json::json!([]), "{v:#}");
    let mut stored: Vec<Vec<u8>> = files_under(&w.cache_dir().join("cas"))
        .iter()
        .map(|f| read(f))
        .collect();
    stored.sort();
    let mut expect = vec![want, other];
    expect.sort();
    assert_eq!(stored, expect);
}
