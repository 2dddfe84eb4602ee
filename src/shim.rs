//! `kiln __wget` and `kiln __git`: what make runs as `WGET` and `GIT` in a kiln build, so
//! that Unikraft's fetch rules are served from kiln's caches instead of the network.
//!
//! The fetch step (rules `steps/fetch.rs`) already took every download and clone of the
//! target into the caches and wrote a manifest; `KILN_DOWNLOADS` names it. `__wget` reads
//! wget's `-O FILE URL` (other flags are wget's display options) and copies the cached bytes
//! there, checking their digest. `__git clone … --branch REF URL DIR` copies the pinned
//! checkout to DIR; any other git command runs the real git. A URL the manifest does not
//! know is an error: make would otherwise go to the network behind kiln's back.

use std::path::{Path, PathBuf};

use kiln_rules::sources::{Archives, GitCache, KilnConfig};
use kiln_rules::steps::fetch::FetchManifest;

use crate::error::CliError;

fn manifest() -> Result<FetchManifest, CliError> {
    let path = std::env::var_os("KILN_DOWNLOADS").ok_or_else(|| {
        CliError::Usage("kiln __wget/__git run only inside a kiln build (no KILN_DOWNLOADS)".into())
    })?;
    let bytes = std::fs::read(&path)
        .map_err(|e| CliError::Failed(format!("{}: {e}", Path::new(&path).display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| CliError::Failed(format!("{}: {e}", Path::new(&path).display())))
}

/// `kiln __wget [wget options] -O FILE URL`.
pub fn wget(args: &[String]) -> Result<(), CliError> {
    let out = args
        .iter()
        .position(|a| a == "-O")
        .and_then(|i| args.get(i + 1))
        .ok_or_else(|| CliError::Usage(format!("kiln __wget: no `-O FILE` in {args:?}")))?;
    let url = args
        .iter()
        .rev()
        .find(|a| a.contains("://"))
        .ok_or_else(|| CliError::Usage(format!("kiln __wget: no URL in {args:?}")))?;
    let m = manifest()?;
    let Some(d) = m.downloads.iter().find(|d| d.urls.contains(url)) else {
        return Err(CliError::Failed(format!(
            "make asked for {url}, which kiln's fetch step did not plan; run `kiln fetch` (or \
             report this: the library's fetch rule is not one kiln reads)"
        )));
    };
    let cache = std::env::var_os("KILN_CACHE_DIR")
        .map(PathBuf::from)
        .ok_or_else(|| CliError::Usage("kiln __wget: KILN_CACHE_DIR is not set".into()))?;
    let archives = Archives::new(&cache, KilnConfig::default(), true);
    archives
        .copy_to(&d.got, Path::new(out))
        .map_err(|e| CliError::Failed(e.to_string()))
}

/// `kiln __git clone [options] --branch REF URL DIR`, or any other git command.
pub fn git(args: &[String]) -> Result<(), CliError> {
    if args.first().map(String::as_str) != Some("clone") {
        let status = std::process::Command::new("git")
            .args(args)
            .status()
            .map_err(|e| CliError::Failed(format!("cannot run git: {e}")))?;
        return match status.code() {
            Some(0) => Ok(()),
            _ => Err(CliError::Reported),
        };
    }
    let positional: Vec<&String> = {
        let mut out = Vec::new();
        let mut skip = false;
        for a in &args[1..] {
            if skip {
                skip = false;
            } else if a == "--branch" || a == "-b" || a == "--depth" {
                skip = true;
            } else if !a.starts_with('-') {
                out.push(a);
            }
        }
        out
    };
    let [.., url, dir] = positional.as_slice() else {
        return Err(CliError::Usage(format!(
            "kiln __git clone: expected URL DIR in {args:?}"
        )));
    };
    let m = manifest()?;
    let Some(c) = m.clones.iter().find(|c| &&c.got.url == url) else {
        return Err(CliError::Failed(format!(
            "make asked to clone {url}, which kiln's fetch step did not plan; run `kiln fetch`"
        )));
    };
    let dir = Path::new(dir.as_str());
    let cache = std::env::var_os("KILN_CACHE_DIR")
        .map(PathBuf::from)
        .ok_or_else(|| CliError::Usage("kiln __git: KILN_CACHE_DIR is not set".into()))?;
    let checkout = GitCache::new(&cache, Default::default()).checkout_dir(&c.got.commit);
    copy_tree(&checkout, dir)
        .map_err(|e| CliError::Failed(format!("cloning {url} into {}: {e}", dir.display())))?;
    // What was cloned, for the next build to tell whether the clone is still the pinned one.
    let stamp = dir
        .components()
        .as_path()
        .parent()
        .unwrap_or(Path::new("."))
        .join(".kiln-commit");
    std::fs::write(&stamp, format!("{}\n", c.got.commit))
        .map_err(|e| CliError::Failed(format!("{}: {e}", stamp.display())))
}

/// Copies the directory tree `from` to `to` (created), keeping symlinks and exec bits.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            use std::os::unix::fs::PermissionsExt;
            std::fs::copy(&src, &dst)?;
            // The cache's checkouts are read-only; make's patch rules write into the clone.
            let mode = std::fs::metadata(&dst)?.permissions().mode() | 0o200;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}
