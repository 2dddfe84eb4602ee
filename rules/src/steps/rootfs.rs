//! The `rootfs` step: a source step that hashes the project's root filesystem.
//!
//! A directory becomes a [`Tree`] (scanned through the stat cache, so a no-op build reads
//! no file). An existing cpio archive is taken as it is: its digest is its content's.
//! Other kinds kraft knows (Dockerfile, tar, OCI image) are planned as unresolved.

use std::path::PathBuf;
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
            RootfsKind::Dir(root) => {
                let scanned = self.scanner.scan(root, &[]).map_err(scan_error)?;
                let tree = scanned.tree();
                Ok(Prepared::Source(SourceValue {
                    vouched: tree.is_none(),
                    digest: scanned.digest().raw(),
                    tree: tree.clone(),
                    witness: Some(scanned.witness()),
                    data: Some(Arc::new(RootfsData::Dir {
                        root: root.clone(),
                        tree,
                        digest: scanned.digest(),
                        scanner: self.scanner.clone(),
                    })),
                }))
            }
            RootfsKind::Cpio(path) => self.prepare_cpio(path),
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
    fn prepare_cpio(&self, path: &PathBuf) -> Result<Prepared, StepError> {
        check_newc(path).map_err(|e| StepError::Failed(e.to_string()))?;
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
        Ok(Prepared::Source(SourceValue {
            digest: digest.raw(),
            tree: None,
            data: Some(Arc::new(RootfsData::Cpio {
                path: path.clone(),
                size: meta.len(),
            })),
            vouched: false,
            // The initrd step checks the archive's digest as it stores it.
            witness: None,
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
