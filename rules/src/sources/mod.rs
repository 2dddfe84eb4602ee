//! Where a component's source comes from, and getting it: a local directory, or a git
//! repository at a version, fetched into a machine-wide cache and pinned by `Kraftfile.lock`.
//!
//! The stages, each in its own file:
//!
//! - `config`: the kiln config file (`[sources]`, `[mirrors]`) → [`KilnConfig`].
//! - `spec`: `--source` > `[sources]` > Kraftfile → a [`SourceSpec`] (local dir, or git URL
//!   + [`Version`], mirrors applied). The rules are written at the top of that file.
//! - `cache` (with `git`, `refs`): the git cache; its on-disk layout is at the top of
//!   `cache.rs`. Resolves a version to a commit and exports immutable checkouts whose tree
//!   digest is recorded beside them.
//! - `lock`: `Kraftfile.lock` ([`LockFile`]), its format and what it records.
//! - here: [`SourceResolver`], which ties them together for one build.
//!
//! When the network is used: only to fetch a repository, at most once per repository per
//! resolver, and only when a component is not pinned by the lock file to a commit the cache
//! has (or `update_lock` is set). Never with `offline`: then a component that needs a fetch
//! is a [`SourceError::NeedsNetwork`] naming it and suggesting `--source` or a mirror.
//!
//! This module does not scan local directories (the `sources` step does, through the stat
//! cache), decide whether to save the lock file, or know argv; the binary does.

mod archives;
mod cache;
mod config;
mod error;
mod git;
pub(crate) mod image;
mod lock;
mod progress;
mod refs;
mod runtime;
mod spec;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kiln_engine::TreeDigest;

pub use archives::Archives;
pub use cache::{Checkout, GitCache, Subject, repo_key};
pub use config::{DistributeConfig, KilnConfig, RemoteConfig, load_config};
pub use error::SourceError;
pub use git::Git;
pub use image::ImageCheckout;
pub use lock::{
    CloneEntry, DownloadEntry, LOCK_FILE_NAME, LOCK_FORMAT, LockEntry, LockFile, RuntimeEntry,
    lock_path, would_change_message,
};
pub use progress::DownloadReporter;
pub use refs::Refs;
pub use spec::{
    ComponentId, Request, SourceSpec, SpecLayer, UNIKRAFT_GITHUB, Version, component_request,
    is_git_url, parse_override, unknown_override_names,
};

use crate::kraftfile::{Component, Kraftfile};

/// How a [`SourceResolver`] works for one build.
#[derive(Debug, Clone, Default)]
pub struct ResolverOptions {
    /// kiln's cache directory; the git cache is its `git/` subdirectory.
    pub cache_dir: PathBuf,
    /// The config file's `[sources]` and `[mirrors]`.
    pub config: KilnConfig,
    /// `--source NAME=VALUE` (local paths already absolute, see [`parse_override`]).
    pub overrides: BTreeMap<String, String>,
    /// `--offline`: never touch the network.
    pub offline: bool,
    /// The lock file beside the Kraftfile, if there is one.
    pub lock: Option<LockFile>,
    /// `kiln lock --update`: ignore the lock's pins and resolve every version afresh.
    pub update_lock: bool,
    /// `--locked`: fail rather than resolve a component the lock does not pin as asked.
    /// Do not combine with `update_lock`.
    pub locked: bool,
    /// How git runs (tests restrict it to `file://`).
    pub git: Git,
    /// `$HOME`, to expand `~/` in sources.
    pub home: Option<PathBuf>,
    /// Registry answers shared by the resolvers of one command (`kiln build DIR/...`: a
    /// thousand projects on `base:latest` ask the registry once).
    pub registry_answers: std::sync::Arc<RegistryAnswers>,
}

/// What registries answered during one command: reference and selector → the index and
/// manifest digests, or the error (asked again only by another command).
#[derive(Debug, Default)]
pub struct RegistryAnswers {
    answers: Mutex<BTreeMap<String, RegistryAnswer>>,
}

/// The index and manifest digests a registry gave, or its error: the message, and whether
/// the registry was unreachable.
type RegistryAnswer = Result<(String, String), (String, bool)>;

/// Where a resolved source came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A local directory, used as it is.
    Local,
    /// A checkout of a git commit from the cache.
    Git {
        /// The URL asked for (before mirrors).
        url: String,
        /// The URL fetched from (after mirrors).
        fetch_url: String,
        /// The commit.
        commit: String,
    },
}

