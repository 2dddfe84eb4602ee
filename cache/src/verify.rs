//! Verification: re-hash every blob and drop whatever is damaged, and what was built from it.
//!
//! Runs under the exclusive lock (see `maintenance.rs`). Blobs are hashed in parallel with
//! rayon (big ones split across cores as well, read rather than memory-mapped). Then every
//! action result is checked: one that does not parse, names a missing or wrong-size output,
//! or was built from a dropped blob (its recorded `inputs`) is dropped; the outputs of a
//! result dropped for its inputs are dropped too, since they were made from damaged bytes,
//! and so on until nothing more changes. It repairs by deleting; it never rewrites an entry,
//! and it does not enforce a size limit (that is `gc`).

use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use kiln_engine::scan::{HashError, hash_file};
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
    /// Blobs with a correct hash that were built from a damaged blob; deleted.
    pub derived_blobs_removed: Vec<BlobDigest>,
    /// How many action results were checked.
    pub actions_checked: u64,
    /// Action results that did not parse, named a missing or wrong-size blob, or were built
    /// from a damaged blob; deleted.
    pub actions_removed: Vec<ActionKey>,
    /// Files in `cas/` or `ac/` whose names the layout does not allow, and directories where
    /// an entry should be; deleted.
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
        derived_blobs_removed: Vec::new(),
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
                layout::remove_entry(&file.path)?;
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
        .map(|entry| Ok((entry, hash_blob(&entry.1)?)))
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

/// The BLAKE3 digest of a stored blob, or `None` if it vanished. A blob whose length changed
/// under the hash is damaged: its digest is reported as all zeros, which matches no name.
fn hash_blob(file: &StoredFile) -> Result<Option<Digest>, CacheError> {
    match hash_file(&file.path, file.len) {
        Ok(d) => Ok(Some(d.raw())),
        Err(HashError::Io(e)) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(HashError::Io(e)) => Err(CacheError::io(&file.path)(e)),
        Err(HashError::Changed { .. }) => Ok(Some(Digest([0; 32]))),
    }
}

/// Deletes the action results that do not parse, name a blob that is not intact, or were
/// built from a blob that was deleted, following what was built from them.
fn verify_actions(
    layout: &Layout,
    actions: &[(Digest, StoredFile)],
    report: &mut VerifyReport,
) -> Result<(), CacheError> {
    let mut parsed: Vec<(Digest, &StoredFile, Option<ActionResult>)> = Vec::new();
    for (digest, file) in actions {
        let bytes = match fs::read(&file.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(CacheError::io(&file.path)(e)),
        };
        parsed.push((*digest, file, serde_json::from_slice(&bytes).ok()));
    }
    let mut tainted: HashSet<BlobDigest> = report.blobs_removed.iter().copied().collect();
    let mut dropped = vec![false; parsed.len()];
    // Results built from a tainted blob taint their outputs in turn.
    loop {
        let mut changed = false;
        for (i, (_, _, result)) in parsed.iter().enumerate() {
            let Some(result) = result else { continue };
            if dropped[i] || !result.inputs.iter().any(|b| tainted.contains(b)) {
                continue;
            }
            dropped[i] = true;
            changed = true;
            for output in result.outputs.values() {
                if tainted.insert(output.digest) {
                    remove_derived_blob(layout, output.digest, report)?;
                }
            }
        }
        if !changed {
            break;
        }
    }
    for (i, (digest, file, result)) in parsed.iter().enumerate() {
        let usable = !dropped[i]
            && match result {
                Some(result) => all_blobs_intact(layout, result)?,
                None => false,
            };
        if !usable {
            layout::remove_if_present(&file.path)?;
            report.bytes_removed += file.len;
            report.actions_removed.push(ActionKey::from_raw(*digest));
        }
    }
    report.actions_checked = parsed.len() as u64;
    Ok(())
}

/// Deletes a blob that was built from damaged bytes.
fn remove_derived_blob(
    layout: &Layout,
    digest: BlobDigest,
    report: &mut VerifyReport,
) -> Result<(), CacheError> {
    let path = layout.blob_path(&digest);
    if let Ok(meta) = fs::metadata(&path) {
        layout::remove_if_present(&path)?;
        report.bytes_removed += meta.len();
        report.derived_blobs_removed.push(digest);
    }
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
