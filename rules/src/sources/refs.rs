//! Turning a [`Version`] into a commit, from the refs of a bare repository in the cache.
//!
//! `stable` is the newest tag `RELEASE-<n>.<n>[.<n>...]` by numeric version order (so
//! `RELEASE-0.17.0` > `RELEASE-0.16.0` > `RELEASE-0.9.0`; tags with other suffixes, such as
//! release candidates, are not stable); `staging` is the branch `staging`; a name is a tag
//! if there is one, else a branch, else (7 or more hex digits) an abbreviated commit; the
//! default is the remote's `HEAD`, which the fetch stores as `refs/kiln/HEAD`. Annotated tags
//! are peeled to their commit. This module only reads the repository; it never fetches.

use std::collections::BTreeMap;
use std::path::Path;

use super::git::{Git, GitFailure, Isolation};
use super::spec::Version;

/// Where a fetch stores the remote's `HEAD`.
pub const REMOTE_HEAD: &str = "refs/kiln/HEAD";

/// The refs of a repository: full ref name → the commit it points at (tags peeled).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refs(pub BTreeMap<String, String>);

impl Refs {
    /// Reads the refs of the bare repository `git_dir`.
    pub fn read(git: &Git, git_dir: &Path) -> Result<Refs, GitFailure> {
        let out = git.in_repo(
            git_dir,
            Isolation::Content,
            &[],
            &[
                "for-each-ref",
                "--format=%(refname)%00%(objectname)%00%(*objectname)",
            ],
        )?;
        let text = String::from_utf8_lossy(&out);
        let mut refs = BTreeMap::new();
        for line in text.lines() {
            let mut parts = line.split('\0');
            let (Some(name), Some(object)) = (parts.next(), parts.next()) else {
                continue;
            };
            let peeled = parts.next().filter(|p| !p.is_empty()).unwrap_or(object);
            refs.insert(name.to_string(), peeled.to_string());
        }
        Ok(Refs(refs))
    }

    /// The commit `version` names, if these refs say; `None` for a commit id (the caller
    /// checks the object database) and for names no ref has.
    pub fn resolve(&self, version: &Version) -> Option<String> {
        let get = |r: String| self.0.get(&r).cloned();
        match version {
            Version::Default => get(REMOTE_HEAD.to_string()),
            Version::Stable => self.newest_release().map(|(_, c)| c),
            Version::Staging => get("refs/heads/staging".into()),
            Version::Branch(b) => get(format!("refs/heads/{b}")),
            Version::Tag(t) => get(format!("refs/tags/{t}")),
            Version::Ref(n) => {
                get(format!("refs/tags/{n}")).or_else(|| get(format!("refs/heads/{n}")))
            }
            Version::Commit(_) => None,
        }
    }

    /// The newest `RELEASE-x.y.z` tag and its commit.
    pub fn newest_release(&self) -> Option<(String, String)> {
        self.0
            .iter()
            .filter_map(|(name, commit)| {
                let tag = name.strip_prefix("refs/tags/")?;
                let key = release_key(tag)?;
                Some((key, tag, commit))
            })
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, tag, commit)| (tag.to_string(), commit.clone()))
    }
}

/// The numeric version of a `RELEASE-<n>.<n>...` tag, for ordering.
fn release_key(tag: &str) -> Option<Vec<u64>> {
    let v = tag.strip_prefix("RELEASE-")?;
    v.split('.').map(|p| p.parse::<u64>().ok()).collect()
}

/// Whether `rev` could be an abbreviated commit id.
pub fn looks_like_commit(rev: &str) -> bool {
    (7..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The full id of commit `rev` in `git_dir`, or `None` if the repository lacks it.
pub fn commit_in_repo(git: &Git, git_dir: &Path, rev: &str) -> Option<String> {
    if !git_dir.is_dir() {
        return None;
    }
    let out = git
        .in_repo(
            git_dir,
            Isolation::Content,
            &[],
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &format!("{rev}^{{commit}}"),
            ],
        )
        .ok()?;
    let id = String::from_utf8_lossy(&out).trim().to_string();
    super::spec::is_full_commit(&id).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(pairs: &[(&str, &str)]) -> Refs {
        Refs(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn stable_is_the_newest_numeric_release() {
        let r = refs(&[
            ("refs/tags/RELEASE-0.9.0", "a"),
            ("refs/tags/RELEASE-0.17.0", "b"),
            ("refs/tags/RELEASE-0.16.3", "c"),
            ("refs/tags/RELEASE-0.18.0-rc1", "d"),
            ("refs/heads/RELEASE-9.0.0", "e"),
        ]);
        assert_eq!(
            r.newest_release(),
            Some(("RELEASE-0.17.0".into(), "b".into()))
        );
        assert_eq!(r.resolve(&Version::Stable), Some("b".into()));
    }

    #[test]
    fn names_prefer_tags_over_branches() {
        let r = refs(&[
            ("refs/tags/x", "t"),
            ("refs/heads/x", "h"),
            ("refs/heads/y", "y"),
        ]);
        assert_eq!(r.resolve(&Version::Ref("x".into())), Some("t".into()));
        assert_eq!(r.resolve(&Version::Ref("y".into())), Some("y".into()));
        assert_eq!(r.resolve(&Version::Branch("x".into())), Some("h".into()));
        assert_eq!(r.resolve(&Version::Ref("z".into())), None);
    }
}
