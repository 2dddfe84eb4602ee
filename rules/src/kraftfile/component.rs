//! Converts the component sections of a Kraftfile — `unikraft`, `template`,
//! `libraries`, `runtime` — and their `kconfig` options from YAML nodes to
//! the model.
//!
//! It does not resolve versions (`stable` -> a tag), fetch anything or check
//! that a source path exists; it only classifies what was written.

use std::collections::BTreeMap;

use crate::diag::Diagnostic;

use super::ctx::{Ctx, Entry};
use super::model::{Component, Kconfig, Runtime, RuntimeRef};
use super::node::{Node, Value};

const COMPONENT_KEYS: &[&[&str]] = &[&["source"], &["version"], &["kconfig"]];
const TEMPLATE_KEYS: &[&[&str]] = &[&["name"], &["source"], &["version"], &["kconfig"]];

/// `unikraft:` — a string (source or version) or `{source, version, kconfig}`.
pub(crate) fn unikraft(cx: &Ctx<'_>, entry: &Entry<'_>) -> Result<Component, Diagnostic> {
    component(cx, entry, "unikraft", "`unikraft`", COMPONENT_KEYS)
}

/// `template:` — a source, `name[:version]`, or `{name, source, version, kconfig}`.
pub(crate) fn template(cx: &Ctx<'_>, entry: &Entry<'_>) -> Result<Component, Diagnostic> {
    let node = entry.value;
    let mut c = component(cx, entry, "", "`template`", TEMPLATE_KEYS)?;
    if let Value::Str(s) = &node.value
        && c.source.is_none()
    {
        // A bare template string names a template, optionally with a version.
        let (name, version) = match s.split_once(':') {
            Some((n, v)) => (n.to_string(), Some(v.to_string()).filter(|v| !v.is_empty())),
            None => (s.clone(), None),
        };
        c.name = name;
        c.version = version;
    }
    if c.name.is_empty() {
        c.name = c
            .source
            .as_deref()
            .map(name_from_source)
            .unwrap_or_default();
    }
    if c.name.is_empty() {
        return Err(cx
            .error(node, "cannot tell which template this is")
            .with_help("give it a `name:` or a `source:`"));
    }
    Ok(c)
}

/// `libraries:` — a map from library name to a string or a component map.
pub(crate) fn libraries(
    cx: &Ctx<'_>,
    node: &Node,
) -> Result<BTreeMap<String, Component>, Diagnostic> {
    let mut out = BTreeMap::new();
    for e in cx.entries(node, "`libraries`")? {
        if let Some(problem) = super::names::path_component_problem(&e.key) {
            let shown: String = e.key.chars().take(64).collect();
            return Err(cx
                .error(
                    e.key_node,
                    format!("invalid library name `{shown}`: {problem}"),
                )
                .with_help(
                    "library names use only letters, digits, `.`, `_` and `-`, not starting \
                     with `.` or `-`",
                ));
        }
        let what = format!("library `{}`", e.key);
        if matches!(e.value.value, Value::Null) {
            return Err(cx
                .wrong_type(e.value, "a version, a source or a map", &what)
                .with_help(format!(
                    "write `{}: stable`, or give `source:`/`version:`",
                    e.key
                )));
        }
        let c = component(cx, &e, &e.key, &what, COMPONENT_KEYS)?;
        out.insert(e.key, c);
    }
    Ok(out)
}

/// The position a component is reported at: its value in the string form,
/// its key (`unikraft:`, `lwip:`) in the map form.
fn component_pos(entry: &Entry<'_>) -> crate::diag::Pos {
    match entry.value.value {
        Value::Map(_) => entry.key_node.mark.pos,
        _ => entry.value.mark.pos,
    }
}

/// A component in string or map form, named `name` (may be empty for templates).
fn component(
    cx: &Ctx<'_>,
    entry: &Entry<'_>,
    name: &str,
    what: &str,
    keys: &[&[&'static str]],
) -> Result<Component, Diagnostic> {
    let node = entry.value;
    let mut c = Component {
        name: name.to_string(),
        source: None,
        version: None,
        kconfig: Kconfig::default(),
        pos: component_pos(entry),
    };
    match &node.value {
        Value::Str(_) | Value::Num { .. } => {
            let s = cx.scalar(node, what)?;
            if s.is_empty() {
                return Err(cx
                    .error(node, format!("{what} is empty"))
                    .with_help("write a version such as `stable`, or a source"));
            }
            if is_source(&s) {
                c.version = version_from_url(&s);
                c.source = Some(s);
            } else {
                c.version = Some(s);
            }
        }
        Value::Map(_) => {
            let f = cx.fields(node, what, keys)?;
            if let Some(n) = f.value("name") {
                c.name = cx.string(n, &format!("the name of {what}"))?;
            }
            if let Some(s) = f.value("source") {
                c.source = Some(cx.string(s, &format!("the source of {what}"))?);
            }
            if let Some(v) = f.value("version") {
                c.version = Some(cx.scalar(v, &format!("the version of {what}"))?);
            }
            if let Some(k) = f.value("kconfig") {
                c.kconfig = kconfig(cx, k, what)?;
            }
        }
        _ => return Err(cx.wrong_type(node, "a string or a map", what)),
    }
    Ok(c)
}

/// Whether a component string names a source (URL or path) rather than a version.
pub(crate) fn is_source(s: &str) -> bool {
    let scp_like = s
        .split_once(':')
        .is_some_and(|(host, _)| host.contains('@') && !host.contains('/'));
    s.contains("://")
        || scp_like
        || s.starts_with(['/', '.', '~'])
        || s.contains('/')
        || s.ends_with(".git")
        || s.ends_with(".tar.gz")
}

/// The `branch`, `tag` or `version` query parameter of a URL, as kraft reads it.
fn version_from_url(s: &str) -> Option<String> {
    let (_, query) = s.split_once('?')?;
    for key in ["branch", "tag", "version"] {
        let found = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, v)| *k == key && !v.is_empty());
        if let Some((_, v)) = found {
            return Some(v.to_string());
        }
    }
    None
}

