//! The daemon process: socket ownership, the `poll` loop and one thread per connection.
//!
//! The main thread polls four descriptors: the listening socket (accept, then a thread per
//! client), the inotify descriptor (drain in the background so the kernel queue stays
//! short), a wake-up socket pair (a `shutdown` request), and a second inotify instance on the
//! socket's directory. Every request takes the one [`WatchState`] mutex, so answers and
//! background draining are serialised. The loop exits after `idle_timeout` without a
//! request, on `shutdown`, or on an unexpected poll failure; it then removes the socket file
//! before releasing the lock that makes it the only daemon for that path.
//!
//! It also exits at once when it no longer owns its place: the socket path removed or
//! replaced, the lock file removed or replaced (for example by `rm -rf` of the cache
//! directory, or a new daemon started there), or the directory itself gone. The lock that
//! keeps one daemon per socket path is on `<socket>.lock`, a file inside that directory, so a
//! daemon whose directory was deleted holds a lock nobody else can see; without this check
//! such daemons (and their inotify instances, 128 per user by default) would pile up until
//! their idle timeout.
//!
//! This module does not decide where the socket lives; the caller does.

use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::WatchError;
use crate::client::WatchClient;
use crate::protocol::{self, MAX_LINE_BYTES, Request, Response};
use crate::state::{Answer, WatchState};

/// How long a daemon started by kiln stays up without a request (like Bazel's server).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3 * 60 * 60);

/// How long `serve` waits for an existing socket to answer before calling it stale.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);

struct Shared {
    state: Mutex<WatchState>,
    /// Counts the background drains; `wait` requests sleep on `drained` between looks.
    drains: Mutex<u64>,
    drained: std::sync::Condvar,
    instance: u64,
    last_request: Mutex<Instant>,
    stop: AtomicBool,
    idle_timeout: Duration,
    waker: UnixStream,
}

/// Runs the watch daemon on `socket` until `idle_timeout` passes without a request or a
/// client sends `shutdown`.
///
/// Creates the socket's parent directories (mode 0700). Fails with
/// [`WatchError::AlreadyRunning`] if another daemon serves `socket`; a socket file nobody
/// answers on is stale and is replaced.
pub fn serve(socket: &Path, idle_timeout: Duration) -> Result<(), WatchError> {
    let (lock, lock_path) = lock_socket_path(socket)?;
    let listener = bind(socket)?;
    let place = Place::new(socket, &lock, &lock_path).map_err(io_err(socket))?;
    let result = run(socket, listener, idle_timeout, &place);
    // Remove the socket while still holding the lock, so a successor cannot lose its own;
    // but never a socket that is no longer ours.
    if place.still_ours() {
        let _ = std::fs::remove_file(socket);
    }
    drop(lock);
    result
}

/// Where the daemon lives, and how to tell that it still owns it.
struct Place {
    socket: PathBuf,
    socket_id: (u64, u64),
    lock_path: PathBuf,
    lock_id: (u64, u64),
    /// Events on the socket's directory (entries created, deleted, moved; the directory
    /// itself deleted or moved).
    events: inotify::Inotify,
}

impl Place {
    fn new(socket: &Path, lock: &File, lock_path: &Path) -> std::io::Result<Place> {
        use std::os::unix::fs::MetadataExt;
        let id = |m: std::fs::Metadata| (m.dev(), m.ino());
        let events = inotify::Inotify::init()?;
        let dir = match socket.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mask = inotify::WatchMask::CREATE
            | inotify::WatchMask::DELETE
            | inotify::WatchMask::MOVED_FROM
            | inotify::WatchMask::MOVED_TO
            | inotify::WatchMask::DELETE_SELF
            | inotify::WatchMask::MOVE_SELF
            | inotify::WatchMask::ONLYDIR;
        events.watches().add(&dir, mask)?;
        Ok(Place {
            socket: socket.to_path_buf(),
            socket_id: id(std::fs::symlink_metadata(socket)?),
            lock_path: lock_path.to_path_buf(),
            lock_id: id(lock.metadata()?),
            events,
        })
    }

