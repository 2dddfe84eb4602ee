//! Writes a [`Tree`] as a reproducible cpio "newc" archive, the initrd format Unikraft reads.
//!
//! # Why this is written by hand
//! The writer is small, and it must be exact: the same tree must give the same bytes on every
//! machine, so inode numbers, link counts, entry order and where a hard link's data goes are
//! all decided here. The cpio crates write whatever header fields they are handed and give no
//! help with numbering or ordering, so using one would save a hex formatter and nothing else.
//!
//! # Format
//! Every entry is a 110-byte ASCII header — the magic `070701` and thirteen 8-digit lower-case
//! hex fields: ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
//! rdevminor, namesize (with the NUL), check — then the name and a NUL, padded with NULs to a
//! multiple of 4 bytes from the header's start, then `filesize` bytes of data padded the same
//! way. The archive ends with an entry named `TRAILER!!!` (ino 0, mode 0, nlink 1, size 0).
//!
//! # What is written
//! - Entries in the tree's order: sorted bytewise, parents before children. There is no entry
//!   for the rootfs directory itself: the guest's `/` already exists.
//! - uid = gid = 0, mtime = [`NewcOptions::mtime`], dev/rdev 0, checksum 0.
//! - Inodes numbered 1, 2, 3, … in entry order; the members of a hard-link group share the
//!   number of the group's first member and take no number of their own.
//! - Modes: directories `040755`, files `0100755` if executable else `0100644`, symlinks
//!   `0120777` with the target text as data. Nothing else in a [`Tree`] has permissions.
//! - nlink: a directory has 2 + its number of subdirectories (what `stat` reports on classic
//!   Unix file systems and so what GNU cpio writes; it depends only on the tree), a file has
//!   its group's link count, a symlink 1.
//!
//! # Names
//! Names are the tree's paths as they are, without a `./` prefix, like the Linux kernel's
//! `gen_init_cpio`. kraft writes `./`-prefixed names (kraftkit `fs/cpio/create.go`,
//! `internal = "." + ...`), but Unikraft does not care: `ukcpio` appends the name to the
//! mount point plus a `/` (`lib/ukcpio/cpio.c` at RELEASE-0.17.0, lines 343-349 and 278), so
//! both spellings land on the same path. Without the prefix a top-level file named
//! `TRAILER!!!` would end the archive early, so that name is refused.
//!
//! # Hard links: the data goes on every member
//! GNU cpio writes a group's data once, on its last member, with size 0 on the others. That
//! is wrong for Unikraft: `ukcpio` ignores ino and nlink and creates every regular-file entry
//! as an independent file from that entry's own data (`lib/ukcpio/cpio.c` at RELEASE-0.17.0:
//! `extract_section`, lines 284-286, calls `extract_file(fullpath, data, filesize, …)`, which
//! opens with `O_CREAT` and writes exactly `filesize` bytes, lines 115-171; the header fields
//! ino and nlink are never read). A size-0 member would boot as an empty file. So every
//! member carries the full data. The extractors that do honour links still rebuild the group:
//! GNU cpio `-i` links a member with data to an earlier member of the same (ino, dev) and
//! skips its data, and Linux's initramfs links it and rewrites the same bytes. The price is
//! the data stored once per name, as kraft does for directories.
//!
//! # Speed
//! File data is copied through one 1 MiB buffer; headers are gathered in a buffered writer,
//! which passes the large data writes straight through.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use kiln_engine::{BlobDigest, EntryKind, Tree, TreeEntry};

use super::InitrdError;

/// The size of the buffer file data is copied through.
const COPY_BUFFER: usize = 1 << 20;
/// The capacity of the buffered writer that gathers headers and small files.
const HEADER_BUFFER: usize = 256 << 10;
/// The length of a newc header.
const HEADER_LEN: usize = 110;
/// The name of the last entry.
const TRAILER: &str = "TRAILER!!!";

