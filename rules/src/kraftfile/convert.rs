//! Converts a parsed YAML tree into a [`Kraftfile`]: interpolates `${VAR}`
//! in string values, checks the top-level keys and converts the simple
//! sections (`spec`, `name`, `outdir`, `cmd`, `env`, `labels`, `rootfs`,
//! `volumes`, `x-*`), handing components and targets to their modules.
//!
//! It does not read files (see `mod.rs`) and does not check the file system
//! (a `rootfs` or volume source need not exist yet).

use std::collections::BTreeMap;

use crate::diag::Diagnostic;

use super::component;
use super::ctx::{Ctx, Fields};
use super::interpolate::{EnvLookup, InterpolateError, interpolate};
use super::model::{EnvVar, Kraftfile, KraftfileVersion, Located, Pos, SpecVersion, Volume};
use super::node::{Node, Value};
use super::shell;
use super::target;

const TOP_KEYS: &[&[&str]] = &[
    &["spec", "specification"],
    &["name"],
    &["outdir"],
    &["cmd"],
    &["env"],
    &["labels"],
    &["rootfs"],
    &["volumes"],
    &["unikraft"],
    &["template"],
    &["runtime"],
    &["libraries"],
    &["targets"],
];
const VOLUME_KEYS: &[&[&str]] = &[
    &["driver"],
    &["source"],
    &["destination"],
    &["readonly"],
    &["mode"],
];

/// Converts the document `root`. `dir_name` is the name of the Kraftfile's
/// directory, used when there is no `name:`.
pub(crate) fn kraftfile(
    cx: &Ctx<'_>,
    root: &Node,
    dir_name: Option<&str>,
) -> Result<Kraftfile, Diagnostic> {
    if !matches!(root.value, Value::Map(_)) {
        return Err(cx
            .wrong_type(root, "a map", "the top level of a Kraftfile")
            .with_help(
                "a Kraftfile is a map of keys such as `spec:`, `unikraft:` and `targets:`",
            ));
    }
    let f = cx.fields(root, "the Kraftfile", TOP_KEYS)?;
    let Some(spec_node) = f.value("spec") else {
        return Err(cx
            .error(root, "the Kraftfile has no `spec`")
            .with_help("add `spec: v0.6` as the first line"));
    };
    let kf = Kraftfile {
        path: cx.file.to_path_buf(),
        spec: spec(cx, spec_node)?,
        name: name(cx, f.value("name"), dir_name)?,
        outdir: optional(&f, "outdir", |n| non_empty(cx, n, "`outdir`"))?,
        cmd: or_default(&f, "cmd", |n| cmd(cx, n))?,
        env: or_default(&f, "env", |n| env(cx, n))?,
        labels: or_default(&f, "labels", |n| labels(cx, n))?,
        rootfs: optional(&f, "rootfs", |n| {
            let value = non_empty(cx, n, "`rootfs`")?;
            Ok(Located {
                value,
                pos: n.mark.pos,
            })
        })?,
        volumes: or_default(&f, "volumes", |n| volumes(cx, n))?,
        unikraft: f
            .get("unikraft")
            .map(|e| component::unikraft(cx, e))
            .transpose()?,
        template: f
            .get("template")
            .map(|e| component::template(cx, e))
            .transpose()?,
        runtime: f
            .get("runtime")
            .map(|e| component::runtime(cx, e))
            .transpose()?,
        libraries: or_default(&f, "libraries", |n| component::libraries(cx, n))?,
        targets: or_default(&f, "targets", |n| target::targets(cx, n))?,
        extensions: extensions(cx, root)?,
        warnings: Vec::new(),
    };
    if kf.unikraft.is_none() && kf.template.is_none() && kf.runtime.is_none() {
        return Err(cx
            .error(root, "the Kraftfile has none of `unikraft`, `template` or `runtime`")
            .with_help("add `unikraft: stable` to build from source, or `runtime: base:latest` to run a prebuilt kernel"));
    }
    Ok(kf)
}

/// Converts the value of `key`, if present.
fn optional<T>(
    f: &Fields<'_>,
    key: &str,
    convert: impl FnOnce(&Node) -> Result<T, Diagnostic>,
) -> Result<Option<T>, Diagnostic> {
    f.value(key).map(convert).transpose()
}

