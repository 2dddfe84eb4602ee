//! A Dockerfile state through the remote cache. A state step's local result is its listing
//! (`tree`), which names a directory of the machine's state store; a remote entry must
//! carry the files too. So the entry uploaded adds one output per regular file,
//! `file:<path>`, stored in the local store on the way (the engine uploads only what the
//! server lacks, so a file shared by many states, or by an image, goes up once); and a hit
//! rebuilds the state directory from those blobs, each checked against the listing's
//! digest, written as any state is (a temporary directory, then a rename).

use std::collections::HashMap;
use std::io::Read;

use kiln_dockerfile::state::{Origin, States, decode};
use kiln_engine::step::StepError;
use kiln_engine::tree::EntryKind;
use kiln_engine::{ActionResult, BlobDigest, Store};

use super::docker::listing;

/// The output name of a state's regular file in a remote entry.
fn file_output(path: &str) -> String {
    format!("file:{path}")
}

/// `result` with every regular file of its state added as a `file:<path>` output.
pub fn with_files(
    states: &States,
    result: &ActionResult,
    store: &dyn Store,
) -> Result<ActionResult, StepError> {
    let d = listing(result)?;
    let tree = states.load(&d).map_err(StepError::Failed)?;
    let dir = states.dir_of(&d);
    let mut shared = result.clone();
    let mut stored: HashMap<BlobDigest, kiln_engine::OutputFile> = HashMap::new();
    for e in tree.entries() {
        let EntryKind::File {
            digest, executable, ..
        } = &e.kind
        else {
            continue;
        };
        let out = match stored.get(digest) {
            Some(o) => kiln_engine::OutputFile {
                executable: *executable,
                ..*o
            },
            None => {
                let o = store.put_file(&dir.join(&e.path), *executable)?;
                if o.digest != *digest {
                    return Err(StepError::Failed(format!(
                        "{} changed in the state store; remove {} and build again",
                        e.path,
                        dir.display()
                    )));
                }
                stored.insert(*digest, o);
                o
            }
        };
        shared.outputs.insert(file_output(&e.path), out);
    }
    Ok(shared)
}

/// Makes the state of a remote hit from the files it carries, and leaves `result` its
/// listing alone (the local form, whose digest the next states' keys take); `false` (a
/// miss) when the entry lacks a file or carries other bytes than the listing names.
pub fn rebuild(
    states: &States,
    result: &mut ActionResult,
    store: &dyn Store,
) -> Result<bool, StepError> {
    let made = make_state(states, result, store)?;
    if made {
        result.outputs.retain(|name, _| !name.starts_with("file:"));
    }
    Ok(made)
}

fn make_state(
    states: &States,
    result: &ActionResult,
    store: &dyn Store,
) -> Result<bool, StepError> {
    let d = listing(result)?;
    if states.present(&d) {
        return Ok(true);
    }
    let listing_blob = result.outputs["tree"];
    let mut bytes = Vec::new();
    store
        .open_blob(&listing_blob)?
        .read_to_end(&mut bytes)
        .map_err(|e| StepError::Failed(format!("reading a state listing: {e}")))?;
    let Ok(tree) = decode(&bytes) else {
        return Ok(false);
    };
    let tmp = states.temp_dir("remote").map_err(StepError::Failed)?;
    let made = fill_from_store(states, &tree, result, store, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    let made = made?;
    match made {
        Some(got) if got == d => Ok(true),
        _ => Ok(false),
    }
}

/// Materializes each distinct file blob into `tmp`, then writes the state from there.
fn fill_from_store(
    states: &States,
    tree: &kiln_engine::tree::Tree,
    result: &ActionResult,
    store: &dyn Store,
    tmp: &std::path::Path,
) -> Result<Option<BlobDigest>, StepError> {
    std::fs::create_dir_all(tmp)
        .map_err(|e| StepError::Failed(format!("cannot create {}: {e}", tmp.display())))?;
    let mut by_path: HashMap<&str, BlobDigest> = HashMap::new();
    for e in tree.entries() {
        let EntryKind::File { digest, .. } = &e.kind else {
            continue;
        };
        let Some(out) = result.outputs.get(&file_output(&e.path)) else {
            return Ok(None);
        };
        if out.digest != *digest {
            return Ok(None);
        }
        let at = tmp.join(digest.to_hex());
        if !at.exists() {
            store.materialize(out, &at)?;
        }
        by_path.insert(&e.path, *digest);
    }
    let origin = |p: &str| -> Result<Origin, String> {
        by_path
            .get(p)
            .map(|d| Origin::Copy(tmp.join(d.to_hex())))
            .ok_or_else(|| format!("{p} is not a file of the state"))
    };
    states
        .write(tree, &origin)
        .map(Some)
        .map_err(StepError::Failed)
}
