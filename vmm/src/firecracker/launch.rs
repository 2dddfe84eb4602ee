//! Starting `firecracker --api-sock <dir>/fc.sock` and booting a planned machine through it.
//!
//! The guest's serial console is Firecracker's stdout, which goes to `<dir>/serial.log`;
//! Firecracker's own log goes to `<dir>/firecracker.log` (`PUT /logger`), and its stderr
//! there too, so the serial log holds only what the guest printed. This runs only where a
//! `firecracker` binary exists; the request sequence itself is tested against a fake API
//! server that validates every request against the Swagger spec.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::api::{ActionType, ApiRequest, Logger};
use super::client::ApiClient;
use super::{FcConfig, FcError, arch_name};

/// The API socket's file name in the state directory.
pub const API_SOCKET: &str = "fc.sock";
/// The guest serial console's file name in the state directory.
pub const SERIAL_LOG: &str = "serial.log";
/// Firecracker's own log's file name in the state directory.
pub const FIRECRACKER_LOG: &str = "firecracker.log";

/// How long Firecracker may take to create its API socket.
const SOCKET_WAIT: Duration = Duration::from_secs(5);

/// A booted Firecracker machine.
#[derive(Debug)]
pub struct FcInstance {
    /// The `firecracker` process; the caller owns it (wait on it, or kill it to stop).
    pub child: Child,
    /// The API socket, for [`ApiClient::connect`].
    pub api_socket: PathBuf,
    /// The guest's serial output.
    pub serial_log: PathBuf,
    /// Firecracker's own log.
    pub firecracker_log: PathBuf,
}

/// Finds `name` in the directories of `path_var` (a `PATH` value).
pub fn find_program(name: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Starts the `firecracker` found on `PATH` in `state_dir` and boots `config`.
pub fn launch(config: &FcConfig, state_dir: &Path) -> Result<FcInstance, FcError> {
    let path_var = std::env::var_os("PATH");
    let binary = find_program("firecracker", path_var.as_deref()).ok_or(FcError::NotInstalled)?;
    let host = std::env::consts::ARCH;
    if arch_name(config.arch) != host {
        return Err(FcError::ForeignArch {
            guest: arch_name(config.arch),
            host,
        });
    }
    launch_with(&binary, config, state_dir)
}

/// Starts `binary` as Firecracker in `state_dir` (which it creates) and boots `config`:
/// waits for the API socket, sends `PUT /logger`, every request of `config` in order, and
/// `InstanceStart`. On any failure the process is killed before the error is returned.
pub fn launch_with(
    binary: &Path,
    config: &FcConfig,
    state_dir: &Path,
) -> Result<FcInstance, FcError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FcError::Io { path, source }
    };
    fs::create_dir_all(state_dir).map_err(io(state_dir))?;
    let api_socket = state_dir.join(API_SOCKET);
    let serial_log = state_dir.join(SERIAL_LOG);
    let firecracker_log = state_dir.join(FIRECRACKER_LOG);
    // A socket left by an earlier run makes Firecracker fail with "address in use".
    match fs::remove_file(&api_socket) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&api_socket)(e)),
        _ => {}
    }
    let log = File::create(&firecracker_log).map_err(io(&firecracker_log))?;
    let serial = File::create(&serial_log).map_err(io(&serial_log))?;
    let child = Command::new(binary)
        .arg("--api-sock")
        .arg(&api_socket)
        .stdin(Stdio::null())
        .stdout(serial)
        .stderr(log)
        .spawn()
        .map_err(|source| FcError::Spawn {
            binary: binary.to_path_buf(),
            source,
        })?;
    let mut instance = FcInstance {
        child,
        api_socket,
        serial_log,
        firecracker_log,
    };
    match boot(&mut instance, config) {
        Ok(()) => Ok(instance),
        Err(e) => {
            // The process is ours and half-configured: nothing else will clean it up.
            let _ = instance.child.kill();
            let _ = instance.child.wait();
            Err(e)
        }
    }
}

/// Waits for the socket, then configures and starts the machine.
fn boot(instance: &mut FcInstance, config: &FcConfig) -> Result<(), FcError> {
    let mut client = wait_for_socket(instance)?;
    let log_path = instance.firecracker_log.to_str().map(str::to_owned);
    let log_path = log_path.ok_or_else(|| FcError::BadPath(instance.firecracker_log.clone()))?;
    // PUT /logger needs an existing file: launch_with created it.
    client.send(&ApiRequest::Logger(Logger {
        log_path,
        level: "Warning".to_owned(),
    }))?;
    configure_and_start(&mut client, config)
}

/// Sends every request of `config` in order, then `InstanceStart`.
///
/// Public so that a caller holding its own connection (or a test's fake server) can drive
/// the exact sequence [`launch`] uses.
pub fn configure_and_start(client: &mut ApiClient, config: &FcConfig) -> Result<(), FcError> {
    for request in &config.requests {
        client.send(request)?;
    }
    client.action(ActionType::InstanceStart)
}

/// Polls until the API socket accepts a connection, the process exits, or time runs out.
fn wait_for_socket(instance: &mut FcInstance) -> Result<ApiClient, FcError> {
    let start = Instant::now();
    loop {
        if let Ok(client) = ApiClient::connect(&instance.api_socket) {
            return Ok(client);
        }
        let exited = instance.child.try_wait().map_err(|source| FcError::Io {
            path: instance.api_socket.clone(),
            source,
        })?;
        if let Some(status) = exited {
            return Err(FcError::Exited {
                status,
                log: instance.firecracker_log.clone(),
            });
        }
        if start.elapsed() > SOCKET_WAIT {
            return Err(FcError::SocketTimeout(instance.api_socket.clone()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
