//! `stats`, `gc`, `verify` and `clean` on real cache directories, and the lock that keeps
//! them away from open stores.

mod common;

use std::fs::{self, File, TryLockError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::{age, hours, key, put, result};
use kiln_cache::{ExclusiveCache, LocalStore, clean, gc, stats, verify};
use kiln_engine::Store;

#[test]
fn stats_counts_blobs_and_actions() {
    let dir = tempfile::tempdir().unwrap();
    let empty = stats(&dir.path().join("nowhere")).unwrap();
    assert_eq!((empty.blobs, empty.actions, empty.total_bytes), (0, 0, 0));

    let store = LocalStore::open(dir.path()).unwrap();
    let a = put(&store, &[1; 100], false);
    let b = put(&store, &[2; 250], false);
    store
        .record(&key("k"), &result(&[("a", a), ("b", b)]))
        .unwrap();
    let entry_len = fs::metadata(store.action_path(&key("k"))).unwrap().len();
    let s = stats(dir.path()).unwrap();
    assert_eq!((s.blobs, s.blob_bytes), (2, 350));
    assert_eq!((s.actions, s.action_bytes), (1, entry_len));
    assert_eq!(s.total_bytes, 350 + entry_len);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["blob_bytes"], 350);
}

#[test]
fn gc_evicts_oldest_first_and_drops_results_naming_evicted_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    // Four 1000-byte blobs, aged 4, 3, 2 and 1 hours.
    let blobs: Vec<_> = (0..4u8).map(|i| put(&store, &[i; 1000], false)).collect();
    for (i, blob) in blobs.iter().enumerate() {
        age(&store.blob_path(&blob.digest), hours(4 - i as u64));
    }
    // A recent result naming the oldest blob, and one naming only the newest.
    store
        .record(&key("old"), &result(&[("x", blobs[0])]))
        .unwrap();
    store
        .record(&key("new"), &result(&[("x", blobs[3])]))
        .unwrap();
    // An abandoned temp file and a live one.
    let stale_temp = dir.path().join("tmp/123-0-0");
    let live_temp = dir.path().join("tmp/124-0-0");
    fs::write(&stale_temp, b"dead writer").unwrap();
    fs::write(&live_temp, b"live writer").unwrap();
    age(&stale_temp, hours(2));
    drop(store);

    let before = stats(dir.path()).unwrap().total_bytes;
    let report = gc(dir.path(), 2500).unwrap();
    assert_eq!(report.blobs_removed, vec![blobs[0].digest, blobs[1].digest]);
    assert_eq!(report.actions_removed, vec![key("old")]);
    assert_eq!(report.temp_files_removed, 1);
    assert!(!stale_temp.exists() && live_temp.exists());
    assert!(report.bytes_after <= 2500);
    assert_eq!(report.bytes_before, before);
    assert_eq!(report.bytes_freed, before - report.bytes_after);
    assert_eq!(stats(dir.path()).unwrap().total_bytes, report.bytes_after);

    let store = LocalStore::open(dir.path()).unwrap();
    assert!(store.lookup(&key("old")).unwrap().is_none());
    assert!(store.lookup(&key("new")).unwrap().is_some());
    assert!(store.blob_path(&blobs[2].digest).exists());
}

#[test]
fn gc_under_the_limit_removes_nothing_and_gc_to_zero_empties() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let blob = put(&store, b"keep me", false);
    store.record(&key("k"), &result(&[("b", blob)])).unwrap();
    drop(store);
    let report = gc(dir.path(), 1 << 30).unwrap();
    assert!(report.blobs_removed.is_empty() && report.actions_removed.is_empty());
    assert_eq!(report.bytes_freed, 0);

    let report = gc(dir.path(), 0).unwrap();
    assert_eq!(
        (report.blobs_removed.len(), report.actions_removed.len()),
        (1, 1)
    );
    assert_eq!(stats(dir.path()).unwrap().total_bytes, 0);
}

#[test]
fn gc_never_evicts_pinned_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let kept = put(&store, &[1; 1000], false);
    let other = put(&store, &[2; 1000], false);
    age(&store.blob_path(&kept.digest), hours(5));
    drop(store);
    let pinned = std::collections::HashSet::from([kept.digest]);
    let report = ExclusiveCache::open(dir.path())
        .unwrap()
        .gc(0, &pinned)
        .unwrap();
    assert_eq!(report.blobs_removed, vec![other.digest]);
    assert_eq!(report.bytes_after, 1000);
    let store = LocalStore::open(dir.path()).unwrap();
    assert!(store.blob_path(&kept.digest).exists());
}

