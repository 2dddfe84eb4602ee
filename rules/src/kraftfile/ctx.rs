//! The shared toolkit of the Kraftfile converter: turning YAML nodes into
//! strings, lists and maps with "expected X, found Y" errors, checking map
//! keys (unknown keys with a suggestion, duplicates, aliases given twice),
//! and building diagnostics that point at a node.
//!
//! This module knows no Kraftfile key beyond what callers pass in; the
//! meaning of each key lives in `convert`, `component` and `target`.

use std::path::Path;

use crate::diag::{Diagnostic, Pos};

use super::node::{Node, Value};

/// What the converter needs to build diagnostics: the file and its text, and the warnings
/// found so far (things kraft accepts that are probably mistakes).
pub(crate) struct Ctx<'a> {
    /// The Kraftfile's path as given by the caller.
    pub file: &'a Path,
    /// The whole text of the Kraftfile.
    pub src: &'a str,
    /// Warnings, in the order found.
    pub warnings: std::cell::RefCell<Vec<Diagnostic>>,
}

/// A map entry whose key has been read as text.
pub(crate) struct Entry<'n> {
    /// The key's text.
    pub key: String,
    /// The key node (for positions).
    pub key_node: &'n Node,
    /// The value node.
    pub value: &'n Node,
}

/// The entries of a map with a fixed set of keys, by canonical key name.
pub(crate) struct Fields<'n> {
    entries: Vec<(&'static str, Entry<'n>)>,
}

impl<'n> Fields<'n> {
    /// The entry for a key (or any of its aliases), named by the first name
    /// of its alias group.
    pub fn get(&self, canonical: &str) -> Option<&Entry<'n>> {
        self.entries
            .iter()
            .find(|(c, _)| *c == canonical)
            .map(|(_, e)| e)
    }

    /// The value node of a key, if present.
    pub fn value(&self, canonical: &str) -> Option<&'n Node> {
        self.get(canonical).map(|e| e.value)
    }
}

impl<'a> Ctx<'a> {
    /// How many characters of the source the node spans on its first line.
    pub fn width(&self, node: &Node) -> u32 {
        let text = node
            .mark
            .bytes
            .and_then(|(start, len)| self.src.get(start..start + len))
            .unwrap_or("");
        let first = text.lines().next().unwrap_or("");
        u32::try_from(first.trim_end().chars().count()).unwrap_or(1)
    }

    /// A diagnostic pointing at `node`.
    pub fn error(&self, node: &Node, message: impl Into<String>) -> Diagnostic {
        self.error_at(node.mark.pos, self.width(node), message)
    }

