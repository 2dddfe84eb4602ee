//! What the download cache tells its user while it downloads: the trait the CLI implements
//! (a silent default for library users and tests).

use std::time::Duration;

/// Hears about the downloads [`super::SourceResolver`] makes. Called from the thread that
/// downloads, so several downloads may report at once.
pub trait DownloadReporter: Send + Sync {
    /// Another thread or process is downloading `url`; this one waits for it, and will use
    /// its copy.
    fn waiting(&self, url: &str) {
        let _ = url;
    }
    /// `done` bytes of `url` have arrived after `elapsed`, of `total` if the server said.
    fn progress(&self, url: &str, done: u64, total: Option<u64>, elapsed: Duration);
    /// `url` arrived whole (`size` bytes in `elapsed`), or failed (`size` is `None`).
    fn finished(&self, url: &str, size: Option<u64>, elapsed: Duration);
}
