//! The daemon's model of what it watches: roots, their inotify watches and generations.
//!
//! One inotify instance serves every root. Each watched directory is keyed by its watch
//! descriptor and remembers the path it was reached by and which roots contain it (roots may
//! nest or alias, and the kernel gives one descriptor per inode). Every event on a directory
//! bumps the generation of each root containing it; nothing here looks at *what* changed.
//!
//! Every regular file also gets a watch of its own: a new hard link to a file changes its link
//! count, and the kernel reports that (`IN_ATTRIB`) to watches on the file's inode, never to
//! its directory's; likewise a write through a name outside the tree (`IN_MODIFY`). Without
//! them, `ln root/f /elsewhere/f` followed by a write through `/elsewhere/f` would change the
//! tree with no event under the root. With them, the link bumps the root; the scan that
//! follows sees the outside link, and kiln then never trusts the watcher for that tree (see
//! the crate doc), though the daemon would now also see the writes.
//!
//! Invariant: while a root is `Known`, every directory under it is either watched or was
//! created/moved in by an event not yet processed (whose processing bumps the root). This
//! holds because a directory's watch is added *before* its entries are listed: a
//! subdirectory made after the listing raises an event on the (already watched) parent.
//!
//! This module does no socket I/O; [`crate::daemon`] serialises access with a mutex.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use crate::protocol::Stamp;

/// Events that can change what a scan of the directory would see. `DONT_FOLLOW` and
/// `ONLYDIR` make the kernel refuse symlinks and files, so no watch leaves the tree.
const DIR_MASK: WatchMask = WatchMask::MODIFY
    .union(WatchMask::ATTRIB)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::CREATE)
    .union(WatchMask::DELETE)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR);

/// What a regular file's own watch reports: changes of its link count, and writes through
/// any of its names (its directory's watch sees only writes through the name inside the
/// tree). `DONT_FOLLOW`: a file that became a symlink is never followed out of the tree.
const FILE_MASK: WatchMask = WatchMask::ATTRIB
    .union(WatchMask::MODIFY)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::DONT_FOLLOW);

/// Event records are at most 16 + NAME_MAX + 1 bytes; this holds a few hundred at once.
const READ_BUFFER_BYTES: usize = 64 * 1024;

type RootId = u64;

/// What the daemon can say about a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Watched and certain.
    Stamp(Stamp),
    /// Not watched, or something happened that the daemon cannot account for.
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RootState {
    /// `generation` is the clock value of the last event processed under the root.
    Known { generation: u64 },
    /// The root must be scanned and registered again; the reason is for `--explain`.
    Unknown(String),
}

struct Root {
    /// Watch descriptor of the root directory itself.
    top_wd: i32,
    /// Identity of the directory the root path named at registration; checked on every
    /// answer so that a renamed ancestor or a re-pointed symlink cannot go unnoticed.
    dev_ino: (u64, u64),
    state: RootState,
}

struct WatchedDir {
    wd: WatchDescriptor,
    /// The latest path by which the directory was reached (updated when moved within a root).
    path: PathBuf,
    /// Roots containing this directory; never empty while the entry exists.
    roots: Vec<RootId>,
}

/// One event, owned, so that processing may add watches while the read buffer is reused.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    /// Watch descriptor number (-1 for a queue overflow).
    pub wd: i32,
    /// The kernel's event bits.
    pub mask: EventMask,
    /// Entry name inside the watched directory, if the event is about one.
    pub name: Option<OsString>,
}

/// All roots of one daemon and the inotify instance watching them.
pub struct WatchState {
    inotify: Inotify,
    instance: u64,
    /// Last generation handed out. Every bump and every registration takes the next value,
    /// so within one instance a generation value is never given to two histories.
    clock: u64,
    next_root: RootId,
    roots: HashMap<RootId, Root>,
    by_path: HashMap<PathBuf, RootId>,
    dirs: HashMap<i32, WatchedDir>,
}

impl WatchState {
    /// A new state with its own inotify instance (non-blocking, close-on-exec).
    pub fn new(instance: u64) -> io::Result<Self> {
        Ok(WatchState {
            inotify: Inotify::init()?,
            instance,
            clock: 0,
            next_root: 0,
            roots: HashMap::new(),
            by_path: HashMap::new(),
            dirs: HashMap::new(),
        })
    }

    /// The inotify descriptor, for `poll`.
    pub fn raw_fd(&self) -> RawFd {
        self.inotify.as_raw_fd()
    }

    /// This daemon's instance, as put in every stamp.
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// Number of directories currently watched (all roots).
    #[cfg(test)]
    pub fn watched_dirs(&self) -> usize {
        self.dirs.len()
    }

    /// Registers `root` if it is not watched with certainty, then answers its stamp.
    /// The answer is given only after every directory under it is watched.
    pub fn watch(&mut self, root: &Path) -> Answer {
        match self.query(root) {
            Answer::Stamp(stamp) => Answer::Stamp(stamp),
            Answer::Unknown(_) => self.register(root),
        }
    }

