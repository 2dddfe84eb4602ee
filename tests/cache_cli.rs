//! `kiln cache stats | verify | gc | clean` against a real build: counts, a corrupted blob
//! found and removed by verify (and the next build re-creating correct bytes), gc to zero,
//! clean, and invalid sizes.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn cache_json(w: &World, args: &[&str]) -> Value {
    let out = w
        .kiln(w.scratch.path())
        .arg("cache")
        .args(args)
        .args(["-o", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    json(&out.stdout)
}

fn built_project(w: &World) -> (PathBuf, Vec<u8>) {
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    w.kiln(&p).arg("build").assert().code(0);
    let bytes = read(&initramfs(&p, "x86_64"));
    (p, bytes)
}

fn blobs(w: &World) -> Vec<PathBuf> {
    files_under(&w.cache_dir().join("cas"))
}

fn build_status(w: &World, p: &Path) -> String {
    let out = w
        .kiln(p)
        .args(["build", "-o", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    step(&json(&out.stdout), "initrd")["status"]
        .as_str()
        .expect("status")
        .to_string()
}

#[test]
fn stats_counts_entries() {
    let w = World::new();
    let empty = cache_json(&w, &["stats"]);
    assert_eq!(empty["blobs"], 0);
    assert_eq!(empty["actions"], 0);
    assert_eq!(empty["total_bytes"], 0);
    let (_, bytes) = built_project(&w);
    let s = cache_json(&w, &["stats"]);
    assert_eq!(s["path"], w.cache_dir().display().to_string());
    assert!(s["blobs"].as_u64().is_some_and(|n| n >= 1), "{s:#}");
    assert!(s["actions"].as_u64().is_some_and(|n| n >= 1), "{s:#}");
    assert!(
        s["blob_bytes"]
            .as_u64()
            .is_some_and(|n| n >= bytes.len() as u64),
        "{s:#}"
    );
    assert_eq!(
        s["total_bytes"].as_u64(),
        Some(s["blob_bytes"].as_u64().unwrap_or(0) + s["action_bytes"].as_u64().unwrap_or(0))
    );
    let out = w
        .kiln(w.scratch.path())
        .args(["cache", "stats"])
        .output()
        .expect("run");
    let human = text(&out.stdout);
    assert!(
        human.starts_with(&format!("cache: {}\nblobs: ", w.cache_dir().display())),
        "{human}"
    );
    assert!(human.contains("\nactions: "), "{human}");
}

#[test]
fn verify_removes_a_corrupted_blob_and_build_recreates_it() {
    let w = World::new();
    let (p, good) = built_project(&w);
    let clean = cache_json(&w, &["verify"]);
    assert_eq!(clean["blobs_removed"], serde_json::json!([]));
    assert_eq!(clean["actions_removed"], serde_json::json!([]));
    assert!(clean["blobs_checked"].as_u64().is_some_and(|n| n >= 1));

    let blob = blobs(&w)
        .into_iter()
        .find(|b| read(b) == good)
        .expect("the initramfs blob");
    let digest = blob
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert_eq!(digest.len(), 64);
    chmod(&blob, 0o644);
    std::fs::write(&blob, vec![b'!'; good.len()]).expect("corrupt");

    let out = w
        .kiln(w.scratch.path())
        .args(["cache", "verify"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    assert!(human.contains("removed 1 damaged blobs"), "{human}");
    assert!(
        human.contains(&format!("  removed blob {digest}\n")),
        "{human}"
    );
    assert!(!blob.exists(), "the damaged blob is still there");
    let again = cache_json(&w, &["verify"]);
    assert_eq!(again["blobs_removed"], serde_json::json!([]));

    std::fs::remove_file(initramfs(&p, "x86_64")).expect("rm");
    assert_eq!(build_status(&w, &p), "ran");
    assert_eq!(read(&initramfs(&p, "x86_64")), good);
    assert_eq!(read(&blob), good, "the blob is stored again, correct");
}

#[test]
fn gc_to_zero_empties_the_cache() {
    let w = World::new();
    let (p, good) = built_project(&w);
    let r = cache_json(&w, &["gc", "--max-size", "0"]);
    assert_eq!(r["bytes_after"], 0, "{r:#}");
    assert!(r["bytes_freed"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(r["blobs_removed"].as_array().map(Vec::len), Some(1));
    let s = cache_json(&w, &["stats"]);
    assert_eq!(
        (s["blobs"].as_u64(), s["actions"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(blobs(&w).is_empty());
    // The materialized output is untouched and still up to date.
    assert_eq!(read(&initramfs(&p, "x86_64")), good);
    assert_eq!(build_status(&w, &p), "up-to-date");
    std::fs::remove_file(initramfs(&p, "x86_64")).expect("rm");
    assert_eq!(build_status(&w, &p), "ran");
    assert_eq!(read(&initramfs(&p, "x86_64")), good);
    // A generous limit keeps everything.
    let r = cache_json(&w, &["gc", "--max-size", "10G"]);
    assert_eq!(r["bytes_freed"], 0);
    assert_eq!(r["blobs_removed"], serde_json::json!([]));
}

#[test]
fn clean_removes_everything() {
    let w = World::new();
    let (p, good) = built_project(&w);
    let r = cache_json(&w, &["clean"]);
    assert_eq!(r["blobs_removed"], 1, "{r:#}");
    assert_eq!(r["actions_removed"], 1, "{r:#}");
    let s = cache_json(&w, &["stats"]);
    assert_eq!(
        (s["blobs"].as_u64(), s["total_bytes"].as_u64()),
        (Some(0), Some(0))
    );
    let out = w
        .kiln(w.scratch.path())
        .args(["cache", "clean"])
        .output()
        .expect("run");
    assert_eq!(
        text(&out.stdout),
        "clean: removed 0 blobs and 0 actions (0 B)\n"
    );
    std::fs::remove_file(initramfs(&p, "x86_64")).expect("rm");
    assert_eq!(build_status(&w, &p), "ran");
    assert_eq!(read(&initramfs(&p, "x86_64")), good);
}

#[test]
fn invalid_max_size_exits_2() {
    let w = World::new();
    for bad in ["12Q", "", "1.2.3G", "-5M"] {
        let out = w
            .kiln(w.scratch.path())
            .args(["cache", "gc", &format!("--max-size={bad}")])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "--max-size {bad:?}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with(&format!("error: --max-size: invalid size {bad:?}")),
            "{err}"
        );
    }
}

#[test]
fn cache_dir_falls_back_to_xdg_and_home() {
    let w = World::new();
    let xdg = w.dir("xdg");
    let out = w
        .kiln(w.scratch.path())
        .env_remove("KILN_CACHE_DIR")
        .env("XDG_CACHE_HOME", &xdg)
        .args(["cache", "stats", "-o", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        json(&out.stdout)["path"],
        xdg.join("kiln").display().to_string()
    );
    let out = w
        .kiln(w.scratch.path())
        .env_remove("KILN_CACHE_DIR")
        .env_remove("HOME")
        .args(["cache", "stats"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: cannot find a cache directory: set KILN_CACHE_DIR or HOME\n"
    );
}
