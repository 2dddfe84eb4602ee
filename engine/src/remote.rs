//! The remote cache interface: a second-level cache behind the local [`Store`].
//!
//! The engine does no network I/O; `kiln-remote` implements [`RemoteCache`] over the Bazel
//! HTTP cache protocol and REAPI. The engine decides *when* to ask: an action step that is
//! neither up to date nor in the local store is looked up remotely before it runs (a build
//! only; a plan asks nothing); a result that the remote cache gives is written into the local
//! store first (every blob verified on the way), so that everything downstream reads only
//! local, verified bytes. An action that ran is uploaded after its result is recorded
//! locally. Up-to-date steps and local hits make no remote request at all.
//!
//! Remote trouble never fails a build unless the user asked for that ([`RemoteSettings::
//! required`]): the first "unavailable" error marks the remote down for the rest of the run
//! and is reported once; the steps build locally.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::action::Action;
use crate::digest::ActionKey;
use crate::report::{Event, EventSink};
use crate::step::StepError;
use crate::store::{ActionResult, Store};

/// Why a remote request did not give a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// The server cannot be reached, timed out, or answered with a server error. The remote
    /// is not asked again during this run.
    #[error("{0}")]
    Unavailable(String),
    /// The server refused the credentials (or gave none); like `Unavailable`, but the message
    /// tells the user what to fix.
    #[error("{0}")]
    Refused(String),
    /// The server's entry is unusable: a blob it names is missing, or its bytes do not hash
    /// to its digest. Treated as a miss; nothing of it is used.
    #[error("{0}")]
    Corrupt(String),
}

/// A remote action cache with its CAS.
pub trait RemoteCache: Send + Sync {
    /// What to call it in messages (its URL without credentials).
    fn describe(&self) -> String;

    /// Looks `action` (whose local key is `key`) up. On a hit, every output blob has been
    /// downloaded into `local`, verified against the remote digest while it streamed, and
    /// the returned result names the local blobs. `Ok(None)` is a miss.
    fn fetch(
        &self,
        action: &Action,
        key: &ActionKey,
        local: &dyn Store,
    ) -> Result<Option<ActionResult>, RemoteError>;

    /// Uploads `result` of `action`, reading its blobs from `local`: blobs first, the action
    /// entry last, so the entry never names a blob the server lacks.
    fn upload(
        &self,
        action: &Action,
        key: &ActionKey,
        result: &ActionResult,
        local: &dyn Store,
    ) -> Result<(), RemoteError>;
}

/// What the remote cache did for one step (shown by `--explain`, counted in the summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteOutcome {
    /// The result came from the remote cache.
    Hit,
    /// Not in the remote cache; the step ran (and its result was uploaded, or not).
    Miss {
        /// The result was uploaded after the step ran.
        uploaded: bool,
        /// Why the upload failed, when it did.
        upload_error: Option<String>,
    },
    /// The remote answered unusably or not at all; the step ran locally.
    Error {
        /// What went wrong.
        error: String,
        /// The result built here was uploaded in its place (repairing a bad entry).
        uploaded: bool,
    },
    /// The remote was not asked: it was found down earlier in this run.
    Down,
}

impl RemoteOutcome {
    /// The words `--explain` shows.
    pub fn describe(&self) -> String {
        match self {
            RemoteOutcome::Hit => "remote hit".into(),
            RemoteOutcome::Miss {
                uploaded: true,
                upload_error: _,
            } => "remote miss, uploaded".into(),
            RemoteOutcome::Miss {
                upload_error: Some(e),
                ..
            } => format!("remote miss, upload failed: {e}"),
            RemoteOutcome::Miss { .. } => "remote miss".into(),
            RemoteOutcome::Error {
                error,
                uploaded: true,
            } => format!("remote error: {error}; the result built here was uploaded"),
            RemoteOutcome::Error { error, .. } => format!("remote error: {error}"),
            RemoteOutcome::Down => "remote not asked (unavailable earlier in this build)".into(),
        }
    }
}

/// A remote cache and how to use it during one run.
pub struct RemoteSettings<'a> {
    /// The cache.
    pub cache: &'a dyn RemoteCache,
    /// Upload the results of steps that ran (false: read-only).
    pub upload: bool,
    /// Fail a step, rather than build it locally, when the remote is unavailable.
    pub required: bool,
    down: AtomicBool,
    said: Mutex<Vec<String>>,
}

