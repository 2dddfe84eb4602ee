//! JSON bytes as Go's `encoding/json` writes them, because kraft's package digests are the
//! SHA-256 of exactly those bytes.
//!
//! serde_json already writes what Go writes for structs in field order, sorted maps (kiln
//! uses `BTreeMap`), compact output and the control escapes (`\b \f \n \r \t`, `\u00XX`;
//! Go ≥ 1.22, which kraftkit is built with). The one difference is Go's HTML-safe
//! escaping: `<`, `>`, `&` become `\u003c`, `\u003e`, `\u0026`, and U+2028/U+2029 become
//! `\u2028`/`\u2029`. [`GoFormatter`] does that, and nothing else.

use std::io::{self, Write};

use serde::Serialize;

/// A serde_json formatter that escapes as Go does.
pub struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            w.write_all(&fragment.as_bytes()[start..i])?;
            w.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// `value` as Go's `json.Marshal` would write it.
pub fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    // Serializing kiln's own types (strings, numbers, vectors, string maps) cannot fail.
    if value.serialize(&mut ser).is_err() {
        unreachable!("kiln's OCI types always serialize");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn escapes_like_go() {
        let v = BTreeMap::from([("k<", "a<b>&c\u{2028}\u{2029}\n\t\u{1}\u{8}\u{c}é\"\\")]);
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap(),
            r#"{"k\u003c":"a\u003cb\u003e\u0026c\u2028\u2029\n\t\u0001\b\fé\"\\"}"#
        );
    }
}
