//! User-facing diagnostics: an error message tied to a file, an optional
//! line:column position and the source line it points at, rendered as plain,
//! deterministic text in the style of rustc.
//!
//! This module does not decide what is an error (the parsers do) and does not
//! print or colour anything; the binary prints [`Diagnostic::render`] and
//! exits with status 2.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A 1-based position in a text file; `column` counts characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Pos {
    /// Line number, starting at 1.
    pub line: u32,
    /// Column number in characters, starting at 1.
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// An error in an input file, with enough context to show the user where it
/// is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the error is in, as the user named it (not canonicalised).
    pub file: PathBuf,
    /// Where in `file` the error is; `None` for errors about the file as a
    /// whole (missing, unreadable, empty).
    pub pos: Option<Pos>,
    /// How many characters the `^` marker under the source line spans (at least 1).
    pub width: u32,
    /// What is wrong, as one sentence without a trailing full stop.
    pub message: String,
    /// The source line at `pos.line`, without its line ending.
    pub source_line: Option<Box<str>>,
    /// Extra facts, rendered as `= note: ...` (e.g. where a duplicate was
    /// first defined). Boxed slices here and in `source_line` keep
    /// `Diagnostic` under clippy's 128-byte limit for error types.
    pub notes: Box<[String]>,
    /// What the user can do, rendered as `= help: ...`.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic about `file` as a whole, with no position.
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            pos: None,
            width: 1,
            message: message.into(),
            source_line: None,
            notes: Box::default(),
            help: None,
        }
    }

    /// Points the diagnostic at `pos`, marking `width` characters, and takes
    /// the source line to show from `source` (the whole file's text).
    #[must_use]
    pub fn at(mut self, pos: Pos, width: u32, source: &str) -> Self {
        self.pos = Some(pos);
        self.width = width.max(1);
        let index = (pos.line as usize).saturating_sub(1);
        self.source_line = source
            .lines()
            .nth(index)
            .map(|l| l.trim_end_matches('\r').into());
        self
    }

    /// Adds a `= help:` line saying what to do.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a `= note:` line.
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        let mut notes = std::mem::take(&mut self.notes).into_vec();
        notes.push(note.into());
        self.notes = notes.into_boxed_slice();
        self
    }

    /// Renders the diagnostic as plain text ending in a newline, e.g.
    ///
    /// ```text
    /// error: unknown key `platfrom` in target
    ///   --> demo/Kraftfile:7:5
    ///    |
    ///  7 |     platfrom: qemu
    ///    |     ^^^^^^^^
    ///    = help: did you mean `platform`?
    /// ```
    pub fn render(&self) -> String {
        let digits = self.pos.map_or(1, |p| p.line.to_string().len());
        let pad = " ".repeat(digits + 1);
        let mut out = format!("error: {}\n", shorten(&self.message));
        match self.pos {
            Some(p) => out.push_str(&format!("{pad}--> {}:{p}\n", self.file.display())),
            None => out.push_str(&format!("{pad}--> {}\n", self.file.display())),
        }
        if let (Some(p), Some(line)) = (self.pos, &self.source_line) {
            let (shown, at) = window(line, (p.column as usize).saturating_sub(1));
            out.push_str(&format!("{pad} |\n"));
            out.push_str(&format!(" {} | {shown}\n", p.line));
            out.push_str(&format!("{pad} | {}\n", self.marker(at, &shown)));
        }
        for note in &self.notes {
            out.push_str(&format!("{pad} = note: {}\n", shorten(note)));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("{pad} = help: {}\n", shorten(help)));
        }
        out
    }

    /// [`Diagnostic::render`] for something that is not an error: `warning:` instead of
    /// `error:`.
    pub fn render_warning(&self) -> String {
        let text = self.render();
        match text.strip_prefix("error: ") {
            Some(rest) => format!("warning: {rest}"),
            None => text,
        }
    }

    /// The `^^^` line under the source line, starting at character `before`; tabs before
    /// it are copied so the marker lines up however the terminal expands them.
    fn marker(&self, before: usize, line: &str) -> String {
        let mut m: String = line
            .chars()
            .chain(std::iter::repeat(' '))
            .take(before)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let available = line.chars().count().saturating_sub(before).max(1);
        let width = (self.width as usize).clamp(1, available);
        m.push_str(&"^".repeat(width));
        m
    }
}

/// The longest source line shown whole; longer lines are cut around the column (a 300 MiB
/// line must not become a 300 MiB message).
const MAX_SHOWN_CHARS: usize = 120;
/// How many characters before the column a cut line keeps.
const SHOWN_BEFORE: usize = 40;
/// The longest message, note or help shown whole; longer ones lose their middle.
const MAX_MESSAGE_CHARS: usize = 600;

/// `line` as shown under a diagnostic, and the 0-based character column of `column` in it:
/// the whole line if it is short, else a window around the column with `…` where cut.
fn window(line: &str, column: usize) -> (String, usize) {
    let len = line.chars().count();
    if len <= MAX_SHOWN_CHARS {
        return (line.to_string(), column);
    }
    let start = column
        .saturating_sub(SHOWN_BEFORE)
        .min(len.saturating_sub(MAX_SHOWN_CHARS));
    let end = (start + MAX_SHOWN_CHARS).min(len);
    let mut shown = String::new();
    let mut at = column - start;
    if start > 0 {
        shown.push('…');
        at += 1;
    }
    shown.extend(line.chars().skip(start).take(end - start));
    if end < len {
        shown.push('…');
    }
    (shown, at)
}

