//! What is stored is what was hashed, and what is served is what was stored:
//! - a rootfs file or a kernel source edited while a step reads it fails the step and caches
//!   nothing (made deterministic by the `KILN_TEST_PAUSE_BEFORE` hook, which stops a build
//!   right before a step executes);
//! - a blob damaged in the cache (same size) is caught when it is read, removed, and what it
//!   fed is rebuilt in the same build; `kiln cache verify` also drops what was built from it;
//! - a file truncated while it is hashed is an error, never a crash.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use common::*;

/// Starts `kiln build` in `p`, paused before step `id`; returns the child and the hook dir.
fn paused_build(w: &World, p: &Path, id: &str) -> (Child, tempfile::TempDir) {
    let hook = tempfile::tempdir().expect("hook dir");
    let child = kiln_std(w.cache_dir(), p)
        .env(
            "KILN_TEST_PAUSE_BEFORE",
            format!("{id}:{}", hook.path().display()),
        )
        .args(["build"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kiln");
    wait_for_file(&hook.path().join("paused"));
    (child, hook)
}

/// Lets a paused build go on and returns its exit code and stderr.
fn resume(child: Child, hook: &tempfile::TempDir) -> (i32, String) {
    write(&hook.path().join("resume"), "");
    let out = child.wait_with_output().expect("wait for kiln");
    (out.status.code().unwrap_or(-1), text(&out.stderr))
}

/// The same bytes with one changed: a same-size edit.
fn edited(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[0] ^= 0x20;
    b
}

#[test]
fn a_rootfs_file_edited_while_the_initrd_is_written_fails_and_caches_nothing() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    let motd = p.join("rootfs/etc/motd");
    let original = read(&motd);
    let (child, hook) = paused_build(&w, &p, "initrd");
    std::fs::write(&motd, edited(&original)).unwrap();
    let (code, err) = resume(child, &hook);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("changed while the initrd was being written")
            && err.contains(&motd.display().to_string()),
        "{err}"
    );
    // Reverting gives the scanned tree again: it must be built, not served from a poisoned
    // entry, and hold the original bytes.
    std::fs::write(&motd, &original).unwrap();
    let (code, doc, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_of(&doc, "initrd"), "ran");
    let cpio = parse_cpio(&read(&initramfs(&p, "x86_64")));
    assert_eq!(cpio.get("etc/motd").data, original);
    // A fresh checkout with the edited content gets the edited bytes, not a mix.
    let q = w.runtime_project("q", RUNTIME_KRAFTFILE);
    std::fs::write(q.join("rootfs/etc/motd"), edited(&original)).unwrap();
    let (code, _, err) = build_json(&w, &q, &[]);
    assert_eq!(code, 0, "{err}");
    let cpio = parse_cpio(&read(&initramfs(&q, "x86_64")));
    assert_eq!(cpio.get("etc/motd").data, edited(&original));
    let report = verify_report(&w, &p);
    assert_eq!(report["blobs_removed"], serde_json::json!([]));
    assert_eq!(report["actions_removed"], serde_json::json!([]));
}

#[test]
fn a_source_edited_during_the_compile_fails_it_and_caches_nothing() {
    let w = World::new();
    let p = kernel_project(&w, "p", "");
    let main = p.join("main.c");
    let original = read(&main);
    let (child, hook) = paused_build(&w, &p, "qemu-x86_64/compile");
    // An edit that make compiles, then restored: only the stat (ctime) shows it happened.
    let changed = String::from_utf8(original.clone())
        .unwrap()
        .replace("hello from the test app", "HELLO FROM THE TEST APP");
    std::fs::write(&main, changed).unwrap();
    let (code, err) = resume(child, &hook);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("changed during the build") && err.contains("main.c"),
        "{err}"
    );
    std::fs::write(&main, &original).unwrap();
    let (code, doc, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        status_of(&doc, "qemu-x86_64/compile"),
        "ran",
        "nothing was cached"
    );
    let (_, serial) = boot_x86(&p.join(".unikraft/build/hello_qemu-x86_64"), None, "");
    assert!(serial.contains("app: hello from the test app"), "{serial}");
}

/// The plan of `p` as it stands (keys of every step).
fn doc_of_last_build(w: &World, p: &Path) -> serde_json::Value {
    let out = w.kiln(p).args(["plan", "-o", "json"]).output().unwrap();
    json(&out.stdout)
}

/// A clean build of `p`'s copy in a new world: the kernel a damaged cache must match.
fn clean_kernel(p: &Path) -> Vec<u8> {
    let w = World::new();
    let q = w.dir("clean");
    sh(
        &q,
        &format!("cp -a {}/. . && rm -rf .unikraft", p.display()),
    );
    let (code, _, err) = build_json(&w, &q, &[]);
    assert_eq!(code, 0, "{err}");
    read(&q.join(".unikraft/build/hello_qemu-x86_64"))
}

const EINITRD: &str = "    CONFIG_LIBVFSCORE_AUTOMOUNT_CI_EINITRD: y\n";

