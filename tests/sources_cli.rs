//! Kernel sources end to end: the core comes from a git repository (made on the fly and
//! reached through a `[mirrors]` rewrite of the GitHub URL, as a team's internal mirror would
//! be), `stable` resolves to the newest RELEASE tag, Kraftfile.lock pins it, `--locked` and
//! `kiln lock --update` behave, `--offline` works from the cache and fails clearly without
//! it, and `--source` redirects the core to a local directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Std;

use common::*;
use serde_json::Value;

fn git(dir: &Path, args: &[&str]) {
    let out = Std::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=kiln",
            "-c",
            "user.email=kiln@example.invalid",
        ])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

/// A git repository holding the test kernel, released as RELEASE-0.1.0 and RELEASE-0.2.0
/// (each release changes the banner's greeting default, so boots tell them apart).
fn core_repo(w: &World) -> PathBuf {
    let repo = w.dir("core.git-src");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testkernel");
    let out = Std::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(&repo)
        .output();
    assert!(out.expect("cp").status.success());
    git(&repo, &["init", "-q", "-b", "main"]);
    release(&repo, "0.1.0");
    release(&repo, "0.2.0");
    repo
}

/// Commits a change that makes the kernel's default greeting `release V`, tagged RELEASE-V.
fn release(repo: &Path, v: &str) {
    let defaults = repo.join("Config.defaults");
    let text = std::fs::read_to_string(&defaults).expect("Config.defaults");
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("CONFIG_APP_GREETING"))
        .collect();
    write(
        &defaults,
        format!("{}\nCONFIG_APP_GREETING=\"release {v}\"\n", kept.join("\n")),
    );
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", &format!("release {v}")]);
    git(repo, &["tag", &format!("RELEASE-{v}")]);
}

struct Setup {
    w: World,
    repo: PathBuf,
    project: PathBuf,
    config: PathBuf,
}

fn setup() -> Setup {
    let w = World::new();
    let repo = core_repo(&w);
    let config = w.dir("cfg").join("config.toml");
    write(
        &config,
        format!(
            "[mirrors]\n\"https://github.com/unikraft/unikraft.git\" = \"file://{}\"\n",
            repo.display()
        ),
    );
    let project = w.dir("app");
    write(
        &project.join("Kraftfile"),
        "spec: v0.6\nname: hello\nunikraft: stable\ntargets:\n  - qemu/x86_64\n",
    );
    let main = Path::new(env!("CARGO_MANIFEST_DIR")).join("testkernel/example-app/main.c");
    write(
        &project.join("main.c"),
        std::fs::read(main).expect("example app"),
    );
    Setup {
        w,
        repo,
        project,
        config,
    }
}

impl Setup {
    fn kiln(&self, args: &[&str]) -> (i32, String, String) {
        let out = self
            .w
            .kiln(&self.project)
            .env("KILN_CONFIG", &self.config)
            .args(args)
            .output()
            .expect("run kiln");
        (
            out.status.code().unwrap_or(-1),
            text(&out.stdout),
            text(&out.stderr),
        )
    }
    fn ok(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let (code, out, err) = self.kiln(&all);
        assert_eq!(code, 0, "kiln {args:?}:\n{err}");
        serde_json::from_str(&out).unwrap_or(Value::Null)
    }
    fn lock(&self) -> String {
        std::fs::read_to_string(self.project.join("Kraftfile.lock")).unwrap_or_default()
    }
    fn commit_of(&self, tag: &str) -> String {
        let out = Std::new("git")
            .current_dir(&self.repo)
            .args(["rev-parse", tag])
            .output();
        text(&out.expect("git").stdout).trim().to_string()
    }
    fn greeting(&self) -> String {
        self.serial_line("app: greeting: ")
    }
    fn serial_line(&self, prefix: &str) -> String {
        let k = self.project.join(".unikraft/build/hello_qemu-x86_64");
        let (_, serial) = boot_x86(&k, None, "");
        serial
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or("")
            .to_string()
    }
}

