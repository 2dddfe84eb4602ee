//! The `fetch` step of a target: what its libraries' make downloads and clones (Unikraft's
//! `fetch`, `fetchas`, `fetch2` and `clone` rules in support/build/Makefile.rules), served
//! from kiln's caches, so that the compile never touches the network and its key holds the
//! digest of every upstream archive.
//!
//! To learn what make would fetch, the step runs `make -n fetch` (a dry run) in a scratch
//! build directory with the target's `.config`, and `WGET`/`GIT` set to markers: make then
//! prints each download as `<WGET marker> … -O <BUILD_DIR>/<lib>/<file> <url>` and each clone
//! as `<GIT marker> clone … --branch <ref> … <url> <BUILD_DIR>/<lib>/origin/`, without running
//! anything. Each URL is then taken from the download cache or downloaded (pinned by
//! Kraftfile.lock; see `sources/archives.rs`), each clone from the git cache. The result is a
//! manifest (`downloads.json`) of URL → digests, which the compile hands to make's `WGET` and
//! `GIT` (kiln's `__wget` and `__git` shims) and whose digest is in the compile's key.
//!
//! The key is the sources, the `.config` and the lock file's pins: the same inputs name the
//! same URLs, and a pinned URL gives the same bytes. Under `kiln fetch` the step always runs
//! (`Step::always_runs`) and every URL is asked again.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use kiln_engine::step::{DepValues, ExecContext, Prepared, Step, StepError};
use kiln_engine::{Action, ActionResult, Store};
use serde::{Deserialize, Serialize};

use crate::sources::{CloneEntry, DownloadEntry, SourceError, SourceResolver};
use crate::steps::kernel::KernelTarget;

/// Bump when what this step does changes.
pub const RULE_VERSION: u32 = 2;

/// The marker `WGET` is set to in the dry run.
const WGET_MARK: &str = "__KILN_WGET__";
/// The marker `GIT` is set to in the dry run.
const GIT_MARK: &str = "__KILN_GIT__";

/// One download of the plan: where make puts it (relative to its build directory) and what
/// it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedDownload {
    /// `<lib>/<file>` under make's `BUILD_DIR`.
    pub file: String,
    /// The URLs make tries, in order (`fetch2` gives a second).
    pub urls: Vec<String>,
    /// What the first URL that worked gave.
    pub got: DownloadEntry,
}

/// One clone of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedClone {
    /// Where make clones it, relative to its build directory (`<lib>/origin/`).
    pub dir: String,
    /// The pinned commit and tree. Its checkout is `<cache>/git/checkouts/<commit>` on every
    /// machine (`GitCache::checkout_dir`); no path is kept here, so the manifest, and the
    /// compile key holding its digest, are the same whatever the cache directory.
    pub got: CloneEntry,
}

/// What the `fetch` step produces, and what `kiln __wget`/`__git` read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchManifest {
    /// Downloads.
    pub downloads: Vec<PlannedDownload>,
    /// Clones.
    pub clones: Vec<PlannedClone>,
}

/// What the dry run printed: downloads `(file, urls)` and clones `(dir, url, ref)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DryRun {
    /// Downloads.
    pub downloads: Vec<(String, Vec<String>)>,
    /// Clones.
    pub clones: Vec<(String, String, String)>,
    /// Tools the printed recipes run (tar, unzip, patch), for the missing-tools check.
    pub tools: Vec<&'static str>,
}

/// Reads `make -n fetch` output produced with the markers, `build_dir` being make's `O=`.
pub fn parse_dry_run(output: &str, build_dir: &Path) -> DryRun {
    let prefix = format!("{}/", build_dir.display());
    let rel = |p: &str| p.strip_prefix(&prefix).unwrap_or(p).to_string();
    let mut run = DryRun::default();
    for line in output.lines() {
        // `fetch2` tries two URLs with one `-O`: `W -O f u1 || W -O f u2 || rm`.
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut file = None;
        let mut urls = Vec::new();
        for (i, w) in words.iter().enumerate() {
            if *w == WGET_MARK {
                let mut j = i + 1;
                while j < words.len() && words[j] != "||" && words[j] != "&&" {
                    if words[j] == "-O" && j + 1 < words.len() {
                        file = Some(rel(words[j + 1]));
                        j += 1;
                    } else if words[j].contains("://") {
                        urls.push(words[j].to_string());
                    }
                    j += 1;
                }
            }
            if *w == GIT_MARK && words.get(i + 1) == Some(&"clone") {
                let args = &words[i + 2..];
                let end = args
                    .iter()
                    .position(|a| *a == "&&" || *a == "||")
                    .unwrap_or(args.len());
                let args = &args[..end];
                let git_ref = args
                    .iter()
                    .position(|a| *a == "--branch")
                    .and_then(|p| args.get(p + 1));
                let positional: Vec<&&str> = args.iter().filter(|a| !a.starts_with('-')).collect();
                if let (Some(r), [.., url, dir]) = (git_ref, positional.as_slice()) {
                    run.clones.push((rel(dir), url.to_string(), r.to_string()));
                }
            }
        }
        if let (Some(f), false) = (file, urls.is_empty())
            && !run.downloads.iter().any(|(g, _)| *g == f)
        {
            run.downloads.push((f, urls));
        }
        for (tool, word) in [("tar", "tar"), ("unzip", "unzip"), ("patch", "patch")] {
            if words.contains(&word) && !run.tools.contains(&tool) {
                run.tools.push(tool);
            }
        }
    }
    run
}

