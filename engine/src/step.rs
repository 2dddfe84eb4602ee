//! The interface between the engine and a domain: [`Step`].
//!
//! A step is a node of the build graph. Given the values of its dependencies it either
//! produces a *source value* right away (a digest of something outside the cache, such as a
//! directory tree hashed through the stat cache; never cached, always re-evaluated cheaply),
//! or describes an [`Action`] whose result the engine looks up in the store and runs only on
//! a miss. Steps never see the store's lookup logic, the state files or the scheduler.

use std::any::Any;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::action::Action;
use crate::digest::{ActionKey, Digest};
use crate::report::{Event, EventSink, StepProgress};
use crate::store::{ActionResult, Store, StoreError};
use crate::tree::Tree;

/// Evidence, taken when a source was hashed, that lets the engine check after an action has
/// read the source that it did not change meanwhile. What an action stores must be what was
/// hashed: otherwise an edit during a build would be cached under the old content's key.
pub trait SourceWitness: Send + Sync {
    /// `Ok` if nothing under the source changed since it was hashed; otherwise a message
    /// naming what changed.
    fn check_unchanged(&self) -> Result<(), String>;
}

/// A value computed directly by a step (not cached).
#[derive(Clone)]
pub struct SourceValue {
    /// What downstream actions take as the input digest.
    pub digest: Digest,
    /// The tree behind the digest, when there is one; explain diffs it against the last one.
    pub tree: Option<Arc<Tree>>,
    /// Anything else downstream steps of the same domain need (downcast with [`DepValues::data`]).
    pub data: Option<Arc<dyn Any + Send + Sync>>,
    /// The digest was vouched for by a change watcher, without reading the source.
    pub vouched: bool,
    /// How to check, after an action read the source, that it did not change meanwhile;
    /// `None` for sources that cannot change (immutable checkouts, bytes held in memory).
    pub witness: Option<Arc<dyn SourceWitness>>,
    /// What a user should know about the source, shown with the reason (`--explain`): e.g.
    /// the device files an image has and the rootfs leaves out.
    pub note: Option<String>,
}

impl SourceValue {
    /// A value that is only a digest.
    pub fn digest(digest: Digest) -> Self {
        SourceValue {
            digest,
            tree: None,
            data: None,
            vouched: false,
            witness: None,
            note: None,
        }
    }
}

/// The value a finished step hands to its dependents.
#[derive(Clone)]
pub enum Value {
    /// From [`Prepared::Source`].
    Source(SourceValue),
    /// From an action, run or cached.
    Action {
        /// The action's key.
        key: ActionKey,
        /// Its outputs.
        result: ActionResult,
    },
}

impl Value {
    /// The digest dependents take as input: the source digest, or the digest of the outputs
    /// (which is what makes early cutoff work).
    pub fn digest(&self) -> Digest {
        match self {
            Value::Source(s) => s.digest,
            Value::Action { result, .. } => result.outputs_digest(),
        }
    }
}

/// What [`Step::prepare`] decided.
pub enum Prepared {
    /// A value computed now; there is nothing to cache.
    Source(SourceValue),
    /// An action to look up and, on a miss, execute.
    Action(Action),
}

/// The values of a step's dependencies, by step id.
pub struct DepValues<'a> {
    pub(crate) values: HashMap<&'a str, Arc<Value>>,
}

impl DepValues<'_> {
    /// The value of dependency `id`.
    pub fn get(&self, id: &str) -> Result<&Value, StepError> {
        self.values
            .get(id)
            .map(|v| v.as_ref())
            .ok_or_else(|| StepError::Failed(format!("internal: `{id}` is not a dependency")))
    }

    /// The input digest of dependency `id`.
    pub fn digest(&self, id: &str) -> Result<Digest, StepError> {
        self.get(id).map(Value::digest)
    }

    /// The domain data attached to a source dependency.
    pub fn data<T: Any + Send + Sync>(&self, id: &str) -> Result<&T, StepError> {
        match self.get(id)? {
            Value::Source(SourceValue { data: Some(d), .. }) => d
                .downcast_ref::<T>()
                .ok_or_else(|| StepError::Failed(format!("internal: `{id}` has other data"))),
            _ => Err(StepError::Failed(format!("internal: `{id}` has no data"))),
        }
    }

    /// The action result of dependency `id`.
    pub fn result(&self, id: &str) -> Result<&ActionResult, StepError> {
        match self.get(id)? {
            Value::Action { result, .. } => Ok(result),
            Value::Source(_) => Err(StepError::Failed(format!(
                "internal: `{id}` is not an action"
            ))),
        }
    }
}

/// What a step may use while executing.
pub struct ExecContext<'a> {
    /// Where outputs go.
    pub store: &'a dyn Store,
    /// The job budget of the whole build.
    pub jobs: usize,
    /// Where the step tells how far it has got.
    pub events: StepEvents<'a>,
}

