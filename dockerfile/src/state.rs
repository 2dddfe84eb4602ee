//! The filesystems between Dockerfile instructions ("states"), kept as immutable directories
//! of the machine-wide cache: `<dir>/state-<hex>/`, where `<hex>` is the BLAKE3 of the
//! state's tree listing (its canonical JSON, kept beside it as `state-<hex>.tree.json`). The
//! same tree is one directory, whichever step or project made it.
//!
//! A state is written from its tree and, for each regular file, where its bytes are: a file
//! of an immutable directory (another state, a flattened image) is hard-linked, anything
//! else (the build context, which the user edits) is copied. A directory is written in a
//! temporary directory and renamed into place, listing last, so a half-written state is
//! never used.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kiln_engine::tree::{EntryKind, Tree};
use kiln_engine::{BlobDigest, fsutil, temp_owner};

/// Where one file's bytes come from.
pub enum Origin {
    /// A file of an immutable directory: hard-linked.
    Link(PathBuf),
    /// A file that may change later: copied.
    Copy(PathBuf),
}

/// The states under one directory, with the listings read so far.
pub struct States {
    dir: PathBuf,
    loaded: Mutex<HashMap<BlobDigest, Arc<Tree>>>,
}

/// A tree's canonical listing (what its state is named by).
pub fn encode(tree: &Tree) -> Vec<u8> {
    serde_json::to_vec(tree).expect("trees serialise")
}

/// A listing read back, with the tree's invariants checked (serde alone does not).
pub fn decode(bytes: &[u8]) -> Result<Tree, String> {
    let raw: Tree = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Tree::new(raw.entries().to_vec()).map_err(|e| e.to_string())
}

