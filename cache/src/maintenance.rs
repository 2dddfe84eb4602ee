//! Maintenance of a cache root: [`stats`], [`gc`], [`verify`], [`clean`], and
//! [`ExclusiveCache`], which holds the lock they need.
//!
//! The reports are plain `serde::Serialize` structs so the CLI can print them as text or JSON;
//! this module prints nothing. `stats` reads without locking (its numbers may be a moment
//! old); the others delete files and so wait until no build has the cache open.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use kiln_engine::BlobDigest;

use crate::error::CacheError;
use crate::gc::{self, GcReport};
use crate::layout::{self, Layout};
use crate::lock::{CacheLock, LockMode};
use crate::scan;
use crate::verify::{self, VerifyReport};

/// What a cache holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// The cache's root directory.
    pub path: PathBuf,
    /// How many blobs `cas/` holds.
    pub blobs: u64,
    /// Their total length in bytes.
    pub blob_bytes: u64,
    /// How many action results `ac/` holds.
    pub actions: u64,
    /// Their total length in bytes.
    pub action_bytes: u64,
    /// `blob_bytes + action_bytes`: what `gc --max-size` compares against.
    pub total_bytes: u64,
    /// Files of writers that are still running (builds in progress) in `tmp/`.
    pub temp_files: u64,
    /// Their bytes.
    pub temp_bytes: u64,
    /// Files of writers that died (killed builds), found in `tmp/` and removed now.
    pub dead_temp_files_removed: u64,
    /// Their bytes.
    pub dead_temp_bytes_removed: u64,
}

/// What [`clean`] removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CleanReport {
    /// The cache's root directory.
    pub path: PathBuf,
    /// How many blobs were removed.
    pub blobs_removed: u64,
    /// How many action results were removed.
    pub actions_removed: u64,
    /// The bytes they took.
    pub bytes_freed: u64,
}

/// Counts the entries of the cache at `root` and their sizes, and removes the temp files of
/// writers that died (safe without the lock: nobody will finish them). A missing cache is
/// empty. Takes no lock, so it never waits; stray files (names the layout does not allow)
/// are not counted.
pub fn stats(root: &Path) -> Result<CacheStats, CacheError> {
    let layout = Layout::new(root);
    let mut stats = CacheStats {
        path: root.to_path_buf(),
        blobs: 0,
        blob_bytes: 0,
        actions: 0,
        action_bytes: 0,
        total_bytes: 0,
        temp_files: 0,
        temp_bytes: 0,
        dead_temp_files_removed: 0,
        dead_temp_bytes_removed: 0,
    };
    // On a read-only cache nothing can be removed; the dead files are then counted as temps.
    if let Ok(removed) = layout::remove_dead_temps(layout.tmp_dir()) {
        stats.dead_temp_files_removed = removed.files;
        stats.dead_temp_bytes_removed = removed.bytes;
    }
    for entry in scan::read_dir_if_present(layout.tmp_dir())? {
        if let Ok(meta) = entry.metadata()
            && meta.is_file()
        {
            stats.temp_files += 1;
            stats.temp_bytes += meta.len();
        }
    }
    for blob in scan::scan_entries(layout.cas_dir())? {
        if blob.digest.is_some() {
            stats.blobs += 1;
            stats.blob_bytes += blob.len;
        }
    }
    for action in scan::scan_entries(layout.ac_dir())? {
        if action.digest.is_some() {
            stats.actions += 1;
            stats.action_bytes += action.len;
        }
    }
    stats.total_bytes = stats.blob_bytes + stats.action_bytes;
    Ok(stats)
}

/// Evicts least-recently-used entries of the cache at `root` until it holds at most
/// `max_size` bytes, waiting silently for open stores to close. See [`ExclusiveCache::gc`].
pub fn gc(root: &Path, max_size: u64) -> Result<GcReport, CacheError> {
    ExclusiveCache::open(root)?.gc(max_size, &HashSet::new())
}

/// Re-hashes every blob of the cache at `root` and drops what is damaged, waiting silently
/// for open stores to close. See [`ExclusiveCache::verify`].
pub fn verify(root: &Path) -> Result<VerifyReport, CacheError> {
    ExclusiveCache::open(root)?.verify()
}

/// Empties the cache at `root`, waiting silently for open stores to close. See
/// [`ExclusiveCache::clean`].
pub fn clean(root: &Path) -> Result<CleanReport, CacheError> {
    ExclusiveCache::open(root)?.clean()
}

/// A cache root locked exclusively: no build has it open while this lives.
///
/// Do not open one while this process holds a [`crate::LocalStore`] on the same root: the
/// lock is per open file, so it would wait for itself.
#[derive(Debug)]
pub struct ExclusiveCache {
    layout: Layout,
    /// Held exclusively until dropped.
    _lock: CacheLock,
}

impl ExclusiveCache {
    /// Locks the cache at `root` (creating it if needed), waiting silently for open stores.
    pub fn open(root: &Path) -> Result<ExclusiveCache, CacheError> {
        ExclusiveCache::open_with(root, &|| {})
    }

    /// Locks the cache at `root` (creating it if needed). If a build has it open, calls
    /// `on_wait` once and then waits for every open store to close.
    pub fn open_with(root: &Path, on_wait: &dyn Fn()) -> Result<ExclusiveCache, CacheError> {
        let layout = Layout::new(root);
        layout.create_root()?;
        let lock = CacheLock::acquire(&layout.lock_path(), LockMode::Exclusive, on_wait)?;
        layout.create_dirs()?;
        Ok(ExclusiveCache {
            layout,
            _lock: lock,
        })
    }

    /// Evicts the least-recently-used (oldest mtime) action results and blobs until the
    /// cache holds at most `max_size` bytes, then drops the action results that name an
    /// evicted blob, and deletes the temp files of writers that died. Blobs in `pinned` (those
    /// of kept packages) are never evicted: the limit is then met with the others, as far as
    /// they go.
    pub fn gc(&self, max_size: u64, pinned: &HashSet<BlobDigest>) -> Result<GcReport, CacheError> {
        gc::collect_garbage(&self.layout, max_size, pinned)
    }

    /// Re-hashes every blob (in parallel) and deletes those whose content does not match
    /// their name; then deletes action results that do not parse or name a blob that is
    /// missing or of the wrong size. Stray files in `cas/` and `ac/` are deleted too.
    pub fn verify(&self) -> Result<VerifyReport, CacheError> {
        verify::verify_all(&self.layout)
    }

    /// Removes every blob, action result and temp file, leaving an empty, valid cache. Files
    /// the layout does not name (outside `cas/`, `ac/`, `tmp/`) are left alone, so a cache
    /// root set by mistake to a directory with other contents loses only kiln's own files.
    pub fn clean(&self) -> Result<CleanReport, CacheError> {
        let before = stats(self.layout.root())?;
        for dir in [
            self.layout.cas_dir(),
            self.layout.ac_dir(),
            self.layout.tmp_dir(),
        ] {
            match fs::remove_dir_all(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(CacheError::io(dir)(e));
                }
                _ => {}
            }
        }
        self.layout.create_dirs()?;
        Ok(CleanReport {
            path: before.path,
            blobs_removed: before.blobs,
            actions_removed: before.actions,
            bytes_freed: before.total_bytes,
        })
    }
}
