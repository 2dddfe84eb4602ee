//! `kiln plan`: resolve the targets and show the step graph; run nothing, write nothing.

use kiln_engine::report::NoEvents;
use kiln_engine::run::{Mode, RunConfig, run};
use kiln_engine::state::StateDir;

use crate::cli::{Output, PlanArgs};
use crate::error::{CliError, print_stdout};
use crate::render::{plan_table, report_json};
use crate::session;

/// Runs `kiln plan`. Unresolved steps are shown, not failures: the exit code is 0.
pub fn plan(args: &PlanArgs) -> Result<(), CliError> {
    let s = session::open(&args.project, None)?;
    let store = session::open_store()?;
    let state = StateDir::new(&s.project.state_dir().join("state"));
    let cfg = RunConfig {
        mode: Mode::Plan,
        jobs: session::jobs(None)?,
        store: &store,
        state: &state,
        events: &NoEvents,
    };
    let report = run(&s.graph, &cfg);
    match args.project.output {
        Output::Json => print_stdout(&format!("{:#}\n", report_json(&s.plan, &report))),
        Output::Human => print_stdout(&plan_table(&s.plan, &report)),
    }
}
