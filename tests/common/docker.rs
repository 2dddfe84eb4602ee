//! Helpers for the Dockerfile tests: buildah (the reference builder, with a private vfs
//! storage), base images the tests make and push to a loopback registry, and listings of a
//! filesystem (kind, permission bits, content, symlink target) to compare kiln's rootfs
//! with buildah's.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Desc {
    /// A directory and its permission bits.
    Dir(u32),
    /// A regular file, its permission bits and content.
    File(u32, Vec<u8>),
    /// A symlink's target.
    Symlink(String),
}

/// A filesystem by path ("a/b", no leading slash, no root entry).
pub type Listing = BTreeMap<String, Desc>;

/// A buildah with its own storage, removed with it.
pub struct Buildah {
    pub storage: tempfile::TempDir,
}

impl Buildah {
    pub fn new() -> Buildah {
        Buildah {
            storage: tempfile::tempdir().expect("buildah storage"),
        }
    }

    /// `buildah ARGS` with this storage; fails the test on a non-zero exit.
    pub fn run(&self, args: &[&str], cwd: &Path) -> String {
        let s = self.storage.path();
        let out = Command::new("buildah")
            .arg("--root")
            .arg(s.join("root"))
            .arg("--runroot")
            .arg(s.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .current_dir(cwd)
            .output()
            .expect("buildah is installed (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "buildah {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `buildah bud` of `dockerfile` with `context`, its final filesystem listed.
    pub fn bud_listing(&self, context: &Path, dockerfile: &Path, extra: &[&str]) -> Listing {
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("fs");
        let output = format!("type=local,dest={}", dest.display());
        let mut args = vec![
            "bud",
            "--isolation",
            "chroot",
            "--tls-verify=false",
            "--output",
            &output,
            "-f",
            dockerfile.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(context.to_str().unwrap());
        self.run(&args, context);
        listing(&dest)
    }

    /// Builds `FROM scratch` + `COPY fs/ /` (+ `ENV PATH`) and pushes it as `reference` to a
    /// loopback registry in `format` (`oci` or `docker`), with `push_flags` (compression).
    pub fn push_image(&self, fs: &Path, reference: &str, format: &str, push_flags: &[&str]) {
        let ctx = fs.parent().unwrap();
        let name = fs.file_name().unwrap().to_str().unwrap();
        let file = ctx.join(format!("{name}.Dockerfile"));
        std::fs::write(
            &file,
            format!("FROM scratch\nCOPY {name}/ /\nENV PATH=/bin:/usr/bin\n"),
        )
        .unwrap();
        let tag = format!("localhost/kiln-test-{name}:{format}");
        self.run(
            &[
                "bud",
                "--isolation",
                "chroot",
                "--format",
                format,
                "-t",
                &tag,
                "-f",
                file.to_str().unwrap(),
                ctx.to_str().unwrap(),
            ],
            ctx,
        );
        let dest = format!("docker://{reference}");
        let mut args = vec!["push", "--tls-verify=false", "--format", format];
        args.extend_from_slice(push_flags);
        args.extend([tag.as_str(), dest.as_str()]);
        self.run(&args, ctx);
    }
}

/// A base image's filesystem: static busybox with its applet links, the host's libc and
/// libm with their soname links (as Debian lays them out), a few files, a FIFO-free /dev.
pub fn base_fs(dir: &Path) {
    let w = |p: &str, s: &str| {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, s).unwrap();
    };
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).expect("busybox-static is installed");
    for applet in ["sh", "mkdir", "cp", "ln", "echo", "cat", "rm", "ls"] {
        symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    let lib = dir.join("usr/lib/x86_64-linux-gnu");
    std::fs::create_dir_all(&lib).unwrap();
    for (real, soname) in [("libc.so.6", "libc.so.6"), ("libm.so.6", "libm.so.6")] {
        let host = std::fs::canonicalize(Path::new("/lib/x86_64-linux-gnu").join(soname)).unwrap();
        std::fs::copy(&host, lib.join(format!("{real}.real"))).unwrap();
        symlink(format!("{real}.real"), lib.join(soname)).unwrap();
    }
    symlink("usr/lib", dir.join("lib")).unwrap();
    w("etc/os-release", "ID=kiln-test\n");
    w("usr/share/doc/base/README", "a test base image\n");
    w("etc/ssl/certs/ca.pem", "-----BEGIN CERTIFICATE-----\n");
}

/// The listing of the directory `root`.
pub fn listing(root: &Path) -> Listing {
    let mut out = Listing::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Listing) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let mode = meta.mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let t = std::fs::read_link(&p).unwrap();
            out.insert(rel, Desc::Symlink(t.to_str().unwrap().to_string()));
        } else if meta.is_dir() {
            out.insert(rel, Desc::Dir(mode));
            walk(root, &p, out);
        } else {
            out.insert(rel, Desc::File(mode, std::fs::read(&p).unwrap()));
        }
    }
}

/// The listing of a newc archive (kiln's initrd).
pub fn cpio_listing(bytes: &[u8]) -> Listing {
    let mut out = Listing::new();
    for e in super::parse_cpio(bytes).entries {
        let name = e.name.trim_start_matches("./").to_string();
        if name.is_empty() || name == "." {
            continue;
        }
        let perm = e.mode & 0o7777;
        let d = match e.mode & 0o170000 {
            0o040000 => Desc::Dir(perm),
            0o120000 => Desc::Symlink(String::from_utf8(e.data).unwrap()),
            _ => Desc::File(perm, e.data),
        };
        out.insert(name, d);
    }
    out
}

/// What differs between two listings, for an assertion message ("" when equal).
pub fn diff(kiln: &Listing, buildah: &Listing) -> String {
    let mut out = String::new();
    for (p, d) in kiln {
        match buildah.get(p) {
            None => out += &format!("only kiln has {p}\n"),
            Some(b) if b != d => out += &format!("{p}: kiln {} buildah {}\n", show(d), show(b)),
            _ => {}
        }
    }
    for p in buildah.keys().filter(|p| !kiln.contains_key(*p)) {
        out += &format!("only buildah has {p}\n");
    }
    out
}

fn show(d: &Desc) -> String {
    match d {
        Desc::Dir(m) => format!("dir {m:o}"),
        Desc::File(m, c) => format!("file {m:o} {} bytes", c.len()),
        Desc::Symlink(t) => format!("-> {t}"),
    }
}

/// Whether buildah is on PATH.
pub fn has_buildah() -> bool {
    Command::new("buildah").arg("--version").output().is_ok()
}

/// A PATH without buildah (for "RUN with no builder").
pub fn path_without_buildah(scratch: &Path) -> PathBuf {
    let bin = scratch.join("nobuildah-bin");
    std::fs::create_dir_all(&bin).unwrap();
    bin
}

/// Pushes `dir` as a one-layer image with an *uncompressed* layer
/// (`application/vnd.oci.image.layer.v1.tar`) to the registry at `addr` as `repo:tag`, with
/// curl and the registry API itself: neither buildah 1.28 nor skopeo 1.9 pushes one.
pub fn push_uncompressed(addr: &str, repo: &str, tag: &str, dir: &Path) {
    use sha2::Digest as _;
    let work = tempfile::tempdir().unwrap();
    let layer = work.path().join("layer.tar");
    let ok = Command::new("tar")
        .args(["--sort=name", "--owner=0", "--group=0", "-cf"])
        .arg(&layer)
        .arg("-C")
        .arg(dir)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());
    let hex = |b: &[u8]| -> String {
        sha2::Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    let layer_bytes = std::fs::read(&layer).unwrap();
    let layer_digest = format!("sha256:{}", hex(&layer_bytes));
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    })
    .to_string();
    let config_file = work.path().join("config.json");
    std::fs::write(&config_file, &config).unwrap();
    let config_digest = format!("sha256:{}", hex(config.as_bytes()));
    for (file, digest) in [(&layer, &layer_digest), (&config_file, &config_digest)] {
        let out = Command::new("curl")
            .args(["-sf", "-X", "POST", "-D", "-", "-o", "/dev/null"])
            .arg(format!("http://{addr}/v2/{repo}/blobs/uploads/"))
            .output()
            .expect("curl is installed");
        let headers = String::from_utf8_lossy(&out.stdout).into_owned();
        let location = headers
            .lines()
            .find_map(|l| {
                l.strip_prefix("Location: ")
                    .or_else(|| l.strip_prefix("location: "))
            })
            .unwrap_or_else(|| panic!("no upload location: {headers}"))
            .trim()
            .to_string();
        let sep = if location.contains('?') { '&' } else { '?' };
        let ok = Command::new("curl")
            .args([
                "-sf",
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/octet-stream",
            ])
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!("{location}{sep}digest={digest}"))
            .status()
            .unwrap();
        assert!(ok.success(), "blob upload of {digest}");
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_bytes.len()}],
    })
    .to_string();
    let ok = Command::new("curl")
        .args(["-sf", "-X", "PUT", "-H"])
        .arg("Content-Type: application/vnd.oci.image.manifest.v1+json")
        .arg("--data-binary")
        .arg(&manifest)
        .arg(format!("http://{addr}/v2/{repo}/manifests/{tag}"))
        .status()
        .unwrap();
    assert!(ok.success(), "manifest upload");
}
