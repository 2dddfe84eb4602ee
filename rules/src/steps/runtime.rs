//! The runtime steps of a project whose kernel is a registry package (`runtime: base:latest`,
//! `oci://…`, `name@sha256:…`): `<target>/runtime` resolves it to one manifest (a source
//! step: its value is the manifest's digest, pinned by Kraftfile.lock), and
//! `<target>/kernel` takes the kernel out of that manifest's layers (an action keyed by the
//! manifest digest, pulling what kiln does not hold yet) and puts it where a kernel
//! project's kernel goes, `<outdir>/<name>_<plat>-<arch>`.
//!
//! `kiln build` plans neither: a runtime project's build is its initrd, as with kraft. `kiln
//! run`, `kiln pkg`, `kiln lock` and `kiln plan` do.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use kiln_engine::step::{
    DepValues, ExecContext, Materialize, Prepared, SourceValue, Step, StepError, StepEvents,
};
use kiln_engine::{Action, ActionResult, Digest};
use kiln_oci::Reference;
use kiln_oci::registry::pull::Selector;

use crate::sources::{RuntimeEntry, SourceError, SourceResolver};

/// Bump when the kernel step's output changes for the same manifest.
pub const RULE_VERSION: u32 = 1;

/// `<target>/runtime`. Its data for dependents is the [`RuntimeEntry`].
pub struct RuntimeStep {
    /// The step id.
    pub id: String,
    /// The target's canonical name.
    pub target: String,
    /// The runtime as a reference.
    pub reference: Reference,
    /// Which manifest to take.
    pub selector: Selector,
    /// The build's resolver.
    pub resolver: Arc<SourceResolver>,
}

impl Step for RuntimeStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "runtime"
    }
    fn deps(&self) -> &[String] {
        &[]
    }
    fn prepare(&self, _: &DepValues<'_>) -> Result<Prepared, StepError> {
        let pin = self
            .resolver
            .resolve_runtime(&self.target, &self.reference, &self.selector)
            .map_err(|e| match e {
                SourceError::NeedsNetwork { .. }
                | SourceError::Registry {
                    unreachable: true, ..
                } => StepError::Unresolved(e.to_string()),
                e => StepError::Failed(e.to_string()),
            })?;
        let digest = Digest::of(format!("runtime {} {}", pin.index, pin.manifest).as_bytes());
        Ok(Prepared::Source(SourceValue {
            data: Some(Arc::new(pin)),
            ..SourceValue::digest(digest)
        }))
    }
    fn execute(&self, _: &DepValues<'_>, _: &ExecContext<'_>) -> Result<ActionResult, StepError> {
        Err(StepError::Failed(
            "internal: runtime is a source step".into(),
        ))
    }
}

/// `<target>/kernel`: the runtime's kernel, and its kconfig as a `.config`-shaped `config`
/// output (from the manifest's `os.features`), so a package of the project can carry it.
pub struct RuntimeKernelStep {
    /// The step id.
    pub id: String,
    /// `[runtime step]`.
    pub deps: Vec<String>,
    /// The build's resolver (it pulls).
    pub resolver: Arc<SourceResolver>,
    /// Where the kernel goes.
    pub dest: PathBuf,
}

