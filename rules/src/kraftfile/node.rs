//! A YAML document as a tree of nodes that each remember where they are in
//! the source (line, column, and the byte range of scalars), built with
//! serde-saphyr's `Spanned` so every later error can point at the exact spot.
//!
//! This module only reads YAML; it knows nothing of Kraftfiles. It keeps the
//! source spelling of numbers and booleans (`0.10` stays `0.10`), keeps map
//! entries in file order and forwards duplicate keys so the converter can
//! report them with both positions.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use serde_saphyr::options::{DuplicateKeyPolicy, NonFiniteFloatPolicy};

use crate::diag::Pos;

/// Where a node is: its start position and, for scalars, its byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    /// Start of the node (for quoted scalars, the opening quote).
    pub pos: Pos,
    /// Byte offset and length of the node's text, when serde-saphyr knows them.
    pub bytes: Option<(usize, usize)>,
}

/// A YAML node and its location.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// Where the node starts.
    pub mark: Mark,
    /// What the node holds.
    pub value: Value,
}

/// The value of a YAML node; scalars other than strings keep their source
/// spelling in `raw` (filled in by [`parse`] from the byte range).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true`/`false` (and the YAML 1.1 spellings such as `yes`, `y`).
    Bool { value: bool, raw: String },
    /// An integer or a float, as written.
    Num { raw: String },
    /// A string (plain or quoted).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order, duplicates included.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What kind of value this is, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing (null)",
            Value::Bool { .. } => "a boolean",
            Value::Num { .. } => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

/// A YAML syntax error with the position serde-saphyr reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// Where the parser stopped, if known.
    pub pos: Option<Pos>,
    /// The parser's message, without its own location suffix.
    pub message: String,
}

/// Parses one YAML document. An empty document (only comments or
/// whitespace) gives `Ok(None)`.
pub(crate) fn parse(src: &str) -> Result<Option<Node>, SyntaxError> {
    let options = serde_saphyr::options! {
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        strict_booleans: false,
        non_finite_float_policy: NonFiniteFloatPolicy::AsString,
        with_snippet: false,
    };
    let parsed: Option<Node> =
        serde_saphyr::from_str_with_options(src, options).map_err(|e| SyntaxError {
            pos: e.location().and_then(location_pos),
            message: plain_message(&e),
        })?;
    Ok(parsed.map(|mut n| {
        fill_raw(&mut n, src);
        n
    }))
}

/// The error's text without serde-saphyr's trailing "at line X, column Y".
fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid YAML").trim();
    let cut = first.find(" at line ").map_or(first, |i| &first[..i]);
    cut.trim_end_matches(['.', ':']).to_string()
}

fn location_pos(loc: serde_saphyr::Location) -> Option<Pos> {
    let line = u32::try_from(loc.line()).ok()?;
    let column = u32::try_from(loc.column()).ok()?;
    (line > 0).then_some(Pos {
        line,
        column: column.max(1),
    })
}

/// Replaces the formatted spelling of numbers and booleans by their source text.
fn fill_raw(node: &mut Node, src: &str) {
    let text = node
        .mark
        .bytes
        .and_then(|(start, len)| src.get(start..start + len))
        .map(str::trim);
    match &mut node.value {
        Value::Bool { raw, .. } | Value::Num { raw } => {
            if let Some(t) = text.filter(|t| !t.is_empty()) {
                *raw = t.to_string();
            }
        }
        Value::Seq(items) => items.iter_mut().for_each(|n| fill_raw(n, src)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            fill_raw(k, src);
            fill_raw(v, src);
        }),
        Value::Null | Value::Str(_) => {}
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        // The position is where the node is used; the source text (for the
        // spelling of numbers) is where it is defined, which differs for aliases.
        let loc = spanned.referenced;
        let span = spanned.defined.span();
        let bytes = match (span.byte_offset(), span.byte_len()) {
            (Some(o), Some(l)) => usize::try_from(o).ok().zip(usize::try_from(l).ok()),
            _ => None,
        };
        let pos = location_pos(loc).unwrap_or(Pos { line: 1, column: 1 });
        Ok(Node {
            mark: Mark { pos, bytes },
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool {
            value: v,
            raw: v.to_string(),
        })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Num { raw: v.to_string() })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Num { raw: v.to_string() })
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Num { raw: v.to_string() })
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(Value::Num { raw: v.to_string() })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Num { raw: v.to_string() })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u32, column: u32) -> Pos {
        Pos { line, column }
    }

    #[test]
    fn scalars_keep_their_spelling() {
        let src = "a: 0.10\nb: 0x400\nc: yes\nd: &x 1.50\ne: *x\nf: ~\ng: .inf\n";
        let Some(Node {
            value: Value::Map(m),
            ..
        }) = parse(src).unwrap()
        else {
            panic!("not a map");
        };
        let raws: Vec<String> = m
            .iter()
            .map(|(_, v)| match &v.value {
                Value::Num { raw } | Value::Bool { raw, .. } => raw.clone(),
                Value::Str(s) => format!("str:{s}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            raws,
            ["0.10", "0x400", "yes", "1.50", "1.50", "Null", "str:.inf"]
        );
        assert_eq!(
            m[4].1.mark.pos,
            at(5, 4),
            "an alias is placed where it is used"
        );
    }

    #[test]
    fn empty_documents_and_syntax_errors() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n\n").unwrap(), None);
        let e = parse("a: 1\nb: [1, 2\n").unwrap_err();
        assert_eq!(e.pos, Some(at(2, 4)));
        let e = parse("a: b: c\n").unwrap_err();
        assert_eq!(e.pos, Some(at(1, 5)));
        assert!(!e.message.contains("line"), "{}", e.message);
    }

    #[test]
    fn duplicate_keys_are_kept() {
        let Some(Node {
            value: Value::Map(m),
            ..
        }) = parse("a: 1\na: 2\n").unwrap()
        else {
            panic!("not a map");
        };
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].0.mark.pos, at(2, 1));
    }

    #[test]
    fn positions_of_keys_and_values() {
        let src = "spec: v0.6\ntargets:\n  - qemu/x86_64\n  - plat: fc\n    arch: arm64\n";
        let Some(Node {
            value: Value::Map(top),
            ..
        }) = parse(src).unwrap()
        else {
            panic!("not a map");
        };
        assert_eq!(top[0].0.mark.pos, at(1, 1));
        assert_eq!(top[0].1.mark.pos, at(1, 7));
        assert_eq!(top[1].0.mark.pos, at(2, 1));
        let Value::Seq(targets) = &top[1].1.value else {
            panic!("not a list")
        };
        assert_eq!(targets[0].mark.pos, at(3, 5));
        let Value::Map(t) = &targets[1].value else {
            panic!("not a map")
        };
        assert_eq!(t[1].0.mark.pos, at(5, 5));
        assert_eq!(t[1].1.mark.pos, at(5, 11));
    }
}
