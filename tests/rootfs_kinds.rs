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

/// An image made with umoci (an independent OCI tool): a first layer with a few files, a
/// second that deletes one (a whiteout) and adds another. Returns the layout directory.
fn umoci_image(dir: &Path) -> std::path::PathBuf {
    let layout = dir.join("layout");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("umoci")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "umoci {args:?}: {}",
            text(&out.stderr)
        );
    };
    run(&["init", "--layout", "layout"]);
    run(&["new", "--image", "layout:base"]);
    run(&["unpack", "--rootless", "--image", "layout:base", "bundle"]);
    let rootfs = dir.join("bundle/rootfs");
    write(&rootfs.join("etc/motd"), "from an image\n");
    write(&rootfs.join("etc/gone"), "deleted by the second layer\n");
    write(&rootfs.join("bin/app"), "#!/bin/sh\n");
    chmod(&rootfs.join("bin/app"), 0o755);
    std::os::unix::fs::symlink("app", rootfs.join("bin/alias")).unwrap();
    run(&["repack", "--image", "layout:base", "bundle"]);
    std::fs::remove_file(rootfs.join("etc/gone")).unwrap();
    write(&rootfs.join("etc/added"), "added by the second layer\n");
    run(&["repack", "--image", "layout:base", "bundle"]);
    layout
}

/// Adds an OCI index over the layout's `base` manifest, tagged `index`.
fn add_index(layout: &Path) {
    use sha2::Digest as _;
    let top: serde_json::Value = serde_json::from_slice(&read(&layout.join("index.json"))).unwrap();
    let m = top["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "base")
        .unwrap()
        .clone();
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"], "platform": {"architecture": "arm64", "os": "linux"}},
        {"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"], "platform": {"architecture": "amd64", "os": "linux"}}]});
    let bytes = serde_json::to_vec(&index).unwrap();
    let hex: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    write(&layout.join("blobs/sha256").join(&hex), &bytes);
    let mut top = top;
    top["manifests"].as_array_mut().unwrap().push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{hex}"), "size": bytes.len(),
        "annotations": {"org.opencontainers.image.ref.name": "index"}}));
    write(
        &layout.join("index.json"),
        serde_json::to_vec(&top).unwrap(),
    );
}

/// Adds a copy of the layout's `base` manifest whose layers are zstd-compressed, tagged
/// `zstd` (skopeo 1.9 keeps gzip layers gzip).
fn add_zstd(layout: &Path) {
    use sha2::Digest as _;
    let hex = |b: &[u8]| -> String {
        sha2::Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    let blob = |d: &str| {
        read(
            &layout
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
    };
    let mut top: serde_json::Value =
        serde_json::from_slice(&read(&layout.join("index.json"))).unwrap();
    let base = top["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "base")
        .unwrap()
        .clone();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&blob(base["digest"].as_str().unwrap())).unwrap();
    for layer in manifest["layers"].as_array_mut().unwrap() {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(blob(layer["digest"].as_str().unwrap()).as_slice()),
            &mut plain,
        )
        .unwrap();
        let mut z = Vec::new();
        ruzstd::encoding::compress(
            plain.as_slice(),
            &mut z,
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let h = hex(&z);
        write(&layout.join("blobs/sha256").join(&h), &z);
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+zstd".into();
        layer["digest"] = format!("sha256:{h}").into();
        layer["size"] = z.len().into();
    }
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let h = hex(&bytes);
    write(&layout.join("blobs/sha256").join(&h), &bytes);
    top["manifests"].as_array_mut().unwrap().push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{h}"), "size": bytes.len(),
        "annotations": {"org.opencontainers.image.ref.name": "zstd"}}));
    write(
        &layout.join("index.json"),
        serde_json::to_vec(&top).unwrap(),
    );
}

#[test]
fn an_image_rootfs_in_either_media_type_family_is_flattened_with_its_whiteouts() {
    let reg = common::registry::Registry::start(common::registry::Kind::Open);
    let w = World::new();
    let layout = umoci_image(&w.dir("img"));
    add_index(&layout);
    add_zstd(&layout);
    let src = |tag: &str| format!("oci:{}:{tag}", layout.display());
    let dst = |tag: &str| format!("docker://{}/img:{tag}", reg.addr);
    let skopeo = common::registry::skopeo;
    skopeo(&["copy", "--dest-tls-verify=false", &src("base"), &dst("oci")]);
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &src("index"),
        &dst("index"),
    ]);
    skopeo(&[
        "copy",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        &src("base"),
        &dst("docker"),
    ]);
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &dst("docker")]);
    assert!(
        text(&raw).contains("application/vnd.docker.image.rootfs.diff.tar.gzip"),
        "{}",
        text(&raw)
    );

    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &src("zstd"),
        &dst("zstd"),
    ]);
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &dst("zstd")]);
    assert!(text(&raw).contains("tar+zstd"), "{}", text(&raw));
    let mut initrds = Vec::new();
    for tag in ["oci", "index", "docker", "zstd"] {
        let p = project_with_rootfs(
            &w,
            &format!("from-{tag}"),
            &format!("{}/img:{tag}", reg.addr),
        );
        write(
            &p.join("Kraftfile"),
            format!(
                "spec: v0.6\nname: demo\nruntime: kernel://k\nrootfs: {}/img:{tag}\ntargets:\n  - qemu/x86_64\n",
                reg.addr
            ),
        );
        let (code, _, err) = build_json(&w, &p, &[]);
        assert_eq!(code, 0, "{tag}: {err}");
        let cpio = parse_cpio(&read(&initramfs(&p, "x86_64")));
        let names = cpio.names();
        assert!(
            names.contains(&"etc/motd")
                && names.contains(&"etc/added")
                && names.contains(&"bin/alias"),
            "{tag}: {names:?}"
        );
        assert!(
            !names.contains(&"etc/gone"),
            "{tag}: the whiteout deletes it: {names:?}"
        );
        assert_eq!(cpio.get("etc/motd").data, b"from an image\n");
        initrds.push(read(&initramfs(&p, "x86_64")));
    }
    assert!(
        initrds.windows(2).all(|x| x[0] == x[1]),
        "the same filesystem from every family gives the same initrd"
    );

    // Kraftfile.lock pins the image; --locked holds to it.
    let p = w.dir("from-oci");
    let lock = text(&read(&p.join("Kraftfile.lock")));
    assert!(
        lock.contains("[[image]]") && lock.contains("target = \"rootfs (x86_64)\""),
        "{lock}"
    );
    let (code, _, err) = build_json(&w, &p, &["--locked"]);
    assert_eq!(code, 0, "{err}");
    let q = project_with_rootfs(&w, "unpinned", &format!("{}/img:oci", reg.addr));
    let (code, _, err) = build_json(&w, &q, &["--locked"]);
    assert_ne!(code, 0);
    assert!(err.contains("does not pin the image"), "{err}");
    // Offline, what was pulled is used; a tag never pulled is unresolved.
    let (code, _, err) = build_json(&w, &p, &["--offline"]);
    assert_eq!(code, 0, "{err}");
    let q = project_with_rootfs(&w, "never", &format!("{}/img:never", reg.addr));
    let (code, _, err) = build_json(&w, &q, &["--offline"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has not pulled this image"), "{err}");
}
