//! Instance names: which are valid, and generated ones (`brisk-otter-42`, docker-style).
//!
//! Generated names come from the standard library's randomly keyed hasher, so no RNG crate
//! is needed; they are not reproducible and need not be: uniqueness is checked by the
//! caller creating the directory. This module does not touch the filesystem.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use super::InstanceError;

const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brisk", "calm", "clever", "crisp", "dapper", "eager", "fuzzy", "gentle",
    "happy", "jolly", "keen", "lively", "lucid", "mellow", "nimble", "plucky", "quiet", "rapid",
    "shiny", "silent", "sunny", "swift", "tidy", "vivid", "witty", "zesty",
];

const NOUNS: &[&str] = &[
    "badger", "beacon", "cedar", "comet", "falcon", "fern", "gecko", "harbor", "heron", "ibis",
    "kiln", "lark", "lynx", "maple", "marten", "nebula", "otter", "pebble", "quartz", "raven",
    "salmon", "spruce", "tern", "thistle", "walrus", "willow", "yak", "zephyr",
];

/// Checks a name: 1-63 characters from `[a-z0-9_-]`, starting with a letter or digit (so it
/// can never be mistaken for a command-line flag or a hidden file).
pub fn validate_name(name: &str) -> Result<(), InstanceError> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    let first_ok = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.len() > 63 || !first_ok || !name.chars().all(ok_char) {
        return Err(InstanceError::BadName(name.to_owned()));
    }
    Ok(())
}

/// A fresh random name: adjective, noun and two digits (`brisk-otter-42`).
pub fn generate_name() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let r = h.finish();
    let adjective = ADJECTIVES[(r % ADJECTIVES.len() as u64) as usize];
    let noun = NOUNS[((r >> 16) % NOUNS.len() as u64) as usize];
    format!("{adjective}-{noun}-{:02}", (r >> 32) % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_names() {
        for ok in ["web", "a", "my_vm-2", "0day", &"x".repeat(63)] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "",
            "Web",
            "-x",
            "_x",
            "a b",
            "a/b",
            "..",
            "é",
            &"x".repeat(64),
        ] {
            let err = validate_name(bad).unwrap_err();
            assert!(
                err.to_string().contains("invalid instance name"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn generated_names_are_valid_and_vary() {
        let names: std::collections::BTreeSet<_> = (0..50).map(|_| generate_name()).collect();
        assert!(names.len() > 40, "{names:?}");
        for n in &names {
            validate_name(n).unwrap();
        }
    }
}
