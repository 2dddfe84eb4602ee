//! `kiln ps`, `logs`, `stop`, `rm`, and the hidden `__supervise` that parents detached
//! machines. Instances live in `$XDG_STATE_HOME/kiln/instances` (else
//! `~/.local/state/kiln/instances`), one directory each.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use kiln_vmm::instance::{self, InstanceDir, InstanceInfo, State};
use kiln_vmm::spec::Proto;
use serde_json::{Value, json};

use crate::cli::{Output, PsArgs};
use crate::error::{CliError, print_stdout};
use crate::run::{STOP_GRACE, vmm_err};

/// Where instances live.
pub fn instances_root() -> Result<PathBuf, CliError> {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let state = non_empty("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .ok_or_else(|| {
            CliError::Usage("cannot find a state directory: set XDG_STATE_HOME or HOME".into())
        })?;
    Ok(state.join("kiln").join("instances"))
}

fn open(name: &str) -> Result<InstanceDir, CliError> {
    InstanceDir::open(&instances_root()?, name).map_err(vmm_err)
}

/// `kiln ps`.
pub fn ps(args: &PsArgs) -> Result<(), CliError> {
    let root = instances_root()?;
    let list = if root.is_dir() {
        instance::list(&root).map_err(vmm_err)?
    } else {
        Vec::new()
    };
    match args.output {
        Output::Json => {
            let rows: Vec<Value> = list.iter().map(row_json).collect();
            print_stdout(&format!("{:#}\n", Value::Array(rows)))
        }
        Output::Human => print_stdout(&table(&list)),
    }
}

fn status_word(i: &InstanceInfo) -> String {
    match (&i.status.state, &i.status.exit) {
        (State::Exited, Some(exit)) => format!("exited ({})", exit.summary()),
        (state, _) => state.as_str().to_string(),
    }
}

fn ports(i: &InstanceInfo) -> Vec<String> {
    let Some(r) = &i.record else {
        return Vec::new();
    };
    r.spec
        .ports
        .iter()
        .map(|p| {
            let proto = if p.proto == Proto::Udp { "/udp" } else { "" };
            let ip = p
                .host_ip
                .as_deref()
                .map(|ip| format!("{ip}:"))
                .unwrap_or_default();
            format!("{ip}{}:{}{proto}", p.host, p.guest)
        })
        .collect()
}

fn row_json(i: &InstanceInfo) -> Value {
    let r = i.record.as_ref();
    json!({
        "name": i.name,
        "status": i.status.state.as_str(),
        "exit": i.status.exit.as_ref().map(|e| e.summary()),
        "pid": i.status.pid,
        "kernel": kernel_label(i).or_else(|| r.map(|r| r.spec.kernel.display().to_string())),
        "args": r.map(|r| r.spec.cmdline.clone()),
        "plat": r.map(plat),
        "arch": r.map(|r| r.spec.arch),
        "mem": r.map(|r| format!("{}M", r.spec.memory_mib)),
        "ports": ports(i),
        "created": r.map(|r| r.created_unix),
    })
}

/// The file in an instance directory that says what its kernel is when it is not a file of
/// the user's (`oci://REF` for `kiln run REF`, as kraft's `ps` shows it).
const KERNEL_LABEL: &str = "kernel.label";

/// Records `label` as what instance `dir` runs.
pub fn set_kernel_label(dir: &instance::InstanceDir, label: &str) -> Result<(), CliError> {
    let path = dir.path().join(KERNEL_LABEL);
    kiln_engine::fsutil::write_atomic(&path, label.as_bytes())
        .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))
}

fn kernel_label(i: &InstanceInfo) -> Option<String> {
    std::fs::read_to_string(i.dir.join(KERNEL_LABEL)).ok()
}

fn plat(r: &instance::MachineRecord) -> &'static str {
    match r.vmm {
        kiln_vmm::spec::Vmm::Qemu => "qemu",
        kiln_vmm::spec::Vmm::Firecracker => "fc",
        kiln_vmm::spec::Vmm::Xen => "xen",
    }
}

fn table(list: &[InstanceInfo]) -> String {
    let mut rows = vec![
        [
            "NAME", "KERNEL", "ARGS", "CREATED", "STATUS", "MEM", "PORTS", "PLAT",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for i in list {
        let r = i.record.as_ref();
        let kernel = kernel_label(i)
            .or_else(|| {
                r.and_then(|r| {
                    r.spec
                        .kernel
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                })
            })
            .unwrap_or_default();
        let args: String = r.map(|r| app_args(&r.spec.cmdline)).unwrap_or_default();
        rows.push(vec![
            i.name.clone(),
            kernel,
            args,
            r.map(|r| ago(r.created_unix)).unwrap_or_default(),
            status_word(i),
            r.map(|r| format!("{}M", r.spec.memory_mib))
                .unwrap_or_default(),
            ports(i).join(","),
            r.map(|r| plat(r).to_string()).unwrap_or_default(),
        ]);
    }
    crate::render::table(&rows)
}

/// The application's part of a command line (after ` -- `), shortened for the table.
fn app_args(cmdline: &str) -> String {
    let args = cmdline.split_once(" -- ").map_or(cmdline, |(_, a)| a);
    let mut short: String = args.chars().take(32).collect();
    if args.chars().count() > 32 {
        short.push('…');
    }
    short
}

fn ago(created: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(created);
    let s = now.saturating_sub(created);
    match s {
        0..60 => format!("{s} seconds ago"),
        60..3600 => format!("{} minutes ago", s / 60),
        3600..86400 => format!("{} hours ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

/// `kiln logs NAME [-f]`.
pub fn logs(name: &str, follow: bool) -> Result<(), CliError> {
    let dir = open(name)?;
    let mut out = std::io::stdout();
    let result = if follow {
        let watched = dir.clone();
        kiln_vmm::serial::follow(&dir.serial_log(), &mut out, move || {
            !instance::alive(&watched)
        })
    } else {
        kiln_vmm::serial::dump(&dir.serial_log(), &mut out)
    };
    result.map_err(vmm_err)
}

/// `kiln stop NAME...`.
pub fn stop(names: &[String]) -> Result<(), CliError> {
    for n in names {
        instance::stop(&open(n)?, STOP_GRACE).map_err(vmm_err)?;
    }
    Ok(())
}

/// `kiln rm NAME...`.
pub fn rm(names: &[String]) -> Result<(), CliError> {
    for n in names {
        instance::remove(&open(n)?, STOP_GRACE).map_err(vmm_err)?;
    }
    Ok(())
}

/// The hidden `kiln __supervise DIR`: parents a detached machine until it ends.
pub fn supervise(dir: &Path) -> Result<(), CliError> {
    instance::supervise(dir).map(drop).map_err(vmm_err)
}
