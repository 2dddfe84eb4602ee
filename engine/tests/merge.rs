//! Merged graphs and the scheduler's run-wide rules: scoped steps keep their state in their
//! own scope's directory, two steps with one key run once, a build stops starting steps after
//! the first failure unless it keeps going, and a step's events reach the sink under its
//! merged id, with the worker lane that ran it.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use kiln_engine::report::{Event, EventSink, ProgressUnit, StepProgress, StepStatus};
use kiln_engine::run::Mode;
use kiln_engine::scope::Scoped;
use kiln_engine::state::StateDir;
use kiln_engine::step::{DepValues, ExecContext, Prepared, Step, StepError};
use kiln_engine::{Action, ActionResult};

/// A source and a slow action over it, the same objects in both scopes.
fn project(cell: &Arc<Mutex<Vec<u8>>>, fx: &Fixture) -> (Vec<Arc<dyn Step>>, TestStepRuns) {
    let store = fx.store.clone();
    let mut upper = TestStep::action("upper", &["src"], move |d| {
        Ok(bytes_of(d, "src", &store).to_ascii_uppercase())
    });
    upper.sleep = Duration::from_millis(150);
    let runs = upper.runs.clone();
    (
        vec![Arc::new(TestStep::source("src", cell)), Arc::new(upper)],
        runs,
    )
}

type TestStepRuns = Arc<std::sync::atomic::AtomicUsize>;

#[test]
fn two_scopes_with_one_key_run_it_once_and_keep_state_apart() {
    let mut fx = Fixture::new();
    let (a, b) = (fx.dir().join("a/state"), fx.dir().join("b/state"));
    fx.state = StateDir::scoped(vec![("a:".into(), a.clone()), ("b:".into(), b.clone())]);
    let cell = Arc::new(Mutex::new(b"same".to_vec()));
    let (steps, runs) = project(&cell, &fx);
    let mut merged = Scoped::wrap("a:", &steps);
    merged.extend(Scoped::wrap("b:", &steps));

    let r = fx.run(merged.clone(), Mode::Build, 2);
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one key, one run");
    let mut got = [status(&r, "a:upper"), status(&r, "b:upper")];
    got.sort_by_key(|s| s.word());
    assert_eq!(got, [StepStatus::Cached, StepStatus::Ran]);
    for root in [&a, &b] {
        let file = root.join("steps/upper.json");
        assert!(file.is_file(), "{} has the scope's own id", file.display());
    }

    // Each scope finds its own state: a no-op.
    let r = fx.run(merged, Mode::Build, 2);
    assert_eq!(status(&r, "a:upper"), StepStatus::UpToDate);
    assert_eq!(status(&r, "b:upper"), StepStatus::UpToDate);

    // A build of one project alone (its own ids, its own directory) is up to date too.
    fx.state = StateDir::new(&a);
    let r = fx.run(steps, Mode::Build, 2);
    assert_eq!(status(&r, "upper"), StepStatus::UpToDate);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// A step that fails at once.
struct Failing;

impl Step for Failing {
    fn id(&self) -> &str {
        "bad"
    }
    fn kind(&self) -> &str {
        "transform"
    }
    fn deps(&self) -> &[String] {
        &[]
    }
    fn prepare(&self, _: &DepValues<'_>) -> Result<Prepared, StepError> {
        Ok(Prepared::Action(Action::new("bad", 1)))
    }
    fn execute(&self, _: &DepValues<'_>, _: &ExecContext<'_>) -> Result<ActionResult, StepError> {
        Err(StepError::Failed("it broke".into()))
    }
}

fn failing_graph(fx: &Fixture) -> (Vec<Arc<dyn Step>>, TestStepRuns) {
    let later = TestStep::action("later", &[], |_| Ok(b"x".to_vec()));
    let runs = later.runs.clone();
    let _ = fx;
    (vec![Arc::new(Failing), Arc::new(later)], runs)
}

#[test]
fn a_build_stops_starting_steps_after_a_failure_unless_it_keeps_going() {
    let fx = Fixture::new();
    let (steps, runs) = failing_graph(&fx);
    // One worker takes `bad` first (graph order), so `later` is still waiting when it fails.
    let r = fx.run_with(
        steps.clone(),
        Mode::Build,
        1,
        &kiln_engine::report::NoEvents,
        false,
    );
    assert!(matches!(status(&r, "bad"), StepStatus::Failed(_)));
    assert_eq!(status(&r, "later"), StepStatus::Skipped);
    assert!(
        reason(&r, "later").contains("the build stopped after `bad` failed (--keep-going"),
        "{}",
        reason(&r, "later")
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    let r = fx.run_with(
        steps.clone(),
        Mode::Build,
        1,
        &kiln_engine::report::NoEvents,
        true,
    );
    assert_eq!(status(&r, "later"), StepStatus::Ran);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // A plan evaluates everything whatever the flag.
    let r = fx.run_with(steps, Mode::Plan, 1, &kiln_engine::report::NoEvents, false);
    assert_eq!(status(&r, "later"), StepStatus::UpToDate);
}

/// A step that reports progress, a line of output and a span while it runs.
struct Talking;

impl Step for Talking {
    fn id(&self) -> &str {
        "talk"
    }
    fn kind(&self) -> &str {
        "transform"
    }
    fn deps(&self) -> &[String] {
        &[]
    }
    fn prepare(&self, _: &DepValues<'_>) -> Result<Prepared, StepError> {
        Ok(Prepared::Action(Action::new("talk", 1)))
    }
    fn execute(&self, _: &DepValues<'_>, ctx: &ExecContext<'_>) -> Result<ActionResult, StepError> {
        let start = Instant::now();
        ctx.events.output("  CC      a.o");
        ctx.events.progress(&StepProgress {
            phase: Some("compile".into()),
            done: 1,
            total: Some(2),
            estimated: true,
            unit: ProgressUnit::Items("objects"),
        });
        ctx.events.span("compile", start, Instant::now(), None);
        Ok(ActionResult::with_outputs(Default::default()))
    }
}

#[derive(Default)]
struct Heard(Mutex<Vec<String>>);

impl EventSink for Heard {
    fn event(&self, event: Event<'_>) {
        let line = match event {
            Event::Started { id, worker, .. } => format!("started {id} on {worker}"),
            Event::Progress { id, progress } => {
                format!("progress {id} {}/{:?}", progress.done, progress.total)
            }
            Event::Output { id, line } => format!("output {id} {line}"),
            Event::Span {
                id,
                name,
                start,
                end,
                ..
            } => {
                assert!(end >= start);
                format!("span {id} {name}")
            }
            Event::Finished(r) => format!("finished {} {}", r.id, r.status.word()),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

#[test]
fn a_steps_events_carry_its_merged_id_and_lane() {
    let fx = Fixture::new();
    let heard = Heard::default();
    let steps = Scoped::wrap("app:", &[Arc::new(Talking) as Arc<dyn Step>]);
    let r = fx.run_with(steps, Mode::Build, 3, &heard, false);
    assert!(r.succeeded());
    assert_eq!(
        *heard.0.lock().unwrap(),
        [
            "started app:talk on 0",
            "output app:talk   CC      a.o",
            "progress app:talk 1/Some(2)",
            "span app:talk compile",
            "finished app:talk ran",
        ]
    );
}