impl<'a> RemoteSettings<'a> {
    /// Settings for `cache`.
    pub fn new(cache: &'a dyn RemoteCache, upload: bool, required: bool) -> Self {
        RemoteSettings {
            cache,
            upload,
            required,
            down: AtomicBool::new(false),
            said: Mutex::new(Vec::new()),
        }
    }

    /// Whether the remote was found unavailable earlier in this run.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Marks the remote down; true the first time (the caller reports it then).
    pub(crate) fn mark_down(&self) -> bool {
        !self.down.swap(true, Ordering::Relaxed)
    }

    /// True the first time `message` is given (so each problem is reported once).
    pub(crate) fn first_time(&self, message: &str) -> bool {
        let Ok(mut said) = self.said.lock() else {
            return false;
        };
        if said.iter().any(|m| m == message) {
            return false;
        }
        said.push(message.to_string());
        true
    }
}

/// Asks the remote cache for `action` (a build's local miss). A hit (its blobs already in
/// the local store; the caller records it) is returned; a miss, an unusable entry or an unavailable remote gives
/// `None` (noted in `outcome`) unless the remote is required.
pub(crate) fn lookup(
    rs: &RemoteSettings<'_>,
    action: &Action,
    key: &ActionKey,
    local: &dyn Store,
    events: &dyn EventSink,
    outcome: &mut Option<RemoteOutcome>,
) -> Result<Option<ActionResult>, StepError> {
    if rs.is_down() {
        *outcome = Some(RemoteOutcome::Down);
        return required_failure(rs, "it was unavailable earlier in this build");
    }
    match rs.cache.fetch(action, key, local) {
        Ok(Some(result)) => {
            *outcome = Some(RemoteOutcome::Hit);
            Ok(Some(result))
        }
        Ok(None) => {
            *outcome = Some(RemoteOutcome::Miss {
                uploaded: false,
                upload_error: None,
            });
            Ok(None)
        }
        Err(RemoteError::Corrupt(why)) => {
            if rs.first_time(&why) {
                events.event(Event::Remote {
                    message: &format!("{why}; the entry is not used, the step runs here"),
                });
            }
            *outcome = Some(RemoteOutcome::Error {
                error: why,
                uploaded: false,
            });
            Ok(None)
        }
        Err(e) => {
            let why = e.to_string();
            report_down(rs, &why, events);
            *outcome = Some(RemoteOutcome::Error {
                error: why.clone(),
                uploaded: false,
            });
            required_failure(rs, &why)
        }
    }
}

/// Uploads the result of an action that ran, when uploads are on and the remote is up.
pub(crate) fn upload(
    rs: &RemoteSettings<'_>,
    action: &Action,
    key: &ActionKey,
    result: &ActionResult,
    local: &dyn Store,
    events: &dyn EventSink,
    outcome: &mut Option<RemoteOutcome>,
) -> Result<(), StepError> {
    if !rs.upload || rs.is_down() {
        return Ok(());
    }
    let (uploaded, upload_error) = match rs.cache.upload(action, key, result, local) {
        Ok(()) => (true, None),
        Err(RemoteError::Corrupt(why)) => (false, Some(why)),
        Err(e) => {
            let why = e.to_string();
            report_down(rs, &why, events);
            (false, Some(why))
        }
    };
    *outcome = match outcome.take() {
        // The lookup's error stays what is reported; the upload repaired it, or not.
        Some(RemoteOutcome::Error { error, .. }) => Some(RemoteOutcome::Error { error, uploaded }),
        _ => Some(RemoteOutcome::Miss {
            uploaded,
            upload_error: upload_error.clone(),
        }),
    };
    match upload_error {
        Some(why) if rs.is_down() => required_failure(rs, &why).map(|_| ()),
        _ => Ok(()),
    }
}

fn report_down(rs: &RemoteSettings<'_>, why: &str, events: &dyn EventSink) {
    if rs.mark_down() {
        let then = match rs.required {
            true => "the build fails (--remote-required)",
            false => "it is not asked again in this build; steps build here",
        };
        events.event(Event::Remote {
            message: &format!("{why}; {then}"),
        });
    }
}

fn required_failure(rs: &RemoteSettings<'_>, why: &str) -> Result<Option<ActionResult>, StepError> {
    match rs.required {
        true => Err(StepError::Failed(format!(
            "the remote cache {} is required (--remote-required) and {why}",
            rs.cache.describe()
        ))),
        false => Ok(None),
    }
}
