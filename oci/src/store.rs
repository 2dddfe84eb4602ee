//! The packages kiln keeps: names only. Every blob lives once, in kiln's store (the CAS,
//! named by BLAKE3); a package record maps each of its blobs' OCI names (SHA-256) to that
//! store entry.
//!
//! On disk, under `<cache>/oci/`:
//!
//! ```text
//! refs/<registry>/<repository>/<tag>.json        a tagged package
//! refs/<registry>/<repository>/@sha256-<hex>.json a package pulled by digest
//! ```
//!
//! A record ([`PackageRecord`]) holds the index digest, the format, the manifests' platforms
//! and, for every blob the package needs (index, manifests, configs, layers), its SHA-256,
//! BLAKE3 and size. Invariant: a SHA-256 → BLAKE3 pair is written only after both digests
//! were computed over the same bytes in one pass (`blobs.rs`, or the pull, which checks the
//! SHA-256 the registry named). Records are written whole (temporary file, then rename), and
//! only when their content changes, so re-packaging an unchanged project writes nothing.
//! `kiln cache gc` keeps every blob a record names.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use kiln_engine::{BlobDigest, OutputFile};
use serde::{Deserialize, Serialize};

use crate::blobs::Blob;
use crate::digest::Sha256;
use crate::reference::{DEFAULT_REGISTRY, Reference};

/// The record format's version.
const RECORD_VERSION: u32 = 1;

/// One blob of a package, by both names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBlob {
    /// Its name in kiln's store.
    pub blake3: BlobDigest,
    /// Its size.
    pub size: u64,
}

impl StoredBlob {
    /// The store entry.
    pub fn file(&self) -> OutputFile {
        OutputFile {
            digest: self.blake3,
            size: self.size,
            executable: false,
        }
    }
}

/// One manifest of a package, as `kiln pkg ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSummary {
    /// The manifest's digest.
    pub digest: Sha256,
    /// The platform's os (`qemu`, `fc`, `xen`, `linux`).
    pub plat: String,
    /// The platform's architecture.
    pub arch: String,
    /// The manifest, config and layers together, in bytes.
    pub size: u64,
}

/// A package kiln keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRecord {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The reference it is stored under (`registry/repository:tag`).
    pub reference: String,
    /// `kraftkit`, `urunc`, or `oci` for a pulled package of another kind.
    pub format: String,
    /// The top-level manifest: an index (kiln writes only indexes) or a manifest.
    pub index: Sha256,
    /// Its media type.
    pub media_type: String,
    /// `org.opencontainers.image.created`, if the package has one.
    pub created: Option<String>,
    /// The manifests, in index order.
    pub manifests: Vec<ManifestSummary>,
    /// Every blob, by SHA-256.
    pub blobs: BTreeMap<Sha256, StoredBlob>,
}

impl PackageRecord {
    /// A record for a package whose blobs are `blobs`.
    pub fn new(reference: &Reference, format: &str, index: Sha256, media_type: &str) -> Self {
        PackageRecord {
            version: RECORD_VERSION,
            reference: reference.to_string(),
            format: format.into(),
            index,
            media_type: media_type.into(),
            created: None,
            manifests: Vec::new(),
            blobs: BTreeMap::new(),
        }
    }

    /// Adds `blob`.
    pub fn add(&mut self, blob: &Blob) {
        let stored = StoredBlob {
            blake3: blob.file.digest,
            size: blob.file.size,
        };
        self.blobs.insert(blob.sha256, stored);
    }

    /// The store entry of the blob named `digest`.
    pub fn blob(&self, digest: &Sha256) -> Option<OutputFile> {
        self.blobs.get(digest).map(StoredBlob::file)
    }

    /// The package's size: every blob once.
    pub fn size(&self) -> u64 {
        self.blobs.values().map(|b| b.size).sum()
    }
}

/// Why the package names could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PackageStoreError {
    /// A file system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A record that does not parse (written by another kiln version, or damaged).
    #[error("{}: not a package record kiln can read ({reason}); remove it with `kiln pkg rm`", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The package names under a cache directory.
#[derive(Debug, Clone)]
pub struct PackageStore {
    root: PathBuf,
}

impl PackageStore {
    /// The names kept in the cache at `cache_root`.
    pub fn new(cache_root: &Path) -> PackageStore {
        PackageStore {
            root: cache_root.join("oci"),
        }
    }

    fn record_path(&self, r: &Reference) -> PathBuf {
        let mut p = self.root.join("refs").join(&r.registry);
        p.extend(r.repository.split('/'));
        match (&r.digest, &r.tag) {
            (Some(d), None) => p.join(format!("@sha256-{}.json", d.hex())),
            _ => p.join(format!("{}.json", r.tag_or_latest())),
        }
    }

    /// The record stored under `r`, if any.
    pub fn get(&self, r: &Reference) -> Result<Option<PackageRecord>, PackageStoreError> {
        let path = self.record_path(r);
        match std::fs::read(&path) {
            Ok(bytes) => parse(&path, &bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(PackageStoreError::Io { path, source }),
        }
    }

    /// Stores `record` under `r`; returns whether anything was written.
    pub fn put(&self, r: &Reference, record: &PackageRecord) -> Result<bool, PackageStoreError> {
        let path = self.record_path(r);
        let mut bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
        bytes.push(b'\n');
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            return Ok(false);
        }
        let io = |source| PackageStoreError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        kiln_engine::fsutil::write_atomic(&path, &bytes).map_err(io)?;
        Ok(true)
    }

