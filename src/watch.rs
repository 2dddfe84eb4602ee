//! `kiln build --watch` and `kiln run --watch`: build, then wait for a change to a source
//! the graph reads (the rootfs, the application, local components, Dockerfile contexts, the
//! Kraftfile's directory), and build again; `run` also reboots the machine after each
//! successful build that changed what it boots.
//!
//! The waiting is the watch daemon's (`wait`: it answers when a root's stamp moves); the
//! roots are the ones the builds' scans asked it about, plus each Kraftfile's directory.
//! A wake-up is only a hint: the projects are planned again (reading nothing the stat cache
//! or the daemon vouches for) and rebuilt only if a source digest or a Kraftfile changed, so
//! kiln's own writes never start a build. Edits in a row collapse into one build (a change
//! ends the wait, then the roots must stay quiet for a moment); a change made while a build
//! runs is seen when the build ends, and the next build starts at once. Without a daemon
//! (`KILN_WATCH=off`), kiln plans again every second instead.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kiln_engine::report::{RunReport, StepStatus};
use kiln_vmm::instance::{self, InstanceDir};
use kiln_watch::WatchClient;

use crate::build::{RunOpts, build_workspace, plan_workspace, report_build};
use crate::cli::{BuildArgs, BuildCmd, RunArgs};
use crate::error::CliError;
use crate::session;
use crate::workspace::{self, Workspace};

/// How long the roots must stay quiet after a change before the build starts.
const SETTLE: Duration = Duration::from_millis(200);
/// The longest a stream of changes can delay a build.
const SETTLE_AT_MOST: Duration = Duration::from_secs(2);
/// How often kiln plans again without a daemon.
const POLL: Duration = Duration::from_secs(1);

/// What was built: every source digest and every Kraftfile's bytes.
type Fingerprint = BTreeMap<String, String>;

/// `kiln build --watch`.
pub fn build(cmd: &BuildCmd) -> Result<(), CliError> {
    let args = &cmd.build;
    let jobs = session::jobs(args.jobs)?;
    let open = || workspace::open(&args.project, Some(jobs), &Default::default(), true);
    watch_loop(args, jobs, open, |ws, report| {
        if let Err(e) = report_build(ws, report, args) {
            e.report();
        }
    })
}

/// Builds whenever a source changes, calling `after` with each build's report.
fn watch_loop(
    args: &BuildArgs,
    jobs: usize,
    open: impl Fn() -> Result<Workspace, CliError>,
    mut after: impl FnMut(&Workspace, &RunReport),
) -> Result<(), CliError> {
    crate::watcher::watch_mode();
    let stop = ctrl_c()?;
    let mut waiter = Waiter {
        client: crate::watcher::client(&session::cache_dir()?),
    };
    let mut built: Option<Fingerprint> = None;
    let opts = RunOpts::of(args);
    crate::console::line(&format!(
        "kiln: watching for changes ({}); Ctrl-C to stop",
        match waiter.client {
            Some(_) => "through the watch daemon",
            None => "planning again every second: no watch daemon",
        }
    ));
    let mut kraftfile_dirs: Vec<PathBuf> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let ws = match open() {
            Ok(ws) => ws,
            Err(e) => {
                e.report();
                waiter.wait(&roots(&kraftfile_dirs), &stop);
                continue;
            }
        };
        kraftfile_dirs = ws
            .members
            .iter()
            .map(|m| m.session.project.kraftfile_dir())
            .collect();
        let now = fingerprint(&ws, &plan_workspace(&ws)?);
        if built.as_ref() != Some(&now) {
            if built.is_some() {
                crate::console::line("kiln: sources changed; building again");
            }
            match build_workspace(&ws, jobs, &opts) {
                Ok(report) => {
                    built = Some(fingerprint(&ws, &report));
                    after(&ws, &report);
                }
                Err(e) => {
                    e.report();
                    built = Some(now);
                }
            }
            continue;
        }
        waiter.wait(&roots(&kraftfile_dirs), &stop);
    }
    Ok(())
}

/// What the watch waits on: the sources the builds scanned, and the Kraftfiles' directories.
fn roots(kraftfile_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut roots = crate::watcher::source_roots();
    roots.extend(kraftfile_dirs.iter().cloned());
    roots.sort();
    roots.dedup();
    roots
}

/// The sources a report hashed and the Kraftfiles of `ws`, by name.
fn fingerprint(ws: &Workspace, report: &RunReport) -> Fingerprint {
    let mut fp: Fingerprint = report
        .steps
        .iter()
        .filter(|r| r.status == StepStatus::Source)
        .filter_map(|r| Some((r.id.clone(), r.source_digest?.to_hex())))
        .collect();
    for m in &ws.members {
        let path = &m.session.project.kraftfile.path;
        let bytes = std::fs::read(path).unwrap_or_default();
        fp.insert(
            format!("{}Kraftfile", m.prefix),
            kiln_engine::Digest::of(&bytes).to_hex(),
        );
    }
    fp
}

/// SIGINT sets the returned flag instead of killing kiln (the watch stops between builds,
/// and `run --watch` stops its machine first).
fn ctrl_c() -> Result<Arc<AtomicBool>, CliError> {
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())
        .map_err(|e| CliError::Failed(format!("cannot handle Ctrl-C: {e}")))?;
    Ok(stop)
}

/// Waits for changes: through the daemon, or by the clock.
struct Waiter {
    client: Option<WatchClient>,
}

