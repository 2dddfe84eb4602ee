//! Listing the entries of `cas/` or `ac/` with their sizes and mtimes, for stats, gc and
//! verify.
//!
//! It only reads directories and metadata; it opens no entry and deletes nothing. Files that
//! vanish during the scan (a concurrent gc, a build replacing an entry) are skipped.

use std::fs::{self, DirEntry};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use kiln_engine::Digest;

use crate::error::CacheError;

/// One file found under `cas/` or `ac/`.
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    /// Its path.
    pub(crate) path: PathBuf,
    /// The digest its name spells, or `None` if the name (or its shard directory) is not
    /// what the layout prescribes: a stray file.
    pub(crate) digest: Option<Digest>,
    /// Its length in bytes.
    pub(crate) len: u64,
    /// Its mtime: when it was last used, to within an hour.
    pub(crate) modified: SystemTime,
}

/// Every file under `dir` (`cas/` or `ac/`), down to the shard directories. A missing `dir`
/// has no files.
pub(crate) fn scan_entries(dir: &Path) -> Result<Vec<StoredFile>, CacheError> {
    let mut found = Vec::new();
    for shard in read_dir_if_present(dir)? {
        let shard_path = shard.path();
        let shard_name = shard.file_name().to_string_lossy().into_owned();
        if !shard_path.is_dir() {
            found.extend(stored_file(shard, None));
            continue;
        }
        for entry in read_dir_if_present(&shard_path)? {
            found.extend(stored_file(entry, Some(&shard_name)));
        }
    }
    Ok(found)
}

/// The entries of `dir`, or none if it does not exist.
pub(crate) fn read_dir_if_present(dir: &Path) -> Result<Vec<DirEntry>, CacheError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CacheError::io(dir)(e)),
    };
    entries
        .collect::<Result<Vec<_>, _>>()
        .map_err(CacheError::io(dir))
}

/// Describes `entry`, found in the shard directory `shard` (`None`: directly in `cas/`).
/// Returns `None` for shard directories and for files that vanished. A directory inside a
/// shard sits where an entry should be: it is a stray (of length 0), for `verify` to remove.
fn stored_file(entry: DirEntry, shard: Option<&str>) -> Option<StoredFile> {
    let meta = entry.metadata().ok()?;
    if meta.is_dir() {
        return shard.map(|_| StoredFile {
            path: entry.path(),
            digest: None,
            len: 0,
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        });
    }
    let name = entry.file_name().to_string_lossy().into_owned();
    let digest = shard
        .filter(|shard| name.len() == 64 && name.starts_with(shard) && shard.len() == 2)
        .and_then(|_| Digest::from_hex(&name).ok())
        .filter(|digest| digest.to_hex() == name);
    Some(StoredFile {
        path: entry.path(),
        digest,
        len: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_break_the_layout_are_strays() {
        let dir = tempfile::tempdir().unwrap();
        let hex = Digest::of(b"x").to_hex();
        let good = dir.path().join(&hex[..2]);
        fs::create_dir_all(&good).unwrap();
        fs::write(good.join(&hex), b"x").unwrap();
        fs::write(good.join(hex.to_uppercase()), b"x").unwrap();
        fs::create_dir_all(dir.path().join("zz")).unwrap();
        fs::write(dir.path().join("zz").join(&hex), b"x").unwrap();
        fs::write(dir.path().join("loose"), b"x").unwrap();
        let other = Digest::of(b"y").to_hex();
        fs::create_dir_all(dir.path().join(&other[..2]).join(&other).join("sub")).unwrap();

        let mut found = scan_entries(dir.path()).unwrap();
        found.sort_by_key(|f| f.digest.is_none());
        assert_eq!(
            found.len(),
            5,
            "the directory in place of an entry is a stray"
        );
        assert_eq!(found[0].digest, Some(Digest::of(b"x")));
        assert!(found[1..].iter().all(|f| f.digest.is_none()));
        assert!(scan_entries(&dir.path().join("absent")).unwrap().is_empty());
    }
}
