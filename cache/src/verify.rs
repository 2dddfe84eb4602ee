//! Verification: re-hash every blob and drop whatever is damaged.
//!
//! Runs under the exclusive lock (see `maintenance.rs`). Blobs are hashed in parallel with
//! rayon (memory-mapped, big ones split across cores as well). It repairs by deleting; it
//! never rewrites an entry, and it does not enforce a size limit (that is `gc`).

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use kiln_engine::{ActionKey, ActionResult, BlobDigest, Digest};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::CacheError;
use crate::layout::{self, Layout};
use crate::local::intact_blob;
use crate::scan::{self, StoredFile};

/// What a verification found and removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The cache's root directory.
    pub path: PathBuf,
    /// How many blobs were re-hashed.
    pub blobs_checked: u64,
    /// Blobs whose content did not match their name; deleted.
    pub blobs_removed: Vec<BlobDigest>,
    /// How many action results were checked.
    pub actions_checked: u64,
    /// Action results that did not parse or named a missing or wrong-size blob; deleted.
    pub actions_removed: Vec<ActionKey>,
    /// Files in `cas/` or `ac/` whose names the layout does not allow; deleted.
    pub strays_removed: Vec<PathBuf>,
    /// The bytes of everything deleted.
    pub bytes_removed: u64,
}

/// Verifies `layout`; the caller holds the exclusive lock.
pub(crate) fn verify_all(layout: &Layout) -> Result<VerifyReport, CacheError> {
    let mut report = VerifyReport {
        path: layout.root().to_path_buf(),
        blobs_checked: 0,
        blobs_removed: Vec::new(),
        actions_checked: 0,
        actions_removed: Vec::new(),
        strays_removed: Vec::new(),
        bytes_removed: 0,
    };
    let blobs = remove_strays(scan::scan_entries(layout.cas_dir())?, &mut report)?;
    verify_blobs(&blobs, &mut report)?;
    let actions = remove_strays(scan::scan_entries(layout.ac_dir())?, &mut report)?;
    verify_actions(layout, &actions, &mut report)?;
    Ok(report)
}

/// Deletes the stray files among `files`; returns the others with their digests.
fn remove_strays(
    files: Vec<StoredFile>,
    report: &mut VerifyReport,
) -> Result<Vec<(Digest, StoredFile)>, CacheError> {
    let mut named = Vec::with_capacity(files.len());
    for file in files {
        match file.digest {
            Some(digest) => named.push((digest, file)),
            None => {
                layout::remove_if_present(&file.path)?;
                report.bytes_removed += file.len;
                report.strays_removed.push(file.path);
            }
        }
    }
    Ok(named)
}

/// Re-hashes `blobs` in parallel and deletes those whose content is not their name.
fn verify_blobs(
    blobs: &[(Digest, StoredFile)],
    report: &mut VerifyReport,
) -> Result<(), CacheError> {
    let damaged: Vec<&(Digest, StoredFile)> = blobs
        .par_iter()
        .map(|entry| Ok((entry, hash_file(&entry.1.path)?)))
        .collect::<Result<Vec<_>, CacheError>>()?
        .into_iter()
        .filter(|((digest, _), actual)| actual.is_some_and(|actual| actual != *digest))
        .map(|(entry, _)| entry)
        .collect();
    for (digest, file) in damaged {
        layout::remove_if_present(&file.path)?;
        report.bytes_removed += file.len;
        report.blobs_removed.push(BlobDigest::from_raw(*digest));
    }
    report.blobs_checked = blobs.len() as u64;
    Ok(())
}

/// The BLAKE3 digest of the file at `path`, or `None` if it vanished.
fn hash_file(path: &Path) -> Result<Option<Digest>, CacheError> {
    let mut hasher = blake3::Hasher::new();
    match hasher.update_mmap_rayon(path) {
        Ok(_) => Ok(Some(hasher.finalize().into())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CacheError::io(path)(e)),
    }
}

/// Deletes the action results that do not parse or name a blob that is not intact.
fn verify_actions(
    layout: &Layout,
    actions: &[(Digest, StoredFile)],
    report: &mut VerifyReport,
) -> Result<(), CacheError> {
    for (digest, file) in actions {
        let bytes = match fs::read(&file.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(CacheError::io(&file.path)(e)),
        };
        let usable = match serde_json::from_slice::<ActionResult>(&bytes) {
            Ok(result) => all_blobs_intact(layout, &result)?,
            Err(_) => false,
        };
        if !usable {
            layout::remove_if_present(&file.path)?;
            report.bytes_removed += file.len;
            report.actions_removed.push(ActionKey::from_raw(*digest));
        }
    }
    report.actions_checked = actions.len() as u64;
    Ok(())
}

/// Whether every blob `result` names is present with its recorded size.
fn all_blobs_intact(layout: &Layout, result: &ActionResult) -> Result<bool, CacheError> {
    for output in result.outputs.values() {
        if intact_blob(layout, output)?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}
