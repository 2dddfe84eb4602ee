//! Writing OCI blobs into kiln's store: each blob's bytes pass once through both hashes, so
//! its SHA-256 (the OCI name) and its BLAKE3 (the store's name) are of the same bytes.

use std::io::{self, Write};

use kiln_engine::{OutputFile, Store, StoreError};

use crate::digest::{Sha256, Sha256Writer};

/// A blob in kiln's store, by both names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// Its OCI name.
    pub sha256: Sha256,
    /// Its store entry (BLAKE3 digest and size).
    pub file: OutputFile,
}

/// Why a blob could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Producing the bytes failed (a file that changed, a read error).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores what `write` writes, hashing it with SHA-256 on the way.
pub fn put_with(
    store: &dyn Store,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<Blob, BlobError> {
    let mut w = Sha256Writer::new(store.blob_writer()?);
    write(&mut w)?;
    let (w, sha256, _) = w.finish();
    let file = w.commit(false)?;
    Ok(Blob { sha256, file })
}

/// Stores `bytes`.
pub fn put_bytes(store: &dyn Store, bytes: &[u8]) -> Result<Blob, BlobError> {
    put_with(store, |w| w.write_all(bytes))
}
