//! Garbage collection: least-recently-used eviction down to a size limit.
//!
//! Runs under the exclusive lock (see `maintenance.rs`), so no build adds or reads entries
//! meanwhile. Recency is the mtime that lookups refresh (see `layout.rs`). It never re-hashes
//! blobs and leaves stray files alone; that is `verify`'s job.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use kiln_engine::temp_owner;
use kiln_engine::{ActionKey, ActionResult, BlobDigest, Digest};
use serde::Serialize;

use crate::error::CacheError;
use crate::layout::{self, Layout, STALE_TEMP_AGE};
use crate::scan::{self, StoredFile};

/// What a garbage collection removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// The cache's root directory.
    pub path: PathBuf,
    /// The limit asked for, in bytes.
    pub max_size: u64,
    /// Bytes of blobs and action results before.
    pub bytes_before: u64,
    /// Bytes of blobs and action results after; at most `max_size`.
    pub bytes_after: u64,
    /// `bytes_before - bytes_after`.
    pub bytes_freed: u64,
    /// The blobs evicted, oldest first.
    pub blobs_removed: Vec<BlobDigest>,
    /// The action results evicted (oldest first), then those dropped because they named an
    /// evicted blob or did not parse.
    pub actions_removed: Vec<ActionKey>,
    /// How many temp files of writers that died were deleted.
    pub temp_files_removed: u64,
}

/// Runs a collection on `layout`, never evicting a blob in `pinned` (the blobs of the
/// packages kiln keeps); the caller holds the exclusive lock.
pub(crate) fn collect_garbage(
    layout: &Layout,
    max_size: u64,
    pinned: &HashSet<BlobDigest>,
) -> Result<GcReport, CacheError> {
    let temp_files_removed = remove_stale_temps(layout.tmp_dir(), SystemTime::now())?;
    // Stray files are left to `verify`.
    let well_formed = |files: Vec<StoredFile>| -> Vec<(Digest, StoredFile)> {
        let named = files.into_iter().filter_map(|f| Some((f.digest?, f)));
        named.collect()
    };
    let mut blobs = well_formed(scan::scan_entries(layout.cas_dir())?);
    let pinned_bytes: u64 = blobs
        .iter()
        .filter(|(d, _)| pinned.contains(&BlobDigest::from_raw(*d)))
        .map(|(_, f)| f.len)
        .sum();
    let actions = well_formed(scan::scan_entries(layout.ac_dir())?);
    let bytes_before: u64 = blobs.iter().chain(&actions).map(|(_, f)| f.len).sum();
    let mut report = GcReport {
        path: layout.root().to_path_buf(),
        max_size,
        bytes_before,
        bytes_after: bytes_before,
        bytes_freed: 0,
        blobs_removed: Vec::new(),
        actions_removed: Vec::new(),
        temp_files_removed,
    };
    // Pinned blobs count towards the size but are never candidates.
    blobs.retain(|(d, _)| !pinned.contains(&BlobDigest::from_raw(*d)));
    let limit = report.max_size;
    report.max_size = limit.saturating_sub(pinned_bytes);
    report.bytes_after -= pinned_bytes;
    let evicted_actions = evict_least_recently_used(&blobs, &actions, &mut report)?;
    report.max_size = limit;
    report.bytes_after += pinned_bytes;
    let kept_actions = actions
        .iter()
        .enumerate()
        .filter(|(i, _)| !evicted_actions.contains(i))
        .map(|(_, action)| action);
    drop_actions_naming_evicted_blobs(kept_actions, &mut report)?;
    report.bytes_freed = report.bytes_before - report.bytes_after;
    Ok(report)
}

/// Deletes the oldest entries until `report.bytes_after <= report.max_size`, recording them
/// in `report`. Returns the indices (into `actions`) of the evicted action results.
fn evict_least_recently_used(
    blobs: &[(Digest, StoredFile)],
    actions: &[(Digest, StoredFile)],
    report: &mut GcReport,
) -> Result<HashSet<usize>, CacheError> {
    // (mtime, is a blob, index): at equal mtimes an action result goes first, since dropping
    // it leaves every other entry usable.
    let mut by_age: Vec<(SystemTime, bool, usize)> = actions
        .iter()
        .enumerate()
        .map(|(i, (_, a))| (a.modified, false, i))
        .chain(
            blobs
                .iter()
                .enumerate()
                .map(|(i, (_, b))| (b.modified, true, i)),
        )
        .collect();
    by_age.sort();
    let mut evicted_actions = HashSet::new();
    for (_, is_blob, index) in by_age {
        if report.bytes_after <= report.max_size {
            break;
        }
        let (digest, victim) = if is_blob {
            &blobs[index]
        } else {
            &actions[index]
        };
        layout::remove_if_present(&victim.path)?;
        report.bytes_after -= victim.len;
        if is_blob {
            report.blobs_removed.push(BlobDigest::from_raw(*digest));
        } else {
            report.actions_removed.push(ActionKey::from_raw(*digest));
            evicted_actions.insert(index);
        }
    }
    Ok(evicted_actions)
}

/// Deletes the action results among `kept` that name a blob in `report.blobs_removed` (or do
/// not parse), since every lookup of them would miss.
fn drop_actions_naming_evicted_blobs<'a>(
    kept: impl Iterator<Item = &'a (Digest, StoredFile)>,
    report: &mut GcReport,
) -> Result<(), CacheError> {
    if report.blobs_removed.is_empty() {
        return Ok(());
    }
    let evicted: HashSet<BlobDigest> = report.blobs_removed.iter().copied().collect();
    for (digest, action) in kept {
        let Ok(bytes) = fs::read(&action.path) else {
            continue;
        };
        let useless = match serde_json::from_slice::<ActionResult>(&bytes) {
            Ok(result) => result.outputs.values().any(|o| evicted.contains(&o.digest)),
            Err(_) => true,
        };
        if useless {
            layout::remove_if_present(&action.path)?;
            report.bytes_after -= action.len;
            report.actions_removed.push(ActionKey::from_raw(*digest));
        }
    }
    Ok(())
}

/// Deletes the files in `tmp/` whose writer died, and those whose names carry no writer (an
/// older kiln's) once older than [`STALE_TEMP_AGE`] at `now`; returns how many.
fn remove_stale_temps(tmp: &Path, now: SystemTime) -> Result<u64, CacheError> {
    let mut removed = layout::remove_dead_temps(tmp)?.files;
    for entry in scan::read_dir_if_present(tmp)? {
        let name = entry.file_name();
        if name.to_str().and_then(temp_owner::owner_of).is_some() {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok());
        if meta.is_file() && age.is_some_and(|age| age > STALE_TEMP_AGE) {
            layout::remove_if_present(&entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}
