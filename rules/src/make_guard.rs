//! One make per work directory, even after a kiln that was killed.
//!
//! A `kiln build` killed with SIGKILL (by the OOM killer, `kill -9`, a CI timeout) cannot
//! stop its make, which goes on compiling into the target's work directory, reparented to
//! init. The next build's make in that directory would then race it: two compilers writing
//! one object can leave bytes neither meant, with a fresh mtime that make trusts.
//!
//! So every make's pid and start time are recorded in `<work>/kiln-make.pid` while it runs,
//! and removed once kiln has seen it exit. Before the next make starts there, a record left
//! behind means a make ended (or goes on) without kiln: if it is still alive it is stopped,
//! frozen with SIGSTOP (so it cannot start new compilers), its descendants found through
//! `/proc` and frozen too, then all of them killed with SIGKILL. Either way, whatever it
//! wrote may be cut short: a compiler killed mid-write leaves a truncated object with a fresh
//! mtime, which make would trust and the link would choke on, build after build. So every
//! file of the work directory changed since that make started is deleted, and make rebuilds
//! it. (The work directory holds only generated files, and kiln writes make's inputs there
//! again before every make.)

use std::path::Path;
use std::time::{Duration, Instant};

use kiln_engine::temp_owner::Owner;

/// How long to wait for a killed make to disappear.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// The record of the make running in a work directory.
pub fn pid_file(work: &Path) -> std::path::PathBuf {
    work.join("kiln-make.pid")
}

/// Records `pid` as the make running in `work`.
pub fn record(work: &Path, pid: u32) {
    if let Some(owner) = Owner::of_pid(pid) {
        let text = format!("{} {}\n", owner.pid, owner.start);
        let _ = kiln_engine::fsutil::write_atomic(&pid_file(work), text.as_bytes());
    }
}

/// Forgets the make recorded in `work` (it has exited).
pub fn clear(work: &Path) {
    let _ = std::fs::remove_file(pid_file(work));
}

/// What [`recover`] did about a make that a killed kiln left behind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Processes killed (the make and what it had started).
    pub killed: usize,
    /// Files of the work directory deleted as possibly cut short.
    pub files_removed: usize,
}

/// Recovers `work` from a make that a killed kiln left behind (see the module doc): stops it
/// if it still runs, then deletes what it may have left half-written.
pub fn recover(work: &Path) -> Recovered {
    let Some(owner) = std::fs::read_to_string(pid_file(work))
        .ok()
        .and_then(|t| parse_record(&t))
    else {
        return Recovered::default();
    };
    let killed = if owner.is_alive() && owner.pid != std::process::id() {
        stop_tree(owner)
    } else {
        0
    };
    let files_removed = match started_at(owner.start) {
        Some(since) => remove_changed_since(work, since),
        None => 0,
    };
    clear(work);
    Recovered {
        killed,
        files_removed,
    }
}

/// When a process that started `ticks` clock ticks after boot started, less two seconds for
/// the whole-second boot time and any clock skew: a conservative "since".
fn started_at(ticks: u64) -> Option<std::time::SystemTime> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let boot: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let secs = boot + ticks / hz;
    let at = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    at.checked_sub(Duration::from_secs(2))
}

/// Deletes the files under `dir` modified at or after `since` (except the pid record);
/// returns how many.
fn remove_changed_since(dir: &Path, since: std::time::SystemTime) -> usize {
    let mut removed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if entry.path() != pid_file(dir)
                && meta.modified().is_ok_and(|m| m >= since)
                && std::fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

/// Stops `owner` and every process it started; returns how many were killed.
fn stop_tree(owner: Owner) -> usize {
    let pid = owner.pid as libc::pid_t;
    signal(pid, libc::SIGSTOP);
    let mut all = vec![pid];
    // Freeze level by level: a frozen process starts no new children.
    let mut frontier = vec![pid];
    while !frontier.is_empty() {
        let children = children_of(&frontier);
        for &c in &children {
            signal(c, libc::SIGSTOP);
        }
        all.extend(&children);
        frontier = children;
    }
    for &p in &all {
        signal(p, libc::SIGKILL);
    }
    let start = Instant::now();
    while owner.is_alive() && start.elapsed() < KILL_WAIT {
        std::thread::sleep(Duration::from_millis(5));
    }
    all.len()
}

fn parse_record(text: &str) -> Option<Owner> {
    let mut words = text.split_whitespace();
    let pid = words.next()?.parse().ok()?;
    let start = words.next()?.parse().ok()?;
    Some(Owner { pid, start })
}

fn signal(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: kill(2) takes plain integers and has no memory effects in this process; a pid
    // that has gone away just makes it fail with ESRCH.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// The processes whose parent is one of `parents`, from `/proc/<pid>/stat` (field 4).
fn children_of(parents: &[libc::pid_t]) -> Vec<libc::pid_t> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<libc::pid_t>().ok());
        if ppid.is_some_and(|p| parents.contains(&p)) {
            out.push(pid);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leftover_make_is_killed_and_what_it_wrote_removed() {
        let work = tempfile::tempdir().unwrap();
        // A "make" with a child, detached from this test so that it is not reaped by us.
        let mut sh = std::process::Command::new("sh")
            .arg("-c")
            .arg("sleep 30 & echo $!; wait")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(sh.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let child: u32 = line.trim().parse().unwrap();
        std::fs::write(work.path().join("old.o"), "complete").unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(work.path().join("old.o"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        record(work.path(), sh.id());
        std::fs::create_dir(work.path().join("obj")).unwrap();
        std::fs::write(work.path().join("obj/cut.o"), "trunc").unwrap();
        assert!(pid_file(work.path()).exists());
        let r = recover(work.path());
        assert_eq!(r.killed, 2, "the shell and its sleep");
        assert_eq!(r.files_removed, 1, "{r:?}");
        assert!(work.path().join("old.o").exists() && !work.path().join("obj/cut.o").exists());
        let _ = sh.wait();
        let child_gone = Owner::of_pid(child).is_none()
            || std::fs::read_to_string(format!("/proc/{child}/status"))
                .is_ok_and(|s| s.contains("State:\tZ"));
        assert!(child_gone, "the child was killed too");
        assert!(!pid_file(work.path()).exists());
        // A record of a process that is gone is just removed.
        std::fs::write(pid_file(work.path()), "999999999 1\n").unwrap();
        assert_eq!(recover(work.path()).killed, 0);
        assert!(!pid_file(work.path()).exists());
    }
}
