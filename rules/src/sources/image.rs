//! OCI image rootfs (`rootfs: alpine:3`, `rootfs: localhost:5000/base:1`): the image's
//! manifest for `linux/<arch>` (amd64, arm64), its layers flattened with whiteouts into an
//! immutable directory of the machine-wide cache, `<cache>/rootfs/image-<manifest hex>/`.
//!
//! Both media-type families are read: OCI indexes and manifests, and Docker's manifest lists
//! and schema 2 manifests; layers may be uncompressed, gzip or zstd (told by their magic).
//! Every layer is downloaded to a temporary file with its SHA-256 checked while it streams,
//! then flattened; the directory appears by rename only when every layer applied. The tag's
//! last resolution is remembered beside it (`image-refs/<blake3 of the reference>`), so an
//! `--offline` build uses what was pulled before.

use std::path::{Path, PathBuf};

use kiln_oci::Reference;
use kiln_oci::registry::client::NoProgress;
use kiln_oci::registry::pull::Selector;
use kiln_oci::spec::Manifest;

use super::runtime::registry_error;
use super::{SourceError, SourceResolver};

/// What an image checkout holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCheckout {
    /// The flattened filesystem.
    pub dir: PathBuf,
    /// The manifest it came from.
    pub manifest: String,
    /// Entries skipped (devices, FIFOs).
    pub skipped: Vec<String>,
}

fn bad(r: &Reference, message: String) -> SourceError {
    SourceError::Registry {
        reference: r.to_string(),
        message,
        unreachable: false,
    }
}

impl SourceResolver {
    /// The image `r` for Linux on `arch` (kraft's name: `x86_64`, `arm64`), flattened into
    /// `checkouts`: the manifest Kraftfile.lock pins (`[[image]]`, target `rootfs (<arch>)`)
    /// while it pins this reference, else the one the registry names now (recorded for the
    /// new lock file; `--locked` refuses that).
    pub fn checkout_image(
        &self,
        r: &Reference,
        arch: &str,
        checkouts: &Path,
        label: &str,
    ) -> Result<ImageCheckout, SourceError> {
        let target = format!("{label} ({arch})");
        let pin = self
            .opts
            .lock
            .as_ref()
            .and_then(|l| l.images.get(&target))
            .filter(|p| p.reference == r.to_string() && !self.opts.update_lock)
            .cloned();
        let (checkout, index) = match &pin {
            Some(p) => {
                let dir = checkouts.join(format!(
                    "image-{}",
                    p.manifest.trim_start_matches("sha256:")
                ));
                if dir.is_dir() {
                    (
                        ImageCheckout {
                            dir,
                            manifest: p.manifest.clone(),
                            skipped: vec![],
                        },
                        p.index.clone(),
                    )
                } else {
                    let digest =
                        kiln_oci::Sha256::parse(&p.manifest).map_err(|e| bad(r, e.to_string()))?;
                    let by_digest = Reference {
                        digest: Some(digest),
                        tag: None,
                        ..r.clone()
                    };
                    (
                        self.resolve_image(&by_digest, arch, checkouts)?.0,
                        p.index.clone(),
                    )
                }
            }
            None if self.opts.locked => {
                return Err(SourceError::LockMismatch {
                    component: target,
                    detail: format!("Kraftfile.lock does not pin the image {r}"),
                });
            }
            None => self.resolve_image(r, arch, checkouts)?,
        };
        let entry = super::RuntimeEntry {
            target: target.clone(),
            reference: r.to_string(),
            index,
            manifest: checkout.manifest.clone(),
        };
        self.images
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(target, entry);
        Ok(checkout)
    }

