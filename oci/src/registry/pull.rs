//! Pulling a package into kiln's store: the index (or manifest) the reference names, the
//! manifests matching the platform asked for, and their config and layer blobs. Every byte is
//! checked against the digest that names it while it streams; a blob is committed to the
//! store only when it matched, so a corrupted or cut-short download stores nothing. Blobs
//! kiln already holds (by SHA-256, in any package) are not downloaded again.

use kiln_engine::Store;

use super::RegistryError;
use super::client::{Client, TransferProgress};
use crate::blobs::Blob;
use crate::digest::Sha256;
use crate::kraftkit::ANNOTATION_KRAFTKIT_VERSION;
use crate::reference::Reference;
use crate::spec::{self, Descriptor, Index, Manifest};
use crate::store::{ManifestSummary, PackageRecord, PackageStore};

/// Which manifests of an index to take.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// The platform's os (`qemu`, `fc`, `xen`, `linux`), if one is asked for.
    pub os: Option<String>,
    /// The architecture, if one is asked for.
    pub arch: Option<String>,
    /// kconfig entries (`CONFIG_X=y`) a kraft package must list in `os.features`.
    pub features: Vec<String>,
    /// Exactly this manifest.
    pub digest: Option<Sha256>,
}

impl Selector {
    /// Whether the index entry `d` matches, as kraft matches: exact os and architecture, and
    /// every requested feature among the entry's `os.features`.
    pub fn matches(&self, d: &Descriptor) -> bool {
        let p = d.platform.clone().unwrap_or_default();
        self.digest.is_none_or(|x| x == d.digest)
            && self.os.as_ref().is_none_or(|os| *os == p.os)
            && self.arch.as_ref().is_none_or(|a| *a == p.architecture)
            && self.features.iter().all(|f| p.os_features.contains(f))
    }
}

/// What the index holds, for an error when nothing matches.
pub fn describe(manifests: &[Descriptor]) -> String {
    let list: Vec<String> = manifests
        .iter()
        .map(|d| {
            let p = d.platform.clone().unwrap_or_default();
            format!("{}/{}", p.os, p.architecture)
        })
        .collect();
    if list.is_empty() {
        "no manifests".into()
    } else {
        list.join(", ")
    }
}

/// What a tag (or digest) names for one platform: the digest the reference named (an index,
/// or the manifest itself) and the manifest [`Selector`] picks from it.
pub fn resolve(
    client: &Client,
    r: &Reference,
    selector: &Selector,
) -> Result<(Sha256, Sha256), RegistryError> {
    client.authenticate(r, false)?;
    let tag = match &r.digest {
        Some(d) => d.to_string(),
        None => r.tag_or_latest().to_string(),
    };
    let (bytes, top, media_type) = client.get_manifest(r, &tag)?;
    if media_type != spec::MEDIA_INDEX && media_type != spec::MEDIA_DOCKER_LIST {
        return Ok((top, top));
    }
    let index: Index = serde_json::from_slice(&bytes).map_err(|e| protocol(client, r, &e))?;
    let chosen = index
        .manifests
        .iter()
        .find(|d| selector.matches(d))
        .ok_or_else(|| RegistryError::NoMatch {
            reference: r.to_string(),
            wanted: wanted(selector),
            holds: describe(&index.manifests),
        })?;
    Ok((top, chosen.digest))
}

/// Pulls `r` (tag or digest) into `store`; the record is filed under `r` in `packages`.
pub fn pull(
    client: &Client,
    r: &Reference,
    selector: &Selector,
    store: &dyn Store,
    packages: &PackageStore,
    progress: &dyn TransferProgress,
) -> Result<PackageRecord, RegistryError> {
    client.authenticate(r, false)?;
    let tag_or_digest = match &r.digest {
        Some(d) => d.to_string(),
        None => r.tag_or_latest().to_string(),
    };
    let (top, top_digest, media_type) = client.get_manifest(r, &tag_or_digest)?;
    let mut record = PackageRecord::new(r, "oci", top_digest, &media_type);
    record.add(&put(store, &top, top_digest)?);
    let is_index = media_type == spec::MEDIA_INDEX || media_type == spec::MEDIA_DOCKER_LIST;
    let entries: Vec<(Option<Descriptor>, Vec<u8>, Sha256)> = if is_index {
        let index: Index = serde_json::from_slice(&top).map_err(|e| protocol(client, r, &e))?;
        if index.annotations.contains_key(ANNOTATION_KRAFTKIT_VERSION) {
            record.format = "kraftkit".into();
        }
        let chosen: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(|d| selector.matches(d))
            .collect();
        if chosen.is_empty() {
            return Err(RegistryError::NoMatch {
                reference: r.to_string(),
                wanted: wanted(selector),
                holds: describe(&index.manifests),
            });
        }
        let mut out = Vec::new();
        for d in chosen {
            let (bytes, digest, _) = client.get_manifest(r, &d.digest.to_string())?;
            record.add(&put(store, &bytes, digest)?);
            out.push((Some(d.clone()), bytes, digest));
        }
        out
    } else {
        vec![(None, top.clone(), top_digest)]
    };
    for (descriptor, bytes, digest) in entries {
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| protocol(client, r, &e))?;
        if manifest
            .annotations
            .keys()
            .any(|k| k.starts_with("com.urunc.unikernel."))
        {
            record.format = "urunc".into();
        }
        let mut size = bytes.len() as u64;
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            record.add(&fetch_blob(client, r, blob, store, packages, progress)?);
            size += blob.size;
        }
        let platform = descriptor.and_then(|d| d.platform).unwrap_or_default();
        record.manifests.push(ManifestSummary {
            digest,
            plat: platform.os,
            arch: platform.architecture,
            size,
        });
        record.created = record.created.or_else(|| {
            manifest
                .annotations
                .get("org.opencontainers.image.created")
                .cloned()
        });
    }
    packages
        .put(r, &record)
        .map_err(|e| RegistryError::Local(e.to_string()))?;
    Ok(record)
}

