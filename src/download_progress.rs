//! Progress of downloads on stderr (see [`crate::console::Transfer`]): on a terminal a live
//! line with bytes and rate, in CI logs a line every ten seconds; quick downloads print
//! nothing. Each download is also a span of the `--trace` profile.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kiln_rules::sources::DownloadReporter;

use crate::console::Transfer;

/// Shows the download cache's downloads.
pub struct StderrProgress {
    running: Mutex<BTreeMap<String, Transfer>>,
}

impl StderrProgress {
    pub fn new() -> StderrProgress {
        StderrProgress {
            running: Mutex::new(BTreeMap::new()),
        }
    }
}

impl DownloadReporter for StderrProgress {
    fn waiting(&self, url: &str) {
        crate::console::line(&format!(
            "kiln: waiting for another download of {url} (another target or kiln)"
        ));
    }

    fn progress(&self, url: &str, done: u64, total: Option<u64>, _elapsed: Duration) {
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        running
            .entry(url.to_string())
            .or_insert_with(|| Transfer::new(&format!("downloading {url}")))
            .update(done, total);
    }

    fn finished(&self, url: &str, got: Option<u64>, elapsed: Duration) {
        let transfer = self.running.lock().ok().and_then(|mut r| r.remove(url));
        if let Some(t) = transfer {
            t.finish(got);
        }
        let end = Instant::now();
        let detail = match got {
            Some(n) => format!("{n} bytes"),
            None => "failed".to_string(),
        };
        crate::trace::span("downloads", url, end - elapsed, end, &detail);
    }
}
