//! Reading a newc archive given as the rootfs, entry by entry, and checking it the way
//! Unikraft's `ukcpio` will read it at boot.
//!
//! # Why this is written by hand
//! The reader is small and must be exact about what it accepts: the rules are `ukcpio`'s
//! (`lib/ukcpio/cpio.c` at RELEASE-0.17.0), not GNU cpio's. The `cpio` crate accepts archives
//! `ukcpio` refuses (no trailer) and reads through a `Read` it owns, where this reader checks
//! the bytes as they stream into the cache.
//!
//! # What is checked
//! - every header starts with `070701` or `070702` and has thirteen 8-digit hex fields;
//! - the name is NUL-terminated, not empty, and fits in the archive;
//! - data and padding fit in the archive;
//! - a parent directory comes before its children (`ukcpio` creates entries in order; a file
//!   whose directory comes later fails to boot with "Failed to create file");
//! - the archive ends with a `TRAILER!!!` entry (without it `ukcpio` reports a truncated
//!   header), after which only NUL padding may follow.
//!
//! Names may carry a leading `./` (kraft writes them so); entries of kinds other than
//! directories, files and symlinks are accepted, as `ukcpio` skips them.

use std::collections::HashSet;
use std::io::{self, Read};

/// What is wrong with an archive, at which byte offset and entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}{}: {problem}", entry.as_ref().map(|e| format!(" (entry `{e}`)")).unwrap_or_default())]
pub struct NewcProblem {
    /// Where the bad part starts.
    pub offset: u64,
    /// The entry it belongs to, if its name was read.
    pub entry: Option<String>,
    /// What is wrong.
    pub problem: String,
}

/// Why [`read_newc`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadNewcError {
    /// The archive is not what `ukcpio` reads.
    #[error("{0}")]
    Bad(#[from] NewcProblem),
    /// The bytes could not be read.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// One entry's header fields that matter to a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewcEntry {
    /// The name, without a leading `./`.
    pub name: String,
    /// The mode (type and permission bits).
    pub mode: u32,
    /// The data size.
    pub size: u64,
}

const HEADER_LEN: usize = 110;
/// Names longer than this are refused (Linux's PATH_MAX), so a corrupt size cannot make the
/// reader allocate gigabytes.
const MAX_NAME: u64 = 4096;
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;

/// Reads a whole newc archive from `input`, calling `sink` with every byte read (so the
/// caller can store the archive while it is checked) and returning its entries, trailer not
/// included.
pub fn read_newc(
    input: &mut dyn Read,
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> Result<Vec<NewcEntry>, ReadNewcError> {
    let mut r = Reader {
        input,
        sink,
        offset: 0,
    };
    let mut entries = Vec::new();
    let mut dirs: HashSet<String> = HashSet::new();
    loop {
        let start = r.offset;
        let bad = |entry: Option<&str>, problem: String| NewcProblem {
            offset: start,
            entry: entry.map(str::to_string),
            problem,
        };
        let mut header = [0u8; HEADER_LEN];
        if !r.read_exact_or_eof(&mut header)? {
            return Err(bad(None, "the archive ends without a `TRAILER!!!` entry".into()).into());
        }
        if !(header.starts_with(b"070701") || header.starts_with(b"070702")) {
            let shown = String::from_utf8_lossy(&header[..6]).into_owned();
            return Err(bad(None, format!("bad magic {shown:?} (expected 070701)")).into());
        }
        let field = |i: usize| -> Result<u32, NewcProblem> {
            let text = &header[6 + 8 * i..6 + 8 * (i + 1)];
            std::str::from_utf8(text)
                .ok()
                .and_then(|t| u32::from_str_radix(t, 16).ok())
                .ok_or_else(|| bad(None, format!("header field {i} is not 8 hex digits")))
        };
        let (mode, size, namesize) = (field(1)?, u64::from(field(6)?), u64::from(field(11)?));
        if namesize == 0 || namesize > MAX_NAME {
            return Err(bad(None, format!("bad name size {namesize}")).into());
        }
        let mut name = vec![0u8; namesize as usize];
        r.read_exact_named(&mut name, start)?;
        r.skip(pad(HEADER_LEN as u64 + namesize), start, None)?;
        if name.last() != Some(&0) || name[..name.len() - 1].contains(&0) {
            return Err(bad(None, "the name is not NUL-terminated".into()).into());
        }
        let raw = String::from_utf8_lossy(&name[..name.len() - 1]).into_owned();
        if raw == "TRAILER!!!" {
            r.rest_is_padding()?;
            return Ok(entries);
        }
        let name = raw
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if name.is_empty() || name == "." {
            // The archive's root (GNU cpio writes `.`): the guest's `/` exists already.
            r.skip(size + pad(size), start, Some(&raw))?;
            continue;
        }
        if let Some((parent, _)) = name.rsplit_once('/')
            && !dirs.contains(parent)
        {
            let problem = format!(
                "`{name}` comes before its directory `{parent}`; Unikraft creates entries in \
                 order and would fail to boot"
            );
            return Err(bad(Some(&raw), problem).into());
        }
        if mode & S_IFMT == S_IFDIR {
            dirs.insert(name.clone());
        }
        r.skip(size + pad(size), start, Some(&raw))?;
        entries.push(NewcEntry { name, mode, size });
    }
}

fn pad(len: u64) -> u64 {
    (4 - len % 4) % 4
}

struct Reader<'a> {
    input: &'a mut dyn Read,
    sink: &'a mut dyn FnMut(&[u8]) -> io::Result<()>,
    offset: u64,
}

