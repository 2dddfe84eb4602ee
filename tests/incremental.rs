//! Incremental `kiln build`: a no-op build reports every action up to date and writes no
//! file or directory, in the project or in the cache (also with ~2,000 files); an edit
//! reruns the initrd and `--explain` names the changed file; reverting takes the archive from
//! the cache. The `--explain` stderr of the sequence is golden-tested in
//! `tests/golden/explain_*.txt` (timings and digests normalised; `KILN_BLESS=1` rewrites).

mod common;

use std::path::Path;

use common::*;

fn build_json(w: &World, p: &Path) -> serde_json::Value {
    let out = w
        .kiln(p)
        .args(["build", "-o", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    json(&out.stdout)
}

fn assert_noop(w: &World, p: &Path) {
    let before = (snapshot(p), snapshot(w.cache_dir()));
    let doc = build_json(w, p);
    let after = (snapshot(p), snapshot(w.cache_dir()));
    for t in doc["targets"].as_array().expect("targets") {
        for s in t["steps"].as_array().expect("steps") {
            if s["key"].is_null() {
                assert_eq!(s["status"], "hashed", "{s:#}");
                assert_eq!(s["reason"], "unchanged", "{s:#}");
            } else {
                assert_eq!(s["status"], "up-to-date", "{s:#}");
            }
        }
    }
    assert_eq!(before.0, after.0, "the no-op build changed the project dir");
    assert_eq!(before.1, after.1, "the no-op build changed the cache dir");
}

#[test]
fn second_build_is_a_noop_that_writes_nothing() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_TWO_TARGETS);
    settle();
    let first = build_json(&w, &p);
    assert_eq!(
        statuses(&first),
        [
            ("rootfs".to_string(), "hashed".to_string()),
            ("initrd".to_string(), "ran".to_string())
        ]
    );
    assert_noop(&w, &p);
    // And again: the no-op state is stable.
    assert_noop(&w, &p);
}

#[test]
fn noop_with_two_thousand_files() {
    let w = World::new();
    let p = w.dir("p");
    write(&p.join("Kraftfile"), RUNTIME_KRAFTFILE);
    for d in 0..40 {
        for f in 0..50 {
            write(
                &p.join(format!("rootfs/d{d:02}/f{f:02}.txt")),
                format!("{d}/{f}\n"),
            );
        }
    }
    settle();
    let first = build_json(&w, &p);
    assert_eq!(step(&first, "initrd")["status"], "ran");
    let arc = parse_cpio(&read(&initramfs(&p, "x86_64")));
    assert_eq!(arc.entries.len(), 40 + 2000);
    assert_eq!(arc.get("d17/f33.txt").data, b"17/33\n");
    assert_noop(&w, &p);
}

#[test]
fn edit_reruns_initrd_and_revert_takes_it_from_cache() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    let motd = p.join("rootfs/etc/motd");
    let out_path = initramfs(&p, "x86_64");
    build_json(&w, &p);
    let original = read(&out_path);

    write(&motd, "edited\n");
    let doc = build_json(&w, &p);
    assert_eq!(step(&doc, "rootfs")["reason"], "changed: modified etc/motd");
    assert_eq!(step(&doc, "initrd")["status"], "ran");
    let edited = read(&out_path);
    assert_eq!(parse_cpio(&edited).get("etc/motd").data, b"edited\n");

    write(&motd, "welcome to kiln\n");
    let doc = build_json(&w, &p);
    assert_eq!(step(&doc, "rootfs")["reason"], "changed: modified etc/motd");
    assert_eq!(step(&doc, "initrd")["status"], "cached");
    assert!(
        step(&doc, "initrd")["reason"]
            .as_str()
            .is_some_and(|r| r
                .starts_with("found in cache; since the last build: input `rootfs` changed from ")),
        "{doc:#}"
    );
    assert_eq!(read(&out_path), original);
}

#[test]
fn explain_names_added_and_removed_files() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    build_json(&w, &p);
    write(&p.join("rootfs/etc/new"), "new\n");
    std::fs::remove_file(p.join("rootfs/bin/hello")).expect("rm");
    let doc = build_json(&w, &p);
    assert_eq!(
        step(&doc, "rootfs")["reason"],
        "changed: removed bin/hello, added etc/new"
    );
    // A chmod +x is a change of the tree too.
    chmod(&p.join("rootfs/etc/new"), 0o755);
    let doc = build_json(&w, &p);
    assert_eq!(step(&doc, "rootfs")["reason"], "changed: modified etc/new");
    assert_eq!(step(&doc, "initrd")["status"], "ran");
    assert_eq!(
        parse_cpio(&read(&initramfs(&p, "x86_64")))
            .get("etc/new")
            .mode,
        0o100755
    );
}

fn explain(w: &World, p: &Path) -> String {
    let out = w
        .kiln(p)
        .args(["build", "--explain"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "human output goes to stderr");
    normalize_explain(&text(&out.stderr), p)
}

#[test]
fn explain_sequence_matches_goldens() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    golden("explain_first.txt", &explain(&w, &p));
    golden("explain_noop.txt", &explain(&w, &p));
    write(&p.join("rootfs/etc/motd"), "edited\n");
    golden("explain_edit.txt", &explain(&w, &p));
    write(&p.join("rootfs/etc/motd"), "welcome to kiln\n");
    golden("explain_revert.txt", &explain(&w, &p));
}

#[test]
fn same_size_edit_right_after_a_build_is_seen() {
    // Same size, same second: only the content (or the stat cache's racy-window rule) tells.
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    build_json(&w, &p);
    let motd = p.join("rootfs/etc/motd");
    let before = std::fs::metadata(&motd).expect("stat");
    write(&motd, "WELCOME TO KILN\n");
    filetime::set_file_mtime(
        &motd,
        filetime::FileTime::from_last_modification_time(&before),
    )
    .expect("restore mtime");
    let doc = build_json(&w, &p);
    assert_eq!(step(&doc, "rootfs")["reason"], "changed: modified etc/motd");
    assert_eq!(step(&doc, "initrd")["status"], "ran");
    assert_eq!(
        parse_cpio(&read(&initramfs(&p, "x86_64")))
            .get("etc/motd")
            .data,
        b"WELCOME TO KILN\n"
    );
}
