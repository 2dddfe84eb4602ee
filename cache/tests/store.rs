//! The local store through the engine's `Store` trait: writing, recording, looking up and
//! materializing, and how damaged entries turn into misses. Maintenance is in
//! `maintenance.rs`, concurrency in `concurrency.rs`.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use common::{age, hours, key, mtime, put, result, temp_files};
use kiln_cache::{LocalStore, TOUCH_INTERVAL};
use kiln_engine::{BlobDigest, OutputFile, Store, StoreError};

fn open() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&dir.path().join("cache")).unwrap();
    (dir, store)
}

#[test]
fn open_creates_the_layout() {
    let (_dir, store) = open();
    for name in ["cas", "ac", "tmp"] {
        assert!(store.root().join(name).is_dir(), "{name}");
    }
    assert!(store.root().join("lock").is_file());
    let tag = fs::read_to_string(store.root().join("CACHEDIR.TAG")).unwrap();
    assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55"));
}

#[test]
fn round_trip_write_record_lookup_materialize() {
    let (dir, store) = open();
    let content: Vec<u8> = (0..2_500_000u32).map(|i| (i % 253) as u8).collect();
    let kernel = put(&store, &content, true);
    assert_eq!(kernel.digest, BlobDigest::of_bytes(&content));
    assert_eq!(kernel.size, content.len() as u64);
    assert!(kernel.executable);
    let blob = store.blob_path(&kernel.digest);
    assert_eq!(
        fs::metadata(&blob).unwrap().permissions().mode() & 0o777,
        0o444
    );

    let expected = result(&[("kernel", kernel)]);
    store.record(&key("a"), &expected).unwrap();
    assert!(store.contains(&key("a")).unwrap());
    assert_eq!(store.lookup(&key("a")).unwrap(), Some(expected));
    assert_eq!(store.lookup(&key("other")).unwrap(), None);
    assert!(!store.contains(&key("other")).unwrap());

    let dest = dir.path().join("project/.unikraft/build/app_qemu-x86_64");
    store.materialize(&kernel, &dest).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), content);
    let dest_meta = fs::metadata(&dest).unwrap();
    assert_eq!(dest_meta.permissions().mode() & 0o777, 0o755);
    assert_ne!(dest_meta.ino(), fs::metadata(&blob).unwrap().ino());

    // Editing the materialized file leaves the cache intact.
    fs::OpenOptions::new()
        .write(true)
        .open(&dest)
        .unwrap()
        .write_all(b"scribble")
        .unwrap();
    assert_eq!(fs::read(&blob).unwrap(), content);
    assert!(store.lookup(&key("a")).unwrap().is_some());
}

#[test]
fn materialize_replaces_an_existing_file_and_sets_the_mode() {
    let (dir, store) = open();
    let config = put(&store, b"CONFIG_X=y\n", false);
    let dest = dir.path().join("out/.config");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::write(&dest, b"old and longer contents").unwrap();
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o700)).unwrap();
    store.materialize(&config, &dest).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), b"CONFIG_X=y\n");
    assert_eq!(
        fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let leftovers: Vec<_> = fs::read_dir(dest.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temp file beside the destination");
}

#[test]
fn materialize_of_an_absent_blob_is_missing_blob() {
    let (dir, store) = open();
    let ghost = OutputFile {
        digest: BlobDigest::of_bytes(b"never stored"),
        size: 12,
        executable: false,
    };
    let err = store
        .materialize(&ghost, &dir.path().join("x"))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::MissingBlob(d) if d == ghost.digest),
        "{err}"
    );
    assert!(!dir.path().join("x").exists());
}

#[test]
fn put_file_stores_a_file() {
    let (dir, store) = open();
    let source = dir.path().join("source.bin");
    fs::write(&source, vec![9u8; 3 << 20]).unwrap();
    let stored = store.put_file(&source, false).unwrap();
    assert_eq!(stored.digest, BlobDigest::of_bytes(&vec![9u8; 3 << 20]));
    assert_eq!(
        fs::read(store.blob_path(&stored.digest)).unwrap().len(),
        3 << 20
    );
}

#[test]
fn empty_blob_round_trips() {
    let (dir, store) = open();
    let empty = put(&store, b"", false);
    assert_eq!(empty.size, 0);
    store
        .record(&key("empty"), &result(&[("e", empty)]))
        .unwrap();
    assert!(store.lookup(&key("empty")).unwrap().is_some());
    store.materialize(&empty, &dir.path().join("e")).unwrap();
    assert_eq!(fs::read(dir.path().join("e")).unwrap(), b"");
}

