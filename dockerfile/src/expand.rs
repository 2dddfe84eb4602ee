//! Docker's variable substitution in instruction arguments: `$NAME`, `${NAME}`,
//! `${NAME:-default}`, `${NAME:+alternative}`, and `\$` for a literal dollar. An unset
//! variable is empty, as in Docker. Written by hand because it is small and must match
//! Docker's rules exactly, and the parser leaves it to its users.

use std::collections::BTreeMap;

/// `text` with every variable of `vars` substituted; `Err` names a malformed `${…}`.
pub fn expand(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'$') => {
                out.push('$');
                chars.next();
            }
            '$' if chars.peek() == Some(&'{') => {
                chars.next();
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => inner.push(c),
                        None => return Err(format!("`${{{inner}` has no closing `}}`")),
                    }
                }
                out.push_str(&braced(&inner, vars)?);
            }
            '$' if chars
                .peek()
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') =>
            {
                let mut name = String::new();
                while let Some(&c) = chars.peek() {
                    if !(c.is_ascii_alphanumeric() || c == '_') {
                        break;
                    }
                    name.push(c);
                    chars.next();
                }
                out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn braced(inner: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let (name, op, word) = match inner.find(':') {
        Some(i) if inner[i + 1..].starts_with(['-', '+']) => {
            (&inner[..i], &inner[i + 1..i + 2], &inner[i + 2..])
        }
        Some(_) => {
            return Err(format!(
                "`${{{inner}}}`: only `:-` and `:+` may follow a name"
            ));
        }
        None => (inner, "", ""),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`${{{inner}}}` does not name a variable"));
    }
    let value = vars.get(name).filter(|v| !v.is_empty());
    let word = || expand(word, vars);
    Ok(match (op, value) {
        ("-", None) => word()?,
        ("+", Some(_)) => word()?,
        ("+", None) => String::new(),
        (_, v) => v.cloned().unwrap_or_default(),
    })
}

/// `NAME=VALUE` pairs of an `ENV` or `ARG` line (`A=1 "B=two words" C`), or the legacy
/// `ENV NAME value with spaces`. Quotes are removed; a name without `=` has no value.
pub fn pairs(text: &str, legacy: bool) -> Result<Vec<(String, Option<String>)>, String> {
    let text = text.trim();
    let first = text.split_whitespace().next().unwrap_or("");
    if legacy && !first.contains('=') {
        let rest = text[first.len()..].trim();
        return Ok(vec![(first.to_string(), Some(unquote(rest)?))]);
    }
    let mut out = Vec::new();
    for word in words(text)? {
        match word.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
            None => out.push((word, None)),
        }
    }
    Ok(out)
}

/// Splits on unquoted white space, removing quotes (`"…"`, `'…'`) and backslash escapes.
fn words(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                started = true;
            }
            (_, c) => {
                cur.push(c);
                started = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("an unclosed quote in `{text}`"));
    }
    if started {
        out.push(cur);
    }
    Ok(out)
}

fn unquote(s: &str) -> Result<String, String> {
    Ok(words(s)?.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        BTreeMap::from([("V".into(), "1.2".into()), ("EMPTY".into(), String::new())])
    }

    #[test]
    fn expands_as_docker_does() {
        for (text, want) in [
            ("/usr/lib/app-$V.so", "/usr/lib/app-1.2.so"),
            ("${V}x", "1.2x"),
            ("${NOPE:-dflt}", "dflt"),
            ("${EMPTY:-dflt}", "dflt"),
            ("${V:+set}", "set"),
            ("${NOPE:+set}", ""),
            ("$NOPE/a", "/a"),
            ("\\$V", "$V"),
            ("a$", "a$"),
        ] {
            assert_eq!(expand(text, &vars()).unwrap(), want, "{text}");
        }
        assert!(expand("${V", &vars()).is_err());
        assert!(expand("${V:?x}", &vars()).is_err());
    }

    #[test]
    fn env_and_arg_pairs() {
        assert_eq!(
            pairs(r#"A=1 "B=two words" C"#, false).unwrap(),
            [
                ("A".into(), Some("1".into())),
                ("B".into(), Some("two words".into())),
                ("C".into(), None)
            ]
        );
        assert_eq!(
            pairs("PATH /usr/bin:/bin", true).unwrap(),
            [("PATH".into(), Some("/usr/bin:/bin".into()))]
        );
    }
}
