//! `.dockerignore`: which context paths a build leaves out, by Docker's rules (moby's
//! patternmatcher): lines are patterns, `#` starts a comment line, a leading `!` makes an
//! exception, patterns are cleaned and relative to the context root, the last matching line
//! wins, and a pattern that matches a directory matches everything below it.

use globset::GlobMatcher;

use crate::glob;

/// A parsed `.dockerignore`.
#[derive(Debug, Default)]
pub struct Ignore {
    rules: Vec<(bool, GlobMatcher)>,
}

impl Ignore {
    /// Parses the file's text; an error names the line.
    pub fn parse(text: &str) -> Result<Ignore, (usize, String)> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pattern = glob::clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            let m = glob::compile(&pattern).map_err(|e| (i + 1, e))?;
            rules.push((exception, m));
        }
        Ok(Ignore { rules })
    }

    /// Whether the context path `path` (clean, relative) is left out.
    pub fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for (exception, m) in &self.rules {
            if excluded != *exception {
                continue;
            }
            if matches_or_parent(m, path) {
                excluded = !*exception;
            }
        }
        excluded
    }

    /// Whether no line is given.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn matches_or_parent(m: &GlobMatcher, path: &str) -> bool {
    let mut p = path;
    loop {
        if m.is_match(p) {
            return true;
        }
        match p.rsplit_once('/') {
            Some((up, _)) => p = up,
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_matching_line_wins_and_directories_cover_their_contents() {
        let i = Ignore::parse("# comment\n.unikraft\n*.md\n!README.md\nbuild/**\n/out/\n").unwrap();
        assert!(i.excludes(".unikraft"));
        assert!(i.excludes(".unikraft/build/x.o"));
        assert!(i.excludes("notes.md"));
        assert!(!i.excludes("README.md"));
        assert!(
            !i.excludes("docs/notes.md"),
            "`*` does not cross directories"
        );
        assert!(i.excludes("build/a/b"));
        assert!(i.excludes("out/file"));
        assert!(!i.excludes("src/main.c"));
    }

    #[test]
    fn exceptions_can_bring_back_a_file_below_an_excluded_directory() {
        let i = Ignore::parse("docs\n!docs/keep.txt\n").unwrap();
        assert!(i.excludes("docs/other.txt"));
        assert!(!i.excludes("docs/keep.txt"));
    }

    #[test]
    fn a_bad_pattern_names_its_line() {
        let e = Ignore::parse("ok\n[\n").unwrap_err();
        assert_eq!(e.0, 2);
    }
}
