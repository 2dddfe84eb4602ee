//! Waiting, with a deadline, for a file descriptor to become readable (`poll(2)`).
//!
//! Shared by the KVM probe (reading the forked child's verdict) and the launcher (reading
//! the supervisor's handshake), so that neither can hang on a silent child.

use std::os::fd::RawFd;
use std::time::Instant;

/// Waits until `fd` is readable (or at end of file) or `until` passes; `None` on timeout.
pub(crate) fn readable_before(fd: RawFd, until: Instant) -> Option<()> {
    loop {
        let left = until.checked_duration_since(Instant::now())?;
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd on a descriptor the caller owns for the call.
        if unsafe { libc::poll(&mut pfd, 1, ms) } > 0 {
            return Some(());
        }
    }
}
