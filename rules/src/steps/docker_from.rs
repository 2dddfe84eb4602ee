//! `rootfs/<stage>/from`: a Dockerfile's `FROM <image>` (or `COPY --from=<image>`), pulled
//! for the target's platform and flattened once per manifest (`sources/image.rs`). Its tree
//! is hashed once and kept beside the checkout (`image-<hex>.tree.json`), so a no-op build
//! reads one small file, not the image.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_engine::ActionResult;
use kiln_engine::statcache::StatCache;
use kiln_engine::step::{DepValues, ExecContext, Prepared, SourceValue, Step, StepError};
use kiln_engine::tree::Tree;

use kiln_dockerfile::state::{decode, encode};

use crate::sources::SourceResolver;
use crate::steps::docker::StateData;

/// A base image of a Dockerfile.
pub struct ImageStep {
    /// `rootfs/<stage>/from`.
    pub id: String,
    /// The image.
    pub reference: kiln_oci::Reference,
    /// The architecture (`x86_64`, `arm64`).
    pub arch: String,
    /// Where images are flattened (`<cache>/rootfs`).
    pub checkouts: PathBuf,
    /// Pulls (absent in plans made without one).
    pub resolver: Option<Arc<SourceResolver>>,
    /// The Dockerfile and line, for messages.
    pub at: String,
}

impl Step for ImageStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "image"
    }
    fn deps(&self) -> &[String] {
        &[]
    }
    fn prepare(&self, _: &DepValues<'_>) -> Result<Prepared, StepError> {
        let r = &self.reference;
        let Some(resolver) = &self.resolver else {
            return Err(StepError::Unresolved(format!(
                "{}: FROM {r}: images are pulled only in builds",
                self.at
            )));
        };
        let label = format!("FROM {r}");
        let checkout = resolver
            .checkout_image(r, &self.arch, &self.checkouts, &label)
            .map_err(|e| match e {
                crate::sources::SourceError::NeedsNetwork { .. }
                | crate::sources::SourceError::Registry {
                    unreachable: true, ..
                } => StepError::Unresolved(format!("{}: {e}", self.at)),
                e => StepError::Failed(format!("{}: FROM {r}: {e}", self.at)),
            })?;
        let tree = Arc::new(
            tree_of(&checkout.dir)
                .map_err(|e| StepError::Failed(format!("{}: FROM {r}: {e}", self.at)))?,
        );
        let note = crate::sources::image::skipped_note(&checkout.dir);
        Ok(Prepared::Source(SourceValue {
            digest: tree.digest().raw(),
            tree: None,
            data: Some(Arc::new(StateData {
                env: crate::sources::image::image_env(&checkout.dir),
                dir: checkout.dir,
                tree,
                immutable: true,
            })),
            vouched: false,
            witness: None,
            note,
        }))
    }
    fn execute(&self, _: &DepValues<'_>, _: &ExecContext<'_>) -> Result<ActionResult, StepError> {
        Err(StepError::Failed("internal: an image is a source".into()))
    }
}

/// The tree of the immutable checkout `dir`: kept beside it after the first scan.
fn tree_of(dir: &Path) -> Result<Tree, String> {
    let kept = dir.with_extension("tree.json");
    if let Ok(t) = std::fs::read(&kept)
        .map_err(|e| e.to_string())
        .and_then(|b| decode(&b))
    {
        return Ok(t);
    }
    let cache = StatCache::empty(&dir.with_extension("statcache"));
    let (tree, _) = kiln_engine::scan::scan_dir(dir, &cache).map_err(|e| e.to_string())?;
    kiln_engine::fsutil::write_atomic(&kept, &encode(&tree)).map_err(|e| e.to_string())?;
    Ok(tree)
}
