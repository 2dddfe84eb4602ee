//! Flattening layers (or a plain tar archive) into a directory: each layer's entries in
//! order, with OCI whiteouts applied (`.wh.<name>` deletes `<name>` of the layers below;
//! `.wh..wh..opq` hides every entry of the layers below in its directory).
//!
//! Safety: nothing is written outside the directory. An absolute name, a `..` component, or
//! a name that passes through a symbolic link is an error naming the entry. Symbolic links
//! are kept as they are (they are only ever read inside the guest); hard links must name an
//! entry inside the directory. Devices, FIFOs and other special files are skipped and
//! listed, as kraft skips them. Owners, mtimes and extended attributes are not kept: a
//! rootfs is a tree of names, contents, exec bits and links.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// What flattening skipped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flattened {
    /// Entries skipped (devices, FIFOs, sockets), as `path (kind)`.
    pub skipped: Vec<String>,
}

/// Why a layer could not be applied. Every message names the entry.
#[derive(Debug, thiserror::Error)]
pub enum FlattenError {
    /// An entry that would write outside the directory.
    #[error("entry `{entry}`: {why}; the archive is refused")]
    Escape {
        /// The entry's name.
        entry: String,
        /// How it escapes.
        why: String,
    },
    /// The archive is damaged or not a tar.
    #[error("{0}")]
    Bad(String),
    /// Writing the directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> FlattenError + '_ {
    move |source| FlattenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A directory that layers are applied to, bottom first.
pub struct Flattener {
    root: PathBuf,
    report: Flattened,
}

impl Flattener {
    /// Applies layers into `root` (which must exist and be empty).
    pub fn new(root: &Path) -> Flattener {
        Flattener {
            root: root.to_path_buf(),
            report: Flattened::default(),
        }
    }

    /// What was skipped so far.
    pub fn finish(self) -> Flattened {
        self.report
    }

    /// Applies one uncompressed tar stream.
    pub fn apply(&mut self, layer: &mut dyn Read) -> Result<(), FlattenError> {
        let mut archive = tar::Archive::new(layer);
        let mut this_layer: HashSet<PathBuf> = HashSet::new();
        let entries = archive
            .entries()
            .map_err(|e| FlattenError::Bad(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| FlattenError::Bad(format!("a damaged tar entry: {e}")))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let rel = relative(&raw)?;
            if rel.as_os_str().is_empty() {
                continue;
            }
            let name = rel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
            self.check_parents(&raw, &parent)?;
            if name == ".wh..wh..opq" {
                self.opaque(&parent, &this_layer)?;
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                remove_any(&self.root.join(&parent).join(hidden))?;
                continue;
            }
            this_layer.insert(rel.clone());
            self.write_entry(&mut entry, &raw, &rel)?;
        }
        Ok(())
    }

