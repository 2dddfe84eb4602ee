//! Skipping the scan of an unchanged source tree, with a change watcher's help.
//!
//! Scanning stats every file; for large trees that alone is most of a no-op build. A
//! [`ChangeWatcher`] (kiln's inotify daemon, in the `kiln-watch` crate, behind this trait so
//! the engine does no I/O of its own) hands out a [`WatchStamp`] that changes whenever
//! anything under a root changes. [`TreeScanner::scan`] records `(stamp taken before the scan,
//! tree digest)` per root in a memo file; when the watcher later returns the same stamp, the
//! tree is unchanged since before that scan began, so its digest is reused without a stat.
//!
//! When there is no watcher, it has no answer, or the tree has hard links to files outside
//! it (a change through the outside name raises no event inside the tree), the tree is
//! scanned through the stat cache as usual. Memo files are written only when they change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::digest::{Digest, TreeDigest};
use crate::fsutil::write_atomic;
use crate::scan::{ScanError, ScanStats, StatSnapshot, scan_dir_skipping, scan_with_snapshot};
use crate::statcache::StatCache;
use crate::step::SourceWitness;
use crate::tree::Tree;

/// A watcher's token for "the state of a root": equal tokens mean nothing changed between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WatchStamp {
    /// Identifies the watcher process; a restarted watcher never repeats a stamp.
    pub instance: u64,
    /// Changes on every change under the root.
    pub generation: u64,
}

/// Something that can vouch that a directory tree has not changed.
pub trait ChangeWatcher: Send + Sync {
    /// Starts watching `root` (idempotent) and returns its current stamp once watching is in
    /// place, or `None` when it cannot.
    fn watch(&self, root: &Path) -> Option<WatchStamp>;
    /// The current stamp of `root` if it is watched and nothing is uncertain.
    fn query(&self, root: &Path) -> Option<WatchStamp>;
}

/// The result of [`TreeScanner::scan`].
#[derive(Clone)]
pub enum Scanned {
    /// The tree was scanned now.
    Fresh {
        /// The tree.
        tree: Arc<Tree>,
        /// Counters.
        stats: ScanStats,
        /// For checking later that the tree did not change after the scan.
        witness: Arc<TreeWitness>,
    },
    /// The watcher vouched that nothing changed since the last scan; no file was touched.
    Unchanged {
        /// The digest recorded by that scan.
        digest: TreeDigest,
        /// For checking later that the tree did not change after the scan.
        witness: Arc<TreeWitness>,
    },
}

/// What a scan leaves behind to show later that a tree did not change after it: the
/// watcher's stamp (one query to check), and the stat of every entry when the tree was
/// walked (a walk without reading contents, for when the watcher cannot answer).
pub struct TreeWitness {
    root: PathBuf,
    skip: Vec<String>,
    /// The stamp the tree had at (or before) the scan, and the watcher to ask.
    stamp: Option<(WatchStamp, Arc<dyn ChangeWatcher>)>,
    /// The stats the scan saw; `None` when the watcher vouched and nothing was walked.
    snapshot: Option<StatSnapshot>,
    /// The digest the scan gave.
    digest: TreeDigest,
    /// For the last resort, a rescan through the stat cache: the scan's own, or the file
    /// to load one from (loaded only then: a vouched no-op must not read it).
    stat_cache: Option<Arc<StatCache>>,
    stat_cache_file: Option<PathBuf>,
}

impl SourceWitness for TreeWitness {
    fn check_unchanged(&self) -> Result<(), String> {
        if let Some((stamp, watcher)) = &self.stamp
            && watcher.query(&self.root) == Some(*stamp)
        {
            return Ok(());
        }
        if let Some(snapshot) = &self.snapshot {
            return snapshot.check_unchanged().map_err(|e| e.to_string());
        }
        // The watcher vouched before the build but cannot answer now (it restarted, say):
        // fall back to the digest, through the stat cache.
        let skip: Vec<&str> = self.skip.iter().map(String::as_str).collect();
        let fallback = match &self.stat_cache_file {
            Some(file) => StatCache::load(file),
            None => StatCache::empty(Path::new("/nonexistent/kiln-stat-cache")),
        };
        let cache = self.stat_cache.as_deref().unwrap_or(&fallback);
        let (tree, _) = scan_dir_skipping(&self.root, cache, &skip).map_err(|e| e.to_string())?;
        if tree.digest() == self.digest {
            Ok(())
        } else {
            Err(format!(
                "{} changed during the build; build again",
                self.root.display()
            ))
        }
    }
}

