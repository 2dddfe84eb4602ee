//! How a machine ended ([`ExitRecord`], the `exit` file) and what that means for the user
//! ([`ExitRecord::outcome`]: a clean end, or a [`RunFailure`] whose message the CLI prints).
//!
//! QEMU's exit status carries the guest's verdict through isa-debug-exit: the guest writes
//! `v` to port 0x501 and QEMU exits with `(v << 1) | 1`, so Unikraft's clean halt is 83 and a
//! crash or failed initialisation 85. This module does not observe processes; the parent
//! fills the record in.

use std::fs;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the parent saw when QEMU ended (the `exit` file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// QEMU's exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that killed QEMU, when one did.
    pub signal: Option<i32>,
    /// A `GUEST_PANICKED` event arrived.
    pub guest_panicked: bool,
    /// kiln asked the machine to stop (`stop`, `rm`).
    pub stopped: bool,
    /// The caller's run timeout expired (milliseconds) and the machine was stopped.
    pub timed_out_ms: Option<u64>,
    /// The last lines of `qemu.log` when QEMU itself failed.
    pub qemu_log_tail: Vec<String>,
    /// When the parent reaped QEMU (seconds since the Unix epoch).
    pub finished_unix: u64,
}

/// A machine that ended as intended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanExit {
    /// The guest halted (isa-debug-exit 83).
    Halted,
    /// QEMU exited 0: the guest powered off (ACPI, PSCI) or QEMU was told to quit.
    PoweredOff,
    /// kiln stopped it.
    Stopped,
}

/// A machine that did not end as intended; the message is for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunFailure {
    /// isa-debug-exit 85.
    #[error("the guest crashed or failed to initialise (isa-debug-exit 85)")]
    Crashed,
    /// pvpanic reported a panic.
    #[error("guest panicked")]
    Panicked,
    /// QEMU died from a signal kiln did not send.
    #[error("QEMU was killed by signal {signal} ({name})")]
    Killed {
        /// The signal number.
        signal: i32,
        /// Its name (`SIGKILL`).
        name: &'static str,
    },
    /// QEMU exited with another status.
    #[error("QEMU failed (exit {code}){}", indent(log_tail))]
    QemuFailed {
        /// The exit code.
        code: i32,
        /// The last lines of `qemu.log`.
        log_tail: Vec<String>,
    },
    /// The caller's timeout expired.
    #[error("timed out after {}", human(*after))]
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// The parent died too, so nobody saw how QEMU ended.
    #[error("QEMU is gone and no exit status was recorded (its parent process died)")]
    Unrecorded,
}

impl ExitRecord {
    /// The outcome for the user: timeouts first, then kiln's own stop, a panic, then QEMU's
    /// status. A guest that halted cleanly makes `kiln run` exit 0.
    pub fn outcome(&self) -> Result<CleanExit, RunFailure> {
        if let Some(ms) = self.timed_out_ms {
            return Err(RunFailure::TimedOut {
                after: Duration::from_millis(ms),
            });
        }
        if self.stopped {
            return Ok(CleanExit::Stopped);
        }
        if self.guest_panicked {
            return Err(RunFailure::Panicked);
        }
        match (self.code, self.signal) {
            (Some(83), _) => Ok(CleanExit::Halted),
            (Some(0), _) => Ok(CleanExit::PoweredOff),
            (Some(85), _) => Err(RunFailure::Crashed),
            (Some(code), _) => Err(RunFailure::QemuFailed {
                code,
                log_tail: self.qemu_log_tail.clone(),
            }),
            (None, Some(signal)) => Err(RunFailure::Killed {
                signal,
                name: signal_name(signal),
            }),
            (None, None) => Err(RunFailure::Unrecorded),
        }
    }

    /// A short form for `kiln ps`: `halted`, `crashed (85)`, `killed (SIGKILL)`, ...
    pub fn summary(&self) -> String {
        match self.outcome() {
            Ok(CleanExit::Halted) => "halted".into(),
            Ok(CleanExit::PoweredOff) => "powered off".into(),
            Ok(CleanExit::Stopped) => "stopped".into(),
            Err(RunFailure::Crashed) => "crashed (85)".into(),
            Err(RunFailure::Panicked) => "panicked".into(),
            Err(RunFailure::Killed { name, .. }) => format!("killed ({name})"),
            Err(RunFailure::QemuFailed { code, .. }) => format!("failed ({code})"),
            Err(RunFailure::TimedOut { .. }) => "timed out".into(),
            Err(RunFailure::Unrecorded) => "unknown".into(),
        }
    }
}

/// The last `n` lines of a log file (empty if unreadable).
pub(super) fn log_tail(path: &Path, n: usize) -> Vec<String> {
    let text = fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// The conventional name of a Linux signal.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

fn indent(lines: &[String]) -> String {
    lines.iter().map(|l| format!("\n  {l}")).collect()
}

/// `5s`, `1.5s`, `250ms`, `2m30s`.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..1000 => format!("{ms}ms"),
        _ if !ms.is_multiple_of(1000) && ms < 60_000 => format!("{}s", ms as f64 / 1000.0),
        _ if ms < 60_000 => format!("{}s", ms / 1000),
        _ => match (ms / 60_000, (ms % 60_000) / 1000) {
            (m, 0) => format!("{m}m"),
            (m, s) => format!("{m}m{s}s"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(c: i32) -> ExitRecord {
        ExitRecord {
            code: Some(c),
            ..Default::default()
        }
    }

    #[test]
    fn exit_codes_map_to_outcomes() {
        assert_eq!(code(83).outcome(), Ok(CleanExit::Halted));
        assert_eq!(code(0).outcome(), Ok(CleanExit::PoweredOff));
        let crashed = code(85).outcome().unwrap_err();
        assert_eq!(
            crashed.to_string(),
            "the guest crashed or failed to initialise (isa-debug-exit 85)"
        );
        let failed = ExitRecord {
            qemu_log_tail: vec!["qemu: bad option".into()],
            ..code(1)
        };
        assert_eq!(
            failed.outcome().unwrap_err().to_string(),
            "QEMU failed (exit 1)\n  qemu: bad option"
        );
        let killed = ExitRecord {
            signal: Some(9),
            ..Default::default()
        };
        assert_eq!(
            killed.outcome().unwrap_err().to_string(),
            "QEMU was killed by signal 9 (SIGKILL)"
        );
        assert_eq!(killed.summary(), "killed (SIGKILL)");
    }

    #[test]
    fn timeout_stop_and_panic_take_precedence() {
        let panicked = ExitRecord {
            guest_panicked: true,
            ..code(0)
        };
        assert_eq!(
            panicked.outcome().unwrap_err().to_string(),
            "guest panicked"
        );
        let stopped = ExitRecord {
            stopped: true,
            ..code(0)
        };
        assert_eq!(stopped.outcome(), Ok(CleanExit::Stopped));
        let timed = ExitRecord {
            timed_out_ms: Some(1500),
            stopped: true,
            ..code(0)
        };
        assert_eq!(
            timed.outcome().unwrap_err().to_string(),
            "timed out after 1.5s"
        );
        assert_eq!(human(Duration::from_secs(150)), "2m30s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(5)), "5s");
    }
}
