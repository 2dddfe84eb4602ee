//! Pushing a package kiln keeps: blobs first (each skipped when the repository has it, else
//! mounted from another repository of the same registry that has it, else uploaded from
//! kiln's store), then every manifest by digest, then the index at the tag. Manifests are
//! sent as the exact bytes that were hashed, so the registry's digests are kiln's.

use std::io::Read;
use std::sync::Arc;

use kiln_engine::Store;

use super::RegistryError;
use super::client::{Client, TransferProgress};
use crate::digest::Sha256;
use crate::reference::Reference;
use crate::spec::{self, Index, Manifest};
use crate::store::{PackageRecord, PackageStore};

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PushReport {
    /// Blobs uploaded.
    pub uploaded: Vec<Sha256>,
    /// Blobs mounted from another repository.
    pub mounted: Vec<Sha256>,
    /// Blobs the repository already had.
    pub present: Vec<Sha256>,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Manifests put (by digest), then the index.
    pub manifests: Vec<Sha256>,
    /// The digest the tag now names.
    pub digest: Option<Sha256>,
}

/// Reads the whole blob `digest` of `record` from `store`, checked.
pub fn read_blob(
    store: &dyn Store,
    record: &PackageRecord,
    digest: &Sha256,
) -> Result<Vec<u8>, RegistryError> {
    let file = record.blob(digest).ok_or_else(|| {
        RegistryError::Local(format!(
            "{} does not hold {digest}: it was pulled only in part; pull it whole (without --plat/--arch) to push it",
            record.reference
        ))
    })?;
    let mut bytes = Vec::new();
    store
        .open_blob(&file)
        .map_err(|e| {
            RegistryError::Local(format!("{digest}: {e}; build or pull the package again"))
        })?
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::Local(format!("{digest}: {e}")))?;
    Ok(bytes)
}

/// Pushes `record` to `target` (`registry/repository:tag`).
pub fn push(
    client: &Client,
    target: &Reference,
    record: &PackageRecord,
    store: &dyn Store,
    packages: &PackageStore,
    progress: Arc<dyn TransferProgress>,
) -> Result<PushReport, RegistryError> {
    client.authenticate(target, true)?;
    let top = read_blob(store, record, &record.index)?;
    let mut manifests = Vec::new();
    if record.media_type == spec::MEDIA_INDEX || record.media_type == spec::MEDIA_DOCKER_LIST {
        let index: Index = serde_json::from_slice(&top).map_err(|e| {
            RegistryError::Local(format!(
                "{}: its index does not parse: {e}",
                record.reference
            ))
        })?;
        for m in &index.manifests {
            manifests.push((
                m.digest,
                m.media_type.clone(),
                read_blob(store, record, &m.digest)?,
            ));
        }
    }
    let mut report = PushReport::default();
    let blob_list = |bytes: &[u8]| -> Result<Vec<(Sha256, u64)>, RegistryError> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| {
            RegistryError::Local(format!(
                "{}: a manifest does not parse: {e}",
                record.reference
            ))
        })?;
        Ok(std::iter::once(&m.config)
            .chain(&m.layers)
            .map(|d| (d.digest, d.size))
            .collect())
    };
    let mut blobs = Vec::new();
    if manifests.is_empty() {
        blobs.extend(blob_list(&top)?);
    }
    for (_, _, bytes) in &manifests {
        blobs.extend(blob_list(bytes)?);
    }
    blobs.sort();
    blobs.dedup();
    for (digest, size) in blobs {
        push_one(
            client,
            target,
            record,
            store,
            packages,
            &progress,
            digest,
            size,
            &mut report,
        )?;
    }
    for (digest, media_type, bytes) in &manifests {
        client.put_manifest(target, &digest.to_string(), bytes, media_type)?;
        report.manifests.push(*digest);
    }
    client.put_manifest(target, target.tag_or_latest(), &top, &record.media_type)?;
    report.digest = Some(record.index);
    let _ = packages.note_repository(&target.registry, &target.repository, &report.uploaded);
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn push_one(
    client: &Client,
    target: &Reference,
    record: &PackageRecord,
    store: &dyn Store,
    packages: &PackageStore,
    progress: &Arc<dyn TransferProgress>,
    digest: Sha256,
    size: u64,
    report: &mut PushReport,
) -> Result<(), RegistryError> {
    if client.has_blob(target, &digest)? {
        report.present.push(digest);
        return Ok(());
    }
    for from in packages.repositories_with(&target.registry, &digest) {
        if from != target.repository && client.mount(target, &from, &digest) {
            report.mounted.push(digest);
            return Ok(());
        }
    }
    let file = record.blob(&digest).ok_or_else(|| {
        RegistryError::Local(format!(
            "{}: the blob {digest} is not in kiln's store",
            record.reference
        ))
    })?;
    let data = store.open_blob(&file).map_err(|e| {
        RegistryError::Local(format!("{digest}: {e}; build or pull the package again"))
    })?;
    client.push_blob(target, &digest, size, data, progress.clone())?;
    report.uploaded.push(digest);
    report.bytes_uploaded += size;
    Ok(())
}
