//! `COPY` as a function of trees: the state before, the source tree (the context, less
//! `.dockerignore`, or another stage's state), the sources and the destination give the
//! state after, and where each new file's bytes come from. Nothing here reads a file, so a
//! COPY's key and its result are known from digests alone.
//!
//! Docker's (BuildKit's) semantics, checked against `buildah bud` by the tests:
//! - a directory source copies its contents, not itself, into the destination;
//! - a file source goes to `DEST/<name>` when DEST ends with `/` or is a directory, else to
//!   DEST itself; more than one source needs a DEST ending with `/`;
//! - a symlink named as a source (or matched by a glob) is followed, within the source
//!   root, and its target's content is copied under the link's name; symlinks inside a
//!   copied directory stay symlinks;
//! - symlinks in the destination's directories are followed within the state's root (a
//!   merged-/usr `/lib` leads to `/usr/lib`); missing parents are made;
//! - hard links inside a copied directory stay hard links.

use std::collections::{BTreeMap, BTreeSet};

use kiln_engine::tree::{EntryKind, Tree, TreeEntry};

use crate::glob;

/// One source, resolved: the real path in the source root and the name it is copied as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The path in the source root, symlinks followed ("" for the root).
    pub path: String,
    /// The name it takes in a destination directory.
    pub name: String,
}

/// The state after a COPY, and where its new files come from.
#[derive(Debug)]
pub struct Applied {
    /// The new state.
    pub tree: Tree,
    /// For every regular file of `tree` that the COPY wrote: its path in the source root.
    /// Files in neither map are the state's before, at the same path.
    pub from_source: BTreeMap<String, String>,
    /// Regular files whose bytes are the state's before at another path (a hard-link group
    /// whose first member changed): path in `tree` → path in the state before.
    pub from_before: BTreeMap<String, String>,
}

/// Resolves every source pattern of one COPY against `src`. Each item's subtree is what the
/// COPY reads: its key is made of their entries.
pub fn select(src: &Tree, patterns: &[String]) -> Result<Vec<Selected>, String> {
    let mut out = Vec::new();
    for p in patterns {
        let clean = glob::clean(p);
        if glob::is_pattern(&clean) {
            let m = glob::compile(&clean)?;
            let before = out.len();
            for e in src.entries() {
                if m.is_match(&e.path) {
                    out.push(Selected {
                        path: resolve(src, &e.path, true)?,
                        name: glob::base(&e.path).to_string(),
                    });
                }
            }
            if out.len() == before {
                return Err(format!("no source file matches `{p}`"));
            }
        } else {
            let path = resolve(src, &clean, true)?;
            if !path.is_empty() && src.get(&path).is_none() {
                return Err(match path == clean {
                    true => format!("`{p}` is not there"),
                    false => format!("`{p}` leads to `/{path}`, which is not there"),
                });
            }
            out.push(Selected {
                path,
                name: glob::base(&clean).to_string(),
            });
        }
    }
    Ok(out)
}

/// The entries a selected source reads: itself and everything below it, with their paths
/// relative to the source root.
pub fn read_set<'t>(src: &'t Tree, s: &Selected) -> Vec<&'t TreeEntry> {
    let prefix = format!("{}/", s.path);
    src.entries()
        .iter()
        .filter(|e| s.path.is_empty() || e.path == s.path || e.path.starts_with(&prefix))
        .collect()
}

/// `path` with the symlinks of its directories (and of its last component, when
/// `follow_last`) followed inside `tree`, as a chroot would. Missing components are kept as
/// they are. Fails on a loop.
pub fn resolve(tree: &Tree, path: &str, follow_last: bool) -> Result<String, String> {
    resolve_by(&|p| tree.get(p), path, follow_last)
}

/// [`resolve`] over any listing: `get` gives the entry at a path.
fn resolve_by<'t>(
    get: &dyn Fn(&str) -> Option<&'t EntryKind>,
    path: &str,
    follow_last: bool,
) -> Result<String, String> {
    let mut todo: Vec<String> = glob::clean(path)
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(String::from)
        .collect();
    let mut cur = String::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        let next = match c.as_str() {
            ".." => glob::parent(&cur).to_string(),
            "." => cur.clone(),
            _ => glob::join(&cur, &c),
        };
        let last = todo.is_empty();
        match get(&next) {
            Some(EntryKind::Symlink { target }) if !last || follow_last => {
                hops += 1;
                if hops > 40 {
                    return Err(format!("too many levels of symbolic links at `/{next}`"));
                }
                // An absolute target starts again at the root; a relative one at the
                // link's directory.
                cur = match target.starts_with('/') {
                    true => String::new(),
                    false => glob::parent(&next).to_string(),
                };
                todo.extend(
                    target
                        .split('/')
                        .filter(|c| !c.is_empty())
                        .rev()
                        .map(String::from),
                );
            }
            _ => cur = next,
        }
    }
    Ok(cur)
}

