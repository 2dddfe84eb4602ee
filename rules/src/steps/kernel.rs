//! The kernel steps of one target: `kconfig` (make defconfig), `compile` (make) and `embed`
//! (the embedded initrd written into place, then make again: a relink).
//!
//! All three run Unikraft's make in the target's own persistent work directory (`O=`), so
//! make's incremental build still helps on a cache miss, and switching or adding targets
//! never rebuilds another one. The action cache decides whether make runs at all: a no-op
//! build never invokes it.
//!
//! Keys never depend on where the project is: the work directory appears in kconfig values
//! and in the stored `.config` only as [`WORK_PLACEHOLDER`], replaced by the real path when
//! the file is written for make. The `.config` the kconfig step produced is written before
//! every make call (when its content differs), so a stale or hand-edited `.config` never
//! overrides the Kraftfile (kraft's bug, kraftkit #2093).
//!
//! With an embedded initrd, `compile` builds against an empty archive at the fixed path, so
//! its result does not depend on the rootfs; `embed` then writes the real archive there and
//! runs make, which re-assembles one object and relinks. A rootfs change re-runs only
//! `initrd` and `embed`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_engine::step::{DepValues, ExecContext, Materialize, Prepared, Step, StepError};
use kiln_engine::{Action, ActionResult, Store, ToolFingerprint};

use crate::kconfig::{KconfigValues, WORK_PLACEHOLDER, defconfig_text};
use crate::kraftfile::{Arch, Platform};
use crate::make::{MakeSetup, run};
use crate::make_output::{Expected, MakeProgress, Phase, record_objects, recorded_objects};
use crate::steps::estimate::Estimate;
use crate::steps::sources::SourceDir;
use crate::toolchain::Toolchains;

/// Bump when what these steps do changes: every cached kernel is then rebuilt.
pub const RULE_VERSION: u32 = 4;

/// An empty newc archive (just the trailer), which `compile` builds against.
fn empty_newc() -> Result<Vec<u8>, StepError> {
    let mut bytes = Vec::new();
    crate::initrd::write_newc(
        &kiln_engine::Tree::default(),
        Path::new("/"),
        &crate::initrd::NewcOptions::default(),
        &mut bytes,
    )
    .map_err(|e| StepError::Failed(format!("internal: {e}")))?;
    Ok(bytes)
}

/// What the kernel steps of one target share.
pub struct KernelTarget {
    /// The target's name (for messages).
    pub target: String,
    /// `N=`: the project's name.
    pub name: String,
    /// The platform.
    pub plat: Platform,
    /// The architecture.
    pub arch: Arch,
    /// `CROSS_COMPILE=`.
    pub cross: String,
    /// The persistent work directory (`O=`).
    pub work: PathBuf,
    /// Step id of the core's sources.
    pub core: String,
    /// Step ids of the libraries' sources, in `L=` order.
    pub libs: Vec<String>,
    /// Step id of the application's sources (`A=`).
    pub app: String,
    /// Where the user expects the kernel (`<outdir>/<name>_<plat>-<arch>`).
    pub output: PathBuf,
    /// Tool fingerprints.
    pub toolchains: Arc<Toolchains>,
    /// The build-wide jobserver (absent in plans, which never execute).
    pub jobserver: Option<Arc<jobserver::Client>>,
    /// Spreads the compile's C compiles over other machines (`--distribute`).
    pub distribute: Option<Arc<crate::distribute::Distributor>>,
    /// `SOURCE_DATE_EPOCH` (or 0): the build date the kernel embeds.
    pub source_date_epoch: u32,
    /// The options embed the `.config` in the kernel (`CONFIG_LIBUKLIBID_INFO_UKCONFIGGZ`),
    /// and the `.config` holds the build's paths: the kernel then depends on where it is
    /// built, so those paths go into the keys.
    pub embeds_build_paths: bool,
    /// The kiln executable, for make's `WGET`/`GIT` (`kiln __wget`, `kiln __git`); `None`
    /// leaves make's own (tests of this crate).
    pub shim: Option<PathBuf>,
    /// The kiln cache directory, for the shims.
    pub cache_dir: Option<PathBuf>,
}

