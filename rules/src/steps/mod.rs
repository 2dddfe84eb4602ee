//! The Unikraft build steps, each an [`kiln_engine::step::Step`].
//!
//! `rootfs` hashes the root filesystem (a directory or a cpio archive) through the stat
//! cache; `initrd` turns it into a reproducible newc archive; `sources`, `kconfig`,
//! `compile` and `embed` describe the kernel build (their execution arrives with kernel
//! builds; until then they plan but do not run).

pub mod initrd;
pub mod kernel;
pub mod rootfs;
