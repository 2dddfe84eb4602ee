//! Turning run reports into what the user sees: plan tables, the JSON document on stdout.
//! The JSON shape is documented in README.md; keep the two in step. (Live progress is
//! progress.rs's, summaries summary.rs's.)

use kiln_engine::report::{RunReport, StepReport, StepStatus};
use kiln_rules::plan::BuildPlan;
use serde_json::{Value, json};

/// Where the project is and what its paths resolved to, for `plan` and `--explain`: the
/// project directory (what relative paths in the Kraftfile are relative to), the Kraftfile,
/// and the rootfs as written and as resolved.
pub fn project_lines(project: &kiln_rules::project::Project) -> String {
    let mut out = format!(
        "project {} (Kraftfile {})\n",
        project.dir.display(),
        project.kraftfile.path.display()
    );
    if let Some(r) = &project.kraftfile.rootfs {
        out.push_str(&format!(
            "rootfs  {} -> {}\n",
            r.value,
            project.resolve(&r.value).display()
        ));
    }
    out
}

/// [`project_lines`] as JSON.
pub fn project_json(project: &kiln_rules::project::Project) -> Value {
    let rootfs = project.kraftfile.rootfs.as_ref().map(
        |r| json!({ "written": r.value, "path": project.resolve(&r.value).display().to_string() }),
    );
    json!({
        "dir": project.dir.display().to_string(),
        "kraftfile": project.kraftfile.path.display().to_string(),
        "rootfs": rootfs,
    })
}

/// One step as JSON.
pub fn step_json(r: &StepReport) -> Value {
    let unresolved = match &r.status {
        StepStatus::Unresolved(why) => Value::String(why.clone()),
        _ => Value::Null,
    };
    let error = match &r.status {
        StepStatus::Failed(why) => Value::String(why.clone()),
        _ => Value::Null,
    };
    json!({
        "id": r.id,
        "kind": r.kind,
        "key": r.key.map(|k| k.to_hex()),
        "digest": r.source_digest.map(|d| d.to_hex()),
        "deps": r.deps,
        "cached": r.status.is_cached(),
        "status": r.status.word(),
        "unresolved": unresolved,
        "error": error,
        "reason": r.reason.to_string(),
        "remote": r.remote.as_ref().map(|o| o.describe()),
    })
}

/// The whole report as JSON, grouped by target.
pub fn report_json(plan: &BuildPlan, report: &RunReport) -> Value {
    let targets: Vec<Value> = plan
        .targets
        .iter()
        .map(|t| {
            let steps: Vec<Value> = report
                .steps
                .iter()
                .filter(|s| t.steps.contains(&s.id))
                .map(step_json)
                .collect();
            json!({
                "name": t.name,
                "plat": t.target.plat.to_string(),
                "arch": t.target.arch.to_string(),
                "steps": steps,
            })
        })
        .collect();
    json!({ "targets": targets })
}

/// A human table of the plan: one block per target.
pub fn plan_table(plan: &BuildPlan, report: &RunReport) -> String {
    let mut out = String::new();
    for t in &plan.targets {
        out.push_str(&format!(
            "target {} ({}/{})\n",
            t.name, t.target.plat, t.target.arch
        ));
        for s in report.steps.iter().filter(|s| t.steps.contains(&s.id)) {
            let key = s
                .key
                .map(|k| k.to_hex()[..16].to_string())
                .or_else(|| s.source_digest.map(|d| format!("={}", &d.to_hex()[..15])))
                .unwrap_or_else(|| "-".repeat(16));
            out.push_str(&format!(
                "  {:<24} {:<8} {key}  {:<10}",
                s.id,
                s.kind,
                s.status.word()
            ));
            match &s.status {
                StepStatus::Unresolved(why) | StepStatus::Failed(why) => {
                    out.push_str(&format!(" {}", why.replace('\n', "\n      ")))
                }
                StepStatus::Pending | StepStatus::Skipped => {
                    out.push_str(&format!(" {}", s.reason))
                }
                _ => {}
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
            if !s.deps.is_empty() {
                out.push_str(&format!("  {:<24} after: {}\n", "", s.deps.join(", ")));
            }
        }
    }
    out
}

/// Rows as left-aligned columns separated by two spaces (the first row is the header).
pub fn table<R: AsRef<[String]>>(rows: &[R]) -> String {
    let columns = rows.first().map_or(0, |r| r.as_ref().len());
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.as_ref().get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .as_ref()
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
