//! End-to-end tests of source resolution with the real `git`, against repositories made on
//! the fly in temporary directories. Nothing here can reach the network: every resolver
//! runs git with `GIT_ALLOW_PROTOCOL=file`, and one test checks that an https URL is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use kiln_engine::scan::scan_dir_skipping;
use kiln_engine::statcache::StatCache;
use kiln_rules::diag::Pos;
use kiln_rules::kraftfile::{Component, Kconfig};
use kiln_rules::sources::{
    ComponentId, Git, KilnConfig, LockFile, Origin, ResolvedSource, ResolverOptions, SourceError,
    SourceResolver,
};

/// Runs git for the fixtures, independent of any user or system config.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=kiln",
            "-c",
            "user.email=kiln@example.invalid",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgSign=false",
        ])
        .args(["-c", "tag.gpgSign=false"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "kiln")
        .env("GIT_AUTHOR_EMAIL", "kiln@example.invalid")
        .env("GIT_COMMITTER_NAME", "kiln")
        .env("GIT_COMMITTER_EMAIL", "kiln@example.invalid")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes `VERSION` = `label`, commits, and returns the commit id.
fn commit(repo: &Path, label: &str) -> String {
    std::fs::write(repo.join("VERSION"), label).unwrap();
    std::fs::create_dir_all(repo.join("lib")).unwrap();
    std::fs::write(repo.join("lib/notes"), format!("notes for {label}\n")).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", label]);
    git(repo, &["rev-parse", "HEAD"])
}

/// The commits of the upstream fixture.
struct Upstream {
    path: PathBuf,
    r0_9: String,
    r0_16: String,
    r0_17: String,
    head: String,
    staging: String,
    feature: String,
}

/// A repository with releases 0.9.0, 0.16.0 (lightweight tags) and 0.17.0 (annotated), a
/// newer `main`, a `staging` branch and a `feature` branch.
fn upstream(path: &Path) -> Upstream {
    std::fs::create_dir_all(path).unwrap();
    git(path, &["init", "-q"]);
    let r0_9 = commit(path, "0.9.0");
    git(path, &["tag", "RELEASE-0.9.0"]);
    let r0_16 = commit(path, "0.16.0");
    git(path, &["tag", "RELEASE-0.16.0"]);
    let r0_17 = commit(path, "0.17.0");
    git(path, &["tag", "-a", "-m", "release", "RELEASE-0.17.0"]);
    let head = commit(path, "main");
    git(path, &["checkout", "-q", "-b", "staging"]);
    let staging = commit(path, "staging");
    git(path, &["checkout", "-q", "-b", "feature", &r0_9]);
    let feature = commit(path, "feature");
    git(path, &["checkout", "-q", "main"]);
    Upstream {
        path: path.to_path_buf(),
        r0_9,
        r0_16,
        r0_17,
        head,
        staging,
        feature,
    }
}

fn url(p: &Path) -> String {
    format!("file://{}", p.display())
}

fn component(name: &str, source: Option<&str>, version: Option<&str>) -> Component {
    Component {
        name: name.into(),
        source: source.map(Into::into),
        version: version.map(Into::into),
        kconfig: Kconfig::default(),
        pos: Pos { line: 1, column: 1 },
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    up: Upstream,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let up = upstream(&root.join("upstream"));
        std::fs::create_dir_all(root.join("project")).unwrap();
        Fixture {
            _tmp: tmp,
            root,
            up,
        }
    }
    fn options(&self) -> ResolverOptions {
        ResolverOptions {
            cache_dir: self.root.join("cache"),
            git: Git {
                allow_protocols: Some("file".into()),
            },
            ..ResolverOptions::default()
        }
    }
    fn project(&self) -> PathBuf {
        self.root.join("project")
    }
    fn resolve(&self, r: &SourceResolver, c: &Component) -> Result<ResolvedSource, SourceError> {
        r.resolve(&ComponentId::Core, c, &self.project())
    }
    fn core(&self, version: Option<&str>) -> Component {
        component("unikraft", Some(&url(&self.up.path)), version)
    }
}

fn commit_of(r: &ResolvedSource) -> &str {
    match &r.origin {
        Origin::Git { commit, .. } => commit,
        Origin::Local => panic!("expected a git source"),
    }
}

#[test]
fn versions_resolve_to_the_right_commits() {
    let f = Fixture::new();
    let r = SourceResolver::new(f.options());
    let short = &f.up.r0_16[..10];
    let cases: [(Option<&str>, &str, &str); 8] = [
        (Some("stable"), &f.up.r0_17, "0.17.0"),
        (Some("staging"), &f.up.staging, "staging"),
        (Some("RELEASE-0.9.0"), &f.up.r0_9, "0.9.0"),
        (Some("feature"), &f.up.feature, "feature"),
        (Some(&f.up.r0_16), &f.up.r0_16, "0.16.0"),
        (Some(short), &f.up.r0_16, "0.16.0"),
        (Some("main"), &f.up.head, "main"),
        (None, &f.up.head, "main"),
    ];
    for (version, want, label) in cases {
        let got = f.resolve(&r, &f.core(version)).unwrap();
        assert_eq!(commit_of(&got), want, "{version:?}");
        assert_eq!(
            std::fs::read_to_string(got.dir.join("VERSION")).unwrap(),
            label
        );
        assert!(!got.dir.join(".git").exists());
        let (tree, _) =
            scan_dir_skipping(&got.dir, &StatCache::empty(&f.root.join("sc")), &[".git"]).unwrap();
        assert_eq!(
            got.tree,
            Some(tree.digest()),
            "the recorded tree is the scanned one"
        );
    }
    assert_eq!(
        r.git_cache().fetch_count(),
        1,
        "one fetch serves every version"
    );
}

#[test]
fn url_queries_choose_branches_and_tags() {
    let f = Fixture::new();
    let r = SourceResolver::new(f.options());
    let branch = component(
        "unikraft",
        Some(&format!("{}?branch=staging", url(&f.up.path))),
        None,
    );
    assert_eq!(commit_of(&f.resolve(&r, &branch).unwrap()), f.up.staging);
    let tag = component(
        "unikraft",
        Some(&format!("{}?tag=RELEASE-0.16.0", url(&f.up.path))),
        None,
    );
    assert_eq!(commit_of(&f.resolve(&r, &tag).unwrap()), f.up.r0_16);
}

#[test]
fn mirrors_rewrite_github_urls_to_local_repositories() {
    let f = Fixture::new();
    let mirror = f.root.join("mirror");
    std::fs::create_dir_all(&mirror).unwrap();
    git(
        &mirror,
        &["clone", "-q", "--bare", &url(&f.up.path), "unikraft.git"],
    );
    let lib = mirror.join("lib-musl-src");
    std::fs::create_dir_all(&lib).unwrap();
    git(&lib, &["init", "-q"]);
    let musl = commit(&lib, "musl");
    git(&lib, &["tag", "RELEASE-0.17.0"]);
    git(
        &mirror,
        &["clone", "-q", "--bare", &url(&lib), "lib-musl.git"],
    );
    git(
        &mirror,
        &["clone", "-q", "--bare", &url(&lib), "app-helloworld.git"],
    );

    let mut opts = f.options();
    opts.config = KilnConfig {
        mirrors: vec![(
            "https://github.com/unikraft/".into(),
            format!("{}/", url(&mirror)),
        )],
        ..KilnConfig::default()
    };
    let r = SourceResolver::new(opts);
    let explicit = component(
        "unikraft",
        Some("https://github.com/unikraft/unikraft.git"),
        Some("stable"),
    );
    let got = f.resolve(&r, &explicit).unwrap();
    assert_eq!(
        got.origin,
        Origin::Git {
            url: "https://github.com/unikraft/unikraft.git".into(),
            fetch_url: format!("{}/unikraft.git", url(&mirror)),
            commit: f.up.r0_17.clone(),
        }
    );
    // Bare names: the core, a library and a template come from GitHub (mirrored here),
    // at `stable` when no version is given.
    let bare = [
        (
            ComponentId::Core,
            component("unikraft", None, None),
            "unikraft.git",
            f.up.r0_17.clone(),
        ),
        (
            ComponentId::Library("musl".into()),
            component("musl", None, None),
            "lib-musl.git",
            musl.clone(),
        ),
        (
            ComponentId::Template,
            component("helloworld", None, None),
            "app-helloworld.git",
            musl,
        ),
    ];
    for (id, c, repo, want) in bare {
        let got = r.resolve(&id, &c, &f.project()).unwrap();
        let Origin::Git {
            url: u,
            fetch_url,
            commit,
        } = &got.origin
        else {
            panic!()
        };
        assert_eq!(u, &format!("https://github.com/unikraft/{repo}"));
        assert_eq!(fetch_url, &format!("{}/{repo}", url(&mirror)));
        assert_eq!(commit, &want, "{id}");
    }
    let lock = r.lock_entries();
    assert_eq!(
        lock.entries["lib/musl"].url, "https://github.com/unikraft/lib-musl.git",
        "the lock keeps the URL before mirrors"
    );
}

#[test]
fn a_lock_pin_in_the_cache_needs_no_fetch_and_update_moves_it() {
    let f = Fixture::new();
    let first = SourceResolver::new(f.options());
    f.resolve(&first, &f.core(Some("stable"))).unwrap();
    f.resolve(&first, &f.core(Some("stable"))).unwrap();
    assert_eq!(first.git_cache().fetch_count(), 1);
    let lock = first.lock_entries();
    assert_eq!(lock.entries["unikraft"].commit, f.up.r0_17);

    // Upstream releases 0.18.0: the pinned build does not see it and does not fetch.
    git(&f.up.path, &["checkout", "-q", "main"]);
    let r18 = commit(&f.up.path, "0.18.0");
    git(&f.up.path, &["tag", "RELEASE-0.18.0"]);
    let pinned = SourceResolver::new(ResolverOptions {
        lock: Some(lock.clone()),
        ..f.options()
    });
    let got = f.resolve(&pinned, &f.core(Some("stable"))).unwrap();
    assert_eq!(commit_of(&got), f.up.r0_17);
    assert_eq!(
        pinned.git_cache().fetch_count(),
        0,
        "a pinned commit in the cache needs no fetch"
    );
    assert_eq!(pinned.lock_entries(), lock);

    let update = SourceResolver::new(ResolverOptions {
        lock: Some(lock.clone()),
        update_lock: true,
        ..f.options()
    });
    assert_eq!(
        commit_of(&f.resolve(&update, &f.core(Some("stable"))).unwrap()),
        r18
    );
    let changes = update.lock_entries().changes_from(Some(&lock));
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(
        changes[0],
        format!("unikraft: commit {} -> {}", &f.up.r0_17[..12], &r18[..12])
    );
    assert!(changes[1].starts_with("unikraft: tree "));
}

#[test]
fn offline_uses_the_cache_or_names_the_component_that_needs_the_network() {
    let f = Fixture::new();
    let online = SourceResolver::new(f.options());
    f.resolve(&online, &f.core(Some("stable"))).unwrap();
    let lock = online.lock_entries();

    let offline = |lock: Option<LockFile>| {
        SourceResolver::new(ResolverOptions {
            offline: true,
            lock,
            ..f.options()
        })
    };
    // A pin whose checkout is cached; then one whose checkout must be exported again from
    // the cached repository.
    let r = offline(Some(lock.clone()));
    assert_eq!(
        commit_of(&f.resolve(&r, &f.core(Some("stable"))).unwrap()),
        f.up.r0_17
    );
    std::fs::remove_dir_all(f.root.join("cache/git/checkouts")).unwrap();
    assert_eq!(
        commit_of(&f.resolve(&r, &f.core(Some("stable"))).unwrap()),
        f.up.r0_17
    );
    // A checkout whose `.tree` record is gone is exported again.
    let tree_file = f
        .root
        .join(format!("cache/git/checkouts/{}.tree", f.up.r0_17));
    std::fs::remove_file(&tree_file).unwrap();
    f.resolve(&r, &f.core(Some("stable"))).unwrap();
    assert!(tree_file.is_file());
    // Without a lock, names resolve against the last fetch.
    let r = offline(None);
    assert_eq!(
        commit_of(&f.resolve(&r, &f.core(Some("staging"))).unwrap()),
        f.up.staging
    );
    assert_eq!(r.git_cache().fetch_count(), 0);

    // A fresh cache: nothing to go on.
    let empty = SourceResolver::new(ResolverOptions {
        offline: true,
        cache_dir: f.root.join("empty-cache"),
        ..f.options()
    });
    let err = empty.resolve(
        &ComponentId::Library("lwip".into()),
        &component("lwip", Some(&url(&f.up.path)), Some("stable")),
        &f.project(),
    );
    let err = err.unwrap_err();
    assert!(matches!(err, SourceError::NeedsNetwork { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("`lib/lwip` needs the network"), "{msg}");
    assert!(
        msg.contains("--source lwip=PATH") && msg.contains("[mirrors]"),
        "{msg}"
    );
    assert!(
        !f.root.join("empty-cache/git/repos").exists(),
        "offline creates no repository"
    );
}

#[test]
fn the_lock_file_round_trips_and_is_written_only_on_change() {
    let f = Fixture::new();
    let r = SourceResolver::new(f.options());
    f.resolve(&r, &f.core(Some("stable"))).unwrap();
    r.resolve(
        &ComponentId::Library("b".into()),
        &component("b", Some(&url(&f.up.path)), None),
        &f.project(),
    )
    .unwrap();
    let lock = r.lock_entries();
    let path = f.project().join("Kraftfile.lock");
    assert!(lock.save(&path).unwrap());
    assert!(!lock.save(&path).unwrap(), "same content: not rewritten");
    assert_eq!(LockFile::load(&path).unwrap(), Some(lock.clone()));
    assert_eq!(LockFile::load(&f.project().join("none")).unwrap(), None);
    let text = std::fs::read_to_string(&path).unwrap();
    let tree = lock.entries["unikraft"].tree.clone();
    let want = format!(
        "# Kraftfile.lock: generated by kiln; commit it.\n\
         # It pins the git sources, runtime packages and images of the Kraftfile beside it to digests.\n\
         # `kiln lock --update` refreshes it; `kiln build --locked` fails if it would change.\n\
         format = 1\n\n\
         [[source]]\nid = \"lib/b\"\nurl = \"{u}\"\ncommit = \"{h}\"\ntree = \"{tb}\"\n\n\
         [[source]]\nid = \"unikraft\"\nversion = \"stable\"\nurl = \"{u}\"\ncommit = \"{c}\"\ntree = \"{tree}\"\n",
        u = url(&f.up.path),
        h = f.up.head,
        tb = lock.entries["lib/b"].tree,
        c = f.up.r0_17,
    );
    assert_eq!(text, want);
}

#[test]
fn locked_refuses_what_the_lock_does_not_pin() {
    let f = Fixture::new();
    let r = SourceResolver::new(f.options());
    f.resolve(&r, &f.core(Some("stable"))).unwrap();
    let lock = r.lock_entries();
    let locked = SourceResolver::new(ResolverOptions {
        lock: Some(lock.clone()),
        locked: true,
        ..f.options()
    });
    f.resolve(&locked, &f.core(Some("stable"))).unwrap();
    let err = f.resolve(&locked, &f.core(Some("staging"))).unwrap_err();
    assert!(matches!(err, SourceError::LockMismatch { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("Kraftfile.lock pins another version than `staging`"),
        "{msg}"
    );
    assert!(msg.contains("kiln lock --update"), "{msg}");
    let none = SourceResolver::new(ResolverOptions {
        locked: true,
        ..f.options()
    });
    assert!(
        f.resolve(&none, &f.core(Some("stable")))
            .unwrap_err()
            .to_string()
            .contains("there is no Kraftfile.lock")
    );
    assert_eq!(
        locked.git_cache().fetch_count() + none.git_cache().fetch_count(),
        0
    );
}

#[test]
fn concurrent_resolution_makes_one_checkout() {
    let f = Fixture::new();
    let shared = Arc::new(SourceResolver::new(f.options()));
    let dirs: Vec<PathBuf> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let shared = shared.clone();
                let f = &f;
                s.spawn(move || {
                    // Two threads share a resolver; two act like separate kiln processes.
                    let own;
                    let r = if i % 2 == 0 {
                        &*shared
                    } else {
                        own = SourceResolver::new(f.options());
                        &own
                    };
                    f.resolve(r, &f.core(Some("stable"))).unwrap().dir
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(dirs.iter().all(|d| d == &dirs[0]));
    assert_eq!(
        std::fs::read_to_string(dirs[0].join("VERSION")).unwrap(),
        "0.17.0"
    );
    assert_eq!(shared.git_cache().fetch_count(), 1);
    let mut names: Vec<String> = std::fs::read_dir(f.root.join("cache/git/checkouts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let c = &f.up.r0_17;
    assert_eq!(names, [c.clone(), format!("{c}.lock"), format!("{c}.tree")]);
    assert_eq!(
        std::fs::read_dir(f.root.join("cache/git/tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn missing_versions_and_repositories_are_clear_errors() {
    let f = Fixture::new();
    let r = SourceResolver::new(f.options());
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let msg = f
        .resolve(&r, &f.core(Some(missing)))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!("commit {missing} is not in {}", url(&f.up.path))),
        "{msg}"
    );
    let msg = f
        .resolve(&r, &f.core(Some("nope")))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("has no `nope`") && msg.contains("git ls-remote"),
        "{msg}"
    );

    let gone = component(
        "unikraft",
        Some("file:///nonexistent/kiln/unikraft.git"),
        None,
    );
    let err = f.resolve(&r, &gone).unwrap_err();
    let SourceError::Git {
        component,
        url,
        stderr,
        hint,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (component.as_str(), url.as_str()),
        ("unikraft", "file:///nonexistent/kiln/unikraft.git")
    );
    assert!(
        stderr.contains("does not appear to be a git repository"),
        "{stderr}"
    );
    assert!(hint.contains("--source unikraft=PATH"), "{hint}");
}

#[test]
fn no_url_outside_file_is_ever_contacted() {
    let f = Fixture::new();
    let r = SourceResolver::new(f.options());
    let err = f
        .resolve(&r, &component("unikraft", None, Some("stable")))
        .unwrap_err();
    let SourceError::Git { url, stderr, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(url, "https://github.com/unikraft/unikraft.git");
    assert!(stderr.contains("transport 'https' not allowed"), "{stderr}");
}

#[test]
fn local_sources_and_overrides() {
    let f = Fixture::new();
    let local = f.project().join("uk");
    std::fs::create_dir_all(&local).unwrap();
    let r = SourceResolver::new(f.options());
    f.resolve(&r, &f.core(Some("stable"))).unwrap();
    let lock = r.lock_entries();

    // A --source override (made absolute by parse_override) leaves the lock entry alone.
    let (name, value) =
        kiln_rules::sources::parse_override("unikraft=./uk", &f.project(), None).unwrap();
    assert_eq!(value, local.to_string_lossy());
    let opts = ResolverOptions {
        overrides: BTreeMap::from([(name, value)]),
        lock: Some(lock.clone()),
        locked: true,
        ..f.options()
    };
    let r = SourceResolver::new(opts);
    let got = f.resolve(&r, &f.core(Some("stable"))).unwrap();
    assert_eq!(
        (got.dir.as_path(), &got.origin, got.tree),
        (local.as_path(), &Origin::Local, None)
    );
    assert_eq!(r.lock_entries(), lock);

    // A local source in the Kraftfile is relative to it, and is not locked.
    let r = SourceResolver::new(ResolverOptions {
        lock: Some(lock),
        ..f.options()
    });
    let got = f
        .resolve(&r, &component("unikraft", Some("./uk"), None))
        .unwrap();
    assert_eq!(got.dir, local);
    assert!(r.lock_entries().entries.is_empty());
    let err = f
        .resolve(&r, &component("unikraft", Some("../missing"), None))
        .unwrap_err();
    assert!(
        err.to_string().contains("does not exist") && err.to_string().contains("fix `source:`"),
        "{err}"
    );
}
