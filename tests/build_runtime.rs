//! `kiln build` of runtime projects (`runtime:` + `rootfs:`), end to end: the initramfs
//! it writes (parsed back with the `cpio` crate, and extracted by GNU cpio), its
//! reproducibility across paths, inode numbers, mtimes and non-exec permission bits, the
//! materialized file being a copy of the cache blob, cpio rootfs passed through, and the
//! rootfs errors (non-newc archive, FIFO).

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use common::*;
use filetime::FileTime;

/// The architecture directory name kiln uses for the host (`qemu/<host arch>` default).
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "arm" => "arm",
        _ => "x86_64",
    }
}

/// The exact entries the standard rootfs must become.
fn assert_standard_archive(bytes: &[u8], mtime: u32) {
    let a = parse_cpio(bytes);
    assert!(a.trailer, "no TRAILER!!! entry");
    assert!(
        a.after_trailer.iter().all(|&b| b == 0),
        "junk after the trailer: {:?}",
        a.after_trailer
    );
    assert_eq!(bytes.len() % 4, 0, "archive length not padded to 4");
    assert_eq!(
        a.names(),
        [
            "bin",
            "bin/hello",
            "bin/motd-link",
            "etc",
            "etc/hostname",
            "etc/hostname.hard",
            "etc/motd",
            "var",
            "var/empty",
        ]
    );
    let want: &[(&str, u32, u32, &[u8])] = &[
        // name, mode, nlink, data
        ("bin", 0o040755, 2, b""),
        ("bin/hello", 0o100755, 1, b"#!/bin/sh\necho hello\n"),
        ("bin/motd-link", 0o120777, 1, b"../etc/motd"),
        ("etc", 0o040755, 2, b""),
        ("etc/hostname", 0o100644, 2, b"kiln\n"),
        ("etc/hostname.hard", 0o100644, 2, b"kiln\n"),
        ("etc/motd", 0o100644, 1, b"welcome to kiln\n"),
        ("var", 0o040755, 3, b""),
        ("var/empty", 0o040755, 2, b""),
    ];
    for &(name, mode, nlink, data) in want {
        let e = a.get(name);
        assert_eq!(e.mode, mode, "{name}: mode {:o}", e.mode);
        assert_eq!(e.nlink, nlink, "{name}: nlink");
        assert_eq!((e.uid, e.gid), (0, 0), "{name}: owner");
        assert_eq!(e.mtime, mtime, "{name}: mtime");
        assert_eq!(e.data, data, "{name}: data");
    }
    // Hard links share an inode; everything else has its own.
    assert_eq!(a.get("etc/hostname").ino, a.get("etc/hostname.hard").ino);
    let mut inos: Vec<u32> = a
        .entries
        .iter()
        .filter(|e| e.name != "etc/hostname.hard")
        .map(|e| e.ino)
        .collect();
    inos.sort();
    inos.dedup();
    assert_eq!(inos.len(), a.entries.len() - 1, "inode numbers not unique");
    assert!(!inos.contains(&0), "inode 0 used by an entry");
}

