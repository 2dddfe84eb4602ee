//! Running a graph: the parallel scheduler and the per-step decision.
//!
//! Workers (at most `jobs`) take ready steps; a step is ready when all its dependencies have
//! finished. For each step the decision is, in order (each branch records its [`Reason`]):
//! 1. a dependency failed, is unresolved, or (plan) pending -> the step is not evaluated;
//! 2. `prepare` -> a source value (hashed now), or an action and its key;
//! 3. key equals the last build's and the materialized outputs are intact -> up to date,
//!    without touching the store;
//! 4. the store has the key -> cached (materialize);
//! 5. plan -> would run; build -> execute, record, materialize.
//!
//! Early cutoff needs no code: a dependent's key is made of its dependencies' output
//! digests, so a re-run that produced identical bytes leaves it unchanged.
//!
//! Two checks keep wrong bytes out of the cache. After an action ran, and before its result
//! is recorded, every source it depends on is checked against the evidence its scan left
//! (a [`crate::step::SourceWitness`]): a source edited during the action fails the step, and
//! nothing is recorded. And the store verifies every blob it copies out, for a dependent or
//! for the user: a damaged blob is deleted and reported as [`StoreError::Damaged`]; the run
//! then forgets the steps that produced it and runs the graph once more, so they are rebuilt
//! instead of the damage spreading into results that would be hashed as correct.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::digest::BlobDigest;
use crate::explain::{Reason, action_changes, tree_changes};
use crate::graph::Graph;
use crate::remote::RemoteSettings;
use crate::report::{Event, EventSink, RunReport, StepReport, StepStatus};
use crate::state::{MaterializedFile, StateDir, StepState};
use crate::step::{
    DepValues, ExecContext, Prepared, SourceValue, Step, StepError, StepEvents, Value,
};
use crate::store::{ActionResult, Store, StoreError};

/// Whether to execute actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Resolve keys and look up the cache; run nothing, write nothing.
    Plan,
    /// Run what is not cached and materialize outputs.
    Build,
}

/// Everything a run needs besides the graph.
pub struct RunConfig<'a> {
    /// Plan or build.
    pub mode: Mode,
    /// Maximum steps evaluated at once (at least 1).
    pub jobs: usize,
    /// The store.
    pub store: &'a dyn Store,
    /// The project's state directory.
    pub state: &'a StateDir,
    /// Where live events go.
    pub events: &'a dyn EventSink,
    /// The remote cache behind the store, if any (see [`crate::remote`]).
    pub remote: Option<&'a RemoteSettings<'a>>,
    /// Build: after a step fails, go on with every step that does not depend on it (as
    /// `make -k`). Otherwise no new step starts after the first failure; the steps running
    /// then finish. Unresolved steps never stop a run (every unresolved input is named at
    /// once). Plans always evaluate everything.
    pub keep_going: bool,
}

struct Outcome {
    report: StepReport,
    value: Option<Arc<Value>>,
    /// A blob the store found damaged (true) or missing (false) while this step read it.
    damaged: Option<(BlobDigest, bool)>,
}

struct Sched {
    waiting_on: Vec<usize>,
    ready: VecDeque<usize>,
    outcomes: Vec<Option<Outcome>>,
    finished: usize,
    /// The first step that failed, once the run stops starting steps (no `keep_going`).
    stopped_by: Option<String>,
}

/// Runs `graph`. Step failures are reported in the result, never as `Err`.
///
/// A build in which the store found a damaged blob is run once more, after forgetting the
/// state of every step whose last result named that blob (the store has deleted it, so those
/// steps are rebuilt rather than taken as up to date).
pub fn run(graph: &Graph, cfg: &RunConfig<'_>) -> RunReport {
    let (report, lost) = run_once(graph, cfg);
    if cfg.mode != Mode::Build || lost.is_empty() {
        return report;
    }
    for (digest, was_damaged) in &lost {
        cfg.events.event(match was_damaged {
            true => Event::Damaged { digest: *digest },
            false => Event::Missing { digest: *digest },
        });
    }
    let damaged: Vec<BlobDigest> = lost.iter().map(|(d, _)| *d).collect();
    forget_producers(graph, cfg, &damaged);
    if lost.iter().any(|(_, was_damaged)| !was_damaged) {
        // A missing blob means the cache lost entries (cleaned, evicted): every result the
        // state takes as up to date but the cache no longer records is rebuilt, in this one
        // rerun rather than one blob at a time.
        forget_unrecorded(graph, cfg);
    }
    run_once(graph, cfg).0
}

