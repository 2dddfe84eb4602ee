//! [`LocalBlobWriter`]: writes a blob into `tmp/`, hashing it as the bytes pass, and commits
//! it into `cas/` by rename.
//!
//! Bytes are gathered into 1 MiB chunks; each full chunk is hashed, then written to the temp
//! file, so the blob's bytes are read zero extra times. Hashing is single-threaded on
//! purpose: BLAKE3 runs at about 4 GB/s on one core here, faster than the write into the page
//! cache, and neither `update_rayon` nor hashing on a second thread beside the write made a
//! 500 MB blob measurably faster on two cores (the `write_throughput` test below compares
//! them), while both would compete with a build's compilers for those cores. This file does
//! not read blobs, and it does not check that a blob is wanted: every commit lands.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use kiln_engine::{BlobDigest, BlobWriter, OutputFile, StoreError};

use crate::error::CacheError;
use crate::layout::{self, Layout};

/// How many bytes are gathered before they are hashed and written.
const CHUNK_BYTES: usize = 1 << 20;

/// The mode of a blob in `cas/`: read-only for everyone, never executable.
pub(crate) const BLOB_MODE: u32 = 0o444;

/// How a chunk is hashed relative to writing it. Only [`HashStrategy::Serial`] is used in
/// production; the others remain so that the throughput test can keep comparing them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum HashStrategy {
    /// `Hasher::update`, then `write_all`, on the calling thread.
    Serial,
    /// `Hasher::update_rayon` (the chunk hashed on all cores), then `write_all`.
    Rayon,
    /// `Hasher::update` and `write_all` at once on two threads.
    Overlapped,
}

/// A blob being written to a temp file in `tmp/`.
pub(crate) struct LocalBlobWriter {
    layout: Arc<Layout>,
    /// The temp file's path; deleted on drop unless `committed`.
    temp_path: PathBuf,
    file: File,
    /// Bytes written by the caller but not yet hashed or written to `file`.
    pending: Vec<u8>,
    hasher: blake3::Hasher,
    /// Bytes hashed and written so far (excluding `pending`).
    size: u64,
    strategy: HashStrategy,
    /// Set once the temp file has been renamed into `cas/` or deliberately removed.
    committed: bool,
}

impl LocalBlobWriter {
    /// Starts a blob in `layout`'s `tmp/`.
    pub(crate) fn create(layout: Arc<Layout>) -> Result<LocalBlobWriter, CacheError> {
        LocalBlobWriter::create_with(layout, HashStrategy::Serial)
    }

    /// Starts a blob in `layout`'s `tmp/`, hashing as `strategy` says.
    fn create_with(
        layout: Arc<Layout>,
        strategy: HashStrategy,
    ) -> Result<LocalBlobWriter, CacheError> {
        let (temp_path, file) = layout.create_temp(BLOB_MODE)?;
        Ok(LocalBlobWriter {
            layout,
            temp_path,
            file,
            pending: Vec::with_capacity(CHUNK_BYTES),
            hasher: blake3::Hasher::new(),
            size: 0,
            strategy,
            committed: false,
        })
    }

    /// Hashes `pending` and writes it to the temp file.
    fn drain_pending(&mut self) -> io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let result = self.absorb(&pending);
        self.pending = pending;
        self.pending.clear();
        result
    }

    /// Hashes `chunk` and writes it to the temp file, as `strategy` says.
    fn absorb(&mut self, chunk: &[u8]) -> io::Result<()> {
        let (hasher, file) = (&mut self.hasher, &mut self.file);
        let written = match self.strategy {
            HashStrategy::Serial => {
                hasher.update(chunk);
                file.write_all(chunk)
            }
            HashStrategy::Rayon => {
                hasher.update_rayon(chunk);
                file.write_all(chunk)
            }
            HashStrategy::Overlapped => {
                rayon::join(|| hasher.update(chunk), || file.write_all(chunk)).1
            }
        };
        written.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("writing {}: {e}", self.temp_path.display()),
            )
        })?;
        self.size += chunk.len() as u64;
        Ok(())
    }

    /// Finishes the blob: renames it into `cas/`, replacing any copy already there.
    ///
    /// Replacing rather than keeping an existing copy costs the same one rename as deleting
    /// the temp file, and it heals a same-size corruption (after a crash, say) with bytes that
    /// were just hashed. Readers holding the old file open keep reading the old inode.
    fn finish(&mut self, executable: bool) -> Result<OutputFile, CacheError> {
        self.drain_pending()
            .map_err(CacheError::io(&self.temp_path))?;
        let digest = BlobDigest::from_raw(self.hasher.finalize().into());
        let dest = self.layout.blob_path(&digest);
        layout::rename_creating_parent(&self.temp_path, &dest)?;
        self.committed = true;
        Ok(OutputFile {
            digest,
            size: self.size,
            executable,
        })
    }
}