#[test]
fn runtime_without_targets_builds_default_host_target() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    let out = w
        .kiln(&p)
        .args(["build", "-o", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json(&out.stdout);
    assert_eq!(doc["ok"], true);
    let targets = doc["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0]["plat"], "qemu");
    assert_eq!(targets[0]["arch"], host_arch());
    assert_eq!(targets[0]["name"], format!("qemu-{}", host_arch()));
    assert_eq!(
        statuses(&doc),
        [
            ("rootfs".to_string(), "hashed".to_string()),
            ("initrd".to_string(), "ran".to_string())
        ]
    );
    // Exactly one file in the output directory.
    let outdir = p.join(".unikraft/build");
    let names: Vec<String> = std::fs::read_dir(&outdir)
        .expect("outdir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [format!("initramfs-{}.cpio", host_arch())]);
    let bytes = read(&initramfs(&p, host_arch()));
    assert_standard_archive(&bytes, EPOCH);
    // The materialized file is an ordinary 0644 file.
    let mode = std::fs::metadata(initramfs(&p, host_arch()))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o644, "initramfs mode {mode:o}");
}

#[test]
fn runtime_with_two_targets_writes_one_archive_per_arch() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_TWO_TARGETS);
    let out = w
        .kiln(&p)
        .args(["build", "-o", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json(&out.stdout);
    let names: Vec<&str> = doc["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["qemu-x86_64", "fc-arm64"]);
    let x86 = read(&initramfs(&p, "x86_64"));
    let arm = read(&initramfs(&p, "arm64"));
    assert_eq!(x86, arm, "the archive does not depend on the architecture");
    assert_standard_archive(&x86, EPOCH);
    let mut files: Vec<String> = std::fs::read_dir(p.join(".unikraft/build"))
        .expect("outdir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["initramfs-arm64.cpio", "initramfs-x86_64.cpio"]);
}

#[test]
fn unset_source_date_epoch_means_mtime_zero() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    w.kiln(&p)
        .env_remove("SOURCE_DATE_EPOCH")
        .arg("build")
        .assert()
        .code(0);
    assert_standard_archive(&read(&initramfs(&p, host_arch())), 0);
    // An empty value is the same as unset.
    let q = w.runtime_project("q", RUNTIME_KRAFTFILE);
    w.kiln(&q)
        .env("SOURCE_DATE_EPOCH", "")
        .arg("build")
        .assert()
        .code(0);
    assert_eq!(
        read(&initramfs(&q, host_arch())),
        read(&initramfs(&p, host_arch()))
    );
}

/// Builds the same logical rootfs in two very different ways.
fn divergent_rootfs(root: &Path, variant: u8) {
    let files: Vec<(&str, &[u8], bool)> = vec![
        ("a.txt", b"alpha\n", false),
        ("bin/tool", b"\x7fELF fake\n", true),
        ("bin/z", b"zzz", false),
        ("deep/er/still/file", b"deep\n", false),
        ("etc/conf", b"k=v\n", false),
        ("empty", b"", false),
    ];
    let mut order: Vec<usize> = (0..files.len()).collect();
    if variant == 1 {
        order.reverse();
        // Burn inode numbers so that the two trees' inodes differ.
        for i in 0..7 {
            write(&root.join(format!("junk{i}")), "x");
            std::fs::remove_file(root.join(format!("junk{i}"))).expect("rm");
        }
    }
    for i in order {
        let (name, data, exec) = files[i];
        let path = root.join(name);
        write(&path, data);
        let mode = match (exec, variant) {
            (true, 0) => 0o755,
            (true, _) => 0o700,
            (false, 0) => 0o644,
            (false, _) => 0o600,
        };
        chmod(&path, mode);
        let t = if variant == 0 {
            1_000_000
        } else {
            1_600_000_000
        };
        filetime::set_file_mtime(&path, FileTime::from_unix_time(t + i as i64, 7)).expect("mtime");
    }
    symlink("../a.txt", root.join("bin/link")).expect("symlink");
    symlink("../deep", root.join("bin/deeplink")).expect("symlink to a directory");
    std::fs::create_dir_all(root.join("srv/void")).expect("mkdir");
    if variant == 1 {
        chmod(&root.join("srv/void"), 0o700);
        chmod(&root.join("deep"), 0o750);
    }
}

#[test]
fn same_content_elsewhere_gives_identical_bytes_and_keys() {
    let w = World::new();
    let a = w.dir("first/project-a");
    let b = w.dir("second/nested/b");
    write(&a.join("Kraftfile"), RUNTIME_KRAFTFILE);
    write(
        &b.join("Kraftfile"),
        RUNTIME_KRAFTFILE.replace("demo", "other"),
    );
    divergent_rootfs(&a.join("rootfs"), 0);
    divergent_rootfs(&b.join("rootfs"), 1);
    let ino = |p: &Path| std::fs::metadata(p).expect("stat").ino();
    assert_ne!(
        ino(&a.join("rootfs/a.txt")),
        ino(&b.join("rootfs/a.txt")),
        "test setup: the inodes should differ"
    );

    let plan = |p: &Path| {
        let out = w
            .kiln(p)
            .args(["plan", "-o", "json"])
            .output()
            .expect("plan");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        json(&out.stdout)
    };
    let (pa, pb) = (plan(&a), plan(&b));
    let key = |doc: &serde_json::Value| step(doc, "initrd")["key"].as_str().map(str::to_string);
    let digest = |doc: &serde_json::Value| step(doc, "rootfs")["digest"].clone();
    assert!(key(&pa).is_some_and(|k| k.len() == 64), "{pa:#}");
    assert_eq!(key(&pa), key(&pb));
    assert_eq!(digest(&pa), digest(&pb));
    assert_eq!(step(&pa, "initrd")["status"], "not-cached");

    w.kiln(&a).arg("build").assert().code(0);
    // A separate cache for b, so that b really writes its own archive.
    let other_cache = tempfile::tempdir().expect("tempdir");
    kiln_cmd(other_cache.path(), &b)
        .arg("build")
        .assert()
        .code(0);
    let (ba, bb) = (
        read(&initramfs(&a, host_arch())),
        read(&initramfs(&b, host_arch())),
    );
    assert_eq!(ba, bb, "the two archives differ");
    let arc = parse_cpio(&ba);
    assert_eq!(arc.get("bin/tool").mode, 0o100755);
    assert_eq!(arc.get("etc/conf").mode, 0o100644);
    assert_eq!(arc.get("srv/void").mode, 0o040755);
    assert_eq!(arc.get("bin/link").data, b"../a.txt");
    // A symlink to a directory is stored as a symlink; the walk does not follow it.
    assert_eq!(arc.get("bin/deeplink").mode, 0o120777);
    assert_eq!(arc.get("bin/deeplink").data, b"../deep");
    assert!(
        !arc.names().iter().any(|n| n.starts_with("bin/deeplink/")),
        "{:?}",
        arc.names()
    );
    // The plan after the build: same key, and it is now up to date.
    let pa2 = plan(&a);
    assert_eq!(key(&pa2), key(&pa));
    assert_eq!(step(&pa2, "initrd")["status"], "up-to-date");
}

/// Path -> (kind, content or link target, executable) for a directory tree.
fn describe_tree(root: &Path) -> BTreeMap<PathBuf, (String, Vec<u8>, bool)> {
    let mut out = BTreeMap::new();
    for (rel, st) in snapshot(root) {
        if rel.as_os_str().is_empty() {
            continue;
        }
        let p = root.join(&rel);
        let v = match st.kind {
            "dir" => ("dir".to_string(), Vec::new(), false),
            "symlink" => (
                "symlink".to_string(),
                std::fs::read_link(&p)
                    .expect("readlink")
                    .into_os_string()
                    .into_encoded_bytes(),
                false,
            ),
            _ => {
                let m = std::fs::metadata(&p).expect("stat").permissions().mode();
                ("file".to_string(), read(&p), m & 0o111 != 0)
            }
        };
        out.insert(rel, v);
    }
    out
}

#[test]
fn gnu_cpio_extracts_the_same_tree() {
    let cpio_bin = gnu_cpio();
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    write(&p.join("rootfs/big.bin"), vec![0xa5u8; 300_001]);
    w.kiln(&p).arg("build").assert().code(0);
    let archive = initramfs(&p, host_arch());
    let dest = w.dir("extracted");
    let out = std::process::Command::new(cpio_bin)
        .args(["-idm", "--no-absolute-filenames", "--quiet"])
        .current_dir(&dest)
        .stdin(std::fs::File::open(&archive).expect("open"))
        .output()
        .expect("run cpio");
    assert!(
        out.status.success(),
        "GNU cpio failed: {}",
        text(&out.stderr)
    );
    assert_eq!(describe_tree(&dest), describe_tree(&p.join("rootfs")));
    // GNU cpio restores the hard link and the mtime.
    let ino = |rel: &str| std::fs::metadata(dest.join(rel)).expect("stat").ino();
    assert_eq!(ino("etc/hostname"), ino("etc/hostname.hard"));
    let m = std::fs::metadata(dest.join("etc/motd")).expect("stat");
    assert_eq!(m.mtime(), i64::from(EPOCH));
}

#[test]
fn materialized_output_is_a_copy_and_is_restored_from_cache() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    w.kiln(&p).arg("build").assert().code(0);
    let out_path = initramfs(&p, host_arch());
    let good = read(&out_path);
    let out_ino = std::fs::metadata(&out_path).expect("stat").ino();
    let cache_files = files_under(w.cache_dir());
    assert!(!cache_files.is_empty());
    for f in &cache_files {
        assert_ne!(
            std::fs::metadata(f).expect("stat").ino(),
            out_ino,
            "{} is the same inode as the output",
            f.display()
        );
    }
    let blob = cache_files
        .iter()
        .find(|f| f.starts_with(w.cache_dir().join("cas")) && read(f) == good)
        .expect("the archive is stored as a blob under cas/")
        .clone();
    let cache_before: Vec<(PathBuf, Vec<u8>)> =
        cache_files.iter().map(|f| (f.clone(), read(f))).collect();

    // Scribble over the output in place (same size, different bytes).
    let mut bad = good.clone();
    bad[0] = b'X';
    std::fs::write(&out_path, &bad).expect("write");
    assert_eq!(
        read(&blob),
        good,
        "writing the output changed the cache blob"
    );
    let out = w
        .kiln(&p)
        .args(["build", "-o", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json(&out.stdout);
    assert_eq!(step(&doc, "initrd")["status"], "cached");
    assert_eq!(step(&doc, "initrd")["reason"], "found in cache");
    assert_eq!(read(&out_path), good);
    let cache_after: Vec<(PathBuf, Vec<u8>)> = files_under(w.cache_dir())
        .iter()
        .map(|f| (f.clone(), read(f)))
        .collect();
    assert_eq!(cache_before, cache_after, "the cache changed");

    // Deleted output: also restored from the cache.
    std::fs::remove_file(&out_path).expect("rm");
    let out = w
        .kiln(&p)
        .args(["build", "-o", "json"])
        .output()
        .expect("run");
    assert_eq!(step(&json(&out.stdout), "initrd")["status"], "cached");
    assert_eq!(read(&out_path), good);
}

fn cpio_project(w: &World, format: &str) -> PathBuf {
    gnu_cpio();
    let p = w.dir("p");
    write(
        &p.join("Kraftfile"),
        "spec: v0.6\nname: demo\nruntime: base:latest\nrootfs: ./rootfs.cpio\n",
    );
    standard_rootfs(&p.join("tree"));
    sh(
        &p.join("tree"),
        &format!("find . | LC_ALL=C sort | /usr/bin/cpio --quiet -o -H {format} > ../rootfs.cpio"),
    );
    p
}

#[test]
fn cpio_rootfs_is_passed_through_byte_for_byte() {
    let w = World::new();
    let p = cpio_project(&w, "newc");
    let input = read(&p.join("rootfs.cpio"));
    assert!(input.starts_with(b"070701"));
    let out = w
        .kiln(&p)
        .args(["build", "-o", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(read(&initramfs(&p, host_arch())), input);
    let doc = json(&out.stdout);
    assert_eq!(step(&doc, "rootfs")["kind"], "rootfs");
    assert_eq!(step(&doc, "initrd")["status"], "ran");
}

#[test]
fn a_newc_rootfs_unikraft_could_not_boot_is_refused_naming_the_entry() {
    let w = World::new();
    let p = cpio_project(&w, "newc");
    // Reverse-sorted: every file comes before its directory; and then no trailer.
    sh(
        &p.join("tree"),
        "find . | LC_ALL=C sort -r | /usr/bin/cpio --quiet -o -H newc > ../rootfs.cpio",
    );
    let out = w.kiln(&p).arg("build").output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("rootfs.cpio` cannot be booted as an initrd")
            && err.contains("comes before its directory"),
        "{err}"
    );
    let good = read(&{
        sh(
            &p.join("tree"),
            "find . | LC_ALL=C sort | /usr/bin/cpio --quiet -o -H newc > ../rootfs.cpio",
        );
        p.join("rootfs.cpio")
    });
    std::fs::write(p.join("rootfs.cpio"), &good[..good.len() - 512]).unwrap();
    let out = w.kiln(&p).arg("build").output().expect("run");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("TRAILER!!!") || err.contains("ends"), "{err}");
    assert!(!initramfs(&p, host_arch()).exists());
}

#[test]
fn odc_cpio_rootfs_is_refused_with_its_location() {
    let w = World::new();
    let p = cpio_project(&w, "odc");
    let out = w.kiln(&p).arg("build").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(
            "error: rootfs `./rootfs.cpio` is not a directory or a cpio newc archive\n"
        ),
        "{err}"
    );
    assert!(err.contains("Kraftfile:4:9\n"), "{err}");
    assert!(err.contains(" 4 | rootfs: ./rootfs.cpio\n"), "{err}");
    assert!(
        err.contains("it is an old portable (odc) cpio archive"),
        "{err}"
    );
    assert!(!initramfs(&p, host_arch()).exists());
}

#[test]
fn text_file_rootfs_is_refused() {
    let w = World::new();
    let p = w.dir("p");
    write(
        &p.join("Kraftfile"),
        "spec: v0.6\nruntime: base:latest\nrootfs: notes.txt\n",
    );
    write(&p.join("notes.txt"), "hello world\n");
    let out = w
        .kiln(w.scratch.path())
        .args(["build", "p"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("--> p/Kraftfile:3:9\n"), "{err}");
    assert!(err.contains(" 3 | rootfs: notes.txt\n"), "{err}");
    assert!(err.contains("it starts with \"hello \""), "{err}");
}

#[test]
fn fifo_in_rootfs_fails_naming_it() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    let fifo = p.join("rootfs/etc/pipe");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(st.success());
    let out = w.kiln(&p).arg("build").output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    // The path is named under the project (kiln keeps the Kraftfile's `./`, so it reads
    // `<project>/./rootfs/etc/pipe`; see the report) and the kind is spelled out.
    assert!(err.contains(&p.display().to_string()), "{err}");
    assert!(
        err.contains(
            "rootfs/etc/pipe is a FIFO (named pipe); only directories, regular files and symlinks"
        ),
        "{err}"
    );
    assert!(err.contains("] failed     rootfs\n"), "{err}");
    assert!(err.contains("] skipped    initrd\n"), "{err}");
    let _ = fifo;
    assert!(!initramfs(&p, host_arch()).exists());
    // JSON says so too, and the initrd is skipped.
    let out = w
        .kiln(&p)
        .args(["build", "-o", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out.stdout);
    assert_eq!(doc["ok"], false);
    assert_eq!(step(&doc, "rootfs")["status"], "failed");
    assert!(
        step(&doc, "rootfs")["error"]
            .as_str()
            .is_some_and(|e| e.contains("FIFO")),
        "{doc:#}"
    );
    assert_eq!(step(&doc, "initrd")["status"], "skipped");
}
