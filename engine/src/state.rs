//! Per-project build state: what each step last produced, so a no-op build can stop early
//! and `--explain` can say what changed.
//!
//! Layout under the state directory (inside the project, e.g. `.unikraft/kiln/state/`):
//! ```text
//! steps/<escaped step id>.json   StepState: last key, action, result, source digest,
//!                                and the stat of every materialized output
//! trees/<tree digest>.json       the last tree of each source step (for explain's diff)
//! ```
//! Every write is atomic, and a file is written only when its content would change, so a
//! no-op build writes nothing. Unreadable state is treated as absent: it is an optimisation
//! and an aid to explanation, never a source of truth for artifacts.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::action::Action;
use crate::digest::{ActionKey, BlobDigest, Digest};
use crate::fsutil::write_atomic;
use crate::store::ActionResult;
use crate::tree::Tree;

/// The recorded stat of a file kiln materialized, to tell whether it is still intact.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MaterializedFile {
    /// Where it was written.
    pub dest: PathBuf,
    /// The content written.
    pub digest: BlobDigest,
    /// Size, inode and mtime after writing.
    pub size: u64,
    /// Inode number after writing.
    pub ino: u64,
    /// Modification time after writing, in nanoseconds.
    pub mtime_ns: i64,
}

impl MaterializedFile {
    /// Records `dest` as it is now on disk.
    pub fn stat(dest: &Path, digest: BlobDigest) -> std::io::Result<Self> {
        let m = std::fs::symlink_metadata(dest)?;
        Ok(MaterializedFile {
            dest: dest.to_path_buf(),
            digest,
            size: m.size(),
            ino: m.ino(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        })
    }

    /// Whether `dest` still holds exactly what was written (by stat, without reading it).
    pub fn is_intact(&self, digest: &BlobDigest) -> bool {
        &self.digest == digest
            && MaterializedFile::stat(&self.dest, self.digest).is_ok_and(|now| &now == self)
    }
}

/// What the last successful evaluation of one step left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepState {
    /// For action steps: the last key, the action, and its result.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key: Option<ActionKey>,
    /// The action that produced `result`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<Action>,
    /// The outputs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result: Option<ActionResult>,
    /// For source steps: the last digest.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_digest: Option<Digest>,
    /// Files copied into the user's tree.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub materialized: Vec<MaterializedFile>,
}

/// The state directory of one project, or of each project of a merged graph.
///
/// A merged graph (`kiln build ./...`) prefixes every step id with its project's scope
/// (see [`crate::scope`]); each scope's steps keep their state, under their own ids, in their
/// project's directory, so a later build of one project alone finds it.
#[derive(Debug, Clone)]
pub struct StateDir {
    /// (id prefix, root), longest prefix first; a single project has the one prefix "".
    scopes: Vec<(String, PathBuf)>,
}

impl StateDir {
    /// State under `root` (created lazily on first write).
    pub fn new(root: &Path) -> Self {
        StateDir {
            scopes: vec![(String::new(), root.to_path_buf())],
        }
    }

    /// State of a merged graph: a step whose id starts with a prefix keeps its state, under
    /// the rest of its id, in that prefix's root.
    pub fn scoped(scopes: Vec<(String, PathBuf)>) -> Self {
        let mut scopes = scopes;
        scopes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        StateDir { scopes }
    }

    /// The directory (the first scope's, for a merged graph).
    pub fn root(&self) -> &Path {
        self.scopes
            .first()
            .map_or(Path::new(""), |(_, r)| r.as_path())
    }

    /// The root that holds step `id`'s state, and the id within it.
    fn locate<'i>(&self, id: &'i str) -> (&Path, &'i str) {
        for (prefix, root) in &self.scopes {
            if let Some(rest) = id.strip_prefix(prefix.as_str()) {
                return (root, rest);
            }
        }
        (Path::new("/nonexistent/kiln-state"), id)
    }

    fn step_file(&self, id: &str) -> PathBuf {
        let (root, id) = self.locate(id);
        let escaped: String = id
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
                _ => '+',
            })
            .collect();
        root.join("steps").join(format!("{escaped}.json"))
    }

    /// The last state of step `id` (default when absent or unreadable).
    pub fn load(&self, id: &str) -> StepState {
        std::fs::read(self.step_file(id))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Saves the state of step `id` unless it equals `previous`.
    pub fn save(&self, id: &str, previous: &StepState, new: &StepState) -> std::io::Result<()> {
        if previous == new {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(new).map_err(std::io::Error::other)?;
        write_atomic(&self.step_file(id), &bytes)
    }

    /// The tree step `id` saved under `digest`, if any.
    pub fn load_tree(&self, id: &str, digest: &Digest) -> Option<Tree> {
        let path = self
            .locate(id)
            .0
            .join("trees")
            .join(format!("{digest}.json"));
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// Saves step `id`'s `tree` under its digest and removes the tree saved under `replaces`.
    pub fn save_tree(
        &self,
        id: &str,
        tree: &Tree,
        replaces: Option<&Digest>,
    ) -> std::io::Result<()> {
        let trees = self.locate(id).0.join("trees");
        let digest = tree.digest().raw();
        let path = trees.join(format!("{digest}.json"));
        if !path.exists() {
            let bytes = serde_json::to_vec(tree).map_err(std::io::Error::other)?;
            write_atomic(&path, &bytes)?;
        }
        if let Some(old) = replaces.filter(|old| **old != digest) {
            let _ = std::fs::remove_file(trees.join(format!("{old}.json")));
        }
        Ok(())
    }
}
