//! Helpers shared by the integration tests: making blobs and keys, recording results, and
//! ageing files. Test-only; nothing here is part of the crate's API.

#![allow(dead_code)] // Each test crate uses a different subset.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use kiln_cache::LocalStore;
use kiln_engine::{ActionKey, ActionResult, Digest, OutputFile, Store};

/// Stores `bytes` as a blob through a writer, in uneven pieces.
pub fn put(store: &LocalStore, bytes: &[u8], executable: bool) -> OutputFile {
    let mut writer = store.blob_writer().unwrap();
    for piece in bytes.chunks(1000) {
        writer.write_all(piece).unwrap();
    }
    writer.commit(executable).unwrap()
}

/// A distinct action key per label.
pub fn key(label: &str) -> ActionKey {
    ActionKey::from_raw(Digest::of(label.as_bytes()))
}

/// An action result with the given named outputs.
pub fn result(outputs: &[(&str, OutputFile)]) -> ActionResult {
    ActionResult {
        outputs: outputs
            .iter()
            .map(|(name, file)| (name.to_string(), *file))
            .collect::<BTreeMap<_, _>>(),
        duration_ms: 7,
        inputs: Vec::new(),
    }
}

/// Sets `path`'s mtime to `age` ago.
pub fn age(path: &Path, age: Duration) {
    let file = File::open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

/// `path`'s mtime.
pub fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// How many files are in `<root>/tmp`.
pub fn temp_files(root: &Path) -> usize {
    std::fs::read_dir(root.join("tmp")).unwrap().count()
}

/// `n` hours.
pub fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}
