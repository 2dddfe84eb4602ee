//! `kiln run` on Firecracker and Xen: the configuration is checked before anything starts
//! (unsupported combinations such as port mappings are errors), then the VMM is started in
//! the foreground and its console streamed. Neither VMM is installable on kiln's CI machines,
//! so these paths run for real only where `firecracker` or `xl` is on PATH.

use std::path::Path;

use kiln_vmm::firecracker::{self, FcOptions};
use kiln_vmm::spec::MachineSpec;
use kiln_vmm::xen::{self, XenOptions};

use crate::cli::RunArgs;
use crate::error::CliError;
use crate::machines;
use crate::run::vmm_err;

/// Boots `spec` under Firecracker.
pub fn run_firecracker(mut spec: MachineSpec, args: &RunArgs) -> Result<(), CliError> {
    spec.name = name(args);
    let config = firecracker::plan(&spec, &FcOptions::default()).map_err(usage)?;
    no_detach(args, "Firecracker")?;
    let dir = state_dir(&spec.name)?;
    let mut fc = firecracker::launch(&config, &dir).map_err(|e| cleanup(&dir, e))?;
    stream_until_exit(&fc.serial_log, || {
        fc.child.try_wait().ok().flatten().is_some()
    })?;
    let status = fc.child.wait().map_err(vmm_err)?;
    exit_of(status.code())
}

/// Boots `spec` under Xen.
pub fn run_xen(mut spec: MachineSpec, args: &RunArgs) -> Result<(), CliError> {
    spec.name = name(args);
    xen::config(&spec, &XenOptions::default()).map_err(usage)?;
    no_detach(args, "Xen")?;
    let dir = state_dir(&spec.name)?;
    let mut x = xen::launch(&spec, &XenOptions::default(), &dir).map_err(|e| cleanup(&dir, e))?;
    stream_until_exit(&x.serial_log, || {
        x.console.try_wait().ok().flatten().is_some()
    })?;
    Ok(())
}

/// A launch that failed leaves no instance directory behind.
fn cleanup(dir: &Path, e: impl std::fmt::Display) -> CliError {
    let _ = std::fs::remove_dir_all(dir);
    vmm_err(e)
}

fn name(args: &RunArgs) -> String {
    args.name
        .clone()
        .unwrap_or_else(kiln_vmm::instance::generate_name)
}

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

fn no_detach(args: &RunArgs, vmm: &str) -> Result<(), CliError> {
    if args.detach {
        return Err(CliError::Usage(format!(
            "-d is supported on qemu only; run {vmm} machines in the foreground"
        )));
    }
    Ok(())
}

fn state_dir(name: &str) -> Result<std::path::PathBuf, CliError> {
    let dir = machines::instances_root()?.join(name);
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

fn stream_until_exit(log: &Path, done: impl FnMut() -> bool) -> Result<(), CliError> {
    let mut out = std::io::stdout();
    let done = std::cell::RefCell::new(done);
    kiln_vmm::serial::follow(log, &mut out, || (done.borrow_mut())()).map_err(vmm_err)
}

fn exit_of(code: Option<i32>) -> Result<(), CliError> {
    match code {
        Some(0) => Ok(()),
        Some(c) => Err(CliError::Failed(format!("the VMM exited with status {c}"))),
        None => Err(CliError::Failed("the VMM was killed by a signal".into())),
    }
}
