//! Splits a `cmd:` string into arguments the way a POSIX shell splits words,
//! without any expansion.
//!
//! Rules: unquoted spaces, tabs and newlines separate words; `'...'` keeps
//! everything literally; `"..."` keeps everything except that `\"`, `\\`,
//! `\$` and `` \` `` lose their backslash; outside quotes a backslash keeps the
//! next character literally; `''` and `""` make an empty word. There is no
//! variable, glob, tilde or command expansion (interpolation of `${VAR}` has
//! already happened for the whole Kraftfile). This matches go-shellwords,
//! which kraft uses, for these cases.

use thiserror::Error;

/// Why a command string could not be split.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SplitError {
    /// A quote was opened and not closed.
    #[error("unterminated {0} quote")]
    UnterminatedQuote(&'static str),
    /// The string ends in a lone backslash.
    #[error("trailing backslash")]
    TrailingBackslash,
}

/// Splits `s` into words.
pub fn split(s: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedQuote("single")),
                    }
                }
            }
            '"' => {
                in_word = true;
                double_quoted(&mut chars, &mut word)?;
            }
            '\\' => {
                in_word = true;
                word.push(chars.next().ok_or(SplitError::TrailingBackslash)?);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Reads the rest of a `"..."` word (after the opening quote) into `word`.
fn double_quoted(chars: &mut std::str::Chars<'_>, word: &mut String) -> Result<(), SplitError> {
    loop {
        match chars.next() {
            Some('"') => return Ok(()),
            Some('\\') => match chars.next() {
                Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                Some(c) => {
                    word.push('\\');
                    word.push(c);
                }
                None => return Err(SplitError::UnterminatedQuote("double")),
            },
            Some(c) => word.push(c),
            None => return Err(SplitError::UnterminatedQuote("double")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Vec<String> {
        split(s).unwrap()
    }

    #[test]
    fn words_and_quotes() {
        assert_eq!(ok("/server -p 80"), ["/server", "-p", "80"]);
        assert_eq!(ok("  a\t b \n"), ["a", "b"]);
        assert_eq!(ok("echo 'a b' \"c d\""), ["echo", "a b", "c d"]);
        assert_eq!(ok("a'b'\"c\"d"), ["abcd"]);
        assert_eq!(ok("x '' \"\""), ["x", "", ""]);
        assert_eq!(ok(r#""a \"q\" \$HOME \n""#), [r#"a "q" $HOME \n"#]);
        assert_eq!(ok(r"a\ b c"), ["a b", "c"]);
        assert_eq!(ok("'it''s'"), ["its"]);
        assert!(ok("").is_empty());
    }

    #[test]
    fn errors() {
        assert_eq!(split("'abc"), Err(SplitError::UnterminatedQuote("single")));
        assert_eq!(split("\"abc"), Err(SplitError::UnterminatedQuote("double")));
        assert_eq!(split("abc\\"), Err(SplitError::TrailingBackslash));
    }
}
