//! Names that become file names: the project's `name:` (the kernel's file name, make's
//! `N=`) and a target's `name:` (its work directory under `.unikraft/kiln/work/`).
//!
//! Such a name must stay one harmless path component: `../../x` or `/abs` would make make
//! write its `.config`, objects and kernel outside the project. The rule is deliberately
//! narrow and the same everywhere: 1 to 128 bytes of ASCII letters, digits, `.`, `_`, `-`
//! and `+`, not starting with `.` or `-`. Every name kraft's own normalisation produces, and
//! every name in unikraft/catalog (`helloworld-g++13.2` among them), passes.

/// The longest name accepted, in bytes (file names may be 255; room is left for suffixes
/// such as `_<plat>-<arch>.dbg`).
pub const MAX_NAME_LEN: usize = 128;

/// Why `name` cannot be used as a path component, or `None` if it can.
pub fn path_component_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!("it is longer than {MAX_NAME_LEN} bytes"));
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Some(format!("it starts with `{}`", &name[..1]));
    }
    let bad = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+')));
    bad.map(|c| format!("it contains {}", describe(c)))
}

fn describe(c: char) -> String {
    match c {
        '/' => "`/`, which separates directories".into(),
        '\\' => "`\\`".into(),
        c if c.is_whitespace() => "white space".into(),
        c if c.is_control() => format!("the control character {:?}", c),
        c => format!("`{c}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for n in [
            "helloworld",
            "tornado6.5.2-python3.14-base",
            "qemu-x86_64",
            "A_b.c-9",
            "helloworld-g++13.2",
            "httpserver-boost1.74-g++13.2",
        ] {
            assert_eq!(path_component_problem(n), None, "{n}");
        }
    }

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        for (n, why) in [
            ("", "empty"),
            ("..", "starts with `.`"),
            ("../../../../x", "starts with `.`"),
            ("/abs/x", "`/`"),
            ("a/../../b", "`/`"),
            (".hidden", "starts with `.`"),
            ("-rf", "starts with `-`"),
            ("a b", "white space"),
            ("a\0b", "control character"),
            ("naïve", "`ï`"),
        ] {
            let problem = path_component_problem(n).unwrap_or_default();
            assert!(problem.contains(why), "{n:?}: {problem}");
        }
        assert!(path_component_problem(&"x".repeat(129)).is_some());
        assert!(path_component_problem(&"x".repeat(128)).is_none());
    }
}
