//! The one error type of the local store, [`CacheError`], and its conversion to the engine's
//! [`StoreError`].
//!
//! Every I/O variant names the path involved, so a message tells the user which file to look
//! at. A cache miss is never an error: damaged entries are dropped and reported as misses by
//! the store itself, so they do not appear here.

use std::io;
use std::path::{Path, PathBuf};

use kiln_engine::{BlobDigest, StoreError};

/// A failure of the local store or of one of its maintenance operations.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// An I/O error on a file or directory of the cache (or a materialization target).
    #[error("cache I/O error at {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The cache's lock file could not be locked.
    #[error("cannot lock the cache at {path}: {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A blob that an action result or a materialization names is not in the store.
    #[error("blob {0} is missing from the cache")]
    MissingBlob(BlobDigest),
    /// A blob's bytes do not hash to its digest: the cache was damaged.
    #[error(
        "blob {digest} in the cache was damaged: its content no longer matches its digest ({})",
        path.display()
    )]
    Damaged {
        /// The blob.
        digest: BlobDigest,
        /// Where it was.
        path: PathBuf,
    },
    /// A blob is present but its length is not the one recorded for it.
    #[error("blob {digest} in the cache has {actual} bytes, but {expected} were recorded")]
    BlobSizeMismatch {
        /// The blob.
        digest: BlobDigest,
        /// The size the caller recorded.
        expected: u64,
        /// The size on disk.
        actual: u64,
    },
    /// An action result could not be encoded as JSON (not expected to happen).
    #[error("cannot encode the action result for {path}: {source}")]
    Encode {
        /// The action-cache entry being written.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A size given by the user (e.g. `--max-size`) is not understood.
    #[error(
        "invalid size {input:?}: {reason}; expected a number with an optional suffix \
         K, M, G or T (powers of 1024; KB, MB, GB, TB are powers of 1000), e.g. 10G or 1.5GiB"
    )]
    InvalidSize {
        /// What the user wrote.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl CacheError {
    /// A closure for `map_err` that attaches `path` to an I/O error.
    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
        move |source| CacheError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<CacheError> for StoreError {
    fn from(err: CacheError) -> StoreError {
        match err {
            CacheError::Io { path, source } | CacheError::Lock { path, source } => {
                StoreError::Io { path, source }
            }
            CacheError::MissingBlob(digest) => StoreError::MissingBlob(digest),
            CacheError::Damaged { digest, path } => StoreError::Damaged { digest, path },
            other => StoreError::Other(other.to_string()),
        }
    }
}
