//! Unit tests of [`WatchState`] on real inotify, without a socket: things the daemon's
//! background draining would otherwise make hard to provoke (queue overflow) or to see.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::*;

fn stamp(answer: Answer) -> Stamp {
    match answer {
        Answer::Stamp(s) => s,
        Answer::Unknown(reason) => panic!("expected a stamp, got unknown: {reason}"),
    }
}

#[test]
fn overflowing_the_kernel_queue_makes_roots_unknown_until_rewatched() {
    let max_queued: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16384);
    assert!(
        max_queued <= 1 << 20,
        "max_queued_events too large to overflow in a test"
    );
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fs::write(&a, "a").unwrap();
    fs::write(&b, "b").unwrap();
    let mut state = WatchState::new(7).unwrap();
    let before = stamp(state.watch(dir.path()));
    // Nothing drains while we hold the state. Alternate two names so that the kernel cannot
    // coalesce consecutive identical events.
    for i in 0..max_queued + 10 {
        let mode = if i % 4 < 2 { 0o644 } else { 0o600 };
        let path = if i % 2 == 0 { &a } else { &b };
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }
    match state.query(dir.path()) {
        Answer::Unknown(reason) => assert!(reason.contains("overflow"), "{reason}"),
        Answer::Stamp(s) => panic!("overflow went unnoticed: {s:?}"),
    }
    let after = stamp(state.watch(dir.path()));
    assert_ne!(after, before);
    assert_eq!(after, stamp(state.query(dir.path())));
}

#[test]
fn reregistering_never_repeats_an_old_generation() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let mut state = WatchState::new(1).unwrap();
    let first = stamp(state.watch(&root));
    fs::remove_dir(&root).unwrap();
    assert!(matches!(state.query(&root), Answer::Unknown(_)));
    fs::create_dir(&root).unwrap();
    let second = stamp(state.watch(&root));
    assert_ne!(first, second, "a new history must not reuse a stamp");
}

#[test]
fn synthetic_overflow_event_forgets_every_root() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut state = WatchState::new(1).unwrap();
    stamp(state.watch(d1.path()));
    stamp(state.watch(d2.path()));
    state.apply(Change {
        wd: -1,
        mask: EventMask::Q_OVERFLOW,
        name: None,
    });
    assert!(matches!(state.query(d1.path()), Answer::Unknown(_)));
    assert!(matches!(state.query(d2.path()), Answer::Unknown(_)));
}

#[test]
fn releasing_a_root_keeps_watches_a_nested_root_still_needs() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("inner");
    fs::create_dir_all(inner.join("deep")).unwrap();
    let mut state = WatchState::new(1).unwrap();
    stamp(state.watch(dir.path()));
    let inner_before = stamp(state.watch(&inner));
    assert_eq!(state.watched_dirs(), 3);
    // Re-registering the outer root (after it became unknown) releases and re-adds it.
    state.forget_all("test");
    let outer_before = stamp(state.watch(dir.path()));
    assert_eq!(state.watched_dirs(), 3);
    // `forget_all` hit the inner root too; register it again, sharing the outer's watches.
    let inner_before = {
        assert!(matches!(state.query(&inner), Answer::Unknown(_)));
        let s = stamp(state.watch(&inner));
        assert_ne!(s, inner_before);
        s
    };
    assert_eq!(state.watched_dirs(), 3);
    fs::write(inner.join("deep/f"), "x").unwrap();
    assert_ne!(stamp(state.query(dir.path())), outer_before);
    assert_ne!(stamp(state.query(&inner)), inner_before);
}

#[test]
fn a_root_that_cannot_be_stated_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = WatchState::new(1).unwrap();
    assert!(matches!(
        state.watch(&dir.path().join("missing")),
        Answer::Unknown(_)
    ));
    assert!(matches!(
        state.watch(Path::new("relative/path")),
        Answer::Unknown(_)
    ));
}

#[test]
fn symlinks_below_the_root_are_not_followed() {
    let (root, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
    let mut state = WatchState::new(1).unwrap();
    let before = stamp(state.watch(root.path()));
    assert_eq!(state.watched_dirs(), 1);
    fs::write(outside.path().join("f"), "x").unwrap();
    assert_eq!(stamp(state.query(root.path())), before);
}

/// A file's own watch sees a write made through a hard link outside the root (its
/// directory's watch would not: inotify reports a write to the parent of the name used).
#[test]
fn a_write_through_an_outside_hard_link_is_seen() {
    let (root, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fs::write(root.path().join("f"), "a").unwrap();
    fs::hard_link(root.path().join("f"), outside.path().join("f")).unwrap();
    let mut state = WatchState::new(1).unwrap();
    let before = stamp(state.watch(root.path()));
    fs::write(outside.path().join("f"), "b").unwrap();
    assert_ne!(stamp(state.query(root.path())), before);
}

/// `ln root/f /elsewhere/g` changes only f's link count, which the kernel reports to watches
/// on f's inode: the root must move, so that kiln scans and sees the outside link.
#[test]
fn a_new_hard_link_outside_the_root_moves_its_stamp() {
    let (root, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fs::create_dir(root.path().join("etc")).unwrap();
    fs::write(root.path().join("etc/hostname"), "a").unwrap();
    let mut state = WatchState::new(1).unwrap();
    let before = stamp(state.watch(root.path()));
    fs::hard_link(root.path().join("etc/hostname"), outside.path().join("hn")).unwrap();
    let after_link = stamp(state.query(root.path()));
    assert_ne!(after_link, before);
    // A file created after registration is watched too.
    fs::write(root.path().join("etc/new"), "n").unwrap();
    let after_create = stamp(state.query(root.path()));
    fs::hard_link(root.path().join("etc/new"), outside.path().join("new")).unwrap();
    assert_ne!(stamp(state.query(root.path())), after_create);
}
