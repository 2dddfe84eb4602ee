//! Shared helpers for the end-to-end tests of the `kiln` binary: a command builder with a
//! private cache and a fixed `SOURCE_DATE_EPOCH`, project and rootfs writers, a newc reader
//! (through the `cpio` crate), file-system snapshots, JSON helpers and golden files.
//!
//! Each test target uses only some of these, hence the `dead_code` allowance.

#![allow(dead_code)]

pub mod buildgrid;
pub mod docker;
pub mod icecc;
pub mod machine;
pub mod nginx;
pub mod registry;

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// The `SOURCE_DATE_EPOCH` every test builds with (2023-11-14T22:13:20Z).
pub const EPOCH: u32 = 1_700_000_000;

/// A runtime Kraftfile with a `rootfs: ./rootfs` and no `targets:`.
pub const RUNTIME_KRAFTFILE: &str =
    "spec: v0.6\nname: demo\nruntime: base:latest\nrootfs: ./rootfs\n";

/// A runtime Kraftfile with the targets `qemu/x86_64` and `fc/arm64`.
pub const RUNTIME_TWO_TARGETS: &str = "spec: v0.6\nname: demo\nruntime: base:latest\nrootfs: ./rootfs\ntargets:\n  - qemu/x86_64\n  - fc/arm64\n";

/// A test's world: a private cache directory and a scratch directory for projects.
pub struct World {
    /// `KILN_CACHE_DIR`.
    pub cache: TempDir,
    /// Where projects go.
    pub scratch: TempDir,
}

impl World {
    /// A fresh cache and scratch directory.
    pub fn new() -> World {
        World {
            cache: tempfile::tempdir().expect("cache tempdir"),
            scratch: tempfile::tempdir().expect("scratch tempdir"),
        }
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        self.cache.path()
    }

    /// `<scratch>/<name>`, created.
    pub fn dir(&self, name: &str) -> PathBuf {
        let d = self.scratch.path().join(name);
        std::fs::create_dir_all(&d).expect("create project dir");
        d
    }

    /// A `kiln` command using this world's cache, `SOURCE_DATE_EPOCH` = [`EPOCH`], run in `cwd`.
    pub fn kiln(&self, cwd: &Path) -> Command {
        kiln_cmd(self.cache_dir(), cwd)
    }

    /// A project directory `name` with `kraftfile` as its Kraftfile and the standard rootfs.
    pub fn runtime_project(&self, name: &str, kraftfile: &str) -> PathBuf {
        let d = self.dir(name);
        write(&d.join("Kraftfile"), kraftfile);
        standard_rootfs(&d.join("rootfs"));
        d
    }
}

/// A `kiln` command with `KILN_CACHE_DIR=cache` and `SOURCE_DATE_EPOCH=EPOCH`, in `cwd`,
/// with every other variable kiln reads removed.
pub fn kiln_cmd(cache: &Path, cwd: &Path) -> Command {
    let mut c = Command::cargo_bin("kiln").expect("the kiln binary");
    c.current_dir(cwd)
        .env("KILN_CACHE_DIR", cache)
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        // The change-watching daemon has its own tests (watch_cli.rs); elsewhere every build
        // scans, so results do not depend on whether a daemon happens to run.
        .env("KILN_WATCH", "0")
        // Tests never reach the network: git may only use local repositories.
        .env("GIT_ALLOW_PROTOCOL", "file")
        .env_remove("KILN_CONFIG")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("KILN_BLESS")
        .env_remove("KILN_BUILDKIT_HOST")
        .env_remove("KILN_REMOTE_CACHE")
        .env_remove("RUST_BACKTRACE");
    c
}

/// The same, as a `std::process::Command` (for starting several at once).
pub fn kiln_std(cache: &Path, cwd: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("kiln"));
    c.current_dir(cwd)
        .env("KILN_CACHE_DIR", cache)
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .env("KILN_WATCH", "0")
        .env("GIT_ALLOW_PROTOCOL", "file")
        .env_remove("KILN_CONFIG")
        .env_remove("KILN_REMOTE_CACHE")
        .env_remove("XDG_CACHE_HOME");
    c
}

