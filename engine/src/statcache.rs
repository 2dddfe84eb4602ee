//! The persistent stat cache: path -> (stat fields -> content digest), like git's index.
//!
//! A no-op build must not read file contents. For each source file the cache remembers the
//! `(dev, inode, size, mtime_ns, ctime_ns)` it had when it was hashed and the digest then
//! computed; if a later `lstat` returns the same five values, the digest is reused.
//! ctime is included because it changes on every write and chmod and cannot be set back by
//! tools like `touch -d` or `cp -p`.
//!
//! Racy entries: a file whose last change is within one timestamp tick of the moment it was
//! hashed could change again in that same tick without its stat changing, so such entries
//! are not remembered; the next build hashes them again (git's "racily clean" problem).
//! Local Linux file systems stamp files from the coarse kernel clock (a jiffy, at most
//! 10 ms), so [`RACY_WINDOW_NS`] (100 ms) covers them with margin; a timestamp with no
//! sub-second part suggests a file system with whole-second (or two-second) stamps, and then
//! [`COARSE_RACY_WINDOW_NS`] applies.
//!
//! On-disk format (little-endian), written whole to a temporary file and renamed:
//! ```text
//! magic  "KILNSTAT" u32 version(=1) u64 count
//! count x { u32 path_len, path bytes (OS bytes), u64 dev, u64 ino, u64 size,
//!           i64 mtime_ns, i64 ctime_ns, [u8;32] blake3 }
//! ```
//! A missing, truncated or foreign file is treated as empty: the cache is an optimisation.
//! The file is written only when something new was learned, so a no-op build writes nothing.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::digest::{BlobDigest, Digest};

const MAGIC: &[u8; 8] = b"KILNSTAT";
const VERSION: u32 = 1;
/// Entries whose mtime or ctime is this close to the hashing time are not cached.
pub const RACY_WINDOW_NS: i64 = 100_000_000;
/// The window for timestamps without a sub-second part (FAT, some network file systems).
pub const COARSE_RACY_WINDOW_NS: i64 = 2_100_000_000;

/// The stat fields that must all match for a cached digest to be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatKey {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status-change time, nanoseconds since the epoch.
    pub ctime_ns: i64,
}

impl StatKey {
    /// The key of a file's `lstat` metadata.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        StatKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        }
    }
}

/// A loaded stat cache. Shared between threads while a build hashes in parallel.
pub struct StatCache {
    file: PathBuf,
    entries: RwLock<HashMap<Vec<u8>, (StatKey, BlobDigest)>>,
    dirty: AtomicBool,
    racy_window_ns: i64,
}

impl StatCache {
    /// Loads the cache stored at `file` (absent or unreadable: an empty cache).
    pub fn load(file: &Path) -> Self {
        let entries = std::fs::read(file)
            .ok()
            .and_then(|bytes| decode(&bytes).ok())
            .unwrap_or_default();
        StatCache {
            file: file.to_path_buf(),
            entries: RwLock::new(entries),
            dirty: AtomicBool::new(false),
            racy_window_ns: RACY_WINDOW_NS,
        }
    }

    /// An empty cache that will be saved to `file`.
    pub fn empty(file: &Path) -> Self {
        StatCache {
            file: file.to_path_buf(),
            entries: RwLock::new(HashMap::new()),
            dirty: AtomicBool::new(false),
            racy_window_ns: RACY_WINDOW_NS,
        }
    }

    /// Sets how recent a change must be for an entry to count as racy (tests use 0).
    pub fn with_racy_window(mut self, nanos: i64) -> Self {
        self.racy_window_ns = nanos;
        self
    }

    /// The digest remembered for `path` if its stat is unchanged.
    pub fn lookup(&self, path: &Path, key: &StatKey) -> Option<BlobDigest> {
        let entries = self.entries.read().ok()?;
        match entries.get(path.as_os_str().as_bytes()) {
            Some((k, d)) if k == key => Some(*d),
            _ => None,
        }
    }

    /// Remembers `digest` for `path`, unless the file is too recently modified to trust.
    pub fn insert(&self, path: &Path, key: StatKey, digest: BlobDigest) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        if is_racy(now, &key, self.racy_window_ns) {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            entries.insert(path.as_os_str().as_bytes().to_vec(), (key, digest));
            self.dirty.store(true, Ordering::Relaxed);
        }
    }

    /// Number of remembered entries.
    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the cache if anything was learned since it was loaded (atomically).
    pub fn save(&self) -> io::Result<()> {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let bytes = match self.entries.read() {
            Ok(entries) => encode(&entries),
            Err(_) => return Ok(()),
        };
        crate::fsutil::write_atomic(&self.file, &bytes)
    }
}

/// Whether an entry hashed at `now_ns` (both in ns since the epoch) is too recent to trust.
fn is_racy(now_ns: i64, key: &StatKey, window_ns: i64) -> bool {
    let whole_seconds = key.mtime_ns % 1_000_000_000 == 0 || key.ctime_ns % 1_000_000_000 == 0;
    let window = if whole_seconds && window_ns > 0 {
        window_ns.max(COARSE_RACY_WINDOW_NS)
    } else {
        window_ns
    };
    now_ns - key.mtime_ns.max(key.ctime_ns) < window
}

