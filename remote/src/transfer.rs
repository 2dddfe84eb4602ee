//! Moving blobs between the remote cache and the local store, verified on the way.
//!
//! A download streams into a local [`BlobWriter`] while it is hashed with the remote's
//! function; it is committed only when its size and digest match what the entry named, so a
//! wrong or short blob never reaches the store (dropping the writer discards it). An upload
//! reads the local blob through the store's checked reader, so damaged local bytes are never
//! sent either.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Mutex;

use kiln_engine::remote::RemoteError;
use kiln_engine::{BlobDigest, BlobWriter, OutputFile, Store};

use crate::hashing::{HashFn, Hasher, RemoteDigest};

/// A blob arriving from the remote, on its way into the local store.
pub struct Incoming {
    writer: Box<dyn BlobWriter>,
    hasher: Hasher,
    expected: RemoteDigest,
    what: String,
}

impl Incoming {
    /// Starts receiving `expected` (described as `what` in errors) into `local`.
    pub fn new(
        local: &dyn Store,
        f: HashFn,
        expected: RemoteDigest,
        what: String,
    ) -> Result<Self, RemoteError> {
        let writer = local
            .blob_writer()
            .map_err(|e| RemoteError::Unavailable(format!("the local cache: {e}")))?;
        Ok(Incoming {
            writer,
            hasher: f.hasher(),
            expected,
            what,
        })
    }

    /// Takes the next chunk.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), RemoteError> {
        self.hasher.update(chunk);
        if self.received() > self.expected.size {
            return Err(self.mismatch());
        }
        self.writer
            .write_all(chunk)
            .map_err(|e| RemoteError::Unavailable(format!("writing the local cache: {e}")))
    }

    fn received(&self) -> u64 {
        self.hasher.size()
    }

    fn mismatch(&self) -> RemoteError {
        RemoteError::Corrupt(format!(
            "the remote blob {} ({}) has other bytes than its digest says",
            self.expected, self.what
        ))
    }

    /// Checks the whole blob and commits it to the local store.
    pub fn finish(self, executable: bool) -> Result<(OutputFile, RemoteDigest), RemoteError> {
        let err = self.mismatch();
        let got = self.hasher.finish();
        if got != self.expected {
            return Err(err);
        }
        let file = self
            .writer
            .commit(executable)
            .map_err(|e| RemoteError::Unavailable(format!("the local cache: {e}")))?;
        Ok((file, got))
    }
}

/// The remote digests of local blobs already computed in this process (SHA-256 costs a read
/// of the blob; a blob downloaded or uploaded once is not hashed again).
#[derive(Default)]
pub struct DigestMemo {
    known: Mutex<HashMap<BlobDigest, RemoteDigest>>,
}

impl DigestMemo {
    /// Remembers that local `blob` is `remote`.
    pub fn remember(&self, blob: BlobDigest, remote: RemoteDigest) {
        if let Ok(mut k) = self.known.lock() {
            k.insert(blob, remote);
        }
    }

    /// The remote digest of local `file` under `f` (read through the checked reader).
    pub fn digest_of(
        &self,
        local: &dyn Store,
        file: &OutputFile,
        f: HashFn,
    ) -> Result<RemoteDigest, RemoteError> {
        if f == HashFn::Blake3 {
            // kiln's blob digests are plain BLAKE3 of the bytes: the same digest.
            return Ok(RemoteDigest {
                hash: file.digest.to_hex(),
                size: file.size,
            });
        }
        if let Some(d) = self
            .known
            .lock()
            .ok()
            .and_then(|k| k.get(&file.digest).cloned())
        {
            return Ok(d);
        }
        let mut h = f.hasher();
        let mut reader = open_local(local, file)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| local_read_error(file, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let d = h.finish();
        self.remember(file.digest, d.clone());
        Ok(d)
    }
}

/// The blobs this run downloaded with wrong bytes (or found missing): uploaded again even
/// when the server says it has them, so the result rebuilt here repairs the entry.
#[derive(Default)]
pub struct BadBlobs(Mutex<std::collections::HashSet<String>>);

impl BadBlobs {
    /// Remembers `d` when `e` says its bytes were unusable.
    pub fn mark(&self, e: &RemoteError, d: &RemoteDigest) {
        if let RemoteError::Corrupt(_) = e
            && let Ok(mut bad) = self.0.lock()
        {
            bad.insert(d.hash.clone());
        }
    }

    /// Whether `d` was found bad in this run.
    pub fn contains(&self, d: &RemoteDigest) -> bool {
        self.0.lock().is_ok_and(|b| b.contains(&d.hash))
    }
}

/// The local blob `file`, read through the store's checked reader.
pub fn open_local(
    local: &dyn Store,
    file: &OutputFile,
) -> Result<Box<dyn Read + Send>, RemoteError> {
    local
        .open_blob(file)
        .map_err(|e| RemoteError::Corrupt(format!("cannot upload: {e}")))
}

/// A failed read of a local blob being uploaded (damaged: the store removed it).
pub fn local_read_error(file: &OutputFile, e: std::io::Error) -> RemoteError {
    RemoteError::Corrupt(format!("cannot upload blob {}: {e}", file.digest))
}
