//! What a component asks for: a [`SourceSpec`] (a local directory, or a git URL and a
//! [`Version`]) decided from the Kraftfile, the config file and `--source`, before anything
//! is fetched.
//!
//! The rules, in order:
//!
//! 1. **Precedence.** `--source NAME=...` beats the config file's `[sources]`, which beats
//!    the Kraftfile. `NAME` is `unikraft` for the core, a library's Kraftfile name, or
//!    `template`. An override replaces the *source* only; the version still comes from the
//!    Kraftfile unless the override URL carries `?branch=`, `?tag=` or `?version=`.
//! 2. **Local or git.** A string containing `://` (`file://`, `https://`, `ssh://`,
//!    `git://`) or shaped like `user@host:path` is a git URL. Everything else is a local
//!    directory: `/abs`, `./x`, `../x`, `~/x` (`~` is `$HOME`) and plain relative paths.
//!    Relative paths are relative to the Kraftfile's directory for Kraftfile sources, to the
//!    current directory for `--source` (the CLI makes them absolute, see
//!    [`parse_override`]) and to the config file's directory for `[sources]` (made absolute
//!    when the config is loaded).
//! 3. **Bare names.** A component with no source comes from the unikraft GitHub
//!    repositories: `unikraft/unikraft` (core), `unikraft/lib-<name>` (libraries),
//!    `unikraft/app-<name>` (templates). With no version either, a bare name asks for
//!    `stable`; an explicit URL with no version asks for the remote's default branch.
//! 4. **Mirrors.** Every git URL is then rewritten by the longest matching `[mirrors]`
//!    prefix; the URL before rewriting is the *canonical* one (what the lock records).
//!
//! This module reads no file and runs nothing; it only checks that `~` can be expanded.

use std::fmt;
use std::path::{Path, PathBuf};

use super::config::KilnConfig;
use crate::kraftfile::Component;

/// Where GitHub's unikraft repositories live; bare names become URLs below it.
pub const UNIKRAFT_GITHUB: &str = "https://github.com/unikraft/";

/// Which component of a project: the key of its lock entry and its `--source` name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentId {
    /// The Unikraft core (`unikraft:`).
    Core,
    /// A library, by its Kraftfile name.
    Library(String),
    /// The template (`template:`).
    Template,
}

impl ComponentId {
    /// Parses the form [`fmt::Display`] writes: `unikraft`, `lib/<name>` or `template`.
    pub fn parse(s: &str) -> Option<ComponentId> {
        match s {
            "unikraft" => Some(ComponentId::Core),
            "template" => Some(ComponentId::Template),
            _ => s
                .strip_prefix("lib/")
                .filter(|n| !n.is_empty())
                .map(|n| ComponentId::Library(n.to_string())),
        }
    }

    /// The name `--source` and `[sources]` use: `unikraft`, the library's name, `template`.
    pub fn override_name(&self) -> &str {
        match self {
            ComponentId::Core => "unikraft",
            ComponentId::Library(n) => n,
            ComponentId::Template => "template",
        }
    }

    /// The GitHub URL a component without a source comes from; `name` is the component's
    /// Kraftfile name (it matters for templates).
    pub fn default_url(&self, name: &str) -> String {
        match self {
            ComponentId::Core => format!("{UNIKRAFT_GITHUB}unikraft.git"),
            ComponentId::Library(n) => format!("{UNIKRAFT_GITHUB}lib-{n}.git"),
            ComponentId::Template => format!("{UNIKRAFT_GITHUB}app-{name}.git"),
        }
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComponentId::Core => f.write_str("unikraft"),
            ComponentId::Library(n) => write!(f, "lib/{n}"),
            ComponentId::Template => f.write_str("template"),
        }
    }
}

/// Which revision of a git repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Version {
    /// The remote's default branch (its `HEAD`).
    Default,
    /// The newest `RELEASE-x.y.z` tag, by version order.
    Stable,
    /// The `staging` branch.
    Staging,
    /// A branch (`?branch=` in the URL).
    Branch(String),
    /// A tag (`?tag=` in the URL).
    Tag(String),
    /// A full 40-hex commit id.
    Commit(String),
    /// A name written as a version: a tag if there is one, else a branch, else (at least
    /// 7 hex digits) an abbreviated commit.
    Ref(String),
}

