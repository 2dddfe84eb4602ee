//! `kiln cache stats | gc | verify | clean`.

use serde::Serialize;

use crate::cli::{CacheArgs, CacheCommand, Output};
use crate::error::{CliError, print_stdout};
use crate::session::cache_dir;

/// Runs a cache command.
pub fn cache(cmd: &CacheCommand) -> Result<(), CliError> {
    let root = cache_dir()?;
    match cmd {
        CacheCommand::Stats(a) => {
            let s = kiln_cache::stats(&root)?;
            emit(a, &s, || {
                format!(
                    "cache: {}\nblobs: {} ({})\nactions: {} ({})\ntotal: {}\n",
                    s.path.display(),
                    s.blobs,
                    human_bytes(s.blob_bytes),
                    s.actions,
                    human_bytes(s.action_bytes),
                    human_bytes(s.total_bytes)
                )
            })
        }
        CacheCommand::Gc { args, max_size } => {
            let max = kiln_cache::parse_size(max_size)
                .map_err(|e| CliError::Usage(format!("--max-size: {e}")))?;
            // The blobs of packages kiln keeps (`kiln pkg ls`) are never evicted.
            let pinned = kiln_oci::store::PackageStore::new(&root)
                .pinned_blobs()
                .map_err(|e| CliError::Failed(e.to_string()))?
                .into_iter()
                .collect();
            let r = exclusive(&root)?.gc(max, &pinned)?;
            emit(args, &r, || {
                format!(
                    "gc: {} -> {} (freed {}; removed {} blobs, {} actions, {} stale temp files)\n",
                    human_bytes(r.bytes_before),
                    human_bytes(r.bytes_after),
                    human_bytes(r.bytes_freed),
                    r.blobs_removed.len(),
                    r.actions_removed.len(),
                    r.temp_files_removed
                )
            })
        }
        CacheCommand::Verify(a) => {
            let r = exclusive(&root)?.verify()?;
            emit(a, &r, || {
                let mut out = format!(
                    "verify: checked {} blobs and {} actions; removed {} damaged blobs, {} actions, {} stray files\n",
                    r.blobs_checked,
                    r.actions_checked,
                    r.blobs_removed.len(),
                    r.actions_removed.len(),
                    r.strays_removed.len()
                );
                for b in &r.blobs_removed {
                    out.push_str(&format!("  removed blob {b}\n"));
                }
                for k in &r.actions_removed {
                    out.push_str(&format!("  removed action {k}\n"));
                }
                out
            })
        }
        CacheCommand::Clean(a) => {
            let r = exclusive(&root)?.clean()?;
            emit(a, &r, || {
                format!(
                    "clean: removed {} blobs and {} actions ({})\n",
                    r.blobs_removed,
                    r.actions_removed,
                    human_bytes(r.bytes_freed)
                )
            })
        }
    }
}

/// Takes the cache exclusively, saying so while builds still hold it.
fn exclusive(root: &std::path::Path) -> Result<kiln_cache::ExclusiveCache, CliError> {
    Ok(kiln_cache::ExclusiveCache::open_with(root, &|| {
        eprintln!(
            "kiln: waiting for running builds to release the cache at {}",
            root.display()
        )
    })?)
}

fn emit<T: Serialize>(
    a: &CacheArgs,
    value: &T,
    human: impl Fn() -> String,
) -> Result<(), CliError> {
    match a.output {
        Output::Json => {
            let doc =
                serde_json::to_string_pretty(value).map_err(|e| CliError::Failed(e.to_string()))?;
            print_stdout(&format!("{doc}\n"))
        }
        Output::Human => print_stdout(&human()),
    }
}

/// Bytes in binary units, one decimal.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