    /// A diagnostic pointing at `pos`, marking `width` characters.
    pub fn error_at(&self, pos: Pos, width: u32, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.file, message).at(pos, width, self.src)
    }

    /// "expected X for Y, found Z".
    pub fn wrong_type(&self, node: &Node, expected: &str, what: &str) -> Diagnostic {
        let found = node.value.kind();
        let d = self.error(
            node,
            format!("expected {expected} for {what}, found {found}"),
        );
        match &node.value {
            Value::Num { raw } | Value::Bool { raw, .. } if expected.contains("string") => {
                d.with_help(format!("put the value in quotes: '{raw}'"))
            }
            _ => d,
        }
    }

    /// The node as a string; numbers and booleans are refused.
    pub fn string(&self, node: &Node, what: &str) -> Result<String, Diagnostic> {
        match &node.value {
            Value::Str(s) => Ok(s.clone()),
            _ => Err(self.wrong_type(node, "a string", what)),
        }
    }

    /// The node as text: a string, or a number or boolean as written.
    pub fn scalar(&self, node: &Node, what: &str) -> Result<String, Diagnostic> {
        match &node.value {
            Value::Str(s) => Ok(s.clone()),
            Value::Num { raw } | Value::Bool { raw, .. } => Ok(raw.clone()),
            _ => Err(self.wrong_type(node, "a string", what)),
        }
    }

    /// The node as a list.
    pub fn seq<'n>(&self, node: &'n Node, what: &str) -> Result<&'n [Node], Diagnostic> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            _ => Err(self.wrong_type(node, "a list", what)),
        }
    }

    /// The entries of a free-form map, in file order, with `x-*` keys skipped (kraft moves
    /// them out of every map). A key given twice keeps its first place and takes the last
    /// value, as kraft's YAML loader does, with a warning naming both lines.
    pub fn entries<'n>(&self, node: &'n Node, what: &str) -> Result<Vec<Entry<'n>>, Diagnostic> {
        let Value::Map(pairs) = &node.value else {
            return Err(self.wrong_type(node, "a map", what));
        };
        let mut out: Vec<Entry<'n>> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let key = self.key_text(k, what)?;
            if key.starts_with("x-") {
                continue;
            }
            if let Some(first) = out.iter_mut().find(|e| e.key == key) {
                self.warn_twice(
                    k,
                    &format!("duplicate key `{key}` in {what}"),
                    first.key_node.mark.pos.line,
                );
                first.key_node = k;
                first.value = v;
                continue;
            }
            out.push(Entry {
                key,
                key_node: k,
                value: v,
            });
        }
        Ok(out)
    }

    /// Warns that `node` sets again what line `first` set; the later value wins.
    pub fn warn_twice(&self, node: &Node, what: &str, first: u32) {
        let line = node.mark.pos.line;
        let d = self
            .error(node, format!("{what}: line {line} replaces line {first}"))
            .with_note("kraft keeps the last value too; kiln does the same")
            .with_help("remove one of them");
        self.warnings.borrow_mut().push(d);
    }

    /// The entries of a map whose keys must come from `groups`; each group
    /// lists a key and its aliases, the first being the canonical name.
    pub fn fields<'n>(
        &self,
        node: &'n Node,
        what: &str,
        groups: &[&[&'static str]],
    ) -> Result<Fields<'n>, Diagnostic> {
        let mut fields = Fields {
            entries: Vec::new(),
        };
        for entry in self.entries(node, what)? {
            let Some(group) = groups.iter().find(|g| g.contains(&entry.key.as_str())) else {
                return Err(self.unknown_key(&entry, what, groups));
            };
            let canonical = group[0];
            if let Some(first) = fields.get(canonical) {
                return Err(self
                    .error(
                        entry.key_node,
                        format!(
                            "`{}` and `{}` are the same key in {what}",
                            first.key, entry.key
                        ),
                    )
                    .with_note(format!(
                        "`{}` is set on line {}",
                        first.key, first.key_node.mark.pos.line
                    ))
                    .with_help("keep only one of them"));
            }
            fields.entries.push((canonical, entry));
        }
        Ok(fields)
    }

    fn unknown_key(&self, entry: &Entry<'_>, what: &str, groups: &[&[&'static str]]) -> Diagnostic {
        let names: Vec<&str> = groups.iter().flat_map(|g| g.iter().copied()).collect();
        let d = self.error(
            entry.key_node,
            format!("unknown key `{}` in {what}", entry.key),
        );
        match suggest(&entry.key, &names) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!(
                "expected one of {}; keys starting with `x-` are extensions and always allowed",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// A map key as text. Plain numbers and booleans (`1:`, `yes:`) are
    /// taken as written; null, list and map keys are refused.
    pub fn key_text(&self, key: &Node, what: &str) -> Result<String, Diagnostic> {
        match &key.value {
            Value::Str(s) if !s.is_empty() => Ok(s.clone()),
            Value::Num { raw } | Value::Bool { raw, .. } => Ok(raw.clone()),
            _ => Err(self.error(
                key,
                format!("expected a key name in {what}, found {}", key.value.kind()),
            )),
        }
    }

    /// The position of the byte `offset` inside a string node's value, when
    /// the value is the source text verbatim (plain, or simply quoted);
    /// otherwise the node's own position.
    pub fn pos_in(&self, node: &Node, offset: usize) -> Pos {
        let Value::Str(value) = &node.value else {
            return node.mark.pos;
        };
        let raw = node
            .mark
            .bytes
            .and_then(|(start, len)| self.src.get(start..start + len))
            .unwrap_or("");
        let quoted = raw.len() >= 2
            && (raw.starts_with('"') || raw.starts_with('\''))
            && raw.get(1..raw.len() - 1) == Some(value.as_str());
        if raw != value && !quoted {
            return node.mark.pos;
        }
        let prefix = value.get(..offset).map_or(0, |p| p.chars().count());
        let shift = u32::try_from(prefix + usize::from(quoted)).unwrap_or(0);
        Pos {
            line: node.mark.pos.line,
            column: node.mark.pos.column + shift,
        }
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn suggest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let lower = word.to_lowercase();
    if let Some(c) = candidates.iter().find(|c| c.to_lowercase() == lower) {
        return Some(c);
    }
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, c), *c))
        .filter(|(d, c)| *d <= (c.chars().count().max(word.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let keys = [
            "name",
            "plat",
            "platform",
            "arch",
            "architecture",
            "kconfig",
        ];
        assert_eq!(suggest("platfrom", &keys), Some("platform"));
        assert_eq!(suggest("Name", &keys), Some("name"));
        assert_eq!(suggest("archs", &keys), Some("arch"));
        assert_eq!(suggest("kconf", &keys), Some("kconfig"));
        assert_eq!(suggest("zzz", &keys), None);
        assert_eq!(suggest("qemu64", &["qemu", "fc", "xen"]), Some("qemu"));
    }
}
