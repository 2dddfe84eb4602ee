//! The tools a kernel build runs, and their fingerprint for action keys.
//!
//! The compile step's key includes the versions of the C compiler, the linker, make, flex and
//! bison, so a toolchain upgrade rebuilds and two machines with the same toolchain share
//! results. Versions are the first line of `<tool> --version`, which is stable across
//! machines (paths and mtimes are not). Running five processes on every build would cost a
//! no-op build ~10 ms, so versions are remembered per resolved binary and its stat in
//! `tools.json` in the cache directory, and looked up again only when a binary changes.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kiln_engine::ToolFingerprint;
use kiln_engine::fsutil::write_atomic;

/// A tool the build needs and is not installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingTool {
    /// The command.
    pub tool: String,
    /// The Debian package that provides it.
    pub package: String,
}

/// The tools a build needs that are not installed: all of them, so one message says
/// everything to install.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe_missing(.0))]
pub struct MissingTools(pub Vec<MissingTool>);

fn describe_missing(tools: &[MissingTool]) -> String {
    let names: Vec<String> = tools
        .iter()
        .map(|t| format!("`{}` (Debian package {})", t.tool, t.package))
        .collect();
    let mut packages: Vec<&str> = tools.iter().map(|t| t.package.as_str()).collect();
    packages.dedup();
    format!(
        "not installed (not found on PATH): {}; install them with: apt-get install {}",
        names.join(", "),
        packages.join(" ")
    )
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Remembered {
    size: u64,
    mtime_ns: i64,
    ino: u64,
    version: String,
}

/// Fingerprints toolchains, remembering versions in a file.
pub struct Toolchains {
    memo_file: PathBuf,
    memo: Mutex<BTreeMap<PathBuf, Remembered>>,
    done: Mutex<HashMap<String, Result<ToolFingerprint, MissingTools>>>,
}

impl Toolchains {
    /// Remembers versions in `memo_file` (e.g. `<cache>/tools.json`).
    pub fn new(memo_file: &Path) -> Self {
        let memo = std::fs::read(memo_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Toolchains {
            memo_file: memo_file.to_path_buf(),
            memo: Mutex::new(memo),
            done: Mutex::new(HashMap::new()),
        }
    }

    /// The fingerprint of the toolchain with prefix `cross` (`""` or `aarch64-linux-gnu-`).
    pub fn fingerprint(&self, cross: &str) -> Result<ToolFingerprint, MissingTools> {
        if let Some(r) = self.done.lock().ok().and_then(|d| d.get(cross).cloned()) {
            return r;
        }
        let r = self.compute(cross);
        if let Ok(mut d) = self.done.lock() {
            d.insert(cross.to_string(), r.clone());
        }
        r
    }

    fn compute(&self, cross: &str) -> Result<ToolFingerprint, MissingTools> {
        let pkg_suffix = cross.trim_end_matches('-');
        let cross_pkg = |base: &str| {
            if cross.is_empty() {
                base.to_string()
            } else {
                format!("{base}-{pkg_suffix}")
            }
        };
        // Unikraft's kconfig is built with flex and bison, so every kernel build needs them.
        let required = [
            (format!("{cross}gcc"), cross_pkg("gcc")),
            (format!("{cross}ld"), cross_pkg("binutils")),
            ("make".to_string(), "make".to_string()),
            ("flex".to_string(), "flex".to_string()),
            ("bison".to_string(), "bison".to_string()),
        ];
        let mut fp = ToolFingerprint::new();
        let mut missing = Vec::new();
        for (tool, package) in required {
            match self.version(&tool) {
                Some(v) => {
                    fp.insert(tool, v);
                }
                None => missing.push(MissingTool { tool, package }),
            }
        }
        if !missing.is_empty() {
            return Err(MissingTools(missing));
        }
        Ok(fp)
    }

    /// The first line of `tool --version`, remembered by the binary's stat.
    fn version(&self, tool: &str) -> Option<String> {
        let path = find_on_path(tool)?;
        let real = std::fs::canonicalize(&path).unwrap_or(path.clone());
        let meta = std::fs::metadata(&real).ok()?;
        let stat = (
            meta.size(),
            meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            meta.ino(),
        );
        if let Some(r) = self.memo.lock().ok()?.get(&real)
            && (r.size, r.mtime_ns, r.ino) == stat
        {
            return Some(r.version.clone());
        }
        let out = std::process::Command::new(&path)
            .arg("--version")
            .env("LC_ALL", "C")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text.lines().next().unwrap_or("").trim().to_string();
        let mut memo = self.memo.lock().ok()?;
        memo.insert(
            real,
            Remembered {
                size: stat.0,
                mtime_ns: stat.1,
                ino: stat.2,
                version: version.clone(),
            },
        );
        if let Ok(bytes) = serde_json::to_vec_pretty(&*memo) {
            let _ = write_atomic(&self.memo_file, &bytes);
        }
        Some(version)
    }
}

/// The first executable named `tool` on `PATH`.
pub fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_the_host_toolchain_and_remembers_it() {
        let dir = tempfile::tempdir().unwrap();
        let memo = dir.path().join("tools.json");
        let t = Toolchains::new(&memo);
        let fp = t.fingerprint("").expect("gcc, ld and make are installed");
        assert!(fp["gcc"].contains("gcc"), "{fp:?}");
        assert!(fp["make"].starts_with("GNU Make"), "{fp:?}");
        assert!(memo.exists());
        // A second instance answers from the memo with the same result.
        assert_eq!(Toolchains::new(&memo).fingerprint("").unwrap(), fp);
    }

    #[test]
    fn a_missing_cross_compiler_names_its_package() {
        let dir = tempfile::tempdir().unwrap();
        let t = Toolchains::new(&dir.path().join("tools.json"));
        let err = t.fingerprint("nonexistent-arch-linux-gnu-").unwrap_err();
        assert_eq!(err.0[0].tool, "nonexistent-arch-linux-gnu-gcc");
        assert_eq!(err.0[0].package, "gcc-nonexistent-arch-linux-gnu");
        assert_eq!(
            err.0[1].tool, "nonexistent-arch-linux-gnu-ld",
            "every missing tool"
        );
        assert!(
            err.to_string().contains(
                "install them with: apt-get install gcc-nonexistent-arch-linux-gnu \
                 binutils-nonexistent-arch-linux-gnu"
            ),
            "{err}"
        );
    }
}