/// A component's source, ready to build from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSource {
    /// The directory holding the source (a cache checkout is never written to).
    pub dir: PathBuf,
    /// Where it came from.
    pub origin: Origin,
    /// The tree digest when known without a scan (immutable checkouts); `None` for local
    /// directories, which the `sources` step scans (skipping `.git`; the same digest).
    pub tree: Option<TreeDigest>,
}

/// What the new lock file does with a component.
#[derive(Debug, Clone)]
enum LockDecision {
    /// Write this entry.
    Record(LockEntry),
    /// Keep the old entry, if any (a `--source` or config-local override).
    Keep,
    /// Write nothing (a local source in the Kraftfile).
    Drop,
}

/// Resolves the components of a build and the archives their builds download; shared by
/// all targets (`Send + Sync`).
#[derive(Debug)]
pub struct SourceResolver {
    opts: ResolverOptions,
    cache: GitCache,
    archives: Archives,
    decisions: Mutex<BTreeMap<String, LockDecision>>,
    downloads: Mutex<BTreeMap<String, DownloadEntry>>,
    clones: Mutex<BTreeMap<String, CloneEntry>>,
    runtimes: Mutex<BTreeMap<String, RuntimeEntry>>,
    images: Mutex<BTreeMap<String, RuntimeEntry>>,
}

impl SourceResolver {
    /// A resolver working as `opts` says.
    pub fn new(opts: ResolverOptions) -> SourceResolver {
        SourceResolver {
            cache: GitCache::new(&opts.cache_dir, opts.git.clone()),
            archives: Archives::new(&opts.cache_dir, opts.config.clone(), opts.offline),
            opts,
            decisions: Mutex::new(BTreeMap::new()),
            downloads: Mutex::new(BTreeMap::new()),
            clones: Mutex::new(BTreeMap::new()),
            runtimes: Mutex::new(BTreeMap::new()),
            images: Mutex::new(BTreeMap::new()),
        }
    }

    /// Reports the downloads this resolver makes to `reporter` (kiln's progress lines).
    pub fn with_download_reporter(
        mut self,
        reporter: std::sync::Arc<dyn DownloadReporter>,
    ) -> SourceResolver {
        self.archives.set_reporter(reporter);
        self
    }

    /// The git cache (for its counters and paths).
    pub fn git_cache(&self) -> &GitCache {
        &self.cache
    }

    /// Resolves component `id`, written as `c` in the Kraftfile in `kraftfile_dir`.
    pub fn resolve(
        &self,
        id: &ComponentId,
        c: &Component,
        kraftfile_dir: &Path,
    ) -> Result<ResolvedSource, SourceError> {
        let name = id.to_string();
        let req = spec::component_request(
            id,
            c,
            kraftfile_dir,
            &self.opts.overrides,
            &self.opts.config,
            self.opts.home.as_deref(),
        )
        .map_err(|message| SourceError::Spec {
            component: name.clone(),
            message,
        })?;
        match req.spec {
            SourceSpec::Local(dir) => self.resolve_local(id, &name, req.layer, dir),
            SourceSpec::Git {
                url,
                fetch_url,
                version,
            } => self.resolve_git(id, &name, req.layer, (&url, &fetch_url), &version),
        }
    }

    fn resolve_local(
        &self,
        id: &ComponentId,
        name: &str,
        layer: SpecLayer,
        dir: PathBuf,
    ) -> Result<ResolvedSource, SourceError> {
        if !dir.is_dir() {
            let hint = match layer {
                SpecLayer::CommandLine => format!("fix `--source {}=...`", id.override_name()),
                SpecLayer::Config => format!("fix `{}` under [sources] in {}", id.override_name(), self.config_file_name()),
                SpecLayer::Kraftfile => "fix `source:` in the Kraftfile (relative paths are relative to the project directory)".into(),
            };
            return Err(SourceError::NotFound {
                component: name.into(),
                what: format!("the source directory {} does not exist", dir.display()),
                hint,
            });
        }
        let decision = match layer {
            SpecLayer::Kraftfile => LockDecision::Drop,
            SpecLayer::CommandLine | SpecLayer::Config => LockDecision::Keep,
        };
        self.decide(name, decision);
        Ok(ResolvedSource {
            dir,
            origin: Origin::Local,
            tree: None,
        })
    }

