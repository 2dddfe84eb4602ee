//! [`LocalStore`]: the engine's [`Store`] on local disk.
//!
//! It reads and writes entries in the format described in `layout.rs`, holding the cache's
//! lock shared for as long as it is open. Lookups check entries cheaply (a blob missing or of
//! the wrong size turns the entry into a miss); every blob copied out of the store is hashed
//! on the way (see `copy.rs`), so damaged bytes are never handed to a step or to the user.
//! It does not evict anything; see `gc.rs`.
//!
//! A cache root that cannot be written (a CI cache mounted read-only, say) is opened
//! read-only: hits are served from it, and what the build produces goes to a private scratch
//! store in the system's temporary directory, removed when the store is dropped. So a build
//! works, and nothing is stored.

use std::fs::{self, File, Metadata};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use kiln_engine::temp_owner;
use kiln_engine::{ActionKey, ActionResult, BlobDigest, BlobWriter, OutputFile, Store, StoreError};

use crate::copy::copy_verified;
use crate::error::CacheError;
use crate::layout::{self, Layout};
use crate::lock::{CacheLock, LockMode};
use crate::writer::LocalBlobWriter;

/// The local content-addressed store and action cache, open for a build.
///
/// Many `LocalStore`s (in one process or many) may be open on one root at once; `gc`,
/// `verify` and `clean` wait until all are closed. It is `Sync`: share one across threads.
#[derive(Debug)]
pub struct LocalStore {
    /// Where new blobs and results go: the root, or the scratch store when read-only.
    write: Arc<Layout>,
    /// Where entries are looked up, in order (the write layout first).
    read: Vec<Arc<Layout>>,
    /// The root, when it could not be written; its scratch directory is removed on drop.
    read_only: Option<PathBuf>,
    /// Held shared until the store is dropped (absent on a read-only root without one).
    _lock: Option<CacheLock>,
}

impl LocalStore {
    /// Opens (creating if needed) the cache at `root`, waiting silently while a maintenance
    /// operation holds it.
    pub fn open(root: &Path) -> Result<LocalStore, CacheError> {
        LocalStore::open_with(root, &|| {})
    }

    /// Opens (creating if needed) the cache at `root`. If `gc`, `verify` or `clean` holds it,
    /// calls `on_wait` once and then waits for it to finish. A root that cannot be written is
    /// opened read-only (see the module doc and [`LocalStore::read_only`]).
    pub fn open_with(root: &Path, on_wait: &dyn Fn()) -> Result<LocalStore, CacheError> {
        let layout = Layout::new(root);
        let writable = layout.create_root().and_then(|()| {
            let lock = CacheLock::acquire(&layout.lock_path(), LockMode::Shared, on_wait)?;
            layout.create_dirs()?;
            Ok(lock)
        });
        match writable {
            Ok(lock) => {
                // A killed build's temp files; cheap: `tmp/` is normally empty.
                let _ = layout::remove_dead_temps(layout.tmp_dir());
                let layout = Arc::new(layout);
                Ok(LocalStore {
                    write: layout.clone(),
                    read: vec![layout],
                    read_only: None,
                    _lock: Some(lock),
                })
            }
            Err(e) if is_read_only(&e) => LocalStore::open_read_only(layout, on_wait),
            Err(e) => Err(e),
        }
    }

    /// Opens `layout` for reading only, with a scratch store for what the build writes.
    fn open_read_only(layout: Layout, on_wait: &dyn Fn()) -> Result<LocalStore, CacheError> {
        let lock = CacheLock::acquire_read_only(&layout.lock_path(), on_wait)?;
        let scratch_dir = std::env::temp_dir().join(temp_owner::temp_name("kiln-scratch"));
        let scratch = Layout::new(&scratch_dir);
        scratch.create_root()?;
        scratch.create_dirs()?;
        let root = layout.root().to_path_buf();
        let scratch = Arc::new(scratch);
        Ok(LocalStore {
            write: scratch.clone(),
            read: vec![scratch, Arc::new(layout)],
            read_only: Some(root),
            _lock: lock,
        })
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        self.read.last().map_or(self.write.root(), |l| l.root())
    }

