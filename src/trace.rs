//! `--trace FILE`: the build as a Chrome trace-event profile (the JSON object format that
//! Perfetto and chrome://tracing open). One complete event (`"ph":"X"`) per step, in the
//! lane of the worker that ran it, with its key, status and cache outcome; the step's own
//! spans (make's phases, remote-cache calls) as events nested inside it on the same lane;
//! downloads on a lane of their own. Times are microseconds since the build began.
//!
//! Recording is process-wide (downloads are reported far from the engine's events) and
//! costs nothing unless [`start`] was called.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use kiln_engine::remote::RemoteOutcome;
use kiln_engine::report::{Event, EventSink, StepReport, StepStatus};
use serde_json::{Value, json};

use crate::error::CliError;

/// The first lane of named (non-worker) lanes.
const NAMED_LANES: u64 = 1000;

struct Recorder {
    origin: Instant,
    events: Vec<Value>,
    /// Named lanes (`downloads`) and their thread ids.
    lanes: BTreeMap<String, u64>,
    /// Running steps: their lane and start.
    steps: HashMap<String, (u64, Instant)>,
    /// The worker lanes used.
    workers: BTreeMap<u64, ()>,
}

static TRACE: Mutex<Option<Recorder>> = Mutex::new(None);

/// Starts recording (`--trace`).
pub fn start() {
    if let Ok(mut t) = TRACE.lock() {
        *t = Some(Recorder {
            origin: Instant::now(),
            events: Vec::new(),
            lanes: BTreeMap::new(),
            steps: HashMap::new(),
            workers: BTreeMap::new(),
        });
    }
}

fn with<T>(f: impl FnOnce(&mut Recorder) -> T) -> Option<T> {
    let mut guard = TRACE.lock().ok()?;
    guard.as_mut().map(f)
}

impl Recorder {
    fn micros(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.origin).as_micros() as u64
    }

    fn complete(&mut self, name: &str, cat: &str, tid: u64, span: (Instant, Instant), args: Value) {
        let ts = self.micros(span.0);
        let dur = self.micros(span.1).saturating_sub(ts);
        self.events.push(json!({
            "name": name, "cat": cat, "ph": "X", "ts": ts, "dur": dur,
            "pid": 1, "tid": tid, "args": args,
        }));
    }

    fn lane(&mut self, name: &str) -> u64 {
        let next = NAMED_LANES + self.lanes.len() as u64;
        *self.lanes.entry(name.to_string()).or_insert(next)
    }
}

/// A span on the named lane `lane` (downloads), if recording.
pub fn span(lane: &str, name: &str, start: Instant, end: Instant, detail: &str) {
    with(|r| {
        let tid = r.lane(lane);
        r.complete(name, lane, tid, (start, end), json!({ "detail": detail }));
    });
}

/// Records the engine's events, then hands them on.
pub struct TraceSink<'a> {
    /// Where the events go next (the progress display).
    pub inner: &'a dyn EventSink,
}

impl EventSink for TraceSink<'_> {
    fn event(&self, event: Event<'_>) {
        match &event {
            Event::Started { id, worker, .. } => {
                let now = Instant::now();
                let tid = *worker as u64 + 1;
                with(|r| {
                    r.workers.insert(tid, ());
                    r.steps.insert(id.to_string(), (tid, now));
                });
            }
            Event::Span {
                id,
                name,
                start,
                end,
                detail,
            } => {
                with(|r| {
                    let tid = r.steps.get(*id).map_or(0, |(tid, _)| *tid);
                    let args = json!({ "step": id, "detail": detail });
                    let cat = if name.starts_with("remote") {
                        "remote"
                    } else {
                        "phase"
                    };
                    r.complete(name, cat, tid, (*start, *end), args);
                });
            }
            Event::Finished(report) => {
                let end = Instant::now();
                with(|r| {
                    let (tid, start) = r.steps.remove(&report.id).unwrap_or((0, end));
                    r.complete(
                        &report.id,
                        &report.kind,
                        tid,
                        (start, end),
                        step_args(report),
                    );
                });
            }
            _ => {}
        }
        self.inner.event(event);
    }
}

/// How a step's result came about, in a word.
fn cache_outcome(r: &StepReport) -> &'static str {
    match (&r.status, &r.remote) {
        (StepStatus::Cached, Some(RemoteOutcome::Hit)) => "remote hit",
        (StepStatus::Cached, _) => "hit",
        (StepStatus::Ran, _) => "miss",
        (StepStatus::UpToDate, _) => "up to date",
        (StepStatus::Source, _) => "source",
        _ => "none",
    }
}

fn step_args(r: &StepReport) -> Value {
    json!({
        "key": r.key.map(|k| k.to_hex()),
        "status": r.status.word(),
        "cache": cache_outcome(r),
        "reason": r.reason.to_string(),
    })
}

/// The recorded profile as a trace-event document, events in time order (a parent before
/// the spans it contains).
fn document(r: &Recorder, command: &str) -> Value {
    let mut events = r.events.clone();
    events.sort_by_key(|e| {
        let ts = e["ts"].as_u64().unwrap_or(0);
        let dur = e["dur"].as_u64().unwrap_or(0);
        (e["tid"].as_u64().unwrap_or(0), ts, u64::MAX - dur)
    });
    let mut meta = vec![json!({
        "name": "process_name", "ph": "M", "pid": 1, "tid": 0,
        "args": { "name": format!("kiln {command}") },
    })];
    for tid in r.workers.keys() {
        meta.push(json!({
            "name": "thread_name", "ph": "M", "pid": 1, "tid": tid,
            "args": { "name": format!("worker {tid}") },
        }));
    }
    for (name, tid) in &r.lanes {
        meta.push(json!({
            "name": "thread_name", "ph": "M", "pid": 1, "tid": tid,
            "args": { "name": name },
        }));
    }
    meta.extend(events);
    json!({
        "traceEvents": meta,
        "displayTimeUnit": "ms",
        "otherData": { "tool": format!("kiln {}", env!("CARGO_PKG_VERSION")) },
    })
}

/// Writes the profile to `path` (a temporary file, then a rename) and stops recording.
pub fn finish(path: &Path, command: &str) -> Result<(), CliError> {
    let Some(doc) = TRACE
        .lock()
        .ok()
        .and_then(|mut t| t.take())
        .map(|r| document(&r, command))
    else {
        return Ok(());
    };
    let bytes = serde_json::to_vec(&doc)
        .map_err(|e| CliError::Failed(format!("cannot encode the trace: {e}")))?;
    kiln_engine::fsutil::write_atomic(path, &bytes)
        .map_err(|e| CliError::Failed(format!("cannot write the trace {}: {e}", path.display())))
}
