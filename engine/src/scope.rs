//! Merging graphs: the steps of several independent graphs (one per project of a monorepo)
//! in one graph, each id prefixed with its graph's scope so that ids stay unique.
//!
//! A [`Scoped`] step is the step of one graph seen from the merged one: its id and its
//! dependencies carry the prefix, and the step itself still sees its own ids (the prefix is
//! stripped from its dependencies' values before it is asked anything). State is kept per
//! scope too ([`crate::state::StateDir::scoped`]). Steps of two scopes whose actions have the
//! same key run once: the scheduler lets one run and the other wait for its result
//! (see `run.rs`).

use std::sync::Arc;

use crate::step::{DepValues, ExecContext, Materialize, Prepared, Step, StepError};
use crate::store::{ActionResult, Store};

/// A step of one graph inside a merged graph.
pub struct Scoped {
    prefix: String,
    id: String,
    deps: Vec<String>,
    inner: Arc<dyn Step>,
}

impl Scoped {
    /// `steps` with their ids and dependencies prefixed with `prefix` (which should end in a
    /// separator no id starts with, e.g. `apps/web:`).
    pub fn wrap(prefix: &str, steps: &[Arc<dyn Step>]) -> Vec<Arc<dyn Step>> {
        steps
            .iter()
            .map(|s| {
                Arc::new(Scoped {
                    prefix: prefix.to_string(),
                    id: format!("{prefix}{}", s.id()),
                    deps: s.deps().iter().map(|d| format!("{prefix}{d}")).collect(),
                    inner: s.clone(),
                }) as Arc<dyn Step>
            })
            .collect()
    }

    /// The dependencies' values under the ids the inner step knows.
    fn unscoped<'a>(&self, deps: &DepValues<'a>) -> DepValues<'a> {
        let values = deps
            .values
            .iter()
            .map(|(id, v)| {
                (
                    id.strip_prefix(self.prefix.as_str()).unwrap_or(id),
                    v.clone(),
                )
            })
            .collect();
        DepValues { values }
    }
}

impl Step for Scoped {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        self.inner.kind()
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        self.inner.prepare(&self.unscoped(deps))
    }
    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError> {
        // The step's events keep the merged graph's id (they are shown and traced by it).
        self.inner.execute(&self.unscoped(deps), ctx)
    }
    fn materialize(&self) -> Vec<Materialize> {
        self.inner.materialize()
    }
    fn always_runs(&self) -> bool {
        self.inner.always_runs()
    }
    fn outputs_present(&self, result: &ActionResult) -> bool {
        self.inner.outputs_present(result)
    }
    fn verifies_its_sources(&self) -> bool {
        self.inner.verifies_its_sources()
    }
    fn remote_cacheable(&self) -> bool {
        self.inner.remote_cacheable()
    }
    fn remote_result(
        &self,
        result: &ActionResult,
        store: &dyn Store,
    ) -> Result<ActionResult, StepError> {
        self.inner.remote_result(result, store)
    }
    fn adopt_remote(
        &self,
        result: &mut ActionResult,
        store: &dyn Store,
    ) -> Result<bool, StepError> {
        self.inner.adopt_remote(result, store)
    }
}
