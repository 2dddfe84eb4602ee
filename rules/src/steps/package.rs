//! The `package` steps: a target's kernel (and initrd) as an OCI manifest in kraft's or
//! urunc's format (`<target>/package`), and the index of all targets' manifests (`package`).
//!
//! Both are actions like any other: their keys are the kernel's, the initrd's and the
//! `.config`'s digests plus the package's name, format, command, environment, labels and
//! creation time (from SOURCE_DATE_EPOCH, never the clock), so packaging again without a
//! change runs nothing. Their outputs are the OCI blobs, named `blob/sha256:<hex>`, stored
//! once in kiln's store; the index step's outputs list every blob of the package and a
//! `record` (the [`PackageRecord`] that `kiln pkg` files under the package's name).

use std::collections::BTreeMap;
use std::io::Read;

use kiln_engine::step::{DepValues, ExecContext, Prepared, Step, StepError};
use kiln_engine::{Action, ActionResult, OutputFile, Store};
use kiln_oci::image::{LayerFile, PackageMeta, TargetImage};
use kiln_oci::kraftkit::BuiltManifest;
use kiln_oci::spec::Descriptor;
use kiln_oci::store::{ManifestSummary, PackageRecord};
use kiln_oci::{Blob, Sha256, gojson};

/// Bump when a package's bytes change for the same inputs.
pub const RULE_VERSION: u32 = 1;

/// The package formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PackageFormat {
    /// kraft's (the default).
    #[default]
    Kraftkit,
    /// urunc's.
    Urunc,
}

impl PackageFormat {
    /// Its name on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            PackageFormat::Kraftkit => "kraftkit",
            PackageFormat::Urunc => "urunc",
        }
    }
}

/// What `kiln pkg` asks for.
#[derive(Debug, Clone)]
pub struct PackageOptions {
    /// Name, creation time and tool version.
    pub meta: PackageMeta,
    /// The format.
    pub format: PackageFormat,
}

/// What a target's package holds besides its kernel.
#[derive(Debug, Clone)]
pub struct PackageContent {
    /// kraft's platform name.
    pub plat: String,
    /// kraft's architecture name.
    pub arch: String,
    /// The project's name.
    pub app_name: String,
    /// The application's arguments.
    pub cmd: Vec<String>,
    /// `KEY=VALUE`, sorted.
    pub env: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// `<target>/package`.
pub struct TargetPackageStep {
    /// The step id.
    pub id: String,
    /// The kernel, kconfig and initrd steps, each once.
    pub deps: Vec<String>,
    /// The step whose `kernel` output is packaged.
    pub kernel_step: String,
    /// The step whose `config` output (a `.config`) gives the platform's features.
    pub config_step: String,
    /// The step whose `initrd` output is a layer, when the initrd is not embedded.
    pub initrd_step: Option<String>,
    /// The package.
    pub options: PackageOptions,
    /// The target's content.
    pub content: PackageContent,
}

fn output(deps: &DepValues<'_>, step: &str, name: &str) -> Result<OutputFile, StepError> {
    deps.result(step)?
        .outputs
        .get(name)
        .copied()
        .ok_or_else(|| StepError::Failed(format!("internal: `{step}` has no `{name}` output")))
}

fn failed(what: &str) -> impl Fn(std::io::Error) -> StepError + '_ {
    move |e| StepError::Failed(format!("packaging {what}: {e}"))
}

