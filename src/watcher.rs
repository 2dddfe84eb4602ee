//! Connecting builds to the change-watching daemon (`kiln-watch`), which lets a no-op build
//! skip stat'ing every source file.
//!
//! `KILN_WATCH`: `off`/`0` never uses it; `on`/`1` always does; unset or `auto` uses it
//! unless `CI` is set (a CI job builds once in a fresh clone: a daemon would only linger).
//! The socket is `KILN_WATCH_SOCKET`, else `watch.sock` in the cache directory. A build
//! that finds no daemon starts one (the hidden `kiln __watch-daemon`) and waits briefly for
//! it; a plan only asks a running one. Any failure means "scan as usual".

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_engine::memo::{ChangeWatcher, WatchStamp};
use kiln_watch::{DEFAULT_CLIENT_TIMEOUT, WatchClient, WatchError, spawn_daemon};

/// Unix socket paths longer than this do not fit `sockaddr_un`.
const MAX_SOCKET_PATH: usize = 100;
/// How long a build waits for a daemon it just started.
const STARTUP_WAIT: Duration = Duration::from_millis(500);

/// A [`ChangeWatcher`] backed by one connection to the daemon.
struct DaemonWatcher {
    client: Mutex<Option<WatchClient>>,
}

fn stamp(s: kiln_watch::Stamp) -> WatchStamp {
    WatchStamp {
        instance: s.instance,
        generation: s.generation,
    }
}

impl DaemonWatcher {
    fn with_client<T>(
        &self,
        f: impl FnOnce(&mut WatchClient) -> Result<Option<T>, WatchError>,
    ) -> Option<T> {
        let mut guard = self.client.lock().ok()?;
        let client = guard.as_mut()?;
        match f(client) {
            Ok(answer) => answer,
            // "Cannot watch this root" is an answer; the connection stays usable.
            Err(WatchError::Unknown(_)) => None,
            Err(_) => {
                // A failed connection is not reused: its request/answer pairing is lost.
                *guard = None;
                None
            }
        }
    }
}

impl ChangeWatcher for DaemonWatcher {
    fn watch(&self, root: &Path) -> Option<WatchStamp> {
        remember(root);
        self.with_client(|c| c.watch(root).map(|s| Some(stamp(s))))
    }
    fn query(&self, root: &Path) -> Option<WatchStamp> {
        remember(root);
        self.with_client(|c| c.query(root).map(|s| s.map(stamp)))
    }
}

/// `--watch`: use the daemon even under CI (unless `KILN_WATCH` turns it off), and remember
/// every source root the builds ask it about: they are what a watch waits on.
static WATCH_MODE: AtomicBool = AtomicBool::new(false);
static ROOTS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Turns on `--watch`'s behaviour for this process.
pub fn watch_mode() {
    WATCH_MODE.store(true, Ordering::SeqCst);
}

fn remember(root: &Path) {
    if WATCH_MODE.load(Ordering::SeqCst)
        && let Ok(mut roots) = ROOTS.lock()
    {
        roots.insert(root.to_path_buf());
    }
}

/// The source roots the builds of this process read (in `--watch` mode).
pub fn source_roots() -> Vec<PathBuf> {
    ROOTS
        .lock()
        .map(|r| r.iter().cloned().collect())
        .unwrap_or_default()
}

/// A connection of its own to the daemon (for `--watch`'s waits), starting one if needed.
pub fn client(cache_dir: &Path) -> Option<WatchClient> {
    if !enabled() {
        return None;
    }
    let socket = socket_path(cache_dir);
    if socket.as_os_str().len() > MAX_SOCKET_PATH {
        return None;
    }
    WatchClient::connect(&socket, DEFAULT_CLIENT_TIMEOUT).or_else(|| start_daemon(&socket))
}

/// Whether builds should use the daemon, from `KILN_WATCH` and `CI` (and `--watch`).
pub fn enabled() -> bool {
    match std::env::var("KILN_WATCH").unwrap_or_default().as_str() {
        "0" | "off" | "false" | "no" => false,
        "1" | "on" | "true" | "yes" => true,
        _ if WATCH_MODE.load(Ordering::SeqCst) => true,
        _ => std::env::var("CI").map_or(true, |ci| ci.is_empty() || ci == "false"),
    }
}

/// The daemon's socket path.
pub fn socket_path(cache_dir: &Path) -> PathBuf {
    match std::env::var_os("KILN_WATCH_SOCKET") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => cache_dir.join("watch.sock"),
    }
}

/// A watcher for this process, or `None`. With `start`, launches a daemon when none answers.
pub fn connect(cache_dir: &Path, start: bool) -> Option<Arc<dyn ChangeWatcher>> {
    if !enabled() {
        return None;
    }
    let socket = socket_path(cache_dir);
    if socket.as_os_str().len() > MAX_SOCKET_PATH {
        return None;
    }
    let client = WatchClient::connect(&socket, DEFAULT_CLIENT_TIMEOUT)
        .or_else(|| start.then(|| start_daemon(&socket)).flatten())?;
    Some(Arc::new(DaemonWatcher {
        client: Mutex::new(Some(client)),
    }))
}

fn start_daemon(socket: &Path) -> Option<WatchClient> {
    let exe = std::env::current_exe().ok()?;
    let socket_arg = socket.to_str()?;
    spawn_daemon(&exe, &["__watch-daemon", "--socket", socket_arg]).ok()?;
    let deadline = Instant::now() + STARTUP_WAIT;
    while Instant::now() < deadline {
        if let Some(c) = WatchClient::connect(socket, DEFAULT_CLIENT_TIMEOUT) {
            return Some(c);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// The hidden `kiln __watch-daemon`: serves until idle for `KILN_WATCH_IDLE_SECS`
/// (default three hours).
pub fn run_daemon(socket: &Path) -> Result<(), String> {
    let idle = std::env::var("KILN_WATCH_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(kiln_watch::DEFAULT_IDLE_TIMEOUT, Duration::from_secs);
    kiln_watch::serve(socket, idle).map_err(|e| e.to_string())
}