    /// Every existing ancestor of `parent` must be a real directory, never a symlink.
    fn check_parents(&self, raw: &str, parent: &Path) -> Result<(), FlattenError> {
        let mut at = self.root.clone();
        for c in parent.components() {
            at.push(c);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(FlattenError::Escape {
                        entry: raw.to_string(),
                        why: format!(
                            "it would be written through the symbolic link `{}`",
                            display(&self.root, &at)
                        ),
                    });
                }
                Ok(m) if !m.is_dir() => remove_any(&at)?,
                _ => {}
            }
        }
        std::fs::create_dir_all(self.root.join(parent)).map_err(io_at(&self.root.join(parent)))
    }

    fn opaque(&self, dir: &Path, this_layer: &HashSet<PathBuf>) -> Result<(), FlattenError> {
        let abs = self.root.join(dir);
        let Ok(children) = std::fs::read_dir(&abs) else {
            return Ok(());
        };
        for child in children.flatten() {
            let rel = dir.join(child.file_name());
            if !this_layer.contains(&rel) {
                remove_any(&child.path())?;
            }
        }
        Ok(())
    }

    fn write_entry(
        &mut self,
        entry: &mut tar::Entry<'_, &mut dyn Read>,
        raw: &str,
        rel: &Path,
    ) -> Result<(), FlattenError> {
        use std::os::unix::fs::PermissionsExt;
        let dest = self.root.join(rel);
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0o644);
        if !kind.is_dir() {
            remove_any(&dest)?;
        }
        match kind {
            tar::EntryType::Directory => {
                if std::fs::symlink_metadata(&dest).is_ok_and(|m| !m.is_dir()) {
                    remove_any(&dest)?;
                }
                std::fs::create_dir_all(&dest).map_err(io_at(&dest))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let mut f = std::fs::File::create(&dest).map_err(io_at(&dest))?;
                io::copy(entry, &mut f).map_err(io_at(&dest))?;
                let exec = mode & 0o111 != 0;
                f.set_permissions(std::fs::Permissions::from_mode(if exec {
                    0o755
                } else {
                    0o644
                }))
                .map_err(io_at(&dest))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| FlattenError::Bad(format!("entry `{raw}`: {e}")))?
                    .ok_or_else(|| {
                        FlattenError::Bad(format!(
                            "entry `{raw}`: a symbolic link without a target"
                        ))
                    })?;
                std::os::unix::fs::symlink(&target, &dest).map_err(io_at(&dest))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .ok_or_else(|| {
                        FlattenError::Bad(format!("entry `{raw}`: a hard link without a target"))
                    })?;
                let target_rel = relative(&target).map_err(|_| FlattenError::Escape {
                    entry: raw.to_string(),
                    why: format!("it is a hard link to `{target}`, outside the archive"),
                })?;
                let parent = target_rel
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                self.check_parents(raw, &parent)?;
                let source = self.root.join(&target_rel);
                std::fs::hard_link(&source, &dest).map_err(|e| {
                    FlattenError::Bad(format!("entry `{raw}`: a hard link to `{target}`, which the archive does not hold before it ({e})"))
                })?;
            }
            other => self
                .report
                .skipped
                .push(format!("{raw} ({})", kind_name(other))),
        }
        Ok(())
    }
}

fn kind_name(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        _ => "special file",
    }
}

fn display(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// An entry name as a path inside the directory, or an error naming it.
fn relative(raw: &str) -> Result<PathBuf, FlattenError> {
    let escape = |why: &str| FlattenError::Escape {
        entry: raw.to_string(),
        why: why.to_string(),
    };
    if raw.starts_with('/') {
        return Err(escape("it is an absolute path"));
    }
    let mut out = PathBuf::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(escape("it has a `..` component")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(escape("it is an absolute path"));
            }
        }
    }
    Ok(out)
}

/// Removes whatever is at `p` (a file, a link, a directory tree); nothing there is fine.
fn remove_any(p: &Path) -> Result<(), FlattenError> {
    match std::fs::symlink_metadata(p) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).map_err(io_at(p)),
        Ok(_) => std::fs::remove_file(p).map_err(io_at(p)),
    }
}

/// Makes the directory `dest` from what `fill` applies to a [`Flattener`] on a temporary
/// directory beside it (named for its writer, so a dead writer's is swept), renamed into
/// place only when `fill` succeeded: a half-made tree is never seen under `dest`. If another
/// process made `dest` meanwhile, its (same) tree is kept. `io` turns file-system errors into
/// the caller's error type.
pub fn make_dir<E>(
    dest: &Path,
    io: impl Fn(io::Error) -> E,
    fill: impl FnOnce(&mut Flattener) -> Result<(), E>,
) -> Result<Flattened, E> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(&io)?;
    let _ = kiln_engine::temp_owner::remove_dead(parent);
    let name = dest
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let temp = kiln_engine::temp_owner::temp_path_for(parent, &name);
    let made = std::fs::create_dir(&temp).map_err(&io).and_then(|()| {
        let mut flattener = Flattener::new(&temp);
        fill(&mut flattener)?;
        Ok(flattener.finish())
    });
    let renamed = made.and_then(|done| match std::fs::rename(&temp, dest) {
        Ok(()) => Ok(done),
        Err(_) if dest.is_dir() => Ok(done),
        Err(e) => Err(io(e)),
    });
    let _ = std::fs::remove_dir_all(&temp);
    renamed
}

