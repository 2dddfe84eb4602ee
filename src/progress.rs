//! What a build shows while it runs: a line per finished step (scrolling, as always), and,
//! per running step, a live line redrawn in place (terminal) or a heartbeat line every ten
//! seconds (logs), so CI never looks hung. With `-v`, the output of the tools a step runs
//! (make's lines), prefixed with the target. All of it on stderr through
//! [`crate::console`].

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use kiln_engine::remote::RemoteOutcome;
use kiln_engine::report::{Event, EventSink, ProgressUnit, StepProgress, StepReport, StepStatus};

use crate::console::{self, Style};

/// How often a plain log repeats that a step is still running (`KILN_HEARTBEAT_SECS`).
const HEARTBEAT: Duration = Duration::from_secs(10);
/// How often live lines are redrawn (their clocks tick).
const TICK: Duration = Duration::from_millis(100);

/// Shows one build.
pub struct Progress {
    /// Print the reason with each step.
    pub explain: bool,
    /// Also print steps that did nothing (hashed, up to date).
    pub verbose_steps: bool,
    /// Show the tools' output lines (`-v`).
    pub tool_output: bool,
    started: Instant,
    heartbeat: Duration,
    running: Mutex<BTreeMap<String, Running>>,
    /// Set when the run is over: the ticker thread stops.
    done: Mutex<bool>,
    wake: Condvar,
}

struct Running {
    kind: String,
    since: Instant,
    progress: Option<StepProgress>,
    bar: Option<ProgressBar>,
    last_beat: Instant,
}

