//! A small blocking QMP client over a Unix socket, built on the `qapi` crate's tokio stream.
//!
//! Each [`Qmp`] owns a current-thread tokio runtime, so callers stay synchronous and tokio
//! does not leak out of this crate. A task on that runtime reads the socket: responses go to
//! the waiting command, events ([`MachineEvent`]) to a queue read with [`Qmp::next_event`].
//! The runtime only runs inside a call, which is enough: QEMU keeps what we have not read yet
//! in the socket buffer.
//!
//! Every call is bounded by a timeout. This module does not start or stop QEMU processes.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use qapi::futures::{QapiService, QmpStreamTokio};
use qapi::qmp;
use tokio::io::WriteHalf;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

type Service = QapiService<QmpStreamTokio<WriteHalf<UnixStream>>>;

/// How long a single command may take before [`QmpError::Timeout`].
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of the QMP client.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// No runtime could be made (out of file descriptors, say).
    #[error("cannot start the QMP client: {0}")]
    Runtime(#[source] io::Error),
    /// The socket never accepted a connection, or never greeted us.
    #[error("no QMP connection on {path} within {waited:?}: {reason}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// How long we tried.
        waited: Duration,
        /// The last failure.
        reason: String,
    },
    /// QEMU answered with an error.
    #[error("QMP command {command} failed: {desc}")]
    Command {
        /// The command.
        command: &'static str,
        /// QEMU's description.
        desc: String,
    },
    /// The connection broke.
    #[error("QMP connection lost during {command}: {source}")]
    Io {
        /// The command.
        command: &'static str,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// QEMU did not answer in time.
    #[error("QMP command {command} got no answer within {0:?}", COMMAND_TIMEOUT)]
    Timeout {
        /// The command.
        command: &'static str,
    },
}

/// QEMU's run state (`query-status`), reduced to what kiln shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Started with `-S`, not yet continued.
    Prelaunch,
    /// Running.
    Running,
    /// Paused (`stop`, or a debugger, or suspended).
    Paused,
    /// The guest shut down (QEMU is about to exit).
    Shutdown,
    /// The guest panicked (with `-action panic=pause`).
    Panicked,
    /// Any other QEMU state, by its QAPI name (`inmigrate`, `internal-error`, ...).
    Other(&'static str),
}

/// A QMP event that changes the machine's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineEvent {
    /// `STOP`: paused.
    Stop,
    /// `RESUME`: running again.
    Resume,
    /// `SHUTDOWN`: the guest or the host asked to shut down.
    Shutdown {
        /// Whether the guest asked.
        guest: bool,
        /// QEMU's cause (`guest-shutdown`, `host-qmp-quit`, `host-signal`, ...).
        reason: &'static str,
    },
    /// `RESET`.
    Reset,
    /// `POWERDOWN`: the ACPI power button was pressed.
    Powerdown,
    /// `GUEST_PANICKED` (pvpanic).
    GuestPanicked,
}

impl MachineEvent {
    fn from_qmp(event: qmp::Event) -> Option<Self> {
        use qapi::Enum;
        Some(match event {
            qmp::Event::STOP { .. } => MachineEvent::Stop,
            qmp::Event::RESUME { .. } => MachineEvent::Resume,
            qmp::Event::SHUTDOWN { data, .. } => MachineEvent::Shutdown {
                guest: data.guest,
                reason: data.reason.name(),
            },
            qmp::Event::RESET { .. } => MachineEvent::Reset,
            qmp::Event::POWERDOWN { .. } => MachineEvent::Powerdown,
            qmp::Event::GUEST_PANICKED { .. } => MachineEvent::GuestPanicked,
            _ => return None,
        })
    }

    /// The run state the machine is in after this event.
    pub fn state(&self) -> RunState {
        match self {
            MachineEvent::Stop => RunState::Paused,
            MachineEvent::Resume | MachineEvent::Reset => RunState::Running,
            MachineEvent::Shutdown { .. } | MachineEvent::Powerdown => RunState::Shutdown,
            MachineEvent::GuestPanicked => RunState::Panicked,
        }
    }
}

/// The outcome of waiting for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventWait {
    /// An event arrived.
    Event(MachineEvent),
    /// Nothing within the wait.
    Nothing,
    /// QEMU closed the connection (it exited, or quit).
    Closed,
}

/// A negotiated QMP connection (capabilities done), ready for commands.
pub struct Qmp {
    rt: tokio::runtime::Runtime,
    service: Service,
    events: mpsc::UnboundedReceiver<MachineEvent>,
}

