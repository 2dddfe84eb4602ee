//! One instance's directory: its paths, the `machine.json` record, creating a directory
//! under a name (unique, generated, or replacing an exited instance), atomic writes.
//!
//! This module does not look at processes except through `control::status` when a name is
//! already taken.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::InstanceError;
use super::control::{State, status};
use super::names::{generate_name, validate_name};
use crate::accel::ResolvedAccel;
use crate::qemu::QemuPaths;
use crate::spec::{MachineSpec, Vmm};

/// What `machine.json` holds: how the machine was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineRecord {
    /// The spec, with `name` set to the instance's name.
    pub spec: MachineSpec,
    /// When the instance was created (seconds since the Unix epoch).
    pub created_unix: u64,
    /// The monitor.
    pub vmm: Vmm,
    /// The accelerator in use.
    pub accel: ResolvedAccel,
    /// QEMU's full command line, program first.
    pub argv: Vec<String>,
    /// Started under a supervisor (`kiln run -d`) rather than in the foreground.
    pub detached: bool,
    /// Delete the directory once the machine has exited (`kiln run --rm`).
    pub remove_on_exit: bool,
}

/// An instance's directory `<root>/<name>` and the paths of its files.
///
/// One made by [`create`] also holds the directory's setup lock (`<dir>/setup.lock`, an
/// exclusive `flock`) from the moment the name is taken until [`InstanceDir::setup_done`]
/// (called by `launch` once QEMU's pid is recorded): until then the directory says neither
/// "running" nor reliably "exited", and the lock is what tells another `kiln run` with the
/// same name that the instance is starting.
#[derive(Debug, Clone)]
pub struct InstanceDir {
    root: PathBuf,
    name: String,
    setup_lock: SetupLock,
}

/// The setup lock, shared by the clones of one [`InstanceDir`] and released by any of them.
type SetupLock = std::sync::Arc<std::sync::Mutex<Option<fs::File>>>;

impl PartialEq for InstanceDir {
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root && self.name == other.name
    }
}

impl Eq for InstanceDir {}

impl InstanceDir {
    /// An existing instance `name` under `root`.
    pub fn open(root: &Path, name: &str) -> Result<InstanceDir, InstanceError> {
        validate_name(name)?;
        let dir = InstanceDir {
            root: root.to_owned(),
            name: name.to_owned(),
            setup_lock: SetupLock::default(),
        };
        if !dir.path().is_dir() {
            return Err(InstanceError::NotFound(name.to_owned()));
        }
        Ok(dir)
    }

    /// The instance whose directory is `path` (as the supervisor receives it).
    pub fn from_path(path: &Path) -> Result<InstanceDir, InstanceError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let root = path.parent().unwrap_or(Path::new("/"));
        InstanceDir::open(root, name)
    }

    /// Releases the setup lock: the machine's process is recorded, so its state speaks for
    /// itself from now on.
    pub fn setup_done(&self) {
        if let Ok(mut lock) = self.setup_lock.lock() {
            lock.take();
        }
    }

    /// The instance's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instances root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<name>`.
    pub fn path(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    /// A file in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// The guest's serial console log (for `serial::follow`).
    pub fn serial_log(&self) -> PathBuf {
        self.file("serial.log")
    }

    /// QEMU's own output.
    pub fn qemu_log(&self) -> PathBuf {
        self.file("qemu.log")
    }

    /// The QMP command socket.
    pub fn qmp_socket(&self) -> PathBuf {
        self.file("qmp.sock")
    }

    /// Where QEMU's files go, for `QemuArgs::build`.
    pub fn qemu_paths(&self) -> QemuPaths {
        QemuPaths {
            serial_log: self.serial_log(),
            pidfile: self.file("pid"),
            qmp_socket: self.qmp_socket(),
            events_socket: self.file("events.sock"),
        }
    }

    /// Reads `machine.json`.
    pub fn record(&self) -> Result<MachineRecord, InstanceError> {
        read_json(&self.file("machine.json"))?.ok_or_else(|| InstanceError::Damaged {
            path: self.file("machine.json"),
            reason: "missing".into(),
        })
    }

    pub(super) fn write_record(&self, record: &MachineRecord) -> Result<(), InstanceError> {
        write_json(&self.file("machine.json"), record)
    }
}