impl Step for TargetPackageStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "package"
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        let (o, c) = (&self.options, &self.content);
        let mut action = Action::new("package", RULE_VERSION)
            .input(
                "kernel",
                output(deps, &self.kernel_step, "kernel")?.digest.raw(),
            )
            .input(
                "config",
                output(deps, &self.config_step, "config")?.digest.raw(),
            )
            .param("format", o.format.name())
            .param("reference", o.meta.reference.original.clone())
            .param("default_registry", o.meta.reference.registry.clone())
            .param("created", o.meta.created.clone().unwrap_or_default())
            .param("tool_version", o.meta.tool_version.clone())
            .param("plat", c.plat.clone())
            .param("arch", c.arch.clone())
            .param("app", c.app_name.clone())
            .param("cmd", encode_list(&c.cmd))
            .param("env", encode_list(&c.env))
            .param(
                "labels",
                encode_list(
                    &c.labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>(),
                ),
            );
        if let Some(initrd) = &self.initrd_step {
            action = action.input("initrd", output(deps, initrd, "initrd")?.digest.raw());
        }
        Ok(Prepared::Action(action))
    }
    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError> {
        let store = ctx.store;
        let config_file = output(deps, &self.config_step, "config")?;
        let mut config = String::new();
        store
            .open_blob(&config_file)?
            .read_to_string(&mut config)
            .map_err(failed(".config"))?;
        let (features, version) = features_of(&config);
        let kernel = output(deps, &self.kernel_step, "kernel")?;
        let mut kernel_reader = store.open_blob(&kernel)?;
        let initrd = match &self.initrd_step {
            Some(step) => Some(output(deps, step, "initrd")?),
            None => None,
        };
        let mut initrd_reader = match &initrd {
            Some(f) => Some(store.open_blob(f)?),
            None => None,
        };
        let c = &self.content;
        let image = TargetImage {
            plat: c.plat.clone(),
            arch: c.arch.clone(),
            kernel: LayerFile {
                data: &mut kernel_reader,
                size: kernel.size,
                mode: 0o755,
            },
            initrd: initrd
                .as_ref()
                .zip(initrd_reader.as_mut())
                .map(|(f, r)| LayerFile {
                    data: r,
                    size: f.size,
                    mode: 0o644,
                }),
            features,
            version,
            app_name: c.app_name.clone(),
            cmd: c.cmd.clone(),
            env: c.env.clone(),
            labels: c.labels.clone(),
        };
        let built = match self.options.format {
            PackageFormat::Kraftkit => {
                kiln_oci::kraftkit::manifest(&self.options.meta, image, store)
                    .map_err(|e| StepError::Failed(format!("packaging {}: {e}", self.id)))?
            }
            PackageFormat::Urunc => kiln_oci::urunc::manifest(&self.options.meta, image, store)
                .map_err(|e| StepError::Failed(format!("packaging {}: {e}", self.id)))?,
        };
        target_result(&built, store)
    }
}

/// The outputs of a target's package step: its blobs, and `descriptor` (its index entry).
fn target_result(built: &BuiltManifest, store: &dyn Store) -> Result<ActionResult, StepError> {
    let mut outputs = blob_outputs(&built.blobs);
    let descriptor = kiln_oci::blobs::put_bytes(store, &gojson::to_vec(&built.descriptor))
        .map_err(|e| StepError::Failed(format!("packaging: {e}")))?;
    outputs.insert("descriptor".into(), descriptor.file);
    let size = built.blobs.iter().map(|b| b.file.size).sum::<u64>();
    let summary = kiln_oci::blobs::put_bytes(store, size.to_string().as_bytes())
        .map_err(|e| StepError::Failed(format!("packaging: {e}")))?;
    outputs.insert("size".into(), summary.file);
    Ok(ActionResult::with_outputs(outputs))
}

fn blob_outputs(blobs: &[Blob]) -> BTreeMap<String, OutputFile> {
    blobs
        .iter()
        .map(|b| (format!("blob/{}", b.sha256), b.file))
        .collect()
}

/// `package`: the index of every target's manifest.
pub struct IndexStep {
    /// The step id.
    pub id: String,
    /// The targets' package steps, in target order.
    pub deps: Vec<String>,
    /// The package.
    pub options: PackageOptions,
}

