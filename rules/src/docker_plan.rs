//! A Dockerfile rootfs, planned: the Dockerfile is read (`kiln-dockerfile`) and each stage
//! the last one needs becomes a chain of engine steps (`steps/docker.rs`): a stage that no
//! `COPY --from` reaches gets none, and stages that do not read each other build in
//! parallel. ENV, ARG, CMD and ENTRYPOINT change no file: they go into the keys of the
//! steps after them, and the last stage's into the run's config (as kraft takes the image
//! config: Env to the environment, Entrypoint + Cmd when the Kraftfile has no `cmd`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_dockerfile::ignore::Ignore;
use kiln_dockerfile::state::States;
use kiln_dockerfile::{Base, CopySource, Dockerfile, Instr};
use kiln_engine::memo::TreeScanner;
use kiln_engine::step::Step;

use crate::diag::Diagnostic;
use crate::plan::PlanOptions;
use crate::project::Project;
use crate::steps::docker::{ContextStep, CopyFrom, FinalStep, Op, Shared, StateStep};
use crate::steps::docker_from::ImageStep;

/// The step id of the build context.
pub const CONTEXT: &str = "rootfs/context";

/// What the last stage leaves for the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// Its ENV, in order, as `K=V`.
    pub env: Vec<String>,
    /// ENTRYPOINT + CMD, a leading `/bin/sh -c` dropped as kraft does.
    pub cmd: Vec<String>,
}

/// The Dockerfile at `path` read with `build_args`; errors name the file and line.
pub fn read(path: &Path, build_args: &BTreeMap<String, String>) -> Result<Dockerfile, Diagnostic> {
    let text = crate::diag::read_utf8(path, "the Dockerfile")?;
    kiln_dockerfile::parse(&path.display().to_string(), &text, build_args)
        .map_err(|e| Diagnostic::new(path, e.to_string()))
}

/// The config the last stage of the project's Dockerfile gives, if its rootfs is one that
/// reads.
pub fn image_config(project: &Project) -> Option<ImageConfig> {
    let rootfs = project.kraftfile.rootfs.as_ref()?;
    let path = project.resolve(&rootfs.value);
    if !is_dockerfile(&path) {
        return None;
    }
    let df = read(&path, &BTreeMap::new()).ok()?;
    Some(config_of(&df, df.stages.len() - 1))
}

/// kraft's rule: a name that contains "dockerfile", in any case, is a Dockerfile.
pub fn is_dockerfile(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.to_ascii_lowercase().contains("dockerfile")
}

fn config_of(df: &Dockerfile, i: usize) -> ImageConfig {
    let stage = &df.stages[i];
    let mut out = match stage.base {
        Base::Stage(b) => config_of(df, b),
        _ => ImageConfig::default(),
    };
    let (mut entrypoint, mut cmd) = (Vec::new(), std::mem::take(&mut out.cmd));
    for l in &stage.instrs {
        match &l.instr {
            Instr::Env(pairs) => {
                for (k, v) in pairs {
                    out.env
                        .retain(|e| e.split_once('=').map(|(n, _)| n) != Some(k));
                    out.env.push(format!("{k}={v}"));
                }
            }
            Instr::Entrypoint(v) => {
                entrypoint = v.clone();
                cmd.clear();
            }
            Instr::Cmd(v) => cmd = v.clone(),
            _ => {}
        }
    }
    let mut all = entrypoint;
    all.extend(cmd);
    if all.len() >= 2 && all[0] == "/bin/sh" && all[1] == "-c" {
        all.drain(..2);
    }
    out.cmd = all;
    out
}

