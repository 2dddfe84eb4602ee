//! Copying a blob out of the store while checking that its bytes still hash to its digest.
//!
//! A blob can be damaged at the same size (a flipped bit on disk, a stray write through a
//! hard link someone made): a size check cannot see that, and a step that read such a blob as
//! an input would build a new, correctly hashed, wrong result from it. So every copy out of
//! the store hashes what it copies, and a mismatch is [`CacheError::Damaged`]; the caller
//! throws the copy away.
//!
//! The copy is one pass: each 4 MiB chunk is read once, then hashed (BLAKE3 on all cores)
//! while it is written. On a file system with reflinks (btrfs, XFS) the copy is a reflink and
//! the hash reads the new file instead. BENCHMARKS.md measures the cost against a plain copy.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use kiln_engine::fsutil::CopyError;
use kiln_engine::{BlobDigest, OutputFile};

use crate::error::CacheError;

/// Copies `blob` to the new file `temp` with `file`'s mode, checking its size and digest.
pub(crate) fn copy_verified(blob: &Path, file: &OutputFile, temp: &Path) -> Result<(), CacheError> {
    let mut src = match File::open(blob) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(CacheError::MissingBlob(file.digest));
        }
        Err(e) => return Err(CacheError::io(blob)(e)),
    };
    let mode = if file.executable { 0o755 } else { 0o644 };
    let mut hasher = blake3::Hasher::new();
    let copied = match reflink_copy::reflink(blob, temp) {
        Ok(()) => {
            let mut copy = File::open(temp).map_err(CacheError::io(temp))?;
            kiln_engine::scan::hash_parallel(&mut copy, &mut hasher)
                .map_err(CacheError::io(temp))?
        }
        Err(_) => {
            let _ = fs::remove_file(temp);
            let mut out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(temp)
                .map_err(CacheError::io(temp))?;
            kiln_engine::fsutil::copy_hashing(&mut src, &mut out, &mut hasher).map_err(
                |e| match e {
                    CopyError::Read(e) => CacheError::io(blob)(e),
                    CopyError::Write(e) => CacheError::io(temp)(e),
                },
            )?
        }
    };
    if copied != file.size {
        return Err(CacheError::BlobSizeMismatch {
            digest: file.digest,
            expected: file.size,
            actual: copied,
        });
    }
    if BlobDigest::from_raw(hasher.finalize().into()) != file.digest {
        return Err(CacheError::Damaged {
            digest: file.digest,
            path: blob.to_path_buf(),
        });
    }
    fs::set_permissions(temp, fs::Permissions::from_mode(mode)).map_err(CacheError::io(temp))
}
