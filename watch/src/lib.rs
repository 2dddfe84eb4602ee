//! `kiln-watch`: a small per-user daemon that watches source trees with inotify and answers
//! "has anything under ROOT changed since stamp S?" in microseconds, so that a no-op
//! `kiln build` need not `lstat` every source file. Linux only.
//!
//! # Design
//!
//! * [`serve`] runs the daemon on a Unix socket chosen by the caller (one daemon per socket
//!   path, enforced by an advisory lock on `<socket>.lock`). It watches any number of roots,
//!   added on demand by `watch` requests, and exits after an idle timeout.
//! * Per root, every directory gets an inotify watch (symlinks are never followed below the
//!   root), and the root has a *generation* that changes on every event under it. A new
//!   directory (created or moved in) is watched recursively when its event is processed.
//! * Anything the daemon cannot account for makes the root `Unknown` until it is registered
//!   again: a queue overflow, a failure to add a watch (e.g. `ENOSPC` from
//!   `fs.inotify.max_user_watches`), the root being deleted, moved or unmounted, or the root
//!   path naming a different directory than the one watched (checked with one `stat` per
//!   answer, which also catches renamed ancestors and re-pointed symlinks).
//! * A [`Stamp`] is `(instance, generation)`. `instance` is random per daemon process and
//!   generations come from one counter per process, so a stamp can never be repeated by a
//!   restarted daemon or by a root that was forgotten and registered again.
//! * The protocol is newline-delimited, versioned JSON ([`protocol`]); [`WatchClient`] speaks
//!   it with short timeouts and returns `None` when no daemon answers.
//!
//! # Soundness rule
//!
//! inotify queues an event synchronously inside the system call that makes the change: when
//! `write`, `rename`, `chmod`, `unlink`, ... returns, its event is already in the queue. On
//! *every* `watch` and `query` the daemon first drains its inotify descriptor (non-blocking
//! reads until `EAGAIN`) and processes every event, adding watches for new directories,
//! before it answers. Therefore any change that completed before the client sent its request
//! is reflected in the answer. A directory created under a watched one is covered in the
//! meantime because its creation is itself an event on the (watched) parent, and a
//! directory's watch is added before its entries are listed, so nothing made in between can
//! be missed. The daemon also drains in the background whenever the descriptor is readable,
//! which keeps the kernel queue short; that is only an optimisation.
//!
//! Known blind spots (git's fsmonitor has the same): writes through a shared writable
//! `mmap` raise no inotify event; network file systems (NFS, SMB, 9p, FUSE in general) do not
//! report changes made by other machines; a mount or bind mount made over a directory inside
//! a root, or changed from another mount namespace, raises no event. Also, inotify reports a
//! change to the watched parent of the *name* it was made through, so a file inside the root
//! that has a hard link outside it can change (through the outside name) unseen.
//!
//! # How kiln uses it
//!
//! ```text
//! cold build:  S = client.watch(root)?        // watches are in place when this returns
//!              digest = scan(root)            // the scan starts after S was issued
//!              state.store(root, S, digest)
//! next build:  if client.query(root) == Ok(Some(S)) { reuse digest; stat nothing }
//!              else { S' = client.watch(root) (if a daemon answers); scan; store (S', ..) }
//! ```
//!
//! kiln stores `S` only if the scan found no regular file whose link count exceeds its number
//! of names inside the tree (the hard-link blind spot above); otherwise it always scans.
//!
//! If `query` returns exactly `S`, no event under `root` was processed since `S` was issued,
//! and every change completed before the query was sent would have been processed, so the
//! tree is unchanged since before the last scan began and its digest is still right. Any
//! difference, `None`, a missing daemon or an error means "scan". When no daemon answers,
//! kiln starts one with [`spawn_daemon`] (running the hidden `kiln __watch-daemon --socket
//! PATH`, which calls [`serve`] with [`DEFAULT_IDLE_TIMEOUT`]) and scans this time.
//!
//! Architecture invariant: this crate never hashes or scans file contents and knows nothing
//! of kiln's trees; it only says "unchanged since S" or "don't know".

#![cfg(target_os = "linux")]

mod client;
mod daemon;
pub mod protocol;
mod spawn;
mod state;

use std::path::PathBuf;

pub use client::{DEFAULT_CLIENT_TIMEOUT, WatchClient};
pub use daemon::{DEFAULT_IDLE_TIMEOUT, serve};
pub use protocol::Stamp;
pub use spawn::spawn_daemon;

/// Everything that can go wrong in the daemon or the client.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Another daemon already serves this socket.
    #[error("a watch daemon is already running on {0}")]
    AlreadyRunning(PathBuf),
    /// An I/O error on `path` (socket, lock file or inotify).
    #[error("{path}: {source}")]
    Io {
        /// What was being accessed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The connection failed, timed out or was closed; this client is no longer usable.
    #[error("watch daemon connection failed: {0}")]
    Disconnected(String),
    /// A message could not be encoded or parsed, or has another protocol version.
    #[error("watch protocol error: {0}")]
    Protocol(String),
    /// The daemon cannot vouch for the root (the client must scan); the reason says why.
    #[error("the watch daemon cannot vouch for this root: {0}")]
    Unknown(String),
    /// The daemon answered with an error or an answer that does not fit the request.
    #[error("the watch daemon answered: {0}")]
    Daemon(String),
}