/// Applies a COPY of `sources` (from [`select`] on `src`) to `dst`. `dest` is as written;
/// `workdir` is the stage's (absolute).
pub fn apply(
    dst: &Tree,
    src: &Tree,
    sources: &[Selected],
    dest: &str,
    workdir: &str,
) -> Result<Applied, String> {
    let absolute = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{workdir}/{dest}")
    };
    let dir_form = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
    if sources.len() > 1 && !dir_form {
        return Err(format!(
            "more than one source is copied, so the destination must be a directory ending \
             with `/`: write `{dest}/`"
        ));
    }
    let mut work = Work::from(dst);
    let dest = glob::clean(&absolute);
    for s in sources {
        match src.get(&s.path) {
            None if s.path.is_empty() => work.copy_dir(src, s, &dest)?,
            Some(EntryKind::Dir) => work.copy_dir(src, s, &dest)?,
            Some(kind) => {
                let into_dir = dir_form || {
                    let r = work.resolve(&dest, true)?;
                    matches!(work.entries.get(&r), Some(EntryKind::Dir)) || r.is_empty()
                };
                let target = match into_dir {
                    true => glob::join(&dest, &s.name),
                    false => dest.clone(),
                };
                let content = match kind {
                    EntryKind::HardLink { target } => src.get(target).cloned(),
                    k => Some(k.clone()),
                };
                let Some(file @ EntryKind::File { .. }) = content else {
                    return Err(format!("`/{}` is not a file or a directory", s.path));
                };
                work.put(&target, file, Some(s.path.clone()))?;
            }
            None => return Err(format!("`/{}` is not there", s.path)),
        }
    }
    work.finish()
}

/// `dst` with the directory `path` (absolute, symlinks followed) and its parents made:
/// what WORKDIR does to the filesystem.
pub fn mkdir(dst: &Tree, path: &str) -> Result<Tree, String> {
    let mut w = Work::from(dst);
    let r = w.resolve(path, true)?;
    w.mkdir_all(&r)?;
    Ok(w.finish()?.tree)
}

/// The state being changed.
struct Work {
    entries: BTreeMap<String, EntryKind>,
    from_source: BTreeMap<String, String>,
    from_before: BTreeMap<String, String>,
    /// Hard-link group heads that were replaced, with their content, so their other members
    /// keep it.
    replaced_heads: BTreeMap<String, EntryKind>,
}

impl Work {
    fn from(t: &Tree) -> Work {
        Work {
            entries: t
                .entries()
                .iter()
                .map(|e| (e.path.clone(), e.kind.clone()))
                .collect(),
            from_source: BTreeMap::new(),
            from_before: BTreeMap::new(),
            replaced_heads: BTreeMap::new(),
        }
    }

    /// `path` resolved through the current entries' symlinks (see [`resolve`]).
    fn resolve(&self, path: &str, follow_last: bool) -> Result<String, String> {
        resolve_by(&|p| self.entries.get(p), path, follow_last)
    }

    fn copy_dir(&mut self, src: &Tree, s: &Selected, dest: &str) -> Result<(), String> {
        let root = self.resolve(dest, true)?;
        self.mkdir_all(&root)?;
        let prefix = format!("{}/", s.path);
        for e in src.entries() {
            let rel = if s.path.is_empty() {
                e.path.as_str()
            } else if let Some(r) = e.path.strip_prefix(&prefix) {
                r
            } else {
                continue;
            };
            let to = glob::join(&root, rel);
            match &e.kind {
                EntryKind::HardLink { target } => {
                    let inside = s.path.is_empty() || target.starts_with(&prefix);
                    if inside {
                        let t = if s.path.is_empty() {
                            target.clone()
                        } else {
                            target[prefix.len()..].to_string()
                        };
                        self.put(
                            &to,
                            EntryKind::HardLink {
                                target: glob::join(&root, &t),
                            },
                            None,
                        )?;
                    } else if let Some(f) = src.get(target) {
                        self.put(&to, f.clone(), Some(e.path.clone()))?;
                    }
                }
                EntryKind::File { .. } => self.put(&to, e.kind.clone(), Some(e.path.clone()))?,
                k => self.put(&to, k.clone(), None)?,
            }
        }
        Ok(())
    }

