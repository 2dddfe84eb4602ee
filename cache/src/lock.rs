//! The cache-wide lock: shared for builds, exclusive for maintenance.
//!
//! It is an advisory `flock(2)` on `<root>/lock` through std's `File::lock*`, so it is
//! released when the holder exits, however it exits. It does not protect against processes
//! that ignore it, and it is per open file, not per process: a process holding a shared lock
//! that asks for an exclusive one on the same root waits for itself.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::CacheError;

/// How a [`CacheLock`] holds the lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockMode {
    /// Many holders at once: builds reading and adding entries.
    Shared,
    /// One holder, no shared holders: gc, verify and clean, which delete entries.
    Exclusive,
}

/// A held lock on a cache root; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct CacheLock {
    /// The open lock file; closing it releases the flock.
    _file: File,
}

impl CacheLock {
    /// Locks `path` (creating it) in `mode`. If another holder makes this wait, `on_wait` is
    /// called once before blocking, so the caller can tell the user why nothing happens.
    pub(crate) fn acquire(
        path: &Path,
        mode: LockMode,
        on_wait: &dyn Fn(),
    ) -> Result<CacheLock, CacheError> {
        let lock_error = |source| CacheError::Lock {
            path: PathBuf::from(path),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(CacheError::io(path))?;
        let attempt = match mode {
            LockMode::Shared => file.try_lock_shared(),
            LockMode::Exclusive => file.try_lock(),
        };
        match attempt {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                on_wait();
                match mode {
                    LockMode::Shared => file.lock_shared(),
                    LockMode::Exclusive => file.lock(),
                }
                .map_err(lock_error)?;
            }
            Err(TryLockError::Error(source)) => return Err(lock_error(source)),
        }
        Ok(CacheLock { _file: file })
    }

    /// Locks `path` shared through a read-only descriptor, for a cache root that cannot be
    /// written (flock works on any open file). `None` if there is no lock file to lock.
    pub(crate) fn acquire_read_only(
        path: &Path,
        on_wait: &dyn Fn(),
    ) -> Result<Option<CacheLock>, CacheError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CacheError::io(path)(e)),
        };
        let lock_error = |source| CacheError::Lock {
            path: PathBuf::from(path),
            source,
        };
        match file.try_lock_shared() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                on_wait();
                file.lock_shared().map_err(lock_error)?;
            }
            Err(TryLockError::Error(source)) => return Err(lock_error(source)),
        }
        Ok(Some(CacheLock { _file: file }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn shared_locks_coexist_and_exclude_an_exclusive_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let waited = Cell::new(false);
        let first = CacheLock::acquire(&path, LockMode::Shared, &|| waited.set(true)).unwrap();
        let second = CacheLock::acquire(&path, LockMode::Shared, &|| waited.set(true)).unwrap();
        assert!(!waited.get(), "shared locks must not wait for each other");

        let probe = File::open(&path).unwrap();
        assert!(matches!(probe.try_lock(), Err(TryLockError::WouldBlock)));
        drop((first, second));
        assert!(probe.try_lock().is_ok());
    }
}
