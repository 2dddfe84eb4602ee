//! `${VAR}` substitution in Kraftfile string values, with the rules of the
//! Compose specification that kraft uses (compose-go's `template` package).
//!
//! Accepted forms: `$VAR`, `${VAR}`, `${VAR:-default}` (default when unset or
//! empty), `${VAR-default}` (default when unset), `${VAR:?message}` and
//! `${VAR?message}` (error when unset/empty or unset), `${VAR:+other}` and
//! `${VAR+other}` (`other` when set and non-empty, or set), and `$$` for a
//! literal `$`. Defaults may themselves contain `${...}`. A variable that is
//! unset and has no default becomes the empty string, as in Compose. A `$`
//! followed by anything else is an error. Names are `[A-Za-z_][A-Za-z0-9_]*`.
//!
//! This module only substitutes text; it does not know which values of a
//! Kraftfile are interpolated (all string values, never keys — see the
//! parser) and it does not read the process environment itself: the caller
//! passes a lookup function.

use thiserror::Error;

/// A way to look up a variable: `Some(value)` when set, `None` when unset.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InterpolateError {
    /// A `$` that does not start a valid reference.
    #[error("invalid interpolation `{text}`")]
    Invalid {
        /// The offending text, from the `$` on.
        text: String,
    },
    /// A `${VAR:?message}` or `${VAR?message}` whose variable is missing.
    #[error("required variable `{name}` is not set: {message}")]
    Required {
        /// The variable's name.
        name: String,
        /// The message written in the Kraftfile (may be empty).
        message: String,
    },
}

/// Substitutes every variable reference in `text`.
pub fn interpolate(text: &str, env: EnvLookup<'_>) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (value, used) = reference(after, env).map_err(|e| match e {
            InterpolateError::Invalid { .. } => InterpolateError::Invalid {
                text: rest[i..].to_string(),
            },
            other => other,
        })?;
        out.push_str(&value);
        rest = &after[used..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands the reference that follows a `$`; returns the expansion and how
/// many bytes after the `$` it used.
fn reference(after: &str, env: EnvLookup<'_>) -> Result<(String, usize), InterpolateError> {
    let invalid = || InterpolateError::Invalid {
        text: String::new(),
    };
    if after.starts_with('$') {
        return Ok(("$".to_string(), 1));
    }
    if let Some(inner) = after.strip_prefix('{') {
        let close = matching_brace(inner).ok_or_else(invalid)?;
        let value = braced(&inner[..close], env)?;
        return Ok((value, close + 2));
    }
    let len = name_len(after);
    if len == 0 {
        return Err(invalid());
    }
    Ok((env(&after[..len]).unwrap_or_default(), len))
}

/// Expands the inside of `${...}`.
fn braced(body: &str, env: EnvLookup<'_>) -> Result<String, InterpolateError> {
    let invalid = || InterpolateError::Invalid {
        text: String::new(),
    };
    let len = name_len(body);
    if len == 0 {
        return Err(invalid());
    }
    let name = &body[..len];
    let op = &body[len..];
    let value = env(name);
    let (colon, op) = match op.strip_prefix(':') {
        Some(o) => (true, o),
        None => (false, op),
    };
    // With a colon, an empty value counts as missing.
    let present = value.as_deref().is_some_and(|v| !colon || !v.is_empty());
    let Some(kind) = op.chars().next() else {
        return if colon {
            Err(invalid())
        } else {
            Ok(value.unwrap_or_default())
        };
    };
    let arg = &op[kind.len_utf8()..];
    match kind {
        '-' if present => Ok(value.unwrap_or_default()),
        '-' => interpolate(arg, env),
        '+' if present => interpolate(arg, env),
        '+' => Ok(String::new()),
        '?' if present => Ok(value.unwrap_or_default()),
        '?' => Err(InterpolateError::Required {
            name: name.to_string(),
            message: arg.to_string(),
        }),
        _ => Err(invalid()),
    }
}

/// The byte length of the variable name at the start of `s` (0 if none).
fn name_len(s: &str) -> usize {
    let mut len = 0;
    for (i, c) in s.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        len = i + 1;
    }
    len
}

/// The index of the `}` closing a `${` whose body starts at `s`, counting
/// nested `${ ... }`.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/root".into()),
            "EMPTY" => Some(String::new()),
            "V_2" => Some("two".into()),
            _ => None,
        }
    }

    fn run(s: &str) -> Result<String, InterpolateError> {
        interpolate(s, &env)
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(run("a $HOME b").unwrap(), "a /root b");
        assert_eq!(run("${HOME}/x").unwrap(), "/root/x");
        assert_eq!(run("$V_2-$V_2").unwrap(), "two-two");
        assert_eq!(run("no vars").unwrap(), "no vars");
        assert_eq!(run("$UNSET|${UNSET}").unwrap(), "|");
        assert_eq!(run("cost: $$5").unwrap(), "cost: $5");
        assert_eq!(run("héllo ${HOME}é").unwrap(), "héllo /rooté");
    }

    #[test]
    fn defaults_and_alternatives() {
        assert_eq!(run("${UNSET:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY-d}").unwrap(), "");
        assert_eq!(run("${UNSET-d}").unwrap(), "d");
        assert_eq!(run("${HOME:-d}").unwrap(), "/root");
        assert_eq!(run("${HOME:+set}").unwrap(), "set");
        assert_eq!(run("${EMPTY:+set}").unwrap(), "");
        assert_eq!(run("${EMPTY+set}").unwrap(), "set");
        assert_eq!(run("${UNSET:-${HOME}/d}").unwrap(), "/root/d");
        assert_eq!(run("${UNSET:-}").unwrap(), "");
    }

    #[test]
    fn required() {
        assert_eq!(run("${HOME:?need it}").unwrap(), "/root");
        assert_eq!(
            run("${EMPTY:?need it}"),
            Err(InterpolateError::Required {
                name: "EMPTY".into(),
                message: "need it".into()
            })
        );
        assert_eq!(run("${EMPTY?x}").unwrap(), "");
    }

    #[test]
    fn invalid() {
        for bad in [
            "$",
            "a $1",
            "${",
            "${HOME",
            "${}",
            "${1A}",
            "${HOME:}",
            "${HOME:x}",
            "$ x",
        ] {
            assert!(
                matches!(run(bad), Err(InterpolateError::Invalid { .. })),
                "{bad} should be invalid"
            );
        }
        assert_eq!(
            run("x ${HOME"),
            Err(InterpolateError::Invalid {
                text: "${HOME".into()
            })
        );
    }
}
