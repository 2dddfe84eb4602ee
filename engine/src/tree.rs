//! Trees: a canonical, sorted listing of a directory's contents.
//!
//! A [`Tree`] names every entry by its relative path (`/`-separated, no `./`, no leading
//! slash) and records only what a reproducible artifact may depend on: the kind, the
//! executable bit, the content digest and size, a symlink's target, and which paths are hard
//! links of one another. Mtimes, owners, inode numbers and the full permission bits are
//! deliberately absent: they differ between checkouts of the same sources, and putting them
//! in a key would make caches miss and artifacts differ across machines.
//!
//! Hard links are canonical too: within a group of paths that share one inode, the first path
//! in sorted order is a [`EntryKind::File`]; the others are [`EntryKind::HardLink`] to it.
//!
//! This module does not read the file system; [`crate::scan`] builds trees from directories.

use crate::digest::{BlobDigest, TreeDigest};
use crate::encoding::CanonicalEncoder;

/// What one tree entry is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EntryKind {
    /// A directory. Its children follow it in the listing.
    Dir,
    /// A regular file.
    File {
        /// Digest of the content.
        digest: BlobDigest,
        /// Size in bytes.
        size: u64,
        /// Whether any execute bit was set.
        executable: bool,
    },
    /// A symbolic link, stored as its target text and never followed.
    Symlink {
        /// The link's target, as written.
        target: String,
    },
    /// Another name for the regular file at `target` (a path earlier in the same tree).
    HardLink {
        /// The relative path of the group's first (sorted) member.
        target: String,
    },
}

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeEntry {
    /// Relative path, `/`-separated, never empty, no `.` or `..` components.
    pub path: String,
    /// What is at that path.
    #[serde(flatten)]
    pub kind: EntryKind,
}

/// A canonical listing. Invariant: entries are sorted bytewise by path and unique, and every
/// entry's parent directory (if any) is itself an entry, so parents come before children.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tree {
    entries: Vec<TreeEntry>,
}

/// A listing that breaks the [`Tree`] invariants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// Two entries with the same path.
    #[error("duplicate path `{0}` in tree")]
    Duplicate(String),
    /// An entry whose parent is missing or not a directory.
    #[error("`{0}` has no parent directory entry in the tree")]
    MissingParent(String),
    /// A path that is empty, absolute, or has `.`/`..`/empty components.
    #[error("`{0}` is not a normalised relative path")]
    BadPath(String),
    /// A hard link whose target is not an earlier regular file.
    #[error("hard link `{0}` does not point at an earlier regular file")]
    BadHardLink(String),
}

impl Tree {
    /// Builds a tree from entries in any order, checking the invariants.
    pub fn new(mut entries: Vec<TreeEntry>) -> Result<Self, TreeError> {
        entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        for (i, e) in entries.iter().enumerate() {
            check_path(&e.path)?;
            if i > 0 && entries[i - 1].path == e.path {
                return Err(TreeError::Duplicate(e.path.clone()));
            }
        }
        let tree = Tree { entries };
        tree.check_links_and_parents()?;
        Ok(tree)
    }

    fn check_links_and_parents(&self) -> Result<(), TreeError> {
        for e in &self.entries {
            if let Some((parent, _)) = e.path.rsplit_once('/') {
                match self.get(parent) {
                    Some(EntryKind::Dir) => {}
                    _ => return Err(TreeError::MissingParent(e.path.clone())),
                }
            }
            if let EntryKind::HardLink { target } = &e.kind {
                let earlier = target.as_bytes() < e.path.as_bytes();
                if !earlier || !matches!(self.get(target), Some(EntryKind::File { .. })) {
                    return Err(TreeError::BadHardLink(e.path.clone()));
                }
            }
        }
        Ok(())
    }

    /// The entries, sorted bytewise by path (parents before children).
    pub fn entries(&self) -> &[TreeEntry] {
        &self.entries
    }

