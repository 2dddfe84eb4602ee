//! kiln's config file: `[sources]` overrides, `[mirrors]` URL-prefix rewrites, registries
//! and the remote cache.
//!
//! Where it is: `$KILN_CONFIG` if set (then it must exist), else
//! `$XDG_CONFIG_HOME/kiln/config.toml`, else `~/.config/kiln/config.toml` (a missing default
//! file is an empty config). The format:
//!
//! ```toml
//! [sources]            # component name = "path or git URL" (like --source, but for every build)
//! unikraft = "/src/unikraft"
//! musl = "https://git.example.com/forks/lib-musl.git"
//!
//! [mirrors]            # URL prefix = replacement; the longest matching prefix wins
//! "https://github.com/unikraft/" = "file:///srv/mirror/"
//!
//! [registry]
//! default = "unikraft.org"      # the registry of references that name none
//!
//! [registries."registry.example:5000"]
//! insecure = true               # plain HTTP; false: TLS even on loopback (where plain
//!                               # HTTP is the default, as with Docker)
//! ca_file = "/etc/ssl/team-ca.pem"
//! mirrors = ["pull-cache.example:5000"]   # tried first when pulling
//! chunked = true                # upload in PATCH chunks instead of one PUT
//!
//! [remote]                      # the team's remote cache (--remote-cache overrides)
//! cache = "https://cache.example/kiln/"   # http(s):// Bazel HTTP; grpc(s):// REAPI
//! read_only = false             # true: take hits, upload nothing
//! required = false              # true: fail when it is unavailable instead of building here
//! timeout = 30                  # seconds: connect and idle (no bytes moving) timeout
//! instance = "main"             # the REAPI instance name
//! token_file = "~/.config/kiln/cache-token"   # a bearer token (first line); or:
//! token_env = "KILN_CACHE_TOKEN"              # the variable that holds it
//! netrc = "/etc/kiln/netrc"     # Basic credentials by host (default $NETRC, ~/.netrc)
//!
//! [distribute]                  # spread C compiles over machines (--distribute overrides)
//! engine = "icecc"              # icecream; "off": compile here (the default)
//! scheduler = "sched.lan:8765"  # default: ICECC_SCHEDULER_HOST of /etc/icecc/icecc.conf
//! slots = 16                    # remote job slots added to -j; default: the scheduler's count
//! ```
//!
//! Relative local paths in `[sources]` are relative to the config file's directory and are
//! made absolute here. Unknown keys are errors with a suggestion; every error names the file,
//! line and column. This module only reads the file; it fetches nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::spec;
use crate::diag::{Diagnostic, Pos};

/// The parsed config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KilnConfig {
    /// The file it was read from (`None`: no file, the empty config).
    pub file: Option<PathBuf>,
    /// Component name (`unikraft`, a library name, `template`) → local path (absolute) or
    /// git URL.
    pub sources: BTreeMap<String, String>,
    /// URL prefix → replacement, sorted longest prefix first (ties: bytewise), so the first
    /// match is the one that wins.
    pub mirrors: Vec<(String, String)>,
    /// `[registry] default`.
    pub default_registry: Option<String>,
    /// `[registries."host"]`.
    pub registries: BTreeMap<String, kiln_oci::registry::RegistryConfig>,
    /// `[remote]`.
    pub remote: RemoteConfig,
    /// `[distribute]`.
    pub distribute: DistributeConfig,
}

/// `[distribute]`: distributed compiles (see `distribute.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistributeConfig {
    /// Distribute every build's compiles (`engine = "icecc"`).
    pub enabled: bool,
    /// The settings.
    pub settings: crate::distribute::DistributeSettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDistribute {
    engine: Option<Spanned<String>>,
    scheduler: Option<String>,
    slots: Option<usize>,
}

