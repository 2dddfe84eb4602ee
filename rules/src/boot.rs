//! What to boot for a target: the kernel file, the initrd passed at boot (if any), the
//! shared directories and the kernel command line, from the Kraftfile and `kiln run`'s flags.
//!
//! Kernel projects boot `<outdir>/<name>_<plat>-<arch>`; runtime projects boot their runtime
//! (`kernel://path`, or a registry package's kernel, which the `<target>/kernel` step puts at
//! the same path as a kernel project's). The
//! initrd is passed at boot when there is a rootfs the kernel does not embed, with a
//! `vfs.fstab` entry to extract it to `/` unless the kernel's own configuration mounts it.
//! Volumes become 9p shares (`fs1`, `fs2`, ... numbered as kraft does) with fstab entries. The Kraftfile's `cmd` is the
//! default application arguments; arguments after `--` replace it. This module starts nothing.

use std::path::PathBuf;

use crate::cmdline::{Cmdline, FstabEntry};
use crate::kconfig;
use crate::kraftfile::{RuntimeRef, Target};
use crate::project::Project;

/// `kiln run`'s own inputs.
#[derive(Debug, Clone, Default)]
pub struct RunInputs {
    /// `-e K=V` (a bare `K` takes the host's value).
    pub env: Vec<String>,
    /// Arguments after `--`, replacing the Kraftfile's `cmd`.
    pub args: Option<Vec<String>>,
    /// `-v HOST:GUEST[:ro]`.
    pub volumes: Vec<String>,
}

/// A directory shared with the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The host directory (absolute).
    pub host: PathBuf,
    /// The 9p tag.
    pub tag: String,
    /// Read-only.
    pub readonly: bool,
}

/// Everything `kiln run` needs besides the VMM's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootPlan {
    /// The kernel image.
    pub kernel: PathBuf,
    /// The initrd passed at boot.
    pub initrd: Option<PathBuf>,
    /// Shared directories.
    pub shares: Vec<Share>,
    /// The kernel command line.
    pub cmdline: Cmdline,
}