/// Converts the value of `key`, or gives the empty default when absent.
fn or_default<T: Default>(
    f: &Fields<'_>,
    key: &str,
    convert: impl FnOnce(&Node) -> Result<T, Diagnostic>,
) -> Result<T, Diagnostic> {
    Ok(optional(f, key, convert)?.unwrap_or_default())
}

/// Replaces `${VAR}` references in every string value (never in keys).
pub(crate) fn interpolate_tree(
    cx: &Ctx<'_>,
    node: &mut Node,
    env: EnvLookup<'_>,
) -> Result<(), Diagnostic> {
    if let Value::Str(s) = &node.value {
        if s.contains('$') {
            let v = interpolate(s, env).map_err(|e| interpolation_error(cx, node, s, e))?;
            node.value = Value::Str(v);
        }
        return Ok(());
    }
    match &mut node.value {
        Value::Seq(items) => {
            for item in items {
                interpolate_tree(cx, item, env)?;
            }
        }
        Value::Map(entries) => {
            for (_, v) in entries {
                interpolate_tree(cx, v, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Points an interpolation error at the offending `$` when the string is
/// written verbatim in the source, else at the whole value.
fn interpolation_error(cx: &Ctx<'_>, node: &Node, s: &str, e: InterpolateError) -> Diagnostic {
    match e {
        InterpolateError::Invalid { text } => {
            let msg = format!(
                "invalid interpolation `{}`",
                text.chars().take(2).collect::<String>()
            );
            let at = cx.pos_in(node, s.len() - text.len());
            let d = if at == node.mark.pos {
                cx.error(node, msg)
            } else {
                cx.error_at(at, 2, msg)
            };
            d.with_help(
                "use `${NAME}`, `${NAME:-default}` or `$NAME`; write `$$` for a literal `$`",
            )
        }
        e @ InterpolateError::Required { .. } => cx
            .error(node, e.to_string())
            .with_help("set the variable in the environment"),
    }
}

fn non_empty(cx: &Ctx<'_>, node: &Node, what: &str) -> Result<String, Diagnostic> {
    let s = cx.string(node, what)?;
    if s.trim().is_empty() {
        return Err(cx
            .error(node, format!("{what} is empty"))
            .with_help("give a value or remove the key"));
    }
    Ok(s)
}

/// `spec:` — `v0.5`, `0.5`, `v0.6`, `0.6` (also `v0.6.0`; a number is accepted too).
fn spec(cx: &Ctx<'_>, node: &Node) -> Result<SpecVersion, Diagnostic> {
    let raw = match &node.value {
        Value::Str(_) | Value::Num { .. } => cx.scalar(node, "`spec`")?,
        _ => {
            return Err(cx
                .wrong_type(node, "a version string", "`spec`")
                .with_help("write `spec: v0.6`"));
        }
    };
    let bare = raw.strip_prefix('v').unwrap_or(&raw);
    let version = match bare {
        "0.5" | "0.5.0" => KraftfileVersion::V0_5,
        "0.6" | "0.6.0" => KraftfileVersion::V0_6,
        _ => {
            return Err(cx
                .error(node, format!("unsupported Kraftfile spec `{raw}`"))
                .with_help("kiln reads spec v0.5 and v0.6; write `spec: v0.6`"));
        }
    };
    Ok(SpecVersion { version, raw })
}

/// `name:` as written, or the directory's name normalised like kraft.
fn name(cx: &Ctx<'_>, node: Option<&Node>, dir_name: Option<&str>) -> Result<String, Diagnostic> {
    if let Some(node) = node {
        let n = non_empty(cx, node, "`name`")?;
        if let Some(problem) = super::names::path_component_problem(&n) {
            let example = match normalize_name(&n) {
                s if s.is_empty() => "myapp".to_string(),
                s => s,
            };
            let shown: String = n.chars().take(64).collect();
            return Err(cx
                .error(node, format!("invalid project name `{shown}`: {problem}"))
                .with_help(format!("a name is used in file names; use letters, digits, `.`, `_` and `-`, e.g. `{example}`")));
        }
        return Ok(n);
    }
    match dir_name.map(normalize_name).filter(|n| !n.is_empty()) {
        Some(n) => Ok(n),
        None => Err(Diagnostic::new(
            cx.file,
            "cannot name the project: no `name:` and no usable directory name",
        )
        .at(Pos { line: 1, column: 1 }, 1, cx.src)
        .with_help("add `name: <project>` to the Kraftfile")),
    }
}

/// kraft's normalisation: lower case, keep only `[a-z0-9_-]`, then strip
/// leading `_` and `-`.
pub(crate) fn normalize_name(s: &str) -> String {
    let kept: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

/// `cmd:` — a list of strings, or one string split like a shell would.
fn cmd(cx: &Ctx<'_>, node: &Node) -> Result<Vec<String>, Diagnostic> {
    match &node.value {
        Value::Str(s) => shell::split(s).map_err(|e| {
            cx.error(node, format!("cannot split `cmd` into arguments: {e}"))
                .with_help("close the quote, or write `cmd` as a list: [\"/bin/app\", \"arg\"]")
        }),
        Value::Seq(items) => items
            .iter()
            .map(|i| cx.string(i, "an argument of `cmd`"))
            .collect(),
        _ => Err(cx.wrong_type(node, "a string or a list of strings", "`cmd`")),
    }
}

/// `env:` — a list of `NAME=value`/`NAME`, or a map.
fn env(cx: &Ctx<'_>, node: &Node) -> Result<Vec<EnvVar>, Diagnostic> {
    let mut out: Vec<(EnvVar, u32)> = Vec::new();
    match &node.value {
        Value::Seq(items) => {
            for item in items {
                let Value::Str(s) = &item.value else {
                    return Err(cx.wrong_type(item, "a string `NAME=value`", "an `env` entry"));
                };
                let (name, value) = match s.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (s.as_str(), None),
                };
                check_env_name(cx, item, name)?;
                let var = EnvVar {
                    name: name.to_string(),
                    value: value.filter(|v| !v.is_empty()),
                };
                if let Some(slot) = out.iter_mut().find(|(e, _)| e.name == name) {
                    cx.warn_twice(item, &format!("`{name}` is set twice in `env`"), slot.1);
                    *slot = (var, item.mark.pos.line);
                    continue;
                }
                out.push((var, item.mark.pos.line));
            }
        }
        Value::Map(_) => {
            for e in cx.entries(node, "`env`")? {
                check_env_name(cx, e.key_node, &e.key)?;
                let value = match &e.value.value {
                    Value::Null => None,
                    _ => Some(cx.scalar(e.value, &format!("`{}` in `env`", e.key))?)
                        .filter(|v| !v.is_empty()),
                };
                out.push((EnvVar { name: e.key, value }, e.key_node.mark.pos.line));
            }
        }
        _ => return Err(cx.wrong_type(node, "a list or a map", "`env`")),
    }
    Ok(out.into_iter().map(|(v, _)| v).collect())
}

fn check_env_name(cx: &Ctx<'_>, node: &Node, name: &str) -> Result<(), Diagnostic> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
    if valid {
        return Ok(());
    }
    let shown = if name.is_empty() { "(empty)" } else { name };
    Err(cx
        .error(node, format!("invalid environment variable name `{shown}`"))
        .with_help("write `NAME=value` or `NAME` (taken from the host); names use letters, digits and `_`, and do not start with a digit"))
}

/// `labels:` — a map of names to values (numbers and booleans as written).
fn labels(cx: &Ctx<'_>, node: &Node) -> Result<BTreeMap<String, String>, Diagnostic> {
    let mut out = BTreeMap::new();
    for e in cx.entries(node, "`labels`")? {
        let value = match &e.value.value {
            Value::Null => String::new(),
            _ => cx.scalar(e.value, &format!("label `{}`", e.key))?,
        };
        out.insert(e.key, value);
    }
    Ok(out)
}

/// `volumes:` — a list (or a single string) of `src:dst[:ro|rw]` strings
/// (`src` alone means `src:/`) or `{driver, source, destination, readonly, mode}` maps.
fn volumes(cx: &Ctx<'_>, node: &Node) -> Result<Vec<Volume>, Diagnostic> {
    match &node.value {
        Value::Str(_) => Ok(vec![volume(cx, node)?]),
        Value::Seq(items) => items.iter().map(|i| volume(cx, i)).collect(),
        _ => Err(cx.wrong_type(node, "a list", "`volumes`")),
    }
}

fn volume(cx: &Ctx<'_>, node: &Node) -> Result<Volume, Diagnostic> {
    let v = match &node.value {
        Value::Str(s) => short_volume(cx, node, s)?,
        Value::Map(_) => long_volume(cx, node)?,
        _ => return Err(cx.wrong_type(node, "a string `src:dst` or a map", "a volume")),
    };
    if v.source.is_empty() {
        return Err(cx
            .error(node, "the volume has no source")
            .with_help("write `./host/dir:/guest/dir`"));
    }
    if !v.destination.starts_with('/') {
        return Err(cx
            .error(
                node,
                format!(
                    "the volume destination `{}` is not an absolute path",
                    v.destination
                ),
            )
            .with_help(
                "volumes are mounted at absolute paths in the unikernel, e.g. `./data:/data`",
            ));
    }
    Ok(v)
}

fn short_volume(cx: &Ctx<'_>, node: &Node, s: &str) -> Result<Volume, Diagnostic> {
    let parts: Vec<&str> = s.split(':').collect();
    let readonly = match parts.get(2) {
        None | Some(&"rw") => false,
        Some(&"ro") => true,
        Some(other) => {
            return Err(cx
                .error(
                    node,
                    format!("invalid volume `{s}`: unknown mode `{other}`"),
                )
                .with_help("write `src:dst`, `src:dst:ro` or `src:dst:rw`"));
        }
    };
    if parts.len() > 3 {
        return Err(cx
            .error(node, format!("invalid volume `{s}`: too many `:`"))
            .with_help("write `src:dst`, `src:dst:ro` or `src:dst:rw`"));
    }
    Ok(Volume {
        driver: None,
        source: parts[0].to_string(),
        destination: parts.get(1).map_or("/", |d| d).to_string(),
        readonly,
    })
}

fn long_volume(cx: &Ctx<'_>, node: &Node) -> Result<Volume, Diagnostic> {
    let f = cx.fields(node, "a volume", VOLUME_KEYS)?;
    let text = |k: &str| {
        f.value(k)
            .map(|n| cx.string(n, &format!("`{k}` of a volume")))
            .transpose()
    };
    let mut readonly = match f.value("readonly") {
        Some(n) => match n.value {
            Value::Bool { value, .. } => value,
            _ => return Err(cx.wrong_type(n, "`true` or `false`", "`readonly`")),
        },
        None => false,
    };
    if let Some(n) = f.value("mode") {
        let ro = match cx.string(n, "`mode` of a volume")?.as_str() {
            "ro" => true,
            "rw" => false,
            other => {
                return Err(cx
                    .error(n, format!("unknown volume mode `{other}`"))
                    .with_help("write `ro` or `rw`"));
            }
        };
        if f.value("readonly").is_some() && ro != readonly {
            return Err(cx
                .error(n, "`mode` contradicts `readonly`")
                .with_help("keep only one of them"));
        }
        readonly = ro;
    }
    Ok(Volume {
        driver: text("driver")?,
        source: text("source")?.unwrap_or_default(),
        destination: text("destination")?.unwrap_or_default(),
        readonly,
    })
}

/// Top-level `x-*` keys, converted to JSON.
fn extensions(
    cx: &Ctx<'_>,
    root: &Node,
) -> Result<BTreeMap<String, serde_json::Value>, Diagnostic> {
    let mut out = BTreeMap::new();
    if let Value::Map(pairs) = &root.value {
        for (k, v) in pairs {
            let key = cx.key_text(k, "the Kraftfile")?;
            if key.starts_with("x-") {
                out.insert(key, to_json(cx, v)?);
            }
        }
    }
    Ok(out)
}

fn to_json(cx: &Ctx<'_>, node: &Node) -> Result<serde_json::Value, Diagnostic> {
    use serde_json::Value as J;
    Ok(match &node.value {
        Value::Null => J::Null,
        Value::Bool { value, .. } => J::Bool(*value),
        Value::Num { raw } => serde_json::from_str::<serde_json::Number>(raw)
            .map_or_else(|_| J::String(raw.clone()), J::Number),
        Value::Str(s) => J::String(s.clone()),
        Value::Seq(items) => J::Array(
            items
                .iter()
                .map(|i| to_json(cx, i))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(pairs) => {
            let mut map = serde_json::Map::new();
            for (k, v) in pairs {
                map.insert(cx.key_text(k, "an extension")?, to_json(cx, v)?);
            }
            J::Object(map)
        }
    })
}
