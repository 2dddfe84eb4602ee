//! The machine-wide download cache for the upstream archives that Unikraft's libraries fetch
//! (musl's tarball, lwip's zip, …), shared by every project and target on the machine.
//!
//! ```text
//! <cache>/downloads/
//!   files/<64 hex>             the bytes, named by their BLAKE3 digest; mode 0444; appear
//!                              by rename from a temp name beside them
//!   urls/<32 hex>.json         {"url","sha256","blake3","size"}: what the URL served last,
//!                              named by the BLAKE3 of the URL
//! ```
//!
//! [`Archives::get`] serves a URL from the cache when it can, without a request: the pinned
//! bytes (from Kraftfile.lock) if present, else what the URL served last. Otherwise, unless
//! offline, it downloads through the `[mirrors]` rewrites, hashes on the way, and stores the
//! file only when the download was whole. A download whose bytes differ from the pin is an
//! error the caller decides about (`--locked` or not). [`Archives::copy_to`] hands a cached
//! file to make, checking its hash while it copies.
//!
//! One URL is downloaded by one thread of one process at a time: the others wait on an
//! advisory lock (`urls/<32 hex>.lock`), then take the copy it stored. Two targets of one
//! build, or two kiln processes, that need the same archive make one request between them.
//!
//! `kiln cache gc` does not evict downloads (like the git cache); `kiln cache clean` leaves
//! them too. Delete `<cache>/downloads/` to drop them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use kiln_engine::temp_owner;

use super::SourceError;
use super::config::KilnConfig;
use super::lock::DownloadEntry;
use super::progress::DownloadReporter;

/// The download cache of one kiln cache directory.
pub struct Archives {
    root: PathBuf,
    config: KilnConfig,
    offline: bool,
    fetcher: OnceLock<Result<kiln_fetch::Fetcher, String>>,
    requests: AtomicUsize,
    /// What this instance downloaded, by URL: a refresh downloads a URL once per run, however
    /// many targets ask.
    downloaded: Mutex<BTreeMap<String, DownloadEntry>>,
    reporter: Option<Arc<dyn DownloadReporter>>,
}

impl std::fmt::Debug for Archives {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archives")
            .field("root", &self.root)
            .finish()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Archives {
    /// The download cache under `<cache_dir>/downloads`.
    pub fn new(cache_dir: &Path, config: KilnConfig, offline: bool) -> Archives {
        Archives {
            root: cache_dir.join("downloads"),
            config,
            offline,
            fetcher: OnceLock::new(),
            requests: AtomicUsize::new(0),
            downloaded: Mutex::new(BTreeMap::new()),
            reporter: None,
        }
    }

    /// Where progress goes (none by default).
    pub fn set_reporter(&mut self, reporter: Arc<dyn DownloadReporter>) {
        self.reporter = Some(reporter);
    }

    /// How many downloads this instance started.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Where the bytes with BLAKE3 digest `blake3` (hex) live.
    pub fn file(&self, blake3: &str) -> PathBuf {
        self.root.join("files").join(blake3)
    }

    fn index_file(&self, url: &str) -> PathBuf {
        let key = blake3::hash(url.as_bytes()).to_hex();
        self.root.join("urls").join(format!("{}.json", &key[..32]))
    }

    /// What `url` served the last time it was downloaded here, if its bytes are still here.
    pub fn cached(&self, url: &str) -> Option<DownloadEntry> {
        let entry: DownloadEntry = std::fs::read(self.index_file(url))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())?;
        (entry.url == url && self.present(&entry)).then_some(entry)
    }

    fn present(&self, e: &DownloadEntry) -> bool {
        std::fs::metadata(self.file(&e.blake3)).is_ok_and(|m| m.is_file() && m.len() == e.size)
    }

    /// The bytes of `url`: from the cache when `pin` (or, without one, the last download) is
    /// here and `refresh` is off, else downloaded. A download that differs from `pin` is
    /// [`SourceError::ArchiveChanged`] (the new bytes are cached all the same).
    pub fn get(
        &self,
        url: &str,
        pin: Option<&DownloadEntry>,
        refresh: bool,
    ) -> Result<DownloadEntry, SourceError> {
        if let Some(hit) = self.hit(url, pin, refresh) {
            return Ok(hit);
        }
        if self.offline {
            return Err(SourceError::NeedsNetwork {
                component: "an upstream archive".into(),
                url: url.into(),
                why: "it is not in the download cache".into(),
                hint: "run `kiln fetch` while online first (it downloads what the selected \
                       targets need), or add a [mirrors] entry for a reachable copy"
                    .into(),
            });
        }
        // One download of a URL at a time, on the whole machine; whoever waited takes the
        // copy the other stored.
        let _lock = self.lock_url(url)?;
        let got = match self.hit(url, pin, refresh) {
            Some(hit) => hit,
            None => self.download(url)?,
        };
        match pin {
            Some(p) if p.blake3 != got.blake3 => Err(SourceError::ArchiveChanged {
                url: url.into(),
                expected: p.sha256.clone(),
                actual: got.sha256.clone(),
            }),
            _ => Ok(got),
        }
    }

