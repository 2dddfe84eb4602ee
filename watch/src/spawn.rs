//! Starting the daemon in the background, detached from the build that needs it.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Starts `exe args...` as a detached daemon and returns without waiting for it.
///
/// The child gets a new session (`setsid`), so it has no controlling terminal and a
/// terminal hang-up or Ctrl-C in the build's shell does not reach it, and its stdin, stdout
/// and stderr are `/dev/null`, so it never holds the build's pipes open. The child is not
/// waited for: if the caller outlives it, it stays a zombie until the caller exits; kiln is
/// short-lived, and after it exits init reaps the daemon.
///
/// kiln calls it as `spawn_daemon(&current_exe, &["__watch-daemon", "--socket", path])`
/// after [`crate::WatchClient::connect`] returned `None`, then scans as usual; the daemon
/// is there for the next build. Two builds racing to start one are harmless: the second
/// daemon finds the first on the socket and exits with [`crate::WatchError::AlreadyRunning`].
pub fn spawn_daemon(exe: &Path, args: &[&str]) -> std::io::Result<()> {
    let mut command = Command::new(exe);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the closure runs in the forked child before exec and only calls setsid(2),
    // which is async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        });
    }
    command.spawn().map(drop)
}