    /// Removes the record under `r`; returns whether there was one.
    pub fn remove(&self, r: &Reference) -> Result<bool, PackageStoreError> {
        let path = self.record_path(r);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(PackageStoreError::Io { path, source }),
        }
    }

    /// Every record, sorted by reference.
    pub fn list(&self) -> Result<Vec<PackageRecord>, PackageStoreError> {
        let mut out = Vec::new();
        let refs = self.root.join("refs");
        let mut stack = vec![refs];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(PackageStoreError::Io { path: dir, source }),
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    let bytes = std::fs::read(&path).map_err(|source| PackageStoreError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    out.push(parse(&path, &bytes)?);
                }
            }
        }
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(out)
    }

    /// The store entry of a blob named `digest` that some package holds.
    pub fn find_blob(&self, digest: &Sha256) -> Result<Option<OutputFile>, PackageStoreError> {
        Ok(self.list()?.iter().find_map(|r| r.blob(digest)))
    }

    /// Repositories of `registry` known to hold the blob `digest` (from packages pulled from
    /// there and pushes kiln made), for cross-repository mounts.
    pub fn repositories_with(&self, registry: &str, digest: &Sha256) -> Vec<String> {
        let mut repos: Vec<String> = self
            .list()
            .unwrap_or_default()
            .iter()
            .filter(|r| r.blobs.contains_key(digest))
            .filter_map(|r| Reference::parse(&r.reference, DEFAULT_REGISTRY).ok())
            .filter(|r| r.registry == registry)
            .map(|r| r.repository)
            .collect();
        let seen = self.read_seen(registry);
        repos.extend(
            seen.into_iter()
                .filter(|(_, d)| d.contains(digest))
                .map(|(r, _)| r),
        );
        repos.sort();
        repos.dedup();
        repos
    }

    /// Remembers that `repository` of `registry` holds `digests` (after a push).
    pub fn note_repository(
        &self,
        registry: &str,
        repository: &str,
        digests: &[Sha256],
    ) -> Result<(), PackageStoreError> {
        if digests.is_empty() {
            return Ok(());
        }
        let mut seen = self.read_seen(registry);
        seen.entry(repository.to_string())
            .or_default()
            .extend(digests.iter().copied());
        let path = self.seen_path(registry);
        let io = |source| PackageStoreError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(self.root.join("seen")).map_err(io)?;
        let bytes = serde_json::to_vec(&seen).unwrap_or_default();
        kiln_engine::fsutil::write_atomic(&path, &bytes).map_err(io)
    }

    fn seen_path(&self, registry: &str) -> PathBuf {
        self.root.join("seen").join(format!("{registry}.json"))
    }

    fn read_seen(&self, registry: &str) -> BTreeMap<String, std::collections::BTreeSet<Sha256>> {
        std::fs::read(self.seen_path(registry))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Every blob some package names (for `kiln cache gc`).
    pub fn pinned_blobs(&self) -> Result<Vec<BlobDigest>, PackageStoreError> {
        let records = self.list()?;
        Ok(records
            .iter()
            .flat_map(|r| r.blobs.values().map(|b| b.blake3))
            .collect())
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<PackageRecord, PackageStoreError> {
    let record: PackageRecord =
        serde_json::from_slice(bytes).map_err(|e| PackageStoreError::Bad {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if record.version != RECORD_VERSION {
        return Err(PackageStoreError::Bad {
            path: path.to_path_buf(),
            reason: format!("record version {}", record.version),
        });
    }
    // The reference must parse back, so a record cannot name something it is not.
    Reference::parse(&record.reference, DEFAULT_REGISTRY).map_err(|e| PackageStoreError::Bad {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_unchanged_puts_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = PackageStore::new(dir.path());
        let r = Reference::parse("localhost:5000/team/app:1.0", DEFAULT_REGISTRY).unwrap();
        let mut rec =
            PackageRecord::new(&r, "kraftkit", Sha256::of(b"i"), crate::spec::MEDIA_INDEX);
        rec.add(&Blob {
            sha256: Sha256::of(b"x"),
            file: OutputFile {
                digest: BlobDigest::of_bytes(b"x"),
                size: 1,
                executable: false,
            },
        });
        assert!(store.put(&r, &rec).unwrap());
        assert!(!store.put(&r, &rec).unwrap());
        assert_eq!(store.get(&r).unwrap().as_ref(), Some(&rec));
        assert_eq!(store.list().unwrap(), vec![rec.clone()]);
        assert_eq!(
            store.pinned_blobs().unwrap(),
            vec![BlobDigest::of_bytes(b"x")]
        );
        assert!(
            dir.path()
                .join("oci/refs/localhost:5000/team/app/1.0.json")
                .is_file()
        );
        assert!(store.remove(&r).unwrap());
        assert!(store.get(&r).unwrap().is_none());
    }
}
