//! Tests of `check_newc`, the check for a rootfs given as an existing cpio archive: newc
//! archives pass, everything else is refused with the path and how to make a newc archive.

use std::fs;
use std::path::Path;

use kiln_rules::initrd::{InitrdError, check_newc};

fn file_with(dir: &Path, name: &str, content: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    fs::write(&path, content).unwrap();
    path
}

#[test]
fn newc_and_newc_crc_archives_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    for magic in ["070701", "070702"] {
        let path = file_with(dir.path(), magic, format!("{magic}0000").as_bytes());
        check_newc(&path).unwrap_or_else(|e| panic!("{magic}: {e}"));
    }
}

#[test]
fn an_archive_written_by_kiln_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let tree = kiln_engine::Tree::default();
    let opts = kiln_rules::initrd::NewcOptions::default();
    kiln_rules::initrd::write_newc(&tree, dir.path(), &opts, &mut out).unwrap();
    check_newc(&file_with(dir.path(), "kiln.cpio", &out)).unwrap();
}

#[test]
fn other_formats_are_refused_with_the_path_and_a_remedy() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 5] = [
        ("odc.cpio", b"070707000000", "old portable (odc) cpio"),
        ("rootfs.cpio.gz", b"\x1f\x8b\x08\x00\x00", "gzip-compressed"),
        ("empty.cpio", b"", "it is empty"),
        ("short.cpio", b"0707", "it starts with \"0707\""),
        ("text.cpio", b"hello world", "it starts with \"hello \""),
    ];
    for (name, content, what) in cases {
        let path = file_with(dir.path(), name, content);
        let err = check_newc(&path).unwrap_err();
        assert!(
            matches!(err, InitrdError::NotNewc { .. }),
            "{name}: {err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(what), "{message}");
        assert!(message.contains("only uncompressed newc"), "{message}");
        assert!(message.contains("find . | cpio -o -H newc"), "{message}");
    }
}

#[test]
fn a_tar_archive_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let mut tar = vec![0u8; 1024];
    tar[..4].copy_from_slice(b"etc/");
    tar[257..263].copy_from_slice(b"ustar\0");
    let err = check_newc(&file_with(dir.path(), "rootfs.tar", &tar)).unwrap_err();
    assert!(err.to_string().contains("it is a tar archive"), "{err}");
}

#[test]
fn a_missing_archive_is_a_read_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.cpio");
    let err = check_newc(&path).unwrap_err();
    assert!(matches!(err, InitrdError::Read { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}
