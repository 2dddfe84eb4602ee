//! What a run reports: one [`StepReport`] per step, and the [`Event`]s a CLI renders live.

use std::time::{Duration, Instant};

use crate::digest::{ActionKey, BlobDigest, Digest};
use crate::explain::Reason;
use crate::remote::RemoteOutcome;
use crate::store::ActionResult;

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepStatus {
    /// A source value was computed (hashed through the stat cache).
    Source,
    /// Same key as the last build; nothing was read from the cache.
    UpToDate,
    /// The result was taken from the store.
    Cached,
    /// The action ran (build), and its result was stored.
    Ran,
    /// Plan only: the action is not cached and a build would run it.
    WouldRun,
    /// Plan only: the key depends on the output of a step that has not run yet.
    Pending,
    /// An input cannot be resolved now; the message says why.
    Unresolved(String),
    /// The step failed; the message says why and what to do.
    Failed(String),
    /// Not evaluated because a dependency failed or was unresolved.
    Skipped,
}

impl StepStatus {
    /// A short lower-case word for tables and JSON.
    pub fn word(&self) -> &'static str {
        match self {
            StepStatus::Source => "hashed",
            StepStatus::UpToDate => "up-to-date",
            StepStatus::Cached => "cached",
            StepStatus::Ran => "ran",
            StepStatus::WouldRun => "not-cached",
            StepStatus::Pending => "pending",
            StepStatus::Unresolved(_) => "unresolved",
            StepStatus::Failed(_) => "failed",
            StepStatus::Skipped => "skipped",
        }
    }

    /// Whether this status fails a build.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            StepStatus::Failed(_) | StepStatus::Unresolved(_) | StepStatus::Skipped
        )
    }

    /// Whether the result is (now) in the local cache or the tree is current.
    pub fn is_cached(&self) -> bool {
        matches!(
            self,
            StepStatus::UpToDate | StepStatus::Cached | StepStatus::Ran
        )
    }
}

/// The outcome of one step.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The step's id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Ids of its dependencies.
    pub deps: Vec<String>,
    /// The action key, when the step is an action whose inputs are all known.
    pub key: Option<ActionKey>,
    /// The source digest, for source steps.
    pub source_digest: Option<Digest>,
    /// How it ended.
    pub status: StepStatus,
    /// Why.
    pub reason: Reason,
    /// Wall time spent on this step.
    pub duration: Duration,
    /// What the remote cache did for it, when it was asked.
    pub remote: Option<RemoteOutcome>,
    /// The action's result (run, cached or up to date), for callers that compare outputs
    /// (`--check`).
    pub result: Option<ActionResult>,
}

impl StepReport {
    /// A report for step `id` that has not been evaluated (yet).
    pub fn new(id: &str, kind: &str, deps: &[String]) -> Self {
        StepReport {
            id: id.to_string(),
            kind: kind.to_string(),
            deps: deps.to_vec(),
            key: None,
            source_digest: None,
            status: StepStatus::Skipped,
            reason: Reason::NotEvaluated(String::new()),
            duration: Duration::ZERO,
            remote: None,
            result: None,
        }
    }
}

/// How far a running step has got, as the step itself tells (see
/// [`crate::step::StepEvents::progress`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepProgress {
    /// What the step is doing now (`compile`, `link`, a URL), if it says.
    pub phase: Option<String>,
    /// Units done.
    pub done: u64,
    /// Units expected in all, when known.
    pub total: Option<u64>,
    /// `total` is a guess made before the work began (not a count from an earlier run).
    pub estimated: bool,
    /// What is counted.
    pub unit: ProgressUnit,
}

/// What a [`StepProgress`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressUnit {
    /// Bytes (shown with a rate).
    Bytes,
    /// Things, named in the plural (`objects`).
    Items(&'static str),
}

/// A live event for progress display.
#[derive(Debug)]
pub enum Event<'a> {
    /// A step began evaluating.
    Started {
        /// The step's id.
        id: &'a str,
        /// Its kind.
        kind: &'a str,
        /// The worker evaluating it (0-based; a lane of a trace).
        worker: usize,
    },
    /// An action missed the cache and is about to execute (after its inputs were prepared).
    Executing {
        /// The step's id.
        id: &'a str,
    },
    /// A step ended.
    Finished(&'a StepReport),
    /// A running step says how far it has got.
    Progress {
        /// The step's id.
        id: &'a str,
        /// How far.
        progress: &'a StepProgress,
    },
    /// A line of output of a tool the step runs (shown with `-v`).
    Output {
        /// The step's id.
        id: &'a str,
        /// The line, without its newline.
        line: &'a str,
    },
    /// A part of a step's work that has ended (a tool's phase, a remote-cache call), for
    /// traces.
    Span {
        /// The step's id.
        id: &'a str,
        /// What it was (`compile`, `link`, `remote lookup`).
        name: &'a str,
        /// When it began.
        start: Instant,
        /// When it ended.
        end: Instant,
        /// A detail worth showing with it (the outcome).
        detail: Option<&'a str>,
    },
    /// The store found a damaged blob and removed it; the steps that produced it are
    /// forgotten and the graph runs once more.
    Damaged {
        /// The blob.
        digest: BlobDigest,
    },
    /// A step needed a blob that a result taken as up to date names, and the store no longer
    /// has it (cleaned or evicted); the steps that made it run again.
    Missing {
        /// The blob.
        digest: BlobDigest,
    },
    /// Something about the remote cache the user should know, given once per problem (it is
    /// unavailable, refused the credentials, or gave an entry that is not used).
    Remote {
        /// What happened and what kiln does about it.
        message: &'a str,
    },
}

/// Receives events from worker threads.
pub trait EventSink: Sync {
    /// Called for each event, from any thread.
    fn event(&self, event: Event<'_>);
}

/// An event sink that drops everything.
pub struct NoEvents;

impl EventSink for NoEvents {
    fn event(&self, _: Event<'_>) {}
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// One report per step, in topological order.
    pub steps: Vec<StepReport>,
}

impl RunReport {
    /// Whether every step succeeded (for a build) or was evaluable (for a plan).
    pub fn succeeded(&self) -> bool {
        !self.steps.iter().any(|s| s.status.is_failure())
    }
}
