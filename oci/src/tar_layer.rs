//! Uncompressed tar layers with the exact bytes kraft writes.
//!
//! kraft's layer is Go's `archive/tar` writing one USTAR header per file (uid/gid 0, no
//! user or group names, mtime 0), the data padded to 512 bytes, then two zero blocks and no
//! padding to a 10 KiB record. The header is written here by hand — 512 bytes, every field
//! listed below — because the `tar` crate writes the checksum (7 digits + NUL; Go writes 6
//! digits, NUL, space) and the device fields (NUL; Go writes `0000000\0`) differently, and
//! the layer digest is the package's identity. The golden test compares with Go's bytes.
//!
//! | offset | len | field | value |
//! |---:|---:|---|---|
//! | 0 | 100 | name | the path, NUL-padded (at most 100 bytes: kiln's paths are fixed and short) |
//! | 100 | 8 | mode | 7 octal digits + NUL |
//! | 108, 116 | 8, 8 | uid, gid | `0000000\0` |
//! | 124 | 12 | size | 11 octal digits + NUL |
//! | 136 | 12 | mtime | `00000000000\0` |
//! | 148 | 8 | chksum | 6 octal digits, NUL, space (the sum of all 512 bytes, counting this field as spaces) |
//! | 156 | 1 | typeflag | `0` file, `5` directory |
//! | 157 | 100 | linkname | NUL |
//! | 257 | 8 | magic, version | `ustar\0` `00` |
//! | 265, 297 | 32, 32 | uname, gname | NUL |
//! | 329, 337 | 8, 8 | devmajor, devminor | `0000000\0` |
//! | 345 | 167 | prefix, padding | NUL |

use std::io::{self, Read, Write};

/// Sizes must fit USTAR's 11 octal digits (Go would switch to PAX beyond that).
const MAX_SIZE: u64 = 0o77777777777;

/// One member of a layer.
pub enum Member<'a> {
    /// A directory (`path` ends with `/`).
    Dir {
        /// Its path inside the layer, without a leading `/`.
        path: &'a str,
        /// Permission bits.
        mode: u32,
    },
    /// A regular file whose bytes come from `data`.
    File {
        /// Its path inside the layer, without a leading `/`.
        path: &'a str,
        /// Permission bits.
        mode: u32,
        /// Exactly how many bytes `data` gives.
        size: u64,
        /// The bytes.
        data: &'a mut dyn Read,
    },
}

/// The 512-byte header of a regular file (`typeflag` b'0') or directory (b'5').
pub fn header(path: &str, mode: u32, size: u64, typeflag: u8) -> io::Result<[u8; 512]> {
    if path.len() > 100 || path.is_empty() || !path.is_ascii() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("tar member name `{path}` must be 1 to 100 ASCII bytes"),
        ));
    }
    if size > MAX_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{path}` is {size} bytes; a layer member must be under 8 GiB"),
        ));
    }
    let mut h = [0u8; 512];
    h[..path.len()].copy_from_slice(path.as_bytes());
    let mut octal = |at: usize, len: usize, value: u64| {
        let digits = format!("{value:0width$o}", width = len - 1);
        h[at..at + len - 1].copy_from_slice(digits.as_bytes());
    };
    octal(100, 8, u64::from(mode & 0o7777));
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, size);
    octal(136, 12, 0);
    octal(329, 8, 0);
    octal(337, 8, 0);
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    Ok(h)
}

/// Writes a layer of `members` to `out`: headers, data padded to 512, two zero blocks.
/// A file whose `data` gives another number of bytes than its `size` is an error.
pub fn write_layer(members: &mut [Member<'_>], out: &mut dyn Write) -> io::Result<()> {
    for m in members.iter_mut() {
        match m {
            Member::Dir { path, mode } => out.write_all(&header(path, *mode, 0, b'5')?)?,
            Member::File {
                path,
                mode,
                size,
                data,
            } => {
                out.write_all(&header(path, *mode, *size, b'0')?)?;
                let copied = io::copy(&mut (&mut **data).take(*size + 1), out)?;
                if copied != *size {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "`{path}` gave {copied} bytes, not {size}: it changed while it was packaged"
                        ),
                    ));
                }
                let pad = (512 - (*size % 512) as usize) % 512;
                out.write_all(&[0u8; 512][..pad])?;
            }
        }
    }
    out.write_all(&[0u8; 1024])
}

/// The size of a layer holding files of `sizes` bytes and `dirs` directories.
pub fn layer_size(sizes: &[u64], dirs: usize) -> u64 {
    let files: u64 = sizes.iter().map(|s| 512 + s.div_ceil(512) * 512).sum();
    files + 512 * dirs as u64 + 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> Vec<u8> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/kraftkit-go");
        std::fs::read(dir.join(name)).unwrap()
    }

    #[test]
    fn the_bytes_are_gos() {
        for (src, dst, mode, layer) in [
            (
                "kernel.bin",
                "unikraft/bin/kernel",
                0o644,
                "layer-kernel.tar",
            ),
            (
                "initrd.cpio",
                "unikraft/bin/initrd",
                0o600,
                "layer-initrd.tar",
            ),
        ] {
            let data = golden(src);
            let mut out = Vec::new();
            let mut member = [Member::File {
                path: dst,
                mode,
                size: data.len() as u64,
                data: &mut data.as_slice(),
            }];
            write_layer(&mut member, &mut out).unwrap();
            assert_eq!(out, golden(layer), "{layer}");
            assert_eq!(out.len() as u64, layer_size(&[data.len() as u64], 0));
        }
    }

    #[test]
    fn a_file_that_changes_size_is_an_error() {
        let mut out = Vec::new();
        let mut member = [Member::File {
            path: "a",
            mode: 0o644,
            size: 4,
            data: &mut &b"abc"[..],
        }];
        let e = write_layer(&mut member, &mut out).unwrap_err();
        assert!(e.to_string().contains("gave 3 bytes, not 4"), "{e}");
    }

    #[test]
    fn long_names_are_refused() {
        assert!(header(&"a".repeat(101), 0o644, 0, b'0').is_err());
    }
}
