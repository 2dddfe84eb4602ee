//! A Dockerfile rootfs as engine steps (planned by `docker_plan.rs`):
//!
//! - `rootfs/context` (source): the project directory less `.unikraft/` and
//!   `.dockerignore`, scanned through the stat cache;
//! - `rootfs/<stage>/from` (source): a `FROM <image>`, pulled for the target's platform and
//!   flattened (`sources/image.rs`);
//! - `rootfs/<stage>:<line>` (action): one COPY, WORKDIR or RUN. Its key is the state
//!   before it, the instruction, and the entries it reads (one input per copied path, so
//!   `--explain` names an edited file) or, for RUN, its command, environment and platform;
//! - `rootfs` (source): the last stage's last state, which the initrd step packs.
//!
//! States are immutable directories of the cache (`kiln_dockerfile::state`); an action's
//! only output is its state's listing, so the state after a COPY that changed nothing has
//! the same digest, and the steps after it are taken from the cache (early cutoff).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_dockerfile::copy;
use kiln_dockerfile::ignore::Ignore;
use kiln_dockerfile::state::{Origin, States, encode};
use kiln_engine::memo::TreeScanner;
use kiln_engine::statcache::StatCache;
use kiln_engine::step::{DepValues, ExecContext, Prepared, SourceValue, Step, StepError, Value};
use kiln_engine::tree::{EntryKind, Tree, TreeEntry};
use kiln_engine::{Action, ActionResult, BlobDigest, Digest, Store};

use crate::steps::rootfs::RootfsData;

/// Bump when a state's layout changes.
pub const RULE_VERSION: u32 = 1;

/// What the Dockerfile steps share.
pub struct Shared {
    /// The Dockerfile, as shown in messages.
    pub file: String,
    /// The states (`<cache>/rootfs`).
    pub states: States,
    /// buildah's storage (`<cache>/buildah`).
    pub storage: PathBuf,
    /// `KILN_BUILDKIT_HOST`, which sends RUN to BuildKit.
    pub buildkit_host: Option<String>,
}

/// A filesystem a step reads: a state, the context or an image.
pub struct StateData {
    /// Where it is.
    pub dir: PathBuf,
    /// Its tree.
    pub tree: Arc<Tree>,
    /// Whether it never changes (its files may be hard-linked into a state).
    pub immutable: bool,
    /// The image's `Env` (for `FROM <image>`).
    pub env: Vec<(String, String)>,
}

/// The state step `id` left (`None`: `FROM scratch`, the empty state).
fn state_of(
    shared: &Shared,
    deps: &DepValues<'_>,
    id: Option<&str>,
) -> Result<StateData, StepError> {
    let Some(id) = id else {
        let tree = Tree::default();
        let d = shared
            .states
            .write(&tree, &|_| {
                Err("internal: the empty state has no file".into())
            })
            .map_err(StepError::Failed)?;
        return Ok(StateData {
            dir: shared.states.dir_of(&d),
            tree: Arc::new(tree),
            immutable: true,
            env: vec![],
        });
    };
    match deps.get(id)? {
        Value::Source(_) => {
            let s = deps.data::<StateData>(id)?;
            Ok(StateData {
                dir: s.dir.clone(),
                tree: s.tree.clone(),
                immutable: s.immutable,
                env: s.env.clone(),
            })
        }
        Value::Action { result, .. } => {
            let d = listing(result)?;
            let tree = shared.states.load(&d).map_err(StepError::Failed)?;
            Ok(StateData {
                dir: shared.states.dir_of(&d),
                tree,
                immutable: true,
                env: vec![],
            })
        }
    }
}

pub(crate) fn listing(result: &ActionResult) -> Result<BlobDigest, StepError> {
    result
        .outputs
        .get("tree")
        .map(|o| o.digest)
        .ok_or_else(|| StepError::Failed("internal: a state step has no `tree` output".into()))
}