/// A component name from its source: the last path segment without `.git`
/// or `.tar.gz`, a query, or an `app-`/`lib-` prefix.
fn name_from_source(source: &str) -> String {
    let path = source.split(['?', '#']).next().unwrap_or("");
    let last = path
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("");
    let base = last.trim_end_matches(".git").trim_end_matches(".tar.gz");
    ["app-", "lib-", "apps-", "libs-"]
        .iter()
        .find_map(|p| base.strip_prefix(p))
        .unwrap_or(base)
        .to_string()
}

/// `kconfig:` as a map (`CONFIG_X: value`) or a list of `CONFIG_X=value`.
pub(crate) fn kconfig(cx: &Ctx<'_>, node: &Node, owner: &str) -> Result<Kconfig, Diagnostic> {
    let what = format!("the kconfig of {owner}");
    let mut out = BTreeMap::new();
    match &node.value {
        Value::Map(_) => {
            for e in cx.entries(node, &what)? {
                check_symbol(cx, e.key_node, &e.key)?;
                let value = kconfig_value(cx, e.value, &e.key)?;
                out.insert(e.key, value);
            }
        }
        Value::Seq(items) => {
            let mut lines: BTreeMap<String, u32> = BTreeMap::new();
            for item in items {
                let (key, value) = kconfig_item(cx, item, &what)?;
                if let Some(first) = lines.insert(key.clone(), item.mark.pos.line) {
                    cx.warn_twice(item, &format!("`{key}` is set twice in {what}"), first);
                }
                out.insert(key, value);
            }
        }
        _ => return Err(cx.wrong_type(node, "a map or a list", &what)),
    }
    Ok(Kconfig(out))
}

/// One `CONFIG_X=value` list item.
fn kconfig_item(cx: &Ctx<'_>, item: &Node, what: &str) -> Result<(String, String), Diagnostic> {
    let Value::Str(s) = &item.value else {
        return Err(cx.wrong_type(item, "a string `CONFIG_X=value`", what));
    };
    let Some((key, value)) = s.split_once('=').filter(|(_, v)| !v.is_empty()) else {
        let key = s.split('=').next().unwrap_or("");
        return Err(cx
            .error(item, format!("kconfig option `{s}` has no value"))
            .with_help(format!(
                "write `{key}=y` (kraft needs an explicit value too)"
            )));
    };
    check_symbol(cx, item, key)?;
    Ok((key.to_string(), value.to_string()))
}

/// The `.config` value of a map entry: booleans become `y`/`n`.
fn kconfig_value(cx: &Ctx<'_>, node: &Node, key: &str) -> Result<String, Diagnostic> {
    match &node.value {
        Value::Bool { value, .. } => Ok(if *value { "y" } else { "n" }.to_string()),
        Value::Num { raw } => Ok(raw.clone()),
        Value::Str(s) => Ok(s.clone()),
        Value::Null => Err(cx
            .error(node, format!("kconfig option `{key}` has no value"))
            .with_help(format!("write `{key}: 'y'`, or remove the line"))),
        _ => Err(cx.wrong_type(node, "a string, number or boolean", &format!("`{key}`"))),
    }
}

/// Kconfig symbols are written in full: `CONFIG_` then `[A-Za-z0-9_]+`.
/// kraft writes keys to `.config` verbatim, so a key without the prefix
/// would be silently ignored by Kconfig; kiln refuses it.
fn check_symbol(cx: &Ctx<'_>, node: &Node, key: &str) -> Result<(), Diagnostic> {
    let name = key.strip_prefix("CONFIG_");
    let valid = name
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if valid {
        return Ok(());
    }
    let pos = cx.pos_in(node, 0);
    let width = u32::try_from(key.chars().count()).unwrap_or(1);
    let d = cx.error_at(pos, width, format!("invalid kconfig option `{key}`"));
    Err(match name {
        None if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => d.with_help(format!(
            "kconfig options are full symbol names: write `CONFIG_{key}`"
        )),
        _ => d.with_help(
            "kconfig options look like `CONFIG_NAME`, using only letters, digits and `_`",
        ),
    })
}