impl Qmp {
    /// Connects to the QMP socket at `path`, waiting up to `timeout` for QEMU to create it.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp, QmpError> {
        Qmp::connect_while(path, timeout, &mut || true)
    }

    /// As [`Qmp::connect`], but gives up early once `alive()` says QEMU has gone.
    pub fn connect_while(
        path: &Path,
        timeout: Duration,
        alive: &mut dyn FnMut() -> bool,
    ) -> Result<Qmp, QmpError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(QmpError::Runtime)?;
        let start = Instant::now();
        let fail = |reason: String| QmpError::Connect {
            path: path.to_owned(),
            waited: start.elapsed(),
            reason,
        };
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            let attempt = rt.block_on(async { tokio::time::timeout(left, open(path)).await });
            match attempt {
                Ok(Ok((service, events))) => return Ok(Qmp::start(rt, service, events)),
                Err(_) => return Err(fail("no greeting (is another client connected?)".into())),
                Ok(Err(e)) if !retryable(&e) => return Err(fail(e.to_string())),
                Ok(Err(e)) if start.elapsed() >= timeout => return Err(fail(e.to_string())),
                Ok(Err(_)) if !alive() => return Err(fail("QEMU exited".into())),
                Ok(Err(_)) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }

    fn start(rt: tokio::runtime::Runtime, service: Service, mut stream: EventStream) -> Qmp {
        let (tx, events) = mpsc::unbounded_channel();
        rt.spawn(async move {
            while let Some(Ok(event)) = stream.next().await {
                if let Some(event) = MachineEvent::from_qmp(event) {
                    let _ = tx.send(event);
                }
            }
        });
        Qmp {
            rt,
            service,
            events,
        }
    }

    /// `cont`: starts (after `-S`) or resumes the guest.
    pub fn cont(&mut self) -> Result<(), QmpError> {
        self.run("cont", qmp::cont {}).map(drop)
    }

    /// `stop`: pauses the guest.
    pub fn stop(&mut self) -> Result<(), QmpError> {
        self.run("stop", qmp::stop {}).map(drop)
    }

    /// `query-status`.
    pub fn status(&mut self) -> Result<RunState, QmpError> {
        use qapi::Enum;
        let info = self.run("query-status", qmp::query_status {})?;
        Ok(match info.status {
            qmp::RunState::running => RunState::Running,
            qmp::RunState::prelaunch => RunState::Prelaunch,
            qmp::RunState::paused | qmp::RunState::suspended => RunState::Paused,
            qmp::RunState::shutdown => RunState::Shutdown,
            qmp::RunState::guest_panicked => RunState::Panicked,
            other => RunState::Other(other.name()),
        })
    }

    /// `quit`: QEMU exits at once. A connection closed before the answer counts as done.
    pub fn quit(&mut self) -> Result<(), QmpError> {
        match self.run("quit", qmp::quit {}) {
            Ok(_) | Err(QmpError::Io { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Waits up to `wait` for the next state-changing event.
    pub fn next_event(&mut self, wait: Duration) -> EventWait {
        let events = &mut self.events;
        let got = self
            .rt
            .block_on(async { tokio::time::timeout(wait, events.recv()).await });
        match got {
            Ok(Some(event)) => EventWait::Event(event),
            Ok(None) => EventWait::Closed,
            Err(_) => EventWait::Nothing,
        }
    }

    fn run<C: qapi::Command + qmp::QmpCommand>(
        &mut self,
        command: &'static str,
        c: C,
    ) -> Result<C::Ok, QmpError> {
        let service = &self.service;
        let call = async { tokio::time::timeout(COMMAND_TIMEOUT, service.execute(c)).await };
        match self.rt.block_on(call) {
            Err(_) => Err(QmpError::Timeout { command }),
            Ok(Ok(ok)) => Ok(ok),
            Ok(Err(qapi::ExecuteError::Qapi(e))) => Err(QmpError::Command {
                command,
                desc: e.desc,
            }),
            Ok(Err(qapi::ExecuteError::Io(source))) => Err(QmpError::Io { command, source }),
        }
    }
}

type EventStream = qapi::futures::QapiEvents<QmpStreamTokio<tokio::io::ReadHalf<UnixStream>>>;

async fn open(path: &Path) -> io::Result<(Service, EventStream)> {
    let negotiation = QmpStreamTokio::open_uds(path).await?;
    let stream = negotiation.negotiate().await?;
    Ok(stream.into_parts())
}

/// Failures that mean "QEMU has not created or is not yet listening on the socket".
fn retryable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused | io::ErrorKind::UnexpectedEof
    )
}
