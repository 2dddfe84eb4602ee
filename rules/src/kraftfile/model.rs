//! The typed Kraftfile model: what a parsed, checked Kraftfile says, with the
//! source position of the parts later steps may need to point at.
//!
//! This module only defines data and small, pure helpers (names, display
//! forms). It does not parse (see `convert`), resolve versions, fetch
//! sources or apply defaults that depend on the machine (`outdir` stays
//! `None` when not given; the plan applies `.unikraft/build`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

pub use crate::diag::Pos;

/// A value together with the position it was written at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it starts in the Kraftfile.
    pub pos: Pos,
}

/// A parsed Kraftfile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kraftfile {
    /// The file it was read from, as given by the caller.
    pub path: PathBuf,
    /// The `spec` (or `specification`) version.
    pub spec: SpecVersion,
    /// The project name: `name:` as written, or the directory's name
    /// normalised like kraft does (lower case, only `[a-z0-9_-]`, no leading `_`/`-`).
    pub name: String,
    /// `outdir:` as written; `None` means kraft's default `.unikraft/build`.
    pub outdir: Option<String>,
    /// The application's arguments (`cmd:`), split like a shell when written as a string.
    pub cmd: Vec<String>,
    /// `env:` in file order.
    pub env: Vec<EnvVar>,
    /// `labels:`.
    pub labels: BTreeMap<String, String>,
    /// `rootfs:` (a directory, a cpio archive or a Dockerfile, relative to the Kraftfile).
    pub rootfs: Option<Located<String>>,
    /// `volumes:` in file order.
    pub volumes: Vec<Volume>,
    /// `unikraft:` — the core to build from.
    pub unikraft: Option<Component>,
    /// `template:` — an application to build on.
    pub template: Option<Component>,
    /// `runtime:` — a prebuilt kernel to run the rootfs with.
    pub runtime: Option<Runtime>,
    /// `libraries:` by name.
    pub libraries: BTreeMap<String, Component>,
    /// `targets:` in file order (no two with the same [`Target::canonical_name`]).
    pub targets: Vec<Target>,
    /// Top-level `x-*` keys, untouched (after interpolation).
    pub extensions: BTreeMap<String, serde_json::Value>,
    /// What kraft accepts but is probably a mistake (a key given twice), to print as warnings.
    #[serde(skip)]
    pub warnings: Vec<crate::diag::Diagnostic>,
}

/// The Kraftfile format version and how it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecVersion {
    /// The version.
    pub version: KraftfileVersion,
    /// The value as written (`v0.6`, `0.5`, ...).
    pub raw: String,
}

/// The Kraftfile format versions kiln understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum KraftfileVersion {
    /// v0.5: `unikraft`, `targets`, `libraries`.
    #[serde(rename = "v0.5")]
    V0_5,
    /// v0.6: adds `runtime`, `rootfs`, `cmd`, `volumes`, `env`, `labels`, `template`.
    #[serde(rename = "v0.6")]
    V0_6,
}

impl fmt::Display for KraftfileVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KraftfileVersion::V0_5 => "v0.5",
            KraftfileVersion::V0_6 => "v0.6",
        })
    }
}

/// A source component: the Unikraft core, a template or a library.
///
/// The string form (`unikraft: stable`) is classified without touching the
/// disk: a string that contains `://`, looks like `user@host:path`, starts
/// with `/`, `.` or `~`, contains a `/`, or ends in `.git`/`.tar.gz` is a
/// `source`; anything else is a `version` (`stable`, `staging`, a tag, a
/// branch). A `?branch=`, `?tag=` or `?version=` query of a source URL also
/// sets the version. (kraft instead asks the disk whether the string is an
/// existing directory.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// `unikraft` for the core, the map key for a library, and for a
    /// template its `name`, the name derived from its source URL
    /// (`app-elfloader.git` -> `elfloader`), or the part before `:` of the
    /// string form (`elfloader:stable`).
    pub name: String,
    /// Where to get it: a URL or a path relative to the Kraftfile.
    pub source: Option<String>,
    /// Which version: `stable`, `staging`, a tag, a branch or a commit.
    pub version: Option<String>,
    /// Kconfig options this component sets.
    pub kconfig: Kconfig,
    /// Where the component is written.
    pub pos: Pos,
}

/// Kconfig options as they go into `.config`, before quoting: booleans are
/// `y`/`n`, numbers keep their spelling, strings are kept raw. Keys are
/// full symbol names starting with `CONFIG_`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Kconfig(pub BTreeMap<String, String>);

/// `runtime:` — a prebuilt unikernel to run the application with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Runtime {
    /// Which runtime, in the form it was written.
    pub reference: RuntimeRef,
    /// Kconfig options (map form only).
    pub kconfig: Kconfig,
    /// Where the runtime is written.
    pub pos: Pos,
}

/// The forms of `runtime:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuntimeRef {
    /// `[registry/]name[:tag][@sha256:…]`, a package such as `base:latest`, `python:3.12` or
    /// `localhost:5000/base:latest`.
    Package {
        /// The package name, with its registry when written.
        name: String,
        /// The tag after `:`.
        tag: Option<String>,
        /// The digest after `@`.
        #[serde(skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
    },
    /// `oci://image[:tag]`, an OCI image reference.
    Oci {
        /// The image, e.g. `unikraft.org/nginx` or `localhost:5000/x`.
        image: String,
        /// The tag after the last `:` of the last path segment.
        tag: Option<String>,
    },
    /// `kernel://path`, a kernel file on disk.
    Kernel {
        /// The path as written.
        path: String,
    },
    /// The map form `{source, version, kconfig}`.
    Source {
        /// `source:` as written.
        source: Option<String>,
        /// `version:` as written.
        version: Option<String>,
    },
}

