//! The `sources` steps: a component's directory (the core, a library, the template, or the
//! application itself), hashed as a tree through the project's scanner.
//!
//! A local directory is hashed without `.git` (and, for the application, without kiln's and
//! kraft's own files and the rootfs, which have steps of their own). Git sources, and sources
//! redirected by `--source` or the config file, are resolved by the [`SourceResolver`] when
//! the step is prepared: a checkout of a commit carries its recorded digest and is not
//! scanned; needing the network under `--offline` makes the step unresolved.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_engine::ActionResult;
use kiln_engine::memo::TreeScanner;
use kiln_engine::step::{DepValues, ExecContext, Prepared, SourceValue, Step, StepError};

use crate::kraftfile::Component;
use crate::sources::{ComponentId, Origin, SourceError, SourceResolver};

/// Where a component's source is.
#[derive(Debug, Clone)]
pub enum SourceLocation {
    /// A local directory.
    Dir(PathBuf),
    /// Not available locally; the reason says why.
    Unresolved(String),
    /// Resolved when the step is prepared (a git source, or one redirected by `--source` or
    /// the config file), so the scheduler fetches several components at once.
    Resolve {
        /// The build's resolver.
        resolver: Arc<SourceResolver>,
        /// Which component.
        id: ComponentId,
        /// What the Kraftfile asks for.
        component: Component,
        /// Where the Kraftfile is (relative sources are relative to it).
        kraftfile_dir: PathBuf,
    },
}

/// What a `sources` step hands its dependents: where the source is, and the git commit it is a
/// checkout of (`None` for a local directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDir {
    /// The directory.
    pub dir: PathBuf,
    /// The commit, for a checkout from the git cache.
    pub commit: Option<String>,
}

/// A `sources` step. Its data for dependents is a [`SourceDir`].
pub struct SourcesStep {
    /// The step id (`sources/<component>`).
    pub id: String,
    /// Where it is.
    pub location: SourceLocation,
    /// Paths relative to the directory that are not part of the source.
    pub skip: Vec<String>,
    /// The project's tree scanner.
    pub scanner: Arc<TreeScanner>,
}

impl Step for SourcesStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "sources"
    }
    fn deps(&self) -> &[String] {
        &[]
    }
    fn prepare(&self, _: &DepValues<'_>) -> Result<Prepared, StepError> {
        match &self.location {
            SourceLocation::Dir(dir) => self.scan(dir, None),
            SourceLocation::Unresolved(why) => Err(StepError::Unresolved(why.clone())),
            SourceLocation::Resolve {
                resolver,
                id,
                component,
                kraftfile_dir,
            } => {
                let r = resolver
                    .resolve(id, component, kraftfile_dir)
                    .map_err(|e| match e {
                        SourceError::NeedsNetwork { .. } | SourceError::NotFound { .. } => {
                            StepError::Unresolved(e.to_string())
                        }
                        e => StepError::Failed(e.to_string()),
                    })?;
                let commit = match &r.origin {
                    Origin::Git { commit, .. } => Some(commit.clone()),
                    Origin::Local => None,
                };
                match r.tree {
                    // An immutable checkout whose digest was recorded when it was made.
                    Some(t) => Ok(Prepared::Source(SourceValue {
                        digest: t.raw(),
                        tree: None,
                        data: Some(Arc::new(SourceDir { dir: r.dir, commit })),
                        vouched: true,
                        witness: None,
                        note: None,
                    })),
                    None => self.scan(&r.dir, commit),
                }
            }
        }
    }
    fn execute(&self, _: &DepValues<'_>, _: &ExecContext<'_>) -> Result<ActionResult, StepError> {
        Err(StepError::Failed(
            "internal: sources is a source step".into(),
        ))
    }
}

impl SourcesStep {
    fn scan(&self, dir: &Path, commit: Option<String>) -> Result<Prepared, StepError> {
        let skip: Vec<&str> = self.skip.iter().map(String::as_str).collect();
        let scanned = self
            .scanner
            .scan(dir, &skip)
            .map_err(|e| StepError::Failed(format!("{}: {e}", self.id)))?;
        let tree = scanned.tree();
        Ok(Prepared::Source(SourceValue {
            vouched: tree.is_none(),
            digest: scanned.digest().raw(),
            tree,
            data: Some(Arc::new(SourceDir {
                dir: dir.to_path_buf(),
                commit,
            })),
            witness: Some(scanned.witness()),
            note: None,
        }))
    }
}
