//! Choosing the targets to work on: the Kraftfile's targets (or the default target of a
//! runtime project) filtered by `--plat`, `--arch` and `-t`.
//!
//! Several matches mean all of them; there is never a prompt. No match is an error that
//! lists what there is (kraft silently does nothing). This module does not plan steps.

use crate::diag::Diagnostic;
use crate::kraftfile::{Arch, Kconfig, Platform, Target};
use crate::project::Project;

/// The user's target filters, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct TargetFilter {
    /// `--plat` (aliases allowed).
    pub plat: Option<String>,
    /// `--arch`.
    pub arch: Option<String>,
    /// `-t NAME` (a target's name, or `plat/arch`).
    pub target: Option<String>,
}

/// The architecture kiln runs on, as Unikraft names it.
pub fn host_arch() -> Arch {
    match std::env::consts::ARCH {
        "aarch64" => Arch::Arm64,
        "arm" => Arch::Arm,
        _ => Arch::X86_64,
    }
}

/// The targets of `project` that match `filter`.
pub fn select_targets(project: &Project, filter: &TargetFilter) -> Result<Vec<Target>, Diagnostic> {
    let kf = &project.kraftfile;
    let file = &kf.path;
    let plat = match &filter.plat {
        Some(p) => Some(Platform::from_name(p).ok_or_else(|| {
            Diagnostic::new(file, format!("unknown platform `{p}` given with --plat"))
                .with_help("use one of: qemu, fc, xen (aliases: kvm, firecracker)")
        })?),
        None => None,
    };
    let arch = match &filter.arch {
        Some(a) => Some(Arch::from_name(a).ok_or_else(|| {
            Diagnostic::new(
                file,
                format!("unknown architecture `{a}` given with --arch"),
            )
            .with_help("use one of: x86_64, arm64, arm")
        })?),
        None => None,
    };
    let all = candidates(project)?;
    let chosen: Vec<Target> = all
        .iter()
        .filter(|t| plat.is_none_or(|p| t.plat == p))
        .filter(|t| arch.is_none_or(|a| t.arch == a))
        .filter(|t| filter.target.as_deref().is_none_or(|n| names_match(t, n)))
        .cloned()
        .collect();
    if chosen.is_empty() {
        let names: Vec<String> = all.iter().map(describe).collect();
        return Err(Diagnostic::new(file, "no target matches the given filters")
            .with_note(format!("filters: {}", describe_filter(filter)))
            .with_note(format!("the Kraftfile's targets: {}", names.join(", ")))
            .with_help("drop or change --plat, --arch or -t"));
    }
    Ok(chosen)
}

/// For `kiln run`, which boots one target: with no `--plat`, `--arch` or `-t` and several
/// targets, pick as kraft does, the platform of the host's monitor (`host_plat`) and the
/// host's architecture. Returns the filter to use and, when it chose, the `using arch=…
/// plat=…` line to print. An error when the defaults leave no target, or more than one.
pub fn run_filter(
    project: &Project,
    filter: &TargetFilter,
    host_plat: Platform,
) -> Result<(TargetFilter, Option<String>), Diagnostic> {
    let given = filter.plat.is_some() || filter.arch.is_some() || filter.target.is_some();
    let all = candidates(project)?;
    if given || all.len() <= 1 {
        return Ok((filter.clone(), None));
    }
    let arch = host_arch();
    let chosen: Vec<&Target> = all
        .iter()
        .filter(|t| t.plat == host_plat && t.arch == arch)
        .collect();
    let names = || all.iter().map(describe).collect::<Vec<_>>().join(", ");
    match chosen.as_slice() {
        [one] => Ok((
            TargetFilter {
                target: Some(one.canonical_name()),
                ..TargetFilter::default()
            },
            Some(format!("using arch={arch} plat={host_plat}")),
        )),
        [] => Err(Diagnostic::new(
            &project.kraftfile.path,
            format!("no target runs on this host (plat={host_plat}, arch={arch})"),
        )
        .with_note(format!("the Kraftfile's targets: {}", names()))
        .with_help("choose one with --plat and --arch, or -t NAME")),
        many => Err(Diagnostic::new(
            &project.kraftfile.path,
            format!(
                "{} targets run on this host (plat={host_plat}, arch={arch}): {}",
                many.len(),
                many.iter()
                    .map(|t| describe(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .with_help("choose one with -t NAME")),
    }
}

fn candidates(project: &Project) -> Result<Vec<Target>, Diagnostic> {
    let kf = &project.kraftfile;
    if !kf.targets.is_empty() {
        return Ok(kf.targets.clone());
    }
    if kf.runtime.is_some() && !project.builds_kernel() {
        // As `kraft run` does: a runtime project without targets runs on qemu/<host arch>.
        return Ok(vec![Target {
            name: None,
            plat: Platform::Qemu,
            arch: host_arch(),
            kconfig: Kconfig::default(),
            pos: crate::diag::Pos { line: 1, column: 1 },
        }]);
    }
    // Point at what makes this a kernel project (the place to add targets next to).
    let pos = kf
        .unikraft
        .iter()
        .chain(kf.template.iter())
        .chain(kf.libraries.values())
        .map(|c| c.pos)
        .min()
        .unwrap_or(crate::diag::Pos { line: 1, column: 1 });
    let text = std::fs::read_to_string(&kf.path).unwrap_or_default();
    Err(Diagnostic::new(&kf.path, "the Kraftfile has no `targets:`")
        .at(pos, 1, &text)
        .with_help("add for example `targets:\n  - qemu/x86_64`"))
}

fn names_match(t: &Target, wanted: &str) -> bool {
    t.canonical_name() == wanted || format!("{}/{}", t.plat, t.arch) == wanted
}

fn describe(t: &Target) -> String {
    let pair = format!("{}/{}", t.plat, t.arch);
    match &t.name {
        Some(n) => format!("{n} ({pair})"),
        None => pair,
    }
}

fn describe_filter(f: &TargetFilter) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &f.plat {
        parts.push(format!("--plat {p}"));
    }
    if let Some(a) = &f.arch {
        parts.push(format!("--arch {a}"));
    }
    if let Some(t) = &f.target {
        parts.push(format!("-t {t}"));
    }
    parts.join(" ")
}