    /// The stamp of `root`, after processing every event already queued (the soundness rule).
    pub fn query(&mut self, root: &Path) -> Answer {
        self.drain();
        let Some(&id) = self.by_path.get(root) else {
            return Answer::Unknown(format!("{} is not watched", root.display()));
        };
        let Some(r) = self.roots.get(&id) else {
            return Answer::Unknown("internal: root without entry".into());
        };
        match &r.state {
            RootState::Unknown(reason) => Answer::Unknown(reason.clone()),
            RootState::Known { generation } => match dev_ino(root) {
                Ok(now) if now == r.dev_ino => Answer::Stamp(Stamp {
                    instance: self.instance,
                    generation: *generation,
                }),
                _ => Answer::Unknown(format!(
                    "{} no longer names the watched directory",
                    root.display()
                )),
            },
        }
    }

    /// Reads and applies every queued event until the kernel says there are none (EAGAIN).
    pub fn drain(&mut self) {
        let mut buffer = vec![0u8; READ_BUFFER_BYTES];
        loop {
            let changes: Vec<Change> = match self.inotify.read_events(&mut buffer) {
                Ok(events) => events
                    .map(|e| Change {
                        wd: e.wd.get_watch_descriptor_id(),
                        mask: e.mask,
                        name: e.name.map(|n| n.to_os_string()),
                    })
                    .collect(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.forget_all(&format!("reading inotify events failed: {e}"));
                    return;
                }
            };
            for change in changes {
                self.apply(change);
            }
        }
    }

    /// Applies one event: bumps the roots containing the directory, watches new
    /// subdirectories, and gives up on roots the daemon can no longer vouch for.
    pub(crate) fn apply(&mut self, change: Change) {
        if change.mask.contains(EventMask::Q_OVERFLOW) {
            self.forget_all("the inotify event queue overflowed (fs.inotify.max_queued_events)");
            return;
        }
        let Some(dir) = self.dirs.get(&change.wd) else {
            // A watch already released: no root depends on it any more.
            return;
        };
        let (roots, dir_path) = (dir.roots.clone(), dir.path.clone());
        for &id in &roots {
            self.bump(id);
        }
        let new_dir = change.mask.contains(EventMask::ISDIR)
            && change
                .mask
                .intersects(EventMask::CREATE | EventMask::MOVED_TO);
        if let (true, Some(name)) = (new_dir, &change.name) {
            self.watch_new_subdir(&dir_path.join(name), &roots);
        }
        let new_entry = !change.mask.contains(EventMask::ISDIR)
            && change
                .mask
                .intersects(EventMask::CREATE | EventMask::MOVED_TO);
        if let (true, Some(name)) = (new_entry, &change.name) {
            self.watch_new_file(&dir_path.join(name), &roots);
        }
        if change.mask.contains(EventMask::UNMOUNT) {
            for &id in &roots {
                self.mark_unknown(id, "a file system under the root was unmounted");
            }
        }
        let gone = EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED;
        if change.mask.intersects(gone) {
            for &id in &roots {
                if self.roots.get(&id).is_some_and(|r| r.top_wd == change.wd) {
                    self.mark_unknown(id, "the root directory was deleted, moved or unwatched");
                }
            }
        }
        if change.mask.contains(EventMask::IGNORED) {
            self.dirs.remove(&change.wd);
        }
    }

    fn watch_new_subdir(&mut self, path: &Path, roots: &[RootId]) {
        let live: Vec<RootId> = roots
            .iter()
            .copied()
            .filter(|id| matches!(self.roots.get(id), Some(r) if matches!(r.state, RootState::Known { .. })))
            .collect();
        if live.is_empty() {
            return;
        }
        if let Err(reason) = self.add_tree(path, &live, false) {
            for id in live {
                self.mark_unknown(id, &reason);
            }
        }
    }

    fn watch_new_file(&mut self, path: &Path, roots: &[RootId]) {
        let is_file = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
        if !is_file {
            return;
        }
        match self.add_dir(path, roots, FILE_MASK) {
            Ok(_) => {}
            // Gone again: its removal raised an event on the watched parent.
            Err(e) if vanished(&e) => {}
            Err(e) => {
                let reason = watch_failure(path, &e);
                for &id in roots {
                    self.mark_unknown(id, &reason);
                }
            }
        }
    }

