//! The Unikraft build steps, each an [`kiln_engine::step::Step`].
//!
//! `rootfs` hashes the root filesystem (a directory or a cpio archive) through the scanner;
//! `initrd` turns it into a reproducible newc archive; `sources` hashes a component's tree
//! (core, library, template, application); `kconfig`, `compile` and `embed` run Unikraft's
//! make in the target's work directory.

pub mod docker;
pub mod docker_from;
pub mod docker_remote;
mod estimate;
pub mod fetch;
pub mod initrd;
pub mod kernel;
pub mod package;
pub mod rootfs;
pub mod runtime;
pub mod sources;
