//! Where the local cache lives by default: [`default_cache_dir`].
//!
//! It only reads the environment (through a closure, so tests need not touch the process's
//! environment); it does not create the directory.

use std::path::PathBuf;

/// The default cache root: `$KILN_CACHE_DIR`, else `$XDG_CACHE_HOME/kiln`, else
/// `$HOME/.cache/kiln`. An empty variable counts as unset. `None` when none is set.
///
/// `env` looks a variable up, e.g. `&|name| std::env::var(name).ok()`.
pub fn default_cache_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let var = |name: &str| env(name).filter(|value| !value.is_empty());
    if let Some(dir) = var("KILN_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return Some(PathBuf::from(xdg).join("kiln"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".cache").join("kiln"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> Option<PathBuf> {
        default_cache_dir(&|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn precedence_and_empty_values() {
        let all = [
            ("KILN_CACHE_DIR", "/k"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(lookup(&all), Some(PathBuf::from("/k")));
        assert_eq!(lookup(&all[1..]), Some(PathBuf::from("/x/kiln")));
        assert_eq!(lookup(&all[2..]), Some(PathBuf::from("/h/.cache/kiln")));
        let empties = [
            ("KILN_CACHE_DIR", ""),
            ("XDG_CACHE_HOME", ""),
            ("HOME", "/h"),
        ];
        assert_eq!(lookup(&empties), Some(PathBuf::from("/h/.cache/kiln")));
        assert_eq!(lookup(&[("HOME", "")]), None);
        assert_eq!(lookup(&[]), None);
    }
}
