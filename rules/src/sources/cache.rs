//! The machine-wide git cache: bare repositories fetched once and shared by every project,
//! and immutable checkouts addressed by the commit they hold.
//!
//! Layout, under `<cache dir>/git/` (the cache dir is kiln's, e.g. `~/.cache/kiln`):
//!
//! ```text
//! repos/<16 hex>.git/      bare repository of one URL; <16 hex> = blake3(fetch URL)[..16]
//! repos/<16 hex>.git/kiln-url   the URL, for humans
//! repos/<16 hex>.lock      flock(2)ed while the repository is created or fetched
//! checkouts/<commit>/      the files of <commit> (no .git); written once, never changed
//! checkouts/<commit>.tree  the tree digest of that directory (64 hex + "\n"), so it is
//!                          never rescanned
//! checkouts/<commit>.lock  flock(2)ed while the checkout is exported
//! tmp/                     exports in progress; each appears in checkouts/ by rename
//! ```
//!
//! A checkout exists exactly when both `checkouts/<commit>/` and its `.tree` file do: the
//! `.tree` file is written first and the directory renamed into place last. Repositories are
//! keyed by the URL after mirror rewriting (that is what is fetched); checkouts only by
//! commit, since a commit id fixes the content whatever the URL. A fetch takes every branch
//! and tag and the remote's `HEAD` (`+refs/heads/*`, `+refs/tags/*`, `+HEAD:refs/kiln/HEAD`,
//! pruned), at most once per repository per [`GitCache`]. Locks are advisory `flock`s, so
//! concurrent kilns (and threads, each opening the lock file anew) never fetch into or export
//! the same thing at once; a crashed kiln's locks vanish with it, and its leftovers in `tmp/`
//! are garbage that nothing reads. Repositories are never garbage-collected here.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use kiln_engine::TreeDigest;
use kiln_engine::fsutil::write_atomic;
use kiln_engine::scan::scan_dir_skipping;
use kiln_engine::statcache::StatCache;

use super::error::{SourceError, network_hint};
use super::git::{Git, GitFailure, Isolation};
use super::refs::{self, REMOTE_HEAD, Refs};
use super::spec::Version;

/// Which component and URL an operation is for; it names them in errors.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The component (`unikraft`, `lib/<name>`, `template`).
    pub component: &'a str,
    /// Its `--source` name, for the hint.
    pub override_name: &'a str,
    /// The URL to fetch (after mirrors).
    pub url: &'a str,
    /// The config file, for the hint.
    pub config_file: Option<&'a Path>,
}

/// An exported commit in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// `checkouts/<commit>/`.
    pub dir: PathBuf,
    /// Its tree digest (as the `sources` step would compute it, skipping `.git`).
    pub tree: TreeDigest,
}

/// The git cache of one machine, as one kiln process uses it.
#[derive(Debug)]
pub struct GitCache {
    root: PathBuf,
    git: Git,
    /// Repository keys this instance has fetched already.
    fetched: Mutex<HashSet<String>>,
    /// How many fetches this instance ran (tests and `--explain` use it).
    fetches: AtomicUsize,
}

impl GitCache {
    /// The cache under `<cache_dir>/git`, running git as `git` says.
    pub fn new(cache_dir: &Path, git: Git) -> GitCache {
        GitCache {
            root: cache_dir.join("git"),
            git,
            fetched: Mutex::new(HashSet::new()),
            fetches: AtomicUsize::new(0),
        }
    }

    /// `<cache_dir>/git`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes the temporary repositories and checkouts of git runs that were killed before
    /// they finished (only those whose writer is no longer running), in the git cache of the
    /// kiln cache at `cache_dir`.
    pub fn remove_dead_temps(cache_dir: &Path) -> kiln_engine::temp_owner::Removed {
        let root = cache_dir.join("git");
        let mut removed = kiln_engine::temp_owner::Removed::default();
        for dir in [root.join("tmp"), root.join("repos")] {
            if let Ok(r) = kiln_engine::temp_owner::remove_dead(&dir) {
                removed += r;
            }
        }
        removed
    }

    /// The bare repository for `url` (after mirrors).
    pub fn repo_dir(&self, url: &str) -> PathBuf {
        self.root
            .join("repos")
            .join(format!("{}.git", repo_key(url)))
    }

    /// Where `commit` is (or would be) checked out.
    pub fn checkout_dir(&self, commit: &str) -> PathBuf {
        self.root.join("checkouts").join(commit)
    }

