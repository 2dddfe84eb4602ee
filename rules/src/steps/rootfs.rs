//! The `rootfs` step: a source step that hashes the project's root filesystem.
//!
//! A directory becomes a [`Tree`] (scanned through the stat cache, so a no-op build reads
//! no file). An existing cpio archive is taken as it is: its digest is its content's. A tar
//! or tar.gz archive is a flat tree: it is unpacked once per content (BLAKE3 of the archive)
//! into an immutable directory of the machine-wide cache (`<cache>/rootfs/tar-<hex>/`, made
//! in a temporary directory and renamed, with `kiln_oci::flatten`'s safety checks), which is
//! then a directory rootfs. An OCI image is pulled and flattened the same way
//! (`sources/image.rs`). A Dockerfile is planned as steps of its own (`docker_plan.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_engine::memo::TreeScanner;
use kiln_engine::scan::{ScanError, scan_dir};
use kiln_engine::statcache::StatKey;
use kiln_engine::step::{DepValues, ExecContext, Prepared, SourceValue, Step, StepError};
use kiln_engine::{ActionResult, Tree, TreeDigest};

use crate::initrd::check_newc;

/// What the rootfs is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootfsKind {
    /// A directory, packed into a newc archive by kiln.
    Dir(PathBuf),
    /// An existing newc archive, used as it is.
    Cpio(PathBuf),
    /// A tar archive (gzip-compressed or not), taken as a flat tree.
    Tar(PathBuf),
    /// An OCI image, pulled for `linux/<arch>` and flattened.
    Image(kiln_oci::Reference),
    /// A Dockerfile, built by the steps of `docker_plan.rs` (never by this step).
    Dockerfile(PathBuf),
    /// A kind kiln cannot build yet; the reason says which.
    Unsupported(String),
    /// The path does not exist (or cannot be read); the message says where kiln looked.
    Missing(String),
}

/// What downstream steps get from the rootfs step.
pub enum RootfsData {
    /// The scanned directory.
    Dir {
        /// Where it is.
        root: PathBuf,
        /// Its tree, when it was scanned in this build (not when a watcher vouched for it).
        tree: Option<Arc<Tree>>,
        /// The tree's digest.
        digest: TreeDigest,
        /// For scanning again when the tree is needed after all.
        scanner: Arc<TreeScanner>,
    },
    /// The archive file and its size when hashed.
    Cpio {
        /// Where it is.
        path: PathBuf,
        /// Its size when hashed.
        size: u64,
    },
}

/// The `rootfs` source step.
pub struct RootfsStep {
    /// The step id.
    pub id: String,
    /// What to hash.
    pub kind: RootfsKind,
    /// The project's tree scanner (stat cache and change-watcher memos).
    pub scanner: Arc<TreeScanner>,
    /// Where unpacked archives and images are kept (`<cache>/rootfs`).
    pub checkouts: PathBuf,
    /// Pulls images (absent in plans made without one).
    pub resolver: Option<Arc<crate::sources::SourceResolver>>,
    /// The architectures of the selected targets (an image is pulled for one).
    pub archs: Vec<String>,
}

impl Step for RootfsStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "rootfs"
    }
    fn deps(&self) -> &[String] {
        &[]
    }
    fn prepare(&self, _: &DepValues<'_>) -> Result<Prepared, StepError> {
        match &self.kind {
            RootfsKind::Dir(root) => self.prepare_dir(root),
            RootfsKind::Tar(path) => {
                let (digest, _) = self.file_digest(path)?;
                let root = self.unpack_tar(path, &digest.to_hex())?;
                self.prepare_dir(&root)
            }
            RootfsKind::Image(r) => self.prepare_image(r),
            RootfsKind::Cpio(path) => self.prepare_cpio(path),
            RootfsKind::Dockerfile(p) => Err(StepError::Failed(format!(
                "internal: the Dockerfile {} is planned by its own steps",
                p.display()
            ))),
            RootfsKind::Unsupported(why) | RootfsKind::Missing(why) => {
                Err(StepError::Unresolved(why.clone()))
            }
        }
    }
    fn execute(&self, _: &DepValues<'_>, _: &ExecContext<'_>) -> Result<ActionResult, StepError> {
        Err(StepError::Failed(
            "internal: the rootfs step is a source".into(),
        ))
    }
}

impl RootfsStep {
    fn prepare_dir(&self, root: &Path) -> Result<Prepared, StepError> {
        let scanned = self.scanner.scan(root, &[]).map_err(scan_error)?;
        let tree = scanned.tree();
        Ok(Prepared::Source(SourceValue {
            vouched: tree.is_none(),
            digest: scanned.digest().raw(),
            tree: tree.clone(),
            witness: Some(scanned.witness()),
            note: None,
            data: Some(Arc::new(RootfsData::Dir {
                root: root.to_path_buf(),
                tree,
                digest: scanned.digest(),
                scanner: self.scanner.clone(),
            })),
        }))
    }

