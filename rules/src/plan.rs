//! Planning: a project and the selected targets become the engine's step graph.
//!
//! Per project: `rootfs` and `initrd` (shared by all targets: the archive does not depend
//! on the architecture; it is copied to `initramfs-<arch>.cpio` for each), and one
//! `sources/<component>` step per component. Per target: `<target>/kconfig`,
//! `<target>/compile` and, when the kernel embeds its initrd, `<target>/embed`.
//! Invalid inputs (a rootfs path that does not exist) are [`Diagnostic`]s; inputs that can
//! only not be resolved *now* become unresolved steps. This module runs nothing.

use std::path::PathBuf;
use std::sync::Arc;

use kiln_engine::memo::{ChangeWatcher, TreeScanner};
use kiln_engine::step::Step;

use crate::diag::Diagnostic;
use crate::kernel_plan::KernelPlanner;
use crate::kraftfile::Target;
use crate::project::Project;
use crate::select::{TargetFilter, select_targets};
use crate::steps::initrd::InitrdStep;
use crate::steps::package::{IndexStep, PackageContent, PackageOptions, TargetPackageStep};
use crate::steps::rootfs::{RootfsKind, RootfsStep};
use crate::steps::runtime::{RuntimeKernelStep, RuntimeStep};

/// How to plan.
#[derive(Clone, Default)]
pub struct PlanOptions {
    /// Which targets.
    pub filter: TargetFilter,
    /// Never touch the network.
    pub offline: bool,
    /// The mtime written into archives (SOURCE_DATE_EPOCH, or 0).
    pub source_date_epoch: u32,
    /// A change watcher that lets unchanged source trees go unscanned.
    pub watcher: Option<Arc<dyn ChangeWatcher>>,
    /// Only a plan: read watcher memos but write none.
    pub read_only: bool,
    /// The build's jobserver, shared by every make (absent for plans, which run nothing).
    pub jobserver: Option<Arc<jobserver::Client>>,
    /// Spreads the compile steps' C compiles over icecream's workers (`--distribute`).
    pub distribute: Option<Arc<crate::distribute::Distributor>>,
    /// The machine-wide cache directory (for remembered tool versions); default: the
    /// project's state directory.
    pub cache_dir: Option<PathBuf>,
    /// Resolves git sources, `--source` redirections and the lock file; without one, only
    /// local directories named in the Kraftfile resolve.
    pub sources: Option<Arc<crate::sources::SourceResolver>>,
    /// The kiln executable, for make's `WGET`/`GIT` shims (`kiln __wget`, `kiln __git`).
    pub shim: Option<PathBuf>,
    /// How the fetch steps treat the download cache (`kiln fetch`, `--refresh`).
    pub fetch_mode: FetchMode,
    /// `kiln pkg`: add the `<target>/package` steps and the `package` index.
    pub package: Option<PackageOptions>,
    /// Plan the runtime steps of a project on a registry `runtime:` (`kiln run`, `pkg`,
    /// `lock`, `plan`; a build needs only the initrd).
    pub runtime_kernel: bool,
    /// `--build-arg`s, for a Dockerfile rootfs's ARGs.
    pub build_args: std::collections::BTreeMap<String, String>,
    /// `KILN_BUILDKIT_HOST`: RUN goes to this BuildKit instead of buildah.
    pub buildkit_host: Option<String>,
}

/// How the fetch steps treat the download cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FetchMode {
    /// A build: a fetch step is an ordinary cached step.
    #[default]
    Build,
    /// `kiln fetch`: every fetch step runs, downloading only what the cache lacks (a second
    /// `kiln fetch` makes no request).
    Fill,
    /// `kiln fetch --refresh`: every URL is asked again, so a server that now sends other
    /// bytes than the lock pins is found.
    Refresh,
}

/// One selected target and the ids of every step it needs, dependencies first.
#[derive(Debug, Clone)]
pub struct PlannedTarget {
    /// The target as the Kraftfile (or the runtime default) gives it.
    pub target: Target,
    /// Its canonical name.
    pub name: String,
    /// Step ids, in dependency order.
    pub steps: Vec<String>,
}

