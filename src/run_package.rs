//! `kiln run REF`: boot a package from a registry (or kiln's store) as kraft does: the
//! manifest of the host's (or `--plat`/`--arch`'s) platform, its kernel and initrd, the
//! config's Cmd (or the arguments after `--`) and Env (plus `-e`).
//!
//! The kernel and initrd are taken out of the layers once per manifest into
//! `<cache>/oci/run/<manifest>/`, checked against the store's digests on the way.

use std::io::Read;
use std::path::{Path, PathBuf};

use kiln_engine::Store;
use kiln_oci::registry::pull::Selector;
use kiln_oci::store::{PackageRecord, PackageStore};
use kiln_rules::cmdline::{Cmdline, FstabEntry};
use kiln_rules::kraftfile::{Arch, Platform};

use crate::cli::RunArgs;
use crate::error::CliError;
use crate::session;

/// What to boot from a package.
pub struct PackageBoot {
    /// The platform.
    pub plat: Platform,
    /// The architecture.
    pub arch: Arch,
    /// The kernel file.
    pub kernel: PathBuf,
    /// The initrd file, if the package has one.
    pub initrd: Option<PathBuf>,
    /// The command line.
    pub cmdline: Cmdline,
    /// `oci://<reference>`, for `kiln ps`.
    pub label: String,
}

/// Whether `kiln run`'s DIR is a package reference rather than a project directory.
pub fn is_reference(args: &RunArgs) -> bool {
    let dir = &args.project.dir;
    args.project.kraftfile.is_none()
        && !dir.exists()
        && crate::pkg::parse_reference(&dir.to_string_lossy()).is_ok()
}

/// Pulls (when kiln does not hold it) and prepares the package `args.project.dir` names.
pub fn prepare(args: &RunArgs, default_plat: Platform) -> Result<PackageBoot, CliError> {
    let text = args.project.dir.to_string_lossy().to_string();
    let r = crate::pkg::parse_reference(&text)?;
    let plat = match &args.project.plat {
        Some(p) => Platform::from_name(p)
            .ok_or_else(|| CliError::Usage(format!("--plat {p}: not qemu, fc or xen")))?,
        None => default_plat,
    };
    let arch = match &args.project.arch {
        Some(a) => Arch::from_name(a)
            .ok_or_else(|| CliError::Usage(format!("--arch {a}: not x86_64, arm64 or arm")))?,
        None => kiln_rules::select::host_arch(),
    };
    let selector = Selector {
        os: Some(plat.to_string()),
        arch: Some(arch.to_string()),
        ..Selector::default()
    };
    let store = session::open_store()?;
    let packages = PackageStore::new(&session::cache_dir()?);
    let held = packages
        .get(&r)
        .ok()
        .flatten()
        .filter(|rec| pick(rec, &selector).is_some());
    let record = match held {
        Some(rec) => rec,
        None => crate::registry::pull(&r, &selector, args.project.offline)?,
    };
    let Some(digest) = pick(&record, &selector) else {
        let all: Vec<String> = record
            .manifests
            .iter()
            .map(|m| format!("{}/{}", m.plat, m.arch))
            .collect();
        return Err(CliError::Failed(format!(
            "{r} has no manifest for {plat}/{arch}; its index holds {}: choose one with --plat and --arch",
            all.join(", ")
        )));
    };
    let (kernel, initrd, config) = unpack(&store, &record, &digest)?;
    let urunc = record.format == "urunc";
    let mut cmdline = Cmdline::default();
    let mounts_itself = config
        .os_features
        .iter()
        .any(|f| f == "CONFIG_LIBVFSCORE_AUTOMOUNT_CI_INITRD=y");
    if initrd.is_some() && !mounts_itself {
        cmdline.fstab.push(FstabEntry::initrd());
    }
    cmdline.separator_always = plat == Platform::Fc;
    for e in config.config.env.iter().chain(&args.env) {
        let (k, v) = match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => match std::env::var(e) {
                Ok(v) => (e.clone(), v),
                Err(_) => {
                    return Err(CliError::Usage(format!(
                        "-e {e}: `{e}` is not set in this environment"
                    )));
                }
            },
        };
        match cmdline.env.iter_mut().find(|(n, _)| *n == k) {
            Some(slot) => slot.1 = v,
            None => cmdline.env.push((k, v)),
        }
    }
    let mut cmd = config.config.cmd.clone();
    if urunc && !cmd.is_empty() {
        // urunc's Cmd starts with the application's name, which Unikraft does not take.
        cmd.remove(0);
    }
    cmdline.app_args = if args.args.is_empty() {
        cmd
    } else {
        args.args.clone()
    };
    Ok(PackageBoot {
        plat,
        arch,
        kernel,
        initrd,
        cmdline,
        label: format!("oci://{r}"),
    })
}

