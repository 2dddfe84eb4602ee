//! Progress of large downloads on stderr. A download that takes longer than a second gets a
//! line: on a terminal one line redrawn in place (at most ten times a second), elsewhere (CI
//! logs) a line every ten seconds, so a log shows that a slow download is moving without
//! being flooded. Every download that got a progress line ends with one saying how it went.
//! Quick downloads (a cached mirror, a small tarball) print nothing.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kiln_rules::sources::DownloadReporter;

/// No line before a download has run this long.
const QUIET_FOR: Duration = Duration::from_secs(1);

/// Prints to stderr.
pub struct StderrProgress {
    tty: bool,
    /// When each download in flight last printed.
    shown: Mutex<BTreeMap<String, Instant>>,
}

impl StderrProgress {
    pub fn new() -> StderrProgress {
        StderrProgress {
            tty: std::io::stderr().is_terminal(),
            shown: Mutex::new(BTreeMap::new()),
        }
    }

    fn every(&self) -> Duration {
        if self.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(10)
        }
    }
}

/// `512 B`, `3.5 KiB`, `12.0 MiB`, `1.2 GiB`.
fn size(bytes: u64) -> String {
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
    format!("{}/s", size((bytes as f64 / secs) as u64))
}

/// The progress line's text.
pub fn progress_line(url: &str, done: u64, total: Option<u64>, elapsed: Duration) -> String {
    let of = match total {
        Some(t) if t > 0 => format!(
            "{} of {} ({}%)",
            size(done),
            size(t),
            (done.min(t) * 100) / t
        ),
        _ => size(done),
    };
    format!("kiln: downloading {url}: {of}, {}", rate(done, elapsed))
}

impl DownloadReporter for StderrProgress {
    fn waiting(&self, url: &str) {
        eprintln!("kiln: waiting for another download of {url} (another target or kiln)");
    }

    fn progress(&self, url: &str, done: u64, total: Option<u64>, elapsed: Duration) {
        if elapsed < QUIET_FOR {
            return;
        }
        let Ok(mut shown) = self.shown.lock() else {
            return;
        };
        let now = Instant::now();
        if shown
            .get(url)
            .is_some_and(|last| now.duration_since(*last) < self.every())
        {
            return;
        }
        shown.insert(url.to_string(), now);
        let line = progress_line(url, done, total, elapsed);
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r\x1b[K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }

    fn finished(&self, url: &str, got: Option<u64>, elapsed: Duration) {
        let was_shown = self
            .shown
            .lock()
            .map(|mut s| s.remove(url).is_some())
            .unwrap_or(false);
        if !was_shown {
            return;
        }
        let clear = if self.tty { "\r\x1b[K" } else { "" };
        match got {
            Some(n) => eprintln!(
                "{clear}kiln: downloaded {url}: {} in {:.1} s ({})",
                size(n),
                elapsed.as_secs_f64(),
                rate(n, elapsed)
            ),
            None => eprintln!(
                "{clear}kiln: the download of {url} failed after {:.1} s",
                elapsed.as_secs_f64()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_how_far_and_how_fast() {
        let l = progress_line(
            "http://h/a.tgz",
            3 << 20,
            Some(12 << 20),
            Duration::from_secs(2),
        );
        assert_eq!(
            l,
            "kiln: downloading http://h/a.tgz: 3.0 MiB of 12.0 MiB (25%), 1.5 MiB/s"
        );
        let l = progress_line("u", 1 << 20, None, Duration::from_secs(1));
        assert_eq!(l, "kiln: downloading u: 1.0 MiB, 1.0 MiB/s");
        let l = progress_line("u", 300, Some(3 << 10), Duration::from_secs(2));
        assert_eq!(l, "kiln: downloading u: 300 B of 3.0 KiB (9%), 150 B/s");
        assert_eq!(size(3 << 30), "3.0 GiB");
        // A server that sends more than it announced does not make it over 100%.
        let l = progress_line("u", 20, Some(10), Duration::from_secs(1));
        assert!(l.contains("(100%)"), "{l}");
    }
}
