//! Planning the kernel steps: one `sources/*` step per component (shared by all targets) and
//! `kconfig`, `compile` and (with an embedded initrd) `embed` per target.
//!
//! The application (`A=`) is the template when there is one, else the project directory
//! itself, hashed without kiln's and kraft's own files, the Kraftfile and the rootfs (which
//! have steps of their own, so a rootfs edit never looks like an application change).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_engine::memo::TreeScanner;
use kiln_engine::step::Step;

use crate::kconfig::{self, EINITRD_PATH, WORK_PLACEHOLDER};
use crate::kraftfile::{Arch, Component, Kconfig, Pos, Target};
use crate::plan::{INITRD, PlanOptions};
use crate::project::Project;
use crate::select::host_arch;
use crate::sources::ComponentId;
use crate::steps::fetch::FetchStep;
use crate::steps::kernel::{CompileStep, EmbedStep, KconfigStep, KernelTarget};
use crate::steps::sources::{SourceLocation, SourcesStep};
use crate::toolchain::Toolchains;

/// Plans the kernel steps of a project's targets.
pub struct KernelPlanner<'p> {
    project: &'p Project,
    opts: &'p PlanOptions,
    core: String,
    libs: Vec<String>,
    app: String,
    toolchains: Arc<Toolchains>,
}

impl<'p> KernelPlanner<'p> {
    /// Adds the source steps to `steps`.
    pub fn new(
        project: &'p Project,
        opts: &'p PlanOptions,
        scanner: &Arc<TreeScanner>,
        steps: &mut Vec<Arc<dyn Step>>,
    ) -> Self {
        let kf = &project.kraftfile;
        let mut add = |id: String, location: SourceLocation, skip: Vec<String>| {
            steps.push(Arc::new(SourcesStep {
                id: id.clone(),
                location,
                skip,
                scanner: scanner.clone(),
            }));
            id
        };
        let git = vec![".git".to_string()];
        let default_core = Component {
            name: "unikraft".into(),
            source: None,
            version: None,
            kconfig: Kconfig::default(),
            pos: Pos { line: 1, column: 1 },
        };
        let core_c = kf.unikraft.as_ref().unwrap_or(&default_core);
        let core = add(
            "sources/unikraft".into(),
            component_location(project, &ComponentId::Core, core_c, opts),
            git.clone(),
        );
        let libs = kf
            .libraries
            .iter()
            .map(|(name, c)| {
                let id = ComponentId::Library(name.clone());
                let loc = component_location(project, &id, c, opts);
                add(format!("sources/lib/{name}"), loc, git.clone())
            })
            .collect();
        let app = match &kf.template {
            Some(t) => add(
                "sources/template".into(),
                component_location(project, &ComponentId::Template, t, opts),
                git,
            ),
            None => add(
                "sources/app".into(),
                SourceLocation::Dir(project.dir.clone()),
                app_skips(project, opts.cache_dir.as_deref()),
            ),
        };
        let tools_dir = opts
            .cache_dir
            .clone()
            .unwrap_or_else(|| project.state_dir());
        KernelPlanner {
            project,
            opts,
            core,
            libs,
            app,
            toolchains: Arc::new(Toolchains::new(&tools_dir.join("tools.json"))),
        }
    }

    /// The ids of the source steps, core first, application last.
    pub fn source_ids(&self) -> Vec<String> {
        let mut ids = vec![self.core.clone()];
        ids.extend(self.libs.iter().cloned());
        ids.push(self.app.clone());
        ids
    }