/// Clears the state of every step whose last result names one of `damaged`.
fn forget_producers(graph: &Graph, cfg: &RunConfig<'_>, damaged: &[BlobDigest]) {
    for step in &graph.steps {
        let prev = cfg.state.load(step.id());
        let names_damaged = prev
            .result
            .as_ref()
            .is_some_and(|r| r.outputs.values().any(|o| damaged.contains(&o.digest)));
        if names_damaged {
            let _ = cfg.state.save(step.id(), &prev, &StepState::default());
        }
    }
}

/// Clears the state of every action step whose last key the store no longer records.
fn forget_unrecorded(graph: &Graph, cfg: &RunConfig<'_>) {
    for step in &graph.steps {
        let prev = cfg.state.load(step.id());
        if let Some(key) = prev.key
            && prev.result.is_some()
            && !cfg.store.contains(&key).unwrap_or(false)
        {
            let _ = cfg.state.save(step.id(), &prev, &StepState::default());
        }
    }
}

fn run_once(graph: &Graph, cfg: &RunConfig<'_>) -> (RunReport, Vec<(BlobDigest, bool)>) {
    let n = graph.steps.len();
    let waiting_on: Vec<usize> = graph.deps.iter().map(Vec::len).collect();
    let ready = graph
        .order
        .iter()
        .copied()
        .filter(|&i| waiting_on[i] == 0)
        .collect();
    let sched = Mutex::new(Sched {
        waiting_on,
        ready,
        outcomes: (0..n).map(|_| None).collect(),
        finished: 0,
        stopped_by: None,
    });
    let wake = Condvar::new();
    let inflight = InFlight::default();
    let ctx = RunCtx {
        graph,
        cfg,
        inflight: &inflight,
    };
    std::thread::scope(|s| {
        for lane in 0..cfg.jobs.clamp(1, n.max(1)) {
            let (ctx, sched, wake) = (&ctx, &sched, &wake);
            s.spawn(move || worker(ctx, lane, sched, wake));
        }
    });
    let mut sched = sched.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut damaged = Vec::new();
    let mut steps = Vec::with_capacity(n);
    for &i in &graph.order {
        if let Some(o) = sched.outcomes[i].take() {
            damaged.extend(o.damaged);
            steps.push(o.report);
        }
    }
    damaged.sort();
    damaged.dedup();
    (RunReport { steps }, damaged)
}

/// What every worker of one run shares besides the scheduler.
struct RunCtx<'r> {
    graph: &'r Graph,
    cfg: &'r RunConfig<'r>,
    inflight: &'r InFlight,
}

fn worker(ctx: &RunCtx<'_>, lane: usize, sched: &Mutex<Sched>, wake: &Condvar) {
    let (graph, cfg) = (ctx.graph, ctx.cfg);
    let n = graph.steps.len();
    loop {
        let (i, deps, stopped_by) = {
            let Ok(mut s) = sched.lock() else { return };
            loop {
                if s.finished == n {
                    return;
                }
                if let Some(i) = s.ready.pop_front() {
                    let deps: Vec<(usize, DepOutcome)> = graph.deps[i]
                        .iter()
                        .map(|&d| (d, dep_outcome(s.outcomes[d].as_ref())))
                        .collect();
                    break (i, deps, s.stopped_by.clone());
                }
                s = match wake.wait(s) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            }
        };
        // A panic in a step (a bug) fails that step; it must not leave the others waiting on
        // a step that never finishes.
        let outcome = match stopped_by {
            Some(failed) => not_started(graph, i, &failed, cfg),
            None => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                evaluate(ctx, lane, i, &deps)
            }))
            .unwrap_or_else(|payload| panicked(graph, i, payload.as_ref())),
        };
        let Ok(mut s) = sched.lock() else { return };
        // Only a step that failed stops the run: unresolved inputs are cheap to find, and
        // a build names all of them at once.
        let failed = matches!(outcome.report.status, StepStatus::Failed(_));
        if failed && cfg.mode == Mode::Build && !cfg.keep_going && s.stopped_by.is_none() {
            s.stopped_by = Some(outcome.report.id.clone());
        }
        s.outcomes[i] = Some(outcome);
        s.finished += 1;
        for &d in &graph.dependents[i] {
            s.waiting_on[d] -= 1;
            if s.waiting_on[d] == 0 {
                s.ready.push_back(d);
            }
        }
        wake.notify_all();
    }
}