/// The `fetch` step of one target.
pub struct FetchStep {
    /// `<target>/fetch`.
    pub id: String,
    /// The target.
    pub target: Arc<KernelTarget>,
    /// The kconfig step id, then the source step ids.
    pub deps: Vec<String>,
    /// The build's resolver (the lock file, the download and git caches).
    pub resolver: Arc<SourceResolver>,
    /// Whether it always runs, and asks every URL again.
    pub mode: crate::plan::FetchMode,
}

impl Step for FetchStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &str {
        "fetch"
    }
    fn deps(&self) -> &[String] {
        &self.deps
    }
    fn prepare(&self, deps: &DepValues<'_>) -> Result<Prepared, StepError> {
        let mut a = Action::new("fetch", RULE_VERSION)
            .param("pins", self.resolver.pins_digest())
            .param("target", self.target.target.clone());
        for id in &self.deps {
            a = a.input(id, deps.digest(id)?);
        }
        Ok(Prepared::Action(a))
    }
    /// `kiln fetch` runs every fetch step, so that what the cache lacks is downloaded even
    /// when the step's result is cached.
    fn always_runs(&self) -> bool {
        self.mode != crate::plan::FetchMode::Build
    }
    fn execute(
        &self,
        deps: &DepValues<'_>,
        ctx: &ExecContext<'_>,
    ) -> Result<ActionResult, StepError> {
        let scratch = self.target.work.join(".kiln-fetch-plan");
        let _ = std::fs::remove_dir_all(&scratch);
        let run = self.target.dry_run_fetch(
            deps,
            &self.deps[0],
            ctx.store,
            &scratch,
            WGET_MARK,
            GIT_MARK,
        )?;
        let _ = std::fs::remove_dir_all(&scratch);
        let dry = parse_dry_run(&run, &scratch);
        check_tools(&dry, &self.target.target)?;
        let manifest = self.resolve(&dry)?;
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| StepError::Failed(format!("internal: {e}")))?;
        let mut w = ctx.store.blob_writer()?;
        std::io::Write::write_all(&mut w, &json)
            .map_err(|e| StepError::Failed(format!("storing the download manifest: {e}")))?;
        let out = w.commit(false)?;
        Ok(ActionResult::with_outputs(BTreeMap::from([(
            "downloads".to_string(),
            out,
        )])))
    }

    /// A manifest from the remote cache names downloads and clones of another machine's
    /// caches: each is brought into this machine's (from its cache or its URL, checked
    /// against the pinned digests).
    fn adopt_remote(
        &self,
        result: &mut ActionResult,
        store: &dyn Store,
    ) -> Result<bool, StepError> {
        let Some(file) = result.outputs.get("downloads") else {
            return Ok(false);
        };
        let mut bytes = Vec::new();
        let read = store.open_blob(file).and_then(|mut r| {
            std::io::Read::read_to_end(&mut r, &mut bytes)
                .map_err(|e| kiln_engine::StoreError::Other(e.to_string()))
        });
        if read.is_err() {
            return Ok(false);
        }
        let Ok(manifest) = serde_json::from_slice::<FetchManifest>(&bytes) else {
            return Ok(false);
        };
        for d in &manifest.downloads {
            let here = d.urls.iter().any(|url| {
                self.resolver
                    .download(url, false)
                    .is_ok_and(|got| got == d.got)
            });
            if !here {
                return Ok(false);
            }
        }
        for c in &manifest.clones {
            match self.resolver.clone_source(&c.got.url, &c.got.git_ref) {
                Ok((got, _)) if got == c.got => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }
}

impl FetchStep {
    fn resolve(&self, dry: &DryRun) -> Result<FetchManifest, StepError> {
        let mut manifest = FetchManifest::default();
        for (file, urls) in &dry.downloads {
            let mut last = None;
            let mut got = None;
            for url in urls {
                match self
                    .resolver
                    .download(url, self.mode == crate::plan::FetchMode::Refresh)
                {
                    Ok(entry) => {
                        got = Some(entry);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            let got = match (got, last) {
                (Some(g), _) => g,
                (None, Some(e)) => return Err(source_error(&self.target.target, e)),
                (None, None) => continue,
            };
            manifest.downloads.push(PlannedDownload {
                file: file.clone(),
                urls: urls.clone(),
                got,
            });
        }
        for (dir, url, git_ref) in &dry.clones {
            let (got, _checkout) = self
                .resolver
                .clone_source(url, git_ref)
                .map_err(|e| source_error(&self.target.target, e))?;
            manifest.clones.push(PlannedClone {
                dir: dir.clone(),
                got,
            });
        }
        Ok(manifest)
    }
}

/// make's extra variables and environment for a build that fetches through kiln.
pub(crate) type MakeShims = (Vec<String>, Vec<(String, String)>);

impl KernelTarget {
    /// Runs `make -n fetch` in `scratch` with the target's `.config` and the markers, and
    /// returns what it printed.
    fn dry_run_fetch(
        &self,
        deps: &DepValues<'_>,
        kconfig: &str,
        store: &dyn kiln_engine::Store,
        scratch: &Path,
        wget: &str,
        git: &str,
    ) -> Result<String, StepError> {
        self.prepare_dry_run(deps, kconfig, store, scratch)?;
        let vars = [
            format!("WGET={wget}"),
            format!("GIT={git}"),
            "-n".to_string(),
        ];
        self.make_in(deps, scratch, Some("fetch"), &vars, &[], None)?;
        let log = scratch.join("kiln-make.log");
        std::fs::read_to_string(&log).map_err(|e| {
            StepError::Failed(format!("target {}: {}: {e}", self.target, log.display()))
        })
    }

    /// Makes `scratch` a build directory for a dry run (`make -n`) of this target: the
    /// target's `.config`, and the `Makefile` link Unikraft's top Makefile would make.
    pub(crate) fn prepare_dry_run(
        &self,
        deps: &DepValues<'_>,
        kconfig: &str,
        store: &dyn kiln_engine::Store,
        scratch: &Path,
    ) -> Result<(), StepError> {
        self.write_config_in(deps, kconfig, store, scratch)?;
        // Unikraft's top Makefile, given an O= of its own, links `O/Makefile` to itself and
        // runs the goal in a sub-make there. Under `-n` the link is only printed, and the
        // sub-make finds no Makefile: make the link first, as the real run would.
        let core_makefile = self.setup(deps)?.core.join("Makefile");
        let link = scratch.join("Makefile");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&core_makefile, &link).map_err(|e| {
            StepError::Failed(format!("target {}: {}: {e}", self.target, link.display()))
        })
    }

    /// What make's `WGET` and `GIT` are for a build that fetches: kiln's shims, reading the
    /// manifest of the fetch step's result (written to the work directory), and the
    /// environment they need.
    pub(crate) fn fetch_shims(
        &self,
        deps: &DepValues<'_>,
        fetch: &str,
        store: &dyn kiln_engine::Store,
    ) -> Result<MakeShims, StepError> {
        let (Some(kiln), Some(cache)) = (&self.shim, &self.cache_dir) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let out = deps
            .result(fetch)?
            .outputs
            .get("downloads")
            .copied()
            .ok_or_else(|| StepError::Failed("internal: the fetch step has no output".into()))?;
        let manifest = self.work.join("kiln-downloads.json");
        store.materialize(&out, &manifest)?;
        self.forget_stale_fetches(&manifest)?;
        let vars = vec![
            format!("WGET={} __wget", kiln.display()),
            format!("GIT={} __git", kiln.display()),
        ];
        let env = vec![
            ("KILN_DOWNLOADS".to_string(), manifest.display().to_string()),
            ("KILN_CACHE_DIR".to_string(), cache.display().to_string()),
        ];
        Ok((vars, env))
    }
}

impl KernelTarget {
    /// make decides what to fetch by its stamps: a library fetched before from other bytes
    /// (the lock moved) would keep them, and its objects would not be rebuilt either
    /// (extracted files keep the archive's old mtimes). So when a download or a clone in the
    /// work directory is not the manifest's, the work directory is emptied (but for kiln's
    /// own files, which it writes again before make) and make starts over: a full rebuild,
    /// as rare as a moved pin.
    fn forget_stale_fetches(&self, manifest_path: &Path) -> Result<(), StepError> {
        let text = std::fs::read(manifest_path)
            .map_err(|e| StepError::Failed(format!("{}: {e}", manifest_path.display())))?;
        let manifest: FetchManifest = serde_json::from_slice(&text)
            .map_err(|e| StepError::Failed(format!("{}: {e}", manifest_path.display())))?;
        let stale_download = manifest.downloads.iter().any(|d| {
            let file = self.work.join(&d.file);
            file.exists()
                && kiln_engine::scan::hash_file(&file, file.metadata().map_or(0, |m| m.len()))
                    .map_or(true, |h| h.to_hex() != d.got.blake3)
        });
        let stale_clone = manifest.clones.iter().any(|c| {
            let lib = c.dir.split('/').next().unwrap_or(&c.dir);
            let dir = self.work.join(lib);
            let was = std::fs::read_to_string(dir.join(".kiln-commit")).unwrap_or_default();
            dir.exists() && was.trim() != c.got.commit
        });
        if !(stale_download || stale_clone) {
            return Ok(());
        }
        const KEEP: [&str; 4] = [
            ".config",
            "kiln.defconfig",
            "kiln-downloads.json",
            "initramfs.cpio",
        ];
        let entries = std::fs::read_dir(&self.work)
            .map_err(|e| StepError::Failed(format!("{}: {e}", self.work.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if KEEP.iter().any(|k| name == *k) {
                continue;
            }
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
        Ok(())
    }
}

fn source_error(target: &str, e: SourceError) -> StepError {
    match e {
        SourceError::NeedsNetwork { .. } | SourceError::LockMismatch { .. } => {
            StepError::Unresolved(format!("target {target}: {e}"))
        }
        e => StepError::Failed(format!("target {target}: {e}")),
    }
}

/// The tools the fetch rules run (tar, unzip, patch, git) must be installed before make.
fn check_tools(dry: &DryRun, target: &str) -> Result<(), StepError> {
    let mut tools: Vec<&str> = dry.tools.clone();
    if !dry.clones.is_empty() {
        tools.push("git");
    }
    let missing: Vec<crate::toolchain::MissingTool> = tools
        .into_iter()
        .filter(|t| crate::toolchain::find_on_path(t).is_none())
        .map(|t| crate::toolchain::MissingTool {
            tool: t.into(),
            package: t.into(),
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(StepError::Unresolved(format!(
        "target {target}: the libraries' fetch rules need tools that are {}",
        crate::toolchain::MissingTools(missing)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_unikrafts_fetch_and_clone_lines() {
        let out = "  WGET    libmusl: https://www.musl-libc.org/releases/musl-1.2.3.tar.gz\n\
            __KILN_WGET__ -q --show-progress --progress=bar -O /b/libmusl/musl-1.2.3.tar.gz \
            https://www.musl-libc.org/releases/musl-1.2.3.tar.gz || rm -f /b/libmusl/musl-1.2.3.tar.gz\n\
            tar -xzf /b/libmusl/musl-1.2.3.tar.gz -C /b/libmusl/origin && touch /b/libmusl/.origin\n\
            __KILN_WGET__ -q -O /b/liblwip/x.zip https://a/x.zip || __KILN_WGET__ -q -O \
            /b/liblwip/x.zip https://b/x.zip || rm -f /b/liblwip/x.zip\n\
            rm -f -r /b/libfoo/origin && __KILN_GIT__ clone --recurse-submodules -q --progress \
            --depth 1 --branch v1.0 --no-tags https://g/foo.git /b/libfoo/origin/ && touch /b/libfoo/.origin\n\
            patch -sd /b/libmusl/origin/musl-1.2.3/ -p1 < /src/patches/0001.patch\n";
        let run = parse_dry_run(out, Path::new("/b"));
        assert_eq!(
            run.downloads,
            vec![
                (
                    "libmusl/musl-1.2.3.tar.gz".to_string(),
                    vec!["https://www.musl-libc.org/releases/musl-1.2.3.tar.gz".to_string()]
                ),
                (
                    "liblwip/x.zip".to_string(),
                    vec!["https://a/x.zip".to_string(), "https://b/x.zip".to_string()]
                ),
            ]
        );
        assert_eq!(
            run.clones,
            vec![(
                "libfoo/origin/".to_string(),
                "https://g/foo.git".to_string(),
                "v1.0".to_string()
            )]
        );
        assert_eq!(run.tools, ["tar", "patch"]);
    }
}
