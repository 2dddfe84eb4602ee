//! A project: a directory with a Kraftfile, and where kiln keeps things for it.
//!
//! Paths: outputs go to `<dir>/<outdir>` (default `.unikraft/build`, as kraft); kiln's own
//! state (stat cache, per-step state, the project lock) lives in `<dir>/.unikraft/kiln/`.
//! This module does not plan or build.

use std::path::{Path, PathBuf};

use crate::diag::Diagnostic;
use crate::kraftfile::{self, EnvLookup, Kraftfile};

/// kraft's default output directory, relative to the project.
pub const DEFAULT_OUTDIR: &str = ".unikraft/build";

/// A loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project directory (absolute).
    pub dir: PathBuf,
    /// The parsed Kraftfile.
    pub kraftfile: Kraftfile,
    /// Where kiln's state and the outputs go instead of the project (a `--check` rebuild's
    /// scratch directory); the sources stay where they are.
    pub relocated: Option<PathBuf>,
}

impl Project {
    /// Loads the project in `dir`, from `kraftfile` if given (`-K`), else by kraft's search.
    pub fn load(
        dir: &Path,
        kraftfile: Option<&Path>,
        env: EnvLookup<'_>,
    ) -> Result<Project, Diagnostic> {
        let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        if !abs.is_dir() {
            return Err(Diagnostic::new(dir, "the project directory does not exist")
                .with_help("pass the directory that holds the Kraftfile, or -K FILE"));
        }
        let file = match kraftfile {
            Some(f) => f.to_path_buf(),
            None => kraftfile::find_kraftfile(dir)?,
        };
        let kraftfile =
            kraftfile::load_named(&file, abs.file_name().and_then(|n| n.to_str()), env)?;
        Ok(Project {
            dir: abs,
            kraftfile,
            relocated: None,
        })
    }

    /// The same project with its state, work directories and outputs under `scratch`.
    pub fn relocated_to(&self, scratch: &Path) -> Project {
        Project {
            relocated: Some(scratch.to_path_buf()),
            ..self.clone()
        }
    }

    /// Where outputs are materialized.
    pub fn outdir(&self) -> PathBuf {
        if let Some(r) = &self.relocated {
            return r.join("build");
        }
        let out = self.kraftfile.outdir.as_deref().unwrap_or(DEFAULT_OUTDIR);
        self.dir.join(out)
    }

    /// kiln's own state for this project.
    pub fn state_dir(&self) -> PathBuf {
        match &self.relocated {
            Some(r) => r.join("kiln"),
            None => self.dir.join(".unikraft").join("kiln"),
        }
    }

    /// The directory that holds the Kraftfile (and its lock file). Relative paths in the
    /// Kraftfile are relative to the project directory instead: see [`Project::resolve`].
    pub fn kraftfile_dir(&self) -> PathBuf {
        match self.kraftfile.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => {
                std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
            }
            _ => self.dir.clone(),
        }
    }

    /// A path written in the Kraftfile, resolved against the project directory (DIR, the
    /// current directory by default), as kraft does: also when `-K` names a Kraftfile
    /// elsewhere, so `kraft run -K app/Kraftfile` from a parent finds the parent's
    /// `./Dockerfile`. `.` components are dropped (lexically; `..` is kept, since it may cross
    /// a symlink).
    pub fn resolve(&self, written: &str) -> PathBuf {
        self.dir
            .join(written)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect()
    }

    /// Removes the temporary files that builds killed before they finished left in the
    /// project: beside the outputs, in kiln's state and in the targets' work directories.
    /// Only files whose writer is no longer running are touched (see
    /// `kiln_engine::temp_owner`). Best effort: a directory that cannot be read is skipped.
    pub fn remove_dead_temps(&self) -> kiln_engine::temp_owner::Removed {
        let state = self.state_dir();
        let mut dirs = vec![
            self.kraftfile_dir(),
            self.outdir(),
            state.clone(),
            state.join("state").join("steps"),
            state.join("state").join("trees"),
            state.join("watch"),
        ];
        if let Ok(work) = std::fs::read_dir(state.join("work")) {
            dirs.extend(work.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
        let mut removed = kiln_engine::temp_owner::Removed::default();
        for dir in dirs {
            if let Ok(r) = kiln_engine::temp_owner::remove_dead(&dir) {
                removed += r;
            }
        }
        removed
    }

    /// Whether the project builds a kernel (rather than only packing a rootfs for a runtime).
    pub fn builds_kernel(&self) -> bool {
        let k = &self.kraftfile;
        k.unikraft.is_some() || k.template.is_some() || !k.libraries.is_empty()
    }
}