const MODE_DIR: u32 = 0o040755;
const MODE_FILE: u32 = 0o100644;
const MODE_EXECUTABLE: u32 = 0o100755;
const MODE_SYMLINK: u32 = 0o120777;

/// Settings of the archive that do not come from the tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NewcOptions {
    /// The mtime of every entry: the caller passes `SOURCE_DATE_EPOCH`, or 0.
    pub mtime: u32,
}

/// What [`write_newc`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NewcStats {
    /// Entries written, one per tree entry; the trailer is not counted.
    pub entries: u64,
    /// Bytes written, trailer and padding included: the archive's size.
    pub bytes: u64,
}

/// Writes `tree` as a newc archive to `out`, reading file contents from `root.join(path)`.
///
/// The output depends only on `tree`, the file contents and `opts` (see the module doc for the
/// exact layout). Each file is hashed while it is copied, and its size and digest are checked
/// against the tree: a file that changed since the tree was scanned gives
/// [`InitrdError::Changed`], and the partial archive must then be thrown away, so what is
/// stored under the tree's key is always the tree's content. `out` is flushed before
/// returning.
pub fn write_newc(
    tree: &Tree,
    root: &Path,
    opts: &NewcOptions,
    out: &mut dyn Write,
) -> Result<NewcStats, InitrdError> {
    let inodes = number_inodes(tree, root)?;
    let mut archive = Archive {
        out: CountingWriter {
            inner: BufWriter::with_capacity(HEADER_BUFFER, out),
            bytes: 0,
        },
        root,
        mtime: opts.mtime,
        header: Vec::with_capacity(HEADER_LEN + 256),
        buffer: vec![0; COPY_BUFFER],
    };
    for (entry, inode) in tree.entries().iter().zip(&inodes) {
        archive.entry(tree, entry, *inode)?;
    }
    archive.trailer()?;
    Ok(NewcStats {
        entries: tree.entries().len() as u64,
        bytes: archive.out.bytes,
    })
}

/// The inode number and link count of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Inode {
    ino: u32,
    nlink: u32,
}

/// Numbers the entries' inodes and counts their links, in tree order.
fn number_inodes(tree: &Tree, root: &Path) -> Result<Vec<Inode>, InitrdError> {
    let mut links: HashMap<&str, u32> = HashMap::new();
    let mut subdirs: HashMap<&str, u32> = HashMap::new();
    for e in tree.entries() {
        match &e.kind {
            EntryKind::HardLink { target } => *links.entry(target).or_insert(1) += 1,
            EntryKind::Dir => {
                if let Some((parent, _)) = e.path.rsplit_once('/') {
                    *subdirs.entry(parent).or_insert(0) += 1;
                }
            }
            _ => {}
        }
    }
    let mut group_ino: HashMap<&str, u32> = HashMap::new();
    let mut next: u32 = 1;
    let mut inodes = Vec::with_capacity(tree.entries().len());
    for e in tree.entries() {
        let path = e.path.as_str();
        let inode = match &e.kind {
            EntryKind::HardLink { target } => Inode {
                ino: group_ino.get(target.as_str()).copied().unwrap_or(0),
                nlink: links.get(target.as_str()).copied().unwrap_or(1),
            },
            kind => {
                let ino = next;
                next = next
                    .checked_add(1)
                    .ok_or_else(|| InitrdError::TooManyEntries {
                        root: root.to_path_buf(),
                    })?;
                let nlink = match kind {
                    EntryKind::Dir => 2 + subdirs.get(path).copied().unwrap_or(0),
                    _ => links.get(path).copied().unwrap_or(1),
                };
                if nlink > 1 && !matches!(kind, EntryKind::Dir) {
                    group_ino.insert(path, ino);
                }
                Inode { ino, nlink }
            }
        };
        inodes.push(inode);
    }
    Ok(inodes)
}

/// One newc header's variable fields.
#[derive(Debug, Clone, Copy)]
struct Header<'a> {
    name: &'a str,
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    filesize: u32,
}