/// The graph for a build.
pub struct BuildPlan {
    /// Selected targets.
    pub targets: Vec<PlannedTarget>,
    /// All steps.
    pub steps: Vec<Arc<dyn Step>>,
    /// The scanner the steps hash through (save its stat cache after a build).
    pub scanner: Arc<TreeScanner>,
    /// Whether any step compiles a kernel.
    pub builds_kernel: bool,
}

/// The step id of the rootfs source.
pub const ROOTFS: &str = "rootfs";
/// The step id of the initrd archive.
pub const INITRD: &str = "initrd";
/// The step id of the package's index (`kiln pkg`).
pub const PACKAGE: &str = "package";

/// Plans `project` for the targets `opts` selects.
pub fn plan(
    project: &Project,
    opts: &PlanOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BuildPlan, Diagnostic> {
    let targets = select_targets(project, &opts.filter)?;
    let state = project.state_dir();
    let mut scanner = TreeScanner::new(&state.join("statcache"), &state.join("watch"));
    if let Some(w) = &opts.watcher {
        scanner = scanner.with_watcher(w.clone(), !opts.read_only);
    }
    let scanner = Arc::new(scanner);
    let mut steps: Vec<Arc<dyn Step>> = Vec::new();
    let mut shared = Vec::new();
    if let Some(kind) = rootfs_kind(project)? {
        let mut archs: Vec<_> = targets.iter().map(|t| t.arch).collect();
        archs.sort();
        archs.dedup();
        let outdir = project.outdir();
        let checkouts = opts
            .cache_dir
            .clone()
            .unwrap_or_else(|| project.state_dir())
            .join("rootfs");
        let archs_s: Vec<String> = archs.iter().map(|a| a.to_string()).collect();
        if let RootfsKind::Dockerfile(path) = &kind {
            let checkouts = crate::docker_plan::checkouts(opts, project);
            let before = steps.len();
            crate::docker_plan::plan(
                project, path, ROOTFS, opts, &scanner, &archs_s, &checkouts, &mut steps,
            )?;
            // Every step of the Dockerfile but the last (`rootfs`, added below) is shown.
            shared.extend(
                steps[before..steps.len() - 1]
                    .iter()
                    .map(|s| s.id().to_string()),
            );
        } else {
            steps.push(Arc::new(RootfsStep {
                id: ROOTFS.into(),
                kind,
                scanner: scanner.clone(),
                checkouts,
                resolver: opts.sources.clone(),
                archs: archs_s,
            }));
        }
        steps.push(Arc::new(InitrdStep {
            id: INITRD.into(),
            deps: vec![ROOTFS.into()],
            mtime: opts.source_date_epoch,
            dests: archs
                .iter()
                .map(|a| outdir.join(format!("initramfs-{a}.cpio")))
                .collect(),
        }));
        shared.extend([ROOTFS.to_string(), INITRD.to_string()]);
    }
    let builds_kernel = project.builds_kernel();
    let mut kernels =
        builds_kernel.then(|| KernelPlanner::new(project, opts, &scanner, &mut steps));
    let mut planned = Vec::new();
    let mut package_ids = Vec::new();
    for t in targets {
        let name = t.canonical_name();
        let mut ids = Vec::new();
        if let Some(k) = &mut kernels {
            ids.extend(k.source_ids());
        }
        ids.extend(shared.iter().cloned());
        let runtime_ids = runtime_steps(project, &t, &name, opts, &mut steps)?;
        if !runtime_ids.is_empty() {
            if let Some(options) = &opts.package {
                let step = target_package(project, &t, &name, &runtime_ids[1..], options, env);
                package_ids.push(step.id.clone());
                ids.extend(runtime_ids);
                ids.push(step.id.clone());
                steps.push(Arc::new(step));
            } else {
                ids.extend(runtime_ids);
            }
        }
        if let Some(k) = &mut kernels {
            let kernel_ids = k.target_steps(&t, &name, env, &mut steps);
            if let Some(options) = &opts.package {
                let step = target_package(project, &t, &name, &kernel_ids, options, env);
                package_ids.push(step.id.clone());
                ids.extend(kernel_ids);
                ids.push(step.id.clone());
                steps.push(Arc::new(step));
            } else {
                ids.extend(kernel_ids);
            }
        }
        planned.push(PlannedTarget {
            target: t,
            name,
            steps: ids,
        });
    }
    if let Some(options) = &opts.package
        && !package_ids.is_empty()
    {
        steps.push(Arc::new(IndexStep {
            id: PACKAGE.into(),
            deps: package_ids,
            options: options.clone(),
        }));
        for t in &mut planned {
            t.steps.push(PACKAGE.into());
        }
    }
    Ok(BuildPlan {
        targets: planned,
        steps,
        scanner,
        builds_kernel,
    })
}

fn rootfs_kind(project: &Project) -> Result<Option<RootfsKind>, Diagnostic> {
    let Some(rootfs) = &project.kraftfile.rootfs else {
        return Ok(None);
    };
    let path = project.resolve(&rootfs.value);
    let text = || std::fs::read_to_string(&project.kraftfile.path).unwrap_or_default();
    let at = |msg: String| {
        let width = rootfs.value.chars().count() as u32;
        Diagnostic::new(&project.kraftfile.path, msg).at(rootfs.pos, width, &text())
    };
    // kraft's rule: a name that contains "dockerfile", in any case, is a Dockerfile.
    // (A missing one is unresolved, as any missing rootfs path, below.)
    if crate::docker_plan::is_dockerfile(&path) && path.is_file() {
        return Ok(Some(RootfsKind::Dockerfile(path)));
    }
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(_) if looks_like_image(&rootfs.value) => {
            // kraft's rule: what is not a file or directory is an image reference (Docker's
            // default registry for names without one, as `FROM` would take them).
            return match kiln_oci::Reference::parse(&rootfs.value, "docker.io") {
                Ok(r) => Ok(Some(RootfsKind::Image(r))),
                Err(e) => Err(at(e.to_string())),
            };
        }
        Err(e) => {
            let where_ = format!("{}:{}", project.kraftfile.path.display(), rootfs.pos);
            return Ok(Some(RootfsKind::Missing(format!(
                "{where_}: rootfs `{}` cannot be read ({e}): looked at {}, relative to the \
                 project directory {}; point `rootfs:` at a directory, a cpio archive or a \
                 Dockerfile, or run kiln from the directory it is relative to (or give it as \
                 DIR)",
                rootfs.value,
                path.display(),
                project.dir.display()
            ))));
        }
    };
    if meta.is_dir() {
        return Ok(Some(RootfsKind::Dir(path)));
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".tar") || name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        return Ok(Some(RootfsKind::Tar(path)));
    }
    crate::initrd::check_newc(&path).map_err(|e| {
        at(format!(
            "rootfs `{}` is not a directory or a cpio newc archive",
            rootfs.value
        ))
        .with_note(e.to_string())
    })?;
    Ok(Some(RootfsKind::Cpio(path)))
}

