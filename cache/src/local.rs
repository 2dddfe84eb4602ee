//! [`LocalStore`]: the engine's [`Store`] on local disk.
//!
//! It reads and writes entries in the format described in `layout.rs`, holding the cache's
//! lock shared for as long as it is open. It checks entries on read (a blob missing or of the
//! wrong size turns the entry into a miss) but never re-hashes blobs: that is `verify`'s job.
//! It does not evict anything; see `gc.rs`.

use std::fs::{self, File, Metadata};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use kiln_engine::{ActionKey, ActionResult, BlobDigest, BlobWriter, OutputFile, Store, StoreError};

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
    layout: Arc<Layout>,
    /// Held shared until the store is dropped.
    _lock: CacheLock,
}

impl LocalStore {
    /// Opens (creating if needed) the cache at `root`, waiting silently while a maintenance
    /// operation holds it.
    pub fn open(root: &Path) -> Result<LocalStore, CacheError> {
        LocalStore::open_with(root, &|| {})
    }

    /// Opens (creating if needed) the cache at `root`. If `gc`, `verify` or `clean` holds it,
    /// calls `on_wait` once and then waits for it to finish.
    pub fn open_with(root: &Path, on_wait: &dyn Fn()) -> Result<LocalStore, CacheError> {
        let layout = Layout::new(root);
        layout.create_root()?;
        let lock = CacheLock::acquire(&layout.lock_path(), LockMode::Shared, on_wait)?;
        layout.create_dirs()?;
        Ok(LocalStore {
            layout: Arc::new(layout),
            _lock: lock,
        })
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// Where the blob `digest` is (or would be) stored. For diagnostics; read it, never write.
    pub fn blob_path(&self, digest: &BlobDigest) -> PathBuf {
        self.layout.blob_path(digest)
    }

    /// Where the action result for `key` is (or would be) stored.
    pub fn action_path(&self, key: &ActionKey) -> PathBuf {
        self.layout.action_path(key)
    }

    fn lookup_entry(&self, key: &ActionKey) -> Result<Option<ActionResult>, CacheError> {
        let path = self.layout.action_path(key);
        let (bytes, entry_modified) = match read_with_mtime(&path) {
            Ok(read) => read,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CacheError::io(&path)(e)),
        };
        let Ok(result) = serde_json::from_slice::<ActionResult>(&bytes) else {
            layout::remove_if_present(&path)?;
            return Ok(None);
        };
        let mut blobs = Vec::with_capacity(result.outputs.len());
        for output in result.outputs.values() {
            match intact_blob(&self.layout, output)? {
                Some(found) => blobs.push(found),
                None => {
                    layout::remove_if_present(&path)?;
                    return Ok(None);
                }
            }
        }
        touch_entry(&path, entry_modified, &blobs);
        Ok(Some(result))
    }

    fn record_entry(&self, key: &ActionKey, result: &ActionResult) -> Result<(), CacheError> {
        for output in result.outputs.values() {
            check_blob_for_record(&self.layout, output)?;
        }
        let path = self.layout.action_path(key);
        let mut json = serde_json::to_vec(result).map_err(|source| CacheError::Encode {
            path: path.clone(),
            source,
        })?;
        json.push(b'\n');
        let (temp, mut file) = self.layout.create_temp(0o644)?;
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
        let blob = self.layout.blob_path(&file.digest);
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(parent).map_err(CacheError::io(parent))?;
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let temp = parent.join(format!(".{name}.{}", layout::unique_name("kiln-")));
        let copied = copy_blob_to(&blob, file, &temp)
            .and_then(|()| fs::rename(&temp, dest).map_err(CacheError::io(dest)));
        if copied.is_err() {
            let _ = fs::remove_file(&temp);
        }
        copied
    }
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
        Ok(meta) if meta.len() == output.size => Ok(()),
        Ok(meta) => Err(CacheError::BlobSizeMismatch {
            digest: output.digest,
            expected: output.size,
            actual: meta.len(),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(CacheError::MissingBlob(output.digest)),
        Err(e) => Err(CacheError::io(&path)(e)),
    }
}

/// Reads a whole file and its mtime through one open.
fn read_with_mtime(path: &Path) -> io::Result<(Vec<u8>, io::Result<SystemTime>)> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok((bytes, meta.modified()))
}

/// Marks an action entry and its blobs as used, for LRU eviction.
fn touch_entry(entry: &Path, modified: io::Result<SystemTime>, blobs: &[(PathBuf, Metadata)]) {
    layout::touch_if_stale(entry, modified);
    for (path, meta) in blobs {
        layout::touch_if_stale(path, meta.modified());
    }
}

/// Copies (or reflinks) `blob` to `temp`, checks its size, and sets its mode.
fn copy_blob_to(blob: &Path, file: &OutputFile, temp: &Path) -> Result<(), CacheError> {
    match reflink_copy::reflink_or_copy(blob, temp) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound && !blob.exists() => {
            return Err(CacheError::MissingBlob(file.digest));
        }
        Err(e) => return Err(CacheError::io(temp)(e)),
    }
    let copied = fs::metadata(temp).map_err(CacheError::io(temp))?.len();
    if copied != file.size {
        return Err(CacheError::BlobSizeMismatch {
            digest: file.digest,
            expected: file.size,
            actual: copied,
        });
    }
    let mode = if file.executable { 0o755 } else { 0o644 };
    fs::set_permissions(temp, fs::Permissions::from_mode(mode)).map_err(CacheError::io(temp))
}

impl Store for LocalStore {
    fn lookup(&self, key: &ActionKey) -> Result<Option<ActionResult>, StoreError> {
        Ok(self.lookup_entry(key)?)
    }

    fn contains(&self, key: &ActionKey) -> Result<bool, StoreError> {
        let path = self.layout.action_path(key);
        match fs::symlink_metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CacheError::io(&path)(e).into()),
        }
    }

    fn record(&self, key: &ActionKey, result: &ActionResult) -> Result<(), StoreError> {
        Ok(self.record_entry(key, result)?)
    }

    fn blob_writer(&self) -> Result<Box<dyn BlobWriter>, StoreError> {
        let writer = LocalBlobWriter::create(self.layout.clone())?;
        Ok(Box::new(writer))
    }

    fn materialize(&self, file: &OutputFile, dest: &Path) -> Result<(), StoreError> {
        Ok(self.materialize_file(file, dest)?)
    }
}