impl States {
    /// The states kept in `dir`.
    pub fn new(dir: &Path) -> States {
        States {
            dir: dir.to_path_buf(),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The directory of the state whose listing has digest `d`.
    pub fn dir_of(&self, d: &BlobDigest) -> PathBuf {
        self.dir.join(format!("state-{}", d.to_hex()))
    }

    fn listing_of(&self, d: &BlobDigest) -> PathBuf {
        self.dir.join(format!("state-{}.tree.json", d.to_hex()))
    }

    /// Whether the state is there (its directory and its listing).
    pub fn present(&self, d: &BlobDigest) -> bool {
        self.listing_of(d).is_file() && self.dir_of(d).is_dir()
    }

    /// The tree of state `d`, read from its listing and checked against its digest.
    pub fn load(&self, d: &BlobDigest) -> Result<Arc<Tree>, String> {
        if let Some(t) = self.lock().get(d) {
            return Ok(t.clone());
        }
        let path = self.listing_of(d);
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if BlobDigest::of_bytes(&bytes) != *d {
            return Err(format!(
                "{} does not hash to its name; remove it and build again",
                path.display()
            ));
        }
        let tree =
            Arc::new(decode(&bytes).map_err(|e| format!("{} does not read: {e}", path.display()))?);
        self.lock().insert(*d, tree.clone());
        Ok(tree)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BlobDigest, Arc<Tree>>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the state of `tree` (if it is not there yet), taking each regular file's bytes
    /// from `origin`; returns the listing's digest.
    pub fn write(
        &self,
        tree: &Tree,
        origin: &dyn Fn(&str) -> Result<Origin, String>,
    ) -> Result<BlobDigest, String> {
        let listing = encode(tree);
        let d = BlobDigest::of_bytes(&listing);
        if self.present(&d) {
            self.lock().insert(d, Arc::new(tree.clone()));
            return Ok(d);
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let tmp = temp_owner::temp_path_for(&self.dir, "state");
        let made = fill(&tmp, tree, origin);
        let made = made.and_then(|()| self.adopt(&tmp, &d, &listing));
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        made?;
        self.lock().insert(d, Arc::new(tree.clone()));
        Ok(d)
    }

    /// Takes the directory `made` (whose tree is `tree`, e.g. a builder's output, on the same
    /// filesystem) as a state, by rename; returns the listing's digest.
    pub fn adopt_dir(&self, made: &Path, tree: &Tree) -> Result<BlobDigest, String> {
        let listing = encode(tree);
        let d = BlobDigest::of_bytes(&listing);
        if self.present(&d) {
            let _ = std::fs::remove_dir_all(made);
        } else {
            self.adopt(made, &d, &listing)?;
        }
        self.lock().insert(d, Arc::new(tree.clone()));
        Ok(d)
    }

    fn adopt(&self, tmp: &Path, d: &BlobDigest, listing: &[u8]) -> Result<(), String> {
        let dest = self.dir_of(d);
        let _ = std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o755));
        match std::fs::rename(tmp, &dest) {
            Ok(()) => {}
            // Another build made the same state meanwhile: keep theirs.
            Err(_) if dest.is_dir() => {
                let _ = std::fs::remove_dir_all(tmp);
            }
            Err(e) => return Err(format!("cannot create {}: {e}", dest.display())),
        }
        fsutil::write_atomic(&self.listing_of(d), listing)
            .map_err(|e| format!("cannot write the listing of {}: {e}", dest.display()))
    }

    /// A temporary directory beside the states (same filesystem), for a builder's output.
    pub fn temp_dir(&self, stem: &str) -> Result<PathBuf, String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        Ok(temp_owner::temp_path_for(&self.dir, stem))
    }
}

fn fill(
    root: &Path,
    tree: &Tree,
    origin: &dyn Fn(&str) -> Result<Origin, String>,
) -> Result<(), String> {
    let io_err = |p: &Path, e: io::Error| format!("cannot write {}: {e}", p.display());
    std::fs::create_dir(root).map_err(|e| io_err(root, e))?;
    // A file linked twice into one state would look like a hard link to a later scan.
    let mut linked: HashSet<(u64, u64)> = HashSet::new();
    for e in tree.entries() {
        let path = root.join(&e.path);
        match &e.kind {
            EntryKind::Dir => {
                std::fs::create_dir(&path).map_err(|er| io_err(&path, er))?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .map_err(|er| io_err(&path, er))?;
            }
            EntryKind::Symlink { target } => {
                std::os::unix::fs::symlink(target, &path).map_err(|er| io_err(&path, er))?;
            }
            EntryKind::HardLink { target } => {
                std::fs::hard_link(root.join(target), &path).map_err(|er| io_err(&path, er))?;
            }
            EntryKind::File {
                executable, digest, ..
            } => {
                let mode = if *executable { 0o755 } else { 0o644 };
                match origin(&e.path)? {
                    Origin::Link(from) => {
                        let meta = std::fs::metadata(&from).map_err(|er| io_err(&from, er))?;
                        let id = (meta.dev(), meta.ino());
                        if linked.insert(id) && std::fs::hard_link(&from, &path).is_ok() {
                            continue;
                        }
                        copy_file(&from, &path, mode)?;
                    }
                    Origin::Copy(from) => {
                        // The source may be edited meanwhile: the state must hold what its
                        // name says, so the bytes are hashed as they are copied.
                        let got = copy_file(&from, &path, mode)?;
                        if got != digest.raw().0 {
                            return Err(format!(
                                "{} changed while it was copied; build again",
                                from.display()
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Copies `from` to `to` with `mode`; returns the BLAKE3 of the bytes copied.
fn copy_file(from: &Path, to: &Path, mode: u32) -> Result<[u8; 32], String> {
    let fail = |e: String| format!("cannot copy {} to {}: {e}", from.display(), to.display());
    let mut src = std::fs::File::open(from).map_err(|e| fail(e.to_string()))?;
    let mut out = std::fs::File::create(to).map_err(|e| fail(e.to_string()))?;
    let mut hasher = blake3::Hasher::new();
    fsutil::copy_hashing(&mut src, &mut out, &mut hasher)
        .map_err(|e| fail(e.into_io().to_string()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    Ok(*hasher.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_engine::statcache::StatCache;
    use kiln_engine::tree::TreeEntry;

    #[test]
    fn a_state_is_written_once_and_reads_back_as_its_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("ctx");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("a"), b"alpha").unwrap();
        let states = States::new(&tmp.path().join("states"));
        let tree = Tree::new(vec![
            TreeEntry {
                path: "bin".into(),
                kind: EntryKind::Dir,
            },
            TreeEntry {
                path: "bin/a".into(),
                kind: EntryKind::File {
                    digest: BlobDigest::of_bytes(b"alpha"),
                    size: 5,
                    executable: true,
                },
            },
            TreeEntry {
                path: "bin/b".into(),
                kind: EntryKind::HardLink {
                    target: "bin/a".into(),
                },
            },
            TreeEntry {
                path: "l".into(),
                kind: EntryKind::Symlink {
                    target: "bin/a".into(),
                },
            },
        ])
        .unwrap();
        let origin = |_: &str| Ok(Origin::Copy(src.join("a")));
        let d = states.write(&tree, &origin).unwrap();
        assert!(states.present(&d));
        let dir = states.dir_of(&d);
        let cache = StatCache::empty(&tmp.path().join("sc"));
        let (scanned, _) = kiln_engine::scan::scan_dir(&dir, &cache).unwrap();
        assert_eq!(scanned, tree, "the directory is what the tree says");
        let fresh = States::new(&tmp.path().join("states"));
        assert_eq!(*fresh.load(&d).unwrap(), tree);
        // Written again: nothing changes.
        assert_eq!(states.write(&tree, &origin).unwrap(), d);
        std::fs::write(
            tmp.path()
                .join(format!("states/state-{}.tree.json", d.to_hex())),
            b"{}",
        )
        .unwrap();
        assert!(fresh_error(&tmp.path().join("states"), &d).contains("does not hash"));
    }

    #[test]
    fn a_source_edited_before_it_is_copied_gives_no_state() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a"), b"edited").unwrap();
        let states = States::new(&tmp.path().join("states"));
        let tree = Tree::new(vec![TreeEntry {
            path: "a".into(),
            kind: EntryKind::File {
                digest: BlobDigest::of_bytes(b"alpha"),
                size: 5,
                executable: false,
            },
        }])
        .unwrap();
        let origin = |_: &str| Ok(Origin::Copy(tmp.path().join("a")));
        let e = states.write(&tree, &origin).unwrap_err();
        assert!(e.contains("changed while it was copied"), "{e}");
        let d = BlobDigest::of_bytes(&encode(&tree));
        assert!(!states.present(&d));
        let left: Vec<_> = std::fs::read_dir(tmp.path().join("states"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "no temporary directory is left: {left:?}");
    }

    fn fresh_error(dir: &Path, d: &BlobDigest) -> String {
        States::new(dir).load(d).unwrap_err()
    }
}
