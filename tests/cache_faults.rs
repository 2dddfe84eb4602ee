//! A cache in a bad state never fails a build: the temp files of killed writers are removed
//! (by pid and start time, never by age) and counted by `stats`; a directory where an entry
//! should be is a miss that the build and `verify` repair; a read-only cache serves hits and
//! stores nothing.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A temp name owned by a dead writer: no process has a pid above the kernel's `pid_max`
/// (at most 2^22).
fn dead_name(stem: &str) -> String {
    format!("{stem}.kiln-999999999-12345-0.tmp")
}

/// A temp name owned by this (live) test process.
fn live_name(stem: &str) -> String {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let start: u64 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    format!("{stem}.kiln-{}-{start}-0.tmp", std::process::id())
}

#[test]
fn temp_files_of_dead_writers_are_removed_and_counted() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    let (code, _, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 0, "{err}");
    let tmp = w.cache_dir().join("tmp");
    let dead_blob = tmp.join(dead_name("w"));
    let live_blob = tmp.join(live_name("w"));
    write(&dead_blob, vec![7u8; 5000]);
    write(&live_blob, vec![7u8; 300]);
    let out = w
        .kiln(&p)
        .args(["cache", "stats", "-o", "json"])
        .output()
        .unwrap();
    let stats = json(&out.stdout);
    assert_eq!(stats["dead_temp_files_removed"], 1, "{stats:#}");
    assert_eq!(stats["dead_temp_bytes_removed"], 5000, "{stats:#}");
    assert_eq!(stats["temp_files"], 1, "{stats:#}");
    assert_eq!(stats["temp_bytes"], 300, "{stats:#}");
    assert!(!dead_blob.exists() && live_blob.exists());

    // In the project: beside the outputs, in the state, in a work dir; and in the cache.
    let outdir = p.join(".unikraft/build");
    let state = p.join(".unikraft/kiln/state/steps");
    let planted: Vec<PathBuf> = vec![
        outdir.join(dead_name(".initramfs-x86_64.cpio")),
        state.join(dead_name(".initrd.json")),
        p.join(dead_name(".Kraftfile.lock")),
        tmp.join(dead_name("w")),
    ];
    for f in &planted {
        write(f, "left by a killed build");
    }
    let keep = outdir.join(live_name(".initramfs-x86_64.cpio"));
    write(&keep, "a build still running");
    let (code, _, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 0, "{err}");
    for f in &planted {
        assert!(!f.exists(), "{} was left", f.display());
    }
    assert!(
        keep.exists() && live_blob.exists(),
        "a live writer's files stay"
    );
}

/// The key of step `id` in `p`'s plan.
fn plan_key(w: &World, p: &Path, id: &str) -> String {
    let out = w.kiln(p).args(["plan", "-o", "json"]).output().unwrap();
    step(&json(&out.stdout), id)["key"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_directory_where_an_entry_should_be_is_a_miss_and_is_repaired() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    let key = plan_key(&w, &p, "initrd");
    let entry = w.cache_dir().join("ac").join(&key[..2]).join(&key);
    std::fs::create_dir_all(entry.join("junk")).unwrap();
    let (code, doc, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 0, "a directory in place of an action entry: {err}");
    assert_eq!(status_of(&doc, "initrd"), "ran");
    assert!(entry.is_file(), "the entry replaced the directory");

    // The same for a blob: the next writer of that blob replaces the directory.
    let archive = read(&initramfs(&p, "x86_64"));
    let blob = blob_holding(w.cache_dir(), &archive);
    std::fs::remove_file(&blob).unwrap();
    std::fs::create_dir_all(blob.join("junk")).unwrap();
    let q = w.runtime_project("q", RUNTIME_KRAFTFILE);
    let (code, doc, err) = build_json(&w, &q, &[]);
    assert_eq!(code, 0, "a directory in place of a blob: {err}");
    assert_eq!(status_of(&doc, "initrd"), "ran");
    assert!(blob.is_file() && read(&blob) == archive);

    // `verify` removes such directories.
    let stray = w.cache_dir().join("ac/ab").join("ab".repeat(32));
    std::fs::create_dir_all(stray.join("x")).unwrap();
    let report = verify_report(&w, &p);
    assert_eq!(
        report["strays_removed"],
        serde_json::json!([stray.display().to_string()])
    );
    assert!(!stray.exists());
}

/// Runs `kiln build -o json` in `p` with the world's cache mounted read-only (a private mount
/// namespace with a read-only bind mount; as a non-root user, by taking write permission
/// away instead).
fn build_read_only(w: &World, p: &Path) -> (i32, serde_json::Value, String) {
    let cache = w.cache_dir().display().to_string();
    let kiln = assert_cmd::cargo::cargo_bin("kiln");
    let mut cmd = kiln_std(w.cache_dir(), p);
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let out = if root {
        let script = format!(
            "mount --bind {cache} {cache} && mount -o remount,bind,ro {cache} && \
             exec {} build -o json",
            kiln.display()
        );
        let mut c = std::process::Command::new("unshare");
        c.args(["-m", "sh", "-c", &script]).current_dir(p);
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.output().expect("unshare (util-linux) runs")
    } else {
        sh(p, &format!("chmod -R a-w {cache}"));
        let out = cmd.args(["build", "-o", "json"]).output().unwrap();
        sh(p, &format!("chmod -R u+w {cache}"));
        out
    };
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), doc, text(&out.stderr))
}

#[test]
fn a_read_only_cache_serves_hits_and_stores_nothing() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    let (code, _, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 0, "{err}");
    let before = snapshot(w.cache_dir());
    let q = w.runtime_project("q", RUNTIME_KRAFTFILE);
    let (code, doc, err) = build_read_only(&w, &q);
    assert_eq!(code, 0, "a pure hit from a read-only cache: {err}");
    assert_eq!(status_of(&doc, "initrd"), "cached");
    assert_eq!(err.matches("is read-only").count(), 1, "said once: {err}");
    assert!(read(&initramfs(&q, "x86_64")) == read(&initramfs(&p, "x86_64")));
    // A miss still builds; nothing lands in the cache.
    write(&q.join("rootfs/etc/motd"), "only in q\n");
    let (code, doc, err) = build_read_only(&w, &q);
    assert_eq!(code, 0, "a miss with a read-only cache: {err}");
    assert_eq!(status_of(&doc, "initrd"), "ran");
    let cpio = parse_cpio(&read(&initramfs(&q, "x86_64")));
    assert_eq!(cpio.get("etc/motd").data, b"only in q\n");
    assert_eq!(snapshot(w.cache_dir()), before, "nothing was stored");
}
