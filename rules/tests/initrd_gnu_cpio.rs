//! Extracts kiln's initrd with the real GNU cpio and compares the result with the source
//! rootfs: contents, executable bits, symlinks (not followed), hard links and mtimes.
//!
//! GNU cpio must be installed at /usr/bin/cpio (CI installs it); without it these tests fail
//! with a message saying so rather than being skipped.

#[path = "support/mod.rs"]
mod support;

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use support::{archive, make_rich_rootfs, make_tiny_rootfs, scan};

const GNU_CPIO: &str = "/usr/bin/cpio";

/// Writes the archive of `root` and extracts it with `cpio -idm` into a new directory.
fn extract_with_gnu_cpio(root: &Path, mtime: u32) -> tempfile::TempDir {
    assert!(
        Path::new(GNU_CPIO).exists(),
        "GNU cpio is required at {GNU_CPIO} for this test; install it (apt-get install cpio)"
    );
    let bytes = archive(&scan(root), root, mtime);
    let work = tempfile::tempdir().unwrap();
    let archive_path = work.path().join("initrd.cpio");
    fs::write(&archive_path, bytes).unwrap();
    let out = tempfile::tempdir().unwrap();
    let result = Command::new(GNU_CPIO)
        .args(["-idm", "--no-absolute-filenames", "--quiet"])
        .current_dir(out.path())
        .stdin(File::open(&archive_path).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "cpio failed: {stderr}");
    assert!(stderr.trim().is_empty(), "cpio complained: {stderr}");
    out
}

#[test]
fn gnu_cpio_extracts_the_same_tree() {
    let src = tempfile::tempdir().unwrap();
    make_rich_rootfs(src.path(), false);
    let out = extract_with_gnu_cpio(src.path(), 1_600_000_000);
    // Equal trees: same paths, kinds, contents (digests), executable bits, symlink targets
    // and hard-link groups.
    assert_eq!(scan(out.path()), scan(src.path()));
}

#[test]
fn gnu_cpio_rebuilds_hard_links_as_one_inode() {
    let src = tempfile::tempdir().unwrap();
    make_rich_rootfs(src.path(), false);
    let out = extract_with_gnu_cpio(src.path(), 0);
    let meta = |p: &str| fs::metadata(out.path().join(p)).unwrap();
    let ino = meta("data/hl1").ino();
    for name in ["data/hl2", "other/hl3"] {
        assert_eq!(meta(name).ino(), ino, "{name} is not a link of data/hl1");
    }
    assert_eq!(meta("data/hl1").nlink(), 3);
    let content = fs::read(out.path().join("other/hl3")).unwrap();
    assert_eq!(content, b"shared by three names\n");
}

#[test]
fn gnu_cpio_keeps_symlinks_as_links() {
    let src = tempfile::tempdir().unwrap();
    make_rich_rootfs(src.path(), false);
    let out = extract_with_gnu_cpio(src.path(), 0);
    for (name, target) in [
        ("links/to_dir", "../data"),
        ("links/dangling", "nowhere/at/all"),
    ] {
        let path = out.path().join(name);
        let meta = fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_symlink(), "{name} is not a symlink");
        assert_eq!(fs::read_link(&path).unwrap(), Path::new(target));
    }
}

#[test]
fn gnu_cpio_restores_modes_and_mtimes() {
    let src = tempfile::tempdir().unwrap();
    make_tiny_rootfs(src.path());
    let out = extract_with_gnu_cpio(src.path(), 1_600_000_000);
    let meta = |p: &str| fs::symlink_metadata(out.path().join(p)).unwrap();
    assert_eq!(
        meta("bin/hello").mode() & 0o111,
        0o111,
        "bin/hello lost its exec bits"
    );
    assert_eq!(
        meta("etc/motd").mode() & 0o111,
        0,
        "etc/motd became executable"
    );
    assert!(meta("empty").is_dir());
    for name in ["bin/hello", "etc/motd", "etc/motd2"] {
        assert_eq!(meta(name).mtime(), 1_600_000_000, "{name}");
    }
}