/// `data` decompressed when it starts with the gzip or zstd magic, else as it is.
pub fn decompressed<'a>(mut data: Box<dyn Read + 'a>) -> io::Result<Box<dyn Read + 'a>> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = data.read(&mut magic[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let head = io::Cursor::new(magic[..got].to_vec());
    let chained: Box<dyn Read + 'a> = Box::new(head.chain(data));
    if got >= 2 && magic[..2] == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(chained)))
    } else if got == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        let decoder = ruzstd::decoding::StreamingDecoder::new(chained).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("a zstd layer: {e}"))
        })?;
        Ok(Box::new(decoder))
    } else {
        Ok(chained)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(if *kind == tar::EntryType::Directory {
                0o755
            } else {
                0o644
            });
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            // Write the name raw, so that the tests can hand over what a hostile archive has.
            let name = h.as_old_mut();
            name.name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn listing(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in walk(root) {
            let rel = e.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&e).unwrap();
            let what = if m.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&e).unwrap().display())
            } else if m.is_dir() {
                "dir".into()
            } else {
                String::from_utf8_lossy(&std::fs::read(&e).unwrap()).into_owned()
            };
            out.push(format!("{rel} {what}"));
        }
        out.sort();
        out
    }

    fn walk(p: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(p).unwrap().flatten() {
            out.push(e.path());
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(&e.path()));
            }
        }
        out
    }

    use tar::EntryType::{Directory as D, Link as H, Regular as F, Symlink as S};

    #[test]
    fn whiteouts_and_opaque_directories_hide_the_layers_below() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Flattener::new(dir.path());
        let base = layer(&[
            ("etc/", D, b"", ""),
            ("etc/a", F, b"a1", ""),
            ("etc/b", F, b"b1", ""),
            ("var/", D, b"", ""),
            ("var/cache/", D, b"", ""),
            ("var/cache/x", F, b"x", ""),
            ("bin/sh", F, b"sh", ""),
            ("bin/ash", H, b"", "bin/sh"),
            ("lib", S, b"", "/usr/lib"),
        ]);
        f.apply(&mut base.as_slice()).unwrap();
        let top = layer(&[
            ("etc/.wh.a", F, b"", ""),
            ("etc/c", F, b"c2", ""),
            ("var/cache/.wh..wh..opq", F, b"", ""),
            ("var/cache/y", F, b"y2", ""),
            ("etc/b", F, b"b2", ""),
        ]);
        f.apply(&mut top.as_slice()).unwrap();
        assert_eq!(
            listing(dir.path()),
            [
                "bin dir",
                "bin/ash sh",
                "bin/sh sh",
                "etc dir",
                "etc/b b2",
                "etc/c c2",
                "lib -> /usr/lib",
                "var dir",
                "var/cache dir",
                "var/cache/y y2",
            ]
        );
        use std::os::unix::fs::MetadataExt;
        let ino = |p: &str| std::fs::metadata(dir.path().join(p)).unwrap().ino();
        assert_eq!(ino("bin/ash"), ino("bin/sh"), "hard links stay hard links");
    }

    #[test]
    fn escapes_are_refused_naming_the_entry() {
        for (entries, needle) in [
            (vec![("../evil", F, &b"x"[..], "")], "`..` component"),
            (vec![("/etc/evil", F, &b"x"[..], "")], "absolute path"),
            (
                vec![
                    ("out", S, &b""[..], "/etc"),
                    ("out/passwd", F, &b"x"[..], ""),
                ],
                "through the symbolic link `out`",
            ),
            (
                vec![("h", H, &b""[..], "../../etc/passwd")],
                "outside the archive",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let inner = dir.path().join("root");
            std::fs::create_dir(&inner).unwrap();
            let e = Flattener::new(&inner)
                .apply(&mut layer(&entries).as_slice())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{e}");
            assert!(!dir.path().join("evil").exists() && !dir.path().join("etc").exists());
        }
    }

    #[test]
    fn devices_and_fifos_are_skipped_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Flattener::new(dir.path());
        f.apply(
            &mut layer(&[
                ("dev/null", tar::EntryType::Char, b"", ""),
                ("run/fifo", tar::EntryType::Fifo, b"", ""),
            ])
            .as_slice(),
        )
        .unwrap();
        assert_eq!(
            f.finish().skipped,
            ["dev/null (character device)", "run/fifo (FIFO)"]
        );
        assert!(!dir.path().join("dev/null").exists());
    }

    #[test]
    fn gzip_is_recognised_by_its_magic() {
        let plain = layer(&[("a", F, b"hello", "")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &plain).unwrap();
        let gz = gz.finish().unwrap();
        for bytes in [plain.clone(), gz] {
            let dir = tempfile::tempdir().unwrap();
            let mut r = decompressed(Box::new(std::io::Cursor::new(bytes))).unwrap();
            Flattener::new(dir.path()).apply(&mut r).unwrap();
            assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"hello");
        }
    }
}
