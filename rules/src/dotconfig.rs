//! Reading a Kconfig `.config` file, as `make defconfig` writes it.
//!
//! # Why this is written by hand
//! The format is three line shapes, and kiln needs them exactly: `CONFIG_X=value` (a value
//! as written: `y`, `m`, a number, a `"quoted string"` with `\"` and `\\` escapes),
//! `# CONFIG_X is not set` (read as `n`), and comments or blank lines. No crate reads it
//! without also wanting the Kconfig files that declare the symbols.
//!
//! A line of any other shape is an error naming its number, rather than a silent skip: a
//! `.config` kiln cannot read is a `.config` it must not build packages or checks from.

use std::collections::BTreeMap;

/// Symbol -> value, as written (strings keep their quotes); `n` for "is not set".
pub type DotConfig = BTreeMap<String, String>;

/// A line that is not one of the three shapes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct DotConfigError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

/// Parses `.config` text.
pub fn parse_dotconfig(text: &str) -> Result<DotConfig, DotConfigError> {
    let mut out = DotConfig::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let bad = |problem: &str| DotConfigError {
            line: i + 1,
            problem: problem.to_string(),
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if let Some(sym) = comment
                .trim()
                .strip_suffix(" is not set")
                .filter(|s| s.starts_with("CONFIG_"))
            {
                check_symbol(sym).map_err(|p| bad(&p))?;
                out.insert(sym.to_string(), "n".to_string());
            }
            continue;
        }
        let Some((sym, value)) = line.split_once('=') else {
            return Err(bad("expected `CONFIG_X=value` or a `#` comment"));
        };
        check_symbol(sym).map_err(|p| bad(&p))?;
        check_value(value).map_err(|p| bad(&p))?;
        out.insert(sym.to_string(), value.to_string());
    }
    Ok(out)
}

fn check_symbol(sym: &str) -> Result<(), String> {
    let name = sym
        .strip_prefix("CONFIG_")
        .ok_or_else(|| format!("`{}` does not start with CONFIG_", short(sym)))?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("`{}` is not a Kconfig symbol name", short(sym)));
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), String> {
    let Some(inner) = value.strip_prefix('"') else {
        if value.is_empty() || value.contains(char::is_whitespace) || value.contains('"') {
            return Err(format!("`{}` is not a Kconfig value", short(value)));
        }
        return Ok(());
    };
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') if i + 1 == inner.len() => return Ok(()),
            (false, '"') => return Err("text after the closing quote".into()),
            _ => {}
        }
    }
    Err("the string is not closed".into())
}

/// The first 40 characters of `s`, for messages.
fn short(s: &str) -> String {
    let cut: String = s.chars().take(40).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_shapes() {
        let text = "#\n# Automatically generated file; DO NOT EDIT.\n#\nCONFIG_UK_NAME=\"hello\"\n\
                    CONFIG_PLAT_KVM=y\n# CONFIG_LIBUKRANDOM is not set\n\nCONFIG_N=42\n\
                    CONFIG_S=\"a \\\"quoted\\\" \\\\ word\"\n";
        let c = parse_dotconfig(text).unwrap();
        assert_eq!(c["CONFIG_UK_NAME"], "\"hello\"");
        assert_eq!(c["CONFIG_PLAT_KVM"], "y");
        assert_eq!(c["CONFIG_LIBUKRANDOM"], "n");
        assert_eq!(c["CONFIG_N"], "42");
        assert_eq!(c["CONFIG_S"], "\"a \\\"quoted\\\" \\\\ word\"");
        assert_eq!(c.len(), 5);
    }

    #[test]
    fn other_lines_are_errors_with_their_number() {
        for (text, line, what) in [
            ("CONFIG_A=y\nnonsense\n", 2, "expected `CONFIG_X=value`"),
            ("FOO=y\n", 1, "does not start with CONFIG_"),
            ("CONFIG_A-B=y\n", 1, "not a Kconfig symbol"),
            ("CONFIG_A=\"open\n", 1, "not closed"),
            ("CONFIG_A=\"x\" y\n", 1, "after the closing quote"),
            ("CONFIG_A=two words\n", 1, "not a Kconfig value"),
            ("CONFIG_A=\n", 1, "not a Kconfig value"),
        ] {
            let err = parse_dotconfig(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}");
            assert!(err.problem.contains(what), "{text:?}: {err}");
        }
    }
}