#[test]
fn truncated_blob_is_a_miss_and_the_entry_is_dropped() {
    let (_dir, store) = open();
    let blob = put(&store, &[1u8; 5000], false);
    store.record(&key("t"), &result(&[("out", blob)])).unwrap();
    let path = store.blob_path(&blob.digest);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(4000)
        .unwrap();
    assert_eq!(store.lookup(&key("t")).unwrap(), None);
    assert!(!store.contains(&key("t")).unwrap());
}

#[test]
fn missing_blob_is_a_miss_and_the_entry_is_dropped() {
    let (_dir, store) = open();
    let blob = put(&store, b"soon gone", false);
    store.record(&key("m"), &result(&[("out", blob)])).unwrap();
    fs::remove_file(store.blob_path(&blob.digest)).unwrap();
    assert_eq!(store.lookup(&key("m")).unwrap(), None);
    assert!(!store.action_path(&key("m")).exists());
}

#[test]
fn bad_json_is_a_miss_and_the_entry_is_dropped() {
    let (_dir, store) = open();
    let path = store.action_path(&key("j"));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, b"{\"outputs\": tru").unwrap();
    assert!(store.contains(&key("j")).unwrap());
    assert_eq!(store.lookup(&key("j")).unwrap(), None);
    assert!(!path.exists());
}

#[test]
fn record_refuses_absent_or_wrong_size_blobs() {
    let (_dir, store) = open();
    let ghost = OutputFile {
        digest: BlobDigest::of_bytes(b"ghost"),
        size: 5,
        executable: false,
    };
    let err = store
        .record(&key("r"), &result(&[("g", ghost)]))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::MissingBlob(d) if d == ghost.digest),
        "{err}"
    );

    let real = put(&store, b"12345", false);
    let lying = OutputFile { size: 6, ..real };
    let err = store
        .record(&key("r"), &result(&[("l", lying)]))
        .unwrap_err();
    assert!(
        err.to_string().contains("has 5 bytes, but 6 were recorded"),
        "{err}"
    );
    assert!(!store.contains(&key("r")).unwrap());
}

#[test]
fn a_hit_touches_stale_entries_but_not_fresh_ones() {
    let (_dir, store) = open();
    let old = put(&store, b"old blob", false);
    let fresh = put(&store, b"fresh blob", false);
    store
        .record(&key("h"), &result(&[("o", old), ("f", fresh)]))
        .unwrap();
    let entry = store.action_path(&key("h"));
    age(&entry, hours(5));
    age(&store.blob_path(&old.digest), hours(5));
    let recent = TOUCH_INTERVAL / 2;
    age(&store.blob_path(&fresh.digest), recent);
    let fresh_before = mtime(&store.blob_path(&fresh.digest));

    assert!(store.lookup(&key("h")).unwrap().is_some());
    let just_now = |path| mtime(path).elapsed().unwrap_or_default() < Duration::from_secs(60);
    assert!(just_now(&entry));
    assert!(just_now(&store.blob_path(&old.digest)));
    assert_eq!(mtime(&store.blob_path(&fresh.digest)), fresh_before);
}

#[test]
fn writing_an_existing_blob_again_succeeds_and_heals_it() {
    let (_dir, store) = open();
    let first = put(&store, b"same bytes", false);
    let second = put(&store, b"same bytes", true);
    assert_eq!(first.digest, second.digest);
    assert!(
        second.executable,
        "the exec bit is the caller's, not the blob's"
    );
    assert_eq!(temp_files(store.root()), 0);

    // A same-size corruption is healed by the next writer of that blob.
    let path = store.blob_path(&first.digest);
    fs::remove_file(&path).unwrap();
    fs::write(&path, b"SAME BYTES").unwrap();
    put(&store, b"same bytes", false);
    assert_eq!(fs::read(&path).unwrap(), b"same bytes");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o444
    );
}

#[test]
fn dropped_writers_leave_no_temp_files() {
    let (_dir, store) = open();
    let mut writer = store.blob_writer().unwrap();
    writer.write_all(&[0u8; 3 << 20]).unwrap();
    assert_eq!(temp_files(store.root()), 1);
    drop(writer);
    let untouched = store.blob_writer().unwrap();
    drop(untouched);
    assert_eq!(temp_files(store.root()), 0);
    assert_eq!(kiln_cache::stats(store.root()).unwrap().blobs, 0);
}