/// `[remote]`: the remote cache (plain settings; the CLI opens it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteConfig {
    /// The cache URL.
    pub cache: Option<String>,
    /// Take hits, upload nothing.
    pub read_only: bool,
    /// Fail rather than build locally when the cache is unavailable.
    pub required: bool,
    /// Connect and idle timeout, in seconds.
    pub timeout: Option<u64>,
    /// The REAPI instance name.
    pub instance: Option<String>,
    /// A file holding a bearer token (absolute).
    pub token_file: Option<PathBuf>,
    /// An environment variable holding a bearer token.
    pub token_env: Option<String>,
    /// The netrc file (absolute).
    pub netrc: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemote {
    cache: Option<String>,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    required: bool,
    timeout: Option<Spanned<u64>>,
    instance: Option<String>,
    token_file: Option<String>,
    token_env: Option<String>,
    netrc: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    default: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistryEntry {
    insecure: Option<bool>,
    ca_file: Option<String>,
    #[serde(default)]
    mirrors: Vec<String>,
    #[serde(default)]
    chunked: bool,
}

/// The file as TOML has it, with positions for the checks after parsing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    sources: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    mirrors: BTreeMap<Spanned<String>, Spanned<String>>,
    registry: Option<RawRegistry>,
    #[serde(default)]
    registries: BTreeMap<String, RawRegistryEntry>,
    remote: Option<RawRemote>,
    distribute: Option<RawDistribute>,
}

const TOP_KEYS: [&str; 6] = [
    "sources",
    "mirrors",
    "registry",
    "registries",
    "remote",
    "distribute",
];
const SECTIONS: &str =
    "[sources], [mirrors], [registry], [registries.\"HOST\"], [remote] and [distribute]";

impl KilnConfig {
    /// `url` rewritten by the longest matching `[mirrors]` prefix (unchanged if none matches).
    pub fn rewrite(&self, url: &str) -> String {
        self.mirrors
            .iter()
            .find_map(|(from, to)| {
                url.strip_prefix(from.as_str())
                    .map(|rest| format!("{to}{rest}"))
            })
            .unwrap_or_else(|| url.to_string())
    }

    /// Parses config `text` read from `file`; `home` expands `~/` in `[sources]` paths.
    pub fn parse(file: &Path, text: &str, home: Option<&Path>) -> Result<KilnConfig, Diagnostic> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
        let base = file
            .parent()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
            .unwrap_or_default();
        let mut sources = BTreeMap::new();
        for (name, value) in raw.sources {
            let at =
                |span: std::ops::Range<usize>, msg: String| spanned_error(file, text, span, msg);
            if name.get_ref().is_empty() || value.get_ref().is_empty() {
                return Err(
                    at(name.span(), "an empty name or source in [sources]".into())
                        .with_help("write `name = \"path or git URL\"`"),
                );
            }
            let v = value.get_ref();
            let resolved = if spec::is_git_url(v) {
                v.clone()
            } else {
                let path = spec::local_path(v, &base, home).map_err(|m| at(value.span(), m))?;
                path.to_string_lossy().into_owned()
            };
            sources.insert(name.into_inner(), resolved);
        }
        let mut mirrors = Vec::new();
        for (from, to) in raw.mirrors {
            if from.get_ref().is_empty() {
                return Err(spanned_error(
                    file,
                    text,
                    from.span(),
                    "an empty mirror prefix".into(),
                )
                .with_help("write `\"https://github.com/unikraft/\" = \"file:///srv/mirror/\"`"));
            }
            mirrors.push((from.into_inner(), to.into_inner()));
        }
        mirrors.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        let registries = raw
            .registries
            .into_iter()
            .map(|(host, r)| {
                let ca_file = r.ca_file.map(|f| base.join(f));
                let config = kiln_oci::registry::RegistryConfig {
                    insecure: r.insecure,
                    ca_file,
                    mirrors: r.mirrors,
                    chunked: r.chunked,
                    idle_timeout: None,
                };
                (host, config)
            })
            .collect();
        let remote = match raw.remote {
            Some(r) => remote_config(file, text, &base, home, r)?,
            None => RemoteConfig::default(),
        };
        let distribute = match raw.distribute {
            Some(d) => distribute_config(file, text, d)?,
            None => DistributeConfig::default(),
        };
        Ok(KilnConfig {
            file: Some(file.to_path_buf()),
            sources,
            mirrors,
            default_registry: raw.registry.and_then(|r| r.default),
            registries,
            remote,
            distribute,
        })
    }
}