    /// Adds the kernel steps of target `t` (named `name`) and returns their ids.
    pub fn target_steps(
        &mut self,
        t: &Target,
        name: &str,
        env: &dyn Fn(&str) -> Option<String>,
        steps: &mut Vec<Arc<dyn Step>>,
    ) -> Vec<String> {
        let kf = &self.project.kraftfile;
        let mut options = kconfig::merged(kf, t, env);
        let work = self.project.state_dir().join("work").join(name);
        let embeds = kconfig::embeds_initrd(&options)
            && kf.rootfs.is_some()
            && !options.contains_key(EINITRD_PATH);
        if embeds {
            let path = format!("\"{WORK_PLACEHOLDER}/initramfs.cpio\"");
            options.insert(EINITRD_PATH.into(), path);
        }
        let target = Arc::new(KernelTarget {
            target: name.to_string(),
            name: kf.name.clone(),
            plat: t.plat,
            arch: t.arch,
            cross: cross_compile(t.arch),
            work: work.clone(),
            core: self.core.clone(),
            libs: self.libs.clone(),
            app: self.app.clone(),
            output: self
                .project
                .outdir()
                .join(format!("{}_{}-{}", kf.name, t.plat, t.arch)),
            toolchains: self.toolchains.clone(),
            jobserver: self.opts.jobserver.clone(),
            distribute: self.opts.distribute.clone(),
            source_date_epoch: self.opts.source_date_epoch,
            embeds_build_paths: options.get(kconfig::CONFIG_GZ).is_some_and(|v| v == "y"),
            shim: self.opts.shim.clone(),
            cache_dir: self.opts.cache_dir.clone(),
        });
        let sources = self.source_ids();
        let (kconfig_id, compile_id) = (format!("{name}/kconfig"), format!("{name}/compile"));
        let fetch_id = format!("{name}/fetch");
        let einitrd = embeds.then(|| work.join("initramfs.cpio"));
        steps.push(Arc::new(KconfigStep {
            id: kconfig_id.clone(),
            target: target.clone(),
            options,
            deps: sources.clone(),
        }));
        // Without a resolver (a plan made for tests of this crate) nothing is fetched by kiln.
        let fetch = self.opts.sources.as_ref().map(|resolver| {
            steps.push(Arc::new(FetchStep {
                id: fetch_id.clone(),
                target: target.clone(),
                deps: [vec![kconfig_id.clone()], sources.clone()].concat(),
                resolver: resolver.clone(),
                mode: self.opts.fetch_mode,
            }));
            fetch_id.clone()
        });
        steps.push(Arc::new(CompileStep {
            id: compile_id.clone(),
            target: target.clone(),
            deps: [
                vec![kconfig_id.clone()],
                sources.clone(),
                fetch.iter().cloned().collect(),
            ]
            .concat(),
            fetch: fetch.clone(),
            einitrd: einitrd.clone(),
        }));
        let mut ids = vec![kconfig_id.clone()];
        ids.extend(fetch.iter().cloned());
        ids.push(compile_id.clone());
        if let Some(einitrd) = einitrd {
            let embed_id = format!("{name}/embed");
            steps.push(Arc::new(EmbedStep {
                id: embed_id.clone(),
                target,
                deps: [
                    vec![compile_id, kconfig_id, INITRD.to_string()],
                    sources,
                    fetch.iter().cloned().collect(),
                ]
                .concat(),
                fetch,
                einitrd,
            }));
            ids.push(embed_id);
        }
        ids
    }
}

/// `CROSS_COMPILE` for building `arch` on this machine.
pub fn cross_compile(arch: Arch) -> String {
    if arch == host_arch() {
        return String::new();
    }
    match arch {
        Arch::X86_64 => "x86_64-linux-gnu-",
        Arch::Arm64 => "aarch64-linux-gnu-",
        Arch::Arm => "arm-linux-gnueabihf-",
    }
    .to_string()
}

/// What the application directory's tree leaves out: kiln's and kraft's state, git, the
/// Kraftfile and its lock, and the rootfs, the output directory and kiln's cache when they are
/// inside it (the cache changes during every build).
fn app_skips(project: &Project, cache: Option<&Path>) -> Vec<String> {
    let dir = project.dir.clone();
    let mut skip: Vec<String> = [".unikraft", ".git", "Kraftfile.lock"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let inside = |p: &Path| p.strip_prefix(&dir).ok().map(|r| r.display().to_string());
    let kraftfile = std::path::absolute(&project.kraftfile.path)
        .unwrap_or_else(|_| project.kraftfile.path.clone());
    skip.extend(inside(&kraftfile));
    skip.extend(inside(&kraftfile.with_file_name("Kraftfile.lock")));
    if let Some(r) = &project.kraftfile.rootfs {
        skip.extend(inside(&project.resolve(&r.value)));
    }
    skip.extend(inside(&project.outdir()));
    if let Some(cache) = cache {
        skip.extend(inside(
            &std::path::absolute(cache).unwrap_or_else(|_| cache.to_path_buf()),
        ));
    }
    skip.retain(|s| !s.is_empty());
    skip
}

/// Where component `id` comes from: resolved by the build's resolver when there is one
/// (git, `--source`, the config file, the lock), else a local directory or unresolved.
fn component_location(
    project: &Project,
    id: &ComponentId,
    c: &Component,
    opts: &PlanOptions,
) -> SourceLocation {
    if let Some(resolver) = &opts.sources {
        return SourceLocation::Resolve {
            resolver: resolver.clone(),
            id: id.clone(),
            component: c.clone(),
            kraftfile_dir: project.dir.clone(),
        };
    }
    if let Some(src) = &c.source {
        let local = !src.contains("://") && !src.contains('@');
        let path: PathBuf = project.resolve(src);
        if local && path.is_dir() {
            return SourceLocation::Dir(path);
        }
        if local {
            return SourceLocation::Unresolved(format!(
                "`{}` source `{src}` is not a directory ({})",
                c.name,
                path.display()
            ));
        }
    }
    let what = match (&c.source, &c.version) {
        (Some(s), Some(v)) => format!("`{s}` at `{v}`"),
        (Some(s), None) => format!("`{s}`"),
        (None, Some(v)) => format!("version `{v}`"),
        (None, None) => "the default version".to_string(),
    };
    if opts.offline {
        SourceLocation::Unresolved(format!(
            "`{}` ({what}) must be fetched from the network, but --offline is set",
            c.name
        ))
    } else {
        SourceLocation::Unresolved(format!(
            "`{}` ({what}) must be fetched; fetching remote sources is not implemented yet — \
             point `source:` at a local checkout",
            c.name
        ))
    }
}