    fn prepare_image(&self, r: &kiln_oci::Reference) -> Result<Prepared, StepError> {
        let Some(resolver) = &self.resolver else {
            return Err(StepError::Unresolved(format!(
                "rootfs {r}: images are pulled only in builds"
            )));
        };
        let [arch] = self.archs.as_slice() else {
            return Err(StepError::Unresolved(format!(
                "rootfs {r} is an image, pulled for one architecture, and the selected targets \
                 are for {}; choose one with --arch",
                self.archs.join(", ")
            )));
        };
        let checkout = resolver
            .checkout_image(r, arch, &self.checkouts, "rootfs")
            .map_err(|e| match e {
                crate::sources::SourceError::NeedsNetwork { .. }
                | crate::sources::SourceError::Registry {
                    unreachable: true, ..
                } => StepError::Unresolved(e.to_string()),
                e => StepError::Failed(format!("rootfs: {e}")),
            })?;
        let mut prepared = self.prepare_dir(&checkout.dir)?;
        if let Prepared::Source(sv) = &mut prepared {
            sv.note = crate::sources::image::skipped_note(&checkout.dir);
        }
        Ok(prepared)
    }

    /// The digest and metadata of a file, through the stat cache.
    fn file_digest(
        &self,
        path: &PathBuf,
    ) -> Result<(kiln_engine::Digest, std::fs::Metadata), StepError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| StepError::Failed(format!("cannot read {}: {e}", path.display())))?;
        let key = StatKey::of(&meta);
        let stat_cache = self.scanner.stat_cache();
        let digest = match stat_cache.lookup(path, &key) {
            Some(d) => d,
            None => {
                let d = kiln_engine::scan::hash_file(path, meta.len())
                    .map_err(|e| StepError::Failed(e.into_scan_error(path).to_string()))?;
                stat_cache.insert(path, key, d);
                d
            }
        };
        Ok((digest.raw(), meta))
    }

    /// The directory holding the archive `path` (BLAKE3 `hex`) unpacked: made once, in a
    /// temporary directory renamed into place, so a half-unpacked tree is never used.
    fn unpack_tar(&self, path: &PathBuf, hex: &str) -> Result<PathBuf, StepError> {
        let dest = self.checkouts.join(format!("tar-{hex}"));
        if dest.is_dir() {
            return Ok(dest);
        }
        let failed = |m: String| StepError::Failed(format!("rootfs {}: {m}", path.display()));
        kiln_oci::flatten::make_dir(
            &dest,
            |e| failed(e.to_string()),
            |flattener| {
                let file = std::fs::File::open(path).map_err(|e| failed(e.to_string()))?;
                let mut reader =
                    kiln_oci::flatten::decompressed(Box::new(std::io::BufReader::new(file)))
                        .map_err(|e| failed(e.to_string()))?;
                flattener
                    .apply(&mut reader)
                    .map_err(|e| failed(e.to_string()))
            },
        )?;
        Ok(dest)
    }

    fn prepare_cpio(&self, path: &PathBuf) -> Result<Prepared, StepError> {
        check_newc(path).map_err(|e| StepError::Failed(e.to_string()))?;
        let (digest, meta) = self.file_digest(path)?;
        Ok(Prepared::Source(SourceValue {
            digest,
            tree: None,
            data: Some(Arc::new(RootfsData::Cpio {
                path: path.clone(),
                size: meta.len(),
            })),
            vouched: false,
            // The initrd step checks the archive's digest as it stores it.
            witness: None,
            note: None,
        }))
    }
}

impl RootfsData {
    /// The directory's tree: the one scanned in this build, or a new scan that must give the
    /// digest the build was planned with.
    pub fn tree(&self) -> Result<Arc<Tree>, StepError> {
        let RootfsData::Dir {
            root,
            tree,
            digest,
            scanner,
        } = self
        else {
            return Err(StepError::Failed(
                "internal: the rootfs is not a directory".into(),
            ));
        };
        if let Some(t) = tree {
            return Ok(t.clone());
        }
        let (t, _) = scan_dir(root, scanner.stat_cache()).map_err(scan_error)?;
        if t.digest() != *digest {
            return Err(StepError::Failed(format!(
                "the rootfs {} changed during the build; build again",
                root.display()
            )));
        }
        Ok(Arc::new(t))
    }
}

fn scan_error(e: ScanError) -> StepError {
    StepError::Failed(format!("rootfs: {e}"))
}
