//! The initrd: a rootfs turned into the cpio "newc" archive that Unikraft's `ukcpio` extracts
//! at boot.
//!
//! Two ways in: a rootfs directory, already scanned into an engine [`Tree`](kiln_engine::Tree),
//! is written by [`write_newc`] as a byte-for-byte reproducible archive; a rootfs given as an
//! existing archive is checked by [`check_newc`] (its magic must say newc) when it is hashed,
//! then read through [`read_newc`] as it is stored (every entry checked as Unikraft will read
//! it) and used as it is.
//!
//! This module does not scan directories, hash files, compress archives, or decide where the
//! archive goes or when it is rebuilt: the scanner, the store and the build step do that.

mod check;
mod error;
mod newc;
mod read;

pub use check::check_newc;
pub use error::InitrdError;
pub use newc::{NewcOptions, NewcStats, write_newc};
pub use read::{NewcEntry, NewcProblem, ReadNewcError, read_newc};