/// `text`, or its beginning and end around `…` when it is longer than a message should be.
fn shorten(text: &str) -> std::borrow::Cow<'_, str> {
    let len = text.chars().count();
    if len <= MAX_MESSAGE_CHARS {
        return text.into();
    }
    let half = MAX_MESSAGE_CHARS / 2;
    let head: String = text.chars().take(half).collect();
    let tail: String = text.chars().skip(len - half).collect();
    format!("{head}…({} characters left out)…{tail}", len - 2 * half).into()
}

/// Reads `path` as UTF-8 text, `what` naming it in messages ("the Kraftfile"). Invalid
/// UTF-8 is an error pointing at the line and column of the first bad byte.
pub fn read_utf8(path: &Path, what: &str) -> Result<String, Diagnostic> {
    let bytes = std::fs::read(path).map_err(|e| {
        let why = if path.is_dir() {
            "it is a directory".to_string()
        } else {
            e.to_string()
        };
        Diagnostic::new(path, format!("cannot read {what}: {why}"))
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let good = e.utf8_error().valid_up_to();
        let before = String::from_utf8_lossy(&bytes[..good]);
        let line = before.matches('\n').count() as u32 + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() as u32 + 1;
        let text = String::from_utf8_lossy(bytes);
        Diagnostic::new(
            path,
            format!(
                "{what} is not valid UTF-8: byte 0x{:02x} cannot start a character here",
                bytes[good]
            ),
        )
        .at(Pos { line, column }, 1, &text)
        .with_help("save the file as UTF-8")
    })
}

impl fmt::Display for Diagnostic {
    /// One line: `file:line:col: message` (the full form is [`Diagnostic::render`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = shorten(&self.message);
        match self.pos {
            Some(p) => write!(f, "{}:{p}: {message}", self.file.display()),
            None => write!(f, "{}: {message}", self.file.display()),
        }
    }
}

impl std::error::Error for Diagnostic {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let src = "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\n    platfrom: qemu\n";
        let d = Diagnostic::new(
            Path::new("demo/Kraftfile"),
            "unknown key `platfrom` in target",
        )
        .at(Pos { line: 7, column: 5 }, 8, src)
        .with_help("did you mean `platform`?");
        let want = "error: unknown key `platfrom` in target\n  --> demo/Kraftfile:7:5\n   |\n 7 |     platfrom: qemu\n   |     ^^^^^^^^\n   = help: did you mean `platform`?\n";
        assert_eq!(d.render(), want);
    }

    #[test]
    fn wide_line_numbers_widen_the_gutter() {
        let src = "x\n".repeat(11) + "bad: [\n";
        let d = Diagnostic::new(Path::new("K"), "oops").at(
            Pos {
                line: 12,
                column: 6,
            },
            1,
            &src,
        );
        assert_eq!(
            d.render(),
            "error: oops\n   --> K:12:6\n    |\n 12 | bad: [\n    |      ^\n"
        );
    }

    #[test]
    fn a_huge_line_is_cut_around_the_column() {
        let src = format!("name: {}x: 1\n", "a".repeat(1 << 20));
        let column = 6 + (1 << 20) + 1;
        let d = Diagnostic::new(
            Path::new("K"),
            format!("bad key `{}x`", "a".repeat(1 << 20)),
        )
        .at(
            Pos {
                line: 1,
                column: column as u32,
            },
            1,
            &src,
        );
        let out = d.render();
        assert!(out.len() < 2000, "{} bytes", out.len());
        let lines: Vec<&str> = out.lines().collect();
        // The marker still points at the `x`.
        let shown = lines[3].split_once(" | ").unwrap().1;
        let marker = lines[4].split_once(" | ").unwrap().1;
        let at = marker.find('^').unwrap();
        assert_eq!(shown.chars().nth(at), Some('x'), "{shown}\n{marker}");
        assert!(shown.starts_with('…') && shown.ends_with("x: 1"), "{shown}");
        assert!(lines[0].contains("characters left out"), "{}", lines[0]);
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Kraftfile");
        std::fs::write(&path, b"spec: v0.6\nname: caf\xe9x\n").unwrap();
        let d = read_utf8(&path, "the Kraftfile").unwrap_err();
        assert_eq!(
            d.pos,
            Some(Pos {
                line: 2,
                column: 10
            })
        );
        assert!(d.message.contains("0xe9"), "{}", d.message);
        let d = read_utf8(dir.path(), "the Kraftfile").unwrap_err();
        assert!(d.message.contains("it is a directory"), "{}", d.message);
    }

    #[test]
    fn small_enough_for_clippy_result_large_err() {
        assert!(std::mem::size_of::<Diagnostic>() < 128);
    }

    #[test]
    fn without_position() {
        let d = Diagnostic::new(Path::new("K"), "the file is empty").with_note("n");
        assert_eq!(
            d.render(),
            "error: the file is empty\n  --> K\n   = note: n\n"
        );
        assert_eq!(d.to_string(), "K: the file is empty");
    }
}