/// Plans the boot of `target` of `project`. Errors are user-facing messages.
pub fn boot_plan(
    project: &Project,
    target: &Target,
    inputs: &RunInputs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BootPlan, String> {
    let kf = &project.kraftfile;
    let options = kconfig::merged(kf, target, env);
    let kernel = kernel_path(project, target)?;
    let embedded = project.builds_kernel() && kconfig::embeds_initrd(&options);
    let initrd = (kf.rootfs.is_some() && !embedded).then(|| {
        project
            .outdir()
            .join(format!("initramfs-{}.cpio", target.arch))
    });
    let mut cmdline = Cmdline::default();
    let mounts_itself = options
        .get("CONFIG_LIBVFSCORE_AUTOMOUNT_CI_INITRD")
        .map(String::as_str)
        == Some("y");
    if initrd.is_some() && !mounts_itself {
        cmdline.fstab.push(FstabEntry::initrd());
    }
    cmdline.separator_always = target.plat == crate::kraftfile::Platform::Fc;
    let shares = shares(project, inputs, &mut cmdline)?;
    cmdline.env = env_vars(project, inputs, env)?;
    // A Dockerfile rootfs's ENTRYPOINT + CMD is the command when the Kraftfile has none, as
    // kraft takes it from the image config.
    let image_cmd = || match kf.cmd.is_empty() {
        true => crate::docker_plan::image_config(project).map_or_else(Vec::new, |c| c.cmd),
        false => kf.cmd.clone(),
    };
    cmdline.app_args = inputs.args.clone().unwrap_or_else(image_cmd);
    Ok(BootPlan {
        kernel,
        initrd,
        shares,
        cmdline,
    })
}

fn kernel_path(project: &Project, target: &Target) -> Result<PathBuf, String> {
    let kf = &project.kraftfile;
    if project.builds_kernel() {
        let file = format!("{}_{}-{}", kf.name, target.plat, target.arch);
        return Ok(project.outdir().join(file));
    }
    match kf.runtime.as_ref().map(|r| &r.reference) {
        Some(RuntimeRef::Kernel { path }) => Ok(project.resolve(path)),
        // The `<target>/kernel` step puts a registry runtime's kernel where a kernel
        // project's goes.
        Some(r) if r.package_reference().is_some() => {
            let file = format!("{}_{}-{}", kf.name, target.plat, target.arch);
            Ok(project.outdir().join(file))
        }
        Some(other) => Err(format!(
            "the runtime {} is built from sources, which kiln does not do for runtimes; \
             point `runtime:` at a package or at a kernel file with `kernel://PATH`",
            describe(other)
        )),
        None => Err("the Kraftfile has no kernel to boot: add `unikraft:` or `runtime:`".into()),
    }
}

fn describe(r: &RuntimeRef) -> String {
    match r {
        RuntimeRef::Package { name, tag, .. } => {
            format!("`{name}:{}`", tag.as_deref().unwrap_or("latest"))
        }
        RuntimeRef::Oci { image, tag } => {
            format!("`oci://{image}:{}`", tag.as_deref().unwrap_or("latest"))
        }
        RuntimeRef::Kernel { path } => format!("`kernel://{path}`"),
        RuntimeRef::Source { source, version } => format!(
            "from `{}` at `{}`",
            source.as_deref().unwrap_or("?"),
            version.as_deref().unwrap_or("?")
        ),
    }
}

/// The Kraftfile's volumes, then `-v`: each a 9p share mounted at its destination (Unikraft
/// creating the mount point). Tags are numbered as kraft numbers them: `fs<i+1>` for the
/// i-th volume, the initrd (when passed) counting as the first, so the first share is `fs2`
/// with an initrd and `fs1` without.
fn shares(
    project: &Project,
    inputs: &RunInputs,
    cmdline: &mut Cmdline,
) -> Result<Vec<Share>, String> {
    let mut all: Vec<(PathBuf, String, bool)> = project
        .kraftfile
        .volumes
        .iter()
        .map(|v| {
            (
                project.resolve(&v.source),
                v.destination.clone(),
                v.readonly,
            )
        })
        .collect();
    for v in &inputs.volumes {
        all.push(parse_volume(v)?);
    }
    let mut out = Vec::new();
    let first = 1 + cmdline.fstab.len();
    for (i, (host, guest, readonly)) in all.into_iter().enumerate() {
        if !host.is_dir() {
            return Err(format!(
                "volume source {} is not a directory",
                host.display()
            ));
        }
        let tag = format!("fs{}", first + i);
        cmdline.fstab.push(FstabEntry::ninep(&tag, &guest));
        out.push(Share {
            host,
            tag,
            readonly,
        });
    }
    Ok(out)
}

/// `-v HOST:GUEST[:ro|:rw]`.
pub fn parse_volume(v: &str) -> Result<(PathBuf, String, bool), String> {
    let parts: Vec<&str> = v.split(':').collect();
    let (host, guest, ro) = match parts.as_slice() {
        [h, g] => (*h, *g, false),
        [h, g, "ro"] => (*h, *g, true),
        [h, g, "rw"] => (*h, *g, false),
        _ => return Err(format!("-v {v}: expected HOST:GUEST or HOST:GUEST:ro")),
    };
    if !guest.starts_with('/') {
        return Err(format!("-v {v}: the guest path `{guest}` must be absolute"));
    }
    let host = std::path::absolute(host).map_err(|e| format!("-v {v}: {e}"))?;
    Ok((host, guest.to_string(), ro))
}

/// A Dockerfile rootfs's ENV, then the Kraftfile's `env` (empty values taken from the
/// host), then `-e` (each wins over the one before).
fn env_vars(
    project: &Project,
    inputs: &RunInputs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, String> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut set = |k: String, v: String| match vars.iter_mut().find(|(n, _)| *n == k) {
        Some(slot) => slot.1 = v,
        None => vars.push((k, v)),
    };
    for e in crate::docker_plan::image_config(project).map_or_else(Vec::new, |c| c.env) {
        if let Some((k, v)) = e.split_once('=') {
            set(k.to_string(), v.to_string());
        }
    }
    for e in &project.kraftfile.env {
        if let Some(v) = e.value.clone().or_else(|| env(&e.name)) {
            set(e.name.clone(), v);
        }
    }
    for e in &inputs.env {
        match e.split_once('=') {
            Some((k, v)) if !k.is_empty() => set(k.to_string(), v.to_string()),
            None if !e.is_empty() => match env(e) {
                Some(v) => set(e.clone(), v),
                None => return Err(format!("-e {e}: `{e}` is not set in this environment")),
            },
            _ => return Err(format!("-e {e}: expected NAME=VALUE or NAME")),
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kraftfile::parse_str;

    fn project(dir: &std::path::Path, text: &str) -> Project {
        let path = dir.join("Kraftfile");
        std::fs::write(&path, text).unwrap();
        let kraftfile = parse_str(text, &path, &|_| None).unwrap();
        Project {
            dir: dir.to_path_buf(),
            kraftfile,
            relocated: None,
        }
    }

    #[test]
    fn runtime_project_passes_its_initrd_with_an_fstab_entry() {
        let d = tempfile::tempdir().unwrap();
        let p = project(
            d.path(),
            "spec: v0.6\nruntime: kernel://./k\nrootfs: ./r\ncmd: [\"/app\", \"-v\"]\nenv:\n  A: \"1\"\n",
        );
        let t = &crate::select::select_targets(&p, &Default::default()).unwrap()[0];
        let host = |k: &str| (k == "B").then(|| "from host".to_string());
        let inputs = RunInputs {
            env: vec!["A=2".into(), "B".into()],
            ..RunInputs::default()
        };
        let plan = boot_plan(&p, t, &inputs, &host).unwrap();
        assert_eq!(plan.kernel, d.path().join("k"));
        assert_eq!(plan.initrd, Some(p.outdir().join("initramfs-x86_64.cpio")));
        assert_eq!(
            plan.cmdline.render(),
            "vfs.fstab=[ \"initrd0:/:extract:::\" ] env.vars=[ \"A=2\" \"B=from host\" ] -- /app -v"
        );
    }

    #[test]
    fn args_after_dashes_replace_cmd_and_volumes_become_9p_shares() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("data")).unwrap();
        let p = project(
            d.path(),
            "spec: v0.6\nruntime: kernel://k\ncmd: [\"/app\"]\n",
        );
        let t = &crate::select::select_targets(&p, &Default::default()).unwrap()[0];
        let data = d.path().join("data");
        let inputs = RunInputs {
            args: Some(vec!["x".into()]),
            volumes: vec![format!("{}:/data:ro", data.display())],
            ..RunInputs::default()
        };
        let plan = boot_plan(&p, t, &inputs, &|_| None).unwrap();
        assert_eq!(plan.initrd, None);
        assert_eq!(
            plan.shares,
            vec![Share {
                host: data,
                tag: "fs1".into(),
                readonly: true
            }]
        );
        assert_eq!(
            plan.cmdline.render(),
            "vfs.fstab=[ \"fs1:/data:9pfs:::mkmp\" ] -- x"
        );
    }

    #[test]
    fn without_cmd_the_separator_still_follows_the_parameters() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("data")).unwrap();
        let p = project(d.path(), "spec: v0.6\nruntime: kernel://k\nrootfs: ./r\n");
        let t = &crate::select::select_targets(&p, &Default::default()).unwrap()[0];
        let inputs = RunInputs {
            volumes: vec![format!("{}:/data", d.path().join("data").display())],
            ..RunInputs::default()
        };
        let plan = boot_plan(&p, t, &inputs, &|_| None).unwrap();
        // The first share after the initrd is fs2, as kraft numbers it.
        assert_eq!(plan.shares[0].tag, "fs2");
        assert_eq!(
            plan.cmdline.render(),
            "vfs.fstab=[ \"initrd0:/:extract:::\" \"fs2:/data:9pfs:::mkmp\" ] --"
        );
    }

    #[test]
    fn registry_runtimes_boot_what_their_kernel_step_puts_in_outdir() {
        let d = tempfile::tempdir().unwrap();
        let p = project(
            d.path(),
            "spec: v0.6\nname: demo\nruntime: localhost:5000/base:latest\n",
        );
        let t = &crate::select::select_targets(&p, &Default::default()).unwrap()[0];
        let plan = boot_plan(&p, t, &RunInputs::default(), &|_| None).unwrap();
        let want = format!("demo_{}-{}", t.plat, t.arch);
        assert_eq!(plan.kernel, p.outdir().join(want));
        let p2 = project(
            d.path(),
            "spec: v0.6\nruntime:\n  source: https://x.example/u.git\n",
        );
        let err = boot_plan(&p2, t, &RunInputs::default(), &|_| None).unwrap_err();
        assert!(
            err.contains("built from sources") && err.contains("kernel://PATH"),
            "{err}"
        );
        let bad = RunInputs {
            env: vec!["NOPE".into()],
            ..RunInputs::default()
        };
        let p = project(d.path(), "spec: v0.6\nruntime: kernel://k\n");
        let err = boot_plan(&p, t, &bad, &|_| None).unwrap_err();
        assert!(err.contains("`NOPE` is not set"), "{err}");
    }
}
