//! The client side: one connection to the daemon, with short timeouts so a build never
//! waits on a missing, stuck or confused daemon.
//!
//! After any failure (timeout, closed connection, unparsable answer) the client refuses
//! further requests: a late answer to one request must never be read as the answer to the
//! next. Callers treat every error like "not sure" and scan.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::WatchError;
use crate::protocol::{self, MAX_LINE_BYTES, Request, Response, Stamp};

/// A sensible timeout for [`WatchClient::connect`] during a build.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_millis(200);

/// A connection to a running watch daemon.
#[derive(Debug)]
pub struct WatchClient {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    instance: u64,
    pid: u32,
    /// Set after any failure; the connection's request/answer pairing can't be trusted then.
    broken: bool,
}

impl WatchClient {
    /// Connects to the daemon on `socket` and checks that it answers a `ping` within
    /// `timeout`. `None` if there is no socket, nobody listens, or the daemon does not answer.
    ///
    /// Connecting to a Unix socket does not wait for the daemon to `accept` (the kernel
    /// queues the connection), so the only wait is the `ping`, bounded by `timeout`.
    pub fn connect(socket: &Path, timeout: Duration) -> Option<WatchClient> {
        let stream = UnixStream::connect(socket).ok()?;
        let timeout = Some(timeout.max(Duration::from_millis(1)));
        stream.set_read_timeout(timeout).ok()?;
        stream.set_write_timeout(timeout).ok()?;
        let writer = stream.try_clone().ok()?;
        let mut client = WatchClient {
            reader: BufReader::new(stream),
            writer,
            instance: 0,
            pid: 0,
            broken: false,
        };
        match client.request(&Request::Ping).ok()? {
            Response::Pong { instance, pid } => {
                client.instance = instance;
                client.pid = pid;
                Some(client)
            }
            _ => None,
        }
    }

    /// The daemon's instance (the `instance` of every stamp it gives).
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// The daemon's process id.
    pub fn daemon_pid(&self) -> u32 {
        self.pid
    }

    /// Changes the timeout for later requests (e.g. longer for `watch` on a huge tree).
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<(), WatchError> {
        let timeout = Some(timeout.max(Duration::from_millis(1)));
        let stream = self.reader.get_ref();
        stream
            .set_read_timeout(timeout)
            .and_then(|()| stream.set_write_timeout(timeout))
            .map_err(|e| WatchError::Disconnected(e.to_string()))
    }

    /// Starts watching `root` (idempotent) and returns its stamp once every directory under
    /// it is watched. Call it *before* scanning. [`WatchError::Unknown`] if the daemon cannot
    /// watch it (then scan without a stamp).
    pub fn watch(&mut self, root: &Path) -> Result<Stamp, WatchError> {
        let root = absolute(root)?;
        match self.request(&Request::Watch { root })? {
            Response::Stamp(stamp) => Ok(stamp),
            Response::Unknown { reason } => Err(WatchError::Unknown(reason)),
            other => Err(self.unexpected(&other)),
        }
    }

    /// The current stamp of `root`, or `None` if the daemon cannot vouch for it (not watched,
    /// overflowed, deleted...). Equal to a stamp from before a scan means "unchanged since".
    pub fn query(&mut self, root: &Path) -> Result<Option<Stamp>, WatchError> {
        let root = absolute(root)?;
        match self.request(&Request::Query { root })? {
            Response::Stamp(stamp) => Ok(Some(stamp)),
            Response::Unknown { .. } => Ok(None),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Waits until one of `roots` is no longer at its stamp (a change under it, or the
    /// daemon no longer vouching for it) and returns that root, or `None` after `timeout`.
    /// Stamps come from [`WatchClient::watch`] or [`WatchClient::query`].
    pub fn wait(
        &mut self,
        roots: &[(PathBuf, Stamp)],
        timeout: Duration,
    ) -> Result<Option<PathBuf>, WatchError> {
        let roots = roots
            .iter()
            .map(|(root, stamp)| {
                Ok(crate::protocol::WaitRoot {
                    root: absolute(root)?,
                    stamp: *stamp,
                })
            })
            .collect::<Result<Vec<_>, WatchError>>()?;
        let timeout_ms = timeout.as_millis().min(60_000) as u64;
        self.set_timeout(Duration::from_millis(timeout_ms) + Duration::from_secs(2))?;
        match self.request(&Request::Wait { roots, timeout_ms })? {
            Response::Changed { root } => Ok(Some(root)),
            Response::Unchanged => Ok(None),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Asks the daemon to exit; it removes its socket first.
    pub fn shutdown(mut self) -> Result<(), WatchError> {
        match self.request(&Request::Shutdown)? {
            Response::Ok => Ok(()),
            other => Err(self.unexpected(&other)),
        }
    }

    fn request(&mut self, request: &Request) -> Result<Response, WatchError> {
        if self.broken {
            return Err(WatchError::Disconnected(
                "an earlier request on this connection failed".into(),
            ));
        }
        let result = self.exchange(request);
        if result.is_err() {
            self.broken = true;
        }
        match result? {
            Response::Error { message } => Err(WatchError::Daemon(message)),
            other => Ok(other),
        }
    }

    fn exchange(&mut self, request: &Request) -> Result<Response, WatchError> {
        let line = protocol::encode(request)?;
        let gone = |e: std::io::Error| WatchError::Disconnected(e.to_string());
        self.writer.write_all(line.as_bytes()).map_err(gone)?;
        let mut answer = String::new();
        let n = (&mut self.reader)
            .take(MAX_LINE_BYTES)
            .read_line(&mut answer)
            .map_err(gone)?;
        if n == 0 || !answer.ends_with('\n') {
            return Err(WatchError::Disconnected(
                "the daemon closed the connection".into(),
            ));
        }
        protocol::decode(answer.trim_end())
    }

    fn unexpected(&mut self, response: &Response) -> WatchError {
        self.broken = true;
        WatchError::Daemon(format!("unexpected answer {response:?}"))
    }
}

/// The daemon keys roots by absolute path, spelled as given (no symlink resolution: the
/// daemon checks what the path names on every answer).
fn absolute(root: &Path) -> Result<PathBuf, WatchError> {
    std::path::absolute(root).map_err(|source| WatchError::Io {
        path: root.to_path_buf(),
        source,
    })
}