/// A running step's channel to the live display and the trace: its progress, its tools'
/// output lines, and the spans of its work. Cheap to copy; safe to use from the step's own
/// helper threads.
#[derive(Clone, Copy)]
pub struct StepEvents<'a> {
    sink: &'a dyn EventSink,
    id: &'a str,
}

impl<'a> StepEvents<'a> {
    /// Events of step `id` into `sink`.
    pub fn new(sink: &'a dyn EventSink, id: &'a str) -> Self {
        StepEvents { sink, id }
    }

    /// Events that go nowhere (tests, tools run outside a build).
    pub fn none() -> StepEvents<'static> {
        StepEvents {
            sink: &crate::report::NoEvents,
            id: "",
        }
    }

    /// The step's id.
    pub fn id(&self) -> &str {
        self.id
    }

    /// How far the step has got.
    pub fn progress(&self, progress: &StepProgress) {
        self.sink.event(Event::Progress {
            id: self.id,
            progress,
        });
    }

    /// One line of a tool's output.
    pub fn output(&self, line: &str) {
        self.sink.event(Event::Output { id: self.id, line });
    }

    /// A finished part of the step's work.
    pub fn span(&self, name: &str, start: Instant, end: Instant, detail: Option<&str>) {
        self.sink.event(Event::Span {
            id: self.id,
            name,
            start,
            end,
            detail,
        });
    }
}

/// An output to copy into the user's tree after the step succeeds (or is found cached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Materialize {
    /// The output's name in the [`ActionResult`].
    pub output: String,
    /// Where it goes.
    pub dest: PathBuf,
}

/// A step's own failure (as opposed to an engine error such as a cycle).
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// An input cannot be resolved now (missing tool, network needed under --offline, a
    /// feature not built yet). A plan shows it; a build fails on it.
    #[error("unresolved: {0}")]
    Unresolved(String),
    /// The step ran and failed; the message says why and what to do.
    #[error("{0}")]
    Failed(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A node of the build graph.
pub trait Step: Send + Sync {
    /// Unique id within the graph, e.g. `qemu-x86_64/initrd`.
    fn id(&self) -> &str;
    /// The kind shown to users (`rootfs`, `initrd`, `compile`, ...).
    fn kind(&self) -> &str;
    /// Ids of the steps whose values this one needs.
    fn deps(&self) -> &[String];
    /// Computes a source value or describes the action. Must be cheap and deterministic.
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError>;
    /// Runs the action described by `prepare` (only called on a cache miss, in a build).
    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError>;
    /// Outputs to copy into the user's tree. None by default.
    fn materialize(&self) -> Vec<Materialize> {
        Vec::new()
    }
    /// Whether the action must run even when its result is cached or up to date (a refresh
    /// the user asked for: it looks at the world again). False by default.
    fn always_runs(&self) -> bool {
        false
    }
    /// Whether what a result stands for outside the store is still there (a step whose
    /// outputs are an immutable directory beside the store, named in its result). A result
    /// whose outputs are gone is run again rather than taken. True by default.
    fn outputs_present(&self, _result: &ActionResult) -> bool {
        true
    }
    /// Whether `execute` itself checks every byte it reads from its source dependencies
    /// against their digests (as the initrd writer does), so that the engine need not check
    /// their [`SourceWitness`]es afterwards. False by default.
    fn verifies_its_sources(&self) -> bool {
        false
    }
    /// Whether a result may be taken from, and given to, a remote cache. False for steps
    /// whose result stands for something outside the store (see [`Step::outputs_present`])
    /// that a remote entry cannot bring. True by default.
    fn remote_cacheable(&self) -> bool {
        true
    }
    /// The result as a remote cache is to hold it: a step whose result stands for files
    /// outside the store (see [`Step::outputs_present`]) puts them into `store` and names
    /// them as outputs, so that [`Step::adopt_remote`] can rebuild them on another machine.
    /// The result itself by default.
    fn remote_result(
        &self,
        result: &ActionResult,
        _store: &dyn Store,
    ) -> Result<ActionResult, StepError> {
        Ok(result.clone())
    }
    /// Makes a result the remote cache gave (its blobs already in `store`) usable on this
    /// machine: a step whose result stands for something beside the store (downloads in a
    /// machine-wide cache) brings that here now. `Ok(false)` turns the hit into a miss (the
    /// step runs). It may turn `result` into the form recorded here (a step's dependents'
    /// keys take its local result's digest, which must be the same on every machine). True
    /// by default.
    fn adopt_remote(
        &self,
        _result: &mut ActionResult,
        _store: &dyn Store,
    ) -> Result<bool, StepError> {
        Ok(true)
    }
}
