//! Temporary files named by their writer, and the removal of those whose writer has died.
//!
//! Every file kiln writes appears by `rename(2)` from a temporary name. A writer killed
//! between creating and renaming leaves that temporary behind. To clean up without ever
//! deleting a file that a live writer is still filling, the name carries the writer's
//! identity: its pid *and* the time it started (field 22 of `/proc/<pid>/stat`, in clock ticks
//! since boot). A pid alone would be wrong once the pid is reused; an age limit would be wrong
//! for a slow writer and wasteful for a dead one. A writer is dead when no process with that
//! pid exists, when the process with that pid started at another time, or when the file is
//! older than the last boot (start times count from the boot).
//!
//! Names: `<stem>.kiln-<pid>-<start>-<n>.tmp`, where `<n>` is a per-process counter. A name
//! that does not parse has no known owner; [`remove_dead`] leaves it alone.
//!
//! On systems without `/proc` every writer counts as alive, so nothing is ever removed.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The marker between a temporary file's stem and its owner.
const MARKER: &str = ".kiln-";
/// The suffix of every temporary name.
const SUFFIX: &str = ".tmp";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A process that writes temporary files: pid plus start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The process id.
    pub pid: u32,
    /// When it started, in clock ticks since boot (0 where unknown).
    pub start: u64,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        static CURRENT: OnceLock<Owner> = OnceLock::new();
        *CURRENT.get_or_init(|| {
            let pid = std::process::id();
            Owner {
                pid,
                start: start_time(pid).unwrap_or(0),
            }
        })
    }

    /// The process `pid` as it is now, if it exists (and `/proc` can tell its start time).
    pub fn of_pid(pid: u32) -> Option<Owner> {
        start_time(pid).map(|start| Owner { pid, start })
    }

    /// Whether this process is still running (the same process, not a later one with the same
    /// pid; a zombie has stopped running). Where `/proc` cannot tell, the answer is yes.
    pub fn is_alive(&self) -> bool {
        if !Path::new("/proc/self/stat").exists() {
            return true;
        }
        matches!(proc_stat(self.pid), Some((state, start))
            if start == self.start && state != 'Z' && state != 'X')
    }
}

/// A fresh temporary name for a file that will become `stem`: unique in this process, and
/// carrying this process's [`Owner`].
pub fn temp_name(stem: &str) -> String {
    let owner = Owner::current();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{stem}{MARKER}{}-{}-{n}{SUFFIX}", owner.pid, owner.start)
}

/// The path of a fresh temporary file in `dir` for a file that will be named `name`: hidden
/// (`.<name>.kiln-…tmp`) so it does not show up beside the real outputs.
pub fn temp_path_for(dir: &Path, name: &str) -> PathBuf {
    dir.join(temp_name(&format!(".{name}")))
}

/// The owner written into a temporary name, or `None` if `name` is not one.
pub fn owner_of(name: &str) -> Option<Owner> {
    let rest = name.strip_suffix(SUFFIX)?;
    let (_, owner) = rest.rsplit_once(MARKER)?;
    let mut parts = owner.split('-');
    let pid = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    let _n: u64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(Owner { pid, start })
}

/// What [`remove_dead`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Temporary files (or directories) removed.
    pub files: u64,
    /// Their bytes (the apparent size of files; directories are counted recursively).
    pub bytes: u64,
}

impl std::ops::AddAssign for Removed {
    fn add_assign(&mut self, other: Removed) {
        self.files += other.files;
        self.bytes += other.bytes;
    }
}