/// The `<target>/package` step: it packages the last kernel step (`embed`, else `compile`),
/// with the initrd as a layer unless the kernel embeds it.
fn target_package(
    project: &Project,
    t: &Target,
    name: &str,
    kernel_ids: &[String],
    options: &PackageOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> TargetPackageStep {
    let kf = &project.kraftfile;
    let kernel = kernel_ids.last().cloned().unwrap_or_default();
    let config = kernel_ids[0].clone();
    let initrd = (kf.rootfs.is_some() && !kernel.ends_with("/embed")).then(|| INITRD.to_string());
    let mut deps = vec![kernel.clone()];
    if config != kernel {
        deps.push(config.clone());
    }
    deps.extend(initrd.clone());
    let image = crate::docker_plan::image_config(project).unwrap_or_default();
    let mut env_vars: Vec<String> = image
        .env
        .into_iter()
        .filter(|e| {
            !kf.env
                .iter()
                .any(|v| e.split_once('=').map(|(k, _)| k) == Some(&v.name))
        })
        .collect();
    env_vars.extend(kf.env.iter().map(|v| {
        let value = v.value.clone().or_else(|| env(&v.name)).unwrap_or_default();
        format!("{}={value}", v.name)
    }));
    env_vars.sort();
    let cmd = match kf.cmd.is_empty() {
        true => image.cmd,
        false => kf.cmd.clone(),
    };
    TargetPackageStep {
        id: format!("{name}/package"),
        deps,
        kernel_step: kernel,
        config_step: config,
        initrd_step: initrd,
        options: options.clone(),
        content: PackageContent {
            plat: t.plat.to_string(),
            arch: t.arch.to_string(),
            app_name: kf.name.clone(),
            cmd,
            env: env_vars,
            labels: kf.labels.clone(),
        },
    }
}

/// `<target>/runtime` and `<target>/kernel` for a project whose `runtime:` is a registry
/// package (none otherwise, and none unless `opts.runtime_kernel`).
fn runtime_steps(
    project: &Project,
    t: &Target,
    name: &str,
    opts: &PlanOptions,
    steps: &mut Vec<Arc<dyn Step>>,
) -> Result<Vec<String>, Diagnostic> {
    let kf = &project.kraftfile;
    let (Some(runtime), Some(resolver)) = (&kf.runtime, &opts.sources) else {
        return Ok(vec![]);
    };
    let Some(text) = runtime.reference.package_reference() else {
        return Ok(vec![]);
    };
    if !opts.runtime_kernel || project.builds_kernel() {
        return Ok(vec![]);
    }
    let reference =
        kiln_oci::Reference::parse(&text, &resolver.default_registry()).map_err(|e| {
            let src = std::fs::read_to_string(&kf.path).unwrap_or_default();
            Diagnostic::new(&kf.path, e.to_string()).at(
                runtime.pos,
                text.chars().count() as u32,
                &src,
            )
        })?;
    let mut requested = crate::kconfig::implied(t);
    requested.extend(
        runtime
            .kconfig
            .0
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    requested.extend(t.kconfig.0.iter().map(|(k, v)| (k.clone(), v.clone())));
    let features = requested
        .iter()
        .map(|(k, v)| {
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            format!("{k}={v}")
        })
        .collect();
    let selector = kiln_oci::registry::pull::Selector {
        os: Some(t.plat.to_string()),
        arch: Some(t.arch.to_string()),
        features,
        digest: None,
    };
    let (runtime_id, kernel_id) = (format!("{name}/runtime"), format!("{name}/kernel"));
    steps.push(Arc::new(RuntimeStep {
        id: runtime_id.clone(),
        target: name.to_string(),
        reference,
        selector,
        resolver: resolver.clone(),
    }));
    steps.push(Arc::new(RuntimeKernelStep {
        id: kernel_id.clone(),
        deps: vec![runtime_id.clone()],
        resolver: resolver.clone(),
        dest: project
            .outdir()
            .join(format!("{}_{}-{}", kf.name, t.plat, t.arch)),
    }));
    Ok(vec![runtime_id, kernel_id])
}

/// Whether a `rootfs:` that names no file reads as an image reference: a tag, a digest or a
/// registry (`alpine:3`, `localhost:5000/base`), never a relative or absolute path.
fn looks_like_image(value: &str) -> bool {
    !value.starts_with(['.', '/', '~'])
        && (value.contains(':') || value.contains('@') || value.contains('/'))
        && kiln_oci::Reference::parse(value, "docker.io").is_ok()
}

/// The path kiln materializes a target's initrd to (for tests and the CLI).
pub fn initrd_path(project: &Project, arch: &str) -> PathBuf {
    project.outdir().join(format!("initramfs-{arch}.cpio"))
}
