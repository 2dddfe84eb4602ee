//! The Kraftfile: finding it in a directory, reading it, and turning it
//! into the typed [`Kraftfile`] model — or into a [`Diagnostic`] that points
//! at the exact line and column of the problem and says what to do.
//!
//! Pipeline: text -> YAML node tree with positions (`node`, serde-saphyr)
//! -> `${VAR}` interpolation of string values (`interpolate`) -> typed model
//! by hand (`convert`, `component`, `target`), so that every error keeps its
//! position. Unknown keys are refused (with a suggestion) except `x-*`
//! extension keys, which are allowed in every map; top-level ones are kept
//! in [`Kraftfile::extensions`], nested ones are dropped, as kraft does.
//!
//! This module does not resolve versions, fetch sources, read `.config`
//! files or check that paths exist; that is the plan's job.

mod component;
mod convert;
mod ctx;
mod interpolate;
mod model;
mod names;
mod node;
mod shell;
mod target;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::diag::Diagnostic;

pub use interpolate::{EnvLookup, InterpolateError, interpolate};
pub use model::{
    Arch, Component, EnvVar, Kconfig, Kraftfile, KraftfileVersion, Located, Platform, Pos, Runtime,
    RuntimeRef, SpecVersion, Target, Volume,
};
pub use names::{MAX_NAME_LEN, path_component_problem};
pub use shell::{SplitError, split as split_command};

/// The file names kraft looks for, in its order of preference.
pub const KRAFTFILE_NAMES: [&str; 5] = [
    "kraft.yaml",
    "kraft.yml",
    "Kraftfile.yml",
    "Kraftfile.yaml",
    "Kraftfile",
];

/// Looks up a variable in this process's environment; pass it to [`load`]
/// or [`parse_str`] to interpolate from the real environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Finds the Kraftfile in `dir` (only there, not in parent directories).
/// It is an error if none of [`KRAFTFILE_NAMES`] exists, or if more than one does.
pub fn find_kraftfile(dir: &Path) -> Result<PathBuf, Diagnostic> {
    let found: Vec<PathBuf> = KRAFTFILE_NAMES
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.is_file())
        .collect();
    let listed = |names: Vec<String>| names.join(", ");
    match found.len() {
        1 => Ok(found.into_iter().next().unwrap_or_default()),
        0 => Err(
            Diagnostic::new(dir, "no Kraftfile found in this directory").with_help(format!(
                "looked for {}; create one, or name one with `-K FILE`",
                listed(KRAFTFILE_NAMES.iter().map(|n| format!("`{n}`")).collect())
            )),
        ),
        _ => {
            let names = found
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| format!("`{}`", n.to_string_lossy()))
                .collect();
            Err(Diagnostic::new(
                dir,
                format!(
                    "more than one Kraftfile in this directory: {}",
                    listed(names)
                ),
            )
            .with_help("keep one of them, or choose one with `-K FILE`"))
        }
    }
}

/// Reads and parses the Kraftfile at `path`. The project name defaults to
/// the name of the directory holding `path` (made absolute if needed).
pub fn load(path: &Path, env: EnvLookup<'_>) -> Result<Kraftfile, Diagnostic> {
    let text = crate::diag::read_utf8(path, "the Kraftfile")?;
    load_text(&text, path, env)
}

/// Reads and parses the Kraftfile at `path` for a project whose directory is named
/// `project_dir` (the default project name, as kraft takes it from its working directory,
/// also when `-K` names a Kraftfile elsewhere).
pub fn load_named(
    path: &Path,
    project_dir: Option<&str>,
    env: EnvLookup<'_>,
) -> Result<Kraftfile, Diagnostic> {
    let text = crate::diag::read_utf8(path, "the Kraftfile")?;
    match project_dir.filter(|n| *n != "." && *n != "..") {
        Some(name) => parse(&text, path, Some(name), env),
        None => load_text(&text, path, env),
    }
}

fn load_text(text: &str, path: &Path, env: EnvLookup<'_>) -> Result<Kraftfile, Diagnostic> {
    let dir_name = dir_name(path).or_else(|| {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let abs = std::fs::canonicalize(parent).ok()?;
        abs.file_name().map(|n| n.to_string_lossy().into_owned())
    });
    parse(text, path, dir_name.as_deref(), env)
}

/// Parses Kraftfile `text` as if read from `path` (used for messages, and
/// for the default project name: the name of `path`'s directory).
pub fn parse_str(text: &str, path: &Path, env: EnvLookup<'_>) -> Result<Kraftfile, Diagnostic> {
    parse(text, path, dir_name(path).as_deref(), env)
}

fn dir_name(path: &Path) -> Option<String> {
    let parent = path.parent()?;
    let name = parent.file_name()?.to_string_lossy().into_owned();
    (name != "." && name != "..").then_some(name)
}

fn parse(
    text: &str,
    path: &Path,
    dir_name: Option<&str>,
    env: EnvLookup<'_>,
) -> Result<Kraftfile, Diagnostic> {
    let cx = ctx::Ctx {
        file: path,
        src: text,
        warnings: Default::default(),
    };
    let root = node::parse(text).map_err(|e| {
        let d = Diagnostic::new(path, format!("invalid YAML: {}", e.message)).with_help(
            "check the indentation, quotes and brackets at this spot and on the line before",
        );
        d.at(e.pos.unwrap_or(Pos { line: 1, column: 1 }), 1, text)
    })?;
    let Some(mut root) = root else {
        return Err(Diagnostic::new(path, "the Kraftfile is empty")
            .at(Pos { line: 1, column: 1 }, 1, text)
            .with_help("a minimal Kraftfile is `spec: v0.6`, `unikraft: stable` and `targets: [qemu/x86_64]`, one per line"));
    };
    convert::interpolate_tree(&cx, &mut root, env)?;
    let mut kf = convert::kraftfile(&cx, &root, dir_name)?;
    kf.warnings = cx.warnings.into_inner();
    Ok(kf)
}
