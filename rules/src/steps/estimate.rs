//! The first build of a target has no object count to show progress against: a dry run
//! (`make -n`) of the same build estimates one while the real make runs.
//!
//! The dry run runs in `<work>/.kiln-estimate` (Unikraft's dry run writes its `.cmd` files
//! into its O=, so never into the directory the real make uses), at the lowest CPU priority
//! and without a jobserver token: like make's own parse-time `$(shell …)` calls it compiles
//! nothing, and a token would keep it waiting until the compiles that saturate `-j` are
//! done. It is killed when the real make ends first: it is only a hint for the progress line.

use std::io::Read;
use std::process::Stdio;
use std::sync::Mutex;

use kiln_engine::step::DepValues;

use super::kernel::KernelTarget;

/// A dry run that can be stopped from another thread.
#[derive(Default)]
pub(crate) struct Estimate {
    /// The dry run's make, while it runs; `Some(None)` once the real make has ended.
    running: Mutex<Option<Option<u32>>>,
}

impl Estimate {
    /// The real make has ended: stop the dry run (or keep it from starting).
    pub(crate) fn cancel(&self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Some(pid)) = *running {
            // SAFETY: kill(2) with a pid this process spawned and has not reaped yet (the
            // thread that waits for it reaps it only after taking this lock's value away).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        *running = Some(None);
    }

    fn cancelled(&self) -> bool {
        matches!(
            *self.running.lock().unwrap_or_else(|e| e.into_inner()),
            Some(None)
        )
    }
}

impl KernelTarget {
    /// The objects a build of this target would compile, by its dry run (see the module
    /// doc); `None` if it fails or is cancelled.
    pub(crate) fn estimate_objects(
        &self,
        deps: &DepValues<'_>,
        kconfig: &str,
        store: &dyn kiln_engine::Store,
        estimate: &Estimate,
    ) -> Option<u64> {
        let scratch = self.work.join(".kiln-estimate");
        let _ = std::fs::remove_dir_all(&scratch);
        let counted = self.dry_run(deps, kconfig, store, &scratch, estimate);
        let _ = std::fs::remove_dir_all(&scratch);
        counted.filter(|n| *n > 0)
    }

    fn dry_run(
        &self,
        deps: &DepValues<'_>,
        kconfig: &str,
        store: &dyn kiln_engine::Store,
        scratch: &std::path::Path,
        estimate: &Estimate,
    ) -> Option<u64> {
        self.prepare_dry_run(deps, kconfig, store, scratch).ok()?;
        let mut setup = self.setup(deps).ok()?;
        setup.work = scratch.to_path_buf();
        let mut cmd = setup.command(None, &["-n".to_string()]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env("TMPDIR", scratch);
        // SAFETY: setpriority(2) is async-signal-safe; the closure touches nothing else.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::setpriority(libc::PRIO_PROCESS, 0, 19);
                Ok(())
            });
        }
        let mut child = {
            let mut running = estimate.running.lock().unwrap_or_else(|e| e.into_inner());
            if matches!(*running, Some(None)) {
                return None;
            }
            let child = cmd.spawn().ok()?;
            *running = Some(Some(child.id()));
            child
        };
        let mut out = String::new();
        let read = child.stdout.take().map(|mut o| o.read_to_string(&mut out));
        let status = {
            // Taken before the reap, so `cancel` never signals a reaped (reusable) pid.
            let mut running = estimate.running.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(Some(_)) = *running {
                *running = None;
            }
            child.wait()
        };
        if estimate.cancelled() || !status.ok()?.success() || !matches!(read, Some(Ok(_))) {
            return None;
        }
        Some(crate::make_output::count_dry_run_objects(&out))
    }
}
