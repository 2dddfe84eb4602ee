//! `kiln build --check`: is the build reproducible? After the normal build, every project
//! is planned again with its state, work directories and outputs in a scratch directory
//! (`.unikraft/kiln/check/rebuild`), every action step runs again into an empty scratch
//! store (no local or remote cache; sources are read afresh, not vouched for by the
//! watcher), and each output is compared bit for bit with the one the cache holds.
//!
//! A step whose rebuild had the same key (the same inputs) but other bytes is not
//! reproducible: both versions are written to `.unikraft/kiln/check/diff/<step>/` and the
//! first differing byte is named, with a diffoscope line to run. Steps after it were
//! rebuilt from other inputs and are listed as consequences. Exit 1 on any difference.
//! The machine-wide download and git caches are sources, not results: they are reused.

use std::io::Read;
use std::path::{Path, PathBuf};

use kiln_cache::LocalStore;
use kiln_engine::report::{RunReport, StepReport};
use kiln_engine::{OutputFile, Store};

use crate::build::{Part, RunOpts, build_parts, split_report};
use crate::cli::BuildArgs;
use crate::error::CliError;
use crate::session;
use crate::workspace::Workspace;

/// One output that differs.
struct Difference {
    step: String,
    output: String,
    offset: Option<u64>,
    cached: PathBuf,
    rebuilt: PathBuf,
}

/// Rebuilds and compares every action step of `ws` (whose build gave `reference`).
pub fn check(
    ws: &Workspace,
    args: &BuildArgs,
    jobs: usize,
    reference: &RunReport,
) -> Result<(), CliError> {
    let mut ctx = session::context(&args.project, Some(jobs))?;
    ctx.no_watcher = true;
    let mut rebuilt = Vec::new();
    for m in &ws.members {
        let scratch = check_dir(&m.session.project.state_dir());
        let _ = std::fs::remove_dir_all(&scratch);
        let project = m.session.project.relocated_to(&scratch.join("rebuild"));
        let s = session::open_in(&ctx, &args.project, project, Default::default(), false)?;
        rebuilt.push(s);
    }
    let store_dir = std::env::temp_dir().join(format!("kiln-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store_dir);
    let scratch_store = LocalStore::open(&store_dir)?;
    crate::console::line("kiln: check: rebuilding every step in a scratch directory");
    let parts: Vec<Part<'_>> = ws
        .members
        .iter()
        .zip(&rebuilt)
        .map(|(m, s)| Part {
            prefix: &m.prefix,
            session: s,
            steps: s.plan.steps.clone(),
        })
        .collect();
    let opts = RunOpts {
        explain: false,
        locked: false,
        keep_going: true,
        tool_output: args.verbose,
        scratch: Some(&scratch_store),
    };
    let result = build_parts(&parts, jobs, &opts).and_then(|again| {
        let cache = session::open_store()?;
        compare_all(ws, reference, &again, &cache, &scratch_store)
    });
    drop(scratch_store);
    let _ = std::fs::remove_dir_all(&store_dir);
    result
}

/// `<state>/check`: where a project's rebuild and its differences go.
fn check_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("check")
}

/// What the comparison found.
#[derive(Default)]
struct Findings {
    /// Action steps compared.
    checked: usize,
    /// Outputs of steps rebuilt from the same inputs that differ.
    differences: Vec<Difference>,
    /// Steps rebuilt from other inputs (after a difference) whose outputs differ too.
    consequences: Vec<String>,
    /// Steps whose rebuild failed.
    failed: Vec<String>,
}

fn compare_all(
    ws: &Workspace,
    reference: &RunReport,
    again: &RunReport,
    cache: &LocalStore,
    scratch: &LocalStore,
) -> Result<(), CliError> {
    let mut found = Findings::default();
    let prefixes: Vec<&str> = ws.members.iter().map(|m| m.prefix.as_str()).collect();
    let before = split_report(reference, &prefixes);
    let after = split_report(again, &prefixes);
    for ((m, before), after) in ws.members.iter().zip(&before).zip(&after) {
        let diff_dir = check_dir(&m.session.project.state_dir()).join("diff");
        let actions = before
            .steps
            .iter()
            .filter(|r| r.key.is_some() && r.result.is_some());
        for r in actions {
            let shown = format!("{}{}", m.prefix, r.id);
            let rebuilt = after
                .steps
                .iter()
                .find(|a| a.id == r.id && a.result.is_some());
            let Some(a) = rebuilt else {
                found.failed.push(shown);
                continue;
            };
            found.checked += 1;
            if a.key != r.key {
                if outputs_differ(r, a) {
                    found.consequences.push(shown);
                }
                continue;
            }
            let dir = diff_dir.join(shown.replace(['/', ':'], "_"));
            found
                .differences
                .extend(compare_step(&shown, r, a, cache, scratch, &dir)?);
        }
    }
    say(ws, &found)
}

/// The verdict: `reproducible: N steps checked`, or each difference and exit 1.
fn say(ws: &Workspace, found: &Findings) -> Result<(), CliError> {
    let checked = found.checked;
    if found.differences.is_empty() && found.failed.is_empty() && found.consequences.is_empty() {
        let steps = if checked == 1 { "step" } else { "steps" };
        crate::console::line(&format!(
            "kiln: reproducible: {checked} {steps} checked (each rebuilt in a scratch \
             directory and compared bit for bit with the cache)"
        ));
        for m in &ws.members {
            let _ = std::fs::remove_dir_all(check_dir(&m.session.project.state_dir()));
        }
        return Ok(());
    }
    for d in &found.differences {
        let at = match d.offset {
            Some(o) => format!("first differs at byte {o}"),
            None => "is missing from one of them".to_string(),
        };
        crate::console::line(&format!(
            "kiln: not reproducible: {}: output `{}` {at}\n  cached:  {}\n  rebuilt: {}\n  \
             hint: diffoscope {} {}",
            d.step,
            d.output,
            d.cached.display(),
            d.rebuilt.display(),
            d.cached.display(),
            d.rebuilt.display()
        ));
    }
    if !found.consequences.is_empty() {
        crate::console::line(&format!(
            "kiln: also different, rebuilt from the different outputs above: {}",
            found.consequences.join(", ")
        ));
    }
    if !found.failed.is_empty() {
        crate::console::line(&format!(
            "kiln: the rebuild of these steps failed: {}",
            found.failed.join(", ")
        ));
    }
    let differing: std::collections::BTreeSet<&str> =
        found.differences.iter().map(|d| d.step.as_str()).collect();
    let bad = differing.len() + found.consequences.len() + found.failed.len();
    crate::console::line(&format!(
        "error: the build is not reproducible: {bad} of {checked} steps differ"
    ));
    Err(CliError::Reported)
}

fn outputs_differ(a: &StepReport, b: &StepReport) -> bool {
    let outputs = |r: &StepReport| r.result.as_ref().map(|r| r.outputs.clone());
    outputs(a).map(|o| {
        o.into_iter()
            .map(|(k, v)| (k, v.digest))
            .collect::<Vec<_>>()
    }) != outputs(b).map(|o| {
        o.into_iter()
            .map(|(k, v)| (k, v.digest))
            .collect::<Vec<_>>()
    })
}

/// The outputs of one step that differ, each written out beside the other version.
fn compare_step(
    shown: &str,
    cached: &StepReport,
    rebuilt: &StepReport,
    cache: &LocalStore,
    scratch: &LocalStore,
    dir: &Path,
) -> Result<Vec<Difference>, CliError> {
    let empty = Default::default();
    let before = cached.result.as_ref().map_or(&empty, |r| &r.outputs);
    let after = rebuilt.result.as_ref().map_or(&empty, |r| &r.outputs);
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let (a, b) = (before.get(name), after.get(name));
        if a.map(|o| o.digest) == b.map(|o| o.digest) {
            continue;
        }
        let file = name.replace('/', "_");
        let cached_path = dir.join(format!("{file}.cached"));
        let rebuilt_path = dir.join(format!("{file}.rebuilt"));
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Failed(format!("{}: {e}", dir.display())))?;
        write_out(cache, a, &cached_path)?;
        write_out(scratch, b, &rebuilt_path)?;
        let offset = match (a, b) {
            (Some(_), Some(_)) => first_difference(&cached_path, &rebuilt_path)?,
            _ => None,
        };
        out.push(Difference {
            step: shown.to_string(),
            output: name.clone(),
            offset,
            cached: cached_path,
            rebuilt: rebuilt_path,
        });
    }
    Ok(out)
}

