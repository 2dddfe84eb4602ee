//! urunc's package format: what `urunc` (the containerd runtime for unikernels) boots.
//!
//! One uncompressed layer holding `.boot/kernel`, `.boot/rootfs` (the initrd, when there is
//! one) and `urunc.json`, whose values are standard padded base64 (urunc decodes them); the
//! same `com.urunc.unikernel.*` values, plain, as manifest annotations and config labels (as
//! bunny writes them); the platform is Linux's (`linux/amd64`, `linux/arm64`), because
//! containerd selects by it. The config's Cmd is the application name and its arguments:
//! urunc takes it before the `cmdline` annotation.

use std::collections::BTreeMap;

use base64::Engine as _;
use kiln_engine::Store;

use crate::blobs::{BlobError, put_bytes, put_with};
use crate::gojson;
use crate::image::{PackageMeta, TargetImage};
use crate::kraftkit::BuiltManifest;
use crate::spec::{self, Descriptor, ImageConfig, Index, Manifest, Platform, RootFs, RunConfig};
use crate::tar_layer::{Member, write_layer};

/// What urunc cannot run, said before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum UruncError {
    /// urunc runs Unikraft on QEMU and Firecracker only.
    #[error(
        "urunc runs Unikraft on qemu and fc, not `{0}`; package this target with --format kraftkit"
    )]
    Platform(String),
    /// urunc's images are Linux images of amd64 or arm64.
    #[error("urunc images are linux/amd64 or linux/arm64; `{0}` has no urunc platform")]
    Arch(String),
    /// Writing a blob failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// Writes the layer, config and manifest of `target` in urunc's format.
