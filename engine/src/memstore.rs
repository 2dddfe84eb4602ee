//! An in-memory [`Store`], for the engine's own tests and the toy example.
//!
//! It is complete (lookup, record, blobs, materialize) but keeps everything in a map and
//! counts calls, so tests can assert exactly what the engine asked of the store.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::digest::{ActionKey, BlobDigest};
use crate::store::{ActionResult, BlobWriter, OutputFile, Store, StoreError};

/// A store in memory.
#[derive(Default)]
pub struct MemStore {
    blobs: Arc<Mutex<HashMap<BlobDigest, Vec<u8>>>>,
    actions: Mutex<HashMap<ActionKey, ActionResult>>,
    /// Number of `lookup` calls so far.
    pub lookups: AtomicUsize,
    /// Number of `materialize` calls so far.
    pub materializations: AtomicUsize,
}

impl MemStore {
    /// Removes every recorded action (blobs stay), as if the action cache were cleared.
    pub fn forget_actions(&self) {
        if let Ok(mut a) = self.actions.lock() {
            a.clear();
        }
    }

    /// Removes every blob and action, as `kiln cache clean` does.
    pub fn clear(&self) {
        self.forget_actions();
        if let Ok(mut b) = self.blobs.lock() {
            b.clear();
        }
    }

    /// The bytes of a blob.
    pub fn blob(&self, d: &BlobDigest) -> Option<Vec<u8>> {
        self.blobs.lock().ok()?.get(d).cloned()
    }

    /// Flips the first byte of a blob in place, as disk damage would (same size).
    pub fn damage(&self, d: &BlobDigest) {
        if let Ok(mut blobs) = self.blobs.lock()
            && let Some(bytes) = blobs.get_mut(d)
            && let Some(first) = bytes.first_mut()
        {
            *first ^= 0xff;
        }
    }
}

fn poisoned() -> StoreError {
    StoreError::Other("memory store lock poisoned".into())
}

impl Store for MemStore {
    fn lookup(&self, key: &ActionKey) -> Result<Option<ActionResult>, StoreError> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let mut actions = self.actions.lock().map_err(|_| poisoned())?;
        let Some(found) = actions.get(key).cloned() else {
            return Ok(None);
        };
        let blobs = self.blobs.lock().map_err(|_| poisoned())?;
        if found
            .outputs
            .values()
            .all(|o| blobs.contains_key(&o.digest))
        {
            return Ok(Some(found));
        }
        // Like the disk store: an entry naming a missing blob is dropped as a miss.
        actions.remove(key);
        Ok(None)
    }

    fn contains(&self, key: &ActionKey) -> Result<bool, StoreError> {
        Ok(self
            .actions
            .lock()
            .map_err(|_| poisoned())?
            .contains_key(key))
    }

    fn record(&self, key: &ActionKey, result: &ActionResult) -> Result<(), StoreError> {
        let blobs = self.blobs.lock().map_err(|_| poisoned())?;
        if let Some(o) = result
            .outputs
            .values()
            .find(|o| !blobs.contains_key(&o.digest))
        {
            return Err(StoreError::MissingBlob(o.digest));
        }
        drop(blobs);
        self.actions
            .lock()
            .map_err(|_| poisoned())?
            .insert(*key, result.clone());
        Ok(())
    }

    fn blob_writer(&self) -> Result<Box<dyn BlobWriter>, StoreError> {
        Ok(Box::new(MemBlobWriter {
            blobs: self.blobs.clone(),
            buf: Vec::new(),
        }))
    }

    fn materialize(&self, file: &OutputFile, dest: &Path) -> Result<(), StoreError> {
        self.materializations.fetch_add(1, Ordering::Relaxed);
        let bytes = self
            .blob(&file.digest)
            .ok_or(StoreError::MissingBlob(file.digest))?;
        if BlobDigest::of_bytes(&bytes) != file.digest {
            self.blobs
                .lock()
                .map_err(|_| poisoned())?
                .remove(&file.digest);
            return Err(StoreError::Damaged {
                digest: file.digest,
                path: dest.to_path_buf(),
            });
        }
        crate::fsutil::write_atomic(dest, &bytes).map_err(|source| StoreError::Io {
            path: dest.to_path_buf(),
            source,
        })
    }
    fn open_blob(&self, file: &OutputFile) -> Result<Box<dyn std::io::Read + Send>, StoreError> {
        let bytes = self
            .blob(&file.digest)
            .ok_or(StoreError::MissingBlob(file.digest))?;
        let (blobs, digest) = (self.blobs.clone(), file.digest);
        let on_damage = Box::new(move || {
            if let Ok(mut b) = blobs.lock() {
                b.remove(&digest);
            }
        });
        Ok(Box::new(crate::store::CheckedBlobReader::new(
            std::io::Cursor::new(bytes),
            *file,
            on_damage,
        )))
    }
}

/// Buffers a blob until commit.
struct MemBlobWriter {
    blobs: Arc<Mutex<HashMap<BlobDigest, Vec<u8>>>>,
    buf: Vec<u8>,
}

impl Write for MemBlobWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for MemBlobWriter {
    fn commit(self: Box<Self>, executable: bool) -> Result<OutputFile, StoreError> {
        let digest = BlobDigest::of_bytes(&self.buf);
        let size = self.buf.len() as u64;
        self.blobs
            .lock()
            .map_err(|_| poisoned())?
            .insert(digest, self.buf);
        Ok(OutputFile {
            digest,
            size,
            executable,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn reading_a_damaged_blob_to_its_end_fails_and_drops_it() {
        let store = MemStore::default();
        let mut w = store.blob_writer().unwrap();
        w.write_all(b"hello").unwrap();
        let file = w.commit(false).unwrap();
        let mut good = String::new();
        store
            .open_blob(&file)
            .unwrap()
            .read_to_string(&mut good)
            .unwrap();
        assert_eq!(good, "hello");
        store.damage(&file.digest);
        let e = store
            .open_blob(&file)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(store.blob(&file.digest).is_none());
    }
}
