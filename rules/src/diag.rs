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
        let mut out = format!("error: {}\n", self.message);
        match self.pos {
            Some(p) => out.push_str(&format!("{pad}--> {}:{p}\n", self.file.display())),
            None => out.push_str(&format!("{pad}--> {}\n", self.file.display())),
        }
        if let (Some(p), Some(line)) = (self.pos, &self.source_line) {
            out.push_str(&format!("{pad} |\n"));
            out.push_str(&format!(" {} | {line}\n", p.line));
            out.push_str(&format!("{pad} | {}\n", self.marker(p, line)));
        }
        for note in &self.notes {
            out.push_str(&format!("{pad} = note: {note}\n"));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("{pad} = help: {help}\n"));
        }
        out
    }

    /// The `^^^` line under the source line; tabs before the column are
    /// copied so the marker lines up however the terminal expands them.
    fn marker(&self, p: Pos, line: &str) -> String {
        let before = (p.column as usize).saturating_sub(1);
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

impl fmt::Display for Diagnostic {
    /// One line: `file:line:col: message` (the full form is [`Diagnostic::render`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{}:{p}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
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
