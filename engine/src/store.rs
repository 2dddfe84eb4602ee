//! The store interface: a content-addressed blob store plus an action cache.
//!
//! The engine talks to storage only through [`Store`]; the `kiln-cache` crate implements it
//! on local disk (and later over HTTP). A cache miss is `Ok(None)`, never an error. Blobs are
//! written through a [`BlobWriter`] that hashes while it writes, so a multi-hundred-megabyte
//! artifact is read from disk zero extra times. Outputs reach the user's tree only through
//! [`Store::materialize`], which copies (or reflinks) and never hard-links: a user editing a
//! materialized file must not be able to corrupt the cache.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{ActionKey, BlobDigest, Digest};
use crate::encoding::CanonicalEncoder;

/// One output file of an action, as stored in the CAS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutputFile {
    /// Digest of the content.
    pub digest: BlobDigest,
    /// Size in bytes; checked against the stored blob on every read.
    pub size: u64,
    /// Whether to materialize it with the execute bits set.
    pub executable: bool,
}

/// What an action produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActionResult {
    /// Named output files.
    pub outputs: BTreeMap<String, OutputFile>,
    /// How long the action ran, in milliseconds (informational; not part of any digest).
    pub duration_ms: u64,
    /// The blobs of the dependencies' results, which the action may have read: set by the
    /// engine when it records the result, so that dropping a damaged blob can also drop what
    /// was built from it. Not part of any digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<BlobDigest>,
}

impl ActionResult {
    /// A result with these outputs (duration and inputs are filled in by the engine).
    pub fn with_outputs(outputs: BTreeMap<String, OutputFile>) -> Self {
        ActionResult {
            outputs,
            ..ActionResult::default()
        }
    }

    /// The digest of the outputs alone (names, digests, sizes, exec bits), which downstream
    /// actions take as their input. Because it ignores duration, a re-run that produces the
    /// same bytes yields the same digest: that is early cutoff.
    pub fn outputs_digest(&self) -> Digest {
        let mut enc = CanonicalEncoder::new("kiln/outputs/v1");
        enc.u64(self.outputs.len() as u64);
        for (name, o) in &self.outputs {
            enc.str(name)
                .digest(&o.digest.raw())
                .u64(o.size)
                .tag(o.executable as u8);
        }
        enc.finish()
    }
}

/// A store failure (I/O, corruption that cannot be repaired by treating it as a miss).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on a path inside the store.
    #[error("cache I/O error at {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A blob that an action result names is not in the store.
    #[error("blob {0} is missing from the cache")]
    MissingBlob(BlobDigest),
    /// A blob's bytes do not hash to its digest (a damaged cache); the store removed it.
    #[error(
        "blob {digest} in the cache was damaged: its content no longer matches its digest; \
         it was removed ({path})"
    )]
    Damaged {
        /// The blob.
        digest: BlobDigest,
        /// Where it was.
        path: PathBuf,
    },
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}

/// A blob being written into the store. Dropping it without [`BlobWriter::commit`] discards
/// the partial data; nothing half-written is ever visible under a digest.
pub trait BlobWriter: Write + Send {
    /// Finishes the blob: its digest is that of all bytes written.
    fn commit(self: Box<Self>, executable: bool) -> Result<OutputFile, StoreError>;
}

/// A content-addressed store plus an action cache.
pub trait Store: Send + Sync {
    /// The result recorded under `key`, if present and all its blobs are present with the
    /// recorded sizes. A damaged entry is dropped and reported as a miss.
    fn lookup(&self, key: &ActionKey) -> Result<Option<ActionResult>, StoreError>;

    /// Whether a result for `key` is recorded, without checking its blobs (cheap; for plans).
    fn contains(&self, key: &ActionKey) -> Result<bool, StoreError>;

    /// Records `result` under `key`. Every blob it names must already be in the store.
    fn record(&self, key: &ActionKey, result: &ActionResult) -> Result<(), StoreError>;

    /// Starts writing a new blob.
    fn blob_writer(&self) -> Result<Box<dyn BlobWriter>, StoreError>;

    /// Copies a file into the store (hashing it on the way).
    fn put_file(&self, path: &Path, executable: bool) -> Result<OutputFile, StoreError> {
        let mut src = std::fs::File::open(path).map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut w = self.blob_writer()?;
        std::io::copy(&mut src, &mut w).map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        w.commit(executable)
    }

    /// Writes the blob `file` to `dest` (copied, never hard-linked) atomically: a temporary
    /// file beside `dest`, then a rename. The bytes are hashed on the way; a blob that does
    /// not match its digest is removed from the store and reported as
    /// [`StoreError::Damaged`], and `dest` is left as it was.
    fn materialize(&self, file: &OutputFile, dest: &Path) -> Result<(), StoreError>;

    /// Opens the blob `file` for reading, hashed as it is read (see [`CheckedBlobReader`]):
    /// reading a damaged blob to its end fails, and the blob is removed from the store.
    fn open_blob(&self, file: &OutputFile) -> Result<Box<dyn Read + Send>, StoreError>;
}

/// A reader over a blob that hashes what it reads and, at the end, fails with
/// [`std::io::ErrorKind::InvalidData`] when the bytes do not match the blob's digest or
/// size, so a consumer that reads to the end never takes damaged bytes as good.
pub struct CheckedBlobReader<R> {
    inner: R,
    expected: OutputFile,
    hasher: blake3::Hasher,
    read: u64,
    on_damage: Option<Box<dyn FnOnce() + Send>>,
}

impl<R: Read> CheckedBlobReader<R> {
    /// Reads `inner`, which should hold the blob `expected`; `on_damage` runs once if not.
    pub fn new(inner: R, expected: OutputFile, on_damage: Box<dyn FnOnce() + Send>) -> Self {
        CheckedBlobReader {
            inner,
            expected,
            hasher: blake3::Hasher::new(),
            read: 0,
            on_damage: Some(on_damage),
        }
    }
}

impl<R: Read> Read for CheckedBlobReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        let ended = n == 0 && !buf.is_empty();
        if (ended || self.read > self.expected.size)
            && (self.read != self.expected.size
                || BlobDigest::from_raw(self.hasher.finalize().into()) != self.expected.digest)
        {
            if let Some(f) = self.on_damage.take() {
                f();
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "blob {} in kiln's cache is damaged (its bytes no longer match its name); \
                     it was removed: build again, or run `kiln cache verify`",
                    self.expected.digest
                ),
            ));
        }
        Ok(n)
    }
}