fn wanted(s: &Selector) -> String {
    let mut w = format!(
        "{}/{}",
        s.os.as_deref().unwrap_or("any platform"),
        s.arch.as_deref().unwrap_or("any architecture")
    );
    if !s.features.is_empty() {
        w.push_str(&format!(" with {}", s.features.join(" ")));
    }
    w
}

fn protocol(client: &Client, r: &Reference, e: &serde_json::Error) -> RegistryError {
    let _ = client;
    RegistryError::Protocol {
        registry: r.registry.clone(),
        reason: format!("{r}: a manifest does not parse: {e}"),
    }
}

fn put(store: &dyn Store, bytes: &[u8], digest: Sha256) -> Result<Blob, RegistryError> {
    let blob =
        crate::blobs::put_bytes(store, bytes).map_err(|e| RegistryError::Local(e.to_string()))?;
    if blob.sha256 != digest {
        return Err(RegistryError::Local(format!(
            "internal: {digest} changed while it was stored"
        )));
    }
    Ok(blob)
}

/// The blob `d`, from kiln's store when a package already holds it, else downloaded.
fn fetch_blob(
    client: &Client,
    r: &Reference,
    d: &Descriptor,
    store: &dyn Store,
    packages: &PackageStore,
    progress: &dyn TransferProgress,
) -> Result<Blob, RegistryError> {
    if let Ok(Some(file)) = packages.find_blob(&d.digest)
        && file.size == d.size
        && store.open_blob(&file).is_ok()
    {
        return Ok(Blob {
            sha256: d.digest,
            file,
        });
    }
    let mut writer = crate::digest::Sha256Writer::new(
        store
            .blob_writer()
            .map_err(|e| RegistryError::Local(e.to_string()))?,
    );
    client.pull_blob(r, &d.digest, d.size, &mut writer, progress)?;
    let (w, sha256, _) = writer.finish();
    if sha256 != d.digest {
        // pull_blob checked the same bytes; this would be a bug, never stored.
        return Err(RegistryError::Local(format!(
            "internal: {} hashed differently twice",
            d.digest
        )));
    }
    let file = w
        .commit(false)
        .map_err(|e| RegistryError::Local(e.to_string()))?;
    Ok(Blob { sha256, file })
}

/// A package's manifests as (descriptor, manifest) pairs, read back from the store.
pub fn manifests_of(
    store: &dyn Store,
    record: &PackageRecord,
) -> Result<Vec<(Sha256, Manifest)>, RegistryError> {
    let mut out = Vec::new();
    for m in &record.manifests {
        let bytes = super::push::read_blob(store, record, &m.digest)?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::Local(format!("{}: {e}", record.reference)))?;
        out.push((m.digest, manifest));
    }
    Ok(out)
}

/// The config of `manifest`, read back from the store.
pub fn config_of(
    store: &dyn Store,
    record: &PackageRecord,
    manifest: &Manifest,
) -> Result<spec::ImageConfig, RegistryError> {
    let bytes = super::push::read_blob(store, record, &manifest.config.digest)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| RegistryError::Local(format!("{}: its config: {e}", record.reference)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Platform;

    fn entry(os: &str, arch: &str, features: &[&str]) -> Descriptor {
        Descriptor {
            media_type: spec::MEDIA_MANIFEST.into(),
            digest: Sha256::of(format!("{os}{arch}").as_bytes()),
            size: 1,
            urls: vec![],
            annotations: Default::default(),
            platform: Some(Platform {
                architecture: arch.into(),
                os: os.into(),
                os_features: features.iter().map(|f| f.to_string()).collect(),
                ..Platform::default()
            }),
        }
    }

    #[test]
    fn selects_as_kraft_does_by_platform_architecture_and_features() {
        let all = [
            entry("qemu", "arm64", &["CONFIG_A=y"]),
            entry("qemu", "x86_64", &["CONFIG_A=y", "CONFIG_B=y"]),
            entry("fc", "x86_64", &["CONFIG_A=y"]),
        ];
        let pick = |s: &Selector| all.iter().position(|d| s.matches(d));
        let s = Selector {
            os: Some("qemu".into()),
            arch: Some("x86_64".into()),
            ..Selector::default()
        };
        assert_eq!(pick(&s), Some(1));
        let s = Selector {
            os: Some("fc".into()),
            features: vec!["CONFIG_B=y".into()],
            ..Selector::default()
        };
        assert_eq!(pick(&s), None, "every requested feature must be listed");
        let s = Selector {
            digest: Some(all[2].digest),
            ..Selector::default()
        };
        assert_eq!(pick(&s), Some(2));
        assert_eq!(describe(&all), "qemu/arm64, qemu/x86_64, fc/x86_64");
    }
}