impl Waiter {
    /// Returns when a root changed and then stayed quiet for [`SETTLE`], or (without a
    /// daemon) after [`POLL`], or when `stop` is set.
    fn wait(&mut self, roots: &[PathBuf], stop: &AtomicBool) {
        let stamps = self.stamps(roots);
        let Some(stamps) = stamps.filter(|s| !s.is_empty()) else {
            sleep_unless(POLL, stop);
            return;
        };
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let Some(client) = self.client.as_mut() else {
                return sleep_unless(POLL, stop);
            };
            match client.wait(&stamps, Duration::from_millis(500)) {
                Ok(Some(_)) => return self.settle(roots, stop),
                Ok(None) => {}
                Err(_) => self.client = None,
            }
        }
    }

    /// Each root's stamp now (watching it if the daemon does not yet).
    fn stamps(&mut self, roots: &[PathBuf]) -> Option<Vec<(PathBuf, kiln_watch::Stamp)>> {
        let client = self.client.as_mut()?;
        let _ = client.set_timeout(Duration::from_secs(30));
        let stamps = roots
            .iter()
            .filter_map(|r| client.watch(r).ok().map(|s| (r.clone(), s)))
            .collect();
        Some(stamps)
    }

    /// Waits until the roots have been quiet for [`SETTLE`] (at most [`SETTLE_AT_MOST`]).
    fn settle(&mut self, roots: &[PathBuf], stop: &AtomicBool) {
        let until = Instant::now() + SETTLE_AT_MOST;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            let Some(stamps) = self.stamps(roots) else {
                return;
            };
            let Some(client) = self.client.as_mut() else {
                return;
            };
            if !matches!(client.wait(&stamps, SETTLE), Ok(Some(_))) {
                return;
            }
        }
    }
}

fn sleep_unless(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `kiln run --watch`: the watch loop of one target, booting it after every successful
/// build that changed its kernel or initrd (the old machine is asked to quit over QMP
/// first); a failed build leaves the running machine alone.
pub fn run(args: &RunArgs) -> Result<(), CliError> {
    let jobs = session::jobs(args.jobs)?;
    let flags = crate::run::machine_flags(args)?;
    if crate::run_package::is_reference(args) {
        return Err(CliError::Usage(
            "--watch rebuilds a project; it cannot watch a package reference".into(),
        ));
    }
    let build = BuildArgs {
        project: args.project.clone(),
        jobs: args.jobs,
        explain: false,
        verbose: args.verbose,
        keep_going: false,
        show: args.show.clone(),
    };
    let open = || crate::run::open_one_target(args, jobs).map(Workspace::single);
    let mut machine = Machine::default();
    let result = watch_loop(&build, jobs, open, |ws, report| {
        if let Err(e) = crate::build::check_succeeded(report) {
            e.report();
            if machine.running() {
                crate::console::line("kiln: the build failed; the machine keeps running");
            }
            return;
        }
        let booted = boot_inputs(report);
        if machine.running() && machine.booted == booted {
            return;
        }
        match crate::run::project_spec(&ws.members[0].session, args, &flags) {
            Ok(spec) => machine.restart(spec, args, flags.timeout, booted),
            Err(e) => e.report(),
        }
    });
    machine.stop();
    result
}

/// What a boot depends on: the digests of the build's outputs.
fn boot_inputs(report: &RunReport) -> Vec<String> {
    report
        .steps
        .iter()
        .filter_map(|r| r.result.as_ref())
        .flat_map(|r| r.outputs.values().map(|o| o.digest.to_string()))
        .collect()
}

/// The machine `run --watch` keeps: a thread running it in the foreground.
#[derive(Default)]
struct Machine {
    thread: Option<std::thread::JoinHandle<()>>,
    dir: Option<InstanceDir>,
    booted: Vec<String>,
    /// Set while kiln stops the machine itself: its end is then no error to report.
    stopping: Arc<AtomicBool>,
}

impl Machine {
    fn running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the machine (QMP quit, then harder) and removes its instance.
    fn stop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if self.running() {
                crate::console::line(&format!("kiln: stopping {}", dir.name()));
                self.stopping.store(true, Ordering::SeqCst);
                let _ = instance::stop(&dir, crate::run::STOP_GRACE);
            }
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
            let _ = instance::remove(&dir, crate::run::STOP_GRACE);
        }
    }

    /// Stops the running machine, if any, and boots `spec`.
    fn restart(
        &mut self,
        spec: kiln_vmm::spec::MachineSpec,
        args: &RunArgs,
        timeout: Option<Duration>,
        booted: Vec<String>,
    ) {
        self.stop();
        let (tell, told) = std::sync::mpsc::channel();
        let args = RunArgs {
            detach: false,
            watch: true,
            ..args.clone()
        };
        crate::console::line(&format!("kiln: booting {}", spec.kernel.display()));
        self.stopping = Arc::new(AtomicBool::new(false));
        let stopping = self.stopping.clone();
        let thread = std::thread::spawn(move || {
            let fg = crate::run::Foreground {
                caller_handles_ctrl_c: true,
                launched: Some(tell),
            };
            let ended = crate::run::run_qemu(spec, &args, timeout, None, fg);
            // A machine kiln stopped itself (for a new build, or Ctrl-C) ended as asked.
            if let Err(e) = ended
                && !stopping.load(Ordering::SeqCst)
            {
                e.report();
            }
        });
        self.dir = told.recv_timeout(Duration::from_secs(60)).ok();
        self.thread = Some(thread);
        self.booted = booted;
    }
}