fn encode(entries: &HashMap<Vec<u8>, (StatKey, BlobDigest)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + entries.len() * 120);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (path, (k, d)) in entries {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path);
        for n in [k.dev, k.ino, k.size] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&k.mtime_ns.to_le_bytes());
        out.extend_from_slice(&k.ctime_ns.to_le_bytes());
        out.extend_from_slice(&d.raw().0);
    }
    out
}

fn decode(bytes: &[u8]) -> io::Result<HashMap<Vec<u8>, (StatKey, BlobDigest)>> {
    let mut r = bytes;
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC || read_u32(&mut r)? != VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a stat cache",
        ));
    }
    let count = read_u64(&mut r)?;
    let mut map = HashMap::with_capacity(count.min(1 << 20) as usize);
    for _ in 0..count {
        let len = read_u32(&mut r)? as usize;
        if len > r.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let (p, rest) = r.split_at(len);
        r = rest;
        let key = StatKey {
            dev: read_u64(&mut r)?,
            ino: read_u64(&mut r)?,
            size: read_u64(&mut r)?,
            mtime_ns: read_u64(&mut r)? as i64,
            ctime_ns: read_u64(&mut r)? as i64,
        };
        let mut d = [0u8; 32];
        r.read_exact(&mut d)?;
        map.insert(p.to_vec(), (key, BlobDigest::from_raw(Digest(d))));
    }
    Ok(map)
}

fn read_u32(r: &mut &[u8]) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut &[u8]) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old_file(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        let t = filetime::FileTime::from_unix_time(1_000_000, 0);
        filetime::set_file_mtime(&p, t).unwrap();
        p
    }

    #[test]
    fn round_trips_through_disk() {
        let dir = tempfile::tempdir().unwrap();
        let f = old_file(dir.path(), "a", b"x");
        let key = StatKey::of(&std::fs::symlink_metadata(&f).unwrap());
        // ctime is "now", so the entry would be racy: test the codec directly too.
        let mut m = HashMap::new();
        m.insert(
            f.as_os_str().as_bytes().to_vec(),
            (key, BlobDigest::of_bytes(b"x")),
        );
        assert_eq!(decode(&encode(&m)).unwrap(), m);
    }

    #[test]
    fn racy_windows() {
        let key = |mtime_ns, ctime_ns| StatKey {
            dev: 1,
            ino: 1,
            size: 1,
            mtime_ns,
            ctime_ns,
        };
        let t = 1_700_000_000_123_456_789;
        // Fine-grained stamps: racy within 100 ms of the change, trusted after.
        assert!(is_racy(t + 50_000_000, &key(t, t), RACY_WINDOW_NS));
        assert!(!is_racy(t + 150_000_000, &key(t, t), RACY_WINDOW_NS));
        // ctime counts too (a chmod or a rewrite with the mtime set back).
        assert!(is_racy(
            t + 50_000_000,
            &key(t - 10_000_000_000, t),
            RACY_WINDOW_NS
        ));
        // Whole-second stamps: the file system may round, so wait two seconds.
        let whole = 1_700_000_000_000_000_000;
        assert!(is_racy(
            whole + 1_500_000_000,
            &key(whole, whole),
            RACY_WINDOW_NS
        ));
        assert!(!is_racy(
            whole + 2_500_000_000,
            &key(whole, whole),
            RACY_WINDOW_NS
        ));
        // Tests turn the check off with a zero window.
        assert!(!is_racy(t, &key(t, t), 0));
    }

    #[test]
    fn racy_entries_are_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let f = old_file(dir.path(), "a", b"x");
        // A window wider than any test's run time makes the just-changed ctime racy for sure.
        let cache = StatCache::empty(&dir.path().join("sc")).with_racy_window(3_600_000_000_000);
        let key = StatKey::of(&std::fs::symlink_metadata(&f).unwrap());
        cache.insert(&f, key, BlobDigest::of_bytes(b"x"));
        assert!(cache.lookup(&f, &key).is_none(), "ctime is too recent");
    }

    #[test]
    fn changed_stat_misses_and_clean_cache_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sc = dir.path().join("sc");
        let cache = StatCache::empty(&sc);
        let p = dir.path().join("f");
        let key = StatKey {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            ctime_ns: 5,
        };
        cache.insert(&p, key, BlobDigest::of_bytes(b"abc"));
        assert_eq!(cache.lookup(&p, &key), Some(BlobDigest::of_bytes(b"abc")));
        let moved = StatKey { ino: 9, ..key };
        assert_eq!(cache.lookup(&p, &moved), None);
        cache.save().unwrap();
        let loaded = StatCache::load(&sc);
        assert_eq!(loaded.lookup(&p, &key), Some(BlobDigest::of_bytes(b"abc")));
        let before = std::fs::metadata(&sc).unwrap().modified().unwrap();
        std::fs::remove_file(&sc).unwrap();
        loaded.save().unwrap();
        assert!(
            !sc.exists(),
            "nothing learned, nothing written ({before:?})"
        );
    }

    #[test]
    fn garbage_file_is_an_empty_cache() {
        let dir = tempfile::tempdir().unwrap();
        let sc = dir.path().join("sc");
        std::fs::write(&sc, b"KILNSTAT\x01\x00\x00\x00\xff\xff").unwrap();
        assert!(StatCache::load(&sc).is_empty());
    }
}