    /// The root, if it could not be written: hits are served from it, nothing is stored.
    pub fn read_only(&self) -> Option<&Path> {
        self.read_only.as_deref()
    }

    /// Where the blob `digest` is (or would be) stored. For diagnostics; read it, never write.
    pub fn blob_path(&self, digest: &BlobDigest) -> PathBuf {
        self.read
            .iter()
            .map(|l| l.blob_path(digest))
            .find(|p| p.is_file())
            .unwrap_or_else(|| self.write.blob_path(digest))
    }

    /// Where the action result for `key` is (or would be) stored.
    pub fn action_path(&self, key: &ActionKey) -> PathBuf {
        self.read
            .iter()
            .map(|l| l.action_path(key))
            .find(|p| p.is_file())
            .unwrap_or_else(|| self.write.action_path(key))
    }

    /// Removes a damaged or dangling file; on a read-only root, only the scratch store's.
    fn discard(&self, path: &Path) -> Result<(), CacheError> {
        match layout::remove_entry(path) {
            Err(_) if self.read_only.is_some() => Ok(()),
            other => other,
        }
    }

    fn lookup_entry(&self, key: &ActionKey) -> Result<Option<ActionResult>, CacheError> {
        for layout in &self.read {
            if let Some(found) = self.lookup_in(layout, key)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    fn lookup_in(
        &self,
        layout: &Layout,
        key: &ActionKey,
    ) -> Result<Option<ActionResult>, CacheError> {
        let path = layout.action_path(key);
        let (bytes, entry_modified) = match read_entry(&path) {
            Ok(Some(read)) => read,
            Ok(None) => {
                // A directory where the entry should be: not an entry.
                self.discard(&path)?;
                return Ok(None);
            }
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CacheError::io(&path)(e)),
        };
        let Ok(result) = serde_json::from_slice::<ActionResult>(&bytes) else {
            self.discard(&path)?;
            return Ok(None);
        };
        let mut blobs = Vec::with_capacity(result.outputs.len());
        for output in result.outputs.values() {
            match self.find_blob(output)? {
                Some(found) => blobs.push(found),
                None => {
                    self.discard(&path)?;
                    return Ok(None);
                }
            }
        }
        touch_entry(&path, entry_modified, &blobs);
        Ok(Some(result))
    }

    /// The blob `output` names, in the first layout that has it intact (by size).
    fn find_blob(&self, output: &OutputFile) -> Result<Option<(PathBuf, Metadata)>, CacheError> {
        for layout in &self.read {
            if let Some(found) = intact_blob(layout, output)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    fn record_entry(&self, key: &ActionKey, result: &ActionResult) -> Result<(), CacheError> {
        for output in result.outputs.values() {
            check_blob_for_record(&self.write, output)?;
        }
        let path = self.write.action_path(key);
        let mut json = serde_json::to_vec(result).map_err(|source| CacheError::Encode {
            path: path.clone(),
            source,
        })?;
        json.push(b'\n');
        let (temp, mut file) = self.write.create_temp(0o644)?;
        let written = file
            .write_all(&json)
            .map_err(CacheError::io(&temp))
            .and_then(|()| layout::rename_creating_parent(&temp, &path));
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }

    fn materialize_file(&self, file: &OutputFile, dest: &Path) -> Result<(), CacheError> {
        let Some((blob, _)) = self.find_blob(file)? else {
            return Err(CacheError::MissingBlob(file.digest));
        };
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(parent).map_err(CacheError::io(parent))?;
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let temp = temp_owner::temp_path_for(parent, &name);
        let copied = copy_verified(&blob, file, &temp)
            .and_then(|()| fs::rename(&temp, dest).map_err(CacheError::io(dest)));
        if copied.is_err() {
            let _ = fs::remove_file(&temp);
        }
        if let Err(CacheError::Damaged { .. }) = &copied {
            // Damaged bytes are never served again: the next lookup of an entry naming this
            // blob is a miss, and the engine rebuilds it.
            self.discard(&blob)?;
        }
        copied
    }
}

/// Whether `e` means the cache root cannot be written (as opposed to a real failure).
fn is_read_only(e: &CacheError) -> bool {
    let source = match e {
        CacheError::Io { source, .. } | CacheError::Lock { source, .. } => source,
        _ => return false,
    };
    matches!(
        source.kind(),
        ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied
    )
}

/// The blob `output` names, if it is present with the recorded size.
pub(crate) fn intact_blob(
    layout: &Layout,
    output: &OutputFile,
) -> Result<Option<(PathBuf, Metadata)>, CacheError> {
    let path = layout.blob_path(&output.digest);
    match fs::metadata(&path) {
        Ok(meta) if meta.is_file() && meta.len() == output.size => Ok(Some((path, meta))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CacheError::io(&path)(e)),
    }
}

/// Refuses to record a result whose blobs are not all stored with the sizes it claims.
fn check_blob_for_record(layout: &Layout, output: &OutputFile) -> Result<(), CacheError> {
    let path = layout.blob_path(&output.digest);
    match fs::metadata(&path) {
        Ok(meta) if meta.is_file() && meta.len() == output.size => Ok(()),
        Ok(meta) if meta.is_file() => Err(CacheError::BlobSizeMismatch {
            digest: output.digest,
            expected: output.size,
            actual: meta.len(),
        }),
        Ok(_) => Err(CacheError::MissingBlob(output.digest)),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(CacheError::MissingBlob(output.digest)),
        Err(e) => Err(CacheError::io(&path)(e)),
    }
}

/// Reads a whole entry and its mtime through one open; `None` if a directory is there.
fn read_entry(path: &Path) -> io::Result<Option<(Vec<u8>, io::Result<SystemTime>)>> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok(Some((bytes, meta.modified())))
}

/// Marks an action entry and its blobs as used, for LRU eviction.
fn touch_entry(entry: &Path, modified: io::Result<SystemTime>, blobs: &[(PathBuf, Metadata)]) {
    layout::touch_if_stale(entry, modified);
    for (path, meta) in blobs {
        layout::touch_if_stale(path, meta.modified());
    }
}

impl Drop for LocalStore {
    fn drop(&mut self) {
        if self.read_only.is_some() {
            let _ = fs::remove_dir_all(self.write.root());
        }
    }
}

impl Store for LocalStore {
    fn lookup(&self, key: &ActionKey) -> Result<Option<ActionResult>, StoreError> {
        Ok(self.lookup_entry(key)?)
    }

    fn contains(&self, key: &ActionKey) -> Result<bool, StoreError> {
        for layout in &self.read {
            let path = layout.action_path(key);
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_file() => return Ok(true),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(CacheError::io(&path)(e).into()),
            }
        }
        Ok(false)
    }

    fn record(&self, key: &ActionKey, result: &ActionResult) -> Result<(), StoreError> {
        Ok(self.record_entry(key, result)?)
    }

    fn blob_writer(&self) -> Result<Box<dyn BlobWriter>, StoreError> {
        let writer = LocalBlobWriter::create(self.write.clone())?;
        Ok(Box::new(writer))
    }

    fn materialize(&self, file: &OutputFile, dest: &Path) -> Result<(), StoreError> {
        Ok(self.materialize_file(file, dest)?)
    }

    fn open_blob(&self, file: &OutputFile) -> Result<Box<dyn std::io::Read + Send>, StoreError> {
        let Some((blob, _)) = self.find_blob(file)? else {
            return Err(CacheError::MissingBlob(file.digest).into());
        };
        let reader = fs::File::open(&blob).map_err(CacheError::io(&blob))?;
        // Damaged bytes are never served again (see `materialize_file`). On a read-only
        // root the removal fails, and the damage is still reported.
        let on_damage = Box::new(move || {
            let _ = layout::remove_entry(&blob);
        });
        Ok(Box::new(kiln_engine::CheckedBlobReader::new(
            std::io::BufReader::with_capacity(1 << 20, reader),
            *file,
            on_damage,
        )))
    }
}