impl KernelTarget {
    /// The source step ids: core, libraries, application.
    pub fn source_ids(&self) -> Vec<String> {
        let mut ids = vec![self.core.clone()];
        ids.extend(self.libs.iter().cloned());
        ids.push(self.app.clone());
        ids
    }

    /// The kernel's file name as Unikraft writes it.
    pub fn kernel_file(&self) -> String {
        format!("{}_{}-{}", self.name, self.plat, self.arch)
    }

    fn tools(&self) -> Result<ToolFingerprint, StepError> {
        self.toolchains
            .fingerprint(&self.cross)
            .map_err(|e| StepError::Unresolved(format!("target {}: {e}", self.target)))
    }

    /// An action of `kind` over the sources and `extra` dependencies, with the tools.
    fn action(
        &self,
        kind: &str,
        deps: &DepValues<'_>,
        extra: &[&str],
    ) -> Result<Action, StepError> {
        let mut a = Action::new(kind, RULE_VERSION)
            .param("name", self.name.clone())
            .param("plat", self.plat.to_string())
            .param("arch", self.arch.to_string())
            .param("cross_compile", self.cross.clone())
            .param("source_date_epoch", self.source_date_epoch.to_string());
        for id in self
            .source_ids()
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied())
        {
            a = a.input(id, deps.digest(id)?);
        }
        // The version string the kernel embeds comes from the core's commit when it is a git
        // checkout (see `full_version`); a local core's comes from its tree digest, already
        // an input.
        let core = deps.data::<SourceDir>(&self.core)?;
        a = a.param("core_commit", core.commit.clone().unwrap_or_default());
        if self.embeds_build_paths {
            a = a.param("build_paths", self.setup(deps)?.paths_text());
        }
        a.tools = self.tools()?;
        Ok(a)
    }

    /// `UK_FULLVERSION` as kiln decides it: the version of the core's `version.mk`, then
    /// `~<7 hex of the commit>` for a git checkout (what Unikraft's `gitsha1` prints in a
    /// clean checkout), or `~tree.<8 hex of the tree digest>` for a local directory. Never
    /// the state of a git repository that happens to enclose the core. `None` if the core has
    /// no `version.mk` (then make's own value stands).
    fn full_version(&self, deps: &DepValues<'_>) -> Result<Option<String>, StepError> {
        let core = deps.data::<SourceDir>(&self.core)?;
        let Some(base) = crate::version::read_version_mk(&core.dir)
            .map_err(|e| StepError::Failed(format!("target {}: {e}", self.target)))?
        else {
            return Ok(None);
        };
        let suffix = match &core.commit {
            Some(commit) => commit.chars().take(7).collect::<String>(),
            None => format!("tree.{}", &deps.digest(&self.core)?.to_hex()[..8]),
        };
        Ok(Some(format!("{base}~{suffix}")))
    }

    pub(crate) fn setup(&self, deps: &DepValues<'_>) -> Result<MakeSetup, StepError> {
        let dir = |id: &str| deps.data::<SourceDir>(id).map(|s| s.dir.clone());
        Ok(MakeSetup {
            core: dir(&self.core)?,
            app: dir(&self.app)?,
            libs: self.libs.iter().map(|l| dir(l)).collect::<Result<_, _>>()?,
            work: self.work.clone(),
            name: self.name.clone(),
            cross: self.cross.clone(),
            source_date_epoch: self.source_date_epoch,
            full_version: None,
        })
    }

    /// Makes the work directory safe for a new make: stops a make that a killed kiln left
    /// running there and removes what it may have cut short. Call it before writing make's
    /// inputs (`.config`, the defconfig, the embedded initrd).
    fn recover_work(&self) {
        crate::make_guard::recover(&self.work);
    }

    fn make(
        &self,
        deps: &DepValues<'_>,
        goal: Option<&str>,
        extra: &[String],
        progress: &MakeProgress<'_>,
    ) -> Result<(), StepError> {
        self.make_in(deps, &self.work, goal, extra, &[], Some(progress))
    }

    /// make with `O=dir` (the work directory, or a scratch one), `extra` variables and `env`
    /// added to its cleared environment; its output goes to `<dir>/kiln-make.log`, and line
    /// by line to `progress`.
    pub(crate) fn make_in(
        &self,
        deps: &DepValues<'_>,
        dir: &Path,
        goal: Option<&str>,
        extra: &[String],
        env: &[(String, String)],
        progress: Option<&MakeProgress<'_>>,
    ) -> Result<(), StepError> {
        let js = self.jobserver.as_ref().ok_or_else(|| {
            StepError::Failed("internal: a kernel step ran without a jobserver".into())
        })?;
        let mut setup = self.setup(deps)?;
        setup.full_version = self.full_version(deps)?;
        setup.work = dir.to_path_buf();
        let mut cmd = setup.command(goal, extra);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let log = dir.join("kiln-make.log");
        run(cmd, goal.unwrap_or("build"), &log, js, progress)
            .map_err(|e| StepError::Failed(format!("target {}: {e}", self.target)))
    }

    /// The build goal of make, its C compiles spread by icecream when the build distributes
    /// (`distribute.rs`); a distributed make that fails runs once more with local compiles
    /// (make is incremental: the retry compiles only what did not come back).
    fn make_distributed(
        &self,
        deps: &DepValues<'_>,
        vars: &[String],
        env: &[(String, String)],
        progress: &MakeProgress<'_>,
    ) -> Result<(), StepError> {
        let more = self
            .distribute
            .as_ref()
            .and_then(|d| d.make_env(&self.target, &self.cross));
        let Some(more) = more else {
            return self.make_in(deps, &self.work, None, vars, env, Some(progress));
        };
        let mut all = env.to_vec();
        all.extend(more.into_iter().map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        }));
        self.make_in(deps, &self.work, None, vars, &all, Some(progress))
            .or_else(|e| {
                let first = e.to_string();
                let first = first.lines().next().unwrap_or_default().to_string();
                eprintln!(
                    "kiln: distribute: target {}: the distributed compile failed ({first}); \
                     compiling the rest locally",
                    self.target
                );
                self.make_in(deps, &self.work, None, vars, env, Some(progress))
            })
    }

    /// Writes the `.config` stored by the kconfig step, with the real work directory, unless
    /// the file already holds exactly that (rewriting it would make make rebuild).
    fn write_config(
        &self,
        deps: &DepValues<'_>,
        kconfig: &str,
        store: &dyn Store,
    ) -> Result<(), StepError> {
        self.write_config_in(deps, kconfig, store, &self.work)
    }

    /// [`Self::write_config`] into another build directory `dir` (the work directory's path
    /// still stands for [`WORK_PLACEHOLDER`]).
    pub(crate) fn write_config_in(
        &self,
        deps: &DepValues<'_>,
        kconfig: &str,
        store: &dyn Store,
        dir: &Path,
    ) -> Result<(), StepError> {
        let out = deps
            .result(kconfig)?
            .outputs
            .get("config")
            .copied()
            .ok_or_else(|| {
                StepError::Failed("internal: the kconfig step has no `config` output".into())
            })?;
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let staged = dir.join(".config.kiln");
        store.materialize(&out, &staged)?;
        let text = read(&staged)?;
        let _ = std::fs::remove_file(&staged);
        let real = text.replace(WORK_PLACEHOLDER, &self.work.display().to_string());
        write_if_changed(&dir.join(".config"), real.as_bytes())
    }

    /// Fails if `make defconfig` dropped an option the target implies (the architecture, the
    /// platform, the VMM): the core does not know it, and the kernel would not be for this
    /// target, whatever its file name says.
    fn check_implied(&self, config: &str) -> Result<(), StepError> {
        let got = crate::dotconfig::parse_dotconfig(config).map_err(|e| {
            StepError::Failed(format!(
                "target {}: cannot read the .config make wrote: {e}",
                self.target
            ))
        })?;
        for (sym, want) in crate::kconfig::implied_for(self.plat, self.arch) {
            if got.get(&sym) != Some(&want) {
                return Err(StepError::Failed(format!(
                    "target {}: `make defconfig` dropped {sym}={want}, which {}/{} needs: this \
                     Unikraft core does not offer that platform or architecture; use a core \
                     that does, or remove the target",
                    self.target, self.plat, self.arch
                )));
            }
        }
        Ok(())
    }

    /// Stores the kernel and its `.dbg` from the work directory.
    fn store_kernel(&self, store: &dyn Store) -> Result<ActionResult, StepError> {
        let mut outputs = BTreeMap::new();
        for (name, file) in [
            ("kernel", self.kernel_file()),
            ("dbg", format!("{}.dbg", self.kernel_file())),
        ] {
            let path = self.work.join(&file);
            if !path.is_file() {
                return Err(StepError::Failed(format!(
                    "target {}: make succeeded but did not produce {}",
                    self.target,
                    path.display()
                )));
            }
            outputs.insert(name.to_string(), store.put_file(&path, true)?);
        }
        Ok(ActionResult::with_outputs(outputs))
    }

    fn materializations(&self) -> Vec<Materialize> {
        let dbg = PathBuf::from(format!("{}.dbg", self.output.display()));
        vec![
            Materialize {
                output: "kernel".into(),
                dest: self.output.clone(),
            },
            Materialize {
                output: "dbg".into(),
                dest: dbg,
            },
        ]
    }
}

