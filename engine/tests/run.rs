//! End-to-end tests of the engine on closure-defined steps with the in-memory store:
//! caching, early cutoff, explain reasons, plan mode, failure propagation, the job limit,
//! and that a no-op run writes no state.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_engine::explain::Reason;
use kiln_engine::graph::{Graph, GraphError};
use kiln_engine::report::StepStatus;
use kiln_engine::run::Mode;
use kiln_engine::step::{DepValues, ExecContext, Prepared, Step, StepError};
use kiln_engine::{Action, ActionResult};

/// source -> lower (lower-cases) -> count (counts bytes); `lower` materializes its output.
fn chain(
    fx: &Fixture,
    cell: &Arc<Mutex<Vec<u8>>>,
) -> (Vec<Arc<dyn Step>>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let s1 = fx.store.clone();
    let mut lower = TestStep::action("lower", &["src"], move |d| {
        Ok(bytes_of(d, "src", &s1).to_ascii_lowercase())
    });
    lower.dest = Some(fx.dir().join("out/lower.txt"));
    let s2 = fx.store.clone();
    let count = TestStep::action("count", &["lower"], move |d| {
        Ok(bytes_of(d, "lower", &s2).len().to_string().into_bytes())
    });
    let (lr, cr) = (lower.runs.clone(), count.runs.clone());
    (
        vec![
            Arc::new(TestStep::source("src", cell)),
            Arc::new(lower),
            Arc::new(count),
        ],
        lr,
        cr,
    )
}

#[test]
fn builds_then_noop_then_early_cutoff() {
    let fx = Fixture::new();
    let cell = Arc::new(Mutex::new(b"Hello".to_vec()));
    let (steps, lower_runs, count_runs) = chain(&fx, &cell);

    let r1 = fx.run(steps.clone(), Mode::Build, 2);
    assert!(r1.succeeded());
    assert_eq!(status(&r1, "lower"), StepStatus::Ran);
    assert_eq!(
        std::fs::read(fx.dir().join("out/lower.txt")).unwrap(),
        b"hello"
    );
    assert_eq!(
        reason(&r1, "count"),
        "not cached: no earlier build of this step"
    );

    // No-op: nothing runs, the store is not even asked, no state file changes.
    let lookups = fx.store.lookups.load(Ordering::SeqCst);
    let before = snapshot(fx.state.root());
    let r2 = fx.run(steps.clone(), Mode::Build, 2);
    assert_eq!(status(&r2, "lower"), StepStatus::UpToDate);
    assert_eq!(status(&r2, "count"), StepStatus::UpToDate);
    assert_eq!(fx.store.lookups.load(Ordering::SeqCst), lookups);
    assert_eq!(snapshot(fx.state.root()), before, "a no-op writes no state");

    // Early cutoff: the source changes case only; `lower` re-runs with identical output,
    // so `count`'s key is unchanged and it does not run.
    *cell.lock().unwrap() = b"HELLO".to_vec();
    let r3 = fx.run(steps.clone(), Mode::Build, 2);
    assert_eq!(status(&r3, "lower"), StepStatus::Ran);
    assert!(
        reason(&r3, "lower").starts_with("not cached: input `src` changed from "),
        "{}",
        reason(&r3, "lower")
    );
    assert_eq!(status(&r3, "count"), StepStatus::UpToDate);
    assert_eq!(lower_runs.load(Ordering::SeqCst), 2);
    assert_eq!(count_runs.load(Ordering::SeqCst), 1);
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut v: Vec<_> = walkdir(dir)
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).unwrap();
            (p.clone(), std::fs::read(&p).unwrap(), m.modified().unwrap())
        })
        .collect();
    v.sort();
    v
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn edited_output_is_restored_and_cache_hit_after_revert() {
    let fx = Fixture::new();
    let cell = Arc::new(Mutex::new(b"Abc".to_vec()));
    let (steps, lower_runs, _) = chain(&fx, &cell);
    fx.run(steps.clone(), Mode::Build, 1);
    let out = fx.dir().join("out/lower.txt");
    std::fs::write(&out, b"tampered!").unwrap();
    let r = fx.run(steps.clone(), Mode::Build, 1);
    assert_eq!(
        status(&r, "lower"),
        StepStatus::Cached,
        "restored from the store, not re-run"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"abc");

    *cell.lock().unwrap() = b"Other".to_vec();
    fx.run(steps.clone(), Mode::Build, 1);
    *cell.lock().unwrap() = b"Abc".to_vec();
    let r = fx.run(steps.clone(), Mode::Build, 1);
    assert_eq!(status(&r, "lower"), StepStatus::Cached);
    assert!(
        reason(&r, "lower")
            .starts_with("found in cache; since the last build: input `src` changed")
    );
    assert_eq!(
        lower_runs.load(Ordering::SeqCst),
        2,
        "the reverted input was a cache hit"
    );
}

