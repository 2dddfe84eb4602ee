//! Running a domain with `xl`: `xl create -p <cfg>` (created paused), `xl console <name>`
//! with its output in `<dir>/serial.log`, then `xl unpause <name>`, so the console is
//! attached before the guest prints its first line.
//!
//! This runs only in a Xen dom0 with `xl` on `PATH` (never here); the argv construction is
//! unit-tested. `xl console` runs without a terminal, with stdin closed; a Xen toolstack
//! whose console client insists on a tty would need `xenconsoled --log=guest` instead.

use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{XenError, XenOptions, config};
use crate::spec::{GuestArch, MachineSpec};

/// The configuration's file name in the state directory.
pub const CONFIG_FILE: &str = "xl.cfg";
/// The guest console's file name in the state directory.
pub const SERIAL_LOG: &str = "serial.log";

/// A running Xen domain.
#[derive(Debug)]
pub struct XenInstance {
    /// The domain's name (what `xl` commands take).
    pub domain: String,
    /// The `xl console` process copying the guest's console to [`Self::serial_log`];
    /// it ends when the domain does.
    pub console: Child,
    /// The xl configuration that created the domain.
    pub config_path: PathBuf,
    /// The guest's console output.
    pub serial_log: PathBuf,
}

/// The `xl` argument vectors for one domain (without the `xl` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlCommands {
    /// `create -p <cfg>`: build the domain, paused.
    pub create: Vec<OsString>,
    /// `console <name>`: attach to its console.
    pub console: Vec<OsString>,
    /// `unpause <name>`: let it run.
    pub unpause: Vec<OsString>,
    /// `destroy <name>`: tear it down (after a failed start).
    pub destroy: Vec<OsString>,
}

impl XlCommands {
    /// The commands for domain `domain` described by the file `config_path`.
    pub fn new(domain: &str, config_path: &Path) -> Self {
        let args = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
        let mut create = args(&["create", "-p"]);
        create.push(config_path.as_os_str().to_owned());
        Self {
            create,
            console: args(&["console", domain]),
            unpause: args(&["unpause", domain]),
            destroy: args(&["destroy", domain]),
        }
    }
}

/// Writes `<state_dir>/xl.cfg` for `spec` and starts it with the `xl` found on `PATH`.
///
/// Everything is validated (the config, the host's architecture, `xl`'s presence) before
/// any file is written or command run.
pub fn launch(
    spec: &MachineSpec,
    options: &XenOptions,
    state_dir: &Path,
) -> Result<XenInstance, XenError> {
    let text = config(spec, options)?;
    let host = std::env::consts::ARCH;
    let guest = match spec.arch {
        GuestArch::X86_64 => "x86_64",
        GuestArch::Arm64 => "aarch64",
    };
    if guest != host {
        return Err(XenError::ForeignArch { guest, host });
    }
    let path_var = std::env::var_os("PATH");
    let xl = crate::firecracker::find_program("xl", path_var.as_deref())
        .ok_or(XenError::NotInstalled)?;
    launch_with(&xl, &spec.name, &text, state_dir)
}

/// Writes `config_text` to `<state_dir>/xl.cfg` and runs the domain `domain` with `xl`.
/// If the console or unpause step fails, the paused domain is destroyed.
pub fn launch_with(
    xl: &Path,
    domain: &str,
    config_text: &str,
    state_dir: &Path,
) -> Result<XenInstance, XenError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| XenError::Io { path, source }
    };
    fs::create_dir_all(state_dir).map_err(io(state_dir))?;
    let config_path = state_dir.join(CONFIG_FILE);
    let serial_log = state_dir.join(SERIAL_LOG);
    fs::write(&config_path, config_text).map_err(io(&config_path))?;
    let serial = File::create(&serial_log).map_err(io(&serial_log))?;
    let commands = XlCommands::new(domain, &config_path);
    run_xl(xl, &commands.create)?;
    let started =
        spawn_console(xl, &commands.console, serial).and_then(|mut console| {
            match run_xl(xl, &commands.unpause) {
                Ok(()) => Ok(console),
                Err(e) => {
                    let _ = console.kill();
                    let _ = console.wait();
                    Err(e)
                }
            }
        });
    match started {
        Ok(console) => Ok(XenInstance {
            domain: domain.to_owned(),
            console,
            config_path,
            serial_log,
        }),
        Err(e) => {
            // The paused domain is ours and holds memory until destroyed.
            let _ = run_xl(xl, &commands.destroy);
            Err(e)
        }
    }
}

/// Runs `xl ARGS` to completion; a non-zero exit becomes [`XenError::Xl`] with its stderr.
fn run_xl(xl: &Path, args: &[OsString]) -> Result<(), XenError> {
    let command = display(xl, args);
    let output = Command::new(xl)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| XenError::Spawn {
            command: command.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(XenError::Xl {
        command,
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

/// Starts `xl console NAME` with its output going to `serial`.
fn spawn_console(xl: &Path, args: &[OsString], serial: File) -> Result<Child, XenError> {
    Command::new(xl)
        .args(args)
        .stdin(Stdio::null())
        .stdout(serial)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| XenError::Spawn {
            command: display(xl, args),
            source,
        })
}

/// `xl create -p /dir/xl.cfg`, for messages.
fn display(xl: &Path, args: &[OsString]) -> String {
    let mut words = vec![xl.display().to_string()];
    words.extend(args.iter().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}
