//! Turning run reports into what the user sees: live progress lines on stderr, a JSON
//! document on stdout. The JSON shape is documented in README.md; keep the two in step.

use std::sync::Mutex;
use std::time::Instant;

use kiln_engine::remote::RemoteOutcome;
use kiln_engine::report::{Event, EventSink, RunReport, StepReport, StepStatus};
use kiln_rules::plan::BuildPlan;
use serde_json::{Value, json};

/// Prints one line per finished step to stderr.
pub struct Progress {
    /// Print the reason with each step.
    pub explain: bool,
    /// Also print steps that did nothing (hashed, up to date).
    pub verbose: bool,
    started: Instant,
    lock: Mutex<()>,
}

impl Progress {
    /// A progress printer.
    pub fn new(explain: bool) -> Self {
        Progress {
            explain,
            verbose: explain,
            started: Instant::now(),
            lock: Mutex::new(()),
        }
    }
}

impl EventSink for Progress {
    fn event(&self, event: Event<'_>) {
        let r = match event {
            Event::Finished(r) => r,
            Event::Executing { id } => return crate::testhook::pause_before(id),
            Event::Damaged { digest } => {
                eprintln!(
                    "kiln: blob {digest} in the cache was damaged (its bytes no longer match \
                     their digest); it was removed, and the steps that made it run again"
                );
                return;
            }
            Event::Missing { digest } => {
                eprintln!(
                    "kiln: blob {digest} is no longer in the cache (cleaned or evicted); the \
                     steps that made it run again"
                );
                return;
            }
            Event::Remote { message } => {
                eprintln!("kiln: remote cache: {message}");
                return;
            }
            Event::Started { .. } => return,
        };
        let quiet = matches!(r.status, StepStatus::Source | StepStatus::UpToDate);
        if quiet && !self.verbose {
            return;
        }
        let _guard = self.lock.lock();
        let t = self.started.elapsed().as_secs_f64();
        let mut line = format!("[{t:6.2}s] {:<10} {:<24}", status_word(r), r.id);
        if r.status == StepStatus::Ran {
            line.push_str(&format!(" ({:.2}s)", r.duration.as_secs_f64()));
        }
        eprintln!("{}", line.trim_end());
        if self.explain {
            eprintln!("           why: {}", r.reason);
            if let Some(remote) = &r.remote {
                eprintln!("           {}", remote.describe());
            }
        }
        if let StepStatus::Failed(msg) | StepStatus::Unresolved(msg) = &r.status {
            for l in msg.lines() {
                eprintln!("           {l}");
            }
        }
    }
}

/// The status word of a progress line: `remote` for a result the remote cache gave.
fn status_word(r: &StepReport) -> &'static str {
    match r.remote {
        Some(RemoteOutcome::Hit) => "remote",
        _ => r.status.word(),
    }
}

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
