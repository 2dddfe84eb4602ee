//! What every project command starts with: load the Kraftfile, select targets, plan, open
//! the cache. Also the environment-derived settings (cache dir, SOURCE_DATE_EPOCH, jobs).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use kiln_cache::LocalStore;
use kiln_engine::report::{RunReport, StepStatus};
use kiln_rules::kraftfile::process_env;
use kiln_rules::plan::{BuildPlan, FetchMode, PlanOptions, plan};
use kiln_rules::project::Project;
use kiln_rules::select::TargetFilter;
use kiln_rules::sources::{
    ComponentId, LockFile, ResolverOptions, SourceResolver, components, load_config, lock_path,
    parse_override, unknown_override_names, would_change_message,
};
use kiln_rules::steps::package::PackageOptions;

use crate::cli::ProjectArgs;
use crate::error::CliError;

/// A planned project, ready to run.
pub struct Session {
    /// The project.
    pub project: Project,
    /// Its plan.
    pub plan: BuildPlan,
    /// The source resolver the plan's sources steps use.
    pub resolver: Arc<SourceResolver>,
    /// Kraftfile.lock as it was before this run.
    pub lock: Option<LockFile>,
    /// The remote cache builds use.
    pub remote: Option<crate::remote::RemoteChoice>,
}

/// What some commands add to a plan.
#[derive(Default, Clone)]
pub struct Extras {
    /// `kiln lock --update`.
    pub update_lock: bool,
    /// `kiln fetch`.
    pub fetch_mode: FetchMode,
    /// `kiln pkg` (and `kiln plan --name`).
    pub package: Option<PackageOptions>,
    /// Plan a registry runtime's steps (run, pkg, lock, plan).
    pub runtime_kernel: bool,
}

/// What every project of one command shares: the cache, the change watcher, the make
/// jobserver (one for all projects of a merged build), the config file, distribution and
/// the remote cache.
pub struct Context {
    /// The machine-wide cache directory.
    pub cache: PathBuf,
    watcher: Option<Arc<dyn kiln_engine::memo::ChangeWatcher>>,
    jobserver: Option<Arc<jobserver::Client>>,
    config: kiln_rules::sources::KilnConfig,
    distribute: Option<Arc<kiln_rules::distribute::Distributor>>,
    remote: Option<crate::remote::RemoteChoice>,
    source_date_epoch: u32,
    /// Plan without the change watcher (a `--check` rebuild reads every source).
    pub no_watcher: bool,
    /// What registries answered, shared by every project of the command.
    registry_answers: Arc<kiln_rules::sources::RegistryAnswers>,
}

/// The shared part of [`open_with`]: a build (`jobs` given) may start the watcher and gets
/// the jobserver.
pub fn context(args: &ProjectArgs, jobs: Option<usize>) -> Result<Context, CliError> {
    let for_build = jobs.is_some();
    let cache = cache_dir()?;
    let watcher = crate::watcher::connect(&cache, for_build);
    let jobserver = match jobs {
        Some(n) => Some(Arc::new(jobserver::Client::new(n).map_err(|e| {
            CliError::Failed(format!("cannot create the make jobserver: {e}"))
        })?)),
        None => None,
    };
    let config = load_config(&process_env)?;
    let distribute = jobserver.as_ref().and_then(|js| {
        crate::distribute::choose(args.distribute, &config.distribute, args.offline, js)
    });
    let remote = crate::remote::choose(&args.remote, &config.remote, args.offline)?;
    Ok(Context {
        cache,
        watcher,
        jobserver,
        config,
        distribute,
        remote,
        source_date_epoch: source_date_epoch()?,
        no_watcher: false,
        registry_answers: Arc::default(),
    })
}

/// [`open`], with what `extras` adds.
pub fn open_with(
    args: &ProjectArgs,
    jobs: Option<usize>,
    extras: Extras,
) -> Result<Session, CliError> {
    let ctx = context(args, jobs)?;
    let project = Project::load(&args.dir, args.kraftfile.as_deref(), &process_env)?;
    open_in(&ctx, args, project, extras, true)
}

