//! The OCI image-spec documents kiln writes and reads: descriptors, platforms, manifests,
//! indexes and image configs.
//!
//! The field order and the omitted-when-empty rules are those of image-spec v1.1.0's Go
//! structs (the version kraftkit pins), so that [`crate::gojson::to_vec`] gives kraft's exact
//! bytes. Maps are `BTreeMap`s because Go writes map keys sorted. Readers accept what other
//! writers add: unknown fields are ignored, missing optional fields default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `application/vnd.oci.image.index.v1+json`.
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.oci.image.manifest.v1+json`.
pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.config.v1+json`.
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// `application/vnd.oci.image.layer.v1.tar`: an uncompressed layer.
pub const MEDIA_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Docker's manifest list (read, never written).
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's schema 2 manifest (read, never written).
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

fn is_false(b: &bool) -> bool {
    !*b
}

/// A platform: os, architecture and, for kraft, the Unikraft version and kconfig.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    /// `x86_64`, `arm64`, `arm` for kraft; `amd64`, `arm64` for Linux images.
    #[serde(default)]
    pub architecture: String,
    /// `qemu`, `fc`, `xen` for kraft; `linux` for Linux images.
    #[serde(default)]
    pub os: String,
    /// kraft: the Unikraft version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// kraft: the kernel's kconfig as sorted `KEY=VALUE`.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// The CPU variant (`v8`); kiln writes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// The media type of what it points at.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: crate::Sha256,
    /// Size in bytes.
    pub size: u64,
    /// Alternative URLs; kiln writes none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform, for index entries and (kraft) the manifest's config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// [`MEDIA_MANIFEST`].
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, bottom first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (or Docker manifest list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// [`MEDIA_INDEX`].
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// One entry per manifest.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The `config` object of an image config (Docker's capitalised names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RunConfig {
    /// `KEY=VALUE` entries.
    #[serde(rename = "Env", default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// The entrypoint (read from Linux images; kraft writes none).
    #[serde(rename = "Entrypoint", default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    /// The command.
    #[serde(rename = "Cmd", default, skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    /// The working directory (read; kraft writes none).
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    /// Labels.
    #[serde(rename = "Labels", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Set by some Windows images; read and kept only.
    #[serde(rename = "ArgsEscaped", default, skip_serializing_if = "is_false")]
    pub args_escaped: bool,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The digests of the uncompressed layers.
    #[serde(default)]
    pub diff_ids: Vec<crate::Sha256>,
}

/// An image config. `created` is written only when SOURCE_DATE_EPOCH gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    /// RFC 3339, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The platform's architecture.
    #[serde(default)]
    pub architecture: String,
    /// The platform's os.
    #[serde(default)]
    pub os: String,
    /// kraft: the Unikraft version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// kraft: the kconfig.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// What to run.
    #[serde(default)]
    pub config: RunConfig,
    /// The layers' uncompressed digests.
    #[serde(default)]
    pub rootfs: RootFs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_other_writers_add() {
        let m: Manifest = serde_json::from_str(
            r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"x":1},"layers":[],"subject":{}}"#,
        )
        .unwrap();
        assert_eq!(m.config.size, 0);
        assert!(m.media_type.is_none());
    }
}