    /// Whether the socket and lock paths still name this daemon's socket and lock file.
    fn still_ours(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let same = |path: &Path, want: (u64, u64)| {
            std::fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == want)
        };
        same(&self.socket, self.socket_id) && same(&self.lock_path, self.lock_id)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WatchError + '_ {
    move |source| WatchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Takes the exclusive lock `<socket>.lock`, held for the daemon's lifetime.
fn lock_socket_path(socket: &Path) -> Result<(File, PathBuf), WatchError> {
    if let Some(parent) = socket.parent().filter(|p| !p.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io_err(parent))?;
    }
    let mut lock_path = socket.as_os_str().to_os_string();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
    match file.try_lock() {
        Ok(()) => Ok((file, lock_path)),
        Err(TryLockError::WouldBlock) => Err(WatchError::AlreadyRunning(socket.to_path_buf())),
        Err(TryLockError::Error(e)) => Err(io_err(&lock_path)(e)),
    }
}

/// Binds the socket, replacing a stale socket file only if nothing answers on it.
fn bind(socket: &Path) -> Result<UnixListener, WatchError> {
    if socket.exists() {
        if WatchClient::connect(socket, PROBE_TIMEOUT).is_some() {
            return Err(WatchError::AlreadyRunning(socket.to_path_buf()));
        }
        std::fs::remove_file(socket).map_err(io_err(socket))?;
    }
    let listener = UnixListener::bind(socket).map_err(io_err(socket))?;
    // Per-user daemon: other users may neither query nor make it read their trees.
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(io_err(socket))?;
    listener.set_nonblocking(true).map_err(io_err(socket))?;
    Ok(listener)
}

/// How often the daemon checks that it still owns its place even without an event (a
/// directory further up removed or moved, say).
const OWNERSHIP_CHECK: Duration = Duration::from_secs(30);

fn run(
    socket: &Path,
    listener: UnixListener,
    idle_timeout: Duration,
    place: &Place,
) -> Result<(), WatchError> {
    let state = WatchState::new(new_instance()).map_err(io_err(Path::new("inotify_init1")))?;
    let (waker, wake_rx) = UnixStream::pair().map_err(io_err(socket))?;
    wake_rx.set_nonblocking(true).map_err(io_err(socket))?;
    let inotify_fd = state.raw_fd();
    let shared = Arc::new(Shared {
        instance: state.instance(),
        state: Mutex::new(state),
        drains: Mutex::new(0),
        drained: std::sync::Condvar::new(),
        last_request: Mutex::new(Instant::now()),
        stop: AtomicBool::new(false),
        idle_timeout,
        waker,
    });
    let fds = [
        listener.as_raw_fd(),
        inotify_fd,
        wake_rx.as_raw_fd(),
        place.events.as_raw_fd(),
    ];
    while !shared.stop.load(Ordering::SeqCst) {
        let idle_left = idle_timeout.saturating_sub(shared.idle_for());
        if idle_left.is_zero() {
            break;
        }
        let ready = poll_readable(&fds, idle_left.min(OWNERSHIP_CHECK)).map_err(io_err(socket))?;
        if ready[3] {
            drain_fd(place.events.as_raw_fd());
        }
        if !place.still_ours() {
            break;
        }
        if ready[1] {
            shared.lock_state().drain();
            if let Ok(mut n) = shared.drains.lock() {
                *n += 1;
            }
            shared.drained.notify_all();
        }
        if ready[0] {
            accept_all(&listener, &shared);
        }
        if ready[2] {
            let _ = (&wake_rx).read(&mut [0u8; 64]);
        }
    }
    Ok(())
}

/// Reads and discards whatever is queued on the non-blocking descriptor `fd`.
fn drain_fd(fd: RawFd) {
    let mut buffer = [0u8; 4096];
    loop {
        // SAFETY: `buffer` is valid for writes of its length, and `fd` stays open during the
        // call (it belongs to the `Place` the caller borrows).
        let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
        if n <= 0 {
            return;
        }
    }
}

/// Waits until some of `fds` are readable or `timeout` passes; `EINTR` counts as a timeout.
fn poll_readable(fds: &[RawFd; 4], timeout: Duration) -> std::io::Result<[bool; 4]> {
    let mut pfds = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    let millis = timeout.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
    // SAFETY: `pfds` is a valid, exclusively borrowed array of three pollfd structs, and the
    // descriptors stay open for the duration of the call.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, millis) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return match e.kind() {
            std::io::ErrorKind::Interrupted => Ok([false; 4]),
            _ => Err(e),
        };
    }
    Ok(pfds.map(|p| p.revents != 0))
}

