//! What every project command starts with: load the Kraftfile, select targets, plan, open
//! the cache. Also the environment-derived settings (cache dir, SOURCE_DATE_EPOCH, jobs).

use std::path::PathBuf;

use kiln_cache::LocalStore;
use kiln_engine::graph::Graph;
use kiln_rules::kraftfile::process_env;
use kiln_rules::plan::{BuildPlan, PlanOptions, plan};
use kiln_rules::project::Project;
use kiln_rules::select::TargetFilter;

use crate::cli::ProjectArgs;
use crate::error::CliError;

/// A planned project, ready to run.
pub struct Session {
    /// The project.
    pub project: Project,
    /// Its plan.
    pub plan: BuildPlan,
    /// The checked graph of the plan's steps.
    pub graph: Graph,
}

/// Loads and plans the project `args` names. A build (`for_build`) may start the change
/// watcher; a plan only asks a running one and writes nothing.
pub fn open(args: &ProjectArgs, for_build: bool) -> Result<Session, CliError> {
    let project = Project::load(&args.dir, args.kraftfile.as_deref(), &process_env)?;
    let watcher = crate::watcher::connect(&cache_dir()?, for_build);
    let opts = PlanOptions {
        filter: TargetFilter {
            plat: args.plat.clone(),
            arch: args.arch.clone(),
            target: args.target.clone(),
        },
        offline: args.offline,
        source_date_epoch: source_date_epoch()?,
        watcher,
        read_only: !for_build,
    };
    let plan = plan(&project, &opts, &process_env)?;
    let graph = Graph::new(plan.steps.clone())
        .map_err(|e| CliError::Failed(format!("internal error in the plan: {e}")))?;
    Ok(Session {
        project,
        plan,
        graph,
    })
}

/// `SOURCE_DATE_EPOCH` as the archive mtime, or 0 when unset.
pub fn source_date_epoch() -> Result<u32, CliError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<u32>().map_err(|_| {
            CliError::Usage(format!(
                "SOURCE_DATE_EPOCH={v:?} is not a number of seconds between 0 and 4294967295"
            ))
        }),
        _ => Ok(0),
    }
}

/// The local cache directory.
pub fn cache_dir() -> Result<PathBuf, CliError> {
    kiln_cache::default_cache_dir(&process_env).ok_or_else(|| {
        CliError::Usage("cannot find a cache directory: set KILN_CACHE_DIR or HOME".into())
    })
}

/// Opens the local store, saying so if another process holds it exclusively.
pub fn open_store() -> Result<LocalStore, CliError> {
    let dir = cache_dir()?;
    let store = LocalStore::open_with(&dir, &|| {
        eprintln!(
            "kiln: waiting for the cache at {} (a `kiln cache` command holds it)",
            dir.display()
        )
    })?;
    Ok(store)
}

/// The number of steps to run at once.
pub fn jobs(requested: Option<usize>) -> Result<usize, CliError> {
    match requested {
        Some(0) => Err(CliError::Usage("-j must be at least 1".into())),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}
