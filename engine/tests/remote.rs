//! The engine's use of a remote cache, with an in-memory remote (the protocols have their
//! own tests in kiln-remote and tests/remote_cache.rs): a local miss asks the remote before
//! running, a hit is recorded locally and not run, a miss runs and uploads, read-only uploads
//! nothing, an unavailable remote is reported once and the build goes on (or fails when
//! required), an unusable entry is a miss, up-to-date steps and plans ask nothing.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kiln_engine::graph::Graph;
use kiln_engine::memstore::MemStore;
use kiln_engine::remote::{RemoteCache, RemoteError, RemoteOutcome, RemoteSettings};
use kiln_engine::report::{Event, EventSink, RunReport, StepStatus};
use kiln_engine::run::{Mode, RunConfig, run};
use kiln_engine::state::StateDir;
use kiln_engine::step::{DepValues, ExecContext, Prepared, SourceValue, Step, StepError};
use kiln_engine::{Action, ActionKey, ActionResult, Digest, Store};

/// `src` (a source) -> `up` (upper-cases it), counting runs.
struct Upper {
    runs: Arc<AtomicUsize>,
    deps: Vec<String>,
}

impl Step for Upper {
    fn id(&self) -> &str {
        "up"
    }
    fn kind(&self) -> &str {
        "upper"
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        Ok(Prepared::Action(
            Action::new("upper", 1).input("src", deps.digest("src")?),
        ))
    }
    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let bytes = deps.data::<Vec<u8>>("src")?.to_ascii_uppercase();
        let mut w = ctx.store.blob_writer()?;
        w.write_all(&bytes).unwrap();
        let out = w.commit(false)?;
        Ok(ActionResult::with_outputs(BTreeMap::from([(
            "out".into(),
            out,
        )])))
    }
}

struct Src(Vec<u8>);

impl Step for Src {
    fn id(&self) -> &str {
        "src"
    }
    fn kind(&self) -> &str {
        "source"
    }
    fn deps(&self) -> &[String] {
        &[]
    }
    fn prepare(&self, _: &DepValues<'_>) -> Result<Prepared, StepError> {
        let mut sv = SourceValue::digest(Digest::of(&self.0));
        sv.data = Some(Arc::new(self.0.clone()));
        Ok(Prepared::Source(sv))
    }
    fn execute(&self, _: &DepValues<'_>, _: &ExecContext<'_>) -> Result<ActionResult, StepError> {
        unreachable!()
    }
}

/// A remote that keeps entries by local key and blob bytes by name; `fail` makes every call
/// fail with that error.
#[derive(Default)]
struct FakeRemote {
    entries: Mutex<BTreeMap<ActionKey, BTreeMap<String, Vec<u8>>>>,
    fail: Mutex<Option<RemoteError>>,
    calls: AtomicUsize,
}

impl RemoteCache for FakeRemote {
    fn describe(&self) -> String {
        "the fake remote".into()
    }
    fn fetch(
        &self,
        _: &Action,
        key: &ActionKey,
        local: &dyn Store,
    ) -> Result<Option<ActionResult>, RemoteError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = self.fail.lock().unwrap().clone() {
            return Err(e);
        }
        let Some(blobs) = self.entries.lock().unwrap().get(key).cloned() else {
            return Ok(None);
        };
        let mut outputs = BTreeMap::new();
        for (name, bytes) in blobs {
            let mut w = local.blob_writer().unwrap();
            w.write_all(&bytes).unwrap();
            outputs.insert(name, w.commit(false).unwrap());
        }
        Ok(Some(ActionResult::with_outputs(outputs)))
    }
    fn upload(
        &self,
        _: &Action,
        key: &ActionKey,
        result: &ActionResult,
        local: &dyn Store,
    ) -> Result<(), RemoteError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = self.fail.lock().unwrap().clone() {
            return Err(e);
        }
        let mut blobs = BTreeMap::new();
        for (name, f) in &result.outputs {
            let mut bytes = Vec::new();
            local.open_blob(f).unwrap().read_to_end(&mut bytes).unwrap();
            blobs.insert(name.clone(), bytes);
        }
        self.entries.lock().unwrap().insert(*key, blobs);
        Ok(())
    }
}

#[derive(Default)]
struct Said(Mutex<Vec<String>>);

impl EventSink for Said {
    fn event(&self, e: Event<'_>) {
        if let Event::Remote { message } = e {
            self.0.lock().unwrap().push(message.to_string());
        }
    }
}

