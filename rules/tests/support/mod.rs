//! Helpers shared by the initrd tests (included with `#[path]`): sample rootfs directories,
//! a minimal scanner that turns a directory into a canonical [`Tree`], and archive writing.
//!
//! The scanner is deliberately small and test-only; it is not the engine's scanner and knows
//! nothing of ignore files, special files or errors. Cargo also builds this file as a test
//! target of its own, which holds no tests.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use kiln_engine::{BlobDigest, EntryKind, Tree, TreeEntry};
use kiln_rules::initrd::{NewcOptions, write_newc};

/// Scans `root` into a canonical tree: sorted, symlinks not followed, and the first sorted
/// path of each hard-link group a file, the others links to it.
pub fn scan(root: &Path) -> Tree {
    let mut paths: Vec<String> = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(root).unwrap();
            rel.to_str().unwrap().to_string()
        })
        .collect();
    paths.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut groups: HashMap<(u64, u64), String> = HashMap::new();
    let entries = paths
        .into_iter()
        .map(|path| {
            let full = root.join(&path);
            let meta = fs::symlink_metadata(&full).unwrap();
            let kind = if meta.is_dir() {
                EntryKind::Dir
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(&full).unwrap();
                EntryKind::Symlink {
                    target: target.to_str().unwrap().to_string(),
                }
            } else if let Some(first) = groups.get(&(meta.dev(), meta.ino())) {
                EntryKind::HardLink {
                    target: first.clone(),
                }
            } else {
                groups.insert((meta.dev(), meta.ino()), path.clone());
                EntryKind::File {
                    digest: BlobDigest::of_bytes(&fs::read(&full).unwrap()),
                    size: meta.len(),
                    executable: meta.mode() & 0o111 != 0,
                }
            };
            TreeEntry { path, kind }
        })
        .collect();
    Tree::new(entries).unwrap()
}

/// Writes `tree` (files under `root`) as a newc archive with the given mtime.
pub fn archive(tree: &Tree, root: &Path, mtime: u32) -> Vec<u8> {
    let mut out = Vec::new();
    write_newc(tree, root, &NewcOptions { mtime }, &mut out).unwrap();
    out
}

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn write(root: &Path, rel: &str, content: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// One step of building a sample rootfs.
type Step = Box<dyn Fn(&Path)>;

/// The rootfs of the golden test: two directories with files, a hard link, a symlink and an
/// empty directory.
pub fn make_tiny_rootfs(root: &Path) {
    write(root, "bin/hello", b"#!/bin/sh\necho hello\n");
    set_mode(&root.join("bin/hello"), 0o755);
    write(root, "etc/motd", b"hi\n");
    fs::hard_link(root.join("etc/motd"), root.join("etc/motd2")).unwrap();
    symlink("motd", root.join("etc/os")).unwrap();
    fs::create_dir(root.join("empty")).unwrap();
}

/// A rootfs with every case the writer handles: names with spaces and UTF-8, data sizes for
/// every padding, a file larger than the copy buffer, an empty file, a hard-link group of
/// three across directories, symlinks to a directory and to nothing, and empty directories.
/// `reverse` creates the same content in the opposite order (so inodes differ).
pub fn make_rich_rootfs(root: &Path, reverse: bool) {
    let big: Vec<u8> = (0..3_000_003u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let mut steps: Vec<Step> = vec![
        Box::new(|r| write(r, "a dir/with space.txt", b"spaced out\n")),
        Box::new(|r| write(r, "ünïcødé/файл", "привет\n".as_bytes())),
        Box::new(|r| {
            write(r, "bin/tool", b"\x7fELF pretend");
            set_mode(&r.join("bin/tool"), 0o755);
        }),
        Box::new(move |r| write(r, "data/big.bin", &big)),
        Box::new(|r| write(r, "zero", b"")),
        Box::new(|r| {
            for n in 1..=5 {
                write(r, &format!("pad/{n}"), &b"12345"[..n]);
            }
        }),
        Box::new(|r| {
            write(r, "data/hl1", b"shared by three names\n");
            fs::create_dir_all(r.join("other")).unwrap();
            fs::hard_link(r.join("data/hl1"), r.join("other/hl3")).unwrap();
            fs::hard_link(r.join("data/hl1"), r.join("data/hl2")).unwrap();
        }),
        Box::new(|r| {
            fs::create_dir_all(r.join("links")).unwrap();
            symlink("../data", r.join("links/to_dir")).unwrap();
            symlink("nowhere/at/all", r.join("links/dangling")).unwrap();
        }),
        Box::new(|r| fs::create_dir_all(r.join("empty/nested")).unwrap()),
    ];
    if reverse {
        steps.reverse();
    }
    for step in &steps {
        step(root);
    }
}

/// Sets every entry's mtime (symlinks themselves, not their targets) to `secs`.
pub fn touch_all(root: &Path, secs: i64) {
    let time = filetime::FileTime::from_unix_time(secs, 0);
    for e in walkdir::WalkDir::new(root).contents_first(true) {
        let e = e.unwrap();
        filetime::set_symlink_file_times(e.path(), time, time).unwrap();
    }
}