    fn mkdir_all(&mut self, path: &str) -> Result<(), String> {
        if path.is_empty() {
            return Ok(());
        }
        let mut cur = String::new();
        for c in path.split('/') {
            cur = glob::join(&cur, c);
            match self.entries.get(&cur) {
                Some(EntryKind::Dir) => {}
                None => {
                    self.entries.insert(cur.clone(), EntryKind::Dir);
                }
                Some(_) => {
                    return Err(format!(
                        "`/{cur}` is not a directory, and the copy needs one there"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Puts `kind` at `path` (its directory resolved through symlinks), replacing what is
    /// there unless that is a directory.
    fn put(&mut self, path: &str, kind: EntryKind, source: Option<String>) -> Result<(), String> {
        let dir = self.resolve(glob::parent(path), true)?;
        self.mkdir_all(&dir)?;
        let path = glob::join(&dir, glob::base(path));
        match (self.entries.get(&path), &kind) {
            (Some(EntryKind::Dir), EntryKind::Dir) => return Ok(()),
            (Some(EntryKind::Dir), _) => {
                return Err(format!(
                    "`/{path}` is a directory and cannot be replaced by a file"
                ));
            }
            (Some(old @ EntryKind::File { .. }), _) => {
                let old = old.clone();
                self.replaced_heads.insert(path.clone(), old);
            }
            (Some(_), EntryKind::Dir) | (Some(_), _) | (None, _) => {}
        }
        let kind = match kind {
            EntryKind::HardLink { target } => {
                let target = self.resolve(&target, false)?;
                EntryKind::HardLink { target }
            }
            k => k,
        };
        self.from_source.remove(&path);
        if let (Some(s), EntryKind::File { .. }) = (source, &kind) {
            self.from_source.insert(path.clone(), s);
        }
        self.entries.insert(path, kind);
        Ok(())
    }

    /// Mends hard-link groups whose head was replaced or whose order no longer holds, and
    /// checks the result.
    fn finish(mut self) -> Result<Applied, String> {
        // Group members by the (old) head they name.
        let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (p, k) in &self.entries {
            if let EntryKind::HardLink { target } = k {
                groups.entry(target.clone()).or_default().insert(p.clone());
            }
        }
        for (head, members) in groups {
            let head_ok = matches!(self.entries.get(&head), Some(EntryKind::File { .. }))
                && !self.replaced_heads.contains_key(&head);
            let mut all: BTreeSet<String> = members;
            let content = if head_ok {
                all.insert(head.clone());
                self.entries.get(&head).cloned()
            } else {
                self.replaced_heads.get(&head).cloned()
            };
            let Some(content) = content else {
                return Err(format!("hard link to `/{head}`, which is not a file"));
            };
            let mut it = all.into_iter();
            let Some(first) = it.next() else { continue };
            if first != head {
                // The first member now carries the content: the old head's bytes, which the
                // member shares (same inode) in the state before, or the new head's source.
                match (head_ok, self.from_source.get(&head).cloned()) {
                    (true, Some(s)) => {
                        self.from_source.insert(first.clone(), s);
                    }
                    (true, None) => {
                        self.from_before.insert(first.clone(), head.clone());
                    }
                    (false, _) => {}
                }
                self.entries.insert(first.clone(), content);
            }
            for m in it {
                self.entries.insert(
                    m,
                    EntryKind::HardLink {
                        target: first.clone(),
                    },
                );
            }
        }
        let tree = Tree::new(
            self.entries
                .into_iter()
                .map(|(path, kind)| TreeEntry { path, kind })
                .collect(),
        )
        .map_err(|e| format!("internal: the copy made a bad tree: {e}"))?;
        let from_source = self
            .from_source
            .into_iter()
            .filter(|(p, _)| matches!(tree.get(p), Some(EntryKind::File { .. })))
            .collect();
        let from_before = self
            .from_before
            .into_iter()
            .filter(|(p, _)| matches!(tree.get(p), Some(EntryKind::File { .. })))
            .collect();
        Ok(Applied {
            tree,
            from_source,
            from_before,
        })
    }
}

#[cfg(test)]
mod tests;
