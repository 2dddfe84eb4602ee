//! The `initrd` step: the rootfs as a reproducible cpio newc archive.
//!
//! Its key is made of the rootfs digest and the mtime written into every header
//! (`SOURCE_DATE_EPOCH`, or 0), so the same tree gives the same archive on any machine and
//! at any path. The archive is streamed straight into the store (hashed as it is written)
//! and then copied to `<outdir>/initramfs-<arch>.cpio` for every architecture built.
//! An existing cpio rootfs is stored as it is.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use kiln_engine::step::{DepValues, ExecContext, Materialize, Prepared, Step, StepError};
use kiln_engine::{Action, ActionResult, BlobWriter};

use crate::initrd::{InitrdError, NewcOptions, ReadNewcError, read_newc, write_newc};
use crate::steps::rootfs::RootfsData;

/// Bump when the archive layout changes: every cached initrd is then rebuilt.
pub const RULE_VERSION: u32 = 1;

/// The `initrd` action step.
pub struct InitrdStep {
    /// The step id.
    pub id: String,
    /// `[rootfs step id]`.
    pub deps: Vec<String>,
    /// Header mtime (SOURCE_DATE_EPOCH or 0).
    pub mtime: u32,
    /// Where to copy the archive (one per architecture).
    pub dests: Vec<PathBuf>,
}

impl Step for InitrdStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "initrd"
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        let rootfs = &self.deps[0];
        let format = match deps.data::<RootfsData>(rootfs)? {
            RootfsData::Dir { .. } => "newc",
            RootfsData::Cpio { .. } => "as-is",
        };
        Ok(Prepared::Action(
            Action::new("initrd", RULE_VERSION)
                .input("rootfs", deps.digest(rootfs)?)
                .param("format", format)
                .param("mtime", self.mtime.to_string()),
        ))
    }
    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError> {
        let rootfs = &self.deps[0];
        let mut w = ctx.store.blob_writer()?;
        match deps.data::<RootfsData>(rootfs)? {
            data @ RootfsData::Dir { root, .. } => {
                let tree = data.tree()?;
                let opts = NewcOptions { mtime: self.mtime };
                write_newc(&tree, root, &opts, &mut w)
                    .map_err(|e| StepError::Failed(e.to_string()))?;
            }
            RootfsData::Cpio { path, size } => copy_exact(path, *size, &mut w)?,
        }
        let out = w.commit(false)?;
        if let RootfsData::Cpio { .. } = deps.data::<RootfsData>(rootfs)?
            && out.digest.raw() != deps.digest(rootfs)?
        {
            return Err(StepError::Failed(format!(
                "the rootfs archive changed while it was being stored; build again ({rootfs})"
            )));
        }
        Ok(ActionResult::with_outputs(BTreeMap::from([(
            "initrd".to_string(),
            out,
        )])))
    }
    /// The newc writer hashes every file as it archives it and fails on any difference from
    /// the tree; an archive rootfs is hashed as it is stored.
    fn verifies_its_sources(&self) -> bool {
        true
    }
    fn materialize(&self) -> Vec<Materialize> {
        self.dests
            .iter()
            .map(|d| Materialize {
                output: "initrd".into(),
                dest: d.clone(),
            })
            .collect()
    }
}

/// Stores the archive at `path` (of `size` bytes when hashed), reading every entry as
/// Unikraft will: an archive it could not boot fails here, naming the entry.
fn copy_exact(path: &PathBuf, size: u64, w: &mut Box<dyn BlobWriter>) -> Result<(), StepError> {
    let err = |e: std::io::Error| StepError::Failed(format!("cannot read {}: {e}", path.display()));
    let f = std::fs::File::open(path).map_err(err)?;
    let mut copied = 0u64;
    let mut input = f.take(size + 1);
    let read = read_newc(&mut input, &mut |bytes| {
        copied += bytes.len() as u64;
        std::io::Write::write_all(w, bytes)
    });
    match read {
        Ok(_) if copied != size => Err(StepError::Failed(format!(
            "{} changed while it was being stored; build again",
            path.display()
        ))),
        Ok(_) => Ok(()),
        Err(ReadNewcError::Io(e)) => Err(err(e)),
        Err(ReadNewcError::Bad(problem)) => Err(StepError::Failed(
            InitrdError::BadArchive {
                path: path.clone(),
                problem,
            }
            .to_string(),
        )),
    }
}