    /// How many fetches this instance has run.
    pub fn fetch_count(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// The checkout of `commit` if the cache has it; touches no repository.
    pub fn cached_checkout(&self, commit: &str) -> Option<Checkout> {
        let dir = self.checkout_dir(commit);
        let text = std::fs::read_to_string(dir.with_extension("tree")).ok()?;
        let tree = TreeDigest::from_hex(text.trim()).ok()?;
        dir.is_dir().then_some(Checkout { dir, tree })
    }

    /// The commit `version` names in the repository at `s.url`. Fetches (once) unless
    /// `offline`; offline, it answers from the last fetch or says the network is needed.
    pub fn resolve(
        &self,
        s: &Subject<'_>,
        version: &Version,
        offline: bool,
    ) -> Result<String, SourceError> {
        if let Version::Commit(c) = version {
            return Ok(c.clone());
        }
        let repo = self.repo_dir(s.url);
        if offline {
            if repo.is_dir()
                && let Some(c) = self.lookup(s, &repo, version)?
            {
                return Ok(c);
            }
            return Err(needs_network(
                s,
                format!("{version} was never fetched into the cache"),
            ));
        }
        let repo = self.fetch_once(s)?;
        self.lookup(s, &repo, version)?.ok_or_else(|| SourceError::NotFound {
            component: s.component.into(),
            what: format!("{} has no {version}", s.url),
            hint: match version {
                Version::Stable => "the repository has no RELEASE-x.y.z tag; give a branch, a tag or a commit as the version".into(),
                _ => format!("check the version in the Kraftfile (`git ls-remote {}` lists the branches and tags)", s.url),
            },
        })
    }

    /// The checkout of `commit` from the repository at `s.url`, exported on first use. The
    /// network is used only when the commit is in neither a checkout nor the repository.
    pub fn checkout(
        &self,
        s: &Subject<'_>,
        commit: &str,
        offline: bool,
    ) -> Result<Checkout, SourceError> {
        if let Some(c) = self.cached_checkout(commit) {
            return Ok(c);
        }
        let dir = self.checkout_dir(commit);
        let _lock = self.lock(s, &dir.with_extension("lock"))?;
        if let Some(c) = self.cached_checkout(commit) {
            return Ok(c);
        }
        // A directory without its `.tree` record is not a checkout (someone deleted the
        // record); it is exported again.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| io_error(s, "remove", &dir, e))?;
        }
        let mut repo = self.repo_dir(s.url);
        if refs::commit_in_repo(&self.git, &repo, commit).is_none() {
            if offline {
                return Err(needs_network(
                    s,
                    format!("commit {commit} is not in the cache"),
                ));
            }
            repo = self.fetch_once(s)?;
            if refs::commit_in_repo(&self.git, &repo, commit).is_none() {
                return Err(SourceError::NotFound {
                    component: s.component.into(),
                    what: format!("commit {commit} is not in {} (no branch or tag reaches it)", s.url),
                    hint: "check the commit in the Kraftfile, or run `kiln lock --update` if Kraftfile.lock pins it".into(),
                });
            }
        }
        self.export(s, &repo, commit)
    }

    fn lookup(
        &self,
        s: &Subject<'_>,
        repo: &Path,
        version: &Version,
    ) -> Result<Option<String>, SourceError> {
        let found = Refs::read(&self.git, repo)
            .map_err(|f| git_error(s, f))?
            .resolve(version);
        Ok(found.or_else(|| match version {
            Version::Ref(r) if refs::looks_like_commit(r) => {
                refs::commit_in_repo(&self.git, repo, r)
            }
            _ => None,
        }))
    }

