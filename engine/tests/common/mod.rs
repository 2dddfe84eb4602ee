//! What the engine's integration tests share: closure-defined steps over the in-memory
//! store, a fixture with a state directory, and report lookups.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_engine::graph::Graph;
use kiln_engine::memstore::MemStore;
use kiln_engine::report::{EventSink, NoEvents, RunReport, StepStatus};
use kiln_engine::run::{Mode, RunConfig, run};
use kiln_engine::state::StateDir;
use kiln_engine::step::{
    DepValues, ExecContext, Materialize, Prepared, SourceValue, Step, StepError,
};
use kiln_engine::{Action, ActionResult, Digest};

type Produce = dyn Fn(&DepValues<'_>) -> Result<Vec<u8>, StepError> + Send + Sync;

/// A source step whose digest is read from a shared cell, or an action that turns its
/// dependencies' bytes into new bytes.
pub struct TestStep {
    pub id: String,
    pub deps: Vec<String>,
    pub source: Option<Arc<Mutex<Vec<u8>>>>,
    pub produce: Option<Box<Produce>>,
    pub runs: Arc<AtomicUsize>,
    pub dest: Option<PathBuf>,
    pub sleep: Duration,
}

impl TestStep {
    pub fn source(id: &str, cell: &Arc<Mutex<Vec<u8>>>) -> Self {
        TestStep {
            id: id.into(),
            deps: vec![],
            source: Some(cell.clone()),
            produce: None,
            runs: Arc::default(),
            dest: None,
            sleep: Duration::ZERO,
        }
    }
    pub fn action(
        id: &str,
        deps: &[&str],
        f: impl Fn(&DepValues<'_>) -> Result<Vec<u8>, StepError> + Send + Sync + 'static,
    ) -> Self {
        TestStep {
            id: id.into(),
            deps: deps.iter().map(|s| s.to_string()).collect(),
            source: None,
            produce: Some(Box::new(f)),
            runs: Arc::default(),
            dest: None,
            sleep: Duration::ZERO,
        }
    }
}

impl Step for TestStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        if self.source.is_some() {
            "source"
        } else {
            "transform"
        }
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        if let Some(cell) = &self.source {
            let bytes = cell.lock().unwrap().clone();
            let mut sv = SourceValue::digest(Digest::of(&bytes));
            sv.data = Some(Arc::new(bytes));
            return Ok(Prepared::Source(sv));
        }
        let mut a = Action::new("transform", 1).param("id", self.id.clone());
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
        std::thread::sleep(self.sleep);
        let bytes = (self.produce.as_ref().unwrap())(deps)?;
        let mut w = ctx.store.blob_writer()?;
        std::io::Write::write_all(&mut w, &bytes).unwrap();
        let out = w.commit(false)?;
        Ok(ActionResult::with_outputs(BTreeMap::from([(
            "out".to_string(),
            out,
        )])))
    }
    fn materialize(&self) -> Vec<Materialize> {
        self.dest
            .iter()
            .map(|d| Materialize {
                output: "out".into(),
                dest: d.clone(),
            })
            .collect()
    }
}

/// The bytes of a dependency: a source's data or an action's output blob.
pub fn bytes_of(deps: &DepValues<'_>, id: &str, store: &MemStore) -> Vec<u8> {
    match deps.data::<Vec<u8>>(id) {
        Ok(b) => b.clone(),
        Err(_) => store
            .blob(&deps.result(id).unwrap().outputs["out"].digest)
            .unwrap(),
    }
}

pub struct Fixture {
    pub store: Arc<MemStore>,
    pub state: StateDir,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Fixture {
            store: Arc::new(MemStore::default()),
            state: StateDir::new(&dir.path().join("state")),
            _dir: dir,
        }
    }
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
    pub fn run(&self, steps: Vec<Arc<dyn Step>>, mode: Mode, jobs: usize) -> RunReport {
        self.run_with(steps, mode, jobs, &NoEvents, true)
    }
    /// A run with events going to `events`, stopping at the first failure unless
    /// `keep_going`.
    pub fn run_with(
        &self,
        steps: Vec<Arc<dyn Step>>,
        mode: Mode,
        jobs: usize,
        events: &dyn EventSink,
        keep_going: bool,
    ) -> RunReport {
        let graph = Graph::new(steps).unwrap();
        run(
            &graph,
            &RunConfig {
                mode,
                jobs,
                store: self.store.as_ref(),
                state: &self.state,
                events,
                remote: None,
                keep_going,
            },
        )
    }
}

pub fn status(r: &RunReport, id: &str) -> StepStatus {
    r.steps.iter().find(|s| s.id == id).unwrap().status.clone()
}

pub fn reason(r: &RunReport, id: &str) -> String {
    r.steps
        .iter()
        .find(|s| s.id == id)
        .unwrap()
        .reason
        .to_string()
}