fn accept_all(listener: &UnixListener, shared: &Arc<Shared>) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = Arc::clone(shared);
                let spawned = std::thread::Builder::new()
                    .name("kiln-watch-conn".into())
                    .spawn(move || serve_connection(&shared, stream));
                if spawned.is_err() {
                    // Out of threads: the client sees its connection close and scans.
                    continue;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // WouldBlock (nothing left to accept) or a per-connection error (e.g. EMFILE).
            Err(_) => return,
        }
    }
}

/// Answers requests on one connection, one line each, until it closes or goes quiet.
fn serve_connection(shared: &Shared, stream: UnixStream) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(shared.idle_timeout)).is_err()
    {
        return;
    }
    let mut reader = BufReader::new(&stream);
    let mut writer = &stream;
    let mut line = String::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE_BYTES).read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        shared.touch();
        let (response, stop) = shared.respond(line.trim_end());
        let Ok(encoded) = protocol::encode(&response) else {
            return;
        };
        if writer.write_all(encoded.as_bytes()).is_err() {
            return;
        }
        if stop {
            shared.stop.store(true, Ordering::SeqCst);
            let _ = (&shared.waker).write_all(b"x");
            return;
        }
    }
}

impl Shared {
    fn respond(&self, line: &str) -> (Response, bool) {
        let request = match protocol::decode::<Request>(line) {
            Ok(r) => r,
            Err(e) => {
                let message = e.to_string();
                return (Response::Error { message }, false);
            }
        };
        let answer = match request {
            Request::Ping => {
                let pid = std::process::id();
                let instance = self.instance;
                return (Response::Pong { instance, pid }, false);
            }
            Request::Shutdown => return (Response::Ok, true),
            Request::Watch { root } => self.lock_state().watch(&root),
            Request::Query { root } => self.lock_state().query(&root),
            Request::Wait { roots, timeout_ms } => {
                let timeout = Duration::from_millis(timeout_ms.min(60_000));
                return (self.wait(&roots, timeout), false);
            }
        };
        let response = match answer {
            Answer::Stamp(stamp) => Response::Stamp(stamp),
            Answer::Unknown(reason) => Response::Unknown { reason },
        };
        (response, false)
    }

    /// Answers a `wait`: looks at the roots (draining first, as every answer does), and
    /// between looks sleeps until the main loop has drained new events, or at most 100 ms.
    fn wait(&self, roots: &[crate::protocol::WaitRoot], timeout: Duration) -> Response {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.drains.lock().map(|n| *n).unwrap_or(0);
            {
                let mut state = self.lock_state();
                for r in roots {
                    let moved = match state.query(&r.root) {
                        Answer::Stamp(now) => now != r.stamp,
                        Answer::Unknown(_) => true,
                    };
                    if moved {
                        let root = r.root.clone();
                        return Response::Changed { root };
                    }
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stop.load(Ordering::SeqCst) {
                return Response::Unchanged;
            }
            let Ok(n) = self.drains.lock() else {
                return Response::Unchanged;
            };
            let pause = left.min(Duration::from_millis(100));
            let _ = self.drained.wait_timeout_while(n, pause, |n| *n == seen);
        }
    }

    /// The state; after a panic elsewhere it may be half-updated, so every root is dropped
    /// to `Unknown` rather than trusted.
    fn lock_state(&self) -> MutexGuard<'_, WatchState> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                guard.forget_all("the daemon recovered from an internal error");
                self.state.clear_poison();
                guard
            }
        }
    }

    fn touch(&self) {
        if let Ok(mut t) = self.last_request.lock() {
            *t = Instant::now();
        }
    }

    fn idle_for(&self) -> Duration {
        self.last_request
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or(Duration::MAX)
    }
}

/// A per-process identity: pid and wall-clock nanoseconds through std's randomly keyed
/// SipHash, so two daemons (even in one process, as in tests) practically never share one.
fn new_instance() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    hasher.finish().max(1)
}
