//! `kiln plan`: resolve the targets and show the step graph; run nothing, write nothing.

use crate::cli::{Output, PlanArgs};
use crate::error::{CliError, print_stdout};
use crate::render::{plan_table, report_json};
use crate::session;

/// Runs `kiln plan`. Unresolved steps are shown, not failures: the exit code is 0.
pub fn plan(args: &PlanArgs) -> Result<(), CliError> {
    let package = match &args.name {
        Some(name) => Some(crate::pkg::package_options(name, args.format)?),
        None => None,
    };
    let s = session::open_with(
        &args.project,
        None,
        session::Extras {
            package,
            runtime_kernel: true,
            ..Default::default()
        },
    )?;
    let report = session::plan_report(&s)?;
    match args.project.output {
        Output::Json => {
            let mut doc = report_json(&s.plan, &report);
            doc["project"] = crate::render::project_json(&s.project);
            print_stdout(&format!("{doc:#}\n"))
        }
        Output::Human => {
            let header = crate::render::project_lines(&s.project);
            print_stdout(&format!("{header}{}", plan_table(&s.plan, &report)))
        }
    }
}
