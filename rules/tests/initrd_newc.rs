//! End-to-end tests of the newc initrd writer on real files: a byte-exact golden archive,
//! reproducibility across checkouts, and read-back by the `cpio` crate.
//!
//! Extraction by GNU cpio is tested in `initrd_gnu_cpio.rs`; the rootfs-archive check in
//! `initrd_check.rs`. The trees are built by a small scanner in `support/mod.rs`, not by
//! the engine's, so these tests do not depend on it.

#[path = "support/mod.rs"]
mod support;

use std::fs;
use std::io::Read;
use std::path::Path;

use kiln_engine::{EntryKind, Tree};
use kiln_rules::initrd::{InitrdError, NewcOptions, write_newc};
use support::{archive, make_rich_rootfs, make_tiny_rootfs, scan, set_mode};

/// One entry as the `cpio` crate reads it back.
#[derive(Debug, PartialEq, Eq)]
struct ReadEntry {
    name: String,
    ino: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    mtime: u32,
    dev: [u32; 4],
    data: Vec<u8>,
}

/// Reads every entry, the trailer included, with the `cpio` crate.
fn read_back(bytes: &[u8]) -> Vec<ReadEntry> {
    let mut rest = bytes;
    let mut out = Vec::new();
    loop {
        let mut reader = cpio::NewcReader::new(rest).expect("a valid newc header");
        let e = reader.entry();
        let mut entry = ReadEntry {
            name: e.name().to_string(),
            ino: e.ino(),
            mode: e.mode(),
            uid: e.uid(),
            gid: e.gid(),
            nlink: e.nlink(),
            mtime: e.mtime(),
            dev: [e.dev_major(), e.dev_minor(), e.rdev_major(), e.rdev_minor()],
            data: Vec::new(),
        };
        assert_eq!(e.checksum(), None, "newc (070701) has no checksum");
        let trailer = e.is_trailer();
        reader.read_to_end(&mut entry.data).expect("entry data");
        rest = reader.finish().expect("padding after the data");
        out.push(entry);
        if trailer {
            assert!(rest.is_empty(), "{} bytes after the trailer", rest.len());
            return out;
        }
    }
}

const GOLDEN: &str = "tests/golden/initrd_tiny.cpio";

#[test]
fn tiny_rootfs_matches_the_golden_archive_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    make_tiny_rootfs(dir.path());
    let bytes = archive(&scan(dir.path()), dir.path(), 1_700_000_000);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("KILN_BLESS").is_some() {
        fs::write(&golden, &bytes).unwrap();
    }
    let expected = fs::read(&golden).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with KILN_BLESS=1 to create it",
            golden.display()
        )
    });
    assert!(
        bytes == expected,
        "the archive differs from {GOLDEN}; if the change is intended, run with KILN_BLESS=1"
    );
}

#[test]
fn tiny_rootfs_headers_read_back_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    make_tiny_rootfs(dir.path());
    let entries = read_back(&archive(&scan(dir.path()), dir.path(), 1_700_000_000));
    let got: Vec<(&str, u32, u32, u32, &[u8])> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.ino, e.mode, e.nlink, e.data.as_slice()))
        .collect();
    let hello: &[u8] = b"#!/bin/sh\necho hello\n";
    let expected: Vec<(&str, u32, u32, u32, &[u8])> = vec![
        ("bin", 1, 0o040755, 2, b""),
        ("bin/hello", 2, 0o100755, 1, hello),
        ("empty", 3, 0o040755, 2, b""),
        ("etc", 4, 0o040755, 2, b""),
        ("etc/motd", 5, 0o100644, 2, b"hi\n"),
        ("etc/motd2", 5, 0o100644, 2, b"hi\n"),
        ("etc/os", 6, 0o120777, 1, b"motd"),
        ("TRAILER!!!", 0, 0, 1, b""),
    ];
    assert_eq!(got, expected);
    for e in &entries[..entries.len() - 1] {
        assert_eq!(
            (e.uid, e.gid, e.mtime, e.dev),
            (0, 0, 1_700_000_000, [0; 4]),
            "{}",
            e.name
        );
    }
}

#[test]
fn same_content_in_different_checkouts_gives_identical_bytes() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    make_rich_rootfs(a.path(), false);
    // Burn inode numbers so b's files get different ones, then build b in reverse order.
    for i in 0..50 {
        fs::write(b.path().join(format!("burn{i}")), b"x").unwrap();
    }
    for i in 0..50 {
        fs::remove_file(b.path().join(format!("burn{i}"))).unwrap();
    }
    make_rich_rootfs(b.path(), true);
    support::touch_all(a.path(), 1_000_000);
    support::touch_all(b.path(), 2_000_000_000);
    set_mode(&a.path().join("pad/1"), 0o600);
    set_mode(&b.path().join("pad/1"), 0o664);

    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
    assert_ne!(ino(&a.path().join("pad/3")), ino(&b.path().join("pad/3")));
    let (tree_a, tree_b) = (scan(a.path()), scan(b.path()));
    assert_eq!(tree_a, tree_b);
    let bytes_a = archive(&tree_a, a.path(), 42);
    let bytes_b = archive(&tree_b, b.path(), 42);
    assert!(bytes_a == bytes_b, "archives of the same content differ");
}

