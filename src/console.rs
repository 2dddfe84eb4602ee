//! The terminal: everything kiln writes to stderr while a command runs goes through here, so
//! that live lines (one per running step, one per transfer, redrawn in place by indicatif)
//! and the lines that scroll above them never tear each other.
//!
//! Three styles, chosen once per process by `--progress` ([`init`]): `Live` (a terminal:
//! redrawn lines), `Plain` (CI logs and pipes: whole lines only, never an escape code; a
//! running step says it is still running every 10 s), `Quiet` (no progress at all; errors
//! and results still print). stdout is never touched: it is `-o json`'s.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use crate::cli::ProgressMode;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Live lines redrawn in place.
    Live,
    /// Whole lines, with a heartbeat for long steps.
    Plain,
    /// No progress.
    Quiet,
}

struct Console {
    style: Style,
    multi: Option<MultiProgress>,
}

static CONSOLE: OnceLock<Console> = OnceLock::new();

/// Chooses the style for this process (`auto`: live on a terminal, plain elsewhere). The
/// first call wins; later ones return the style already chosen.
pub fn init(mode: ProgressMode) -> Style {
    CONSOLE
        .get_or_init(|| {
            let style = match mode {
                ProgressMode::Tty => Style::Live,
                ProgressMode::Plain => Style::Plain,
                ProgressMode::None => Style::Quiet,
                ProgressMode::Auto => match std::io::stderr().is_terminal()
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
                {
                    true => Style::Live,
                    false => Style::Plain,
                },
            };
            let multi = (style == Style::Live).then(|| {
                let target = match std::io::stderr().is_terminal() {
                    true => ProgressDrawTarget::stderr_with_hz(10),
                    // `--progress tty` into a pipe: draw anyway (a recorded session, a test).
                    false => ProgressDrawTarget::term_like_with_hz(Box::new(AnsiStderr), 10),
                };
                MultiProgress::with_draw_target(target)
            });
            Console { style, multi }
        })
        .style
}

fn get() -> &'static Console {
    CONSOLE.get_or_init(|| Console {
        style: Style::Plain,
        multi: None,
    })
}

/// The style in force.
pub fn style() -> Style {
    get().style
}

/// Prints a whole line on stderr, above the live lines if there are any.
pub fn line(text: &str) {
    match &get().multi {
        Some(m) => {
            if m.println(text).is_err() {
                eprintln!("{text}");
            }
        }
        None => eprintln!("{text}"),
    }
}

/// A new live line (`None` unless the style is live).
pub fn live_line() -> Option<ProgressBar> {
    let multi = get().multi.as_ref()?;
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    Some(multi.add(bar))
}

/// Takes a live line away.
pub fn remove(bar: &ProgressBar) {
    bar.finish_and_clear();
    if let Some(m) = &get().multi {
        m.remove(bar);
    }
}

/// stderr as a terminal whether or not it is one, for `--progress tty` (indicatif draws
/// nothing on what is not a terminal).
#[derive(Debug)]
struct AnsiStderr;

impl AnsiStderr {
    fn put(&self, s: &str) -> std::io::Result<()> {
        std::io::stderr().lock().write_all(s.as_bytes())
    }
}

impl TermLike for AnsiStderr {
    fn width(&self) -> u16 {
        120
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.put(&format!("\x1b[{n}A")),
        }
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.put(&format!("\x1b[{n}B")),
        }
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.put(&format!("\x1b[{n}C")),
        }
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.put(&format!("\x1b[{n}D")),
        }
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// No line before a transfer has run this long (quick ones print nothing).
const QUIET_FOR: Duration = Duration::from_secs(1);
/// How often a plain transfer line repeats.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// The progress of one download, push or pull: bytes and rate. Live: a line redrawn in
/// place. Plain: a line after a second, then every ten. A transfer that showed anything ends
/// with a line saying how it went.
pub struct Transfer {
    label: String,
    started: Instant,
    state: Mutex<TransferState>,
}

struct TransferState {
    bar: Option<ProgressBar>,
    printed: Option<Instant>,
    shown: bool,
}

impl Transfer {
    /// A transfer of `label` (a URL, a blob) starting now.
    pub fn new(label: &str) -> Transfer {
        Transfer {
            label: label.to_string(),
            started: Instant::now(),
            state: Mutex::new(TransferState {
                bar: None,
                printed: None,
                shown: false,
            }),
        }
    }