    /// Resolves `r` (offline: its last resolution) and checks it out; also returns the
    /// digest the reference named (an index, or the manifest itself).
    fn resolve_image(
        &self,
        r: &Reference,
        arch: &str,
        checkouts: &Path,
    ) -> Result<(ImageCheckout, String), SourceError> {
        let goarch = match arch {
            "x86_64" => "amd64",
            other => other,
        };
        let remembered = checkouts.join("image-refs").join(format!(
            "{}-{goarch}",
            blake3::hash(r.to_string().as_bytes()).to_hex()
        ));
        if self.opts.offline {
            let text =
                std::fs::read_to_string(&remembered).map_err(|_| SourceError::NeedsNetwork {
                    component: "rootfs".into(),
                    url: r.to_string(),
                    why: "kiln has not pulled this image".into(),
                    hint: "build once without --offline".into(),
                })?;
            let (index, manifest) = text.trim().split_once(' ').unwrap_or(("", text.trim()));
            let (index, manifest) = (index.to_string(), manifest.to_string());
            let dir = checkouts.join(format!(
                "image-{}",
                manifest.trim().trim_start_matches("sha256:")
            ));
            if dir.is_dir() {
                let checkout = ImageCheckout {
                    dir,
                    manifest: manifest.trim().to_string(),
                    skipped: vec![],
                };
                return Ok((checkout, index));
            }
        }
        let client = self.registry_client(r)?;
        let selector = Selector {
            os: Some("linux".into()),
            arch: Some(goarch.into()),
            ..Selector::default()
        };
        let (digest, manifest_digest) = kiln_oci::registry::pull::resolve(&client, r, &selector)
            .map_err(|e| registry_error(r, e))?;
        let (manifest_bytes, _, _) = client
            .get_manifest(r, &manifest_digest.to_string())
            .map_err(|e| registry_error(r, e))?;
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| bad(r, format!("its manifest does not parse: {e}")))?;
        let dest = checkouts.join(format!("image-{}", manifest_digest.hex()));
        let config = config_path(&dest);
        if !config.is_file() {
            let mut bytes = Vec::new();
            client
                .pull_blob(
                    r,
                    &manifest.config.digest,
                    manifest.config.size,
                    &mut bytes,
                    &NoProgress,
                )
                .map_err(|e| registry_error(r, e))?;
            kiln_engine::fsutil::write_atomic(&config, &bytes)
                .map_err(|e| bad(r, format!("cannot keep its config: {e}")))?;
        }
        let skipped = if dest.is_dir() {
            vec![]
        } else {
            let skipped = flatten_layers(&client, r, &manifest, checkouts, &dest)?;
            kiln_engine::fsutil::write_atomic(&skipped_path(&dest), skipped.join("\n").as_bytes())
                .map_err(|e| bad(r, format!("cannot keep what it skipped: {e}")))?;
            skipped
        };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(checkouts.join("image-refs"))?;
            let line = format!("{digest} {manifest_digest}");
            kiln_engine::fsutil::write_atomic(&remembered, line.as_bytes())
        };
        write().map_err(|e| bad(r, format!("cannot remember the resolution: {e}")))?;
        let checkout = ImageCheckout {
            dir: dest,
            manifest: manifest_digest.to_string(),
            skipped,
        };
        Ok((checkout, digest.to_string()))
    }
}

/// Where the config of the image checked out at `dir` is kept (`image-<hex>.config.json`).
pub fn config_path(dir: &Path) -> std::path::PathBuf {
    dir.with_extension("config.json")
}

fn skipped_path(dir: &Path) -> std::path::PathBuf {
    dir.with_extension("skipped")
}

/// What flattening the image at `dir` left out (devices, FIFOs), as `--explain` says it.
pub fn skipped_note(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(skipped_path(dir)).ok()?;
    let names: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let shown: Vec<&str> = names.iter().take(5).copied().collect();
    let more = match names.len() > shown.len() {
        true => format!(" and {} more", names.len() - shown.len()),
        false => String::new(),
    };
    (!names.is_empty()).then(|| {
        format!(
            "{} device or FIFO entries of the image are left out, as kraft does: {}{more}",
            names.len(),
            shown.join(", ")
        )
    })
}

/// The `Env` of the image checked out at `dir` (empty when its config is not kept).
pub fn image_env(dir: &Path) -> Vec<(String, String)> {
    let Ok(bytes) = std::fs::read(config_path(dir)) else {
        return vec![];
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return vec![];
    };
    v.pointer("/config/Env")
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str()?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Downloads and applies every layer of `manifest` into `dest` (made by rename); returns
/// what was skipped.
fn flatten_layers(
    client: &kiln_oci::registry::Client,
    r: &Reference,
    manifest: &Manifest,
    checkouts: &Path,
    dest: &Path,
) -> Result<Vec<String>, SourceError> {
    let layer_file = kiln_engine::temp_owner::temp_path_for(checkouts, "layer");
    let made = kiln_oci::flatten::make_dir(
        dest,
        |e| bad(r, e.to_string()),
        |flattener| {
            for layer in &manifest.layers {
                let mut out =
                    std::fs::File::create(&layer_file).map_err(|e| bad(r, e.to_string()))?;
                client
                    .pull_blob(r, &layer.digest, layer.size, &mut out, &NoProgress)
                    .map_err(|e| registry_error(r, e))?;
                drop(out);
                let file = std::fs::File::open(&layer_file).map_err(|e| bad(r, e.to_string()))?;
                let mut reader =
                    kiln_oci::flatten::decompressed(Box::new(std::io::BufReader::new(file)))
                        .map_err(|e| bad(r, e.to_string()))?;
                flattener
                    .apply(&mut reader)
                    .map_err(|e| bad(r, format!("layer {}: {e}", layer.digest)))?;
            }
            Ok(())
        },
    );
    let _ = std::fs::remove_file(&layer_file);
    Ok(made?.skipped)
}