#[test]
fn every_entry_reads_back_with_its_name_mode_size_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    make_rich_rootfs(root, false);
    let tree = scan(root);
    let entries = read_back(&archive(&tree, root, 0));
    assert_eq!(entries.len(), tree.entries().len() + 1);
    for (entry, read) in tree.entries().iter().zip(&entries) {
        assert_eq!(read.name, entry.path);
        assert_eq!(
            (read.uid, read.gid, read.mtime, read.dev),
            (0, 0, 0, [0; 4])
        );
        let (mode, data) = match &entry.kind {
            EntryKind::Dir => (0o040755, Vec::new()),
            EntryKind::Symlink { target } => (0o120777, target.clone().into_bytes()),
            EntryKind::File { executable, .. } => (
                if *executable { 0o100755 } else { 0o100644 },
                fs::read(root.join(&entry.path)).unwrap(),
            ),
            // Every member of a hard-link group carries the full data: ukcpio extracts
            // each entry on its own, so a size-0 member would boot as an empty file.
            EntryKind::HardLink { .. } => (0o100644, fs::read(root.join(&entry.path)).unwrap()),
        };
        assert_eq!(read.mode, mode, "{}", entry.path);
        assert!(read.data == data, "data of {}", entry.path);
    }
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    for name in [
        "a dir/with space.txt",
        "ünïcødé/файл",
        "links/to_dir",
        "links/dangling",
        "empty/nested",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert_eq!(entries.last().map(|e| e.name.as_str()), Some("TRAILER!!!"));
}

#[test]
fn inodes_count_up_from_one_and_hard_links_share_one() {
    let dir = tempfile::tempdir().unwrap();
    make_rich_rootfs(dir.path(), false);
    let entries = read_back(&archive(&scan(dir.path()), dir.path(), 0));
    let by_name = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
    let group = ["data/hl1", "data/hl2", "other/hl3"].map(by_name);
    assert!(group.iter().all(|e| e.ino == group[0].ino && e.nlink == 3));
    let mut expected = 1;
    for e in entries
        .iter()
        .filter(|e| !group[1..].iter().any(|g| g.name == e.name))
    {
        if e.name != "TRAILER!!!" {
            assert_eq!(e.ino, expected, "{}", e.name);
            expected += 1;
        }
    }
    assert_eq!(by_name("empty").nlink, 3, "empty has one subdirectory");
    assert_eq!(by_name("links/to_dir").data, b"../data");
    assert_eq!(by_name("links/dangling").data, b"nowhere/at/all");
}

#[test]
fn source_date_epoch_is_in_every_entry_header() {
    let dir = tempfile::tempdir().unwrap();
    make_rich_rootfs(dir.path(), false);
    let entries = read_back(&archive(&scan(dir.path()), dir.path(), 1_234_567_890));
    let (files, trailer) = entries.split_at(entries.len() - 1);
    assert!(files.iter().all(|e| e.mtime == 1_234_567_890));
    assert_eq!(trailer[0].mtime, 0, "the trailer describes no file");
}

#[test]
fn stats_count_entries_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    make_tiny_rootfs(dir.path());
    let tree = scan(dir.path());
    let mut out = Vec::new();
    let stats = write_newc(&tree, dir.path(), &NewcOptions::default(), &mut out).unwrap();
    assert_eq!(stats.entries, 7);
    assert_eq!(stats.bytes, out.len() as u64);
    assert_eq!(out.len() % 4, 0);
}

fn write_err(tree: &Tree, root: &Path) -> InitrdError {
    write_newc(tree, root, &NewcOptions::default(), &mut Vec::new()).unwrap_err()
}

#[test]
fn a_file_that_shrank_after_the_scan_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    make_rich_rootfs(dir.path(), false);
    let tree = scan(dir.path());
    let big = dir.path().join("data/big.bin");
    fs::OpenOptions::new()
        .write(true)
        .open(&big)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let err = write_err(&tree, dir.path());
    assert!(
        matches!(&err, InitrdError::Changed { detail, .. } if detail.ends_with("now has 1000")),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&big.display().to_string()), "{message}");
    assert!(message.contains("build again"), "{message}");
}

#[test]
fn a_file_that_grew_after_the_scan_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    make_tiny_rootfs(dir.path());
    let tree = scan(dir.path());
    let motd = dir.path().join("etc/motd");
    fs::write(&motd, b"hi there, much longer now\n").unwrap();
    let err = write_err(&tree, dir.path());
    assert!(
        matches!(&err, InitrdError::Changed { detail, .. }
            if detail == "the scanned rootfs says 3 bytes, the file now has 26"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&motd.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_same_size_edit_after_the_scan_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    make_tiny_rootfs(dir.path());
    let tree = scan(dir.path());
    let motd = dir.path().join("etc/motd");
    let before = fs::read(&motd).unwrap();
    let mut edited = before.clone();
    edited[0] ^= 0x20;
    fs::write(&motd, &edited).unwrap();
    let err = write_err(&tree, dir.path());
    let message = err.to_string();
    assert!(
        message.contains(&motd.display().to_string())
            && message.contains("changed while the initrd was being written")
            && message.contains("its content is not what was hashed"),
        "{message}"
    );
    // Restored to the scanned bytes, the same tree archives again.
    fs::write(&motd, &before).unwrap();
    write_newc(&tree, dir.path(), &NewcOptions::default(), &mut Vec::new()).unwrap();
}

#[test]
fn scan_makes_the_first_sorted_hard_link_the_file() {
    let dir = tempfile::tempdir().unwrap();
    make_rich_rootfs(dir.path(), true);
    let tree = scan(dir.path());
    assert!(matches!(tree.get("data/hl1"), Some(EntryKind::File { .. })));
    for link in ["data/hl2", "other/hl3"] {
        let expected = EntryKind::HardLink {
            target: "data/hl1".into(),
        };
        assert_eq!(tree.get(link), Some(&expected), "{link}");
    }
}