/// The digest a state dependency gives (the empty state's for `None`).
fn state_digest(deps: &DepValues<'_>, id: Option<&str>) -> Result<Digest, StepError> {
    match id {
        Some(id) => deps.digest(id),
        None => Ok(Tree::default().digest().raw()),
    }
}

/// The build context: the project directory less `.unikraft/` and `.dockerignore`.
pub struct ContextStep {
    /// `rootfs/context`.
    pub id: String,
    /// The project directory.
    pub root: PathBuf,
    /// Top-level names never sent (`.unikraft`).
    pub skip: Vec<String>,
    /// The `.dockerignore`.
    pub ignore: Arc<Ignore>,
    /// The project's scanner.
    pub scanner: Arc<TreeScanner>,
    /// Where scanned trees are kept by digest (the project's state), for builds in which
    /// the watcher vouches for the context and nothing is scanned.
    pub memo: PathBuf,
}

impl Step for ContextStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "context"
    }
    fn deps(&self) -> &[String] {
        &[]
    }
    fn prepare(&self, _: &DepValues<'_>) -> Result<Prepared, StepError> {
        let skip: Vec<&str> = self.skip.iter().map(String::as_str).collect();
        let fail = |e: kiln_engine::scan::ScanError| StepError::Failed(format!("context: {e}"));
        let scanned = self.scanner.scan(&self.root, &skip).map_err(fail)?;
        // A tree the watcher vouched for (nothing read) is the one kept, under its digest,
        // from the scan that found it; without one, the directory is scanned after all.
        let memo = self
            .memo
            .join(format!("docker-context-{}.json", scanned.digest().to_hex()));
        let full = match scanned.tree() {
            Some(t) => {
                if !memo.is_file() {
                    // Best effort: without it, a vouched build scans. The trees of earlier
                    // contents go.
                    for old in std::fs::read_dir(&self.memo)
                        .into_iter()
                        .flatten()
                        .flatten()
                    {
                        let name = old.file_name();
                        if name.to_string_lossy().starts_with("docker-context-") {
                            let _ = std::fs::remove_file(old.path());
                        }
                    }
                    let _ = kiln_engine::fsutil::write_atomic(&memo, &encode(&t));
                }
                t
            }
            None => match std::fs::read(&memo).map(|b| kiln_dockerfile::state::decode(&b)) {
                Ok(Ok(t)) if t.digest() == scanned.digest() => Arc::new(t),
                _ => Arc::new(
                    kiln_engine::scan::scan_dir_skipping(
                        &self.root,
                        self.scanner.stat_cache(),
                        &skip,
                    )
                    .map_err(fail)?
                    .0,
                ),
            },
        };
        let tree = Arc::new(filter(&full, &self.ignore));
        Ok(Prepared::Source(SourceValue {
            digest: tree.digest().raw(),
            tree: Some(tree.clone()),
            data: Some(Arc::new(StateData {
                dir: self.root.clone(),
                tree,
                immutable: false,
                env: vec![],
            })),
            vouched: scanned.tree().is_none(),
            witness: Some(scanned.witness()),
            note: None,
        }))
    }
    fn execute(&self, _: &DepValues<'_>, _: &ExecContext<'_>) -> Result<ActionResult, StepError> {
        Err(StepError::Failed(
            "internal: the context is a source".into(),
        ))
    }
}

/// `tree` less what `ignore` excludes; a directory stays when something below it does.
fn filter(tree: &Tree, ignore: &Ignore) -> Tree {
    if ignore.is_empty() {
        return tree.clone();
    }
    let mut keep: BTreeMap<&str, &EntryKind> = BTreeMap::new();
    for e in tree.entries() {
        if ignore.excludes(&e.path) {
            continue;
        }
        let mut p = e.path.as_str();
        while let Some((up, _)) = p.rsplit_once('/') {
            if let Some(k) = tree.get(up) {
                keep.insert(up, k);
            }
            p = up;
        }
        keep.insert(&e.path, &e.kind);
    }
    // A hard link whose first member is left out carries the content itself.
    let entries = keep
        .iter()
        .map(|(p, k)| TreeEntry {
            path: p.to_string(),
            kind: match k {
                EntryKind::HardLink { target } if !keep.contains_key(target.as_str()) => {
                    tree.get(target).cloned().unwrap_or((*k).clone())
                }
                k => (*k).clone(),
            },
        })
        .collect();
    Tree::new(entries).unwrap_or_default()
}