    /// The bytes of `url` already here: downloaded by this instance; else, unless `refresh`,
    /// the pinned bytes, or (without a pin) what the URL served last.
    fn hit(&self, url: &str, pin: Option<&DownloadEntry>, refresh: bool) -> Option<DownloadEntry> {
        let done = self.downloaded.lock().ok()?.get(url).cloned();
        if let Some(done) = done.filter(|d| self.present(d)) {
            return Some(done);
        }
        if refresh {
            return None;
        }
        if let Some(p) = pin.filter(|p| self.present(p)) {
            return Some(p.clone());
        }
        self.cached(url).filter(|_| pin.is_none())
    }

    /// Takes the machine-wide lock of `url` (an advisory lock on `urls/<key>.lock`), telling
    /// the reporter when another holder makes this one wait.
    fn lock_url(&self, url: &str) -> Result<std::fs::File, SourceError> {
        let path = self.index_file(url).with_extension("lock");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(url, dir, e))?;
        }
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io(url, &path, e))?;
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(io(url, &path, e)),
        }
        if let Some(r) = &self.reporter {
            r.waiting(url);
        }
        file.lock().map_err(|e| io(url, &path, e))?;
        Ok(file)
    }

    fn fetcher(&self) -> Result<&kiln_fetch::Fetcher, SourceError> {
        self.fetcher
            .get_or_init(|| {
                kiln_fetch::Fetcher::new(&kiln_fetch::FetchOptions::default())
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| SourceError::Download {
                url: String::new(),
                reason: e.clone(),
            })
    }

    /// Downloads `url` (through the mirrors) into the cache.
    fn download(&self, url: &str) -> Result<DownloadEntry, SourceError> {
        let fetch_url = self.config.rewrite(url);
        let files = self.root.join("files");
        std::fs::create_dir_all(&files).map_err(|e| io(url, &files, e))?;
        let temp = files.join(temp_owner::temp_name("download"));
        let mut out = std::fs::File::create(&temp).map_err(|e| io(url, &temp, e))?;
        self.requests.fetch_add(1, Ordering::SeqCst);
        let start = Instant::now();
        let got = self
            .fetcher()?
            .get(&fetch_url, &mut out, &mut |done, total| {
                if let Some(r) = &self.reporter {
                    r.progress(url, done, total, start.elapsed());
                }
            });
        drop(out);
        if let Some(r) = &self.reporter {
            let size = got.as_ref().ok().map(|g| g.size);
            r.finished(url, size, start.elapsed());
        }
        let got = match got {
            Ok(got) => got,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(SourceError::Download {
                    url: url.into(),
                    reason: e.to_string(),
                });
            }
        };
        let entry = DownloadEntry {
            url: url.into(),
            sha256: hex(&got.sha256),
            blake3: hex(&got.blake3),
            size: got.size,
        };
        let dest = self.file(&entry.blake3);
        let stored = set_read_only(&temp).and_then(|()| std::fs::rename(&temp, &dest));
        if let Err(e) = stored {
            let _ = std::fs::remove_file(&temp);
            return Err(io(url, &dest, e));
        }
        if let Ok(json) = serde_json::to_vec(&entry) {
            let _ = kiln_engine::fsutil::write_atomic(&self.index_file(url), &json);
        }
        if let Ok(mut done) = self.downloaded.lock() {
            done.insert(url.to_string(), entry.clone());
        }
        Ok(entry)
    }

    /// Copies the cached bytes of `entry` to `dest` (atomically), checking their BLAKE3 on
    /// the way; a damaged file is removed from the cache and is an error.
    pub fn copy_to(&self, entry: &DownloadEntry, dest: &Path) -> Result<(), SourceError> {
        let src_path = self.file(&entry.blake3);
        let mut src = std::fs::File::open(&src_path).map_err(|e| io(&entry.url, &src_path, e))?;
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| io(&entry.url, dir, e))?;
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let temp = temp_owner::temp_path_for(dir, &name);
        let copied = (|| {
            let mut out = std::fs::File::create(&temp)?;
            let mut hasher = blake3::Hasher::new();
            kiln_engine::fsutil::copy_hashing(&mut src, &mut out, &mut hasher)
                .map_err(kiln_engine::fsutil::CopyError::into_io)?;
            Ok::<_, std::io::Error>(hasher.finalize().to_hex().to_string())
        })();
        let ok = match copied {
            Ok(digest) if digest == entry.blake3 => std::fs::rename(&temp, dest),
            Ok(_) => {
                let _ = std::fs::remove_file(&temp);
                let _ = std::fs::remove_file(&src_path);
                return Err(SourceError::Download {
                    url: entry.url.clone(),
                    reason: format!(
                        "the cached copy {} was damaged and has been removed; build again",
                        src_path.display()
                    ),
                });
            }
            Err(e) => Err(e),
        };
        ok.map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            io(&entry.url, dest, e)
        })
    }
}

fn set_read_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444))
}

fn io(url: &str, path: &Path, e: std::io::Error) -> SourceError {
    SourceError::Download {
        url: url.into(),
        reason: format!("{}: {e}", path.display()),
    }
}