#[test]
fn verify_drops_corrupted_blobs_their_results_and_strays() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let good = put(&store, &[7; 300_000], false);
    let bad = put(&store, &[8; 300_000], false);
    store.record(&key("good"), &result(&[("g", good)])).unwrap();
    store
        .record(&key("bad"), &result(&[("g", good), ("b", bad)]))
        .unwrap();
    let bad_path = store.blob_path(&bad.digest);
    fs::remove_file(&bad_path).unwrap();
    fs::write(&bad_path, [9; 300_000]).unwrap(); // Same size, wrong content.
    let stray = dir.path().join("cas/zz-not-a-shard");
    fs::write(&stray, b"?").unwrap();
    drop(store);

    let report = verify(dir.path()).unwrap();
    assert_eq!(report.blobs_checked, 2);
    assert_eq!(report.blobs_removed, vec![bad.digest]);
    assert_eq!(report.actions_checked, 2);
    assert_eq!(report.actions_removed, vec![key("bad")]);
    assert_eq!(report.strays_removed, vec![stray.clone()]);
    assert!(!bad_path.exists() && !stray.exists());

    let again = verify(dir.path()).unwrap();
    assert!(again.blobs_removed.is_empty() && again.actions_removed.is_empty());
    let store = LocalStore::open(dir.path()).unwrap();
    assert!(store.lookup(&key("good")).unwrap().is_some());
}

#[test]
fn clean_leaves_an_empty_valid_cache_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let blob = put(&store, b"gone soon", false);
    store.record(&key("c"), &result(&[("b", blob)])).unwrap();
    drop(store);
    fs::write(dir.path().join("notes.txt"), b"not kiln's").unwrap();

    let report = clean(dir.path()).unwrap();
    assert_eq!((report.blobs_removed, report.actions_removed), (1, 1));
    assert_eq!(stats(dir.path()).unwrap().total_bytes, 0);
    assert!(dir.path().join("notes.txt").exists());
    let store = LocalStore::open(dir.path()).unwrap();
    assert!(store.lookup(&key("c")).unwrap().is_none());
    let again = put(&store, b"works after clean", false);
    store.record(&key("c"), &result(&[("b", again)])).unwrap();
    assert!(store.lookup(&key("c")).unwrap().is_some());
}

#[test]
fn an_open_store_holds_the_lock_shared() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalStore::open(dir.path()).unwrap();
    let waited = AtomicBool::new(false);
    let second = LocalStore::open_with(dir.path(), &|| waited.store(true, Ordering::SeqCst));
    assert!(
        second.is_ok() && !waited.load(Ordering::SeqCst),
        "builds share the cache"
    );

    let probe = File::open(dir.path().join("lock")).unwrap();
    assert!(matches!(probe.try_lock(), Err(TryLockError::WouldBlock)));
    assert!(probe.try_lock_shared().is_ok());
    drop(probe);
    drop((first, second));
    let probe = File::open(dir.path().join("lock")).unwrap();
    assert!(probe.try_lock().is_ok());
}

#[test]
fn maintenance_waits_for_open_stores_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let root = dir.path().to_path_buf();
    let (told_waiting, waiting) = mpsc::channel();
    let (told_done, done) = mpsc::channel();
    let maintainer = std::thread::spawn(move || {
        let cache = ExclusiveCache::open_with(&root, &|| told_waiting.send(()).unwrap()).unwrap();
        told_done.send(()).unwrap();
        cache.gc(0, &Default::default()).unwrap()
    });
    waiting.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        done.recv_timeout(Duration::from_millis(200)).is_err(),
        "must wait"
    );
    drop(store);
    done.recv_timeout(Duration::from_secs(10)).unwrap();
    maintainer.join().unwrap();

    // And a build waits for maintenance in turn.
    let cache = ExclusiveCache::open(dir.path()).unwrap();
    let probe = File::open(dir.path().join("lock")).unwrap();
    assert!(matches!(
        probe.try_lock_shared(),
        Err(TryLockError::WouldBlock)
    ));
    drop(cache);
}