/// Where a COPY reads.
pub enum CopyFrom {
    /// The context step.
    Context(String),
    /// A stage's last state (`None`: an empty `FROM scratch` stage).
    Stage(Option<String>, String),
}

/// What a state step does.
pub enum Op {
    /// `COPY`.
    Copy {
        /// Where from.
        from: CopyFrom,
        /// The sources as written.
        sources: Vec<String>,
        /// The destination as written.
        dest: String,
        /// The stage's WORKDIR.
        workdir: String,
    },
    /// `WORKDIR` (made if missing).
    Workdir(String),
    /// `RUN`.
    Run {
        /// The argument vector.
        argv: Vec<String>,
        /// The environment it sees (the image's, ENV, ARG).
        env: Vec<(String, String)>,
        /// The stage's WORKDIR.
        workdir: String,
        /// `--mount=` values.
        mounts: Vec<String>,
        /// `linux/<goarch>`.
        platform: String,
    },
}

/// One COPY, WORKDIR or RUN.
pub struct StateStep {
    /// `rootfs/<stage>:<line>`.
    pub id: String,
    /// The state before it and what it reads.
    pub deps: Vec<String>,
    /// The state before it (`None`: empty).
    pub prev: Option<String>,
    /// The Dockerfile's line, for messages.
    pub line: u32,
    /// What it does.
    pub op: Op,
    /// For RUN: the stage's base image step, whose `Env` comes first.
    pub image: Option<String>,
    /// Shared with the other Dockerfile steps.
    pub shared: Arc<Shared>,
}

impl StateStep {
    fn builder(&self) -> Result<kiln_dockerfile::buildkit::Builder, String> {
        kiln_dockerfile::buildkit::choose(self.shared.buildkit_host.as_deref())
    }

    /// A RUN's environment: the base image's `Env`, then the Dockerfile's (which wins).
    fn run_env(
        &self,
        deps: &DepValues<'_>,
        env: &[(String, String)],
    ) -> Result<Vec<(String, String)>, StepError> {
        let mut all: Vec<(String, String)> = match &self.image {
            Some(id) => deps.data::<StateData>(id)?.env.clone(),
            None => vec![],
        };
        for (k, v) in env {
            all.retain(|(n, _)| n != k);
            all.push((k.clone(), v.clone()));
        }
        Ok(all)
    }

    fn err(&self, what: &str, message: impl std::fmt::Display) -> StepError {
        StepError::Failed(format!(
            "{}:{}: {what}: {message}",
            self.shared.file, self.line
        ))
    }

    fn source(&self, deps: &DepValues<'_>) -> Result<(StateData, String), StepError> {
        match &self.op {
            Op::Copy {
                from: CopyFrom::Context(id),
                ..
            } => {
                let c = deps.data::<StateData>(id)?;
                let data = StateData {
                    dir: c.dir.clone(),
                    tree: c.tree.clone(),
                    immutable: false,
                    env: vec![],
                };
                Ok((data, "context".into()))
            }
            Op::Copy {
                from: CopyFrom::Stage(id, name),
                ..
            } => Ok((
                state_of(&self.shared, deps, id.as_deref())?,
                format!("from {name}"),
            )),
            _ => Err(StepError::Failed("internal: not a COPY".into())),
        }
    }

    /// A COPY's source tree, its label in the key, and its sources resolved in it.
    fn selected(
        &self,
        deps: &DepValues<'_>,
        sources: &[String],
    ) -> Result<(StateData, String, Vec<copy::Selected>), StepError> {
        let (src, label) = self.source(deps)?;
        let selected = copy::select(&src.tree, sources).map_err(|e| self.err("COPY", e))?;
        Ok((src, label, selected))
    }