/// The outcome of a step the run did not start because an earlier step failed.
fn not_started(graph: &Graph, i: usize, failed: &str, cfg: &RunConfig<'_>) -> Outcome {
    let step = &graph.steps[i];
    let mut report = StepReport::new(step.id(), step.kind(), step.deps());
    report.reason = Reason::NotEvaluated(format!(
        "not started: the build stopped after `{failed}` failed (--keep-going builds \
         everything that does not depend on it)"
    ));
    cfg.events.event(Event::Finished(&report));
    Outcome {
        report,
        value: None,
        damaged: None,
    }
}

fn evaluate(ctx: &RunCtx<'_>, lane: usize, i: usize, deps: &[(usize, DepOutcome)]) -> Outcome {
    let (graph, cfg) = (ctx.graph, ctx.cfg);
    let step = &graph.steps[i];
    cfg.events.event(Event::Started {
        id: step.id(),
        kind: step.kind(),
        worker: lane,
    });
    let start = Instant::now();
    let mut report = StepReport::new(step.id(), step.kind(), step.deps());
    let mut damaged = None;
    let value = match collect_deps(graph, deps, cfg.mode) {
        Ok(values) => decide(ctx, step.as_ref(), &values, &mut report, &mut damaged),
        Err((status, why)) => {
            report.status = status;
            report.reason = Reason::NotEvaluated(why);
            None
        }
    };
    report.duration = start.elapsed();
    cfg.events.event(Event::Finished(&report));
    Outcome {
        report,
        value,
        damaged,
    }
}

/// The outcome of a step whose evaluation panicked.
fn panicked(graph: &Graph, i: usize, payload: &(dyn std::any::Any + Send)) -> Outcome {
    let step = &graph.steps[i];
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into());
    let status = StepStatus::Failed(format!(
        "internal error: kiln panicked while evaluating this step ({what}); please report it"
    ));
    let mut report = StepReport::new(step.id(), step.kind(), step.deps());
    report.reason = Reason::NotEvaluated(status.word().to_string());
    report.status = status;
    Outcome {
        report,
        value: None,
        damaged: None,
    }
}

/// The dependencies' values, or why the step cannot be evaluated.
fn collect_deps<'g>(
    graph: &'g Graph,
    deps: &[(usize, DepOutcome)],
    mode: Mode,
) -> Result<DepValues<'g>, (StepStatus, String)> {
    let mut values = HashMap::new();
    for (d, outcome) in deps {
        let id = graph.steps[*d].id();
        let blocked = |why: String| match mode {
            Mode::Plan => Err((StepStatus::Pending, why)),
            Mode::Build => Err((StepStatus::Skipped, format!("`{id}` did not succeed"))),
        };
        match outcome {
            Ok(v) => {
                values.insert(id, v.clone());
            }
            Err(StepStatus::WouldRun) => {
                return blocked(format!(
                    "waits for the output of `{id}`, which is not built yet"
                ));
            }
            Err(StepStatus::Unresolved(_)) => {
                return blocked(format!("blocked: `{id}` is unresolved"));
            }
            Err(StepStatus::Pending) => return blocked(format!("waits for `{id}`")),
            Err(_) => return Err((StepStatus::Skipped, format!("`{id}` did not succeed"))),
        }
    }
    Ok(DepValues { values })
}

/// A finished dependency: its value, or the status it ended with.
type DepOutcome = Result<Arc<Value>, StepStatus>;

