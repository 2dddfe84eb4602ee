//! `kiln plan`: resolve the targets and show the step graph; run nothing, write nothing.
//! `kiln plan DIR/...` shows every project under DIR, one block each.

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
    let extras = session::Extras {
        package,
        runtime_kernel: true,
        ..Default::default()
    };
    let ws = crate::workspace::open(&args.project, None, &extras, false)?;
    // One run of the merged graph (one store, one state lookup per step), split by project.
    let merged = crate::build::plan_workspace(&ws)?;
    let prefixes: Vec<&str> = ws.members.iter().map(|m| m.prefix.as_str()).collect();
    let reports = crate::build::split_report(&merged, &prefixes);
    let mut docs = Vec::new();
    let mut text = String::new();
    for (m, report) in ws.members.iter().zip(reports) {
        let s = &m.session;
        match args.project.output {
            Output::Json => {
                let mut doc = report_json(&s.plan, &report);
                doc["project"] = crate::render::project_json(&s.project);
                if ws.many {
                    doc["path"] = m.rel.clone().into();
                }
                docs.push(doc);
            }
            Output::Human => {
                if ws.many {
                    text.push_str(&format!("== {} ==\n", m.rel));
                }
                text.push_str(&crate::render::project_lines(&s.project));
                text.push_str(&plan_table(&s.plan, &report));
            }
        }
    }
    match (args.project.output, ws.many) {
        (Output::Json, false) => print_stdout(&format!("{:#}\n", docs[0])),
        (Output::Json, true) => {
            print_stdout(&format!("{:#}\n", serde_json::json!({ "projects": docs })))
        }
        (Output::Human, _) => print_stdout(&text),
    }
}
