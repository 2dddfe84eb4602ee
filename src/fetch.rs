//! `kiln fetch`: download everything the selected targets need, without building: component
//! sources (git) and the upstream archives and clones their libraries' make fetches. After
//! it, `kiln build --offline` works on an air-gapped machine. Every fetch step runs, but only
//! what the download cache lacks is downloaded: a second `kiln fetch` makes no request.
//! `--refresh` asks every URL again, so a server that now sends other bytes than
//! Kraftfile.lock pins is found: `--locked` makes that an error naming the URL; otherwise the
//! lock moves and the next build rebuilds.

use kiln_engine::report::StepStatus;
use kiln_rules::plan::FetchMode;

use crate::build::{RunOpts, build_parts, check_succeeded};
use crate::cli::FetchArgs;
use crate::error::CliError;
use crate::session;

/// The step kinds a fetch runs: what resolves sources and what lists and takes downloads.
const FETCH_KINDS: [&str; 3] = ["sources", "kconfig", "fetch"];

/// Runs `kiln fetch` (of one project, or of every project of `DIR/...`).
pub fn fetch(fetch_args: &FetchArgs) -> Result<(), CliError> {
    let args = &fetch_args.build;
    crate::console::init(args.show.progress);
    let mode = if fetch_args.refresh {
        FetchMode::Refresh
    } else {
        FetchMode::Fill
    };
    let jobs = session::jobs(args.jobs)?;
    let extras = session::Extras {
        fetch_mode: mode,
        ..Default::default()
    };
    let ws = crate::workspace::open(&args.project, Some(jobs), &extras, args.keep_going)?;
    let parts = crate::build::parts_of(&ws, |st| FETCH_KINDS.contains(&st.kind()));
    let opts = RunOpts::of(args);
    let report = crate::build::traced(&args.show, "fetch", || build_parts(&parts, jobs, &opts))?;
    for b in &ws.broken {
        crate::console::line(&format!("error: {}: {}", b.rel, b.error));
    }
    check_succeeded(&report)?;
    let fetched = report
        .steps
        .iter()
        .filter(|r| r.kind == "fetch" && r.status == StepStatus::Ran)
        .count();
    let (mut sources, mut archives, mut clones, mut requests) = (0, 0, 0, 0);
    for m in &ws.members {
        let lock = m.session.resolver.lock_entries();
        sources += lock.entries.len();
        archives += lock.downloads.len();
        clones += lock.clones.len();
        requests += m.session.resolver.archives().requests();
    }
    let projects = match ws.many {
        true => format!("{} projects, ", ws.members.len()),
        false => String::new(),
    };
    crate::console::line(&format!(
        "kiln: fetched for {projects}{fetched} target(s): {sources} sources, {archives} archives, \
         {clones} clones pinned; {requests} downloads made now"
    ));
    if !ws.broken.is_empty() {
        return Err(CliError::Reported);
    }
    Ok(())
}