    fn write_blob(
        &self,
        ctx: &ExecContext<'_>,
        tree: &Tree,
        d: BlobDigest,
    ) -> Result<ActionResult, StepError> {
        let mut w = ctx.store.blob_writer()?;
        std::io::Write::write_all(&mut w, &encode(tree))
            .map_err(|e| StepError::Failed(format!("cannot store a state listing: {e}")))?;
        let out = w.commit(false)?;
        if out.digest != d {
            return Err(StepError::Failed(
                "internal: a state listing changed as it was stored".into(),
            ));
        }
        Ok(ActionResult::with_outputs(BTreeMap::from([(
            "tree".to_string(),
            out,
        )])))
    }
}

/// The digest a COPY's key takes for one entry it reads.
fn entry_digest(src: &Tree, k: &EntryKind) -> Digest {
    match k {
        EntryKind::File {
            digest, executable, ..
        } => match executable {
            false => digest.raw(),
            true => Digest::of(format!("x {digest}").as_bytes()),
        },
        EntryKind::Dir => Digest::of(b"dir"),
        EntryKind::Symlink { target } => Digest::of(format!("symlink {target}").as_bytes()),
        EntryKind::HardLink { target } => match src.get(target) {
            Some(f) => entry_digest(src, f),
            None => Digest::of(b"dangling"),
        },
    }
}

impl Step for StateStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        match self.op {
            Op::Copy { .. } => "copy",
            Op::Workdir(_) => "workdir",
            Op::Run { .. } => "run",
        }
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        let prev = state_digest(deps, self.prev.as_deref())?;
        let action = match &self.op {
            Op::Copy {
                sources,
                dest,
                workdir,
                ..
            } => {
                let (src, label, selected) = self.selected(deps, sources)?;
                let mut a = Action::new("docker-copy", RULE_VERSION)
                    .input("state", prev)
                    .param(
                        "sources",
                        serde_json::to_string(sources).unwrap_or_default(),
                    )
                    .param("dest", dest.clone())
                    .param("workdir", workdir.clone());
                for (i, s) in selected.iter().enumerate() {
                    a = a.param(&format!("source {i}"), format!("/{} as {}", s.path, s.name));
                    for e in copy::read_set(&src.tree, s) {
                        a = a.input(
                            &format!("{label} /{}", e.path),
                            entry_digest(&src.tree, &e.kind),
                        );
                    }
                }
                a
            }
            Op::Workdir(path) => Action::new("docker-workdir", RULE_VERSION)
                .input("state", prev)
                .param("path", path.clone()),
            Op::Run {
                argv,
                env,
                workdir,
                mounts,
                platform,
            } => Action::new("docker-run", RULE_VERSION)
                .input("state", prev)
                .param("argv", serde_json::to_string(argv).unwrap_or_default())
                .param(
                    "env",
                    serde_json::to_string(&self.run_env(deps, env)?).unwrap_or_default(),
                )
                .param("workdir", workdir.clone())
                .param("mounts", serde_json::to_string(mounts).unwrap_or_default())
                .param("platform", platform.clone())
                .param("builder", self.builder().map_or("buildah", |b| b.name())),
        };
        Ok(Prepared::Action(action))
    }

    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError> {
        let before = state_of(&self.shared, deps, self.prev.as_deref())?;
        let states = &self.shared.states;
        let (tree, d) = match &self.op {
            Op::Copy {
                sources,
                dest,
                workdir,
                ..
            } => {
                let (src, _, selected) = self.selected(deps, sources)?;
                let applied = copy::apply(&before.tree, &src.tree, &selected, dest, workdir)
                    .map_err(|e| self.err("COPY", e))?;
                let origin = |p: &str| -> Result<Origin, String> {
                    if let Some(s) = applied.from_source.get(p) {
                        let path = src.dir.join(s);
                        return Ok(match src.immutable {
                            true => Origin::Link(path),
                            false => Origin::Copy(path),
                        });
                    }
                    let at = applied.from_before.get(p).map_or(p, String::as_str);
                    Ok(Origin::Link(before.dir.join(at)))
                };
                let d = states
                    .write(&applied.tree, &origin)
                    .map_err(|e| self.err("COPY", e))?;
                (applied.tree, d)
            }
            Op::Workdir(path) => {
                let tree = copy::mkdir(&before.tree, path).map_err(|e| self.err("WORKDIR", e))?;
                let origin = |p: &str| Ok(Origin::Link(before.dir.join(p)));
                let d = states
                    .write(&tree, &origin)
                    .map_err(|e| self.err("WORKDIR", e))?;
                (tree, d)
            }
            Op::Run {
                argv,
                env,
                workdir,
                mounts,
                platform,
            } => {
                let builder = self.builder().map_err(|e| self.err("RUN", e))?;
                let out = states.temp_dir("run").map_err(|e| self.err("RUN", e))?;
                let env = self.run_env(deps, env)?;
                let run = kiln_dockerfile::buildah::Run {
                    state: &before.dir,
                    argv,
                    env: &env,
                    workdir,
                    mounts,
                    platform,
                    storage: &self.shared.storage,
                    out: &out,
                };
                let made = kiln_dockerfile::buildkit::run(&builder, &run)
                    .and_then(|()| scan_output(&out))
                    .and_then(|tree| states.adopt_dir(&out, &tree).map(|d| (tree, d)));
                if made.is_err() {
                    let _ = std::fs::remove_dir_all(&out);
                }
                made.map_err(|e| self.err("RUN", e))?
            }
        };
        self.write_blob(ctx, &tree, d)
    }

    fn outputs_present(&self, result: &ActionResult) -> bool {
        listing(result).is_ok_and(|d| self.shared.states.present(&d))
    }

    /// A state's result names a directory of the state store; the remote entry also holds
    /// each of its regular files (`file:<path>`), so another machine can rebuild it.
    fn remote_result(
        &self,
        result: &ActionResult,
        store: &dyn Store,
    ) -> Result<ActionResult, StepError> {
        crate::steps::docker_remote::with_files(&self.shared.states, result, store)
    }

    /// Rebuilds the state of a remote hit from the files it carries, and records the
    /// listing alone, as a state that ran here is recorded.
    fn adopt_remote(
        &self,
        result: &mut ActionResult,
        store: &dyn Store,
    ) -> Result<bool, StepError> {
        crate::steps::docker_remote::rebuild(&self.shared.states, result, store)
    }
}

