//! `kiln lock [--update]`: resolve every source of the project and write Kraftfile.lock.

use crate::cli::LockArgs;
use crate::error::CliError;
use crate::session;

/// Runs `kiln lock`. Every source is resolved (fetching what is needed unless `--offline`),
/// and runtime packages are pulled; nothing is built.
pub fn lock(args: &LockArgs) -> Result<(), CliError> {
    let s = session::open_with(
        &args.project,
        None,
        session::Extras {
            update_lock: args.update,
            runtime_kernel: true,
            ..Default::default()
        },
    )?;
    let report = session::plan_report(&s)?;
    let failed: Vec<String> = report
        .steps
        .iter()
        .filter(|r| (r.kind == "sources" || r.kind == "runtime") && r.status.is_failure())
        .map(|r| match &r.status {
            kiln_engine::report::StepStatus::Failed(m)
            | kiln_engine::report::StepStatus::Unresolved(m) => format!("{}: {m}", r.id),
            other => format!("{}: {}", r.id, other.word()),
        })
        .collect();
    if !failed.is_empty() {
        return Err(CliError::Failed(format!(
            "cannot resolve every source, so the lock file was not written:\n  {}",
            failed.join("\n  ")
        )));
    }
    session::update_lock(&s, &report, args.project.locked)?;
    pull_runtimes(&s)
}

/// Pulls every runtime package the lock now pins that kiln does not hold yet, so that a
/// later `kiln run --offline` has its kernel.
fn pull_runtimes(s: &session::Session) -> Result<(), CliError> {
    let pins = s.resolver.lock_entries().runtimes;
    if pins.is_empty() {
        return Ok(());
    }
    let store = session::open_store()?;
    for pin in pins.values() {
        let record = s
            .resolver
            .pull_runtime(pin, &store, &crate::registry::Bar::new())
            .map_err(|e| CliError::Failed(e.to_string()))?;
        eprintln!(
            "kiln: {} holds the runtime of {} ({})",
            record.reference, pin.target, pin.manifest
        );
    }
    Ok(())
}