impl Reader<'_> {
    /// Fills `buf`; `false` if the input ended before its first byte.
    fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> Result<bool, ReadNewcError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.input.read(&mut buf[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => {
                    return Err(NewcProblem {
                        offset: self.offset,
                        entry: None,
                        problem: "the archive ends inside a header".into(),
                    }
                    .into());
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        (self.sink)(buf)?;
        self.offset += buf.len() as u64;
        Ok(true)
    }

    fn read_exact_named(&mut self, buf: &mut [u8], start: u64) -> Result<(), ReadNewcError> {
        match self.read_exact_or_eof(buf) {
            Ok(true) => Ok(()),
            Ok(false) | Err(ReadNewcError::Bad(_)) => Err(NewcProblem {
                offset: start,
                entry: None,
                problem: "the archive ends inside an entry's name".into(),
            }
            .into()),
            Err(e) => Err(e),
        }
    }

    /// Passes `len` bytes through to the sink.
    fn skip(&mut self, len: u64, start: u64, entry: Option<&str>) -> Result<(), ReadNewcError> {
        let mut buf = [0u8; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = match self.input.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(NewcProblem {
                        offset: start,
                        entry: entry.map(str::to_string),
                        problem: format!("the archive ends {left} bytes before this entry does"),
                    }
                    .into());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            (self.sink)(&buf[..n])?;
            self.offset += n as u64;
            left -= n as u64;
        }
        Ok(())
    }

    /// After the trailer: only NUL bytes.
    fn rest_is_padding(&mut self) -> Result<(), ReadNewcError> {
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = match self.input.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
                return Err(NewcProblem {
                    offset: self.offset + i as u64,
                    entry: None,
                    problem: "bytes other than padding follow the `TRAILER!!!` entry".into(),
                }
                .into());
            }
            (self.sink)(&buf[..n])?;
            self.offset += n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::initrd::{NewcOptions, write_newc};
    use kiln_engine::{EntryKind, Tree, TreeEntry};

    fn archive() -> Vec<u8> {
        let tree = Tree::new(vec![
            TreeEntry {
                path: "d".into(),
                kind: EntryKind::Dir,
            },
            TreeEntry {
                path: "d/l".into(),
                kind: EntryKind::Symlink { target: "x".into() },
            },
        ])
        .unwrap();
        let mut out = Vec::new();
        write_newc(
            &tree,
            std::path::Path::new("/"),
            &NewcOptions::default(),
            &mut out,
        )
        .unwrap();
        out
    }

    fn read(bytes: &[u8]) -> Result<Vec<NewcEntry>, ReadNewcError> {
        let mut seen = Vec::new();
        let got = read_newc(&mut &bytes[..], &mut |b| {
            seen.extend_from_slice(b);
            Ok(())
        });
        if got.is_ok() {
            assert_eq!(seen, bytes, "every byte reaches the sink");
        }
        got
    }

    #[test]
    fn reads_what_kiln_writes() {
        let entries = read(&archive()).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["d", "d/l"]);
    }

    #[test]
    fn refuses_what_ukcpio_cannot_boot() {
        let good = archive();
        let cut = &good[..good.len() - 124];
        let err = read(cut).unwrap_err().to_string();
        assert!(err.contains("without a `TRAILER!!!`"), "{err}");
        let err = read(&good[..50]).unwrap_err().to_string();
        assert!(err.contains("ends inside a header"), "{err}");
        let mut garbage = good.clone();
        garbage.extend_from_slice(b"junk");
        let err = read(&garbage).unwrap_err().to_string();
        assert!(err.contains("follow the `TRAILER!!!`"), "{err}");
        let mut magic = good.clone();
        magic[..6].copy_from_slice(b"070707");
        let err = read(&magic).unwrap_err().to_string();
        assert!(err.contains("bad magic \"070707\""), "{err}");
        // The child before its directory: swap the two entries.
        let first = 112; // "d": 110 + 2 bytes of name, no data
        let mut swapped = good[first..first + 120].to_vec();
        swapped.extend_from_slice(&good[..first]);
        swapped.extend_from_slice(&good[first + 120..]);
        let err = read(&swapped).unwrap_err().to_string();
        assert!(err.contains("comes before its directory `d`"), "{err}");
    }
}
