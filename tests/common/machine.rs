//! A developer machine for the remote-cache tests: its own cache, HOME and checkout path of
//! a kernel project on the test kernel, with `make` logged; and what a build document says
//! the remote cache did for each action step.

use std::path::PathBuf;

use serde_json::Value;

use super::*;

/// The action steps of a kernel build of the test kernel.
pub const ACTIONS: [&str; 4] = [
    "initrd",
    "qemu-x86_64/kconfig",
    "qemu-x86_64/fetch",
    "qemu-x86_64/compile",
];

/// One developer machine: its own cache, HOME and checkout path; `make` runs are logged.
pub struct Machine {
    pub w: World,
    pub home: tempfile::TempDir,
    pub shims: tempfile::TempDir,
    pub project: PathBuf,
}

impl Machine {
    pub fn new(name: &str) -> Machine {
        let w = World::new();
        let project = kernel_project(&w, name, "");
        let shims = tempfile::tempdir().unwrap();
        let log = shims.path().join("make-calls");
        write(
            &shims.path().join("make"),
            format!(
                "#!/bin/sh\necho \"$*\" >> {}\nexec /usr/bin/make \"$@\"\n",
                log.display()
            ),
        );
        chmod(&shims.path().join("make"), 0o755);
        Machine {
            w,
            home: tempfile::tempdir().unwrap(),
            shims,
            project,
        }
    }

    /// `PATH` with the make shim first.
    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.shims.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// A `kiln` command of this machine (its cache, HOME, PATH; no netrc but its own).
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = self.w.kiln(&self.project);
        c.env("PATH", self.path())
            .env("HOME", self.home.path())
            .env_remove("NETRC");
        c
    }

    /// `kiln build -o json ARGS` started in the background, with `env` set.
    pub fn spawn(&self, args: &[&str], env: &[(&str, String)]) -> std::process::Child {
        let mut c = kiln_std(self.w.cache_dir(), &self.project);
        c.env("PATH", self.path())
            .env("HOME", self.home.path())
            .env_remove("NETRC");
        c.env_remove("KILN_BUILDKIT_HOST")
            .env_remove("RUST_BACKTRACE");
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(["build", "-o", "json"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start kiln")
    }

    /// `kiln build -o json --remote-cache URL`, calling `stop` (which stops the server) while
    /// the build is paused right before the compile: (success, document, stderr).
    pub fn build_while_stopping(&self, url: &str, stop: impl FnOnce()) -> (bool, Value, String) {
        let pause = tempfile::tempdir().unwrap();
        let hook = format!("qemu-x86_64/compile:{}", pause.path().display());
        let child = self.spawn(
            &["--remote-cache", url],
            &[("KILN_TEST_PAUSE_BEFORE", hook)],
        );
        wait_for_file(&pause.path().join("paused"));
        stop();
        write(&pause.path().join("resume"), "");
        let out = child.wait_with_output().unwrap();
        let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.success(), doc, text(&out.stderr))
    }

    /// `kiln build -o json --explain ARGS`: (exit code, document, stderr).
    pub fn build(&self, args: &[&str]) -> (i32, Value, String) {
        let mut all = vec!["--explain"];
        all.extend_from_slice(args);
        build_json_with(self.cmd(), &all)
    }

    pub fn ok(&self, args: &[&str]) -> (Value, String) {
        let (code, doc, err) = self.build(args);
        assert_eq!(code, 0, "kiln build failed:\n{err}");
        (doc, err)
    }

    /// Runs of make that build (`make --version`, the tool fingerprint, is not one).
    pub fn make_runs(&self) -> usize {
        std::fs::read_to_string(self.shims.path().join("make-calls"))
            .unwrap_or_default()
            .lines()
            .filter(|l| *l != "--version")
            .count()
    }

    pub fn kernel(&self) -> Vec<u8> {
        read(&self.project.join(".unikraft/build/hello_qemu-x86_64"))
    }

    pub fn initrd(&self) -> Vec<u8> {
        read(&initramfs(&self.project, "x86_64"))
    }
}

pub fn remote_of(doc: &Value, id: &str) -> String {
    step(doc, id)["remote"].as_str().unwrap_or("").to_string()
}

pub fn remotes(doc: &Value) -> Vec<(String, String)> {
    ACTIONS
        .iter()
        .map(|id| (id.to_string(), remote_of(doc, id)))
        .collect()
}

pub fn all(word: &str) -> Vec<(String, String)> {
    ACTIONS
        .iter()
        .map(|id| (id.to_string(), word.to_string()))
        .collect()
}

/// Every blob of the local cache is intact (`kiln cache verify`).
pub fn assert_local_cache_clean(m: &Machine) {
    let report = verify_report(&m.w, &m.project);
    assert_eq!(report["blobs_removed"], serde_json::json!([]), "{report:#}");
    assert_eq!(
        report["actions_removed"],
        serde_json::json!([]),
        "{report:#}"
    );
}

/// Two machines build the same project at once against the cache at `url` (both succeed,
/// with the same kernel); then a third takes every step from it and never runs make.
pub fn two_at_once_then_a_third(url: &str) {
    let (a, b) = (Machine::new("one"), Machine::new("two"));
    let args = ["--remote-cache", url];
    let (ca, cb) = (a.spawn(&args, &[]), b.spawn(&args, &[]));
    for out in [
        ca.wait_with_output().unwrap(),
        cb.wait_with_output().unwrap(),
    ] {
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert!(a.kernel() == b.kernel());
    let c = Machine::new("three");
    let (doc, _) = c.ok(&["--remote-cache", url]);
    assert_eq!(remotes(&doc), all("remote hit"));
    assert!(c.kernel() == a.kernel());
    assert_eq!(c.make_runs(), 0);
}