fn io_error(path: &Path, e: std::io::Error) -> StepError {
    StepError::Failed(format!("{}: {e}", path.display()))
}

fn read(path: &Path) -> Result<String, StepError> {
    std::fs::read_to_string(path).map_err(|e| io_error(path, e))
}

/// Writes `bytes` to `path` unless it already holds them; make goes by mtimes.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), StepError> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    kiln_engine::fsutil::write_atomic(path, bytes).map_err(|e| io_error(path, e))
}

/// `kconfig`: the merged options through `make defconfig` into a `.config`.
pub struct KconfigStep {
    /// `<target>/kconfig`.
    pub id: String,
    /// The target.
    pub target: Arc<KernelTarget>,
    /// The merged options (see `kconfig.rs`), with [`WORK_PLACEHOLDER`] for the work dir.
    pub options: KconfigValues,
    /// The source step ids.
    pub deps: Vec<String>,
}

impl Step for KconfigStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "kconfig"
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        let mut a = self.target.action("kconfig", deps, &[])?;
        for (k, v) in &self.options {
            a = a.param(&format!("option:{k}"), v.clone());
        }
        Ok(Prepared::Action(a))
    }
    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError> {
        let t = &self.target;
        t.recover_work();
        let work = t.work.display().to_string();
        let defconfig = t.work.join("kiln.defconfig");
        let text = defconfig_text(&self.options).replace(WORK_PLACEHOLDER, &work);
        write_if_changed(&defconfig, text.as_bytes())?;
        let extra = [format!("UK_DEFCONFIG={}", defconfig.display())];
        let progress = MakeProgress::new(ctx.events, Phase::Kconfig, None);
        t.make(deps, Some("defconfig"), &extra, &progress)?;
        progress.finish();
        let config = read(&t.work.join(".config"))?;
        t.check_implied(&config)?;
        let config = config.replace(&work, WORK_PLACEHOLDER);
        let mut w = ctx.store.blob_writer()?;
        std::io::Write::write_all(&mut w, config.as_bytes())
            .map_err(|e| StepError::Failed(format!("storing the .config: {e}")))?;
        let out = w.commit(false)?;
        Ok(ActionResult::with_outputs(BTreeMap::from([(
            "config".to_string(),
            out,
        )])))
    }
}