impl Header<'_> {
    /// Appends the header, the name, its NUL and the padding to `buf`.
    fn encode(&self, buf: &mut Vec<u8>) {
        let namesize = self.name.len() as u32 + 1;
        buf.extend_from_slice(b"070701");
        let fields = [
            self.ino,
            self.mode,
            0, // uid
            0, // gid
            self.nlink,
            self.mtime,
            self.filesize,
            0, // devmajor
            0, // devminor
            0, // rdevmajor
            0, // rdevminor
            namesize,
            0, // check
        ];
        for field in fields {
            push_hex8(buf, field);
        }
        buf.extend_from_slice(self.name.as_bytes());
        buf.push(0);
        buf.resize(buf.len() + padding(HEADER_LEN as u64 + namesize as u64), 0);
    }
}

/// Appends `value` as 8 lower-case hex digits.
fn push_hex8(buf: &mut Vec<u8>, value: u32) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..8).rev() {
        buf.push(DIGITS[(value >> (shift * 4)) as usize & 0xf]);
    }
}

/// How many NULs bring `len` up to a multiple of 4.
fn padding(len: u64) -> usize {
    ((4 - len % 4) % 4) as usize
}

/// The archive being written, with the state the entries share.
struct Archive<'a> {
    out: CountingWriter<'a>,
    root: &'a Path,
    mtime: u32,
    /// Scratch space for one encoded header.
    header: Vec<u8>,
    /// The buffer file data is copied through.
    buffer: Vec<u8>,
}

impl Archive<'_> {
    /// Writes one tree entry: header, then data for files and symlinks.
    fn entry(&mut self, tree: &Tree, entry: &TreeEntry, inode: Inode) -> Result<(), InitrdError> {
        let path = entry.path.as_str();
        check_name(path, self.root)?;
        let (size, executable, digest) = match &entry.kind {
            EntryKind::Dir => return self.header(path, inode, MODE_DIR, 0),
            EntryKind::Symlink { target } => return self.symlink(path, inode, target),
            EntryKind::File {
                size,
                executable,
                digest,
            } => (*size, *executable, *digest),
            EntryKind::HardLink { target } => match tree.get(target) {
                Some(EntryKind::File {
                    size,
                    executable,
                    digest,
                }) => (*size, *executable, *digest),
                // Tree::new guarantees a hard link's target is a regular file.
                _ => (0, false, BlobDigest::of_bytes(b"")),
            },
        };
        let on_disk = self.root.join(path);
        let filesize = u32::try_from(size).map_err(|_| InitrdError::TooLarge {
            path: on_disk.clone(),
            size,
        })?;
        let mode = if executable {
            MODE_EXECUTABLE
        } else {
            MODE_FILE
        };
        self.header(path, inode, mode, filesize)?;
        self.copy_file(&on_disk, path, size, &digest)?;
        self.out.pad(path, size)
    }

    /// Writes a symlink entry, whose data is its target.
    fn symlink(&mut self, path: &str, inode: Inode, target: &str) -> Result<(), InitrdError> {
        let size = target.len() as u64;
        let filesize = u32::try_from(size).map_err(|_| InitrdError::TooLarge {
            path: self.root.join(path),
            size,
        })?;
        self.header(path, inode, MODE_SYMLINK, filesize)?;
        self.out.write(path, target.as_bytes())?;
        self.out.pad(path, size)
    }

    /// Writes the header of an entry with the archive's mtime.
    fn header(
        &mut self,
        name: &str,
        inode: Inode,
        mode: u32,
        filesize: u32,
    ) -> Result<(), InitrdError> {
        let header = Header {
            name,
            ino: inode.ino,
            mode,
            nlink: inode.nlink,
            mtime: self.mtime,
            filesize,
        };
        self.write_header(&header)
    }

    /// Encodes and writes one header with its name and padding.
    fn write_header(&mut self, header: &Header) -> Result<(), InitrdError> {
        self.header.clear();
        header.encode(&mut self.header);
        self.out.write(header.name, &self.header)
    }

    /// Copies `size` bytes of the file at `on_disk`, failing if it has any other size or its
    /// bytes do not hash to `digest`.
    fn copy_file(
        &mut self,
        on_disk: &Path,
        name: &str,
        size: u64,
        digest: &BlobDigest,
    ) -> Result<(), InitrdError> {
        let read_error = |source| InitrdError::Read {
            path: on_disk.to_path_buf(),
            source,
        };
        let mut file = File::open(on_disk).map_err(read_error)?;
        let mut hasher = blake3::Hasher::new();
        let mut copied: u64 = 0;
        loop {
            let n = match file.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e)),
            };
            let total = copied + n as u64;
            if total > size {
                let now = file.metadata().map(|m| m.len()).unwrap_or(total);
                return Err(changed(on_disk, size, now.max(total)));
            }
            hasher.update(&self.buffer[..n]);
            self.out.write(name, &self.buffer[..n])?;
            copied = total;
        }
        if copied != size {
            return Err(changed(on_disk, size, copied));
        }
        if BlobDigest::from_raw(hasher.finalize().into()) != *digest {
            return Err(InitrdError::Changed {
                path: on_disk.to_path_buf(),
                detail: "its content is not what was hashed when the rootfs was scanned".into(),
            });
        }
        Ok(())
    }

    /// Writes the trailer (mtime 0, like GNU cpio's: it describes no file) and flushes.
    fn trailer(&mut self) -> Result<(), InitrdError> {
        let trailer = Header {
            name: TRAILER,
            ino: 0,
            mode: 0,
            nlink: 1,
            mtime: 0,
            filesize: 0,
        };
        self.write_header(&trailer)?;
        self.out.flush()
    }
}