impl Step for IndexStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "index"
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        let mut action = Action::new("package-index", RULE_VERSION)
            .param("format", self.options.format.name())
            .param("reference", self.options.meta.reference.original.clone())
            .param(
                "default_registry",
                self.options.meta.reference.registry.clone(),
            )
            .param(
                "created",
                self.options.meta.created.clone().unwrap_or_default(),
            )
            .param("tool_version", self.options.meta.tool_version.clone());
        for (i, d) in self.deps.iter().enumerate() {
            action = action.input(&format!("manifest{i}"), deps.digest(d)?);
        }
        Ok(Prepared::Action(action))
    }
    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError> {
        let store = ctx.store;
        let mut outputs = BTreeMap::new();
        let mut descriptors = Vec::new();
        let mut manifests = Vec::new();
        for d in &self.deps {
            let result = deps.result(d)?;
            let mut bytes = Vec::new();
            store
                .open_blob(&output(deps, d, "descriptor")?)?
                .read_to_end(&mut bytes)
                .map_err(failed(d))?;
            let descriptor: Descriptor = serde_json::from_slice(&bytes)
                .map_err(|e| StepError::Failed(format!("internal: {d}'s descriptor: {e}")))?;
            let mut size = String::new();
            store
                .open_blob(&output(deps, d, "size")?)?
                .read_to_string(&mut size)
                .map_err(failed(d))?;
            let platform = descriptor.platform.clone().unwrap_or_default();
            manifests.push(ManifestSummary {
                digest: descriptor.digest,
                plat: platform.os,
                arch: platform.architecture,
                size: size.trim().parse().unwrap_or(0),
            });
            descriptors.push(descriptor);
            outputs.extend(
                result
                    .outputs
                    .iter()
                    .filter(|(k, _)| k.starts_with("blob/"))
                    .map(|(k, v)| (k.clone(), *v)),
            );
        }
        let meta = &self.options.meta;
        let index_bytes = match self.options.format {
            PackageFormat::Kraftkit => kiln_oci::kraftkit::index(meta, &descriptors),
            PackageFormat::Urunc => kiln_oci::urunc::index(&descriptors),
        };
        let put = |bytes: &[u8]| {
            kiln_oci::blobs::put_bytes(store, bytes)
                .map_err(|e| StepError::Failed(format!("packaging: {e}")))
        };
        let index = put(&index_bytes)?;
        outputs.insert(format!("blob/{}", index.sha256), index.file);
        let mut record = PackageRecord::new(
            &meta.reference,
            self.options.format.name(),
            index.sha256,
            kiln_oci::spec::MEDIA_INDEX,
        );
        record.created = meta.created.clone();
        record.manifests = manifests;
        for (name, file) in &outputs {
            if let Some(Ok(sha)) = name.strip_prefix("blob/").map(Sha256::parse) {
                record.add(&Blob {
                    sha256: sha,
                    file: *file,
                });
            }
        }
        let record = put(&serde_json::to_vec(&record).unwrap_or_default())?;
        outputs.insert("record".into(), record.file);
        Ok(ActionResult::with_outputs(outputs))
    }
}

/// `os.features` and `os.version` as kraft derives them from a `.config`: every
/// `CONFIG_X=value` line, with one pair of surrounding quotes removed, except those that hold
/// build paths (kraft leaves out `CONFIG_UK_APP` and `CONFIG_UK_BASE`; kiln also leaves out
/// the embedded initrd's path, which names its work directory); sorted bytewise.
pub fn features_of(dotconfig: &str) -> (Vec<String>, Option<String>) {
    let mut features = Vec::new();
    let mut version = None;
    for line in dotconfig.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if matches!(
            key,
            "CONFIG_UK_APP" | "CONFIG_UK_BASE" | "CONFIG_LIBVFSCORE_AUTOMOUNT_EINITRD_PATH"
        ) {
            continue;
        }
        if key == "CONFIG_UK_FULLVERSION" && !value.is_empty() {
            version = Some(value.to_string());
        }
        features.push(format!("{key}={value}"));
    }
    features.sort();
    features.dedup();
    (features, version)
}

/// A list as one key parameter, each element length-prefixed so no two lists collide.
fn encode_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("{}:{s}", s.len()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_krafts() {
        let (f, v) = features_of(
            "# comment\nCONFIG_UK_NAME=\"helloworld\"\nCONFIG_UK_APP=\"/x\"\n# CONFIG_B is not set\n\
             CONFIG_LIBUKDEBUG_PRINTK=y\nCONFIG_LIBUKDEBUG=y\nCONFIG_UK_FULLVERSION=\"0.17.0~abc\"\n",
        );
        assert_eq!(
            f,
            [
                "CONFIG_LIBUKDEBUG=y",
                "CONFIG_LIBUKDEBUG_PRINTK=y",
                "CONFIG_UK_FULLVERSION=0.17.0~abc",
                "CONFIG_UK_NAME=helloworld"
            ]
        );
        assert_eq!(v.as_deref(), Some("0.17.0~abc"));
    }

    #[test]
    fn lists_do_not_collide() {
        assert_ne!(
            encode_list(&["a,b".into()]),
            encode_list(&["a".into(), "b".into()])
        );
    }
}