/// `compile`: make, against an empty embedded initrd when the kernel embeds one.
pub struct CompileStep {
    /// `<target>/compile`.
    pub id: String,
    /// The target.
    pub target: Arc<KernelTarget>,
    /// The kconfig step id, then the source step ids, then the fetch step id.
    pub deps: Vec<String>,
    /// The fetch step id (none when kiln does not take over make's downloads).
    pub fetch: Option<String>,
    /// Where the embedded initrd goes, when there is one (the `embed` step then
    /// materializes the kernel instead of this step).
    pub einitrd: Option<PathBuf>,
}

impl Step for CompileStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "compile"
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        let mut extra = vec![self.deps[0].as_str()];
        extra.extend(self.fetch.as_deref());
        let a = self.target.action("compile", deps, &extra)?;
        Ok(Prepared::Action(
            a.param("einitrd", self.einitrd.is_some().to_string()),
        ))
    }
    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError> {
        let t = &self.target;
        t.recover_work();
        t.write_config(deps, &self.deps[0], ctx.store)?;
        if let Some(einitrd) = &self.einitrd {
            write_if_changed(einitrd, &empty_newc()?)?;
        }
        let (vars, env) = match &self.fetch {
            Some(fetch) => t.fetch_shims(deps, fetch, ctx.store)?,
            None => Default::default(),
        };
        // A work directory without a kernel compiles everything: its count is the next
        // build's expected total. Without a count yet, a dry run estimates one meanwhile
        // (see `estimate.rs`), stopped if make ends first.
        let full = !t.work.join(t.kernel_file()).exists();
        let recorded = recorded_objects(&t.work);
        let progress = MakeProgress::new(ctx.events, Phase::Prepare, recorded);
        let estimate = Estimate::default();
        std::thread::scope(|scope| {
            if recorded.is_none() && full {
                let (progress, kconfig, estimate) = (&progress, &self.deps[0], &estimate);
                scope.spawn(move || {
                    if let Some(objects) = t.estimate_objects(deps, kconfig, ctx.store, estimate) {
                        progress.set_expected(Expected {
                            objects,
                            estimated: true,
                        });
                    }
                });
            }
            let made = t.make_distributed(deps, &vars, &env, &progress);
            estimate.cancel();
            made
        })?;
        let objects = progress.finish();
        if full {
            record_objects(&t.work, objects);
        }
        t.store_kernel(ctx.store)
    }
    fn materialize(&self) -> Vec<Materialize> {
        match self.einitrd {
            Some(_) => Vec::new(),
            None => self.target.materializations(),
        }
    }
}