fn dep_outcome(o: Option<&Outcome>) -> DepOutcome {
    match o {
        Some(Outcome { value: Some(v), .. }) => Ok(v.clone()),
        Some(o) => Err(o.report.status.clone()),
        None => Err(StepStatus::Skipped),
    }
}

fn decide(
    ctx: &RunCtx<'_>,
    step: &dyn Step,
    deps: &DepValues<'_>,
    report: &mut StepReport,
    damaged: &mut Option<(BlobDigest, bool)>,
) -> Option<Arc<Value>> {
    let cfg = ctx.cfg;
    let prev = cfg.state.load(step.id());
    match step.prepare(deps) {
        Err(e) => {
            fail(report, e);
            None
        }
        Ok(Prepared::Source(sv)) => Some(Arc::new(source(step, sv, &prev, cfg, report))),
        Ok(Prepared::Action(action)) => {
            let key = action.key();
            report.key = Some(key);
            match action_step(ctx, step, deps, &action, &prev, report) {
                Ok(Some(result)) => {
                    report.result = Some(result.clone());
                    Some(Arc::new(Value::Action { key, result }))
                }
                Ok(None) => None,
                Err(e) => {
                    match &e {
                        StepError::Store(StoreError::Damaged { digest, .. }) => {
                            *damaged = Some((*digest, true));
                        }
                        // A result taken as up to date names a blob the cache no longer
                        // has (cleaned, or evicted): its producers are rebuilt.
                        StepError::Store(StoreError::MissingBlob(digest)) => {
                            *damaged = Some((*digest, false));
                        }
                        _ => {}
                    }
                    fail(report, e);
                    None
                }
            }
        }
    }
}

fn fail(report: &mut StepReport, e: StepError) {
    report.status = match e {
        StepError::Unresolved(why) => StepStatus::Unresolved(why),
        other => StepStatus::Failed(other.to_string()),
    };
    report.reason = Reason::NotEvaluated(report.status.word().to_string());
}

fn source(
    step: &dyn Step,
    sv: SourceValue,
    prev: &StepState,
    cfg: &RunConfig<'_>,
    report: &mut StepReport,
) -> Value {
    report.status = StepStatus::Source;
    report.source_digest = Some(sv.digest);
    let changes = match (&prev.source_digest, &sv.tree) {
        (Some(old), _) if *old == sv.digest => Vec::new(),
        (Some(old), Some(tree)) => {
            tree_changes(cfg.state.load_tree(step.id(), old).as_ref(), old, tree)
        }
        (Some(old), None) => vec![format!("digest changed from {}", &old.to_hex()[..12])],
        (None, _) => Vec::new(),
    };
    report.reason = Reason::Source {
        changes,
        first: prev.source_digest.is_none(),
        vouched: sv.vouched,
        note: sv.note.clone(),
    };
    if cfg.mode == Mode::Build && prev.source_digest != Some(sv.digest) {
        if let Some(tree) = &sv.tree {
            let _ = cfg
                .state
                .save_tree(step.id(), tree, prev.source_digest.as_ref());
        }
        let new = StepState {
            source_digest: Some(sv.digest),
            ..StepState::default()
        };
        let _ = cfg.state.save(step.id(), prev, &new);
    }
    Value::Source(sv)
}