#[test]
fn a_damaged_initrd_blob_is_caught_when_embed_reads_it_and_rebuilt() {
    let w = World::new();
    let p = kernel_project(&w, "p", EINITRD);
    let (code, _, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 0, "{err}");
    let blob = blob_holding(w.cache_dir(), &read(&initramfs(&p, "x86_64")));
    flip_byte(&blob, 200);
    // A new source file: compile and embed run again, the initrd step is up to date, so
    // embed reads the (damaged) archive from the cache.
    write(&p.join("extra.c"), "int extra_value = 42;\n");
    let (code, doc, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("was damaged"), "{err}");
    assert_eq!(
        status_of(&doc, "initrd"),
        "ran",
        "the damaged archive was rebuilt"
    );
    assert_eq!(status_of(&doc, "qemu-x86_64/embed"), "ran");
    let kernel = read(&p.join(".unikraft/build/hello_qemu-x86_64"));
    assert!(
        kernel == clean_kernel(&p),
        "the kernel differs from a clean build"
    );
}

#[test]
fn a_damaged_config_blob_is_caught_when_compile_reads_it_and_rebuilt() {
    let w = World::new();
    let p = kernel_project(&w, "p", "");
    let (code, _, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 0, "{err}");
    let config = cache_blobs(w.cache_dir())
        .into_iter()
        .find(|b| read(b).starts_with(b"#") && text(&read(b)).contains("CONFIG_APP_GREETING"))
        .expect("the stored .config");
    flip_byte(&config, read(&config).len() / 2);
    // Every kernel source is an input of kconfig too; to make compile run while kconfig is a
    // cache hit, its result is evicted (as `gc` would) and the project's state dropped.
    let key = step(&doc_of_last_build(&w, &p), "qemu-x86_64/compile")["key"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(w.cache_dir().join("ac").join(&key[..2]).join(&key)).unwrap();
    std::fs::remove_dir_all(p.join(".unikraft/kiln/state")).unwrap();
    let (code, doc, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("was damaged"), "{err}");
    assert_eq!(status_of(&doc, "qemu-x86_64/kconfig"), "ran");
    let kernel = read(&p.join(".unikraft/build/hello_qemu-x86_64"));
    assert!(
        kernel == clean_kernel(&p),
        "the kernel differs from a clean build"
    );
}

#[test]
fn a_fresh_checkout_never_gets_a_damaged_archive_from_the_cache() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    let (code, _, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 0, "{err}");
    let good = read(&initramfs(&p, "x86_64"));
    flip_byte(&blob_holding(w.cache_dir(), &good), 120);
    let q = w.runtime_project("q", RUNTIME_KRAFTFILE);
    let (code, doc, err) = build_json(&w, &q, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("was damaged"), "{err}");
    assert_eq!(status_of(&doc, "initrd"), "ran");
    assert!(read(&initramfs(&q, "x86_64")) == good);
}

#[test]
fn verify_drops_a_damaged_blob_and_what_was_built_from_it() {
    let w = World::new();
    let p = kernel_project(&w, "p", EINITRD);
    let (code, doc, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 0, "{err}");
    let initrd_blob = blob_holding(w.cache_dir(), &read(&initramfs(&p, "x86_64")));
    let kernel_blob = blob_holding(
        w.cache_dir(),
        &read(&p.join(".unikraft/build/hello_qemu-x86_64")),
    );
    flip_byte(&initrd_blob, 300);
    let report = verify_report(&w, &p);
    let name = |b: &PathBuf| b.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        report["blobs_removed"],
        serde_json::json!([name(&initrd_blob)])
    );
    let derived: Vec<String> =
        serde_json::from_value(report["derived_blobs_removed"].clone()).unwrap();
    assert!(derived.contains(&name(&kernel_blob)), "{report:#}");
    let removed: Vec<String> = serde_json::from_value(report["actions_removed"].clone()).unwrap();
    for id in ["initrd", "qemu-x86_64/embed"] {
        let key = step(&doc, id)["key"].as_str().unwrap().to_string();
        assert!(
            removed.contains(&key),
            "{id} ({key}) not removed: {report:#}"
        );
    }
    let compile_key = step(&doc, "qemu-x86_64/compile")["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !removed.contains(&compile_key),
        "compile did not read the initrd"
    );
    // A fresh checkout rebuilds the embed step rather than taking a poisoned kernel.
    let q = w.dir("q");
    sh(
        &q,
        &format!("cp -a {}/. . && rm -rf .unikraft", p.display()),
    );
    let (code, doc, err) = build_json(&w, &q, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_of(&doc, "qemu-x86_64/compile"), "cached");
    assert_eq!(status_of(&doc, "qemu-x86_64/embed"), "ran");
}

#[test]
fn a_file_truncated_while_it_is_hashed_is_an_error_not_a_crash() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    let big = p.join("rootfs/big.bin");
    for round in 0..8u64 {
        std::fs::write(&big, vec![round as u8; 96 << 20]).unwrap();
        let child = kiln_std(w.cache_dir(), &p)
            .args(["build"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(round * 4));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&big)
            .unwrap()
            .set_len(1 << 10)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let err = text(&out.stderr);
        match out.status.code() {
            // The truncation came before the scan or after the archive was written.
            Some(0) => {}
            Some(1) => assert!(err.contains("changed"), "round {round}: {err}"),
            other => panic!("round {round}: kiln ended with {other:?} (a signal?): {err}"),
        }
    }
}
