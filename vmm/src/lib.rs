//! kiln's virtual machine monitors: turning a [`spec::MachineSpec`] into a running machine
//! under QEMU (controlled over QMP), Firecracker (its API socket) or Xen (`xl`), and keeping
//! track of instances on disk.
//!
//! Architecture invariant: this crate needs no other kiln crate and never hashes or builds
//! anything; it receives a kernel, an optional initrd and a finished command line.

pub mod accel;
pub mod detect;
mod fdwait;
pub mod firecracker;
pub mod instance;
pub mod qemu;
pub mod serial;
pub mod spec;
pub mod xen;

/// Why `path` cannot be booted as a kernel or initrd file, or `None` if it is a file.
pub fn not_a_file(path: &std::path::Path) -> Option<&'static str> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => None,
        Ok(m) if m.is_dir() => Some("is a directory, not a file"),
        Ok(_) => Some("is not a regular file"),
        Err(_) => Some("does not exist"),
    }
}
