//! The one error type of the initrd module. Every variant names the file it is about and says
//! what to do next; none of them is a bug in kiln.
//!
//! This file holds no logic: it only words the failures found by the writer and the check.

use std::io;
use std::path::PathBuf;

/// Why an initrd could not be written or a rootfs archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum InitrdError {
    /// A file of the rootfs could not be opened or read.
    #[error(
        "could not read `{}` for the initrd: {source}; check that it exists and is readable, \
         then build again",
        .path.display()
    )]
    Read {
        /// The file on disk.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },

    /// A file's size or content differs from what was recorded when the rootfs was scanned:
    /// something wrote to it during the build.
    #[error(
        "`{}` changed while the initrd was being written: {detail}; nothing was cached; let \
         whatever writes into the rootfs finish, then build again",
        .path.display()
    )]
    Changed {
        /// The file on disk.
        path: PathBuf,
        /// What differs (its size, or its content).
        detail: String,
    },

    /// A file or symlink target too big for the 32-bit size field of a newc header.
    #[error(
        "`{}` is {size} bytes, but a cpio newc entry holds at most 4294967295 bytes; leave it \
         out of the rootfs (for example, mount it as a volume instead)",
        .path.display()
    )]
    TooLarge {
        /// The file on disk.
        path: PathBuf,
        /// Its size in the tree.
        size: u64,
    },

    /// More entries than the 32-bit inode field of a newc header can number.
    #[error(
        "the rootfs `{}` has more entries than a cpio newc archive can number (4294967295); \
         split it, or mount part of it as a volume",
        .root.display()
    )]
    TooManyEntries {
        /// The rootfs directory.
        root: PathBuf,
    },

    /// A path that a newc archive cannot carry as a name.
    #[error(
        "`{}` cannot be stored in a cpio newc archive: {reason}; rename it in the rootfs",
        .path.display()
    )]
    BadName {
        /// The file on disk.
        path: PathBuf,
        /// Why the name is refused.
        reason: &'static str,
    },

    /// The archive could not be written to its destination.
    #[error(
        "could not write the initrd (at the entry for `{}`): {source}; check free space and \
         permissions where the initrd is written",
        .path.display()
    )]
    Write {
        /// The rootfs entry being written when the write failed.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },

    /// A rootfs archive that Unikraft would fail to unpack at boot.
    #[error(
        "`{}` cannot be booted as an initrd: {problem}; rebuild the archive (`cd <dir> && find \
         . | LC_ALL=C sort | cpio -o -H newc > rootfs.cpio`), or give the directory itself as \
         the rootfs",
        .path.display()
    )]
    BadArchive {
        /// The archive given as rootfs.
        path: PathBuf,
        /// What is wrong, and where.
        problem: super::NewcProblem,
    },

    /// A rootfs given as a file is not an uncompressed newc cpio archive.
    #[error(
        "`{}` is not a cpio newc archive ({found}); kiln accepts only uncompressed newc \
         archives (magic 070701 or 070702) as a rootfs file: make one with \
         `cd <dir> && find . | cpio -o -H newc > rootfs.cpio`, or give the directory itself \
         as the rootfs",
        .path.display()
    )]
    NotNewc {
        /// The archive given as rootfs.
        path: PathBuf,
        /// What the file looks like instead.
        found: String,
    },
}
