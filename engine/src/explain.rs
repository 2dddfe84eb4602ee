//! Reasons: why each step ran, was taken from the cache, or was up to date.
//!
//! Each decision in [`crate::run`] records one [`Reason`] at the branch that makes it (as
//! ninja's `-d explain` does). For a rebuilt action the reason names what differs from the
//! action recorded last time: the rule version, an input, a parameter or a tool. For a
//! source tree it names the files that changed.

use std::collections::BTreeMap;
use std::fmt;

use crate::action::Action;
use crate::digest::Digest;
use crate::tree::Tree;

/// Why a step did what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The key matches the last build and the outputs in the tree are intact.
    UpToDate,
    /// The result was found in the store under the new key; `changes` says how the key
    /// differs from the last build's (empty when there was no last build).
    FoundInCache {
        /// What differs from last time.
        changes: Vec<String>,
    },
    /// The step ran because nothing was cached for its key.
    NotCached {
        /// What differs from the last build; empty on a first build.
        changes: Vec<String>,
        /// True when there was no earlier build of this step in this project.
        first_build: bool,
    },
    /// A source step: its digest relative to the last build.
    Source {
        /// Changed files (or a summary) when the digest differs; empty when unchanged.
        changes: Vec<String>,
        /// Whether this is the first evaluation recorded.
        first: bool,
        /// A change watcher vouched for the digest: nothing was read or stat'ed.
        vouched: bool,
        /// What the step wants the user to know (see `SourceValue::note`).
        note: Option<String>,
    },
    /// Nothing was decided: a dependency failed, or the step is unresolved or pending.
    NotEvaluated(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::UpToDate => {
                f.write_str("up to date: same key as the last build, outputs intact")
            }
            Reason::FoundInCache { changes } if changes.is_empty() => f.write_str("found in cache"),
            Reason::FoundInCache { changes } => {
                write!(
                    f,
                    "found in cache; since the last build: {}",
                    changes.join("; ")
                )
            }
            Reason::NotCached {
                first_build: true, ..
            } => f.write_str("not cached: no earlier build of this step"),
            Reason::NotCached { changes, .. } if changes.is_empty() => f.write_str(
                "not cached: same key as the last build but its result is gone from the cache",
            ),
            Reason::NotCached { changes, .. } => write!(f, "not cached: {}", changes.join("; ")),
            Reason::Source { note, .. } => {
                self.source_reason(f)?;
                match note {
                    Some(n) => write!(f, "; {n}"),
                    None => Ok(()),
                }
            }
            Reason::NotEvaluated(why) => f.write_str(why),
        }
    }
}

impl Reason {
    fn source_reason(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Reason::Source {
            changes,
            first,
            vouched,
            ..
        } = self
        else {
            return Ok(());
        };
        match (first, vouched, changes.is_empty()) {
            (true, _, _) => f.write_str("hashed: first build"),
            (false, true, true) => {
                f.write_str("unchanged (the file watcher saw no change; nothing was scanned)")
            }
            (false, _, true) => f.write_str("unchanged"),
            (false, _, false) => write!(f, "changed: {}", changes.join(", ")),
        }
    }
}

fn short(d: &Digest) -> String {
    d.to_hex()[..12].to_string()
}

/// What differs between the action recorded last time and the new one, one line per field.
pub fn action_changes(old: &Action, new: &Action) -> Vec<String> {
    let mut out = Vec::new();
    if old.kind != new.kind {
        out.push(format!(
            "kind changed from `{}` to `{}`",
            old.kind, new.kind
        ));
    }
    if old.rule_version != new.rule_version {
        out.push(format!(
            "rule version changed from {} to {}",
            old.rule_version, new.rule_version
        ));
    }
    map_changes(&mut out, "input", &old.inputs, &new.inputs, short);
    map_changes(&mut out, "parameter", &old.params, &new.params, |v| {
        format!("{v:?}")
    });
    map_changes(&mut out, "tool", &old.tools, &new.tools, |v| {
        format!("{v:?}")
    });
    out
}

fn map_changes<V: PartialEq>(
    out: &mut Vec<String>,
    what: &str,
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
    show: impl Fn(&V) -> String,
) {
    for (k, v) in new {
        match old.get(k) {
            None => out.push(format!("{what} `{k}` added ({})", show(v))),
            Some(o) if o != v => out.push(format!(
                "{what} `{k}` changed from {} to {}",
                show(o),
                show(v)
            )),
            _ => {}
        }
    }
    for (k, v) in old {
        if !new.contains_key(k) {
            out.push(format!("{what} `{k}` removed (was {})", show(v)));
        }
    }
}

/// At most this many changed paths are named; the rest are counted.
const MAX_NAMED_CHANGES: usize = 5;

/// Names the changed files between two trees, or summarises the digests when the old tree
/// is not known.
pub fn tree_changes(old: Option<&Tree>, old_digest: &Digest, new: &Tree) -> Vec<String> {
    let Some(old) = old else {
        return vec![format!(
            "tree changed from {} to {}",
            short(old_digest),
            short(&new.digest().raw())
        )];
    };
    let diff = old.diff(new);
    let mut out: Vec<String> = diff
        .iter()
        .take(MAX_NAMED_CHANGES)
        .map(|c| c.to_string())
        .collect();
    if diff.len() > MAX_NAMED_CHANGES {
        out.push(format!("and {} more", diff.len() - MAX_NAMED_CHANGES));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_changed_field() {
        let old = Action::new("initrd", 1)
            .input("rootfs", Digest::of(b"a"))
            .param("mtime", "0")
            .tool("cpio", "1");
        let new = Action::new("initrd", 2)
            .input("rootfs", Digest::of(b"b"))
            .param("mtime", "5")
            .param("extra", "x");
        let lines = action_changes(&old, &new);
        assert_eq!(lines.len(), 5, "{lines:#?}");
        assert_eq!(lines[0], "rule version changed from 1 to 2");
        assert!(lines[1].starts_with("input `rootfs` changed from "));
        assert_eq!(lines[2], "parameter `extra` added (\"x\")");
        assert_eq!(lines[3], "parameter `mtime` changed from \"0\" to \"5\"");
        assert_eq!(lines[4], "tool `cpio` removed (was \"1\")");
    }
}
