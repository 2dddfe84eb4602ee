//! `kiln lock [--update]`: resolve every source of the project and write Kraftfile.lock.

use crate::cli::LockArgs;
use crate::error::CliError;
use crate::session;

/// Runs `kiln lock`. Every source is resolved (fetching what is needed unless `--offline`);
/// nothing is built.
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
        .filter(|r| r.kind == "sources" && r.status.is_failure())
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
    Ok(())
}