    fn register(&mut self, root: &Path) -> Answer {
        if let Some(old) = self.by_path.remove(root) {
            self.release(old);
        }
        if !root.is_absolute() {
            return Answer::Unknown(format!("{} is not an absolute path", root.display()));
        }
        let before = match dev_ino(root) {
            Ok(id) => id,
            Err(e) => return Answer::Unknown(format!("cannot stat {}: {e}", root.display())),
        };
        let id = self.next_root;
        self.next_root += 1;
        let generation = self.tick();
        let state = RootState::Known { generation };
        let root_entry = Root {
            top_wd: -1,
            dev_ino: before,
            state,
        };
        self.roots.insert(id, root_entry);
        self.by_path.insert(root.to_path_buf(), id);
        match self.add_tree(root, &[id], true) {
            Ok(top_wd) => {
                if let Some(r) = self.roots.get_mut(&id) {
                    r.top_wd = top_wd;
                }
                // The watch went to whatever the path named at that moment; if that is no
                // longer the directory stat'ed before, the root was swapped mid-registration.
                if dev_ino(root).ok() != Some(before) {
                    self.mark_unknown(id, "the root was replaced while it was being registered");
                }
            }
            Err(reason) => self.mark_unknown(id, &reason),
        }
        self.query(root)
    }

    /// Watches `top` and every directory below it for `roots`. The watch on a directory is
    /// added before it is listed (see the module invariant). Returns the top's descriptor.
    fn add_tree(&mut self, top: &Path, roots: &[RootId], is_root: bool) -> Result<i32, String> {
        let mut top_wd = -1;
        let mut stack = vec![top.to_path_buf()];
        while let Some(dir) = stack.pop() {
            // The root itself may be reached through a symlink, as `scan_dir` does; nothing
            // below it is (and `dev_ino` checks the root's identity on every answer).
            let is_top = top_wd == -1;
            let mask = if is_root && is_top {
                DIR_MASK
            } else {
                DIR_MASK | WatchMask::DONT_FOLLOW
            };
            match self.add_dir(&dir, roots, mask) {
                Ok(wd) if is_top => top_wd = wd,
                Ok(_) => {}
                // Gone or replaced by a non-directory since it was seen: that change raised an
                // event on its parent, which is watched, so the roots get bumped anyway.
                Err(e) if vanished(&e) && !(is_root && is_top) => continue,
                Err(e) => return Err(watch_failure(&dir, &e)),
            }
            let (subdirs, files) = match list_entries(&dir) {
                Ok(found) => found,
                Err(e) if vanished(&e) => continue,
                Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
            };
            stack.extend(subdirs);
            for file in files {
                match self.add_dir(&file, roots, FILE_MASK) {
                    Ok(_) => {}
                    Err(e) if vanished(&e) => {}
                    Err(e) => return Err(watch_failure(&file, &e)),
                }
            }
        }
        Ok(top_wd)
    }

    /// Watches the directory (or, with [`FILE_MASK`], the file) at `path` for `roots`.
    fn add_dir(&mut self, path: &Path, roots: &[RootId], mask: WatchMask) -> io::Result<i32> {
        let wd = self.inotify.watches().add(path, mask)?;
        let id = wd.get_watch_descriptor_id();
        let dir = self.dirs.entry(id).or_insert_with(|| WatchedDir {
            wd,
            path: path.to_path_buf(),
            roots: Vec::new(),
        });
        dir.path = path.to_path_buf();
        for root in roots {
            if !dir.roots.contains(root) {
                dir.roots.push(*root);
            }
        }
        Ok(id)
    }

    /// Forgets root `id`, removing the watches no other root needs.
    fn release(&mut self, id: RootId) {
        self.roots.remove(&id);
        let mut unused = Vec::new();
        for (wd, dir) in &mut self.dirs {
            dir.roots.retain(|r| *r != id);
            if dir.roots.is_empty() {
                unused.push(*wd);
            }
        }
        for wd in unused {
            if let Some(dir) = self.dirs.remove(&wd) {
                // Fails only if the kernel already dropped the watch; either way it is gone.
                let _ = self.inotify.watches().remove(dir.wd);
            }
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn bump(&mut self, id: RootId) {
        let next = self.clock + 1;
        if let Some(Root {
            state: RootState::Known { generation },
            ..
        }) = self.roots.get_mut(&id)
        {
            *generation = next;
            self.clock = next;
        }
    }

    fn mark_unknown(&mut self, id: RootId, reason: &str) {
        if let Some(r) = self.roots.get_mut(&id)
            && matches!(r.state, RootState::Known { .. })
        {
            r.state = RootState::Unknown(reason.to_string());
        }
    }

    /// Makes every root `Unknown` (the events that were lost could have been anywhere).
    pub(crate) fn forget_all(&mut self, reason: &str) {
        let ids: Vec<RootId> = self.roots.keys().copied().collect();
        for id in ids {
            self.mark_unknown(id, reason);
        }
    }
}

fn dev_ino(path: &Path) -> io::Result<(u64, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// Subdirectories and regular files of `dir`, by the type the directory entry reports
/// (symlinks are not followed; `DirEntry::file_type` falls back to `lstat` when the file
/// system gives none).
fn list_entries(dir: &Path) -> io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            dirs.push(entry.path());
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    Ok((dirs, files))
}

fn vanished(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

fn watch_failure(dir: &Path, e: &io::Error) -> String {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        format!(
            "cannot watch {}: the inotify watch limit is reached; raise fs.inotify.max_user_watches",
            dir.display()
        )
    } else {
        format!("cannot watch {}: {e}", dir.display())
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