fn remote_config(
    file: &Path,
    text: &str,
    base: &Path,
    home: Option<&Path>,
    r: RawRemote,
) -> Result<RemoteConfig, Diagnostic> {
    let path = |p: Option<String>| -> Result<Option<PathBuf>, Diagnostic> {
        p.map(|p| spec::local_path(&p, base, home).map_err(|m| Diagnostic::new(file, m)))
            .transpose()
    };
    if let Some(t) = &r.timeout
        && *t.get_ref() == 0
    {
        return Err(
            spanned_error(file, text, t.span(), "a zero [remote] timeout".into())
                .with_help("write the connect and idle timeout in seconds, e.g. `timeout = 30`"),
        );
    }
    if r.token_file.is_some() && r.token_env.is_some() {
        return Err(Diagnostic::new(
            file,
            "[remote] has both token_file and token_env".to_string(),
        )
        .with_help("keep the one that holds the cache's bearer token"));
    }
    Ok(RemoteConfig {
        cache: r.cache.filter(|c| !c.is_empty()),
        read_only: r.read_only,
        required: r.required,
        timeout: r.timeout.map(Spanned::into_inner),
        instance: r.instance,
        token_file: path(r.token_file)?,
        token_env: r.token_env,
        netrc: path(r.netrc)?,
    })
}

fn distribute_config(
    file: &Path,
    text: &str,
    d: RawDistribute,
) -> Result<DistributeConfig, Diagnostic> {
    let enabled = match &d.engine {
        None => false,
        Some(e) => match e.get_ref().as_str() {
            "icecc" => true,
            "off" => false,
            other => {
                let help = if other == "distcc" {
                    "distcc cannot tell kiln which compiler its workers run, so objects could \
                     differ from local ones; use icecream (`engine = \"icecc\"`), which ships \
                     this machine's compiler to them"
                } else {
                    "write `engine = \"icecc\"` (icecream) or `engine = \"off\"`"
                };
                return Err(spanned_error(
                    file,
                    text,
                    e.span(),
                    format!("unknown [distribute] engine {other:?}"),
                )
                .with_help(help));
            }
        },
    };
    Ok(DistributeConfig {
        enabled,
        settings: crate::distribute::DistributeSettings {
            scheduler: d.scheduler.filter(|s| !s.is_empty()),
            slots: d.slots,
        },
    })
}

/// Loads the config file from where the environment (`env`) says it is.
pub fn load_config(env: &dyn Fn(&str) -> Option<String>) -> Result<KilnConfig, Diagnostic> {
    let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
    let home = non_empty("HOME").map(PathBuf::from);
    let (file, required) = if let Some(f) = non_empty("KILN_CONFIG") {
        (PathBuf::from(f), true)
    } else if let Some(x) = non_empty("XDG_CONFIG_HOME") {
        (Path::new(&x).join("kiln/config.toml"), false)
    } else if let Some(h) = &home {
        (h.join(".config/kiln/config.toml"), false)
    } else {
        return Ok(KilnConfig::default());
    };
    if !required && !file.exists() {
        return Ok(KilnConfig::default());
    }
    let text = crate::diag::read_utf8(&file, "the kiln config file").map_err(|d| match d.pos {
        Some(_) => d,
        None => d.with_help("fix the path in KILN_CONFIG, or unset it to use the default file"),
    })?;
    KilnConfig::parse(&file, &text, home.as_deref())
}

/// A TOML error as a diagnostic at toml's span, with a suggestion for unknown keys.
fn toml_error(file: &Path, text: &str, e: &toml::de::Error) -> Diagnostic {
    let msg = e.message().trim_end_matches('\n').to_string();
    let mut d = match e.span() {
        Some(span) => spanned_error(file, text, span, msg.clone()),
        None => Diagnostic::new(file, msg.clone()),
    };
    if let Some(key) = unknown_field(&msg) {
        d.message = format!("unknown key `{key}` in the kiln config file");
        let help = match suggest(key, &TOP_KEYS) {
            Some(s) => format!("did you mean `{s}`? the config file has {SECTIONS}"),
            None => format!("the config file has {SECTIONS} (README.md, Config file)"),
        };
        d = d.with_help(help);
    }
    d
}

/// The key named in serde's "unknown field `x`, expected ..." message.
fn unknown_field(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(k, _)| k)
}

fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn spanned_error(file: &Path, text: &str, span: std::ops::Range<usize>, msg: String) -> Diagnostic {
    let pos = pos_at(text, span.start);
    let width = text
        .get(span.clone())
        .map_or(1, |s| s.lines().next().unwrap_or("").chars().count() as u32);
    Diagnostic::new(file, msg).at(pos, width, text)
}

/// The 1-based line and character column of byte `offset` in `text`.
fn pos_at(text: &str, offset: usize) -> Pos {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() as u32 + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() as u32 + 1;
    Pos { line, column: col }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let text = "[mirrors]\n\"https://github.com/\" = \"file:///all/\"\n\"https://github.com/unikraft/\" = \"file:///uk/\"\n";
        let c = KilnConfig::parse(Path::new("/etc/k.toml"), text, None).unwrap();
        assert_eq!(
            c.rewrite("https://github.com/unikraft/lib-musl.git"),
            "file:///uk/lib-musl.git"
        );
        assert_eq!(
            c.rewrite("https://github.com/x/y.git"),
            "file:///all/x/y.git"
        );
        assert_eq!(c.rewrite("ssh://other/z"), "ssh://other/z");
    }

    #[test]
    fn relative_sources_are_relative_to_the_file() {
        let text = "[sources]\nunikraft = \"../uk\"\nmusl = \"git@host:musl.git\"\n";
        let c = KilnConfig::parse(Path::new("/etc/kiln/config.toml"), text, None).unwrap();
        assert_eq!(c.sources["unikraft"], "/etc/kiln/../uk");
        assert_eq!(c.sources["musl"], "git@host:musl.git");
    }

    #[test]
    fn remote_settings_parse_and_bad_ones_name_the_place() {
        let f = Path::new("/etc/kiln/config.toml");
        let text = "[remote]\ncache = \"grpc://c:9\"\nread_only = true\ntimeout = 5\ntoken_file = \"tok\"\n";
        let c = KilnConfig::parse(f, text, None).unwrap();
        assert_eq!(c.remote.cache.as_deref(), Some("grpc://c:9"));
        assert!(c.remote.read_only && !c.remote.required);
        assert_eq!(c.remote.timeout, Some(5));
        assert_eq!(c.remote.token_file, Some(PathBuf::from("/etc/kiln/tok")));
        let zero = KilnConfig::parse(f, "[remote]\ntimeout = 0\n", None).unwrap_err();
        assert!(
            zero.message.contains("zero [remote] timeout"),
            "{}",
            zero.message
        );
        assert_eq!(zero.pos.map(|p| p.line), Some(2));
        let both = "[remote]\ntoken_file = \"a\"\ntoken_env = \"B\"\n";
        assert!(KilnConfig::parse(f, both, None).is_err());
        let typo = KilnConfig::parse(f, "[remote]\ncahce = \"x\"\n", None).unwrap_err();
        assert!(typo.message.contains("cahce"), "{}", typo.message);
    }

    #[test]
    fn distribute_settings_parse_and_distcc_is_refused_with_a_reason() {
        let f = Path::new("/etc/kiln/config.toml");
        let text = "[distribute]\nengine = \"icecc\"\nscheduler = \"s:1\"\nslots = 4\n";
        let c = KilnConfig::parse(f, text, None).unwrap();
        assert!(c.distribute.enabled);
        assert_eq!(c.distribute.settings.scheduler.as_deref(), Some("s:1"));
        assert_eq!(c.distribute.settings.slots, Some(4));
        let off = KilnConfig::parse(f, "[distribute]\nengine = \"off\"\n", None).unwrap();
        assert!(!off.distribute.enabled);
        let distcc = KilnConfig::parse(f, "[distribute]\nengine = \"distcc\"\n", None).unwrap_err();
        assert!(distcc.message.contains("\"distcc\""), "{}", distcc.message);
        assert!(format!("{distcc:?}").contains("icecream"));
        assert_eq!(distcc.pos.map(|p| p.line), Some(2));
    }

    #[test]
    fn positions_count_characters() {
        assert_eq!(pos_at("ab\nçd", 5), Pos { line: 2, column: 2 });
    }
}