/// The decision for an action step: its result, `None` for a plan's "not cached" (recorded
/// in `report`), or the step's failure (not yet in `report`).
fn action_step(
    ctx: &RunCtx<'_>,
    step: &dyn Step,
    deps: &DepValues<'_>,
    action: &crate::action::Action,
    prev: &StepState,
    report: &mut StepReport,
) -> Result<Option<ActionResult>, StepError> {
    let cfg = ctx.cfg;
    let key = action.key();
    let changes = match &prev.action {
        Some(old) => action_changes(old, action),
        None => Vec::new(),
    };
    // 3. Up to date: same key, outputs intact. The store is not consulted.
    let forced = step.always_runs() && cfg.mode == Mode::Build;
    if let (Some(result), true) = (&prev.result, prev.key == Some(key) && !forced)
        && outputs_intact(step, result, prev)
        && step.outputs_present(result)
    {
        report.status = StepStatus::UpToDate;
        report.reason = Reason::UpToDate;
        return Ok(Some(result.clone()));
    }
    // Another step with this key (of another project of a merged graph) may be running it:
    // wait for it, then take its result from the store below.
    let _claim = (cfg.mode == Mode::Build).then(|| ctx.inflight.claim(key));
    // 4. Cached.
    let found = match cfg.mode {
        Mode::Plan => match cfg.store.contains(&key)? {
            true => cfg.store.lookup(&key)?,
            false => None,
        },
        Mode::Build if forced => None,
        Mode::Build => cfg.store.lookup(&key)?,
    }
    .filter(|r| step.outputs_present(r));
    let remote = cfg.remote.filter(|_| !forced && step.remote_cacheable());
    let (result, status, reason) = match (found, cfg.mode) {
        (Some(r), _) => (r, StepStatus::Cached, Reason::FoundInCache { changes }),
        (None, Mode::Plan) => {
            report.status = StepStatus::WouldRun;
            report.reason = Reason::NotCached {
                first_build: prev.action.is_none(),
                changes,
            };
            return Ok(None);
        }
        (None, Mode::Build) => {
            let hit = match remote {
                Some(rs) => {
                    let start = Instant::now();
                    let hit = remote_lookup(rs, step, deps, action, key, cfg, report);
                    let detail = report.remote.as_ref().map(|o| o.describe());
                    let span = StepEvents::new(cfg.events, step.id());
                    span.span("remote lookup", start, Instant::now(), detail.as_deref());
                    hit?
                }
                None => None,
            };
            match hit {
                Some(r) => (r, StepStatus::Cached, Reason::FoundInCache { changes }),
                None => {
                    let result = execute(step, deps, key, cfg)?;
                    if let Some(rs) = remote.filter(|rs| rs.upload && !rs.is_down()) {
                        let start = Instant::now();
                        let shared = step.remote_result(&result, cfg.store)?;
                        let out = &mut report.remote;
                        let up = crate::remote::upload(
                            rs, action, &key, &shared, cfg.store, cfg.events, out,
                        );
                        let detail = report.remote.as_ref().map(|o| o.describe());
                        let span = StepEvents::new(cfg.events, step.id());
                        span.span("remote upload", start, Instant::now(), detail.as_deref());
                        up?;
                    }
                    let reason = Reason::NotCached {
                        first_build: prev.action.is_none(),
                        changes,
                    };
                    (result, StepStatus::Ran, reason)
                }
            }
        }
    };
    report.reason = reason;
    if cfg.mode == Mode::Build {
        finish_build(step, action, &result, prev, cfg)?;
    }
    report.status = status;
    Ok(Some(result))
}

/// A remote hit (recorded in the local store, with the inputs it was built from), or `None`.
fn remote_lookup(
    rs: &RemoteSettings<'_>,
    step: &dyn Step,
    deps: &DepValues<'_>,
    action: &crate::action::Action,
    key: crate::digest::ActionKey,
    cfg: &RunConfig<'_>,
    report: &mut StepReport,
) -> Result<Option<ActionResult>, StepError> {
    let hit = crate::remote::lookup(rs, action, &key, cfg.store, cfg.events, &mut report.remote)?;
    let Some(mut result) = hit else {
        return Ok(None);
    };
    // Adopting first: it may make what `outputs_present` looks for (a Dockerfile state).
    if !step.adopt_remote(&mut result, cfg.store)? || !step.outputs_present(&result) {
        return Ok(None);
    }
    result.inputs = input_blobs(deps);
    cfg.store.record(&key, &result)?;
    Ok(Some(result))
}

fn execute(
    step: &dyn Step,
    deps: &DepValues<'_>,
    key: crate::digest::ActionKey,
    cfg: &RunConfig<'_>,
) -> Result<ActionResult, StepError> {
    let ctx = ExecContext {
        store: cfg.store,
        jobs: cfg.jobs,
        events: StepEvents::new(cfg.events, step.id()),
    };
    cfg.events.event(Event::Executing { id: step.id() });
    let mut result = step.execute(deps, &ctx)?;
    if !step.verifies_its_sources() {
        check_sources_unchanged(deps)?;
    }
    result.inputs = input_blobs(deps);
    cfg.store.record(&key, &result)?;
    Ok(result)
}

