//! Building a [`Tree`] from a directory on disk, hashing through the [`StatCache`].
//!
//! The walk never follows symlinks. Regular files are hashed in parallel (rayon), large ones
//! with BLAKE3's own multithreading over a double-buffered read (see [`hash_file`] for why
//! they are not memory-mapped). Files whose stat matches the stat cache are not read at all.
//! A scan can also return a [`StatSnapshot`], the stat of every entry, so that a step that read
//! the tree's files can check afterwards that nothing changed meanwhile. Files with more than one link
//! inside the tree become a hard-link group (see [`crate::tree`]). Device nodes, sockets and
//! FIFOs are an error naming the path: kiln's artifacts cannot hold them reproducibly.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::digest::BlobDigest;
use crate::statcache::{StatCache, StatKey};
use crate::tree::{EntryKind, Tree, TreeEntry, TreeError};

/// Files at least this large are hashed with several threads.
const PARALLEL_THRESHOLD: u64 = 1 << 20;
/// The size of each of the two buffers a large file is read through.
const READ_CHUNK: usize = 4 << 20;

/// Why a directory could not be turned into a tree.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// An I/O error reading `path`.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file type that trees cannot hold.
    #[error(
        "{path} is a {kind}; only directories, regular files and symlinks can go into a tree — remove it or move it out of the directory"
    )]
    Unsupported {
        /// The offending path.
        path: PathBuf,
        /// What it is (`character device`, `socket`, ...).
        kind: &'static str,
    },
    /// A file changed while it was being read.
    #[error(
        "{path} changed during the build ({detail}); build again once it is no longer being written"
    )]
    Changed {
        /// The file.
        path: PathBuf,
        /// What was seen.
        detail: String,
    },
    /// A path that is not valid UTF-8.
    #[error("{0} has a name that is not valid UTF-8; rename it")]
    NonUtf8(PathBuf),
    /// The root is not a directory.
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    /// The listing broke a tree invariant (should not happen for a real directory).
    #[error("internal: {0}")]
    Tree(#[from] TreeError),
}

/// Counters from one scan, for benchmarks and `--explain`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScanStats {
    /// Entries in the tree.
    pub entries: usize,
    /// Regular files whose content was read and hashed.
    pub hashed_files: usize,
    /// Bytes hashed.
    pub hashed_bytes: u64,
    /// Regular files with hard links outside the tree (a change through such a link touches
    /// no directory of the tree, so a change watcher cannot vouch for them).
    pub external_links: usize,
}

struct Found {
    rel: String,
    meta: Metadata,
}

/// Scans `root` into a tree. The root itself is not an entry.
pub fn scan_dir(root: &Path, cache: &StatCache) -> Result<(Tree, ScanStats), ScanError> {
    scan_dir_skipping(root, cache, &[])
}

/// Like [`scan_dir`], leaving out the entries (and everything below them) whose path relative
/// to `root` is in `skip` (e.g. `.git` for a source checkout, `rootfs` for an app directory).
pub fn scan_dir_skipping(
    root: &Path,
    cache: &StatCache,
    skip: &[&str],
) -> Result<(Tree, ScanStats), ScanError> {
    scan_with_snapshot(root, cache, skip).map(|(tree, stats, _)| (tree, stats))
}

/// Like [`scan_dir_skipping`], also returning the stat of every entry as the walk saw it.
pub fn scan_with_snapshot(
    root: &Path,
    cache: &StatCache,
    skip: &[&str],
) -> Result<(Tree, ScanStats, StatSnapshot), ScanError> {
    let found = walk_root(root, skip)?;
    let digests = hash_files(root, &found, cache)?;
    let mut stats = ScanStats {
        entries: found.len(),
        ..ScanStats::default()
    };
    let mut groups: HashMap<(u64, u64), String> = HashMap::new();
    let mut entries = Vec::with_capacity(found.len());
    for (f, d) in found.iter().zip(digests) {
        let kind = entry_kind(root, f, d, &mut groups, &mut stats)?;
        entries.push(TreeEntry {
            path: f.rel.clone(),
            kind,
        });
    }
    stats.external_links = count_external_links(&found);
    let snapshot = StatSnapshot::of(root, skip, &found);
    Ok((Tree::new(entries)?, stats, snapshot))
}

/// The stat of every entry of a tree at one moment (path, dev, inode, size, mtime, ctime).
///
/// Two snapshots are equal only if no entry was added, removed, replaced or written between
/// them: every write moves ctime, which no tool can set back. So a step that read a tree's
/// files between a scan and [`StatSnapshot::check_unchanged`] read exactly the scanned
/// content, even if a file was edited and then restored meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatSnapshot {
    root: PathBuf,
    skip: Vec<String>,
    entries: Vec<(String, StatKey)>,
}