/// The buffered output, counting the bytes and naming the entry when a write fails.
struct CountingWriter<'a> {
    inner: BufWriter<&'a mut dyn Write>,
    bytes: u64,
}

impl CountingWriter<'_> {
    /// Writes bytes belonging to the entry `name`.
    fn write(&mut self, name: &str, bytes: &[u8]) -> Result<(), InitrdError> {
        self.inner
            .write_all(bytes)
            .map_err(|source| write_error(name, source))?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Writes the NULs that follow `size` bytes of data.
    fn pad(&mut self, name: &str, size: u64) -> Result<(), InitrdError> {
        self.write(name, &[0; 3][..padding(size)])
    }

    fn flush(&mut self) -> Result<(), InitrdError> {
        self.inner
            .flush()
            .map_err(|source| write_error(TRAILER, source))
    }
}

fn write_error(name: &str, source: io::Error) -> InitrdError {
    InitrdError::Write {
        path: PathBuf::from(name),
        source,
    }
}

/// Refuses names a newc archive cannot carry.
fn check_name(path: &str, root: &Path) -> Result<(), InitrdError> {
    let reason = if path == TRAILER {
        "a top-level entry with that name would end the archive early"
    } else if path.contains('\0') {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(InitrdError::BadName {
        path: root.join(path),
        reason,
    })
}

fn changed(path: &Path, expected: u64, found: u64) -> InitrdError {
    InitrdError::Changed {
        path: path.to_path_buf(),
        detail: format!("the scanned rootfs says {expected} bytes, the file now has {found}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(path: &str) -> TreeEntry {
        let kind = EntryKind::Dir;
        TreeEntry {
            path: path.into(),
            kind,
        }
    }

    fn file(path: &str, size: u64) -> TreeEntry {
        let digest = BlobDigest::of_bytes(path.as_bytes());
        let kind = EntryKind::File {
            digest,
            size,
            executable: false,
        };
        TreeEntry {
            path: path.into(),
            kind,
        }
    }

    fn link(path: &str, kind: fn(String) -> EntryKind, target: &str) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: kind(target.into()),
        }
    }

    fn hard(target: String) -> EntryKind {
        EntryKind::HardLink { target }
    }

    fn sym(target: String) -> EntryKind {
        EntryKind::Symlink { target }
    }

    #[test]
    fn header_is_110_bytes_of_lower_hex_then_padded_name() {
        let mut buf = Vec::new();
        let header = Header {
            name: "ab",
            ino: 0xabc,
            mode: MODE_DIR,
            nlink: 2,
            mtime: 0xdeadbeef,
            filesize: 0,
        };
        header.encode(&mut buf);
        let expected = "070701\
            00000abc000041ed0000000000000000\
            00000002deadbeef0000000000000000\
            00000000000000000000000000000003\
            00000000ab\0";
        // 110 + 3 = 113 bytes, padded to 116.
        assert_eq!(buf, [expected.as_bytes(), b"\0\0\0"].concat());
    }

    #[test]
    fn padding_reaches_the_next_multiple_of_four() {
        let pads: Vec<usize> = (0..6).map(padding).collect();
        assert_eq!(pads, [0, 3, 2, 1, 0, 3]);
    }

    #[test]
    fn inodes_are_sequential_and_hard_links_share_their_group() {
        let tree = Tree::new(vec![
            dir("a"),
            dir("a/b"),
            dir("a/c"),
            file("a/f", 1),
            link("a/g", hard, "a/f"),
            link("a/h", sym, "f"),
            link("a/i", hard, "a/f"),
            file("z", 0),
        ])
        .unwrap();
        let got = number_inodes(&tree, Path::new("/r")).unwrap();
        let pairs: Vec<(u32, u32)> = got.iter().map(|i| (i.ino, i.nlink)).collect();
        // a: 2 + two subdirectories; a/f's group of three keeps inode 4; z follows a/h.
        let expected = [
            (1, 4),
            (2, 2),
            (3, 2),
            (4, 3),
            (4, 3),
            (5, 1),
            (4, 3),
            (6, 1),
        ];
        assert_eq!(pairs, expected);
    }

    #[test]
    fn dirs_and_symlinks_need_no_files_on_disk() {
        let tree = Tree::new(vec![dir("d"), link("d/l", sym, "../x")]).unwrap();
        let mut out = Vec::new();
        let opts = NewcOptions { mtime: 7 };
        let stats = write_newc(&tree, Path::new("/nonexistent"), &opts, &mut out).unwrap();
        assert_eq!(stats.entries, 2);
        assert_eq!(stats.bytes, out.len() as u64);
        // d: 110+2 -> 112; d/l: 110+4 -> 116 (114 padded), data 4; trailer: 110+11 -> 124.
        assert_eq!(out.len(), 112 + 116 + 4 + 124);
        assert_eq!(&out[112 + 116..112 + 120], b"../x");
        assert!(out.ends_with(b"TRAILER!!!\0\0\0\0"));
    }

    #[test]
    fn a_top_level_trailer_name_is_refused() {
        let tree = Tree::new(vec![dir("TRAILER!!!")]).unwrap();
        let err = write_newc(
            &tree,
            Path::new("/r"),
            &NewcOptions::default(),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(err, InitrdError::BadName { .. }), "{err}");
        assert!(err.to_string().contains("/r/TRAILER!!!"), "{err}");
        // Below the top level the name is harmless.
        let tree = Tree::new(vec![dir("d"), dir("d/TRAILER!!!")]).unwrap();
        assert!(
            write_newc(
                &tree,
                Path::new("/r"),
                &NewcOptions::default(),
                &mut Vec::new()
            )
            .is_ok()
        );
    }

    #[test]
    fn a_missing_file_is_a_read_error_naming_it() {
        let tree = Tree::new(vec![file("gone", 3)]).unwrap();
        let err = write_newc(
            &tree,
            Path::new("/nonexistent"),
            &NewcOptions::default(),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(err, InitrdError::Read { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/gone"), "{err}");
    }
}