    /// Creates the repository for `s.url` if needed and fetches it, unless this instance
    /// already did; returns the repository's path.
    fn fetch_once(&self, s: &Subject<'_>) -> Result<PathBuf, SourceError> {
        let key = repo_key(s.url);
        let repo = self.repo_dir(s.url);
        let _lock = self.lock(s, &repo.with_extension("lock"))?;
        if self
            .fetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return Ok(repo);
        }
        if !repo.is_dir() {
            self.init_repo(s, &repo)?;
        }
        let head = format!("+HEAD:{REMOTE_HEAD}");
        let args = [
            "fetch",
            "--quiet",
            "--prune",
            "--force",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            s.url,
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
            &head,
        ];
        self.git
            .in_repo(&repo, Isolation::Network, &[], &args)
            .map_err(|f| git_error(s, f))?;
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.fetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        Ok(repo)
    }

    /// `git init --bare` into a temporary name, renamed into place (the caller holds the lock).
    fn init_repo(&self, s: &Subject<'_>, repo: &Path) -> Result<(), SourceError> {
        let name = repo.file_name().unwrap_or_default().to_string_lossy();
        let tmp = repo.with_file_name(kiln_engine::temp_owner::temp_name(&name));
        let _ = std::fs::remove_dir_all(&tmp);
        let args: [&OsStr; 5] = [
            "init".as_ref(),
            "--bare".as_ref(),
            "--quiet".as_ref(),
            "--template=".as_ref(),
            tmp.as_os_str(),
        ];
        self.git
            .run(Isolation::Content, &[], &args)
            .map_err(|f| git_error(s, f))?;
        std::fs::write(tmp.join("kiln-url"), format!("{}\n", s.url))
            .map_err(|e| io_error(s, "write", &tmp, e))?;
        std::fs::rename(&tmp, repo).map_err(|e| io_error(s, "rename", repo, e))
    }

    /// Writes the files of `commit` to `tmp/`, hashes them, records the tree and renames the
    /// directory into `checkouts/` (the caller holds the checkout's lock).
    fn export(&self, s: &Subject<'_>, repo: &Path, commit: &str) -> Result<Checkout, SourceError> {
        let tmp = self
            .root
            .join("tmp")
            .join(kiln_engine::temp_owner::temp_name(commit));
        let result = self.export_into(s, repo, commit, &tmp);
        let _ = std::fs::remove_dir_all(&tmp);
        result
    }

    fn export_into(
        &self,
        s: &Subject<'_>,
        repo: &Path,
        commit: &str,
        tmp: &Path,
    ) -> Result<Checkout, SourceError> {
        let work = tmp.join("tree");
        std::fs::create_dir_all(&work).map_err(|e| io_error(s, "create", &work, e))?;
        let index = tmp.join("index");
        let env = [("GIT_INDEX_FILE", index.as_os_str())];
        let work_tree = [OsStr::new("--work-tree"), work.as_os_str()];
        let run = |args: &[&str]| {
            let mut all: Vec<&OsStr> = work_tree.to_vec();
            all.extend(args.iter().map(OsStr::new));
            self.git
                .in_repo(repo, Isolation::Content, &env, &all)
                .map_err(|f| git_error(s, f))
        };
        run(&["read-tree", commit])?;
        run(&["checkout-index", "--all", "--force"])?;
        let stat_cache = StatCache::empty(&tmp.join("statcache"));
        let (tree, _) = scan_dir_skipping(&work, &stat_cache, &[".git"])
            .map_err(|e| io_error(s, "hash", &work, std::io::Error::other(e.to_string())))?;
        let dir = self.checkout_dir(commit);
        let tree_file = dir.with_extension("tree");
        write_atomic(
            &tree_file,
            format!("{}\n", tree.digest().to_hex()).as_bytes(),
        )
        .map_err(|e| io_error(s, "write", &tree_file, e))?;
        std::fs::rename(&work, &dir).map_err(|e| io_error(s, "rename", &dir, e))?;
        Ok(Checkout {
            dir,
            tree: tree.digest(),
        })
    }

    /// Opens (creating) `path` and holds an exclusive `flock` on it until the file is dropped.
    fn lock(&self, s: &Subject<'_>, path: &Path) -> Result<File, SourceError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error(s, "create", parent, e))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| io_error(s, "open", path, e))?;
        file.lock().map_err(|e| io_error(s, "lock", path, e))?;
        Ok(file)
    }
}

/// The cache key of a URL: the first 16 hex digits of its BLAKE3 hash.
pub fn repo_key(url: &str) -> String {
    blake3::hash(url.as_bytes()).to_hex()[..16].to_string()
}

fn needs_network(s: &Subject<'_>, why: String) -> SourceError {
    SourceError::NeedsNetwork {
        component: s.component.into(),
        url: s.url.into(),
        why,
        hint: network_hint(s.override_name, s.config_file),
    }
}

fn git_error(s: &Subject<'_>, f: GitFailure) -> SourceError {
    if f.not_installed {
        return SourceError::Spec {
            component: s.component.into(),
            message: format!(
                "{}; install git (Debian: `apt-get install git`), or pass `--source {}=PATH`",
                f.detail, s.override_name
            ),
        };
    }
    SourceError::Git {
        component: s.component.into(),
        url: s.url.into(),
        command: f.command,
        stderr: f.detail,
        hint: network_hint(s.override_name, s.config_file),
    }
}

fn io_error(
    s: &Subject<'_>,
    action: &'static str,
    path: &Path,
    source: std::io::Error,
) -> SourceError {
    SourceError::Io {
        component: s.component.into(),
        action,
        path: path.to_path_buf(),
        source,
    }
}
