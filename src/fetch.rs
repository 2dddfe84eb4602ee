//! `kiln fetch`: download everything the selected targets need, without building: component
//! sources (git) and the upstream archives and clones their libraries' make fetches. After
//! it, `kiln build --offline` works on an air-gapped machine. Every fetch step runs, but only
//! what the download cache lacks is downloaded: a second `kiln fetch` makes no request.
//! `--refresh` asks every URL again, so a server that now sends other bytes than
//! Kraftfile.lock pins is found: `--locked` makes that an error naming the URL; otherwise the
//! lock moves and the next build rebuilds.

use kiln_engine::graph::Graph;
use kiln_engine::report::StepStatus;
use kiln_rules::plan::FetchMode;

use crate::build::{build_graph, check_succeeded};
use crate::cli::FetchArgs;
use crate::error::CliError;
use crate::session;

/// The step kinds a fetch runs: what resolves sources and what lists and takes downloads.
const FETCH_KINDS: [&str; 3] = ["sources", "kconfig", "fetch"];

/// Runs `kiln fetch`.
pub fn fetch(fetch_args: &FetchArgs) -> Result<(), CliError> {
    let args = &fetch_args.build;
    let mode = if fetch_args.refresh {
        FetchMode::Refresh
    } else {
        FetchMode::Fill
    };
    let jobs = session::jobs(args.jobs)?;
    let s = session::open_with(
        &args.project,
        Some(jobs),
        session::Extras {
            fetch_mode: mode,
            ..Default::default()
        },
    )?;
    let steps = s
        .plan
        .steps
        .iter()
        .filter(|st| FETCH_KINDS.contains(&st.kind()))
        .cloned()
        .collect();
    let graph = Graph::new(steps)
        .map_err(|e| CliError::Failed(format!("internal error in the fetch plan: {e}")))?;
    let report = build_graph(&s, &graph, jobs, args.explain, args.project.locked)?;
    check_succeeded(&report)?;
    let lock = s.resolver.lock_entries();
    let fetched = report
        .steps
        .iter()
        .filter(|r| r.kind == "fetch" && r.status == StepStatus::Ran)
        .count();
    eprintln!(
        "kiln: fetched for {} target(s): {} sources, {} archives, {} clones pinned; {} \
         downloads made now",
        fetched,
        lock.entries.len(),
        lock.downloads.len(),
        lock.clones.len(),
        s.resolver.archives().requests(),
    );
    Ok(())
}
