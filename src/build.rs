//! `kiln build`: plan one project or every project of `DIR/...`, take their locks, run the
//! engine over one graph, report. `--check` (check.rs) and `--watch` (watch.rs) build on
//! the same pieces; fetch, pkg and run use [`build_session`].

use std::fs::{File, TryLockError};
use std::path::Path;
use std::sync::Arc;

use kiln_cache::LocalStore;
use kiln_engine::graph::Graph;
use kiln_engine::remote::RemoteSettings;
use kiln_engine::report::{RunReport, StepStatus};
use kiln_engine::run::{Mode, RunConfig, run};
use kiln_engine::scope::Scoped;
use kiln_engine::state::StateDir;
use kiln_engine::step::Step;

use crate::cli::{BuildArgs, BuildCmd, Output, ShowArgs};
use crate::error::{CliError, print_stdout};
use crate::progress::Progress;
use crate::session;
use crate::workspace::{self, Workspace};

/// Runs `kiln build`.
pub fn build(cmd: &BuildCmd) -> Result<(), CliError> {
    let args = &cmd.build;
    crate::console::init(args.show.progress);
    if cmd.watch {
        return crate::watch::build(cmd);
    }
    let jobs = session::jobs(args.jobs)?;
    let ws = workspace::open(
        &args.project,
        Some(jobs),
        &session::Extras::default(),
        args.keep_going,
    )?;
    let report = traced(&args.show, "build", || {
        build_workspace(&ws, jobs, &RunOpts::of(args))
    })?;
    report_build(&ws, &report, args)?;
    if cmd.check {
        crate::check::check(&ws, args, jobs, &report)?;
    }
    Ok(())
}

/// Runs `f` with `--trace` recording, and writes the profile afterwards (also when `f`
/// failed: a profile of a failed build is still worth reading).
pub fn traced<T>(
    show: &ShowArgs,
    command: &str,
    f: impl FnOnce() -> Result<T, CliError>,
) -> Result<T, CliError> {
    let Some(path) = &show.trace else {
        return f();
    };
    crate::trace::start();
    let out = f();
    crate::trace::finish(path, command)?;
    out
}

/// How a build runs and shows itself.
#[derive(Clone, Copy)]
pub struct RunOpts<'a> {
    /// `--explain`.
    pub explain: bool,
    /// `--locked`.
    pub locked: bool,
    /// `--keep-going`.
    pub keep_going: bool,
    /// `-v`: the tools' output.
    pub tool_output: bool,
    /// Use this store instead of the cache, and no remote cache (`--check`'s rebuild).
    pub scratch: Option<&'a LocalStore>,
}

impl RunOpts<'_> {
    /// The options `args` give.
    pub fn of(args: &BuildArgs) -> RunOpts<'static> {
        RunOpts {
            explain: args.explain,
            locked: args.project.locked,
            keep_going: args.keep_going,
            tool_output: args.verbose,
            scratch: None,
        }
    }
}

/// One project's steps in a build: all of its plan, or a part (`kiln fetch`).
pub struct Part<'a> {
    /// The prefix of its ids in a merged graph (empty for a single project).
    pub prefix: &'a str,
    /// The project.
    pub session: &'a session::Session,
    /// Its steps to run.
    pub steps: Vec<Arc<dyn Step>>,
}

/// Builds every project of `ws`.
pub fn build_workspace(
    ws: &Workspace,
    jobs: usize,
    opts: &RunOpts<'_>,
) -> Result<RunReport, CliError> {
    build_parts(&parts_of(ws, |_| true), jobs, opts)
}

/// The parts of `ws`: each member's steps that `keep` selects.
pub fn parts_of<'w>(ws: &'w Workspace, keep: impl Fn(&dyn Step) -> bool) -> Vec<Part<'w>> {
    ws.members
        .iter()
        .map(|m| Part {
            prefix: &m.prefix,
            session: &m.session,
            steps: m
                .session
                .plan
                .steps
                .iter()
                .filter(|s| keep(s.as_ref()))
                .cloned()
                .collect(),
        })
        .collect()
}

/// Builds the session's plan under the project lock; saves the stat cache and the lock file.
pub fn build_session(
    s: &session::Session,
    jobs: usize,
    opts: &RunOpts<'_>,
) -> Result<RunReport, CliError> {
    let part = Part {
        prefix: "",
        session: s,
        steps: s.plan.steps.clone(),
    };
    build_parts(&[part], jobs, opts)
}