fn pick(record: &PackageRecord, s: &Selector) -> Option<kiln_oci::Sha256> {
    record
        .manifests
        .iter()
        .find(|m| {
            s.os.as_ref()
                .is_none_or(|o| *o == m.plat || m.plat == "linux")
                && s.arch
                    .as_ref()
                    .is_none_or(|a| *a == m.arch || go_arch(a) == m.arch)
        })
        .map(|m| m.digest)
}

/// Go's name of an architecture (urunc packages are Linux images).
fn go_arch(a: &str) -> &str {
    match a {
        "x86_64" => "amd64",
        other => other,
    }
}

type Unpacked = (PathBuf, Option<PathBuf>, kiln_oci::spec::ImageConfig);

/// The kernel and initrd of manifest `digest`, taken out of its layers (once).
fn unpack(
    store: &dyn Store,
    record: &PackageRecord,
    digest: &kiln_oci::Sha256,
) -> Result<Unpacked, CliError> {
    let failed = |m: String| CliError::Failed(format!("{}: {m}", record.reference));
    let manifests =
        kiln_oci::registry::pull::manifests_of(store, record).map_err(|e| failed(e.to_string()))?;
    let (_, manifest) = manifests
        .iter()
        .find(|(d, _)| d == digest)
        .ok_or_else(|| failed("the manifest is missing".into()))?;
    let config = kiln_oci::registry::pull::config_of(store, record, manifest)
        .map_err(|e| failed(e.to_string()))?;
    let dir = session::cache_dir()?.join("oci/run").join(digest.hex());
    let wanted = [
        ("kernel", ["unikraft/bin/kernel", ".boot/kernel"]),
        ("initrd", ["unikraft/bin/initrd", ".boot/rootfs"]),
    ];
    let mut found: [Option<PathBuf>; 2] = [None, None];
    for (i, (name, paths)) in wanted.iter().enumerate() {
        let dest = dir.join(name);
        if dest.is_file() {
            found[i] = Some(dest);
            continue;
        }
        for layer in &manifest.layers {
            let Some(file) = record.blob(&layer.digest) else {
                continue;
            };
            for path in paths {
                if extract(store, &file, path, &dest)
                    .map_err(|e| failed(format!("layer {}: {e}", layer.digest)))?
                {
                    found[i] = Some(dest.clone());
                }
            }
        }
    }
    let [kernel, initrd] = found;
    let kernel = kernel.ok_or_else(|| {
        failed(format!(
            "manifest {digest} has no kernel (unikraft/bin/kernel or .boot/kernel)"
        ))
    })?;
    Ok((
        kernel,
        initrd.filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0)),
        config,
    ))
}

/// Writes member `path` of the layer blob `file` to `dest` (temporary file, then rename);
/// false when the layer has no such member.
fn extract(
    store: &dyn Store,
    file: &kiln_engine::OutputFile,
    path: &str,
    dest: &Path,
) -> Result<bool, String> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let temp = parent.join(format!(
        ".{}.{}.tmp",
        dest.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mut out = std::fs::File::create(&temp).map_err(|e| format!("{}: {e}", temp.display()))?;
    let mut reader = store.open_blob(file).map_err(|e| e.to_string())?;
    let found =
        kiln_oci::unpack::extract_member(&mut reader, path, &mut out).map_err(|e| e.to_string());
    // Read to the end, so that the store's hash check covers every byte.
    let rest = std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| e.to_string());
    let _ = reader.read(&mut [0u8; 1]);
    match (found, rest) {
        (Ok(true), Ok(_)) => std::fs::rename(&temp, dest)
            .map(|_| true)
            .map_err(|e| format!("{}: {e}", dest.display())),
        (Ok(false), Ok(_)) => {
            let _ = std::fs::remove_file(&temp);
            Ok(false)
        }
        (Err(e), _) | (_, Err(e)) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}