/// Removes the temporary files and directories in `dir` (not below it) whose writer is dead.
/// A missing `dir` has none. Entries of live writers, and names that are not temporary names,
/// are left alone.
pub fn remove_dead(dir: &Path) -> io::Result<Removed> {
    let mut removed = Removed::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(owner_of) else {
            continue;
        };
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if owner.is_alive() && !older_than_boot(&meta) {
            continue;
        }
        let bytes = apparent_size(&entry.path(), &meta);
        let gone = if meta.is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
        match gone {
            Ok(()) => {
                removed.files += 1;
                removed.bytes += bytes;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// The dead writers' temporary files in `dir`, counted but not removed.
pub fn count_dead(dir: &Path) -> io::Result<Removed> {
    let mut found = Removed::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(owner_of) else {
            continue;
        };
        if let Ok(meta) = entry.path().symlink_metadata()
            && (!owner.is_alive() || older_than_boot(&meta))
        {
            found.files += 1;
            found.bytes += apparent_size(&entry.path(), &meta);
        }
    }
    Ok(found)
}

fn apparent_size(path: &Path, meta: &std::fs::Metadata) -> u64 {
    if !meta.is_dir() {
        return meta.len();
    }
    walkdir::WalkDir::new(path)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Whether `meta`'s mtime is before the system's last boot: no process of this boot wrote it
/// after that, so its writer is dead whatever its pid and start time say.
fn older_than_boot(meta: &std::fs::Metadata) -> bool {
    match (boot_time(), meta.modified()) {
        (Some(boot), Ok(modified)) => modified < boot,
        _ => false,
    }
}

/// When the system booted (`btime` in `/proc/stat`).
fn boot_time() -> Option<SystemTime> {
    static BOOT: OnceLock<Option<SystemTime>> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let secs: u64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        Some(UNIX_EPOCH + Duration::from_secs(secs))
    })
}

/// Field 22 (`starttime`) of `/proc/<pid>/stat`.
fn start_time(pid: u32) -> Option<u64> {
    proc_stat(pid).map(|(_, start)| start)
}

/// Fields 3 (state) and 22 (`starttime`) of `/proc/<pid>/stat`. The second field (the command
/// name) is in parentheses and may itself hold spaces and parentheses, so fields are counted
/// after the last `)`.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3) comes field 4; starttime is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_owner_and_parse_back() {
        let name = temp_name(".initramfs-x86_64.cpio");
        assert!(name.starts_with(".initramfs-x86_64.cpio.kiln-"), "{name}");
        assert_eq!(owner_of(&name), Some(Owner::current()));
        assert_ne!(temp_name("a"), temp_name("a"));
        for not_temp in [
            "a.tmp",
            "x.kiln-1-2.tmp",
            "x.kiln-a-2-3.tmp",
            "x.kiln-1-2-3",
        ] {
            assert_eq!(owner_of(not_temp), None, "{not_temp}");
        }
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = Owner::current();
        assert!(me.start > 0, "/proc gives a start time");
        assert!(me.is_alive());
        let reused = Owner {
            pid: me.pid,
            start: me.start + 1,
        };
        assert!(!reused.is_alive(), "same pid, other process");
    }

    #[test]
    fn only_dead_writers_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A child that exits at once: its pid and start time identify a dead writer.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid);
        child.wait().unwrap();
        let dead = format!(".out.kiln-{pid}-{}-0.tmp", start.unwrap_or(1));
        std::fs::write(dir.path().join(&dead), b"12345").unwrap();
        std::fs::create_dir(
            dir.path()
                .join(format!("d.kiln-{pid}-{}-1.tmp", start.unwrap_or(1))),
        )
        .unwrap();
        let live = temp_name(".out");
        std::fs::write(dir.path().join(&live), b"1").unwrap();
        std::fs::write(dir.path().join("out"), b"keep").unwrap();
        assert_eq!(count_dead(dir.path()).unwrap().files, 2);
        let removed = remove_dead(dir.path()).unwrap();
        assert_eq!(removed, Removed { files: 2, bytes: 5 });
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [live, "out".to_string()]);
    }

    #[test]
    fn a_missing_directory_has_nothing_to_remove() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            remove_dead(&dir.path().join("nope")).unwrap(),
            Removed::default()
        );
    }
}
