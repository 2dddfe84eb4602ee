//! The on-disk format of the local store, and the paths into it.
//!
//! This file owns the format; everything else in the crate reaches the disk through the paths
//! it hands out. It does not read or write entries itself (see `local.rs`, `writer.rs`).
//!
//! ```text
//! <root>/
//!   CACHEDIR.TAG              marks the directory as a cache for backup tools
//!   lock                      empty; flock()ed SHARED by every open LocalStore (builds share
//!                             the cache) and EXCLUSIVE by gc, verify and clean
//!   cas/<2 hex>/<64 hex>      a blob: exactly the bytes whose BLAKE3 digest is the file name;
//!                             mode 0444, never executable (the exec bit lives in OutputFile)
//!   ac/<2 hex>/<64 hex>       an action result: `ActionResult` as compact JSON, named by the
//!                             action key, e.g. {"outputs":{"kernel":{"digest":"<64 hex>",
//!                             "size":123,"executable":true}},"duration_ms":42}
//!   tmp/w.kiln-<pid>-<start>-<n>.tmp
//!                             a file being written, named by its writer (pid and start time,
//!                             see `kiln_engine::temp_owner`) and a per-process counter
//! ```
//!
//! The two hex characters of the shard directory are the first two of the name; names are
//! lower-case hex. Invariants that the rest of the crate relies on:
//!
//! - A file appears under `cas/` or `ac/` only by `rename(2)` from `tmp/`, which is on the same
//!   file system, so a reader sees a whole file or none. Two writers of the same blob both
//!   succeed: the second rename replaces identical bytes, and a reader that had the first
//!   open keeps reading its inode.
//! - Nothing is fsync'ed. After a power loss a renamed file may be short or zero-filled, so an
//!   action result records every blob's size and a lookup checks it (as Go's build cache
//!   does); `verify` re-hashes everything. A damaged entry is a miss, never an error.
//! - An `ac` entry may name blobs that have since gone (evicted, or deleted as damaged); a
//!   lookup checks that each is present with its recorded size and drops the entry otherwise.
//! - A file's mtime is its last use, to within [`TOUCH_INTERVAL`]: a hit touches the entry and
//!   its blobs if they are older than that. `gc` evicts the oldest mtimes first. Sizes are
//!   file lengths, not allocated blocks.
//! - A file in `tmp/` whose writer is no longer running was abandoned: opening a store,
//!   `stats` and `gc` delete it. Files in `tmp/` whose names carry no writer (written by
//!   kiln before writers were named) are deleted by `gc` once older than [`STALE_TEMP_AGE`].
//! - A directory where an entry should be (`cas/ab/ab…` or `ac/ab/ab…`) is not an entry: a
//!   lookup treats it as a miss, a write replaces it, and `verify` removes it.
//! - An incompatible change of format must use new directory names (say `ac2/`), so that an
//!   older kiln sharing the root never misreads a newer entry. An `ac` entry that does not
//!   parse is dropped as damaged, which also covers fields added later.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kiln_engine::temp_owner::{self, temp_name};
use kiln_engine::{ActionKey, BlobDigest, Digest};

use crate::error::CacheError;

/// How stale a file's mtime must be before a hit touches it: touching on every hit would turn
/// every no-op build into thousands of metadata writes.
pub const TOUCH_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// How old a file in `tmp/` whose name carries no writer must be before `gc` deletes it.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(60 * 60);

/// The contents of `CACHEDIR.TAG`; the signature line is fixed by the Cache Directory
/// Tagging Specification.
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by kiln.\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

/// The paths of one cache root. Cheap to clone; does no I/O until asked.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
    cas: PathBuf,
    ac: PathBuf,
    tmp: PathBuf,
}