impl Progress {
    /// A display for a build; `explain` prints every step and its reason, `tool_output`
    /// streams the tools' output.
    pub fn new(explain: bool, tool_output: bool) -> Self {
        let heartbeat = std::env::var("KILN_HEARTBEAT_SECS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .map_or(HEARTBEAT, Duration::from_secs_f64);
        Progress {
            explain,
            verbose_steps: explain,
            tool_output,
            started: Instant::now(),
            heartbeat,
            running: Mutex::new(BTreeMap::new()),
            done: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    /// Runs `f` (the build) while a thread keeps the live lines' clocks ticking, or writes
    /// the heartbeat lines of a plain log.
    pub fn around<T>(&self, f: impl FnOnce() -> T) -> T {
        if let Ok(mut d) = self.done.lock() {
            *d = false;
        }
        std::thread::scope(|scope| {
            scope.spawn(|| self.tick_until_done());
            let out = f();
            if let Ok(mut d) = self.done.lock() {
                *d = true;
            }
            self.wake.notify_all();
            out
        })
    }

    fn tick_until_done(&self) {
        let every = match console::style() {
            Style::Live => TICK,
            Style::Plain => self.heartbeat.min(Duration::from_secs(1)),
            Style::Quiet => return,
        };
        let Ok(mut done) = self.done.lock() else {
            return;
        };
        while !*done {
            done = match self.wake.wait_timeout(done, every) {
                Ok((d, _)) => d,
                Err(_) => return,
            };
            if !*done {
                self.tick();
            }
        }
    }

    fn tick(&self) {
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        let now = Instant::now();
        for (id, r) in running.iter_mut() {
            match &r.bar {
                Some(bar) => {
                    bar.set_message(live_text(id, r, now));
                    bar.tick();
                }
                None if now.duration_since(r.last_beat) >= self.heartbeat => {
                    r.last_beat = now;
                    console::line(&heartbeat_line(self.at(), id, r, now));
                }
                None => {}
            }
        }
    }

    fn at(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn started_step(&self, id: &str, kind: &str) {
        let now = Instant::now();
        let bar = console::live_line();
        let run = Running {
            kind: kind.to_string(),
            since: now,
            progress: None,
            bar,
            last_beat: now,
        };
        if let Some(bar) = &run.bar {
            bar.set_message(live_text(id, &run, now));
        }
        if let Ok(mut running) = self.running.lock() {
            running.insert(id.to_string(), run);
        }
    }

    fn progressed(&self, id: &str, progress: &StepProgress) {
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        if let Some(r) = running.get_mut(id) {
            r.progress = Some(progress.clone());
            if let Some(bar) = &r.bar {
                bar.set_message(live_text(id, r, Instant::now()));
            }
        }
    }

    fn finished(&self, r: &StepReport) {
        let run = self.running.lock().ok().and_then(|mut m| m.remove(&r.id));
        if let Some(bar) = run.as_ref().and_then(|r| r.bar.as_ref()) {
            console::remove(bar);
        }
        let quiet = matches!(r.status, StepStatus::Source | StepStatus::UpToDate);
        let failed = matches!(r.status, StepStatus::Failed(_) | StepStatus::Unresolved(_));
        if (quiet && !self.verbose_steps) || (console::style() == Style::Quiet && !failed) {
            return;
        }
        let mut out = vec![finished_line(self.at(), r)];
        if self.explain {
            out.push(format!("           why: {}", r.reason));
            if let Some(remote) = &r.remote {
                out.push(format!("           {}", remote.describe()));
            }
        }
        if let StepStatus::Failed(msg) | StepStatus::Unresolved(msg) = &r.status {
            out.extend(msg.lines().map(|l| format!("           {l}")));
        }
        console::line(&out.join("\n"));
    }
}

impl EventSink for Progress {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Started { id, kind, .. } => self.started_step(id, kind),
            Event::Executing { id } => crate::testhook::pause_before(id),
            Event::Progress { id, progress } => self.progressed(id, progress),
            Event::Output { id, line } if self.tool_output => {
                console::line(&format!("{} | {line}", target_of(id)));
            }
            Event::Output { .. } | Event::Span { .. } => {}
            Event::Finished(r) => self.finished(r),
            Event::Damaged { digest } => console::line(&format!(
                "kiln: blob {digest} in the cache was damaged (its bytes no longer match \
                 their digest); it was removed, and the steps that made it run again"
            )),
            Event::Missing { digest } => console::line(&format!(
                "kiln: blob {digest} is no longer in the cache (cleaned or evicted); the \
                 steps that made it run again"
            )),
            Event::Remote { message } => console::line(&format!("kiln: remote cache: {message}")),
        }
    }
}

/// The target part of a step id (`qemu-x86_64/compile` -> `qemu-x86_64`), which prefixes a
/// tool's output lines.
fn target_of(id: &str) -> &str {
    id.rsplit_once('/').map_or(id, |(target, _)| target)
}

/// A finished step's line: `[  1.23s] ran        qemu-x86_64/compile (0.80s)`.
pub fn finished_line(at: f64, r: &StepReport) -> String {
    let mut line = format!("[{at:6.2}s] {:<10} {:<24}", status_word(r), r.id);
    if r.status == StepStatus::Ran {
        line.push_str(&format!(" ({:.2}s)", r.duration.as_secs_f64()));
    }
    line.trim_end().to_string()
}

/// The status word of a progress line: `remote` for a result the remote cache gave.
fn status_word(r: &StepReport) -> &'static str {
    match r.remote {
        Some(RemoteOutcome::Hit) => "remote",
        _ => r.status.word(),
    }
}

/// How far a step has got, in words: `compile 37/105 objects (estimate)`.
pub fn progress_text(p: &StepProgress, elapsed: Duration) -> String {
    let mut out = p.phase.clone().unwrap_or_default();
    let count = match (p.unit, p.total) {
        (ProgressUnit::Items(what), Some(total)) => {
            let est = if p.estimated { ", estimated" } else { "" };
            format!("{}/{total} {what}{est}", p.done)
        }
        (ProgressUnit::Items(what), None) => format!("{} {what}", p.done),
        (ProgressUnit::Bytes, total) => {
            let secs = elapsed.as_secs_f64().max(0.001);
            let rate = console::human((p.done as f64 / secs) as u64);
            match total {
                Some(t) => format!(
                    "{} of {}, {rate}/s",
                    console::human(p.done),
                    console::human(t)
                ),
                None => format!("{}, {rate}/s", console::human(p.done)),
            }
        }
    };
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(&count);
    out
}

/// A bar of `width` cells for `done` of `total`.
fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = ((done.min(total) as f64 / total.max(1) as f64) * width as f64).round() as usize;
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

/// A running step's live line: `  12.3s compile   qemu-x86_64/compile  ███░░ 37/105 objects`.
fn live_text(id: &str, r: &Running, now: Instant) -> String {
    let elapsed = now.duration_since(r.since);
    let mut line = format!("{:6.1}s {:<9} {id}", elapsed.as_secs_f64(), r.kind);
    if let Some(p) = &r.progress {
        line.push_str("  ");
        if let (ProgressUnit::Items(_), Some(total)) = (p.unit, p.total) {
            line.push_str(&bar(p.done, total, 20));
            line.push(' ');
        }
        line.push_str(&progress_text(p, elapsed));
    }
    line
}

/// A plain log's reminder that a step still runs:
/// `[ 40.00s] running    qemu-x86_64/compile (for 30s; compile 37/105 objects)`.
fn heartbeat_line(at: f64, id: &str, r: &Running, now: Instant) -> String {
    let elapsed = now.duration_since(r.since);
    let mut line = format!(
        "[{at:6.2}s] {:<10} {id} (for {}s",
        "running",
        elapsed.as_secs()
    );
    if let Some(p) = &r.progress {
        line.push_str("; ");
        line.push_str(&progress_text(p, elapsed));
    }
    line.push(')');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(done: u64, total: Option<u64>, estimated: bool) -> StepProgress {
        StepProgress {
            phase: Some("compile".into()),
            done,
            total,
            estimated,
            unit: ProgressUnit::Items("objects"),
        }
    }

    #[test]
    fn progress_reads_as_counts_estimates_and_rates() {
        let s = Duration::from_secs(2);
        assert_eq!(
            progress_text(&compile(37, Some(105), true), s),
            "compile 37/105 objects, estimated"
        );
        assert_eq!(
            progress_text(&compile(37, Some(105), false), s),
            "compile 37/105 objects"
        );
        assert_eq!(
            progress_text(&compile(3, None, false), s),
            "compile 3 objects"
        );
        let bytes = StepProgress {
            phase: None,
            done: 4 << 20,
            total: Some(8 << 20),
            estimated: false,
            unit: ProgressUnit::Bytes,
        };
        assert_eq!(progress_text(&bytes, s), "4.0 MiB of 8.0 MiB, 2.0 MiB/s");
    }

    #[test]
    fn live_and_heartbeat_lines_show_the_clock_and_the_count() {
        let since = Instant::now();
        let r = Running {
            kind: "compile".into(),
            since,
            progress: Some(compile(5, Some(10), false)),
            bar: None,
            last_beat: since,
        };
        let later = since + Duration::from_secs(12);
        assert_eq!(
            live_text("qemu-x86_64/compile", &r, later),
            "  12.0s compile   qemu-x86_64/compile  ██████████░░░░░░░░░░ compile 5/10 objects"
        );
        assert_eq!(
            heartbeat_line(40.0, "qemu-x86_64/compile", &r, later),
            "[ 40.00s] running    qemu-x86_64/compile (for 12s; compile 5/10 objects)"
        );
        assert_eq!(bar(20, 10, 4), "████", "never past full");
        assert_eq!(
            target_of("apps/a:qemu-x86_64/compile"),
            "apps/a:qemu-x86_64"
        );
    }
}
