//! QEMU: the command line kiln starts it with ([`QemuArgs`]) and the QMP client that controls
//! it ([`Qmp`]).
//!
//! Starting and supervising the process, and the instance state on disk, live in
//! `crate::instance`; this module neither spawns QEMU nor touches the filesystem.

mod args;
mod qmp;

pub use args::{QemuArgs, QemuArgsError, QemuPaths};
pub use qmp::{EventWait, MachineEvent, Qmp, QmpError, RunState};