impl Layout {
    /// The layout of the cache rooted at `root` (which need not exist yet).
    pub(crate) fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
            cas: root.join("cas"),
            ac: root.join("ac"),
            tmp: root.join("tmp"),
        }
    }

    /// The root directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// `cas/`: the blobs.
    pub(crate) fn cas_dir(&self) -> &Path {
        &self.cas
    }

    /// `ac/`: the action results.
    pub(crate) fn ac_dir(&self) -> &Path {
        &self.ac
    }

    /// `tmp/`: files being written.
    pub(crate) fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// The lock file.
    pub(crate) fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// Where the blob `digest` lives.
    pub(crate) fn blob_path(&self, digest: &BlobDigest) -> PathBuf {
        sharded(&self.cas, &digest.raw())
    }

    /// Where the action result for `key` lives.
    pub(crate) fn action_path(&self, key: &ActionKey) -> PathBuf {
        sharded(&self.ac, &key.raw())
    }

    /// Creates the root and the lock file, which must exist before anything is locked.
    pub(crate) fn create_root(&self) -> Result<(), CacheError> {
        fs::create_dir_all(&self.root).map_err(CacheError::io(&self.root))
    }

    /// Creates `cas/`, `ac/`, `tmp/` and `CACHEDIR.TAG` where missing. Shard directories are
    /// made on first use. Call it with the lock held: `clean` removes these directories.
    pub(crate) fn create_dirs(&self) -> Result<(), CacheError> {
        for dir in [&self.cas, &self.ac, &self.tmp] {
            fs::create_dir_all(dir).map_err(CacheError::io(dir))?;
        }
        let tag = self.root.join("CACHEDIR.TAG");
        if !tag.exists() {
            let temp = self.tmp.join(temp_name("tag"));
            fs::write(&temp, CACHEDIR_TAG).map_err(CacheError::io(&temp))?;
            fs::rename(&temp, &tag).map_err(CacheError::io(&tag))?;
        }
        Ok(())
    }

    /// Creates a new, empty, uniquely named file in `tmp/` with the given mode.
    pub(crate) fn create_temp(&self, mode: u32) -> Result<(PathBuf, File), CacheError> {
        loop {
            let path = self.tmp.join(temp_name("w"));
            let opened = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&path);
            match opened {
                Ok(file) => return Ok((path, file)),
                // Only possible if a dead writer's file survived with this very name.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(CacheError::io(&path)(e)),
            }
        }
    }
}

/// `<dir>/<first 2 hex>/<64 hex>`.
fn sharded(dir: &Path, digest: &Digest) -> PathBuf {
    let hex = digest.to_hex();
    dir.join(&hex[..2]).join(hex)
}

/// Removes the files in `tmp/` whose writers are no longer running.
pub(crate) fn remove_dead_temps(tmp: &Path) -> Result<temp_owner::Removed, CacheError> {
    temp_owner::remove_dead(tmp).map_err(CacheError::io(tmp))
}

/// Renames `from` to `to`, creating `to`'s parent (a shard directory) if it is missing and
/// replacing a directory that sits where the entry should be.
pub(crate) fn rename_creating_parent(from: &Path, to: &Path) -> Result<(), CacheError> {
    match fs::rename(from, to) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(CacheError::io(parent))?;
            }
            fs::rename(from, to).map_err(CacheError::io(to))
        }
        Err(e) if to.symlink_metadata().is_ok_and(|m| m.is_dir()) => {
            fs::remove_dir_all(to).map_err(|_| CacheError::io(to)(e))?;
            fs::rename(from, to).map_err(CacheError::io(to))
        }
        other => other.map_err(CacheError::io(to)),
    }
}

/// Removes whatever sits at an entry's path (a file, or a directory that should not be
/// there), treating "already gone" as success.
pub(crate) fn remove_entry(path: &Path) -> Result<(), CacheError> {
    let removed = match path.symlink_metadata() {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match removed {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(CacheError::io(path)(e)),
        _ => Ok(()),
    }
}

/// Sets `path`'s mtime to now if it is older than [`TOUCH_INTERVAL`]. Best effort: a cache
/// on a read-only file system still serves hits, it just ages by its old mtimes.
pub(crate) fn touch_if_stale(path: &Path, modified: io::Result<SystemTime>) {
    let now = SystemTime::now();
    let fresh = modified
        .ok()
        .and_then(|m| now.duration_since(m).ok())
        .is_some_and(|age| age < TOUCH_INTERVAL);
    if !fresh && let Ok(file) = File::open(path) {
        let _ = file.set_modified(now);
    }
}

/// Removes `path`, treating "already gone" as success.
pub(crate) fn remove_if_present(path: &Path) -> Result<(), CacheError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(CacheError::io(path)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_sharded_by_the_first_two_hex_digits() {
        let layout = Layout::new(Path::new("/c"));
        let digest = BlobDigest::of_bytes(b"");
        let hex = digest.to_hex();
        assert_eq!(
            layout.blob_path(&digest),
            PathBuf::from(format!("/c/cas/{}/{hex}", &hex[..2]))
        );
        let key = ActionKey::from_raw(digest.raw());
        assert_eq!(
            layout.action_path(&key),
            PathBuf::from(format!("/c/ac/{}/{hex}", &hex[..2]))
        );
    }

    #[test]
    fn a_directory_where_an_entry_should_be_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("ab/abc");
        fs::create_dir_all(to.join("junk")).unwrap();
        let from = dir.path().join("new");
        fs::write(&from, b"entry").unwrap();
        rename_creating_parent(&from, &to).unwrap();
        assert_eq!(fs::read(&to).unwrap(), b"entry");
        remove_entry(&to).unwrap();
        fs::create_dir_all(to.join("junk")).unwrap();
        remove_entry(&to).unwrap();
        assert!(!to.exists());
        remove_entry(&to).unwrap();
    }
}