/// One machine: its own store and state.
struct Machine {
    store: MemStore,
    state: StateDir,
    runs: Arc<AtomicUsize>,
    said: Said,
    _dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Machine {
            store: MemStore::default(),
            state: StateDir::new(&dir.path().join("state")),
            runs: Arc::default(),
            said: Said::default(),
            _dir: dir,
        }
    }
    fn build(
        &self,
        input: &[u8],
        remote: &dyn RemoteCache,
        upload: bool,
        required: bool,
        mode: Mode,
    ) -> RunReport {
        let steps: Vec<Arc<dyn Step>> = vec![
            Arc::new(Src(input.to_vec())),
            Arc::new(Upper {
                runs: self.runs.clone(),
                deps: vec!["src".into()],
            }),
        ];
        let graph = Graph::new(steps).unwrap();
        let settings = RemoteSettings::new(remote, upload, required);
        run(
            &graph,
            &RunConfig {
                mode,
                jobs: 2,
                store: &self.store,
                state: &self.state,
                events: &self.said,
                remote: Some(&settings),
                keep_going: true,
            },
        )
    }
}

fn up(r: &RunReport) -> (&StepStatus, Option<&RemoteOutcome>) {
    let s = r.steps.iter().find(|s| s.id == "up").unwrap();
    (&s.status, s.remote.as_ref())
}

#[test]
fn a_second_machine_takes_the_result_without_running_and_no_op_asks_nothing() {
    let remote = FakeRemote::default();
    let a = Machine::new();
    let r = a.build(b"abc", &remote, true, false, Mode::Build);
    assert_eq!(
        up(&r),
        (
            &StepStatus::Ran,
            Some(&RemoteOutcome::Miss {
                uploaded: true,
                upload_error: None
            })
        )
    );
    let b = Machine::new();
    let r = b.build(b"abc", &remote, true, false, Mode::Build);
    assert_eq!(up(&r), (&StepStatus::Cached, Some(&RemoteOutcome::Hit)));
    assert_eq!(
        b.runs.load(Ordering::SeqCst),
        0,
        "the hit must not run the step"
    );
    let key = r.steps[1].key.unwrap();
    let local = b
        .store
        .lookup(&key)
        .unwrap()
        .expect("the hit is recorded locally");
    let mut bytes = Vec::new();
    b.store
        .open_blob(&local.outputs["out"])
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(bytes, b"ABC");
    // Up to date, and a plan: no request at all.
    let before = remote.calls.load(Ordering::SeqCst);
    let r = b.build(b"abc", &remote, true, false, Mode::Build);
    assert_eq!(up(&r), (&StepStatus::UpToDate, None));
    b.build(b"xyz", &remote, true, false, Mode::Plan);
    assert_eq!(remote.calls.load(Ordering::SeqCst), before);
}

#[test]
fn read_only_uploads_nothing() {
    let remote = FakeRemote::default();
    let r = Machine::new().build(b"abc", &remote, false, false, Mode::Build);
    assert_eq!(
        up(&r).1,
        Some(&RemoteOutcome::Miss {
            uploaded: false,
            upload_error: None
        })
    );
    assert!(remote.entries.lock().unwrap().is_empty());
}

#[test]
fn an_unavailable_remote_is_said_once_and_the_build_goes_on_unless_required() {
    let remote = FakeRemote::default();
    *remote.fail.lock().unwrap() = Some(RemoteError::Unavailable("the fake remote is down".into()));
    let m = Machine::new();
    let r = m.build(b"abc", &remote, true, false, Mode::Build);
    assert!(r.succeeded());
    assert_eq!(m.runs.load(Ordering::SeqCst), 1);
    let said = m.said.0.lock().unwrap().clone();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("the fake remote is down"), "{said:?}");
    assert_eq!(
        remote.calls.load(Ordering::SeqCst),
        1,
        "not asked again after it was down"
    );

    let m = Machine::new();
    let r = m.build(b"abc", &remote, true, true, Mode::Build);
    match up(&r).0 {
        StepStatus::Failed(msg) => assert!(msg.contains("--remote-required"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(m.runs.load(Ordering::SeqCst), 0);
}

#[test]
fn an_unusable_entry_is_a_miss_that_runs_the_step() {
    let remote = FakeRemote::default();
    *remote.fail.lock().unwrap() = Some(RemoteError::Corrupt("blob x has other bytes".into()));
    let m = Machine::new();
    let r = m.build(b"abc", &remote, true, false, Mode::Build);
    assert_eq!(up(&r).0, &StepStatus::Ran);
    assert_eq!(m.runs.load(Ordering::SeqCst), 1);
    assert!(m.said.0.lock().unwrap()[0].contains("blob x has other bytes"));
}