fn write_out(store: &LocalStore, out: Option<&OutputFile>, dest: &Path) -> Result<(), CliError> {
    match out {
        Some(o) => Ok(store.materialize(o, dest)?),
        None => kiln_engine::fsutil::write_atomic(dest, b"")
            .map_err(|e| CliError::Failed(format!("{}: {e}", dest.display()))),
    }
}

/// The offset of the first byte where `a` and `b` differ (or where the shorter one ends).
fn first_difference(a: &Path, b: &Path) -> Result<Option<u64>, CliError> {
    let open = |p: &Path| {
        std::fs::File::open(p)
            .map(std::io::BufReader::new)
            .map_err(|e| CliError::Failed(format!("{}: {e}", p.display())))
    };
    let (mut ra, mut rb) = (open(a)?, open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    let mut offset = 0u64;
    loop {
        let na = read_full(&mut ra, &mut ba)?;
        let nb = read_full(&mut rb, &mut bb)?;
        let n = na.min(nb);
        if let Some(i) = (0..n).find(|&i| ba[i] != bb[i]) {
            return Ok(Some(offset + i as u64));
        }
        if na != nb {
            return Ok(Some(offset + n as u64));
        }
        if na == 0 {
            return Ok(None);
        }
        offset += n as u64;
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, CliError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CliError::Failed(format!("reading for --check: {e}"))),
        }
    }
    Ok(n)
}