/// Runs the parts' steps as one graph under every part's project lock; saves their stat
/// caches and lock files.
pub fn build_parts(
    parts: &[Part<'_>],
    jobs: usize,
    opts: &RunOpts<'_>,
) -> Result<RunReport, CliError> {
    if opts.explain {
        for p in parts {
            crate::console::line(crate::render::project_lines(&p.session.project).trim_end());
        }
    }
    let _locks = lock_projects(parts)?;
    let opened;
    let store = match opts.scratch {
        Some(s) => s,
        None => {
            opened = session::open_store()?;
            &opened
        }
    };
    if let Some(root) = store.read_only() {
        crate::console::line(&format!(
            "kiln: the cache at {} is read-only: results are taken from it, but nothing this \
             build makes will be stored",
            root.display()
        ));
    }
    let (graph, state) = merged(parts)?;
    let progress = Progress::new(opts.explain, opts.tool_output);
    let sink = crate::trace::TraceSink { inner: &progress };
    // The remote cache the command chose (shared by all projects); none for a scratch build.
    let choice = parts
        .first()
        .and_then(|p| p.session.remote.as_ref())
        .filter(|_| opts.scratch.is_none());
    let cache = choice.map(crate::remote::open).transpose()?;
    let settings = cache.as_ref().zip(choice).map(|(c, choice)| {
        let upload = choice.upload && store.read_only().is_none();
        RemoteSettings::new(c.as_ref(), upload, choice.required)
    });
    let cfg = RunConfig {
        mode: Mode::Build,
        jobs,
        store,
        state: &state,
        events: &sink,
        remote: settings.as_ref(),
        keep_going: opts.keep_going,
    };
    let report = progress.around(|| run(&graph, &cfg));
    for p in parts {
        if let Err(e) = p.session.plan.scanner.save() {
            crate::console::line(&format!("kiln: warning: cannot save the stat cache: {e}"));
        }
    }
    if opts.scratch.is_none() {
        let prefixes: Vec<&str> = parts.iter().map(|p| p.prefix).collect();
        for (p, own) in parts.iter().zip(split_report(&report, &prefixes)) {
            session::update_lock(p.session, &own, opts.locked)?;
        }
    }
    Ok(report)
}

/// Runs the workspace's graph as a plan: every source hashed (through the stat cache and
/// the watcher), nothing run, nothing written.
pub fn plan_workspace(ws: &Workspace) -> Result<RunReport, CliError> {
    plan_parts(&parts_of(ws, |_| true))
}

/// [`plan_workspace`] of some parts (one session's whole plan, for `kiln lock`).
pub fn plan_parts(parts: &[Part<'_>]) -> Result<RunReport, CliError> {
    let (graph, state) = merged(parts)?;
    let store = session::open_store()?;
    let cfg = RunConfig {
        mode: Mode::Plan,
        jobs: session::jobs(None)?,
        store: &store,
        state: &state,
        events: &kiln_engine::report::NoEvents,
        remote: None,
        keep_going: true,
    };
    Ok(run(&graph, &cfg))
}

/// The graph of the parts' steps and where their state lives: one project's own, or a
/// merged graph of scoped steps.
fn merged(parts: &[Part<'_>]) -> Result<(Graph, StateDir), CliError> {
    let state = |p: &Part<'_>| p.session.project.state_dir().join("state");
    let (steps, states) = match parts {
        [one] if one.prefix.is_empty() => (one.steps.clone(), StateDir::new(&state(one))),
        _ => {
            let steps = parts
                .iter()
                .flat_map(|p| Scoped::wrap(p.prefix, &p.steps))
                .collect();
            let scopes = parts
                .iter()
                .map(|p| (p.prefix.to_string(), state(p)))
                .collect();
            (steps, StateDir::scoped(scopes))
        }
    };
    let graph = Graph::new(steps)
        .map_err(|e| CliError::Failed(format!("internal error in the plan: {e}")))?;
    Ok((graph, states))
}

/// The report of each part (by its prefix), under their own ids, in one pass (a merged
/// graph of a thousand projects has tens of thousands of steps).
pub fn split_report(report: &RunReport, prefixes: &[&str]) -> Vec<RunReport> {
    let mut parts: Vec<RunReport> = prefixes
        .iter()
        .map(|_| RunReport { steps: Vec::new() })
        .collect();
    let index: std::collections::HashMap<&str, usize> =
        prefixes.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let unscoped = |id: &str| -> Option<(usize, usize)> {
        if let Some(&i) = index.get("") {
            return Some((i, 0));
        }
        // A prefix is `<path>:`; ids may hold more colons after it, so try each one.
        id.match_indices(':')
            .find_map(|(at, _)| index.get(&id[..=at]).map(|&i| (i, at + 1)))
    };
    for r in &report.steps {
        let Some((i, cut)) = unscoped(&r.id) else {
            continue;
        };
        let mut r = r.clone();
        r.id = r.id[cut..].to_string();
        r.deps = r
            .deps
            .iter()
            .map(|d| d[cut.min(d.len())..].to_string())
            .collect();
        parts[i].steps.push(r);
    }
    parts
}

/// The build's result as the user sees it: the JSON document or the summary, and the exit.
pub fn report_build(ws: &Workspace, report: &RunReport, args: &BuildArgs) -> Result<(), CliError> {
    if ws.many {
        return crate::summary::report_many(ws, report, args.project.output);
    }
    let s = &ws.members[0].session;
    if args.project.output == Output::Json {
        let mut doc = crate::render::report_json(&s.plan, report);
        doc["ok"] = report.succeeded().into();
        doc["project"] = crate::render::project_json(&s.project);
        print_stdout(&format!("{doc:#}\n"))?;
    }
    check_succeeded(report)?;
    if args.project.output == Output::Human {
        crate::summary::summary(s, report);
    }
    Ok(())
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
    crate::console::line(&format!(
        "error: the build failed: {} (and {skipped} steps after them skipped)",
        bad.join(", ")
    ));
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

/// Takes every part's project lock (in path order, so two merged builds cannot deadlock),
/// then removes what builds killed before they finished left behind in those projects
/// (files of live writers stay).
fn lock_projects(parts: &[Part<'_>]) -> Result<Vec<File>, CliError> {
    let mut state_dirs: Vec<_> = parts
        .iter()
        .map(|p| p.session.project.state_dir())
        .collect();
    state_dirs.sort();
    state_dirs.dedup();
    let locks = state_dirs
        .iter()
        .map(|d| lock_project(d))
        .collect::<Result<Vec<File>, CliError>>()?;
    for p in parts {
        p.session.project.remove_dead_temps();
    }
    kiln_rules::sources::GitCache::remove_dead_temps(&session::cache_dir()?);
    Ok(locks)
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
            crate::console::line("kiln: waiting for another kiln build of this project to finish");
            file.lock().map_err(fail)?;
        }
        Err(TryLockError::Error(e)) => return Err(fail(e)),
    }
    Ok(file)
}