impl Version {
    /// Classifies a version as written in a Kraftfile.
    pub fn parse(s: &str) -> Version {
        match s {
            "stable" => Version::Stable,
            "staging" => Version::Staging,
            _ if is_full_commit(s) => Version::Commit(s.to_ascii_lowercase()),
            _ => Version::Ref(s.to_string()),
        }
    }

    /// The canonical written form the lock file compares: `stable`, `staging`, `<name>`,
    /// `tag=<name>`, `branch=<name>`, the commit; `None` for [`Version::Default`].
    pub fn lock_form(&self) -> Option<String> {
        match self {
            Version::Default => None,
            Version::Stable => Some("stable".into()),
            Version::Staging => Some("staging".into()),
            Version::Branch(b) => Some(format!("branch={b}")),
            Version::Tag(t) => Some(format!("tag={t}")),
            Version::Commit(c) | Version::Ref(c) => Some(c.clone()),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Default => f.write_str("the default branch"),
            Version::Stable => f.write_str("`stable`"),
            Version::Staging => f.write_str("`staging`"),
            Version::Branch(b) => write!(f, "branch `{b}`"),
            Version::Tag(t) => write!(f, "tag `{t}`"),
            Version::Commit(c) => write!(f, "commit {c}"),
            Version::Ref(r) => write!(f, "`{r}`"),
        }
    }
}

/// Whether `s` is a full (40 hex digit) commit id.
pub fn is_full_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a component asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A local directory (absolute), used as it is.
    Local(PathBuf),
    /// A git repository at a version.
    Git {
        /// The URL as asked (after `[sources]`/`--source`, before mirrors, without a query).
        url: String,
        /// The URL to fetch from: `url` rewritten by the mirrors.
        fetch_url: String,
        /// Which revision.
        version: Version,
    },
}

/// Which layer a spec came from; it decides what the lock file records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecLayer {
    /// `--source` on the command line.
    CommandLine,
    /// `[sources]` in the config file.
    Config,
    /// The Kraftfile (or the default GitHub repository).
    Kraftfile,
}

/// A component's spec and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What to use.
    pub spec: SourceSpec,
    /// Which layer decided it.
    pub layer: SpecLayer,
}

/// Decides what component `id` (written as `c` in the Kraftfile in `kraftfile_dir`) asks
/// for, given `--source` overrides (values already absolute for local paths) and the config.
/// `home` expands `~/`. Errors are messages for [`super::SourceError::Spec`].
pub fn component_request(
    id: &ComponentId,
    c: &Component,
    kraftfile_dir: &Path,
    overrides: &std::collections::BTreeMap<String, String>,
    config: &KilnConfig,
    home: Option<&Path>,
) -> Result<Request, String> {
    let name = id.override_name();
    let (written, layer) = if let Some(v) = overrides.get(name) {
        (Some(v.as_str()), SpecLayer::CommandLine)
    } else if let Some(v) = config.sources.get(name) {
        (Some(v.as_str()), SpecLayer::Config)
    } else {
        (c.source.as_deref(), SpecLayer::Kraftfile)
    };
    let Some(written) = written else {
        if id == &ComponentId::Template && c.name.is_empty() {
            return Err("the template has neither a name nor a source".into());
        }
        let url = id.default_url(&c.name);
        let version = c.version.as_deref().map_or(Version::Stable, Version::parse);
        return Ok(git_request(url, version, config, layer));
    };
    if written.starts_with('-') {
        // git would take it for an option.
        return Err(format!(
            "source `{written}` starts with `-`; write `./{written}` for a directory"
        ));
    }
    if written.ends_with(".tar.gz") || written.ends_with(".tgz") {
        return Err(format!(
            "source `{written}` is a tarball; kiln takes git repositories and directories only"
        ));
    }
    if !is_git_url(written) {
        return Ok(Request {
            spec: SourceSpec::Local(local_path(written, kraftfile_dir, home)?),
            layer,
        });
    }
    let (url, query_version) = split_query(written);
    // An override's query wins; in the Kraftfile an explicit `version:` does (the string
    // form copies the query into `version`, so the two agree there).
    let query_wins = |q: &QueryVersion| {
        layer != SpecLayer::Kraftfile || c.version.as_deref().is_none_or(|v| v == q.name())
    };
    let version = match (&c.version, query_version) {
        (_, Some(q)) if query_wins(&q) => q.into(),
        (Some(v), _) => Version::parse(v),
        (None, _) => Version::Default,
    };
    Ok(git_request(url.to_string(), version, config, layer))
}

