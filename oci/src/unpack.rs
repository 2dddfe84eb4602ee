//! Unpacking a package's uncompressed layers into a directory, as `kraft pkg pull -w` does
//! (kraft's kernel lands at `DIR/unikraft/bin/kernel`, its initrd at `DIR/unikraft/bin/initrd`).
//!
//! The tar reader is small and strict: USTAR headers with their checksum checked, regular
//! files and directories only (others are skipped and listed), and no member may leave the
//! directory: absolute names and `..` components are errors naming the member. Each file is
//! written to a temporary name and renamed, so nothing is left half-written.

use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// What an unpack wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// Files written, relative to the directory.
    pub files: Vec<PathBuf>,
    /// Members skipped (links, devices), with their type.
    pub skipped: Vec<String>,
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn octal(field: &[u8]) -> io::Result<u64> {
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8)
        .map_err(|_| bad(format!("a tar header field `{text}` is not octal")))
}

/// The relative path a member name is written to, or an error naming it.
fn safe_path(name: &str) -> io::Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => {
                return Err(bad(format!(
                    "the layer member `{name}` would be written outside the directory"
                )));
            }
        }
    }
    Ok(out)
}

/// Unpacks the tar stream `layer` into `dir`.
pub fn unpack_layer(layer: &mut dyn Read, dir: &Path, out: &mut Unpacked) -> io::Result<()> {
    let mut header = [0u8; 512];
    loop {
        if let Err(e) = layer.read_exact(&mut header) {
            return if e.kind() == io::ErrorKind::UnexpectedEof {
                Ok(())
            } else {
                Err(e)
            };
        }
        if header.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let stored = octal(&header[148..156])?;
        let sum: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if stored != sum {
            return Err(bad(
                "a layer's tar header checksum is wrong: the layer is damaged or not a tar".into(),
            ));
        }
        let field = |r: std::ops::Range<usize>| {
            String::from_utf8_lossy(&header[r])
                .trim_end_matches('\0')
                .to_string()
        };
        let mut name = field(0..100);
        let prefix = field(345..500);
        if &header[257..262] == b"ustar" && !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        let size = octal(&header[124..136])?;
        let mode = octal(&header[100..108])? as u32;
        let padded = size.div_ceil(512) * 512;
        let rel = safe_path(&name)?;
        match header[156] {
            b'0' | 0 => {
                write_member(layer, dir, &rel, size, mode)?;
                io::copy(&mut layer.take(padded - size), &mut io::sink())?;
                out.files.push(rel);
            }
            b'5' => std::fs::create_dir_all(dir.join(&rel))?,
            other => {
                io::copy(&mut layer.take(padded), &mut io::sink())?;
                out.skipped.push(format!("{name} (type {})", other as char));
            }
        }
    }
}

/// Copies the data of the member named `name` (without a leading `/`) of the tar stream
/// `layer` to `out`; returns whether the layer has it. Reads up to the end-of-archive
/// blocks (or the member), no further.
pub fn extract_member(
    layer: &mut dyn Read,
    name: &str,
    out: &mut dyn io::Write,
) -> io::Result<bool> {
    let mut header = [0u8; 512];
    loop {
        match layer.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(e),
        }
        if header.iter().all(|&b| b == 0) {
            return Ok(false);
        }
        let field = |r: std::ops::Range<usize>| {
            String::from_utf8_lossy(&header[r])
                .trim_end_matches('\0')
                .to_string()
        };
        let (mut member, prefix) = (field(0..100), field(345..500));
        if !prefix.is_empty() {
            member = format!("{prefix}/{member}");
        }
        let size = octal(&header[124..136])?;
        let padded = size.div_ceil(512) * 512;
        let wanted = member.trim_start_matches("./").trim_start_matches('/') == name;
        if wanted && matches!(header[156], b'0' | 0) {
            let copied = io::copy(&mut layer.take(size), out)?;
            if copied != size {
                return Err(bad(format!("the layer ends inside `{member}`")));
            }
            io::copy(&mut layer.take(padded - size), &mut io::sink())?;
            return Ok(true);
        }
        io::copy(&mut layer.take(padded), &mut io::sink())?;
    }
}

fn write_member(
    layer: &mut dyn Read,
    dir: &Path,
    rel: &Path,
    size: u64,
    mode: u32,
) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dest = dir.join(rel);
    let parent = dest.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent)?;
    let temp = parent.join(format!(
        ".{}.kiln-unpack-{}.tmp",
        rel.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&temp)?;
        let copied = io::copy(&mut layer.take(size), &mut f)?;
        if copied != size {
            return Err(bad(format!("the layer ends inside `{}`", rel.display())));
        }
        let exec = mode & 0o111 != 0;
        f.set_permissions(std::fs::Permissions::from_mode(if exec {
            0o755
        } else {
            0o644
        }))?;
        std::fs::rename(&temp, &dest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar_layer::{Member, header, write_layer};

    #[test]
    fn unpacks_what_the_writer_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut tar = Vec::new();
        write_layer(
            &mut [
                Member::Dir {
                    path: ".boot/",
                    mode: 0o755,
                },
                Member::File {
                    path: ".boot/kernel",
                    mode: 0o755,
                    size: 3,
                    data: &mut &b"abc"[..],
                },
            ],
            &mut tar,
        )
        .unwrap();
        let mut out = Unpacked::default();
        unpack_layer(&mut tar.as_slice(), dir.path(), &mut out).unwrap();
        assert_eq!(out.files, vec![PathBuf::from(".boot/kernel")]);
        assert_eq!(
            std::fs::read(dir.path().join(".boot/kernel")).unwrap(),
            b"abc"
        );
    }

    #[test]
    fn members_leaving_the_directory_are_errors() {
        for name in ["../evil", "/etc/evil", "a/../../evil"] {
            let mut tar = header(name, 0o644, 0, b'0').unwrap().to_vec();
            tar.extend([0u8; 1024]);
            let dir = tempfile::tempdir().unwrap();
            let e = unpack_layer(&mut tar.as_slice(), dir.path(), &mut Unpacked::default())
                .unwrap_err();
            assert!(
                e.to_string().contains("outside the directory"),
                "{name}: {e}"
            );
        }
    }
}