    /// The entry at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&EntryKind> {
        self.entries
            .binary_search_by(|e| e.path.as_bytes().cmp(path.as_bytes()))
            .ok()
            .map(|i| &self.entries[i].kind)
    }

    /// Total bytes of regular-file content (hard links counted once).
    pub fn content_size(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match e.kind {
                EntryKind::File { size, .. } => size,
                _ => 0,
            })
            .sum()
    }

    /// The digest of the canonical encoding.
    pub fn digest(&self) -> TreeDigest {
        let mut enc = CanonicalEncoder::new("kiln/tree/v1");
        enc.u64(self.entries.len() as u64);
        for e in &self.entries {
            enc.str(&e.path);
            match &e.kind {
                EntryKind::Dir => enc.tag(0),
                EntryKind::File {
                    digest,
                    size,
                    executable,
                } => enc
                    .tag(1)
                    .digest(&digest.raw())
                    .u64(*size)
                    .tag(*executable as u8),
                EntryKind::Symlink { target } => enc.tag(2).str(target),
                EntryKind::HardLink { target } => enc.tag(3).str(target),
            };
        }
        TreeDigest::from_raw(enc.finish())
    }

    /// Paths whose entries differ between `self` (old) and `new`, in sorted order, each with
    /// what happened. Used by explain to name the file that changed.
    pub fn diff(&self, new: &Tree) -> Vec<TreeChange> {
        let (mut i, mut j) = (0, 0);
        let (a, b) = (&self.entries, &new.entries);
        let mut out = Vec::new();
        while i < a.len() || j < b.len() {
            let ord = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => x.path.as_bytes().cmp(y.path.as_bytes()),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match ord {
                std::cmp::Ordering::Less => {
                    out.push(TreeChange::Removed(a[i].path.clone()));
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    out.push(TreeChange::Added(b[j].path.clone()));
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    if a[i].kind != b[j].kind {
                        out.push(TreeChange::Modified(a[i].path.clone()));
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        out
    }
}

/// One difference between two trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeChange {
    /// Present only in the new tree.
    Added(String),
    /// Present only in the old tree.
    Removed(String),
    /// Present in both with a different kind, content, mode or target.
    Modified(String),
}

impl std::fmt::Display for TreeChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TreeChange::Added(p) => write!(f, "added {p}"),
            TreeChange::Removed(p) => write!(f, "removed {p}"),
            TreeChange::Modified(p) => write!(f, "modified {p}"),
        }
    }
}

fn check_path(path: &str) -> Result<(), TreeError> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        Err(TreeError::BadPath(path.to_string()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &[u8]) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: EntryKind::File {
                digest: BlobDigest::of_bytes(content),
                size: content.len() as u64,
                executable: false,
            },
        }
    }

    fn dir(path: &str) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: EntryKind::Dir,
        }
    }

    #[test]
    fn order_of_construction_does_not_matter() {
        let a = Tree::new(vec![dir("a"), file("a/x", b"1"), file("b", b"2")]).unwrap();
        let b = Tree::new(vec![file("b", b"2"), file("a/x", b"1"), dir("a")]).unwrap();
        assert_eq!(a.digest(), b.digest());
    }

    #[test]
    fn content_exec_bit_and_links_change_the_digest() {
        let base = Tree::new(vec![file("f", b"1")]).unwrap().digest();
        assert_ne!(base, Tree::new(vec![file("f", b"2")]).unwrap().digest());
        let mut exec = file("f", b"1");
        if let EntryKind::File { executable, .. } = &mut exec.kind {
            *executable = true;
        }
        assert_ne!(base, Tree::new(vec![exec]).unwrap().digest());
        let two = Tree::new(vec![file("f", b"1"), file("g", b"1")]).unwrap();
        let linked = Tree::new(vec![
            file("f", b"1"),
            TreeEntry {
                path: "g".into(),
                kind: EntryKind::HardLink { target: "f".into() },
            },
        ])
        .unwrap();
        assert_ne!(two.digest(), linked.digest());
    }

    #[test]
    fn invariants_are_enforced() {
        assert_eq!(
            Tree::new(vec![file("a/x", b"")]),
            Err(TreeError::MissingParent("a/x".into()))
        );
        assert_eq!(
            Tree::new(vec![file("x", b""), file("x", b"")]),
            Err(TreeError::Duplicate("x".into()))
        );
        assert!(matches!(
            Tree::new(vec![file("./x", b"")]),
            Err(TreeError::BadPath(_))
        ));
        let backwards = TreeEntry {
            path: "a".into(),
            kind: EntryKind::HardLink { target: "b".into() },
        };
        assert!(matches!(
            Tree::new(vec![backwards, file("b", b"")]),
            Err(TreeError::BadHardLink(_))
        ));
    }

    #[test]
    fn sorting_is_bytewise_so_parents_come_first() {
        // '-' (0x2d) sorts before '/' (0x2f): "a-b" comes between "a" and "a/c".
        let t = Tree::new(vec![file("a/c", b""), dir("a"), file("a-b", b"")]).unwrap();
        let paths: Vec<_> = t.entries().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["a", "a-b", "a/c"]);
    }

    #[test]
    fn diff_names_changes() {
        let old = Tree::new(vec![file("a", b"1"), file("b", b"1")]).unwrap();
        let new = Tree::new(vec![file("b", b"2"), file("c", b"1")]).unwrap();
        let d: Vec<String> = old.diff(&new).iter().map(|c| c.to_string()).collect();
        assert_eq!(d, ["removed a", "modified b", "added c"]);
    }
}