#[test]
fn plan_runs_nothing_and_marks_pending_steps() {
    let fx = Fixture::new();
    let cell = Arc::new(Mutex::new(b"x".to_vec()));
    let (steps, lower_runs, _) = chain(&fx, &cell);
    let p = fx.run(steps.clone(), Mode::Plan, 2);
    assert_eq!(status(&p, "src"), StepStatus::Source);
    assert_eq!(status(&p, "lower"), StepStatus::WouldRun);
    assert_eq!(status(&p, "count"), StepStatus::Pending);
    assert!(
        p.steps
            .iter()
            .find(|s| s.id == "count")
            .unwrap()
            .key
            .is_none()
    );
    assert_eq!(lower_runs.load(Ordering::SeqCst), 0);
    assert!(!fx.state.root().exists(), "a plan writes no state");

    fx.run(steps.clone(), Mode::Build, 2);
    fx.store.forget_actions();
    std::fs::remove_file(fx.dir().join("out/lower.txt")).unwrap();
    let p = fx.run(steps, Mode::Plan, 2);
    assert_eq!(status(&p, "lower"), StepStatus::WouldRun);
    assert_eq!(
        reason(&p, "lower"),
        "not cached: same key as the last build but its result is gone from the cache"
    );
}

#[test]
fn failure_skips_dependents_but_not_independent_steps() {
    let fx = Fixture::new();
    let cell = Arc::new(Mutex::new(b"x".to_vec()));
    let bad = TestStep::action("bad", &["src"], |_| {
        Err(StepError::Failed("compiler said no".into()))
    });
    let after = TestStep::action("after", &["bad"], |_| Ok(vec![]));
    let other = TestStep::action("other", &["src"], |_| Ok(b"fine".to_vec()));
    let steps: Vec<Arc<dyn Step>> = vec![
        Arc::new(TestStep::source("src", &cell)),
        Arc::new(bad),
        Arc::new(after),
        Arc::new(other),
    ];
    let r = fx.run(steps, Mode::Build, 2);
    assert!(!r.succeeded());
    assert_eq!(
        status(&r, "bad"),
        StepStatus::Failed("compiler said no".into())
    );
    assert_eq!(status(&r, "after"), StepStatus::Skipped);
    assert_eq!(reason(&r, "after"), "`bad` did not succeed");
    assert_eq!(status(&r, "other"), StepStatus::Ran);
}

#[test]
fn unresolved_is_reported_not_run() {
    let fx = Fixture::new();
    struct Offline;
    impl Step for Offline {
        fn id(&self) -> &str {
            "fetch"
        }
        fn kind(&self) -> &str {
            "sources"
        }
        fn deps(&self) -> &[String] {
            &[]
        }
        fn prepare(&self, _: &DepValues<'_>) -> Result<Prepared, StepError> {
            Err(StepError::Unresolved(
                "needs the network, but --offline".into(),
            ))
        }
        fn execute(
            &self,
            _: &DepValues<'_>,
            _: &ExecContext<'_>,
        ) -> Result<ActionResult, StepError> {
            unreachable!("never executed")
        }
    }
    let r = fx.run(vec![Arc::new(Offline)], Mode::Plan, 1);
    assert_eq!(
        status(&r, "fetch"),
        StepStatus::Unresolved("needs the network, but --offline".into())
    );
}

#[test]
fn independent_steps_run_in_parallel_up_to_the_job_limit() {
    for (jobs, expect_max) in [(1usize, 1usize), (3, 3)] {
        let fx = Fixture::new();
        let cell = Arc::new(Mutex::new(b"x".to_vec()));
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut steps: Vec<Arc<dyn Step>> = vec![Arc::new(TestStep::source("src", &cell))];
        for i in 0..6 {
            let (live, peak) = (live.clone(), peak.clone());
            let mut s = TestStep::action(&format!("w{i}"), &["src"], move |_| {
                let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
                live.fetch_sub(1, Ordering::SeqCst);
                Ok(vec![])
            });
            s.sleep = Duration::ZERO;
            steps.push(Arc::new(s));
        }
        assert!(fx.run(steps, Mode::Build, jobs).succeeded());
        assert_eq!(peak.load(Ordering::SeqCst), expect_max, "jobs = {jobs}");
    }
}