    fn resolve_git(
        &self,
        id: &ComponentId,
        name: &str,
        layer: SpecLayer,
        (url, fetch_url): (&str, &str),
        version: &Version,
    ) -> Result<ResolvedSource, SourceError> {
        let subject = Subject {
            component: name,
            override_name: id.override_name(),
            url: fetch_url,
            config_file: self.opts.config.file.as_deref(),
        };
        let asked = version.lock_form();
        // A `--source` override is a one-off: the lock neither pins nor records it.
        let lockable = layer != SpecLayer::CommandLine;
        let pin = self.pin(name, url, &asked).filter(|_| lockable);
        if self.opts.locked && lockable && pin.is_none() {
            return Err(SourceError::LockMismatch {
                component: name.into(),
                detail: self.why_unpinned(name, url, version),
            });
        }
        let commit = match pin {
            Some(e) => e.commit.clone(),
            None => self.cache.resolve(&subject, version, self.opts.offline)?,
        };
        let checkout = self.cache.checkout(&subject, &commit, self.opts.offline)?;
        self.check_locked_tree(name, pin, &commit, checkout.tree)?;
        let decision = if lockable {
            LockDecision::Record(LockEntry {
                id: name.into(),
                version: asked,
                url: url.into(),
                commit: commit.clone(),
                tree: checkout.tree.to_hex(),
            })
        } else {
            LockDecision::Keep
        };
        self.decide(name, decision);
        Ok(ResolvedSource {
            dir: checkout.dir,
            origin: Origin::Git {
                url: url.into(),
                fetch_url: fetch_url.into(),
                commit,
            },
            tree: Some(checkout.tree),
        })
    }

