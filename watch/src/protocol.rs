//! The wire protocol between kiln and the watch daemon: newline-delimited JSON, versioned.
//!
//! Every message is one JSON object on one line carrying `"v": 1`. Requests name their
//! operation in `"op"`, responses their kind in `"reply"`:
//!
//! ```text
//! -> {"v":1,"op":"watch","root":"/home/u/app"}
//! <- {"v":1,"reply":"stamp","instance":1234,"generation":17}
//! -> {"v":1,"op":"query","root":"/home/u/app"}
//! <- {"v":1,"reply":"unknown","reason":"inotify event queue overflowed"}
//! -> {"v":1,"op":"wait","roots":[{"root":"/home/u/app","stamp":{"instance":1234,"generation":17}}],"timeout_ms":10000}
//! <- {"v":1,"reply":"changed","root":"/home/u/app"}        (or "reply":"unchanged" after the timeout)
//! -> {"v":1,"op":"ping"}
//! <- {"v":1,"reply":"pong","instance":1234,"pid":4242}
//! -> {"v":1,"op":"shutdown"}
//! <- {"v":1,"reply":"ok"}
//! ```
//!
//! A request with another version, or one that does not parse, gets `"reply":"error"`.
//! This module only encodes and decodes; it does not know sockets or inotify.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::WatchError;

/// The protocol version this crate speaks; a message with any other `v` is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest line either side accepts; longer input is a protocol error.
pub const MAX_LINE_BYTES: u64 = 64 * 1024;

/// A point in a watched root's history, as seen by one daemon process.
///
/// Two stamps are equal only if they come from the same daemon process (`instance`) and no
/// inotify event under the root was processed between the two answers (`generation`).
/// Generations are handed out from one counter per daemon, so a root that was forgotten and
/// registered again never repeats an earlier stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// Random per daemon process: a restarted daemon never matches an old stamp.
    pub instance: u64,
    /// Changes whenever anything under the root changes (never reused within an instance).
    pub generation: u64,
}

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Start watching `root` (idempotent); answered once the watches are in place.
    Watch {
        /// Absolute path of the directory to watch.
        root: PathBuf,
    },
    /// The current stamp of an already watched `root`.
    Query {
        /// Absolute path, spelled exactly as in the `watch` request.
        root: PathBuf,
    },
    /// Block until one of `roots` is no longer at its stamp (changed, or no longer vouched
    /// for), or `timeout_ms` passes. For `kiln build --watch`.
    Wait {
        /// The roots and the stamps they had when the caller last looked.
        roots: Vec<WaitRoot>,
        /// How long to wait at most (capped by the daemon at a minute).
        timeout_ms: u64,
    },
    /// Liveness check; answered with the daemon's instance and pid.
    Ping,
    /// Ask the daemon to exit.
    Shutdown,
}

/// A root a `wait` watches, with the stamp it is expected to keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitRoot {
    /// Absolute path, spelled exactly as in the `watch` request.
    pub root: PathBuf,
    /// Its stamp when the caller last looked.
    pub stamp: Stamp,
}

/// What the daemon answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Response {
    /// The root is watched and this is its current stamp.
    Stamp(Stamp),
    /// The daemon cannot vouch for the root; the client must scan.
    Unknown {
        /// Why, for `--explain`.
        reason: String,
    },
    /// Answer to `wait`: this root moved from its stamp.
    Changed {
        /// The root.
        root: PathBuf,
    },
    /// Answer to `wait`: nothing changed before the timeout.
    Unchanged,
    /// Answer to `ping`.
    Pong {
        /// The daemon's instance (same as in its stamps).
        instance: u64,
        /// The daemon's process id.
        pid: u32,
    },
    /// Answer to `shutdown`.
    Ok,
    /// The request could not be understood.
    Error {
        /// What was wrong with it.
        message: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    #[serde(flatten)]
    body: T,
}

#[derive(Deserialize)]
struct VersionOnly {
    v: u32,
}

/// One message as a line of JSON, newline included.
pub fn encode<T: Serialize>(body: &T) -> Result<String, WatchError> {
    let envelope = Envelope {
        v: PROTOCOL_VERSION,
        body,
    };
    let mut line =
        serde_json::to_string(&envelope).map_err(|e| WatchError::Protocol(e.to_string()))?;
    line.push('\n');
    Ok(line)
}

/// Parses one line, checking the version before the body so that a newer peer gets a clear
/// "unsupported version" rather than "unknown op".
pub fn decode<T: for<'de> Deserialize<'de>>(line: &str) -> Result<T, WatchError> {
    let version: VersionOnly =
        serde_json::from_str(line).map_err(|e| WatchError::Protocol(e.to_string()))?;
    if version.v != PROTOCOL_VERSION {
        return Err(WatchError::Protocol(format!(
            "unsupported protocol version {}; this side speaks {PROTOCOL_VERSION}",
            version.v
        )));
    }
    let envelope: Envelope<T> =
        serde_json::from_str(line).map_err(|e| WatchError::Protocol(e.to_string()))?;
    Ok(envelope.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_with_version() {
        let req = Request::Watch {
            root: PathBuf::from("/src/app"),
        };
        let line = encode(&req).unwrap();
        assert_eq!(line, "{\"v\":1,\"op\":\"watch\",\"root\":\"/src/app\"}\n");
        assert_eq!(decode::<Request>(&line).unwrap(), req);
    }

    #[test]
    fn stamp_response_is_flat() {
        let resp = Response::Stamp(Stamp {
            instance: u64::MAX,
            generation: 3,
        });
        let line = encode(&resp).unwrap();
        assert_eq!(
            line,
            "{\"v\":1,\"reply\":\"stamp\",\"instance\":18446744073709551615,\"generation\":3}\n"
        );
        assert_eq!(decode::<Response>(&line).unwrap(), resp);
    }

    #[test]
    fn other_versions_are_refused() {
        let err = decode::<Request>("{\"v\":2,\"op\":\"teleport\"}").unwrap_err();
        assert!(
            err.to_string().contains("unsupported protocol version 2"),
            "{err}"
        );
        assert!(decode::<Request>("{\"op\":\"ping\"}").is_err());
        assert!(decode::<Request>("not json").is_err());
    }
}
