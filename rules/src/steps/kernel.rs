//! The kernel steps as they stand before kernel builds exist: `sources`, `kconfig`,
//! `compile` and `embed` are planned with real keys where their inputs are known, so
//! `kiln plan` shows the whole graph, but executing them fails with a clear message.
//!
//! `sources` is a source step: a local directory is hashed (without `.git`); a remote
//! source or a version name is unresolved until fetching is implemented.

use std::path::PathBuf;
use std::sync::Arc;

use kiln_engine::memo::{Scanned, TreeScanner};
use kiln_engine::step::{DepValues, ExecContext, Prepared, SourceValue, Step, StepError};
use kiln_engine::{Action, ActionResult};

use crate::kconfig::KconfigValues;

/// Bump when the kernel steps' actions change.
pub const RULE_VERSION: u32 = 1;

fn not_yet(kind: &str) -> StepError {
    StepError::Failed(format!(
        "kiln cannot run the `{kind}` step yet: building Unikraft kernels is not implemented \
         in this version; `kiln plan` shows the steps, and projects with `runtime:` build fully"
    ))
}

/// Where a component's source is.
#[derive(Debug, Clone)]
pub enum SourceLocation {
    /// A local directory.
    Dir(PathBuf),
    /// Not available locally; the reason says why.
    Unresolved(String),
}

/// A `sources` step: one component (the core, a library or the template).
pub struct SourcesStep {
    /// The step id (`sources/<component>`).
    pub id: String,
    /// Where it is.
    pub location: SourceLocation,
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
            SourceLocation::Dir(dir) => {
                let scanned = self
                    .scanner
                    .scan(dir, &[".git"])
                    .map_err(|e| StepError::Failed(format!("{}: {e}", self.id)))?;
                let tree = match &scanned {
                    Scanned::Fresh { tree, .. } => Some(tree.clone()),
                    Scanned::Unchanged { .. } => None,
                };
                Ok(Prepared::Source(SourceValue {
                    vouched: tree.is_none(),
                    digest: scanned.digest().raw(),
                    tree,
                    data: Some(Arc::new(dir.clone())),
                }))
            }
            SourceLocation::Unresolved(why) => Err(StepError::Unresolved(why.clone())),
        }
    }
    fn execute(&self, _: &DepValues<'_>, _: &ExecContext<'_>) -> Result<ActionResult, StepError> {
        Err(StepError::Failed(
            "internal: sources is a source step".into(),
        ))
    }
}

/// A kernel action step (`kconfig`, `compile` or `embed`) of one target.
pub struct KernelStep {
    /// The step id (`<target>/<kind>`).
    pub id: String,
    /// `kconfig`, `compile` or `embed`.
    pub kind: &'static str,
    /// Upstream steps; each becomes a named input.
    pub deps: Vec<String>,
    /// Parameters of the action (for `kconfig`: the merged options).
    pub params: KconfigValues,
}

impl Step for KernelStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        self.kind
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        let mut a = Action::new(self.kind, RULE_VERSION);
        for d in &self.deps {
            a = a.input(d, deps.digest(d)?);
        }
        for (k, v) in &self.params {
            a = a.param(k, v.clone());
        }
        Ok(Prepared::Action(a))
    }
    fn execute(&self, _: &DepValues<'_>, _: &ExecContext<'_>) -> Result<ActionResult, StepError> {
        Err(not_yet(self.kind))
    }
}