/// Fails if a source the action depends on changed since it was hashed (in sorted order of
/// dependency ids, so the message is the same every time).
fn check_sources_unchanged(deps: &DepValues<'_>) -> Result<(), StepError> {
    let mut ids: Vec<&&str> = deps.values.keys().collect();
    ids.sort();
    for id in ids {
        if let Value::Source(SourceValue {
            witness: Some(w), ..
        }) = deps.values[*id].as_ref()
        {
            w.check_unchanged().map_err(|why| {
                StepError::Failed(format!(
                    "{why}; nothing was cached (`{id}` must not change while it is being built)"
                ))
            })?;
        }
    }
    Ok(())
}

/// The blobs of the dependencies' action results: what the action may have read from the
/// store. Recorded with the result so that `verify` can drop results built from a blob that
/// turns out to be damaged.
fn input_blobs(deps: &DepValues<'_>) -> Vec<BlobDigest> {
    let mut blobs: Vec<BlobDigest> = deps
        .values
        .values()
        .filter_map(|v| match v.as_ref() {
            Value::Action { result, .. } => Some(result.outputs.values().map(|o| o.digest)),
            Value::Source(_) => None,
        })
        .flatten()
        .collect();
    blobs.sort();
    blobs.dedup();
    blobs
}

fn outputs_intact(step: &dyn Step, result: &ActionResult, prev: &StepState) -> bool {
    step.materialize().iter().all(|m| {
        let Some(out) = result.outputs.get(&m.output) else {
            return false;
        };
        prev.materialized
            .iter()
            .any(|f| f.dest == m.dest && f.is_intact(&out.digest))
    })
}

/// Materializes outputs that are not intact and records the new state.
fn finish_build(
    step: &dyn Step,
    action: &crate::action::Action,
    result: &ActionResult,
    prev: &StepState,
    cfg: &RunConfig<'_>,
) -> Result<(), StepError> {
    let mut materialized = Vec::new();
    for m in step.materialize() {
        let out = result
            .outputs
            .get(&m.output)
            .ok_or_else(|| StepError::Failed(format!("internal: no output `{}`", m.output)))?;
        let kept = prev
            .materialized
            .iter()
            .find(|f| f.dest == m.dest && f.is_intact(&out.digest));
        let file = match kept {
            Some(f) => f.clone(),
            None => {
                cfg.store.materialize(out, &m.dest)?;
                MaterializedFile::stat(&m.dest, out.digest).map_err(|e| {
                    StepError::Failed(format!("cannot stat {}: {e}", m.dest.display()))
                })?
            }
        };
        materialized.push(file);
    }
    let new = StepState {
        key: Some(action.key()),
        action: Some(action.clone()),
        result: Some(result.clone()),
        source_digest: None,
        materialized,
    };
    cfg.state
        .save(step.id(), prev, &new)
        .map_err(|e| StepError::Failed(format!("cannot write build state: {e}")))
}

/// The action keys being looked up or run right now, so that two steps with the same key
/// (the same library of two projects of a merged graph) run it once: the second waits for
/// the first, then finds its result in the store.
#[derive(Default)]
struct InFlight {
    keys: Mutex<HashSet<crate::digest::ActionKey>>,
    released: Condvar,
}

/// A key held by one worker until it is dropped.
struct Claim<'a> {
    inflight: &'a InFlight,
    key: crate::digest::ActionKey,
}

impl InFlight {
    /// Holds `key`, waiting first while another worker holds it.
    fn claim(&self, key: crate::digest::ActionKey) -> Claim<'_> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        while keys.contains(&key) {
            keys = self.released.wait(keys).unwrap_or_else(|e| e.into_inner());
        }
        keys.insert(key);
        Claim {
            inflight: self,
            key,
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut keys = self.inflight.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.remove(&self.key);
        self.inflight.released.notify_all();
    }
}
