//! Converts `targets:` from YAML nodes to [`Target`]s: the `plat/arch`
//! string form and the map form with `name`, `plat`|`platform` (which may
//! itself be `plat/arch`), `arch`|`architecture` and `kconfig`; refuses
//! unknown platforms and architectures and two targets with one name.
//!
//! It does not pick a target to build (that is the CLI's `--target`), and
//! does not check that an architecture is supported by a platform.

use crate::diag::{Diagnostic, Pos};

use super::component::kconfig;
use super::ctx::{Ctx, suggest};
use super::model::{Arch, Kconfig, Platform, Target};
use super::node::{Node, Value};

const TARGET_KEYS: &[&[&str]] = &[
    &["name"],
    &["plat", "platform"],
    &["arch", "architecture"],
    &["kconfig"],
];

/// `targets:` — a list of targets, with unique canonical names.
pub(crate) fn targets(cx: &Ctx<'_>, node: &Node) -> Result<Vec<Target>, Diagnostic> {
    let mut out: Vec<Target> = Vec::new();
    let items = match &node.value {
        Value::Str(s) => {
            return Err(cx
                .wrong_type(node, "a list", "`targets`")
                .with_help(format!(
                    "write it as a list: `targets: [{s}]`, or one `- {s}` per line"
                )));
        }
        _ => cx.seq(node, "`targets`")?,
    };
    for item in items {
        let t = target(cx, item)?;
        let name = t.canonical_name();
        if let Some(first) = out.iter().find(|o| o.canonical_name() == name) {
            return Err(cx
                .error(item, format!("duplicate target `{name}`"))
                .with_note(format!("the first `{name}` is on line {}", first.pos.line))
                .with_help("remove one, or give them different `name:`s"));
        }
        out.push(t);
    }
    Ok(out)
}

fn target(cx: &Ctx<'_>, node: &Node) -> Result<Target, Diagnostic> {
    match &node.value {
        Value::Str(s) => {
            let Some((plat, arch)) = s.split_once('/') else {
                return Err(cx
                    .error(node, format!("invalid target `{s}`"))
                    .with_help("write `<plat>/<arch>`, e.g. `qemu/x86_64`"));
            };
            Ok(Target {
                name: None,
                plat: platform(cx, node, plat, 0)?,
                arch: arch_at(cx, node, arch, plat.len() + 1)?,
                kconfig: Kconfig::default(),
                pos: node.mark.pos,
            })
        }
        Value::Map(_) => target_map(cx, node),
        _ => Err(cx
            .wrong_type(node, "a string `<plat>/<arch>` or a map", "a target")
            .with_help("write `- qemu/x86_64`, or `- plat: qemu` with `arch: x86_64`")),
    }
}

fn target_map(cx: &Ctx<'_>, node: &Node) -> Result<Target, Diagnostic> {
    let f = cx.fields(node, "target", TARGET_KEYS)?;
    let name = f
        .value("name")
        .map(|n| cx.string(n, "the target name"))
        .transpose()?;
    if let (Some(n), Some(e)) = (&name, f.get("name")) {
        if n.trim().is_empty() {
            return Err(cx.error(e.value, "the target name is empty"));
        }
        if let Some(problem) = super::names::path_component_problem(n) {
            let shown: String = n.chars().take(64).collect();
            return Err(cx
                .error(e.value, format!("invalid target name `{shown}`: {problem}"))
                .with_help(
                    "a target's name names its build directory; use letters, digits, `.`, `_` \
                     and `-`, not starting with `.` or `-`",
                ));
        }
    }
    let Some(plat_entry) = f.get("plat") else {
        return Err(missing(cx, node, "platform", "plat: qemu"));
    };
    let plat_text = cx.string(plat_entry.value, &format!("`{}`", plat_entry.key))?;
    let (plat, arch_in_plat) = match plat_text.split_once('/') {
        Some((p, a)) => (
            platform(cx, plat_entry.value, p, 0)?,
            Some(arch_at(cx, plat_entry.value, a, p.len() + 1)?),
        ),
        None => (platform(cx, plat_entry.value, &plat_text, 0)?, None),
    };
    let arch = match (f.get("arch"), arch_in_plat) {
        (Some(e), from_plat) => {
            let text = cx.string(e.value, &format!("`{}`", e.key))?;
            let a = arch_at(cx, e.value, &text, 0)?;
            if from_plat.is_some_and(|p| p != a) {
                return Err(cx
                    .error(
                        e.value,
                        format!(
                            "`{}` says {a}, but `{}` says {}",
                            e.key, plat_entry.key, plat_text
                        ),
                    )
                    .with_help("give the architecture once"));
            }
            a
        }
        (None, Some(a)) => a,
        (None, None) => return Err(missing(cx, node, "architecture", "arch: x86_64")),
    };
    let kconfig = match f.value("kconfig") {
        Some(k) => kconfig(cx, k, "the target")?,
        None => Kconfig::default(),
    };
    Ok(Target {
        name,
        plat,
        arch,
        kconfig,
        pos: node.mark.pos,
    })
}

fn missing(cx: &Ctx<'_>, node: &Node, what: &str, example: &str) -> Diagnostic {
    cx.error(node, format!("this target has no {what}"))
        .with_help(format!("add `{example}`"))
}

/// Parses a platform name found at byte `offset` of `node`'s string.
fn platform(cx: &Ctx<'_>, node: &Node, text: &str, offset: usize) -> Result<Platform, Diagnostic> {
    if let Some(p) = Platform::from_name(text) {
        return Ok(p);
    }
    let names = ["qemu", "fc", "xen", "firecracker", "kvm"];
    let help = match suggest(text, &names) {
        Some(s) => format!(
            "did you mean `{s}`? valid platforms are qemu, fc (alias firecracker) and xen (kvm means qemu)"
        ),
        None => {
            "valid platforms are qemu, fc (alias firecracker) and xen (kvm means qemu)".to_string()
        }
    };
    Err(part_error(cx, node, offset, text, format!("unknown platform `{text}`")).with_help(help))
}

/// Parses an architecture name found at byte `offset` of `node`'s string.
fn arch_at(cx: &Ctx<'_>, node: &Node, text: &str, offset: usize) -> Result<Arch, Diagnostic> {
    if let Some(a) = Arch::from_name(text) {
        return Ok(a);
    }
    let hint = match text {
        "amd64" | "x86-64" | "x64" => Some("x86_64"),
        "aarch64" | "armv8" => Some("arm64"),
        "arm32" | "armv7" => Some("arm"),
        _ => suggest(text, &["x86_64", "arm64", "arm"]),
    };
    let help = match hint {
        Some(s) => format!("did you mean `{s}`? valid architectures are x86_64, arm64 and arm"),
        None => "valid architectures are x86_64, arm64 and arm".to_string(),
    };
    Err(part_error(
        cx,
        node,
        offset,
        text,
        format!("unknown architecture `{text}`"),
    )
    .with_help(help))
}

/// An error marking `text`, the part of `node`'s string at byte `offset`.
fn part_error(cx: &Ctx<'_>, node: &Node, offset: usize, text: &str, msg: String) -> Diagnostic {
    let pos: Pos = cx.pos_in(node, offset);
    let width = u32::try_from(text.chars().count()).unwrap_or(1);
    if pos == node.mark.pos && offset > 0 {
        return cx.error(node, msg);
    }
    cx.error_at(pos, width, msg)
}