impl StatSnapshot {
    fn of(root: &Path, skip: &[&str], found: &[Found]) -> StatSnapshot {
        StatSnapshot {
            root: root.to_path_buf(),
            skip: skip.iter().map(|s| s.to_string()).collect(),
            entries: found
                .iter()
                .map(|f| (f.rel.clone(), StatKey::of(&f.meta)))
                .collect(),
        }
    }

    /// Walks the tree again (stats only, no contents) and fails naming the first entry that
    /// differs from the snapshot.
    pub fn check_unchanged(&self) -> Result<(), ScanError> {
        let skip: Vec<&str> = self.skip.iter().map(String::as_str).collect();
        let changed = |rel: &str, detail: &str| ScanError::Changed {
            path: self.root.join(rel),
            detail: detail.to_string(),
        };
        let now = walk_root(&self.root, &skip).map_err(|e| match e {
            ScanError::Io { path, .. } => ScanError::Changed {
                path,
                detail: "it can no longer be read".into(),
            },
            other => other,
        })?;
        let mut before = self.entries.iter();
        for f in &now {
            match before.next() {
                Some((rel, key)) if *rel == f.rel => {
                    if *key != StatKey::of(&f.meta) {
                        return Err(changed(rel, "it was modified"));
                    }
                }
                Some((rel, _)) if rel.as_bytes() < f.rel.as_bytes() => {
                    return Err(changed(rel, "it was removed"));
                }
                _ => return Err(changed(&f.rel, "it was added")),
            }
        }
        match before.next() {
            Some((rel, _)) => Err(changed(rel, "it was removed")),
            None => Ok(()),
        }
    }
}

impl crate::step::SourceWitness for StatSnapshot {
    fn check_unchanged(&self) -> Result<(), String> {
        StatSnapshot::check_unchanged(self).map_err(|e| e.to_string())
    }
}

/// Lists `root`, which must be a directory.
fn walk_root(root: &Path, skip: &[&str]) -> Result<Vec<Found>, ScanError> {
    let meta = std::fs::metadata(root).map_err(|source| ScanError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(ScanError::NotADirectory(root.to_path_buf()));
    }
    walk(root, skip)
}

/// Lists everything under `root`, sorted bytewise by relative path.
///
/// Directories are read in parallel, and each entry is stat'ed relative to its directory's
/// open descriptor (`std`'s `DirEntry::metadata` uses `statx(dirfd, name)`), so the kernel
/// resolves one path component per file instead of the whole path: on a no-op build this
/// walk is nearly all the work.
fn walk(root: &Path, skip: &[&str]) -> Result<Vec<Found>, ScanError> {
    let found = Mutex::new(Vec::new());
    let error = Mutex::new(None);
    rayon::scope(|s| walk_into(s, root.to_path_buf(), String::new(), skip, &found, &error));
    if let Some(e) = error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    // Bytewise order makes hard-link groups canonical: the first sorted path owns the data.
    found.sort_unstable_by(|a, b| a.rel.as_bytes().cmp(b.rel.as_bytes()));
    Ok(found)
}

fn walk_into<'s>(
    scope: &rayon::Scope<'s>,
    dir: PathBuf,
    prefix: String,
    skip: &'s [&'s str],
    found: &'s Mutex<Vec<Found>>,
    error: &'s Mutex<Option<ScanError>>,
) {
    match read_one_dir(&dir, &prefix, skip) {
        Ok(entries) => {
            for f in &entries {
                if f.meta.is_dir() {
                    let (sub, rel) = (
                        dir.join(f.rel.rsplit('/').next().unwrap_or("")),
                        f.rel.clone(),
                    );
                    scope.spawn(move |s| walk_into(s, sub, rel, skip, found, error));
                }
            }
            if let Ok(mut all) = found.lock() {
                all.extend(entries);
            }
        }
        Err(e) => {
            if let Ok(mut slot) = error.lock() {
                slot.get_or_insert(e);
            }
        }
    }
}

fn read_one_dir(dir: &Path, prefix: &str, skip: &[&str]) -> Result<Vec<Found>, ScanError> {
    let io = |source| ScanError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let name = name
            .to_str()
            .ok_or_else(|| ScanError::NonUtf8(entry.path()))?;
        let rel = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        if skip.contains(&rel.as_str()) {
            continue;
        }
        let meta = entry.metadata().map_err(|source| ScanError::Io {
            path: entry.path(),
            source,
        })?;
        check_type(&entry.path(), &meta)?;
        out.push(Found { rel, meta });
    }
    Ok(out)
}