    /// `done` bytes of `total` (if known) have moved.
    pub fn update(&self, done: u64, total: Option<u64>) {
        let elapsed = self.started.elapsed();
        if elapsed < QUIET_FOR || style() == Style::Quiet {
            return;
        }
        let Ok(mut s) = self.state.lock() else { return };
        let text = transfer_line(&self.label, done, total, elapsed);
        s.shown = true;
        if style() == Style::Live {
            let bar = match &s.bar {
                Some(b) => b.clone(),
                None => match live_line() {
                    Some(b) => {
                        s.bar = Some(b.clone());
                        b
                    }
                    None => return,
                },
            };
            bar.set_message(text);
            bar.tick();
            return;
        }
        if s.printed.is_none_or(|p| p.elapsed() >= PLAIN_EVERY) {
            s.printed = Some(Instant::now());
            line(&text);
        }
    }

    /// The transfer ended: `Some(bytes)` when it completed, `None` when it failed.
    pub fn finish(&self, got: Option<u64>) {
        let Ok(mut s) = self.state.lock() else { return };
        if let Some(bar) = s.bar.take() {
            remove(&bar);
        }
        if !s.shown {
            return;
        }
        let elapsed = self.started.elapsed();
        line(&match got {
            Some(n) => format!(
                "kiln: {} {}: {} in {:.1} s ({})",
                past_tense(&self.label),
                rest_of_label(&self.label),
                human(n),
                elapsed.as_secs_f64(),
                rate(n, elapsed)
            ),
            None => format!(
                "kiln: {} failed after {:.1} s",
                self.label,
                elapsed.as_secs_f64()
            ),
        });
    }
}

/// `downloading URL` -> `downloaded`; a label without a verb keeps `moved`.
fn past_tense(label: &str) -> &'static str {
    match label.split_whitespace().next() {
        Some("downloading") => "downloaded",
        Some("pushing") => "pushed",
        Some("pulling") => "pulled",
        _ => "moved",
    }
}

fn rest_of_label(label: &str) -> &str {
    match label.split_once(' ') {
        Some((verb, rest)) if past_tense(verb) != "moved" => rest,
        _ => label,
    }
}

/// `512 B`, `3.5 KiB`, `12.0 MiB`, `1.2 GiB`.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", b / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", b / 1_048_576.0),
        _ => format!("{:.1} GiB", b / 1_073_741_824.0),
    }
}

fn rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    format!("{}/s", human((bytes as f64 / secs) as u64))
}

/// A transfer's progress line: `kiln: downloading URL: 3.0 MiB of 12.0 MiB (25%), 1.5 MiB/s`.
pub fn transfer_line(label: &str, done: u64, total: Option<u64>, elapsed: Duration) -> String {
    let of = match total {
        Some(t) if t > 0 => format!(
            "{} of {} ({}%)",
            human(done),
            human(t),
            (done.min(t) * 100) / t
        ),
        _ => human(done),
    };
    format!("kiln: {label}: {of}, {}", rate(done, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_lines_say_how_far_and_how_fast() {
        let d = Duration::from_secs(2);
        assert_eq!(
            transfer_line("downloading http://h/a.tgz", 3 << 20, Some(12 << 20), d),
            "kiln: downloading http://h/a.tgz: 3.0 MiB of 12.0 MiB (25%), 1.5 MiB/s"
        );
        let l = transfer_line("pulling u", 1 << 20, None, Duration::from_secs(1));
        assert_eq!(l, "kiln: pulling u: 1.0 MiB, 1.0 MiB/s");
        let l = transfer_line("pushing u", 300, Some(3 << 10), d);
        assert_eq!(l, "kiln: pushing u: 300 B of 3.0 KiB (9%), 150 B/s");
        assert_eq!(human(3 << 30), "3.0 GiB");
        // A server that sends more than it announced does not make it over 100%.
        let l = transfer_line("u", 20, Some(10), Duration::from_secs(1));
        assert!(l.contains("(100%)"), "{l}");
        assert_eq!(past_tense("downloading x"), "downloaded");
        assert_eq!(rest_of_label("pushing blob sha256:ab"), "blob sha256:ab");
        assert_eq!(rest_of_label("blob"), "blob");
    }
}