#[test]
fn graph_errors_are_engine_errors() {
    let cell = Arc::new(Mutex::new(vec![]));
    let a = TestStep::action("a", &["b"], |_| Ok(vec![]));
    let b = TestStep::action("b", &["a"], |_| Ok(vec![]));
    let err = Graph::new(vec![Arc::new(a), Arc::new(b)]).err().unwrap();
    assert!(
        matches!(err, GraphError::Cycle(ref p) if p.len() == 3),
        "{err}"
    );
    let dup = Graph::new(vec![
        Arc::new(TestStep::source("s", &cell)),
        Arc::new(TestStep::source("s", &cell)),
    ]);
    assert_eq!(dup.err(), Some(GraphError::DuplicateId("s".into())));
    let unknown = Graph::new(vec![Arc::new(TestStep::action("a", &["zz"], |_| {
        Ok(vec![])
    }))]);
    assert!(matches!(unknown.err(), Some(GraphError::UnknownDep { .. })));
}

#[test]
fn reasons_render_as_documented() {
    assert_eq!(
        Reason::UpToDate.to_string(),
        "up to date: same key as the last build, outputs intact"
    );
}

/// An action that reads its one action dependency's blob through the store (as real steps
/// do), then appends the bytes of a source.
struct Reader {
    id: String,
    deps: Vec<String>,
    runs: Arc<AtomicUsize>,
}

impl Step for Reader {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "reader"
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        let mut a = Action::new("reader", 1);
        for d in &self.deps {
            a = a.input(d, deps.digest(d)?);
        }
        Ok(Prepared::Action(a))
    }
    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let file = deps.result(&self.deps[0])?.outputs["out"];
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut ctx.store.open_blob(&file)?, &mut bytes).unwrap();
        bytes.extend(deps.data::<Vec<u8>>(&self.deps[1])?);
        let mut w = ctx.store.blob_writer()?;
        std::io::Write::write_all(&mut w, &bytes).unwrap();
        let out = w.commit(false)?;
        Ok(ActionResult::with_outputs(BTreeMap::from([(
            "out".to_string(),
            out,
        )])))
    }
}

#[test]
fn a_blob_the_cache_lost_rebuilds_what_made_it_in_one_rerun() {
    let fx = Fixture::new();
    let (a_src, b_src) = (
        Arc::new(Mutex::new(b"A".to_vec())),
        Arc::new(Mutex::new(b"1".to_vec())),
    );
    let s = fx.store.clone();
    let upper = TestStep::action("upper", &["a"], move |d| {
        Ok(bytes_of(d, "a", &s).to_ascii_uppercase())
    });
    let upper_runs = upper.runs.clone();
    let reader = Reader {
        id: "reader".into(),
        deps: vec!["upper".into(), "b".into()],
        runs: Arc::default(),
    };
    let reader_runs = reader.runs.clone();
    let steps: Vec<Arc<dyn Step>> = vec![
        Arc::new(TestStep::source("a", &a_src)),
        Arc::new(TestStep::source("b", &b_src)),
        Arc::new(upper),
        Arc::new(reader),
    ];
    assert!(fx.run(steps.clone(), Mode::Build, 1).succeeded());
    // The cache is emptied; `upper` is still up to date by the state (it materializes
    // nothing), and `reader` must run because its own input changed.
    fx.store.clear();
    *b_src.lock().unwrap() = b"2".to_vec();
    let r = fx.run(steps, Mode::Build, 1);
    assert!(
        r.succeeded(),
        "{:?}",
        r.steps
            .iter()
            .map(|s| (&s.id, &s.status))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        upper_runs.load(Ordering::SeqCst),
        2,
        "the producer of the lost blob ran again"
    );
    assert_eq!(status(&r, "reader"), StepStatus::Ran);
    assert_eq!(
        reader_runs.load(Ordering::SeqCst),
        3,
        "once, then failed on the lost blob, then again"
    );
}

#[test]
fn a_panicking_step_fails_alone_and_the_run_ends() {
    let fx = Fixture::new();
    let cell = Arc::new(Mutex::new(b"x".to_vec()));
    let boom = TestStep::action("boom", &["src"], |_| panic!("the step's bug"));
    let fine = TestStep::action("fine", &["src"], |_| Ok(b"ok".to_vec()));
    let after = TestStep::action("after", &["boom"], |_| Ok(b"never".to_vec()));
    let steps: Vec<Arc<dyn Step>> = vec![
        Arc::new(TestStep::source("src", &cell)),
        Arc::new(boom),
        Arc::new(fine),
        Arc::new(after),
    ];
    let r = fx.run(steps, Mode::Build, 2);
    match status(&r, "boom") {
        StepStatus::Failed(msg) => assert!(msg.contains("the step's bug"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(status(&r, "fine"), StepStatus::Ran);
    assert_eq!(status(&r, "after"), StepStatus::Skipped);
}
