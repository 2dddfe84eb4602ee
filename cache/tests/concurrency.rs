//! Many writers on one cache at once: threads sharing a store, and separate processes each
//! with its own. Both kinds write the same blobs and different ones; afterwards every result
//! must be found, every blob must hash to its name, and `tmp/` must be empty.
//!
//! The second process is this test binary itself, run with `--exact child_process_writer`
//! and `KILN_TEST_CHILD_ROOT` set; without that variable the child test does nothing.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::{key, put, result, temp_files};
use kiln_cache::{LocalStore, verify};
use kiln_engine::Store;

const CHILD_ROOT: &str = "KILN_TEST_CHILD_ROOT";
const CHILD_NAME: &str = "KILN_TEST_CHILD_NAME";

/// Content shared by every writer, big enough to span several write chunks.
fn shared_content(i: u8) -> Vec<u8> {
    vec![i; (3 << 20) + usize::from(i)]
}

/// Writes the shared blobs and some of `writer`'s own, recording a result for each.
fn write_workload(store: &LocalStore, writer: &str) {
    for i in 0..6u8 {
        let shared = put(store, &shared_content(i), false);
        let own = put(store, format!("{writer} blob {i}").as_bytes(), true);
        let entry = result(&[("shared", shared), ("own", own)]);
        store
            .record(&key(&format!("{writer}/{i}")), &entry)
            .unwrap();
        // Everyone also records the same key with the same result.
        store
            .record(&key(&format!("common/{i}")), &result(&[("s", shared)]))
            .unwrap();
    }
}

/// Checks what `write_workload` left for `writers`.
fn assert_consistent(root: &Path, writers: &[String]) {
    let store = LocalStore::open(root).unwrap();
    for writer in writers {
        for i in 0..6 {
            let found = store.lookup(&key(&format!("{writer}/{i}"))).unwrap();
            let found = found.unwrap_or_else(|| panic!("{writer}/{i} missing"));
            assert_eq!(found.outputs["shared"].size, shared_content(i).len() as u64);
        }
    }
    for i in 0..6 {
        assert!(
            store
                .lookup(&key(&format!("common/{i}")))
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(temp_files(root), 0, "no temp file is left behind");
    drop(store);
    let report = verify(root).unwrap();
    assert_eq!(report.blobs_checked, 6 + 6 * writers.len() as u64);
    assert!(report.blobs_removed.is_empty(), "{report:?}");
    assert!(report.actions_removed.is_empty(), "{report:?}");
}

#[test]
fn threads_sharing_a_store_stay_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(dir.path()).unwrap());
    let writers: Vec<String> = (0..4).map(|t| format!("thread{t}")).collect();
    std::thread::scope(|scope| {
        for writer in &writers {
            let store = Arc::clone(&store);
            scope.spawn(move || write_workload(&store, writer));
        }
    });
    drop(store);
    assert_consistent(dir.path(), &writers);
}

#[test]
fn processes_sharing_a_cache_stay_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let writers: Vec<String> = (0..2).map(|p| format!("process{p}")).collect();
    let children: Vec<_> = writers
        .iter()
        .map(|writer| {
            Command::new(&exe)
                .args(["--exact", "child_process_writer", "--nocapture"])
                .env(CHILD_ROOT, dir.path())
                .env(CHILD_NAME, writer)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    assert_consistent(dir.path(), &writers);
}

/// The body of a child process of `processes_sharing_a_cache_stay_consistent`.
#[test]
fn child_process_writer() {
    let (Some(root), Some(name)) = (std::env::var_os(CHILD_ROOT), std::env::var(CHILD_NAME).ok())
    else {
        return; // Not spawned as a child: nothing to do.
    };
    let store = LocalStore::open(Path::new(&root)).unwrap();
    write_workload(&store, &name);
}
