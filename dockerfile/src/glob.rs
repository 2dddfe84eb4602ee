//! Docker's path patterns: Go's `filepath.Match` (`*` and `?` never match `/`, `[…]` classes
//! with `^` or `!` negation, `\` escapes) plus `**` for any number of directories, as COPY
//! sources and `.dockerignore` lines use them. Matching is globset's.

use globset::{GlobBuilder, GlobMatcher};

/// Whether `p` has pattern characters (otherwise it names one path).
pub fn is_pattern(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// Compiles `pattern` (already cleaned, relative). The error says what is wrong with it.
pub fn compile(pattern: &str) -> Result<GlobMatcher, String> {
    // Go writes a negated class `[^…]`; globset writes `[!…]`.
    let translated = pattern.replace("[^", "[!");
    GlobBuilder::new(&translated)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("bad pattern `{pattern}`: {e}"))
}

/// `path` made relative and normal: no leading `/`, no `.` or empty components, `..` taken
/// against its parent and never above the root. The root is "".
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// `a/b` joined; either may be the root "".
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// The parent of a clean path ("" for a top-level name or the root).
pub fn parent(p: &str) -> &str {
    p.rsplit_once('/').map_or("", |(d, _)| d)
}

/// The last component of a clean path.
pub fn base(p: &str) -> &str {
    p.rsplit_once('/').map_or(p, |(_, b)| b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_stop_at_slashes_and_double_stars_do_not() {
        let m = compile("*.so").unwrap();
        assert!(m.is_match("libc.so"));
        assert!(!m.is_match("lib/libc.so"));
        let m = compile("**/*.so").unwrap();
        assert!(m.is_match("lib/x/libc.so"));
        let m = compile("lib[^a]").unwrap();
        assert!(m.is_match("libb") && !m.is_match("liba"));
    }

    #[test]
    fn paths_are_cleaned_as_go_cleans_them() {
        assert_eq!(clean("/a/./b//c/"), "a/b/c");
        assert_eq!(clean("../../a/../b"), "b");
        assert_eq!(clean("/"), "");
        assert_eq!(join("", "x"), "x");
        assert_eq!(parent("a/b"), "a");
        assert_eq!(base("a/b"), "b");
    }
}