/// Files whose link count is higher than the number of their names inside the tree.
fn count_external_links(found: &[Found]) -> usize {
    let mut inside: HashMap<(u64, u64), (u64, u64)> = HashMap::new();
    for f in found
        .iter()
        .filter(|f| f.meta.is_file() && f.meta.nlink() > 1)
    {
        let e = inside
            .entry((f.meta.dev(), f.meta.ino()))
            .or_insert((0, f.meta.nlink()));
        e.0 += 1;
    }
    inside.values().filter(|(n, nlink)| n < nlink).count()
}

fn check_type(path: &Path, meta: &Metadata) -> Result<(), ScanError> {
    let ft = meta.file_type();
    let kind = if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_fifo() {
        "FIFO (named pipe)"
    } else {
        return Ok(());
    };
    Err(ScanError::Unsupported {
        path: path.to_path_buf(),
        kind,
    })
}

/// Hashes every regular file not answered by the stat cache, in parallel.
fn hash_files(
    root: &Path,
    found: &[Found],
    cache: &StatCache,
) -> Result<Vec<Option<(BlobDigest, bool)>>, ScanError> {
    found
        .par_iter()
        .map(|f| {
            if !f.meta.file_type().is_file() {
                return Ok(None);
            }
            let path = root.join(&f.rel);
            let key = StatKey::of(&f.meta);
            if let Some(d) = cache.lookup(&path, &key) {
                return Ok(Some((d, false)));
            }
            let d = hash_file(&path, f.meta.len()).map_err(|e| e.into_scan_error(&path))?;
            cache.insert(&path, key, d);
            Ok(Some((d, true)))
        })
        .collect()
}

/// Why [`hash_file`] failed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The file could not be opened or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file did not have the size it was stat'ed with: it changed while being read.
    #[error("expected {expected} bytes, read {read}")]
    Changed {
        /// The size it had when stat'ed.
        expected: u64,
        /// The bytes actually read.
        read: u64,
    },
}

impl HashError {
    /// The scan error for `path`.
    pub fn into_scan_error(self, path: &Path) -> ScanError {
        match self {
            HashError::Io(source) => ScanError::Io {
                path: path.to_path_buf(),
                source,
            },
            HashError::Changed { .. } => ScanError::Changed {
                path: path.to_path_buf(),
                detail: self.to_string(),
            },
        }
    }
}

/// The BLAKE3 digest of one file's content, which must be `size` bytes long.
///
/// Files are read, never memory-mapped: a mapped file truncated by someone else while it is
/// hashed raises SIGBUS, which kills the process with no message (and cannot be caught
/// soundly in Rust). Large files are instead read through two buffers, one filling while
/// BLAKE3 hashes the other on all cores, which keeps up with `b3sum`'s mmap (see
/// BENCHMARKS.md). A file that turns out shorter or longer than `size` changed while it was
/// read: that is [`HashError::Changed`], not a digest of whatever was there.
pub fn hash_file(path: &Path, size: u64) -> Result<BlobDigest, HashError> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    let read = if size >= PARALLEL_THRESHOLD {
        hash_parallel(&mut file, &mut hasher)?
    } else {
        std::io::copy(&mut file, &mut hasher)?
    };
    if read != size {
        return Err(HashError::Changed {
            expected: size,
            read,
        });
    }
    Ok(BlobDigest::from_raw(hasher.finalize().into()))
}