pub fn manifest(
    meta: &PackageMeta,
    target: TargetImage<'_>,
    store: &dyn Store,
) -> Result<BuiltManifest, UruncError> {
    let hypervisor = match target.plat.as_str() {
        "qemu" => "qemu",
        "fc" => "firecracker",
        other => return Err(UruncError::Platform(other.into())),
    };
    let architecture = match target.arch.as_str() {
        "x86_64" => "amd64",
        "arm64" => "arm64",
        other => return Err(UruncError::Arch(other.into())),
    };
    let mut cmdline = vec![target.app_name.clone()];
    cmdline.extend(target.cmd.iter().cloned());
    let mut values = BTreeMap::from([
        ("com.urunc.unikernel.unikernelType", "unikraft".to_string()),
        ("com.urunc.unikernel.hypervisor", hypervisor.to_string()),
        ("com.urunc.unikernel.binary", "/.boot/kernel".to_string()),
        ("com.urunc.unikernel.cmdline", cmdline.join(" ")),
        ("com.urunc.unikernel.mountRootfs", "false".to_string()),
        ("com.urunc.unikernel.useDMBlock", "false".to_string()),
    ]);
    if target.initrd.is_some() {
        values.insert("com.urunc.unikernel.initrd", "/.boot/rootfs".into());
    }
    if let Some(v) = &target.version {
        // urunc compares a semantic version: `0.17.0~abc1234` is `0.17.0` to it.
        let plain = v.split(['~', '-']).next().unwrap_or(v);
        values.insert("com.urunc.unikernel.unikernelVersion", plain.to_string());
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let urunc_json: BTreeMap<&str, String> =
        values.iter().map(|(k, v)| (*k, b64.encode(v))).collect();
    let urunc_json = gojson::to_vec(&urunc_json);
    let layer = put_with(store, |w| {
        let mut members = vec![
            Member::Dir {
                path: ".boot/",
                mode: 0o755,
            },
            Member::File {
                path: ".boot/kernel",
                mode: target.kernel.mode,
                size: target.kernel.size,
                data: target.kernel.data,
            },
        ];
        if let Some(initrd) = target.initrd {
            members.push(Member::File {
                path: ".boot/rootfs",
                mode: initrd.mode,
                size: initrd.size,
                data: initrd.data,
            });
        }
        let mut json = urunc_json.as_slice();
        members.push(Member::File {
            path: "urunc.json",
            mode: 0o644,
            size: json.len() as u64,
            data: &mut json,
        });
        write_layer(&mut members, w)?;
        w.flush()
    })?;
    let mut labels = target.labels.clone();
    labels.extend(values.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let config = ImageConfig {
        created: meta.created.clone(),
        architecture: architecture.into(),
        os: "linux".into(),
        config: RunConfig {
            env: target.env,
            cmd: cmdline,
            labels,
            ..RunConfig::default()
        },
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![layer.sha256],
        },
        ..ImageConfig::default()
    };
    let config_blob = put_bytes(store, &gojson::to_vec(&config))?;
    let mut annotations: BTreeMap<String, String> = values
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    annotations.insert(
        "org.opencontainers.image.ref.name".into(),
        meta.reference.to_string(),
    );
    if let Some(c) = &meta.created {
        annotations.insert("org.opencontainers.image.created".into(), c.clone());
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(spec::MEDIA_MANIFEST.into()),
        config: descriptor(spec::MEDIA_CONFIG, &config_blob, None),
        layers: vec![descriptor(spec::MEDIA_LAYER_TAR, &layer, None)],
        annotations,
    };
    let manifest_blob = put_bytes(store, &gojson::to_vec(&manifest))?;
    let platform = Platform {
        architecture: architecture.into(),
        os: "linux".into(),
        ..Platform::default()
    };
    Ok(BuiltManifest {
        descriptor: descriptor(spec::MEDIA_MANIFEST, &manifest_blob, Some(platform)),
        blobs: vec![layer, config_blob, manifest_blob],
    })
}

/// The index of `manifests`, as bytes.
pub fn index(manifests: &[Descriptor]) -> Vec<u8> {
    gojson::to_vec(&Index {
        schema_version: 2,
        media_type: Some(spec::MEDIA_INDEX.into()),
        manifests: manifests.to_vec(),
        annotations: BTreeMap::new(),
    })
}

fn descriptor(media_type: &str, blob: &crate::Blob, platform: Option<Platform>) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: blob.sha256,
        size: blob.file.size,
        urls: vec![],
        annotations: BTreeMap::new(),
        platform,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::LayerFile;
    use crate::reference::{DEFAULT_REGISTRY, Reference};
    use kiln_engine::memstore::MemStore;

    /// The exact bytes of a urunc package of fixed inputs: `KILN_BLESS=1` rewrites the
    /// golden files in `tests/golden/urunc/` (review the diff: every byte is a format
    /// decision).
    #[test]
    fn writes_the_same_bytes_as_the_golden_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/urunc");
        let store = MemStore::default();
        let meta = PackageMeta {
            reference: Reference::parse("localhost:5000/hello:1.0", DEFAULT_REGISTRY).unwrap(),
            created: Some("2025-01-02T03:04:05Z".into()),
            tool_version: "0.1.0+kiln".into(),
        };
        let (kernel, initrd) = (vec![0x7fu8; 700], b"070701fake".to_vec());
        let target = TargetImage {
            plat: "qemu".into(),
            arch: "x86_64".into(),
            kernel: LayerFile {
                data: &mut kernel.as_slice(),
                size: 700,
                mode: 0o755,
            },
            initrd: Some(LayerFile {
                data: &mut initrd.as_slice(),
                size: 10,
                mode: 0o644,
            }),
            features: vec!["CONFIG_PLAT_KVM=y".into()],
            version: Some("0.17.0~abc1234".into()),
            app_name: "hello".into(),
            cmd: vec!["/bin/app".into(), "-v".into()],
            env: vec!["A=1".into()],
            labels: BTreeMap::from([("team".into(), "kiln".into())]),
        };
        let built = manifest(&meta, target, &store).unwrap();
        let index = index(std::slice::from_ref(&built.descriptor));
        let mut files = vec![("index.json", index)];
        for (blob, name) in built
            .blobs
            .iter()
            .zip(["layer.tar", "config.json", "manifest.json"])
        {
            files.push((name, store.blob(&blob.file.digest).unwrap()));
        }
        for (name, bytes) in files {
            let path = dir.join(name);
            if std::env::var_os("KILN_BLESS").is_some_and(|v| v == "1") {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            }
            let want = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (KILN_BLESS=1 makes it)", path.display()));
            assert_eq!(bytes, want, "{name} differs from {}", path.display());
        }
    }
}
