//! [`SourceError`]: why a component's source could not be had, each message ending in what
//! to do about it.

use std::path::PathBuf;

/// Why a component's source could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Going on would need the network, which is off (`--offline`).
    #[error(
        "`{component}` needs the network: {why}, so {url} must be fetched, but --offline is set; {hint}"
    )]
    NeedsNetwork {
        /// The component (`unikraft`, `lib/<name>`, `template`).
        component: String,
        /// The URL it would fetch (after mirrors).
        url: String,
        /// What is missing from the cache.
        why: String,
        /// What to do instead.
        hint: String,
    },
    /// A git command failed.
    #[error("`{component}`: `{command}` failed for {url}:\n{stderr}\n{hint}")]
    Git {
        /// The component.
        component: String,
        /// The URL (after mirrors).
        url: String,
        /// The git command.
        command: String,
        /// The tail of git's stderr.
        stderr: String,
        /// What to do.
        hint: String,
    },
    /// The source, or the version asked for, does not exist.
    #[error("`{component}`: {what}; {hint}")]
    NotFound {
        /// The component.
        component: String,
        /// What is missing.
        what: String,
        /// What to do.
        hint: String,
    },
    /// `--locked` is set and the lock file does not pin this component as it would now be.
    #[error(
        "`{component}`: {detail}, and --locked forbids changing Kraftfile.lock; run `kiln lock --update` and commit the lock file, or build without --locked"
    )]
    LockMismatch {
        /// The component.
        component: String,
        /// What differs.
        detail: String,
    },
    /// The component's source as written cannot be used.
    #[error("`{component}`: {message}")]
    Spec {
        /// The component.
        component: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A download failed (no connection, an HTTP error, cut short) or could not be stored.
    #[error("download of {url} failed: {reason}; nothing was cached")]
    Download {
        /// The URL (before mirrors).
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A URL served other bytes than Kraftfile.lock pins.
    #[error(
        "{url} now serves other bytes than Kraftfile.lock pins: sha256 {actual}, expected {expected}"
    )]
    ArchiveChanged {
        /// The URL (before mirrors).
        url: String,
        /// The pinned SHA-256.
        expected: String,
        /// What it served now.
        actual: String,
    },
    /// A `runtime:` package could not be resolved or pulled.
    #[error("{reference}: {message}")]
    Registry {
        /// The reference.
        reference: String,
        /// What went wrong and what to do.
        message: String,
        /// The registry could not be reached (not a refusal): the input is unresolved now.
        unreachable: bool,
    },
    /// A file-system error in the git cache.
    #[error("`{component}`: cannot {action} {}: {source}; check the permissions and free space of the kiln cache directory", path.display())]
    Io {
        /// The component.
        component: String,
        /// What kiln was doing (`create`, `lock`, `rename`, ...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl SourceError {
    /// The component the error is about.
    pub fn component(&self) -> &str {
        match self {
            SourceError::NeedsNetwork { component, .. }
            | SourceError::Git { component, .. }
            | SourceError::NotFound { component, .. }
            | SourceError::LockMismatch { component, .. }
            | SourceError::Spec { component, .. }
            | SourceError::Io { component, .. } => component,
            SourceError::Download { url, .. } | SourceError::ArchiveChanged { url, .. } => url,
            SourceError::Registry { reference, .. } => reference,
        }
    }
}

/// The advice for a component that cannot be fetched: a local checkout or a mirror.
pub fn network_hint(override_name: &str, config_file: Option<&std::path::Path>) -> String {
    let file = config_file.map_or_else(
        || "the kiln config file ($KILN_CONFIG or ~/.config/kiln/config.toml)".to_string(),
        |f| f.display().to_string(),
    );
    format!(
        "pass `--source {override_name}=PATH` to build from a local checkout, or map the URL to a reachable mirror under [mirrors] in {file}"
    )
}
