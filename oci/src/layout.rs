//! Writing a package as an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`),
//! the directory form skopeo (`oci:DIR:TAG`), umoci and containerd read.
//!
//! Every blob is copied out of kiln's store with its BLAKE3 checked on the way, so a damaged
//! blob never reaches the layout. `index.json` names the package's index under
//! `org.opencontainers.image.ref.name` = the tag; entries for other tags already in the
//! layout are kept, one for the same tag is replaced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_engine::{Store, StoreError};

use crate::digest::Sha256;
use crate::gojson;
use crate::spec::{Descriptor, Index};
use crate::store::PackageRecord;

/// Why a layout could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// A file system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An `index.json` already there that is not an OCI index.
    #[error("{}: not an OCI image index ({reason}); export into an empty directory", path.display())]
    BadIndex {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The store failed (a damaged or missing blob).
    #[error("blob {digest}: {source}")]
    Store {
        /// The OCI name of the blob.
        digest: Sha256,
        /// The store's error.
        source: StoreError,
    },
}

/// Writes `record`'s package into the layout at `dir` under `tag`.
pub fn export(
    record: &PackageRecord,
    store: &dyn Store,
    dir: &Path,
    tag: &str,
) -> Result<(), LayoutError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LayoutError::Io { path, source }
    };
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(io(&blobs))?;
    for (digest, blob) in &record.blobs {
        let dest = blobs.join(digest.hex());
        if std::fs::metadata(&dest).is_ok_and(|m| m.len() == blob.size)
            && std::fs::read(&dest).is_ok_and(|b| Sha256::of(&b) == *digest)
        {
            continue;
        }
        store
            .materialize(&blob.file(), &dest)
            .map_err(|source| LayoutError::Store {
                digest: *digest,
                source,
            })?;
    }
    let layout = dir.join("oci-layout");
    kiln_engine::fsutil::write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)
        .map_err(io(&layout))?;
    let index_path = dir.join("index.json");
    let mut index = match std::fs::read(&index_path) {
        Ok(bytes) => {
            serde_json::from_slice::<Index>(&bytes).map_err(|e| LayoutError::BadIndex {
                path: index_path.clone(),
                reason: e.to_string(),
            })?
        }
        Err(_) => Index {
            schema_version: 2,
            media_type: Some(crate::spec::MEDIA_INDEX.into()),
            manifests: Vec::new(),
            annotations: BTreeMap::new(),
        },
    };
    const REF_NAME: &str = "org.opencontainers.image.ref.name";
    index
        .manifests
        .retain(|m| m.annotations.get(REF_NAME).map(String::as_str) != Some(tag));
    let size = record.blobs.get(&record.index).map(|b| b.size).unwrap_or(0);
    index.manifests.push(Descriptor {
        media_type: record.media_type.clone(),
        digest: record.index,
        size,
        urls: vec![],
        annotations: BTreeMap::from([(REF_NAME.to_string(), tag.to_string())]),
        platform: None,
    });
    kiln_engine::fsutil::write_atomic(&index_path, &gojson::to_vec(&index)).map_err(io(&index_path))
}
