//! kraft's package format, byte for byte (kraftkit `oci/pack.go`, `manifest.go`, `index.go`).
//!
//! Per target one manifest: an uncompressed single-file layer `unikraft/bin/kernel`
//! (annotated `org.unikraft.kernel.image`), then `unikraft/bin/initrd` (annotated
//! `org.unikraft.kernel.initrd`) when the initrd is not embedded; a config with the platform,
//! `os.version`, `os.features`, Env, Cmd and Labels; the config descriptor carries the
//! platform too (kraft dereferences it when it loads a package). One index per tag, whose
//! entries repeat the manifest's annotations and platform; kraft ignores entries without
//! `sh.kraftkit.version`. Readers find the files by their path in the layers, not by
//! annotation. kiln differs from kraft only where kraft is not reproducible: the creation
//! time comes from SOURCE_DATE_EPOCH (or is left out), and Env is sorted.

use std::collections::BTreeMap;

use kiln_engine::Store;

use crate::blobs::{Blob, BlobError, put_bytes, put_with};
use crate::gojson;
use crate::image::{LayerFile, PackageMeta, TargetImage};
use crate::spec::{self, Descriptor, ImageConfig, Index, Manifest, Platform, RootFs, RunConfig};
use crate::tar_layer::{Member, write_layer};

/// Where kraft puts the kernel in its layer.
pub const KERNEL_PATH: &str = "unikraft/bin/kernel";
/// Where kraft puts the initrd.
pub const INITRD_PATH: &str = "unikraft/bin/initrd";
/// kraft's kernel layer annotation.
pub const ANNOTATION_KERNEL: &str = "org.unikraft.kernel.image";
/// kraft's initrd layer annotation.
pub const ANNOTATION_INITRD: &str = "org.unikraft.kernel.initrd";
/// Without it kraft ignores a package.
pub const ANNOTATION_KRAFTKIT_VERSION: &str = "sh.kraftkit.version";

/// A target's manifest and every blob it needs, written into the store.
#[derive(Debug, Clone)]
pub struct BuiltManifest {
    /// The manifest's entry for the index.
    pub descriptor: Descriptor,
    /// Config, layers and the manifest itself.
    pub blobs: Vec<Blob>,
}

/// Writes the layers, config and manifest of `target` into `store`.
pub fn manifest(
    meta: &PackageMeta,
    target: TargetImage<'_>,
    store: &dyn Store,
) -> Result<BuiltManifest, BlobError> {
    let mut blobs = Vec::new();
    let mut layers = Vec::new();
    let mut add_layer = |file: LayerFile<'_>, path: &str, annotation: &str| {
        let blob = single_file_layer(store, path, file)?;
        layers.push(Descriptor {
            media_type: spec::MEDIA_LAYER_TAR.into(),
            digest: blob.sha256,
            size: blob.file.size,
            urls: vec![],
            annotations: BTreeMap::from([(annotation.to_string(), format!("/{path}"))]),
            platform: None,
        });
        blobs.push(blob);
        Ok::<_, BlobError>(())
    };
    add_layer(target.kernel, KERNEL_PATH, ANNOTATION_KERNEL)?;
    if let Some(initrd) = target.initrd {
        add_layer(initrd, INITRD_PATH, ANNOTATION_INITRD)?;
    }
    let platform = Platform {
        architecture: target.arch.clone(),
        os: target.plat.clone(),
        os_version: target.version.clone(),
        os_features: target.features.clone(),
        variant: None,
    };
    let config = ImageConfig {
        created: None,
        architecture: target.arch,
        os: target.plat,
        os_version: target.version.clone(),
        os_features: target.features,
        config: RunConfig {
            env: target.env,
            cmd: target.cmd,
            labels: target.labels,
            ..RunConfig::default()
        },
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: layers.iter().map(|l| l.digest).collect(),
        },
    };
    let config_blob = put_bytes(store, &gojson::to_vec(&config))?;
    let annotations = manifest_annotations(meta, target.version.as_deref());
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(spec::MEDIA_MANIFEST.into()),
        config: Descriptor {
            media_type: spec::MEDIA_CONFIG.into(),
            digest: config_blob.sha256,
            size: config_blob.file.size,
            urls: vec![],
            annotations: BTreeMap::new(),
            platform: Some(platform.clone()),
        },
        layers,
        annotations: annotations.clone(),
    };
    blobs.push(config_blob);
    let manifest_blob = put_bytes(store, &gojson::to_vec(&manifest))?;
    let descriptor = Descriptor {
        media_type: spec::MEDIA_MANIFEST.into(),
        digest: manifest_blob.sha256,
        size: manifest_blob.file.size,
        urls: vec![],
        annotations,
        platform: Some(platform),
    };
    blobs.push(manifest_blob);
    Ok(BuiltManifest { descriptor, blobs })
}