/// The SHA-256 of `bytes`, lowercase hex (the digests of OCI blobs and SHA-256 remote caches).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `text` to `path`, creating parent directories.
pub fn write(path: &Path, text: impl AsRef<[u8]>) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("create parent");
    }
    std::fs::write(path, text).expect("write file");
}

/// Sets the permission bits of `path`.
pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, PermissionsExt::from_mode(mode)).expect("chmod");
}

/// The standard rootfs of these tests:
///
/// ```text
/// bin/                      dir
/// bin/hello                 0755, "#!/bin/sh\necho hello\n"
/// bin/motd-link -> ../etc/motd
/// etc/                      dir
/// etc/hostname              "kiln\n"
/// etc/hostname.hard         hard link to etc/hostname
/// etc/motd                  "welcome to kiln\n"
/// var/                      dir
/// var/empty/                empty dir
/// ```
pub fn standard_rootfs(root: &Path) {
    write(&root.join("bin/hello"), "#!/bin/sh\necho hello\n");
    chmod(&root.join("bin/hello"), 0o755);
    write(&root.join("etc/motd"), "welcome to kiln\n");
    write(&root.join("etc/hostname"), "kiln\n");
    std::fs::hard_link(root.join("etc/hostname"), root.join("etc/hostname.hard"))
        .expect("hard link");
    symlink("../etc/motd", root.join("bin/motd-link")).expect("symlink");
    std::fs::create_dir_all(root.join("var/empty")).expect("mkdir");
}

/// The bytes of `path`.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Where kiln materializes the initrd of `arch` in `project`.
pub fn initramfs(project: &Path, arch: &str) -> PathBuf {
    project.join(format!(".unikraft/build/initramfs-{arch}.cpio"))
}

/// One entry of a newc archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpioEntry {
    pub name: String,
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub data: Vec<u8>,
}

/// A parsed newc archive.
#[derive(Debug)]
pub struct Cpio {
    /// The entries before the trailer.
    pub entries: Vec<CpioEntry>,
    /// Whether a `TRAILER!!!` entry ended the archive.
    pub trailer: bool,
    /// Bytes after the trailer (must all be NUL padding, if any).
    pub after_trailer: Vec<u8>,
}

impl Cpio {
    /// The entry named `name`.
    pub fn get(&self, name: &str) -> &CpioEntry {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no entry {name:?} in {:?}", self.names()))
    }

    /// The entry names in archive order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }
}

/// Parses a newc archive with the `cpio` crate.
pub fn parse_cpio(bytes: &[u8]) -> Cpio {
    let mut cur = Cursor::new(bytes);
    let mut entries = Vec::new();
    let mut trailer = false;
    while (cur.position() as usize) < bytes.len() {
        let mut r = cpio::NewcReader::new(cur).expect("a newc header");
        let e = r.entry();
        if e.is_trailer() {
            trailer = true;
            cur = r.finish().expect("finish trailer");
            break;
        }
        let mut entry = CpioEntry {
            name: e.name().to_string(),
            ino: e.ino(),
            mode: e.mode(),
            uid: e.uid(),
            gid: e.gid(),
            nlink: e.nlink(),
            mtime: e.mtime(),
            data: Vec::new(),
        };
        r.read_to_end(&mut entry.data).expect("entry data");
        entries.push(entry);
        cur = r.finish().expect("finish entry");
    }
    let rest = bytes[cur.position() as usize..].to_vec();
    Cpio {
        entries,
        trailer,
        after_trailer: rest,
    }
}

/// What a snapshot records of one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub kind: &'static str,
    pub size: u64,
    pub mtime_ns: i128,
    pub ino: u64,
}

/// (path, kind, size, mtime_ns, inode) of every file, symlink and directory under `root`,
/// `root` included (as "").
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Stat> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).expect("stat");
        let kind = if m.is_dir() {
            "dir"
        } else if m.file_type().is_symlink() {
            "symlink"
        } else {
            "file"
        };
        out.insert(
            p.strip_prefix(root).expect("under root").to_path_buf(),
            Stat {
                kind,
                size: m.size(),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
                ino: m.ino(),
            },
        );
        if m.is_dir() {
            for e in std::fs::read_dir(&p).expect("read_dir") {
                stack.push(e.expect("dir entry").path());
            }
        }
    }
    out
}