/// Plans `project` with what `ctx` shares. `check_overrides`: a `--source` that names no
/// component of the project is an error (not for the projects of `DIR/...`, which need not
/// all have every component).
pub fn open_in(
    ctx: &Context,
    args: &ProjectArgs,
    project: Project,
    extras: Extras,
    check_overrides: bool,
) -> Result<Session, CliError> {
    let Extras {
        update_lock,
        fetch_mode,
        package,
        runtime_kernel,
    } = extras;
    for w in &project.kraftfile.warnings {
        crate::console::line(w.render_warning().trim_end());
    }
    let for_build = ctx.jobserver.is_some();
    let watcher = ctx.watcher.clone().filter(|_| !ctx.no_watcher);
    let opts = PlanOptions {
        filter: TargetFilter {
            plat: args.plat.clone(),
            arch: args.arch.clone(),
            target: args.target.clone(),
        },
        offline: args.offline,
        source_date_epoch: ctx.source_date_epoch,
        watcher,
        read_only: !for_build,
        jobserver: ctx.jobserver.clone(),
        distribute: ctx.distribute.clone(),
        cache_dir: Some(ctx.cache.clone()),
        sources: None,
        shim: std::env::current_exe().ok(),
        fetch_mode,
        package,
        runtime_kernel,
        build_args: build_args(&args.build_args),
        buildkit_host: process_env("KILN_BUILDKIT_HOST"),
    };
    let lock = LockFile::load(&lock_path(&project.kraftfile.path))?;
    let resolver = resolver(
        &project,
        args,
        ctx,
        lock.clone(),
        update_lock,
        check_overrides,
    )?;
    let resolver = Arc::new(resolver);
    let opts = PlanOptions {
        sources: Some(resolver.clone()),
        ..opts
    };
    let plan = plan(&project, &opts, &process_env)?;
    Ok(Session {
        project,
        plan,
        resolver,
        lock,
        remote: ctx.remote.clone(),
    })
}

/// `--build-arg NAME=VALUE`, or `NAME` with the environment's value (Docker's rule: an
/// unset one is left out).
fn build_args(given: &[String]) -> std::collections::BTreeMap<String, String> {
    given
        .iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => process_env(a).map(|v| (a.clone(), v)),
        })
        .collect()
}

/// The resolver for `project`: the config file, `--source` overrides (checked against the
/// project's components), `--offline`, `--locked` and the lock file.
fn resolver(
    project: &Project,
    args: &ProjectArgs,
    ctx: &Context,
    lock: Option<LockFile>,
    update_lock: bool,
    check_overrides: bool,
) -> Result<SourceResolver, CliError> {
    let config = ctx.config.clone();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut overrides = BTreeMap::new();
    for arg in &args.sources {
        let (name, value) = parse_override(arg, &cwd, home.as_deref())
            .map_err(|e| CliError::Usage(format!("--source {arg}: {e}")))?;
        overrides.insert(name, value);
    }
    let mut ids: Vec<ComponentId> = components(&project.kraftfile)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    if project.builds_kernel() && !ids.contains(&ComponentId::Core) {
        ids.push(ComponentId::Core);
    }
    let unknown = match check_overrides {
        true => unknown_override_names(overrides.keys(), &ids),
        false => Vec::new(),
    };
    if let Some((name, hint)) = unknown.first() {
        let hint = hint
            .as_ref()
            .map(|h| format!(" (did you mean `{h}`?)"))
            .unwrap_or_default();
        let known: Vec<&str> = ids.iter().map(|i| i.override_name()).collect();
        return Err(CliError::Usage(format!(
            "--source names `{name}`, which is not a component of this project{hint}; its \
             components are: {}",
            known.join(", ")
        )));
    }
    Ok(SourceResolver::new(ResolverOptions {
        cache_dir: ctx.cache.clone(),
        config,
        overrides,
        offline: args.offline,
        lock,
        update_lock,
        locked: args.locked,
        home,
        registry_answers: ctx.registry_answers.clone(),
        ..ResolverOptions::default()
    })
    .with_download_reporter(std::sync::Arc::new(
        crate::download_progress::StderrProgress::new(),
    )))
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

/// `SOURCE_DATE_EPOCH` as a package's creation time (RFC 3339), or `None` when unset: no
/// wall-clock time ever enters a package.
pub fn package_created() -> Result<Option<String>, CliError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => Ok(Some(kiln_oci::image::rfc3339(u64::from(
            source_date_epoch()?,
        )))),
        _ => Ok(None),
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

/// Writes Kraftfile.lock from what the run resolved, when every source resolved and the lock
/// would change; with `--locked`, a change is an error instead.
pub fn update_lock(s: &Session, report: &RunReport, locked: bool) -> Result<(), CliError> {
    let sources_ok = report
        .steps
        .iter()
        .filter(|r| r.kind == "sources" || r.kind == "runtime")
        .all(|r| r.status == StepStatus::Source);
    if !sources_ok {
        return Ok(());
    }
    let path = lock_path(&s.project.kraftfile.path);
    let new = s.resolver.lock_entries();
    let changes = new.changes_from(s.lock.as_ref());
    if changes.is_empty() {
        return Ok(());
    }
    if locked {
        return Err(CliError::Failed(would_change_message(&path, &changes)));
    }
    let pins_something = !new.entries.is_empty()
        || !new.downloads.is_empty()
        || !new.clones.is_empty()
        || !new.runtimes.is_empty()
        || !new.images.is_empty();
    if s.lock.is_some() || pins_something {
        new.save(&path)?;
        eprintln!("kiln: updated {}: {}", path.display(), changes.join("; "));
    }
    Ok(())
}

/// Runs the session's graph in plan mode: resolves everything, runs nothing, writes no
/// project state.
pub fn plan_report(s: &Session) -> Result<RunReport, CliError> {
    let part = crate::build::Part {
        prefix: "",
        session: s,
        steps: s.plan.steps.clone(),
    };
    crate::build::plan_parts(&[part])
}