impl Step for RuntimeKernelStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "kernel"
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        let pin = deps.data::<RuntimeEntry>(&self.deps[0])?;
        Ok(Prepared::Action(
            Action::new("runtime-kernel", RULE_VERSION)
                .input("runtime", deps.digest(&self.deps[0])?)
                .param("manifest", pin.manifest.clone()),
        ))
    }
    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError> {
        let pin = deps.data::<RuntimeEntry>(&self.deps[0])?;
        let store = ctx.store;
        let progress = BytesProgress::new(ctx.events);
        let record = self
            .resolver
            .pull_runtime(pin, store, &progress)
            .map_err(|e| match e {
                SourceError::NeedsNetwork { .. } => StepError::Unresolved(e.to_string()),
                e => StepError::Failed(e.to_string()),
            })?;
        let failed = |m: String| StepError::Failed(format!("runtime {}: {m}", pin.reference));
        let manifest_digest =
            kiln_oci::Sha256::parse(&pin.manifest).map_err(|e| failed(e.to_string()))?;
        let bytes = kiln_oci::registry::push::read_blob(store, &record, &manifest_digest)
            .map_err(|e| failed(e.to_string()))?;
        let manifest: kiln_oci::spec::Manifest =
            serde_json::from_slice(&bytes).map_err(|e| failed(e.to_string()))?;
        let config = kiln_oci::registry::pull::config_of(store, &record, &manifest)
            .map_err(|e| failed(e.to_string()))?;
        let mut kernel = None;
        for layer in &manifest.layers {
            let file = record
                .blob(&layer.digest)
                .ok_or_else(|| failed(format!("layer {} is missing", layer.digest)))?;
            let mut reader = store.open_blob(&file)?;
            let mut w = store.blob_writer()?;
            let found = kiln_oci::unpack::extract_member(
                &mut reader,
                kiln_oci::kraftkit::KERNEL_PATH,
                &mut w,
            )
            .map_err(|e| failed(format!("layer {}: {e}", layer.digest)))?;
            std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| failed(e.to_string()))?;
            if found {
                kernel = Some(w.commit(true)?);
            }
        }
        let kernel = kernel.ok_or_else(|| {
            failed(format!(
                "manifest {} has no {} in its layers: it is not a kraft package with a kernel",
                pin.manifest,
                kiln_oci::kraftkit::KERNEL_PATH
            ))
        })?;
        let mut dotconfig = String::new();
        for f in &config.os_features {
            dotconfig.push_str(f);
            dotconfig.push('\n');
        }
        let mut w = store.blob_writer()?;
        std::io::Write::write_all(&mut w, dotconfig.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
        let config_file = w.commit(false)?;
        Ok(ActionResult::with_outputs(BTreeMap::from([
            ("kernel".to_string(), kernel),
            ("config".to_string(), config_file),
        ])))
    }
    fn verifies_its_sources(&self) -> bool {
        true
    }
    fn materialize(&self) -> Vec<Materialize> {
        vec![Materialize {
            output: "kernel".into(),
            dest: self.dest.clone(),
        }]
    }
}

/// A registry transfer inside a step, told as the step's progress (bytes and rate on its
/// live line) and, once each blob is in, as a span of the step (`pull <digest>` in a trace).
struct BytesProgress<'a> {
    events: StepEvents<'a>,
    /// The blob moving now: its label, bytes moved, bytes in all, and when it began.
    now: std::sync::Mutex<Option<(String, u64, u64, std::time::Instant)>>,
}

impl<'a> BytesProgress<'a> {
    fn new(events: StepEvents<'a>) -> Self {
        BytesProgress {
            events,
            now: std::sync::Mutex::new(None),
        }
    }
}

impl kiln_oci::registry::TransferProgress for BytesProgress<'_> {
    fn start(&self, label: &str, total: u64) {
        if let Ok(mut now) = self.now.lock() {
            *now = Some((label.to_string(), 0, total, std::time::Instant::now()));
        }
    }
    fn advance(&self, n: u64) {
        let Ok(mut now) = self.now.lock() else { return };
        if let Some((label, done, total, _)) = now.as_mut() {
            *done += n;
            self.events.progress(&kiln_engine::report::StepProgress {
                phase: Some(label.clone()),
                done: *done,
                total: Some(*total),
                estimated: false,
                unit: kiln_engine::report::ProgressUnit::Bytes,
            });
        }
    }
    fn finish(&self) {
        let Ok(mut now) = self.now.lock() else { return };
        if let Some((label, done, _, started)) = now.take() {
            let detail = format!("{done} bytes");
            let end = std::time::Instant::now();
            self.events.span(&label, started, end, Some(&detail));
        }
    }
}