/// A build target: one platform and architecture, with its own options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// `name:` if given.
    pub name: Option<String>,
    /// The platform (hypervisor).
    pub plat: Platform,
    /// The CPU architecture.
    pub arch: Arch,
    /// Kconfig options for this target only.
    pub kconfig: Kconfig,
    /// Where the target is written.
    pub pos: Pos,
}

impl Target {
    /// The target's name: `name:` if given, else `<plat>-<arch>` (e.g.
    /// `qemu-x86_64`). kraft falls back to the project name instead, which
    /// makes every unnamed target of a project share one name.
    pub fn canonical_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!("{}-{}", self.plat, self.arch),
        }
    }
}

/// A Unikraft platform. Aliases accepted when parsing: `firecracker` (fc), `kvm` (qemu).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// QEMU (and KVM).
    Qemu,
    /// Firecracker.
    Fc,
    /// Xen.
    Xen,
}

impl Platform {
    /// Every platform, in display order.
    pub const ALL: [Platform; 3] = [Platform::Qemu, Platform::Fc, Platform::Xen];

    /// Parses a platform name or alias (`firecracker`, `kvm`).
    pub fn from_name(name: &str) -> Option<Platform> {
        match name {
            "qemu" | "kvm" => Some(Platform::Qemu),
            "fc" | "firecracker" => Some(Platform::Fc),
            "xen" => Some(Platform::Xen),
            _ => None,
        }
    }
}

impl RuntimeRef {
    /// The package reference a registry runtime names (`None` for `kernel://` and the map
    /// form), as text for [`kiln_oci::Reference::parse`].
    pub fn package_reference(&self) -> Option<String> {
        match self {
            RuntimeRef::Package { name, tag, digest } => {
                let mut r = name.clone();
                if let Some(t) = tag {
                    r.push_str(&format!(":{t}"));
                }
                if let Some(d) = digest {
                    r.push_str(&format!("@{d}"));
                }
                Some(r)
            }
            RuntimeRef::Oci { image, tag } => Some(match tag {
                Some(t) => format!("{image}:{t}"),
                None => image.clone(),
            }),
            // kraft's map form names a package in `source:` (`unikraft.org/base`), its tag
            // in `version:`.
            RuntimeRef::Source {
                source: Some(source),
                version,
            } if !source.contains("://") || source.starts_with("oci://") => {
                let name = source.trim_start_matches("oci://");
                let tagged = name
                    .rsplit('/')
                    .next()
                    .is_some_and(|last| last.contains(':'));
                Some(match version {
                    Some(v) if !tagged && !name.contains('@') => format!("{name}:{v}"),
                    _ => name.to_string(),
                })
            }
            RuntimeRef::Kernel { .. } | RuntimeRef::Source { .. } => None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Qemu => "qemu",
            Platform::Fc => "fc",
            Platform::Xen => "xen",
        })
    }
}

/// A CPU architecture as Unikraft names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Arch {
    /// `x86_64`.
    #[serde(rename = "x86_64")]
    X86_64,
    /// `arm64` (AArch64).
    #[serde(rename = "arm64")]
    Arm64,
    /// `arm` (32-bit).
    #[serde(rename = "arm")]
    Arm,
}

impl Arch {
    /// Every architecture, in display order.
    pub const ALL: [Arch; 3] = [Arch::X86_64, Arch::Arm64, Arch::Arm];

    /// Parses an architecture name; only Unikraft's own names are accepted.
    pub fn from_name(name: &str) -> Option<Arch> {
        match name {
            "x86_64" => Some(Arch::X86_64),
            "arm64" => Some(Arch::Arm64),
            "arm" => Some(Arch::Arm),
            _ => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
            Arch::Arm => "arm",
        })
    }
}

/// One `env:` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    /// The variable's name.
    pub name: String,
    /// Its value; `None` when written as `NAME`, `NAME=`, `NAME: ""` or
    /// `NAME: ~`, which means "take the value from the host environment at
    /// build time" (kraft's rule: an empty value is looked up on the host).
    pub value: Option<String>,
}

/// One `volumes:` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Volume {
    /// `driver:` (long form only), e.g. `9pfs`.
    pub driver: Option<String>,
    /// The host path.
    pub source: String,
    /// The absolute path inside the unikernel.
    pub destination: String,
    /// Mounted read-only (`:ro`, `readonly: true` or `mode: ro`).
    pub readonly: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases() {
        assert_eq!(Platform::from_name("firecracker"), Some(Platform::Fc));
        assert_eq!(Platform::from_name("kvm"), Some(Platform::Qemu));
        assert_eq!(Platform::from_name("QEMU"), None);
        assert_eq!(Arch::from_name("arm64"), Some(Arch::Arm64));
        assert_eq!(Arch::from_name("amd64"), None);
        let t = Target {
            name: None,
            plat: Platform::Fc,
            arch: Arch::X86_64,
            kconfig: Kconfig::default(),
            pos: Pos { line: 1, column: 1 },
        };
        assert_eq!(t.canonical_name(), "fc-x86_64");
    }
}