/// Creates the directory for a new instance under `root`: `name`, or a generated unique name.
///
/// A name already in use is an error: [`InstanceError::InUse`] while its machine runs or is
/// being started, [`InstanceError::Exists`] once it has exited, unless `replace` is set, in
/// which case the exited instance's directory is deleted and reused.
///
/// The directory appears with its setup lock already held: it is made under a temporary name,
/// the lock taken inside it, and then renamed into place (which fails if the name is taken).
pub fn create(
    root: &Path,
    name: Option<&str>,
    replace: bool,
) -> Result<InstanceDir, InstanceError> {
    fs::create_dir_all(root).map_err(InstanceError::io(root))?;
    let Some(name) = name else {
        for _ in 0..100 {
            if let Some(dir) = create_locked(root, &generate_name())? {
                return Ok(dir);
            }
        }
        return Err(InstanceError::Exists("<generated>".into()));
    };
    validate_name(name)?;
    if let Some(dir) = create_locked(root, name)? {
        return Ok(dir);
    }
    let dir = InstanceDir {
        root: root.to_owned(),
        name: name.to_owned(),
        setup_lock: SetupLock::default(),
    };
    let starting = || InstanceError::InUse {
        name: name.to_owned(),
        state: "starting".to_owned(),
    };
    // A `kiln run` still starting it holds the setup lock (QEMU may be spawned without its
    // pid recorded, which alone would read as "exited"). The lock is taken before the state
    // is read: read first, a state taken just before the starter recorded its pid and let
    // the lock go would say "exited" of a machine that is running.
    let Some(held) = try_setup_lock(&dir)? else {
        return Err(starting());
    };
    let state = status(&dir)?.state;
    match state {
        State::Running | State::Paused => Err(InstanceError::InUse {
            name: name.to_owned(),
            state: state.as_str().to_owned(),
        }),
        State::Exited | State::Created if replace => {
            drop(held);
            fs::remove_dir_all(dir.path()).map_err(InstanceError::io(dir.path()))?;
            // Two replacers at once: one rename wins, the other sees the name taken.
            create_locked(root, name)?.ok_or_else(starting)
        }
        State::Exited | State::Created => Err(InstanceError::Exists(name.to_owned())),
    }
}

/// Makes `<root>/<name>` with its setup lock held, or `None` if the name is taken.
fn create_locked(root: &Path, name: &str) -> Result<Option<InstanceDir>, InstanceError> {
    let temp = root.join(format!(".{name}.{}.setup", std::process::id()));
    let _ = fs::remove_dir_all(&temp);
    fs::create_dir(&temp).map_err(InstanceError::io(&temp))?;
    let staged = InstanceDir {
        root: root.to_owned(),
        name: temp
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        setup_lock: SetupLock::default(),
    };
    let lock = try_setup_lock(&staged)?;
    let dir = InstanceDir {
        root: root.to_owned(),
        name: name.to_owned(),
        setup_lock: std::sync::Arc::new(std::sync::Mutex::new(lock)),
    };
    match fs::rename(&temp, dir.path()) {
        Ok(()) => Ok(Some(dir)),
        Err(_) if dir.path().exists() => {
            let _ = fs::remove_dir_all(&temp);
            Ok(None)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&temp);
            Err(InstanceError::io(dir.path())(e))
        }
    }
}

/// The setup lock, or `None` while another process holds it.
fn try_setup_lock(dir: &InstanceDir) -> Result<Option<fs::File>, InstanceError> {
    let path = dir.file("setup.lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(InstanceError::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(InstanceError::io(&path)(e)),
    }
}

/// Seconds since the Unix epoch.
pub(super) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes `value` as JSON to `path` atomically (temporary file in the same directory, fsync,
/// rename), so readers see the old file or the new one, never a part.
pub(super) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), InstanceError> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| InstanceError::Damaged {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    text.push(b'\n');
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(InstanceError::io(path))
}

/// Reads a JSON state file; `Ok(None)` when it does not exist.
pub(super) fn read_json<T: for<'de> Deserialize<'de>>(
    path: &Path,
) -> Result<Option<T>, InstanceError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| InstanceError::Damaged {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(InstanceError::io(path)(e)),
    }
}