/// Every regular file under `root` (recursively).
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    snapshot(root)
        .into_iter()
        .filter(|(_, s)| s.kind == "file")
        .map(|(p, _)| root.join(p))
        .collect()
}

/// Parses stdout as JSON.
pub fn json(stdout: &[u8]) -> Value {
    serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(stdout)
        )
    })
}

/// The steps of the first target of a build/plan JSON document.
pub fn steps(doc: &Value) -> &Vec<Value> {
    doc["targets"][0]["steps"]
        .as_array()
        .expect("targets[0].steps")
}

/// The step `id`, from whichever target lists it first.
pub fn step<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["steps"].as_array().into_iter().flatten())
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {doc:#}"))
}

/// `(id, status)` of every step of the first target.
pub fn statuses(doc: &Value) -> Vec<(String, String)> {
    steps(doc)
        .iter()
        .map(|s| {
            (
                s["id"].as_str().expect("id").to_string(),
                s["status"].as_str().expect("status").to_string(),
            )
        })
        .collect()
}

/// Stdout or stderr as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// Replaces what varies between runs in `--explain` stderr: the `[  0.01s]` prefixes, the
/// `(0.01s)` durations, hex digests (64 → `<DIGEST>`, 12 → `<D12>`) and `project`'s path.
pub fn normalize_explain(stderr: &str, project: &Path) -> String {
    let stderr = stderr.replace(&project.display().to_string(), "<PROJECT>");
    let mut out = String::new();
    for line in stderr.lines() {
        let mut line = line.to_string();
        if line.starts_with('[')
            && let Some(end) = line.find("s] ")
            && is_seconds(&line[1..end])
        {
            line = format!("[  T.TTs]{}", &line[end + 2..]);
        }
        if let Some(open) = line.rfind(" (")
            && line.ends_with("s)")
            && is_seconds(&line[open + 2..line.len() - 2])
        {
            line = format!("{} (T.TTs)", &line[..open]);
        }
        out.push_str(&replace_hex(&line));
        out.push('\n');
    }
    out
}

fn is_seconds(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.') && s.contains('.')
}

fn replace_hex(line: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex = word
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
        let has_digit = word.chars().any(|c| c.is_ascii_digit());
        match word.len() {
            64 if hex => out.push_str("<DIGEST>"),
            12 if hex && has_digit => out.push_str("<D12>"),
            _ => out.push_str(word),
        }
        word.clear();
    };
    for c in line.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Compares `actual` with `tests/golden/<name>`; with `KILN_BLESS=1`, rewrites the file.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("KILN_BLESS").is_some_and(|v| v == "1") {
        write(&path, actual);
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with KILN_BLESS=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        want,
        "output differs from {} (run with KILN_BLESS=1 to update it, then review the diff)",
        path.display()
    );
}

/// The GNU cpio binary the tests compare against; fails the test when it is absent.
pub fn gnu_cpio() -> PathBuf {
    let p = PathBuf::from("/usr/bin/cpio");
    assert!(
        p.exists(),
        "/usr/bin/cpio is missing: install GNU cpio (apt-get install cpio; scripts/test.sh does it)"
    );
    p
}

/// Runs a shell command line in `cwd` and returns its stdout; fails on a non-zero exit.
pub fn sh(cwd: &Path, script: &str) -> Vec<u8> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Waits until files written just now are older than the stat cache's racy window (100 ms),
/// so the next build can remember them. A build right after a file is written hashes it
/// again next time by design (a change within the same timestamp tick would not show in its
/// stat), and that later build then writes the stat cache: a no-op is only file-free once
/// the sources have settled.
pub fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(250));
}