/// Plans the Dockerfile at `path` into `steps`; the last is the `rootfs` step (`id`).
#[allow(clippy::too_many_arguments)]
pub fn plan(
    project: &Project,
    path: &Path,
    id: &str,
    opts: &PlanOptions,
    scanner: &Arc<TreeScanner>,
    archs: &[String],
    checkouts: &Path,
    steps: &mut Vec<Arc<dyn Step>>,
) -> Result<(), Diagnostic> {
    let df = read(path, &opts.build_args)?;
    let file = path
        .strip_prefix(&project.dir)
        .unwrap_or(path)
        .display()
        .to_string();
    let shared = Arc::new(Shared {
        file: file.clone(),
        states: States::new(checkouts),
        storage: checkouts.with_file_name("buildah"),
        buildkit_host: opts.buildkit_host.clone(),
    });
    let mut p = Planner {
        project,
        opts,
        scanner,
        archs,
        checkouts,
        shared,
        file,
        df: &df,
        last: vec![None; df.stages.len()],
        image: vec![None; df.stages.len()],
        env: vec![BTreeMap::new(); df.stages.len()],
        workdir: vec!["/".to_string(); df.stages.len()],
        context: false,
        steps,
    };
    for i in df.needed() {
        p.stage(i)?;
    }
    let last = p.last[df.stages.len() - 1].clone();
    let shared = p.shared.clone();
    steps.push(Arc::new(FinalStep {
        id: id.into(),
        deps: last.into_iter().collect(),
        shared,
        scanner: scanner.clone(),
    }));
    Ok(())
}

struct Planner<'a> {
    project: &'a Project,
    opts: &'a PlanOptions,
    scanner: &'a Arc<TreeScanner>,
    archs: &'a [String],
    checkouts: &'a Path,
    shared: Arc<Shared>,
    file: String,
    df: &'a Dockerfile,
    /// Each stage's last state step.
    last: Vec<Option<String>>,
    /// Each stage's base image step.
    image: Vec<Option<String>>,
    /// Each stage's ENV at its end.
    env: Vec<BTreeMap<String, String>>,
    /// Each stage's WORKDIR at its end.
    workdir: Vec<String>,
    context: bool,
    steps: &'a mut Vec<Arc<dyn Step>>,
}