/// `embed`: the real initrd at the fixed path, then make again (a relink).
pub struct EmbedStep {
    /// `<target>/embed`.
    pub id: String,
    /// The target.
    pub target: Arc<KernelTarget>,
    /// compile, kconfig and initrd step ids, then the source step ids, then the fetch step.
    pub deps: Vec<String>,
    /// The fetch step id (none when kiln does not take over make's downloads).
    pub fetch: Option<String>,
    /// Where the embedded initrd goes.
    pub einitrd: PathBuf,
}

impl Step for EmbedStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "embed"
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        let mut extra = vec![self.deps[0].as_str(), &self.deps[1], &self.deps[2]];
        extra.extend(self.fetch.as_deref());
        Ok(Prepared::Action(self.target.action("embed", deps, &extra)?))
    }
    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError> {
        self.target.recover_work();
        self.target.write_config(deps, &self.deps[1], ctx.store)?;
        let initrd = deps
            .result(&self.deps[2])?
            .outputs
            .get("initrd")
            .copied()
            .ok_or_else(|| {
                StepError::Failed("internal: the initrd step has no `initrd` output".into())
            })?;
        ctx.store.materialize(&initrd, &self.einitrd)?;
        let t = &self.target;
        let (vars, env) = match &self.fetch {
            Some(fetch) => t.fetch_shims(deps, fetch, ctx.store)?,
            None => Default::default(),
        };
        let progress = MakeProgress::new(ctx.events, Phase::Prepare, None);
        t.make_in(deps, &t.work, None, &vars, &env, Some(&progress))?;
        progress.finish();
        t.store_kernel(ctx.store)
    }
    fn materialize(&self) -> Vec<Materialize> {
        self.target.materializations()
    }
}