/// The index of `manifests` (in target order), as bytes.
pub fn index(meta: &PackageMeta, manifests: &[Descriptor]) -> Vec<u8> {
    let r = &meta.reference;
    let index = Index {
        schema_version: 2,
        media_type: Some(spec::MEDIA_INDEX.into()),
        manifests: manifests.to_vec(),
        annotations: BTreeMap::from([
            (
                "org.opencontainers.image.ref.name".into(),
                r.context_as_written(),
            ),
            (
                ANNOTATION_KRAFTKIT_VERSION.into(),
                meta.tool_version.clone(),
            ),
            ("io.containerd.image.name".into(), r.original.clone()),
        ]),
    };
    gojson::to_vec(&index)
}

fn manifest_annotations(meta: &PackageMeta, version: Option<&str>) -> BTreeMap<String, String> {
    let r = &meta.reference;
    let tagged = if r.explicit_registry {
        format!("{}:{}", r.name(), r.tag_or_latest())
    } else {
        format!("{}:{}", r.repository, r.tag_or_latest())
    };
    let mut a = BTreeMap::from([
        ("org.unikraft.image.name".to_string(), r.name()),
        (
            "org.opencontainers.image.ref.name".into(),
            r.context_as_written(),
        ),
        (
            ANNOTATION_KRAFTKIT_VERSION.into(),
            meta.tool_version.clone(),
        ),
        ("io.containerd.image.name".into(), tagged),
    ]);
    if let Some(v) = version {
        a.insert("org.unikraft.kernel.version".into(), v.to_string());
    }
    if let Some(c) = &meta.created {
        a.insert("org.opencontainers.image.created".into(), c.clone());
    }
    a
}

fn single_file_layer(
    store: &dyn Store,
    path: &str,
    file: LayerFile<'_>,
) -> Result<Blob, BlobError> {
    put_with(store, |w| {
        let mut member = [Member::File {
            path,
            mode: file.mode,
            size: file.size,
            data: file.data,
        }];
        write_layer(&mut member, w)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::{DEFAULT_REGISTRY, Reference};
    use kiln_engine::memstore::MemStore;

    fn golden(name: &str) -> Vec<u8> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/kraftkit-go");
        std::fs::read(dir.join(name)).unwrap()
    }

    fn bytes_of(store: &MemStore, blob: &Blob) -> Vec<u8> {
        store.blob(&blob.file.digest).unwrap()
    }

    /// The same inputs as the Go reproduction of kraftkit's writer (see the golden README).
    #[test]
    fn writes_krafts_exact_bytes() {
        let store = MemStore::default();
        let meta = PackageMeta {
            reference: Reference::parse("unikraft.org/helloworld:latest", DEFAULT_REGISTRY)
                .unwrap(),
            created: Some("2025-01-02T03:04:05Z".into()),
            tool_version: "0.11.6".into(),
        };
        let (kernel, initrd) = (golden("kernel.bin"), golden("initrd.cpio"));
        let mut features: Vec<String> = [
            "CONFIG_UK_NAME=helloworld",
            "CONFIG_PLAT_KVM=y",
            "CONFIG_KVM_VMM_QEMU=y",
            "CONFIG_ARCH_X86_64=y",
            "CONFIG_LIBUKDEBUG_PRINTK=y",
            "CONFIG_LIBUKDEBUG=y",
            "CONFIG_UK_FULLVERSION=0.17.0~a1b2c3d",
        ]
        .map(String::from)
        .to_vec();
        features.sort();
        let target = TargetImage {
            plat: "qemu".into(),
            arch: "x86_64".into(),
            kernel: LayerFile {
                data: &mut kernel.as_slice(),
                size: kernel.len() as u64,
                mode: 0o644,
            },
            initrd: Some(LayerFile {
                data: &mut initrd.as_slice(),
                size: initrd.len() as u64,
                mode: 0o600,
            }),
            features,
            version: Some("0.17.0~a1b2c3d".into()),
            app_name: "helloworld".into(),
            cmd: vec!["/bin/app".into(), "--x".into()],
            env: vec!["A=<b>&c".into()],
            labels: BTreeMap::from([("z".into(), "1".into()), ("a".into(), "2".into())]),
        };
        let built = manifest(&meta, target, &store).unwrap();
        let names = [
            "layer-kernel.tar",
            "layer-initrd.tar",
            "config.json",
            "manifest.json",
        ];
        for (blob, name) in built.blobs.iter().zip(names) {
            assert_eq!(bytes_of(&store, blob), golden(name), "{name}");
            assert_eq!(blob.sha256, crate::Sha256::of(&golden(name)), "{name}");
        }
        assert_eq!(index(&meta, &[built.descriptor]), golden("index.json"));
    }
}