impl Planner<'_> {
    fn label(&self, i: usize) -> String {
        self.df.stages[i]
            .name
            .clone()
            .unwrap_or_else(|| i.to_string())
    }

    fn arch(&self, platform: Option<&str>) -> Result<String, String> {
        if let Some(p) = platform {
            let arch = p.split('/').nth(1).unwrap_or(p);
            return Ok(match arch {
                "amd64" => "x86_64".into(),
                a => a.to_string(),
            });
        }
        match self.archs {
            [a] => Ok(a.clone()),
            _ => Err(format!(
                "the Dockerfile pulls images, for one architecture, and the selected targets are \
                 for {}; choose one with --arch",
                self.archs.join(", ")
            )),
        }
    }

    fn image_step(
        &mut self,
        r: &str,
        platform: Option<&str>,
        line: u32,
    ) -> Result<String, Diagnostic> {
        let at = format!("{}:{line}", self.file);
        let reference = kiln_oci::Reference::parse(r, "docker.io")
            .map_err(|e| Diagnostic::new(Path::new(&self.file), format!("{at}: FROM {r}: {e}")))?;
        let arch = self.arch(platform);
        // `FROM --platform=` may pull the same image for another architecture.
        let id = match (platform, &arch) {
            (Some(_), Ok(a)) => format!("rootfs/image:{reference}:{a}"),
            _ => format!("rootfs/image:{reference}"),
        };
        if self.steps.iter().any(|s| s.id() == id) {
            return Ok(id);
        }
        let arch = match arch {
            Ok(a) => a,
            Err(why) => {
                return Err(Diagnostic::new(
                    Path::new(&self.file),
                    format!("{at}: {why}"),
                ));
            }
        };
        self.steps.push(Arc::new(ImageStep {
            id: id.clone(),
            reference,
            arch,
            checkouts: self.checkouts.to_path_buf(),
            resolver: self.opts.sources.clone(),
            at,
        }));
        Ok(id)
    }

    fn context_step(&mut self) -> Result<String, Diagnostic> {
        if !self.context {
            let ignore_file = self.project.dir.join(".dockerignore");
            let ignore = match std::fs::read_to_string(&ignore_file) {
                Ok(text) => Ignore::parse(&text).map_err(|(line, e)| {
                    Diagnostic::new(
                        &ignore_file,
                        format!("{}:{line}: {e}", ignore_file.display()),
                    )
                })?,
                Err(_) => Ignore::default(),
            };
            let mut skip = vec![".unikraft".to_string()];
            if let Ok(rel) = self.project.outdir().strip_prefix(&self.project.dir)
                && let Some(top) = rel.components().next()
            {
                skip.push(top.as_os_str().to_string_lossy().into_owned());
            }
            skip.sort();
            skip.dedup();
            self.steps.push(Arc::new(ContextStep {
                id: CONTEXT.into(),
                root: self.project.dir.clone(),
                skip,
                ignore: Arc::new(ignore),
                scanner: self.scanner.clone(),
                memo: self.project.state_dir(),
            }));
            self.context = true;
        }
        Ok(CONTEXT.into())
    }

    fn stage(&mut self, i: usize) -> Result<(), Diagnostic> {
        let stage = &self.df.stages[i];
        let label = self.label(i);
        let platform = stage.platform.as_deref();
        let goarch = match self.arch(platform) {
            Ok(a) if a == "x86_64" => "amd64".to_string(),
            Ok(a) => a,
            Err(_) => "amd64".to_string(),
        };
        let mut prev = match &stage.base {
            Base::Scratch => None,
            Base::Image(r) => {
                let id = self.image_step(r, platform, stage.line)?;
                self.image[i] = Some(id.clone());
                Some(id)
            }
            Base::Stage(b) => {
                self.image[i] = self.image[*b].clone();
                self.env[i] = self.env[*b].clone();
                self.workdir[i] = self.workdir[*b].clone();
                self.last[*b].clone()
            }
        };
        let mut args: BTreeMap<String, String> = BTreeMap::new();
        for l in &stage.instrs {
            let id = format!("rootfs/{label}:{}", l.line);
            let workdir = self.workdir[i].clone();
            let (op, reads) = match &l.instr {
                Instr::Env(pairs) => {
                    self.env[i].extend(pairs.iter().cloned());
                    continue;
                }
                Instr::Arg(pairs) => {
                    args.extend(pairs.iter().cloned());
                    continue;
                }
                Instr::Cmd(_) | Instr::Entrypoint(_) => continue,
                Instr::Workdir(w) => {
                    self.workdir[i] = w.clone();
                    (Op::Workdir(w.clone()), None)
                }
                Instr::Copy {
                    from,
                    sources,
                    dest,
                } => {
                    let (from, read) = match from {
                        CopySource::Context => {
                            let c = self.context_step()?;
                            (CopyFrom::Context(c.clone()), Some(c))
                        }
                        CopySource::Stage(b) => {
                            let s = self.last[*b].clone();
                            (CopyFrom::Stage(s.clone(), self.label(*b)), s)
                        }
                        CopySource::Image(r) => {
                            let s = self.image_step(r, platform, l.line)?;
                            (CopyFrom::Stage(Some(s.clone()), r.clone()), Some(s))
                        }
                    };
                    let op = Op::Copy {
                        from,
                        sources: sources.clone(),
                        dest: dest.clone(),
                        workdir,
                    };
                    (op, read)
                }
                Instr::Run { argv, mounts } => {
                    let mut env = args.clone();
                    env.extend(self.env[i].clone());
                    let op = Op::Run {
                        argv: argv.clone(),
                        env: env.into_iter().collect(),
                        workdir,
                        mounts: mounts.clone(),
                        platform: format!("linux/{goarch}"),
                    };
                    (op, self.image[i].clone())
                }
            };
            let mut deps: Vec<String> = prev.iter().cloned().collect();
            deps.extend(reads.filter(|r| !deps.contains(r)));
            self.steps.push(Arc::new(StateStep {
                id: id.clone(),
                deps,
                prev: prev.clone(),
                line: l.line,
                op,
                image: match &l.instr {
                    Instr::Run { .. } => self.image[i].clone(),
                    _ => None,
                },
                shared: self.shared.clone(),
            }));
            prev = Some(id);
        }
        self.last[i] = prev;
        Ok(())
    }
}

/// Where a project's Dockerfile states and buildah's storage go.
pub fn checkouts(opts: &PlanOptions, project: &Project) -> PathBuf {
    opts.cache_dir
        .clone()
        .unwrap_or_else(|| project.state_dir())
        .join("rootfs")
}