/// The tree of a builder's output directory.
fn scan_output(dir: &Path) -> Result<Tree, String> {
    let cache = StatCache::empty(&dir.with_extension("statcache"));
    kiln_engine::scan::scan_dir(dir, &cache)
        .map(|(t, _)| t)
        .map_err(|e| format!("the builder's output: {e}"))
}

/// The rootfs a Dockerfile gives: its last stage's last state.
pub struct FinalStep {
    /// `rootfs`.
    pub id: String,
    /// `[last state]`, or none for an empty `FROM scratch`.
    pub deps: Vec<String>,
    /// Shared with the other Dockerfile steps.
    pub shared: Arc<Shared>,
    /// The project's scanner (for the initrd's rescans).
    pub scanner: Arc<TreeScanner>,
}

impl Step for FinalStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "rootfs"
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        let s = state_of(&self.shared, deps, self.deps.first().map(String::as_str))?;
        let digest = s.tree.digest();
        Ok(Prepared::Source(SourceValue {
            digest: digest.raw(),
            tree: Some(s.tree.clone()),
            data: Some(Arc::new(RootfsData::Dir {
                root: s.dir,
                tree: Some(s.tree),
                digest,
                scanner: self.scanner.clone(),
            })),
            vouched: false,
            witness: None,
            note: None,
        }))
    }
    fn execute(&self, _: &DepValues<'_>, _: &ExecContext<'_>) -> Result<ActionResult, StepError> {
        Err(StepError::Failed(
            "internal: the rootfs step is a source".into(),
        ))
    }
}
