//! What a build says when it ends: one line for a project; for `DIR/...`, a table of
//! projects × targets with the steps that ran, came from the cache, were up to date or
//! failed (and the same as JSON with `-o json`), then the failures. Exit 1 if any project
//! failed or could not be planned.

use kiln_engine::remote::RemoteOutcome;
use kiln_engine::report::{RunReport, StepReport, StepStatus};
use serde_json::{Value, json};

use crate::build::split_report;
use crate::cli::Output;
use crate::error::{CliError, print_stdout};
use crate::session::Session;
use crate::workspace::Workspace;

/// The single-project summary line, and what the remote cache did.
pub fn summary(s: &Session, report: &RunReport) {
    let c = Counts::of(report.steps.iter());
    let names: Vec<&str> = s.plan.targets.iter().map(|t| t.name.as_str()).collect();
    crate::console::line(&format!(
        "kiln: built {} ({} ran, {} from cache, {} up to date) in {}",
        names.join(", "),
        c.ran,
        c.cached,
        c.up_to_date,
        s.project.outdir().display()
    ));
    if let Some(line) = remote_summary(report) {
        crate::console::line(&format!("kiln: remote cache: {line}"));
    }
}

/// Step counts by outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Ran here.
    pub ran: usize,
    /// Taken from the local or remote cache.
    pub cached: usize,
    /// Up to date (nothing done).
    pub up_to_date: usize,
    /// Failed or unresolved.
    pub failed: usize,
    /// Not evaluated because something failed.
    pub skipped: usize,
}

impl Counts {
    /// The counts of `steps`.
    pub fn of<'a>(steps: impl Iterator<Item = &'a StepReport>) -> Counts {
        let mut c = Counts::default();
        for r in steps {
            match r.status {
                StepStatus::Ran => c.ran += 1,
                StepStatus::Cached => c.cached += 1,
                StepStatus::UpToDate => c.up_to_date += 1,
                StepStatus::Failed(_) | StepStatus::Unresolved(_) => c.failed += 1,
                StepStatus::Skipped => c.skipped += 1,
                _ => {}
            }
        }
        c
    }

    fn add(&mut self, o: Counts) {
        self.ran += o.ran;
        self.cached += o.cached;
        self.up_to_date += o.up_to_date;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }

    fn json(&self) -> Value {
        json!({
            "ran": self.ran,
            "cached": self.cached,
            "up_to_date": self.up_to_date,
            "failed": self.failed,
            "skipped": self.skipped,
        })
    }
}

/// One row of the table: a project's target.
struct Row {
    project: String,
    target: String,
    counts: Counts,
}

/// The rows of every member, and each member's own report.
fn rows(ws: &Workspace, report: &RunReport) -> (Vec<Row>, Vec<RunReport>) {
    let mut rows = Vec::new();
    let mut reports = Vec::new();
    let prefixes: Vec<&str> = ws.members.iter().map(|m| m.prefix.as_str()).collect();
    for (m, own) in ws.members.iter().zip(split_report(report, &prefixes)) {
        for t in &m.session.plan.targets {
            let steps = own.steps.iter().filter(|s| t.steps.contains(&s.id));
            rows.push(Row {
                project: m.rel.clone(),
                target: t.name.clone(),
                counts: Counts::of(steps),
            });
        }
        reports.push(own);
    }
    (rows, reports)
}

/// The end of a `DIR/...` build.
pub fn report_many(ws: &Workspace, report: &RunReport, output: Output) -> Result<(), CliError> {
    let (rows, reports) = rows(ws, report);
    let failed_projects: Vec<&str> = ws
        .members
        .iter()
        .zip(&reports)
        .filter(|(_, r)| !r.succeeded())
        .map(|(m, _)| m.rel.as_str())
        .chain(ws.broken.iter().map(|b| b.rel.as_str()))
        .collect();
    let ok = failed_projects.is_empty();
    match output {
        Output::Json => print_stdout(&format!("{:#}\n", many_json(ws, &rows, &reports, ok)))?,
        Output::Human => human(ws, report, &rows),
    }
    if ok {
        return Ok(());
    }
    if output == Output::Human {
        crate::console::line(&format!(
            "error: {} of {} projects failed: {}",
            failed_projects.len(),
            ws.members.len() + ws.broken.len(),
            failed_projects.join(", ")
        ));
    }
    Err(CliError::Reported)
}

fn human(ws: &Workspace, report: &RunReport, rows: &[Row]) {
    let mut table = vec![
        ["project", "target", "ran", "cached", "up-to-date", "failed"]
            .map(String::from)
            .to_vec(),
    ];
    let mut total = Counts::default();
    for r in rows {
        total.add(r.counts);
        let c = r.counts;
        table.push(vec![
            r.project.clone(),
            r.target.clone(),
            c.ran.to_string(),
            c.cached.to_string(),
            c.up_to_date.to_string(),
            (c.failed + c.skipped).to_string(),
        ]);
    }
    for b in &ws.broken {
        table.push(vec![
            b.rel.clone(),
            "-".into(),
            "".into(),
            "".into(),
            "".into(),
            "plan".into(),
        ]);
    }
    crate::console::line(crate::render::table(&table).trim_end());
    for b in &ws.broken {
        crate::console::line(&format!("error: {}: {}", b.rel, b.error));
    }
    // Steps shared by targets count once here.
    let all = Counts::of(report.steps.iter());
    crate::console::line(&format!(
        "kiln: built {} projects, {} targets: {} steps ran, {} from cache, {} up to date, {} failed",
        ws.members.len(),
        rows.len(),
        all.ran,
        all.cached,
        all.up_to_date,
        all.failed
    ));
    if let Some(line) = remote_summary(report) {
        crate::console::line(&format!("kiln: remote cache: {line}"));
    }
}

fn many_json(ws: &Workspace, rows: &[Row], reports: &[RunReport], ok: bool) -> Value {
    let mut projects: Vec<Value> = ws
        .members
        .iter()
        .zip(reports)
        .map(|(m, own)| {
            let mut doc = crate::render::report_json(&m.session.plan, own);
            if let Some(targets) = doc["targets"].as_array_mut() {
                for t in targets {
                    let name = t["name"].as_str().unwrap_or_default().to_string();
                    let counts = rows
                        .iter()
                        .find(|r| r.project == m.rel && r.target == name)
                        .map(|r| r.counts.json());
                    t["counts"] = counts.unwrap_or(Value::Null);
                }
            }
            doc["path"] = m.rel.clone().into();
            doc["project"] = crate::render::project_json(&m.session.project);
            doc["ok"] = own.succeeded().into();
            doc["error"] = Value::Null;
            doc
        })
        .collect();
    projects.extend(
        ws.broken
            .iter()
            .map(|b| json!({ "path": b.rel, "ok": false, "error": b.error, "targets": [] })),
    );
    json!({ "ok": ok, "projects": projects })
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