#[test]
fn stable_resolves_through_a_mirror_and_the_lock_pins_it() {
    let s = setup();
    let doc = s.ok(&["build"]);
    assert_eq!(step(&doc, "qemu-x86_64/compile")["status"], "ran");
    assert_eq!(s.greeting(), "release 0.2.0");
    // A git core's kernel embeds the locked commit, as Unikraft's gitsha1 would in a clean
    // checkout of it.
    let commit = s.commit_of("RELEASE-0.2.0");
    assert_eq!(
        s.serial_line("version: "),
        format!("0.17.0~{}", &commit[..7])
    );
    let lock = s.lock();
    assert!(
        lock.contains(&format!("commit = \"{}\"", s.commit_of("RELEASE-0.2.0"))),
        "{lock}"
    );
    assert!(
        lock.contains("url = \"https://github.com/unikraft/unikraft.git\""),
        "{lock}"
    );
    assert!(lock.contains("version = \"stable\""), "{lock}");

    // A newer release does not move a locked build, online or offline.
    release(&s.repo, "0.3.0");
    let doc = s.ok(&["build", "--locked"]);
    assert_eq!(step(&doc, "qemu-x86_64/compile")["status"], "up-to-date");
    s.ok(&["build", "--locked", "--offline"]);
    assert_eq!(s.lock(), lock, "an up-to-date lock is not rewritten");

    // `kiln lock --update` moves it; the next build compiles the new release.
    let (code, _, err) = s.kiln(&["lock", "--update"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("unikraft: commit "), "{err}");
    assert!(s.lock().contains(&s.commit_of("RELEASE-0.3.0")));
    let doc = s.ok(&["build", "--locked"]);
    assert_eq!(step(&doc, "qemu-x86_64/compile")["status"], "ran");
    assert_eq!(s.greeting(), "release 0.3.0");
}

#[test]
fn locked_fails_when_the_lock_would_change() {
    let s = setup();
    let (code, _, err) = s.kiln(&["build", "--locked"]);
    assert_eq!(code, 1, "no lock file yet: {err}");
    assert!(err.contains("unikraft"), "{err}");
    s.ok(&["build"]);
    let kf = std::fs::read_to_string(s.project.join("Kraftfile")).expect("Kraftfile");
    write(
        &s.project.join("Kraftfile"),
        kf.replace("unikraft: stable", "unikraft: RELEASE-0.1.0"),
    );
    let (code, _, err) = s.kiln(&["build", "--locked"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unikraft"), "{err}");
    // Without --locked the build follows the Kraftfile and rewrites the lock.
    s.ok(&["build"]);
    assert!(s.lock().contains(&s.commit_of("RELEASE-0.1.0")));
    assert_eq!(s.greeting(), "release 0.1.0");
}

#[test]
fn offline_works_from_the_cache_and_fails_clearly_without_it() {
    let s = setup();
    let (code, _, err) = s.kiln(&["build", "--offline"]);
    assert_eq!(code, 2, "an unresolved input: {err}");
    assert!(err.contains("unresolved sources/unikraft"), "{err}");
    assert!(err.contains("--offline"), "{err}");
    assert!(err.contains("--source unikraft=PATH"), "{err}");
    s.ok(&["build"]);
    // The repository is gone, but the cache holds the pinned commit's checkout.
    std::fs::remove_dir_all(&s.repo).expect("rm repo");
    std::fs::remove_dir_all(s.project.join(".unikraft")).expect("rm state");
    let doc = s.ok(&["build", "--offline"]);
    assert_eq!(step(&doc, "qemu-x86_64/compile")["status"], "cached");
}

#[test]
fn source_redirects_the_core_to_a_local_directory() {
    let s = setup();
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("testkernel");
    let arg = format!("unikraft={}", local.display());
    s.ok(&["build", "--offline", "--source", &arg]);
    assert_eq!(
        s.greeting(),
        "(CONFIG_APP_GREETING not set)",
        "built from the local tree"
    );
    assert_eq!(
        s.lock(),
        "",
        "a --source override is never written into the lock"
    );
    let (code, _, err) = s.kiln(&["build", "--source", "unikarft=/tmp"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did you mean `unikraft`?"), "{err}");
}
