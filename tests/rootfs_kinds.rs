//! Root filesystems of other kinds than a directory or a cpio (issue 10, first part): a tar
//! or tar.gz archive is a flat tree, unpacked once into kiln's cache and packed into the same
//! initrd as the directory it was made from; an archive that would write outside its tree
//! is refused, naming the entry.

mod common;

use std::path::Path;

use common::*;

fn project_with_rootfs(w: &World, name: &str, rootfs: &str) -> std::path::PathBuf {
    let p = w.dir(name);
    write(
        &p.join("Kraftfile"),
        format!("spec: v0.6\nname: demo\nruntime: kernel://k\nrootfs: {rootfs}\n"),
    );
    p
}

fn gnu_tar(args: &[&str], cwd: &Path) {
    let ok = std::process::Command::new("tar")
        .args(args)
        .current_dir(cwd)
        .status()
        .unwrap();
    assert!(ok.success(), "tar {args:?}");
}

#[test]
fn a_tar_rootfs_gives_the_initrd_of_the_directory_it_was_made_from() {
    let w = World::new();
    let from_dir = project_with_rootfs(&w, "dir", "./rootfs");
    standard_rootfs(&from_dir.join("rootfs"));
    let (code, _, err) = build_json(&w, &from_dir, &[]);
    assert_eq!(code, 0, "{err}");
    let expected = read(&initramfs(&from_dir, "x86_64"));

    for (file, flags) in [
        ("rootfs.tar.gz", "-czf"),
        ("rootfs.tar", "-cf"),
        ("rootfs.tgz", "-czf"),
    ] {
        let p = project_with_rootfs(&w, file, &format!("./{file}"));
        gnu_tar(
            &[
                flags,
                p.join(file).to_str().unwrap(),
                "-C",
                from_dir.join("rootfs").to_str().unwrap(),
                ".",
            ],
            &p,
        );
        let (code, doc, err) = build_json(&w, &p, &[]);
        assert_eq!(code, 0, "{file}: {err}");
        assert_eq!(status_of(&doc, "rootfs"), "hashed", "{file}");
        assert_eq!(
            read(&initramfs(&p, "x86_64")),
            expected,
            "{file}: the same tree, the same initrd"
        );
        // The archive is unpacked once; a second build is a no-op.
        let (_, doc, _) = build_json(&w, &p, &[]);
        assert_eq!(status_of(&doc, "initrd"), "up-to-date", "{file}");
    }
    let unpacked: Vec<_> = std::fs::read_dir(w.cache_dir().join("rootfs"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(
        unpacked.len(),
        2,
        "one directory per archive content (.tar.gz and .tgz are the same bytes)"
    );
}

#[test]
fn an_archive_that_escapes_its_tree_is_refused_naming_the_entry() {
    let w = World::new();
    let p = project_with_rootfs(&w, "evil", "./rootfs.tar");
    let script = format!(
        "import io, tarfile\nt = tarfile.open('{}', 'w')\nfor name, kind in [('ok', tarfile.REGTYPE), ('link', tarfile.SYMTYPE), ('link/passwd', tarfile.REGTYPE)]:\n    i = tarfile.TarInfo(name); i.type = kind; i.linkname = '/etc' if kind == tarfile.SYMTYPE else ''\n    t.addfile(i, io.BytesIO(b''))\nt.close()\n",
        p.join("rootfs.tar").display()
    );
    let ok = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    assert!(ok.success());
    let (code, _, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("entry `link/passwd`") && err.contains("symbolic link `link`"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(w.cache_dir().join("rootfs"))
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "nothing half-unpacked is kept: {left:?}");
}
