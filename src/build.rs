//! `kiln build`: plan, take the project lock, run the engine, report.

use std::fs::{File, TryLockError};
use std::path::Path;

use kiln_engine::remote::{RemoteOutcome, RemoteSettings};
use kiln_engine::report::{RunReport, StepStatus};
use kiln_engine::run::{Mode, RunConfig, run};
use kiln_engine::state::StateDir;

use crate::cli::{BuildArgs, Output};
use crate::error::{CliError, print_stdout};
use crate::render::{Progress, report_json};
use crate::session;

/// Runs `kiln build`.
pub fn build(args: &BuildArgs) -> Result<(), CliError> {
    let jobs = session::jobs(args.jobs)?;
    let s = session::open(&args.project, Some(jobs))?;
    let report = build_session(&s, jobs, args.explain, args.project.locked)?;
    if args.project.output == Output::Json {
        let mut doc = report_json(&s.plan, &report);
        doc["ok"] = report.succeeded().into();
        doc["project"] = crate::render::project_json(&s.project);
        print_stdout(&format!("{doc:#}\n"))?;
    }
    check_succeeded(&report)?;
    if args.project.output == Output::Human {
        summary(&s, &report);
    }
    Ok(())
}

/// Builds the session's plan under the project lock; saves the stat cache and the lock file.
pub fn build_session(
    s: &session::Session,
    jobs: usize,
    explain: bool,
    locked: bool,
) -> Result<RunReport, CliError> {
    build_graph(s, &s.graph, jobs, explain, locked)
}

/// [`build_session`] of `graph`, a part of the session's plan (for `kiln fetch`).
pub fn build_graph(
    s: &session::Session,
    graph: &kiln_engine::graph::Graph,
    jobs: usize,
    explain: bool,
    locked: bool,
) -> Result<RunReport, CliError> {
    let state_dir = s.project.state_dir();
    if explain {
        eprint!("{}", crate::render::project_lines(&s.project));
    }
    let _lock = lock_project(&state_dir)?;
    // What builds killed before they finished left behind (files of live writers stay).
    s.project.remove_dead_temps();
    kiln_rules::sources::GitCache::remove_dead_temps(&session::cache_dir()?);
    let store = session::open_store()?;
    if let Some(root) = store.read_only() {
        eprintln!(
            "kiln: the cache at {} is read-only: results are taken from it, but nothing this \
             build makes will be stored",
            root.display()
        );
    }
    let state = StateDir::new(&state_dir.join("state"));
    let progress = Progress::new(explain);
    let cache = s.remote.as_ref().map(crate::remote::open).transpose()?;
    let settings = match (&cache, &s.remote) {
        (Some(c), Some(choice)) => Some(RemoteSettings::new(
            c.as_ref(),
            choice.upload && store.read_only().is_none(),
            choice.required,
        )),
        _ => None,
    };
    let cfg = RunConfig {
        mode: Mode::Build,
        jobs,
        store: &store,
        state: &state,
        events: &progress,
        remote: settings.as_ref(),
    };
    let report = run(graph, &cfg);
    if let Err(e) = s.plan.scanner.save() {
        eprintln!("kiln: warning: cannot save the stat cache: {e}");
    }
    session::update_lock(s, &report, locked)?;
    Ok(report)
}

/// Fails (already reported) when a step failed, naming the failed steps.
pub fn check_succeeded(report: &RunReport) -> Result<(), CliError> {
    if report.succeeded() {
        return Ok(());
    }
    let bad: Vec<String> = report
        .steps
        .iter()
        .filter(|r| matches!(r.status, StepStatus::Failed(_) | StepStatus::Unresolved(_)))
        .map(|r| format!("{} {}", r.id, r.status.word()))
        .collect();
    let skipped = report
        .steps
        .iter()
        .filter(|r| r.status == StepStatus::Skipped)
        .count();
    eprintln!(
        "error: the build failed: {} (and {skipped} steps after them skipped)",
        bad.join(", ")
    );
    let failed = report
        .steps
        .iter()
        .any(|r| matches!(r.status, StepStatus::Failed(_)));
    Err(if failed {
        CliError::Reported
    } else {
        CliError::ReportedUnresolved
    })
}

fn summary(s: &session::Session, report: &RunReport) {
    let count = |st: StepStatus| report.steps.iter().filter(|r| r.status == st).count();
    let (ran, cached, current) = (
        count(StepStatus::Ran),
        count(StepStatus::Cached),
        count(StepStatus::UpToDate),
    );
    let names: Vec<&str> = s.plan.targets.iter().map(|t| t.name.as_str()).collect();
    eprintln!(
        "kiln: built {} ({ran} ran, {cached} from cache, {current} up to date) in {}",
        names.join(", "),
        s.project.outdir().display()
    );
    if let Some(line) = remote_summary(report) {
        eprintln!("kiln: remote cache: {line}");
    }
}

/// `5 hits, 2 misses (2 uploaded), 1 error`, when the remote cache was asked.
fn remote_summary(report: &RunReport) -> Option<String> {
    let outcomes: Vec<&RemoteOutcome> = report
        .steps
        .iter()
        .filter_map(|r| r.remote.as_ref())
        .collect();
    if outcomes.is_empty() {
        return None;
    }
    let n = |f: &dyn Fn(&RemoteOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let hits = n(&|o| *o == RemoteOutcome::Hit);
    let misses = n(&|o| matches!(o, RemoteOutcome::Miss { .. }));
    let uploaded = n(&|o| matches!(o, RemoteOutcome::Miss { uploaded: true, .. }));
    let errors = n(&|o| matches!(o, RemoteOutcome::Error { .. }));
    let down = n(&|o| *o == RemoteOutcome::Down);
    let mut line = format!("{hits} hits, {misses} misses ({uploaded} uploaded)");
    if errors > 0 {
        line.push_str(&format!(", {errors} errors"));
    }
    if down > 0 {
        line.push_str(&format!(", {down} not asked (unavailable)"));
    }
    Some(line)
}

/// Takes the project's build lock, saying so when another build holds it.
fn lock_project(state_dir: &Path) -> Result<File, CliError> {
    let path = state_dir.join("lock");
    let fail = |e: std::io::Error| {
        CliError::Failed(format!(
            "cannot take the build lock {}: {e}",
            path.display()
        ))
    };
    std::fs::create_dir_all(state_dir).map_err(fail)?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(fail)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            eprintln!("kiln: waiting for another kiln build of this project to finish");
            file.lock().map_err(fail)?;
        }
        Err(TryLockError::Error(e)) => return Err(fail(e)),
    }
    Ok(file)
}