    /// Under `--locked`, a pinned commit whose checkout has another tree than the lock
    /// records is an error (the lock would change); otherwise the new tree is recorded.
    fn check_locked_tree(
        &self,
        name: &str,
        pin: Option<&LockEntry>,
        commit: &str,
        tree: TreeDigest,
    ) -> Result<(), SourceError> {
        match pin {
            Some(e) if self.opts.locked && e.tree != tree.to_hex() => {
                Err(SourceError::LockMismatch {
                    component: name.into(),
                    detail: format!(
                        "the checkout of commit {commit} has tree {}, but Kraftfile.lock records {}",
                        tree.to_hex(),
                        e.tree
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// The lock entry that pins `name` as asked now, unless the lock is being updated.
    fn pin(&self, name: &str, url: &str, asked: &Option<String>) -> Option<&LockEntry> {
        if self.opts.update_lock {
            return None;
        }
        let e = self.opts.lock.as_ref()?.entries.get(name)?;
        (e.url == url && &e.version == asked).then_some(e)
    }

    fn why_unpinned(&self, name: &str, url: &str, version: &Version) -> String {
        match self.opts.lock.as_ref().and_then(|l| l.entries.get(name)) {
            None if self.opts.lock.is_none() => "there is no Kraftfile.lock".into(),
            None => "Kraftfile.lock has no entry for it".into(),
            Some(e) if e.url != url => {
                format!("Kraftfile.lock pins {}, but {url} is asked for", e.url)
            }
            Some(_) => format!("Kraftfile.lock pins another version than {version}"),
        }
    }

    fn decide(&self, name: &str, d: LockDecision) {
        let mut all = self.decisions.lock().unwrap_or_else(|e| e.into_inner());
        all.insert(name.to_string(), d);
    }

    fn config_file_name(&self) -> String {
        self.opts.config.file.as_ref().map_or_else(
            || "the kiln config file".into(),
            |f| f.display().to_string(),
        )
    }

    /// The lock file as this resolution makes it: an entry per git component resolved so
    /// far, old entries kept for `--source`/config-local overrides, nothing for components
    /// not resolved. Call it once every component resolved without error.
    pub fn lock_entries(&self) -> LockFile {
        let all = self.decisions.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.opts.lock.as_ref();
        let mut entries = BTreeMap::new();
        for (name, d) in all.iter() {
            let entry = match d {
                LockDecision::Record(e) => Some(e.clone()),
                LockDecision::Keep => old.and_then(|l| l.entries.get(name)).cloned(),
                LockDecision::Drop => None,
            };
            if let Some(e) = entry {
                entries.insert(name.clone(), e);
            }
        }
        let mut downloads = old.map(|l| l.downloads.clone()).unwrap_or_default();
        let recorded = self.downloads.lock().unwrap_or_else(|e| e.into_inner());
        downloads.extend(recorded.iter().map(|(u, d)| (u.clone(), d.clone())));
        let mut clones = old.map(|l| l.clones.clone()).unwrap_or_default();
        let recorded = self.clones.lock().unwrap_or_else(|e| e.into_inner());
        clones.extend(recorded.iter().map(|(k, c)| (k.clone(), c.clone())));
        let mut runtimes = old.map(|l| l.runtimes.clone()).unwrap_or_default();
        let recorded = self.runtimes.lock().unwrap_or_else(|e| e.into_inner());
        runtimes.extend(recorded.iter().map(|(k, r)| (k.clone(), r.clone())));
        let mut images = old.map(|l| l.images.clone()).unwrap_or_default();
        let recorded = self.images.lock().unwrap_or_else(|e| e.into_inner());
        images.extend(recorded.iter().map(|(k, r)| (k.clone(), r.clone())));
        LockFile {
            entries,
            downloads,
            clones,
            runtimes,
            images,
        }
    }

    /// A digest of the downloads and clones the lock file pins, for the keys of the steps
    /// that use them (a moved pin re-runs them).
    pub fn pins_digest(&self) -> String {
        let Some(lock) = &self.opts.lock else {
            return String::new();
        };
        let mut text = String::new();
        for d in lock.downloads.values() {
            text.push_str(&format!("d {} {}\n", d.url, d.blake3));
        }
        for c in lock.clones.values() {
            text.push_str(&format!("c {} {}\n", c.key(), c.tree));
        }
        blake3::hash(text.as_bytes()).to_hex().to_string()
    }

    /// The checkout of `url` at the branch or tag `git_ref`, as a library's make clones it:
    /// pinned by the lock file when it pins it, else resolved (fetching unless offline);
    /// recorded for the new lock file.
    pub fn clone_source(
        &self,
        url: &str,
        git_ref: &str,
    ) -> Result<(CloneEntry, PathBuf), SourceError> {
        let fetch_url = self.opts.config.rewrite(url);
        let subject = Subject {
            component: url,
            override_name: url,
            url: &fetch_url,
            config_file: self.opts.config.file.as_deref(),
        };
        let key = format!("{url}#{git_ref}");
        let pin = self.opts.lock.as_ref().and_then(|l| l.clones.get(&key));
        if self.opts.locked && pin.is_none() {
            return Err(SourceError::LockMismatch {
                component: key,
                detail: "Kraftfile.lock does not pin this clone".into(),
            });
        }
        let commit = match pin {
            Some(p) => p.commit.clone(),
            None => {
                self.cache
                    .resolve(&subject, &Version::Ref(git_ref.into()), self.opts.offline)?
            }
        };
        let checkout = self.cache.checkout(&subject, &commit, self.opts.offline)?;
        let entry = CloneEntry {
            url: url.into(),
            git_ref: git_ref.into(),
            commit,
            tree: checkout.tree.to_hex(),
        };
        self.clones
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, entry.clone());
        Ok((entry, checkout.dir))
    }

    /// The download cache.
    pub fn archives(&self) -> &Archives {
        &self.archives
    }

    /// The bytes `url` is to give: pinned by the lock file if it pins the URL, else what the
    /// download cache or a download gives. The result is recorded for the new lock file. With
    /// `refresh` (`kiln fetch`) the URL is downloaded again; bytes that differ from the pin
    /// move it, unless `--locked`, which makes that an error.
    pub fn download(&self, url: &str, refresh: bool) -> Result<DownloadEntry, SourceError> {
        let pin = self.opts.lock.as_ref().and_then(|l| l.downloads.get(url));
        let got = match self.archives.get(url, pin, refresh) {
            Err(SourceError::ArchiveChanged { .. }) if !self.opts.locked => {
                self.archives.get(url, None, false)?
            }
            other => other?,
        };
        if self.opts.locked && pin.is_none() {
            return Err(SourceError::LockMismatch {
                component: url.into(),
                detail: format!(
                    "Kraftfile.lock does not pin this download (sha256 {})",
                    got.sha256
                ),
            });
        }
        self.downloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(url.to_string(), got.clone());
        Ok(got)
    }
}

/// The source components of a Kraftfile with their ids, in plan order: the core, the
/// libraries (sorted), the template.
pub fn components(kf: &Kraftfile) -> Vec<(ComponentId, &Component)> {
    let mut out = Vec::new();
    if let Some(c) = &kf.unikraft {
        out.push((ComponentId::Core, c));
    }
    for (name, c) in &kf.libraries {
        out.push((ComponentId::Library(name.clone()), c));
    }
    if let Some(c) = &kf.template {
        out.push((ComponentId::Template, c));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resolver_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<SourceResolver>();
    }
}