/// Boots `kernel` (x86_64) under TCG; returns the exit code and the serial output.
pub fn boot_x86(kernel: &Path, initrd: Option<&Path>, append: &str) -> (i32, String) {
    let mut cmd = std::process::Command::new("timeout");
    cmd.args([
        "30",
        "qemu-system-x86_64",
        "-accel",
        "tcg",
        "-cpu",
        "max",
        "-m",
        "64M",
    ]);
    cmd.args([
        "-display",
        "none",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-no-reboot",
    ]);
    cmd.args(["-device", "isa-debug-exit,iobase=0x501,iosize=2", "-kernel"])
        .arg(kernel);
    if let Some(i) = initrd {
        cmd.arg("-initrd").arg(i);
    }
    cmd.args(["-append", append]);
    let out = cmd
        .output()
        .expect("qemu-system-x86_64 is installed (scripts/test.sh installs it)");
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout).replace('\r', ""),
    )
}

/// The repository's test kernel (a stand-in Unikraft core).
pub fn testkernel_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testkernel")
}

/// A kernel project `name` (qemu/x86_64) on the test kernel, with its example app as
/// `main.c`, the standard rootfs and `extra_kconfig` lines (indented by four spaces) in the
/// core's kconfig.
pub fn kernel_project(w: &World, name: &str, extra_kconfig: &str) -> PathBuf {
    let p = w.dir(name);
    write(
        &p.join("Kraftfile"),
        format!(
            "spec: v0.6\nname: hello\nunikraft:\n  source: {}\n  kconfig:\n    \
             CONFIG_APP_GREETING: hi there\n{extra_kconfig}rootfs: ./rootfs\ntargets:\n  - qemu/x86_64\n",
            testkernel_dir().display()
        ),
    );
    write(
        &p.join("main.c"),
        read(&testkernel_dir().join("example-app/main.c")),
    );
    standard_rootfs(&p.join("rootfs"));
    p
}

/// A C file that takes gcc a while at -O2 (about 5 ms a function here), so that a compile
/// runs long enough to be watched, killed or traced.
pub fn slow_c_source(functions: usize) -> String {
    (0..functions)
        .map(|i| format!("int f{i}(int x) {{ int s = 0; for (int j = 0; j < x; j++) s += j * {i} ^ (s >> 3); return s; }}\n"))
        .collect()
}

/// Every blob file in the cache.
pub fn cache_blobs(cache: &Path) -> Vec<PathBuf> {
    files_under(&cache.join("cas"))
}

/// The blob of the cache whose bytes are `bytes`.
pub fn blob_holding(cache: &Path, bytes: &[u8]) -> PathBuf {
    cache_blobs(cache)
        .into_iter()
        .find(|b| std::fs::read(b).is_ok_and(|c| c == bytes))
        .expect("a blob with these bytes is in the cache")
}

/// Flips one byte of `path` in place (same size), as disk damage would.
pub fn flip_byte(path: &Path, offset: usize) {
    chmod(path, 0o644);
    let mut bytes = read(path);
    bytes[offset] ^= 0x55;
    std::fs::write(path, bytes).expect("write damaged blob");
    chmod(path, 0o444);
}

/// Waits (at most 60 s) until `path` exists.
pub fn wait_for_file(path: &Path) {
    let start = std::time::Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `kiln build -o json` in `p`: (exit code, document, stderr).
pub fn build_json(w: &World, p: &Path, args: &[&str]) -> (i32, Value, String) {
    build_json_with(w.kiln(p), args)
}

/// `cmd` (a `kiln` command, perhaps with its own environment) running `build -o json ARGS`:
/// (exit code, document, stderr).
pub fn build_json_with(mut cmd: Command, args: &[&str]) -> (i32, Value, String) {
    let out = cmd
        .args(["build", "-o", "json"])
        .args(args)
        .output()
        .expect("run kiln");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), doc, text(&out.stderr))
}

/// `kiln cache verify -o json` in `cwd`, which must succeed: its report.
pub fn verify_report(w: &World, cwd: &Path) -> Value {
    let out = w
        .kiln(cwd)
        .args(["cache", "verify", "-o", "json"])
        .output()
        .expect("run kiln");
    assert!(out.status.success(), "{}", text(&out.stderr));
    json(&out.stdout)
}

/// The status word of step `id` in a build or plan document.
pub fn status_of(doc: &Value, id: &str) -> String {
    step(doc, id)["status"].as_str().unwrap_or("").to_string()
}