fn git_request(url: String, version: Version, config: &KilnConfig, layer: SpecLayer) -> Request {
    Request {
        spec: SourceSpec::Git {
            fetch_url: config.rewrite(&url),
            url,
            version,
        },
        layer,
    }
}

/// Whether `s` names a git repository rather than a local directory.
pub fn is_git_url(s: &str) -> bool {
    let scp_like = s
        .split_once(':')
        .is_some_and(|(host, _)| host.contains('@') && !host.contains('/'));
    s.contains("://") || scp_like
}

/// A local path as written, made absolute against `base` (`~/` against `home`).
pub fn local_path(written: &str, base: &Path, home: Option<&Path>) -> Result<PathBuf, String> {
    let joined = if written == "~" || written.starts_with("~/") {
        let Some(home) = home else {
            return Err(format!("cannot expand `~` in `{written}`: HOME is not set"));
        };
        home.join(written.trim_start_matches('~').trim_start_matches('/'))
    } else {
        base.join(written)
    };
    Ok(joined
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect())
}

/// The version a URL's query asks for (`?branch=`, `?tag=`, `?version=`).
#[derive(Debug)]
enum QueryVersion {
    Branch(String),
    Tag(String),
    Any(String),
}

impl QueryVersion {
    fn name(&self) -> &str {
        match self {
            QueryVersion::Branch(n) | QueryVersion::Tag(n) | QueryVersion::Any(n) => n,
        }
    }
}

impl From<QueryVersion> for Version {
    fn from(q: QueryVersion) -> Version {
        match q {
            QueryVersion::Branch(b) => Version::Branch(b),
            QueryVersion::Tag(t) => Version::Tag(t),
            QueryVersion::Any(v) => Version::parse(&v),
        }
    }
}

/// Splits `url?branch=x` into the URL and the version its query asks for.
fn split_query(s: &str) -> (&str, Option<QueryVersion>) {
    let Some((url, query)) = s.split_once('?') else {
        return (s, None);
    };
    let pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let find = |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let q = if let Some(b) = find("branch") {
        Some(QueryVersion::Branch(b.into()))
    } else if let Some(t) = find("tag") {
        Some(QueryVersion::Tag(t.into()))
    } else {
        find("version").map(|v| QueryVersion::Any(v.into()))
    };
    (url, q)
}

/// Parses a `--source NAME=PATH|URL` argument; a relative local path is made absolute
/// against `cwd` (so the resolver never sees a path relative to the current directory).
pub fn parse_override(
    arg: &str,
    cwd: &Path,
    home: Option<&Path>,
) -> Result<(String, String), String> {
    let Some((name, value)) = arg.split_once('=') else {
        return Err(format!(
            "`{arg}` is not NAME=PATH|URL (e.g. `unikraft=../unikraft` or `musl=https://...`)"
        ));
    };
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() || value.is_empty() {
        return Err(format!("`{arg}`: both NAME and PATH|URL must be given"));
    }
    if is_git_url(value) {
        return Ok((name.to_string(), value.to_string()));
    }
    let path = local_path(value, cwd, home)?;
    Ok((name.to_string(), path.to_string_lossy().into_owned()))
}

/// The override names in `overrides` that no component of the project answers to, each
/// with the closest known name when there is a likely one, for a usage error.
pub fn unknown_override_names<'a>(
    overrides: impl IntoIterator<Item = &'a String>,
    components: &[ComponentId],
) -> Vec<(String, Option<String>)> {
    let known: Vec<&str> = components.iter().map(|c| c.override_name()).collect();
    overrides
        .into_iter()
        .filter(|n| !known.contains(&n.as_str()))
        .map(|n| {
            let close = known
                .iter()
                .map(|k| (strsim::damerau_levenshtein(n, k), *k))
                .filter(|(d, k)| *d <= (k.len().max(n.len()) / 3).max(1))
                .min_by_key(|(d, _)| *d)
                .map(|(_, k)| k.to_string());
            (n.clone(), close)
        })
        .collect()
}