/// Hashes the rest of `file`, reading the next chunk while the current one is hashed.
/// Returns the number of bytes hashed.
pub fn hash_parallel(
    file: &mut std::fs::File,
    hasher: &mut blake3::Hasher,
) -> std::io::Result<u64> {
    let mut current = vec![0u8; READ_CHUNK];
    let mut next = vec![0u8; READ_CHUNK];
    let mut filled = read_full(file, &mut current)?;
    let mut total = 0u64;
    while filled > 0 {
        let chunk = &current[..filled];
        let (_, read) = rayon::join(
            || {
                hasher.update_rayon(chunk);
            },
            || read_full(file, &mut next),
        );
        total += filled as u64;
        filled = read?;
        std::mem::swap(&mut current, &mut next);
    }
    Ok(total)
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn entry_kind(
    root: &Path,
    f: &Found,
    digest: Option<(BlobDigest, bool)>,
    groups: &mut HashMap<(u64, u64), String>,
    stats: &mut ScanStats,
) -> Result<EntryKind, ScanError> {
    let ft = f.meta.file_type();
    if ft.is_dir() {
        return Ok(EntryKind::Dir);
    }
    if ft.is_symlink() {
        let path = root.join(&f.rel);
        let target = std::fs::read_link(&path).map_err(|source| ScanError::Io {
            path: path.clone(),
            source,
        })?;
        let target = target.to_str().ok_or(ScanError::NonUtf8(path))?.to_string();
        return Ok(EntryKind::Symlink { target });
    }
    let Some((digest, hashed)) = digest else {
        return Err(ScanError::Unsupported {
            path: root.join(&f.rel),
            kind: "file of unknown type",
        });
    };
    if f.meta.nlink() > 1 {
        let id = (f.meta.dev(), f.meta.ino());
        if let Some(first) = groups.get(&id) {
            return Ok(EntryKind::HardLink {
                target: first.clone(),
            });
        }
        groups.insert(id, f.rel.clone());
    }
    if hashed {
        stats.hashed_files += 1;
        stats.hashed_bytes += f.meta.len();
    }
    Ok(EntryKind::File {
        digest,
        size: f.meta.len(),
        executable: f.meta.mode() & 0o111 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn sample(root: &Path) {
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("bin/app"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(root.join("bin/app"), PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::write(root.join("a.txt"), b"hello").unwrap();
        std::fs::hard_link(root.join("a.txt"), root.join("z-link.txt")).unwrap();
        symlink("../nowhere", root.join("bin/dangling")).unwrap();
        std::fs::write(root.join("big"), vec![7u8; 3 << 20]).unwrap();
    }

    #[test]
    fn same_content_at_two_paths_gives_same_digest() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        sample(a.path());
        sample(b.path());
        let cache = StatCache::empty(&a.path().join("../sc-unused"));
        let (ta, _) = scan_dir(a.path(), &cache).unwrap();
        let (tb, _) = scan_dir(b.path(), &cache).unwrap();
        assert_eq!(ta.digest(), tb.digest());
        assert_eq!(
            ta.get("z-link.txt"),
            Some(&EntryKind::HardLink {
                target: "a.txt".into()
            })
        );
        assert_eq!(
            ta.get("bin/dangling"),
            Some(&EntryKind::Symlink {
                target: "../nowhere".into()
            })
        );
        assert!(matches!(
            ta.get("bin/app"),
            Some(EntryKind::File {
                executable: true,
                ..
            })
        ));
        assert_eq!(ta.get("empty"), Some(&EntryKind::Dir));
        let big = std::fs::read(a.path().join("big")).unwrap();
        assert!(matches!(ta.get("big"),
            Some(EntryKind::File { digest, .. }) if *digest == BlobDigest::of_bytes(&big)));
    }

    #[test]
    fn stat_cache_avoids_rehashing_until_a_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("f"), b"one").unwrap();
        std::fs::write(root.join("g"), b"two").unwrap();
        let cache = StatCache::empty(&dir.path().join("sc")).with_racy_window(0);
        let (t1, s1) = scan_dir(&root, &cache).unwrap();
        assert_eq!(s1.hashed_files, 2);
        let (t2, s2) = scan_dir(&root, &cache).unwrap();
        assert_eq!(s2.hashed_files, 0, "nothing changed, nothing read");
        assert_eq!(t1, t2);
        std::fs::write(root.join("f"), b"uno").unwrap(); // same size, new content
        let (t3, s3) = scan_dir(&root, &cache).unwrap();
        assert_eq!(s3.hashed_files, 1);
        assert_ne!(t1.digest(), t3.digest());
    }

    #[test]
    fn racy_files_are_hashed_every_time() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"one").unwrap();
        let cache =
            StatCache::empty(&dir.path().join("../sc-racy")).with_racy_window(3_600_000_000_000);
        scan_dir(dir.path(), &cache).unwrap();
        let (_, s) = scan_dir(dir.path(), &cache).unwrap();
        assert_eq!(s.hashed_files, 1, "a file written just now is not trusted");
    }

    #[test]
    fn skip_matches_relative_paths_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".git/objects")).unwrap();
        std::fs::create_dir_all(dir.path().join("src/.git")).unwrap();
        std::fs::create_dir_all(dir.path().join("a/rootfs")).unwrap();
        std::fs::create_dir_all(dir.path().join("rootfs/etc")).unwrap();
        let cache = StatCache::empty(&dir.path().join("sc"));
        let (t, _) = scan_dir_skipping(dir.path(), &cache, &[".git", "rootfs"]).unwrap();
        let paths: Vec<_> = t.entries().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["a", "a/rootfs", "src", "src/.git"]);
    }

    #[test]
    fn fifo_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(ok.success());
        let err = scan_dir(dir.path(), &StatCache::empty(&dir.path().join("sc"))).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("pipe") && msg.contains("FIFO"), "{msg}");
    }
}