impl Scanned {
    /// The tree, when it was scanned now.
    pub fn tree(&self) -> Option<Arc<Tree>> {
        match self {
            Scanned::Fresh { tree, .. } => Some(tree.clone()),
            Scanned::Unchanged { .. } => None,
        }
    }

    /// The tree's digest.
    pub fn digest(&self) -> TreeDigest {
        match self {
            Scanned::Fresh { tree, .. } => tree.digest(),
            Scanned::Unchanged { digest, .. } => *digest,
        }
    }

    /// The evidence for checking later that the tree did not change.
    pub fn witness(&self) -> Arc<TreeWitness> {
        match self {
            Scanned::Fresh { witness, .. } | Scanned::Unchanged { witness, .. } => witness.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Memo {
    root: PathBuf,
    skip: Vec<String>,
    stamp: WatchStamp,
    digest: TreeDigest,
}

/// Scans source trees for one project: through the watcher's memo when it can, else through
/// the (lazily loaded) stat cache.
pub struct TreeScanner {
    stat_cache_file: PathBuf,
    stat_cache: OnceLock<Arc<StatCache>>,
    memo_dir: PathBuf,
    watcher: Option<Arc<dyn ChangeWatcher>>,
    /// Whether memo files may be written (false for plans, which write nothing).
    write_memos: bool,
}

impl TreeScanner {
    /// A scanner keeping its stat cache in `stat_cache_file` and memos in `memo_dir`.
    pub fn new(stat_cache_file: &Path, memo_dir: &Path) -> Self {
        TreeScanner {
            stat_cache_file: stat_cache_file.to_path_buf(),
            stat_cache: OnceLock::new(),
            memo_dir: memo_dir.to_path_buf(),
            watcher: None,
            write_memos: true,
        }
    }

    /// Uses `watcher`; with `write_memos` false it only reads memos (for plans).
    pub fn with_watcher(mut self, watcher: Arc<dyn ChangeWatcher>, write_memos: bool) -> Self {
        self.watcher = Some(watcher);
        self.write_memos = write_memos;
        self
    }

    /// The stat cache, loaded on first use.
    pub fn stat_cache(&self) -> &StatCache {
        self.shared_stat_cache()
    }

    fn shared_stat_cache(&self) -> &Arc<StatCache> {
        self.stat_cache
            .get_or_init(|| Arc::new(StatCache::load(&self.stat_cache_file)))
    }

    /// Saves the stat cache if it was loaded and learned something.
    pub fn save(&self) -> std::io::Result<()> {
        match self.stat_cache.get() {
            Some(c) => c.save(),
            None => Ok(()),
        }
    }

    /// Scans `root`, leaving out entries named in `skip`, or vouches that it is unchanged.
    pub fn scan(&self, root: &Path, skip: &[&str]) -> Result<Scanned, ScanError> {
        let memo_file = self.memo_file(root, skip);
        let memo: Option<Memo> = std::fs::read(&memo_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let (Some(w), Some(m)) = (&self.watcher, &memo)
            && m.root == root
            && m.skip.iter().map(String::as_str).eq(skip.iter().copied())
            && w.query(root) == Some(m.stamp)
        {
            let witness = TreeWitness {
                root: root.to_path_buf(),
                skip: skip.iter().map(|s| s.to_string()).collect(),
                stamp: Some((m.stamp, w.clone())),
                snapshot: None,
                digest: m.digest,
                stat_cache: self.stat_cache.get().cloned(),
                stat_cache_file: Some(self.stat_cache_file.clone()),
            };
            return Ok(Scanned::Unchanged {
                digest: m.digest,
                witness: Arc::new(witness),
            });
        }
        // The stamp must be taken before the scan starts: a change during the scan then
        // moves the watcher past it, and the next build scans again.
        let stamp = match (&self.watcher, self.write_memos) {
            (Some(w), true) => w.watch(root),
            _ => None,
        };
        let (tree, stats, snapshot) = scan_with_snapshot(root, self.stat_cache(), skip)?;
        let tree = Arc::new(tree);
        let witness = Arc::new(TreeWitness {
            root: root.to_path_buf(),
            skip: skip.iter().map(|s| s.to_string()).collect(),
            stamp: stamp
                .filter(|_| stats.external_links == 0)
                .zip(self.watcher.clone()),
            snapshot: Some(snapshot),
            digest: tree.digest(),
            stat_cache: None,
            stat_cache_file: None,
        });
        if let Some(stamp) = stamp.filter(|_| stats.external_links == 0) {
            let new = Memo {
                root: root.to_path_buf(),
                skip: skip.iter().map(|s| s.to_string()).collect(),
                stamp,
                digest: tree.digest(),
            };
            if memo.as_ref() != Some(&new)
                && let Ok(bytes) = serde_json::to_vec(&new)
            {
                let _ = write_atomic(&memo_file, &bytes);
            }
        }
        Ok(Scanned::Fresh {
            tree,
            stats,
            witness,
        })
    }

    fn memo_file(&self, root: &Path, skip: &[&str]) -> PathBuf {
        let mut key = root.as_os_str().as_encoded_bytes().to_vec();
        for s in skip {
            key.push(0);
            key.extend_from_slice(s.as_bytes());
        }
        let name = Digest::of(&key).to_hex();
        self.memo_dir.join(format!("{}.json", &name[..32]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A watcher whose stamp the test moves by hand.
    #[derive(Default)]
    struct FakeWatcher {
        generation: Mutex<u64>,
        queries: Mutex<usize>,
    }

    impl ChangeWatcher for FakeWatcher {
        fn watch(&self, _: &Path) -> Option<WatchStamp> {
            self.query_inner()
        }
        fn query(&self, _: &Path) -> Option<WatchStamp> {
            *self.queries.lock().unwrap() += 1;
            self.query_inner()
        }
    }

    impl FakeWatcher {
        fn query_inner(&self) -> Option<WatchStamp> {
            Some(WatchStamp {
                instance: 7,
                generation: *self.generation.lock().unwrap(),
            })
        }
        fn bump(&self) {
            *self.generation.lock().unwrap() += 1;
        }
    }

    fn setup() -> (tempfile::TempDir, PathBuf, Arc<FakeWatcher>, TreeScanner) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("a"), b"1").unwrap();
        let w = Arc::new(FakeWatcher::default());
        let s = TreeScanner::new(&dir.path().join("sc"), &dir.path().join("memo"))
            .with_watcher(w.clone(), true);
        (dir, root, w, s)
    }

    #[test]
    fn same_stamp_skips_the_scan_and_a_bump_rescans() {
        let (_d, root, w, s) = setup();
        let first = s.scan(&root, &[]).unwrap();
        assert!(matches!(first, Scanned::Fresh { .. }));
        // The file changes, but the (fake) watcher says nothing happened: the memo wins,
        // which shows that no file was looked at.
        std::fs::write(root.join("a"), b"2").unwrap();
        let second = s.scan(&root, &[]).unwrap();
        assert!(matches!(second, Scanned::Unchanged { digest, .. } if digest == first.digest()));
        w.bump();
        let third = s.scan(&root, &[]).unwrap();
        assert!(matches!(third, Scanned::Fresh { .. }));
        assert_ne!(third.digest(), first.digest());
    }

    #[test]
    fn external_hard_links_disable_the_memo() {
        let (d, root, _w, s) = setup();
        std::fs::hard_link(root.join("a"), d.path().join("outside")).unwrap();
        s.scan(&root, &[]).unwrap();
        assert!(matches!(s.scan(&root, &[]).unwrap(), Scanned::Fresh { .. }));
    }

    #[test]
    fn plans_read_memos_but_never_write_them() {
        let (d, root, w, _) = setup();
        let reader = TreeScanner::new(&d.path().join("sc"), &d.path().join("memo"))
            .with_watcher(w.clone(), false);
        reader.scan(&root, &[]).unwrap();
        assert!(!d.path().join("memo").exists());
    }
}
