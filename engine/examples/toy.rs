//! The engine on a toy domain with no Unikraft in sight: count the words of every `.txt`
//! file in a directory. Run it twice to see a no-op; edit a file to see explain name it.
//!
//! ```text
//! cargo run -p kiln-engine --example toy -- <dir-with-txt-files> <state-dir>
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_engine::graph::Graph;
use kiln_engine::memstore::MemStore;
use kiln_engine::report::{Event, EventSink};
use kiln_engine::run::{Mode, RunConfig, run};
use kiln_engine::scan::{scan_dir, scan_with_snapshot};
use kiln_engine::statcache::StatCache;
use kiln_engine::state::StateDir;
use kiln_engine::step::{DepValues, ExecContext, Prepared, SourceValue, Step, StepError};
use kiln_engine::{Action, ActionResult, EntryKind};

/// Hashes the input directory.
struct Texts {
    dir: PathBuf,
    cache: Arc<StatCache>,
}

impl Step for Texts {
    fn id(&self) -> &str {
        "texts"
    }
    fn kind(&self) -> &str {
        "source"
    }
    fn deps(&self) -> &[String] {
        &[]
    }
    fn prepare(&self, _: &DepValues<'_>) -> Result<Prepared, StepError> {
        let (tree, _, snapshot) = scan_with_snapshot(&self.dir, &self.cache, &[])
            .map_err(|e| StepError::Failed(e.to_string()))?;
        let tree = Arc::new(tree);
        Ok(Prepared::Source(SourceValue {
            digest: tree.digest().raw(),
            tree: Some(tree.clone()),
            data: Some(Arc::new(self.dir.clone())),
            vouched: false,
            witness: Some(Arc::new(snapshot)),
            note: None,
        }))
    }
    fn execute(&self, _: &DepValues<'_>, _: &ExecContext<'_>) -> Result<ActionResult, StepError> {
        Err(StepError::Failed("a source is never executed".into()))
    }
}

/// Counts words across the `.txt` files.
struct WordCount {
    deps: Vec<String>,
}

impl Step for WordCount {
    fn id(&self) -> &str {
        "wordcount"
    }
    fn kind(&self) -> &str {
        "count"
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        Ok(Prepared::Action(
            Action::new("wordcount", 1).input("texts", deps.digest("texts")?),
        ))
    }
    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError> {
        let dir: &PathBuf = deps.data("texts")?;
        let mut words = 0;
        for entry in walk(dir) {
            let text = std::fs::read_to_string(&entry).unwrap_or_default();
            words += text.split_whitespace().count();
        }
        let mut w = ctx.store.blob_writer()?;
        std::io::Write::write_all(&mut w, format!("{words}\n").as_bytes())
            .map_err(|e| StepError::Failed(e.to_string()))?;
        let out = w.commit(false)?;
        Ok(ActionResult::with_outputs(BTreeMap::from([(
            "count".into(),
            out,
        )])))
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let cache = StatCache::empty(Path::new("/dev/null"));
    let Ok((tree, _)) = scan_dir(dir, &cache) else {
        return vec![];
    };
    tree.entries()
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::File { .. }) && e.path.ends_with(".txt"))
        .map(|e| dir.join(&e.path))
        .collect()
}

struct Print;

impl EventSink for Print {
    fn event(&self, event: Event<'_>) {
        if let Event::Finished(r) = event {
            println!("{:<10} {:<11} {}", r.id, r.status.word(), r.reason);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: toy <dir-with-txt-files> <state-dir>");
        std::process::exit(2);
    }
    let state = StateDir::new(Path::new(&args[2]));
    let cache = Arc::new(StatCache::load(&state.root().join("statcache")));
    let steps: Vec<Arc<dyn Step>> = vec![
        Arc::new(Texts {
            dir: PathBuf::from(&args[1]),
            cache: cache.clone(),
        }),
        Arc::new(WordCount {
            deps: vec!["texts".into()],
        }),
    ];
    let Ok(graph) = Graph::new(steps) else {
        std::process::exit(1)
    };
    // A memory store forgets between runs; the state dir still makes the second run a no-op.
    let store = MemStore::default();
    let cfg = RunConfig {
        mode: Mode::Build,
        jobs: 2,
        store: &store,
        state: &state,
        events: &Print,
        remote: None,
        keep_going: true,
    };
    let report = run(&graph, &cfg);
    let _ = cache.save();
    std::process::exit(if report.succeeded() { 0 } else { 1 });
}