impl Write for LocalBlobWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.pending.is_empty() && data.len() >= CHUNK_BYTES {
            // A big write needs no gathering; hash and write it in place.
            self.absorb(data)?;
            return Ok(data.len());
        }
        let taken = data.len().min(CHUNK_BYTES - self.pending.len());
        self.pending.extend_from_slice(&data[..taken]);
        if self.pending.len() == CHUNK_BYTES {
            self.drain_pending()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain_pending()
    }
}

impl BlobWriter for LocalBlobWriter {
    fn commit(mut self: Box<Self>, executable: bool) -> Result<OutputFile, StoreError> {
        Ok(self.finish(executable)?)
    }
}

impl Drop for LocalBlobWriter {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: a leftover is removed by `gc` once it is stale.
            let _ = fs::remove_file(&self.temp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn new_layout() -> (tempfile::TempDir, Arc<Layout>) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout.create_dirs().unwrap();
        (dir, Arc::new(layout))
    }

    #[test]
    fn all_strategies_hash_like_blake3_for_odd_write_sizes() {
        let data: Vec<u8> = (0..3 * CHUNK_BYTES + 12345).map(|i| i as u8).collect();
        let expected = BlobDigest::of_bytes(&data);
        for strategy in [
            HashStrategy::Serial,
            HashStrategy::Rayon,
            HashStrategy::Overlapped,
        ] {
            let (_dir, layout) = new_layout();
            let mut writer = LocalBlobWriter::create_with(layout.clone(), strategy).unwrap();
            // Small writes, one huge write, then small ones again.
            for piece in data[..5000].chunks(777) {
                writer.write_all(piece).unwrap();
            }
            writer
                .write_all(&data[5000..5000 + 2 * CHUNK_BYTES])
                .unwrap();
            writer.write_all(&data[5000 + 2 * CHUNK_BYTES..]).unwrap();
            let out = Box::new(writer).commit(false).unwrap();
            assert_eq!(out.digest, expected, "{strategy:?}");
            assert_eq!(out.size, data.len() as u64);
            assert_eq!(fs::read(layout.blob_path(&expected)).unwrap(), data);
        }
    }

    /// Measures MB/s of each strategy on a 500 MB blob written in 64 KiB pieces, as the median
    /// and best of five interleaved rounds (page-cache writeback makes single runs noisy). Run
    /// with `cargo test -p kiln-cache --release -- --ignored --nocapture write_throughput`.
    #[test]
    #[ignore = "a measurement, not a check; takes several seconds"]
    fn write_throughput() {
        const TOTAL: usize = 500 * 1000 * 1000;
        let strategies = [
            HashStrategy::Serial,
            HashStrategy::Rayon,
            HashStrategy::Overlapped,
        ];
        let mut rates = vec![Vec::new(); strategies.len()];
        for _round in 0..5 {
            for (index, strategy) in strategies.iter().enumerate() {
                rates[index].push(write_once(TOTAL, *strategy));
            }
        }
        for (strategy, mut rates) in strategies.iter().zip(rates) {
            rates.sort_by(f64::total_cmp);
            println!(
                "{strategy:?}: median {:.0} MB/s, best {:.0} MB/s",
                rates[rates.len() / 2],
                rates[rates.len() - 1]
            );
        }
    }

    /// Writes and commits one blob of `total` bytes; returns MB/s.
    fn write_once(total: usize, strategy: HashStrategy) -> f64 {
        let piece: Vec<u8> = (0..64 * 1024).map(|i| (i * 31 % 251) as u8).collect();
        let (_dir, layout) = new_layout();
        let start = Instant::now();
        let mut writer = LocalBlobWriter::create_with(layout, strategy).unwrap();
        let mut written = 0;
        while written < total {
            let n = piece.len().min(total - written);
            writer.write_all(&piece[..n]).unwrap();
            written += n;
        }
        Box::new(writer).commit(false).unwrap();
        total as f64 / start.elapsed().as_secs_f64() / 1e6
    }
}
