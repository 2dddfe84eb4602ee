//! Checks that a rootfs given as an existing archive is a cpio "newc" archive.
//!
//! Unikraft's `ukcpio` accepts only the magics `070701` (newc) and `070702` (newc with
//! checksums, which it ignores) and does not decompress, so anything else would fail at boot
//! with "Bad magic number in CPIO header". This check moves that failure to build time and
//! says what the file looks like instead. It reads only the start of the file; it does not
//! validate the entries after the first header.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::InitrdError;

/// How many bytes are read to recognise the file: enough for a tar header's `ustar` magic.
const PROBE_LEN: usize = 512;

/// Accepts `path` if it starts with the newc magic `070701` or `070702`.
///
/// Anything else — another cpio flavour, a compressed archive, a tar file, an empty file — is
/// refused with an [`InitrdError::NotNewc`] that names the path and says how to make a newc
/// archive. A file that cannot be read gives [`InitrdError::Read`].
pub fn check_newc(path: &Path) -> Result<(), InitrdError> {
    let read_error = |source| InitrdError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    let mut probe = [0u8; PROBE_LEN];
    let len = read_up_to(&mut file, &mut probe).map_err(read_error)?;
    let head = &probe[..len];
    if head.starts_with(b"070701") || head.starts_with(b"070702") {
        return Ok(());
    }
    Err(InitrdError::NotNewc {
        path: path.to_path_buf(),
        found: describe(head),
    })
}

/// Reads until `buf` is full or the file ends; returns how many bytes were read.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Names the format a file's first bytes suggest, for the error message.
fn describe(head: &[u8]) -> String {
    let known: &[(&[u8], &str)] = &[
        (b"070707", "it is an old portable (odc) cpio archive"),
        (b"\xc7\x71", "it is an old binary cpio archive"),
        (b"\x71\xc7", "it is an old binary cpio archive"),
        (b"\x1f\x8b", "it is gzip-compressed"),
        (b"\xfd7zXZ\x00", "it is xz-compressed"),
        (b"\x28\xb5\x2f\xfd", "it is zstd-compressed"),
        (b"BZh", "it is bzip2-compressed"),
        (b"\x02\x21\x4c\x18", "it is lz4-compressed"),
        (b"\x89LZO", "it is lzo-compressed"),
    ];
    if head.is_empty() {
        return "it is empty".to_string();
    }
    if let Some((_, what)) = known.iter().find(|(magic, _)| head.starts_with(magic)) {
        return (*what).to_string();
    }
    if head.get(257..262) == Some(b"ustar") {
        return "it is a tar archive".to_string();
    }
    let shown = &head[..head.len().min(6)];
    format!("it starts with {:?}", String::from_utf8_lossy(shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_common_formats() {
        assert_eq!(describe(b""), "it is empty");
        assert_eq!(
            describe(b"070707000"),
            "it is an old portable (odc) cpio archive"
        );
        assert_eq!(describe(b"\x1f\x8b\x08\x00"), "it is gzip-compressed");
        let mut tar = vec![0u8; 300];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(describe(&tar), "it is a tar archive");
        assert_eq!(describe(b"hello world"), "it starts with \"hello \"");
    }
}