/// `runtime:` — `name[:tag]`, `oci://image[:tag]`, `kernel://path`, or
/// `{source, version, kconfig}`.
pub(crate) fn runtime(cx: &Ctx<'_>, entry: &Entry<'_>) -> Result<Runtime, Diagnostic> {
    let node = entry.value;
    let reference = match &node.value {
        Value::Str(s) => runtime_ref(cx, node, s)?,
        Value::Map(_) => {
            let f = cx.fields(node, "`runtime`", COMPONENT_KEYS)?;
            let source = f
                .value("source")
                .map(|s| cx.string(s, "the source of `runtime`"))
                .transpose()?;
            let version = f
                .value("version")
                .map(|v| cx.scalar(v, "the version of `runtime`"))
                .transpose()?;
            let kconfig = f
                .value("kconfig")
                .map(|k| kconfig(cx, k, "`runtime`"))
                .transpose()?;
            return Ok(Runtime {
                reference: RuntimeRef::Source { source, version },
                kconfig: kconfig.unwrap_or_default(),
                pos: component_pos(entry),
            });
        }
        _ => return Err(cx.wrong_type(node, "a string or a map", "`runtime`")),
    };
    Ok(Runtime {
        reference,
        kconfig: Kconfig::default(),
        pos: node.mark.pos,
    })
}

fn runtime_ref(cx: &Ctx<'_>, node: &Node, s: &str) -> Result<RuntimeRef, Diagnostic> {
    let bad = |msg: String| {
        cx.error(node, msg).with_help(
            "write `name[:tag]` (e.g. `base:latest`), `oci://image[:tag]` or `kernel://path`",
        )
    };
    if let Some(path) = s.strip_prefix("kernel://") {
        if path.is_empty() {
            return Err(bad("`kernel://` needs a path".to_string()));
        }
        return Ok(RuntimeRef::Kernel {
            path: path.to_string(),
        });
    }
    if let Some(image) = s.strip_prefix("oci://") {
        let (image, tag) = split_tag(image);
        if image.is_empty() {
            return Err(bad("`oci://` needs an image name".to_string()));
        }
        return Ok(RuntimeRef::Oci { image, tag });
    }
    if let Some((scheme, _)) = s.split_once("://") {
        return Err(bad(format!("unknown runtime scheme `{scheme}://`")));
    }
    // `[registry/]name[:tag][@sha256:digest]`, checked as an image reference.
    if let Err(e) = kiln_oci::Reference::parse(s, kiln_oci::reference::DEFAULT_REGISTRY) {
        return Err(bad(format!("invalid runtime `{s}`: {}", e.problem)));
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d.to_string())),
        None => (s, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[slash..].rsplit_once(':') {
        Some((_, t)) => (
            rest[..rest.len() - t.len() - 1].to_string(),
            Some(t.to_string()),
        ),
        None => (rest.to_string(), None),
    };
    Ok(RuntimeRef::Package { name, tag, digest })
}

/// Splits `image[:tag]`, where the tag follows the last `:` after the last `/`
/// (so a registry port, `localhost:5000/x`, is not a tag).
fn split_tag(image: &str) -> (String, Option<String>) {
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) if slash + i + 1 < image.len() => (
            image[..slash + i].to_string(),
            Some(image[slash + i + 1..].to_string()),
        ),
        _ => (image.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_versus_versions() {
        for s in [
            "./unikraft",
            "../uk",
            "/abs/unikraft",
            "~/src/unikraft",
            "unikraft/unikraft",
            "https://github.com/unikraft/unikraft.git",
            "git@github.com:unikraft/unikraft.git",
            "unikraft.tar.gz",
        ] {
            assert!(is_source(s), "{s} should be a source");
        }
        for s in [
            "stable",
            "staging",
            "RELEASE-0.17.0",
            "v0.17.0",
            "0.17",
            "cloud",
            "a1b2c3d",
        ] {
            assert!(!is_source(s), "{s} should be a version");
        }
    }

    #[test]
    fn url_details() {
        assert_eq!(
            version_from_url("https://github.com/unikraft/unikraft.git?branch=staging"),
            Some("staging".into())
        );
        assert_eq!(version_from_url("https://x/y.git"), None);
        assert_eq!(
            name_from_source("https://github.com/unikraft/app-elfloader.git"),
            "elfloader"
        );
        assert_eq!(
            name_from_source("https://github.com/unikraft/lib-lwip.git?branch=x"),
            "lwip"
        );
        assert_eq!(name_from_source("./templates/mine/"), "mine");
        assert_eq!(name_from_source("git@github.com:u/app-x.git"), "x");
    }

    #[test]
    fn oci_tags() {
        assert_eq!(
            split_tag("unikraft.org/nginx:1.25"),
            ("unikraft.org/nginx".into(), Some("1.25".into()))
        );
        assert_eq!(
            split_tag("localhost:5000/nginx"),
            ("localhost:5000/nginx".into(), None)
        );
        assert_eq!(split_tag("nginx"), ("nginx".into(), None));
    }
}
