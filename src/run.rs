//! `kiln run`: build what is stale, then boot one target in its VMM, in the foreground
//! (streaming the serial console; Ctrl-C stops the machine gracefully) or detached.
//!
//! The exit status follows the guest: a clean halt is 0; a crash, a panic, a QEMU failure or
//! `--timeout` is 1 with a one-line reason.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kiln_rules::boot::{BootPlan, RunInputs, boot_plan};
use kiln_rules::kraftfile::{Arch, Platform, process_env};
use kiln_vmm::instance::{self, CleanExit, InstanceDir, LaunchOptions, Supervisor};
use kiln_vmm::spec::{Accel, GuestArch, MachineSpec, SharedDir, Vmm};

use crate::build::{build_session, check_succeeded};
use crate::cli::{AccelArg, RunArgs};
use crate::error::CliError;
use crate::{machines, parse, session};

/// How long a stopping machine gets before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// The machine flags of `kiln run`, parsed.
pub struct MachineFlags {
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `-M`, in MiB.
    pub memory_mib: u64,
    /// `-p`.
    pub ports: Vec<kiln_vmm::spec::PortMap>,
}

/// Parses `-M`, `-p`, `--timeout` and `--name`.
pub fn machine_flags(args: &RunArgs) -> Result<MachineFlags, CliError> {
    let memory_mib = parse::memory_mib(&args.memory).map_err(CliError::Usage)?;
    let timeout = args.timeout.as_deref().map(parse::duration).transpose();
    let timeout = timeout.map_err(CliError::Usage)?;
    let ports = args
        .ports
        .iter()
        .map(|p| parse::port(p))
        .collect::<Result<Vec<_>, _>>();
    let ports = ports.map_err(CliError::Usage)?;
    if let Some(name) = &args.name {
        instance::validate_name(name).map_err(|e| CliError::Usage(format!("--name: {e}")))?;
    }
    Ok(MachineFlags {
        timeout,
        memory_mib,
        ports,
    })
}

/// Runs `kiln run`.
pub fn run(args: &RunArgs) -> Result<(), CliError> {
    crate::console::init(args.show.progress);
    if args.watch {
        return crate::watch::run(args);
    }
    let jobs = session::jobs(args.jobs)?;
    let flags = machine_flags(args)?;
    if crate::run_package::is_reference(args) {
        let boot = crate::run_package::prepare(args, host_plat())?;
        let spec = MachineSpec {
            name: String::new(),
            vmm: vmm_of(boot.plat),
            arch: arch_of(boot.arch)?,
            kernel: boot.kernel.clone(),
            initrd: boot.initrd.clone(),
            cmdline: boot.cmdline.render(),
            memory_mib: flags.memory_mib,
            cpus: 1,
            ports: flags.ports,
            shared_dirs: Vec::new(),
            accel: accel_of(args),
        };
        let fg = Foreground::default();
        return match spec.vmm {
            Vmm::Qemu => run_qemu(spec, args, flags.timeout, Some(&boot.label), fg),
            Vmm::Firecracker => crate::othervmm::run_firecracker(spec, args),
            Vmm::Xen => crate::othervmm::run_xen(spec, args),
        };
    }
    let s = open_one_target(args, jobs)?;
    let opts = crate::build::RunOpts {
        explain: false,
        locked: args.project.locked,
        keep_going: false,
        tool_output: args.verbose,
        scratch: None,
    };
    let report = crate::build::traced(&args.show, "run", || build_session(&s, jobs, &opts))?;
    check_succeeded(&report)?;
    let spec = project_spec(&s, args, &flags)?;
    match spec.vmm {
        Vmm::Qemu => run_qemu(spec, args, flags.timeout, None, Foreground::default()),
        Vmm::Firecracker => crate::othervmm::run_firecracker(spec, args),
        Vmm::Xen => crate::othervmm::run_xen(spec, args),
    }
}

/// The project of `kiln run`, planned for the one target it boots.
pub fn open_one_target(args: &RunArgs, jobs: usize) -> Result<session::Session, CliError> {
    let project_args = default_target(&args.project)?;
    let extras = session::Extras {
        runtime_kernel: true,
        ..Default::default()
    };
    let s = session::open_with(&project_args, Some(jobs), extras)?;
    if s.plan.targets.len() != 1 {
        let names: Vec<&str> = s.plan.targets.iter().map(|t| t.name.as_str()).collect();
        return Err(CliError::Usage(format!(
            "kiln run boots one target, and {} match: {}; choose one with -t NAME (or --plat/--arch)",
            names.len(),
            names.join(", ")
        )));
    }
    Ok(s)
}

/// The machine that boots the session's (one) target, once it is built.
pub fn project_spec(
    s: &session::Session,
    args: &RunArgs,
    flags: &MachineFlags,
) -> Result<MachineSpec, CliError> {
    let target = &s.plan.targets[0].target;
    let inputs = RunInputs {
        env: args.env.clone(),
        args: (!args.args.is_empty()).then(|| args.args.clone()),
        volumes: args.volumes.clone(),
    };
    let boot = boot_plan(&s.project, target, &inputs, &process_env).map_err(CliError::Usage)?;
    if let Some(why) = kiln_vmm::not_a_file(&boot.kernel) {
        return Err(CliError::Failed(format!(
            "the kernel {} {why}",
            boot.kernel.display()
        )));
    }
    Ok(MachineSpec {
        name: String::new(),
        vmm: vmm_of(target.plat),
        arch: arch_of(target.arch)?,
        kernel: boot.kernel.clone(),
        initrd: boot.initrd.clone(),
        cmdline: boot.cmdline.render(),
        memory_mib: flags.memory_mib,
        cpus: 1,
        ports: flags.ports.clone(),
        shared_dirs: shares(&boot),
        accel: accel_of(args),
    })
}

/// The platform of the host's VMM.
fn host_plat() -> Platform {
    let qemu = match kiln_rules::select::host_arch() {
        Arch::Arm64 => "qemu-system-aarch64",
        _ => "qemu-system-x86_64",
    };
    match kiln_vmm::detect::host_vmm(qemu) {
        Vmm::Qemu => Platform::Qemu,
        Vmm::Firecracker => Platform::Fc,
        Vmm::Xen => Platform::Xen,
    }
}

/// The project arguments with kraft's defaults applied when they name no target and the
/// project has several: the host's monitor and architecture (and the choice printed).
fn default_target(args: &crate::cli::ProjectArgs) -> Result<crate::cli::ProjectArgs, CliError> {
    let project =
        kiln_rules::project::Project::load(&args.dir, args.kraftfile.as_deref(), &process_env)?;
    let filter = kiln_rules::select::TargetFilter {
        plat: args.plat.clone(),
        arch: args.arch.clone(),
        target: args.target.clone(),
    };
    let plat = host_plat();
    let (chosen, said) = kiln_rules::select::run_filter(&project, &filter, plat)?;
    if let Some(line) = said {
        eprintln!("kiln: {line}");
    }
    Ok(crate::cli::ProjectArgs {
        target: chosen.target,
        ..args.clone()
    })
}

fn vmm_of(p: Platform) -> Vmm {
    match p {
        Platform::Qemu => Vmm::Qemu,
        Platform::Fc => Vmm::Firecracker,
        Platform::Xen => Vmm::Xen,
    }
}

fn arch_of(a: Arch) -> Result<GuestArch, CliError> {
    match a {
        Arch::X86_64 => Ok(GuestArch::X86_64),
        Arch::Arm64 => Ok(GuestArch::Arm64),
        Arch::Arm => Err(CliError::Usage(
            "kiln run cannot boot 32-bit arm targets; QEMU, Firecracker and Xen support here is for x86_64 and arm64".into(),
        )),
    }
}

fn accel_of(args: &RunArgs) -> Accel {
    match (args.no_accel, args.accel) {
        (true, _) | (_, AccelArg::Tcg) => Accel::Tcg,
        (_, AccelArg::Kvm) => Accel::Kvm,
        (_, AccelArg::Auto) => Accel::Auto,
    }
}

fn shares(boot: &BootPlan) -> Vec<SharedDir> {
    boot.shares
        .iter()
        .map(|s| SharedDir {
            host: s.host.clone(),
            tag: s.tag.clone(),
            readonly: s.readonly,
        })
        .collect()
}

/// How a foreground machine is run besides the flags.
#[derive(Default)]
pub struct Foreground {
    /// The caller handles Ctrl-C itself (`--watch`); otherwise Ctrl-C stops the machine.
    pub caller_handles_ctrl_c: bool,
    /// Told the machine's instance directory once it is launched (to stop it from
    /// elsewhere).
    pub launched: Option<std::sync::mpsc::Sender<InstanceDir>>,
}

/// Boots `spec` under QEMU: detached (`-d`), or in the foreground until it ends.
pub fn run_qemu(
    mut spec: MachineSpec,
    args: &RunArgs,
    timeout: Option<Duration>,
    label: Option<&str>,
    fg: Foreground,
) -> Result<(), CliError> {
    let root = machines::instances_root()?;
    let dir = instance::create(&root, args.name.as_deref(), false).map_err(vmm_err)?;
    spec.name = dir.name().to_string();
    if let Some(label) = label {
        machines::set_kernel_label(&dir, label)?;
    }
    let detach = args.detach.then(|| Supervisor {
        program: std::env::current_exe()
            .unwrap_or_else(|_| PathBuf::from("kiln"))
            .into(),
        args: vec!["__supervise".into()],
    });
    let opts = LaunchOptions {
        detach,
        remove_on_exit: args.rm,
        ..LaunchOptions::default()
    };
    // Ctrl-C is caught from before QEMU starts, so it can never kill kiln and leave the
    // machine to die by PDEATHSIG instead of a graceful QMP quit.
    let ctrl_c = (!args.detach).then(|| match fg.caller_handles_ctrl_c {
        true => CtrlC::unwatched(),
        false => CtrlC::watch(&dir),
    });
    let launched = match instance::launch(&spec, &dir, &opts) {
        Ok(l) => l,
        Err(e) => {
            let _ = std::fs::remove_dir_all(dir.path());
            return Err(vmm_err(e));
        }
    };
    let Some(ctrl_c) = ctrl_c else {
        println!("{}", dir.name());
        return Ok(());
    };
    ctrl_c.launched.store(true, Ordering::SeqCst);
    if let Some(tell) = &fg.launched {
        let _ = tell.send(dir.clone());
    }
    let interrupted = ctrl_c.interrupted;
    let mut out = TailTee {
        out: std::io::stdout(),
        tail: Vec::new(),
    };
    let record = launched
        .wait_streaming(&mut out, timeout)
        .map_err(vmm_err)?;
    if interrupted.load(Ordering::SeqCst) {
        return Err(CliError::Failed(format!(
            "machine {} stopped by Ctrl-C",
            dir.name()
        )));
    }
    match record.outcome() {
        Ok(CleanExit::Halted | CleanExit::PoweredOff) => Ok(()),
        Ok(CleanExit::Stopped) => Err(CliError::Failed(format!(
            "machine {} was stopped from outside",
            dir.name()
        ))),
        Err(failure) => Err(CliError::Failed(format!(
            "machine {}: {failure}{}",
            dir.name(),
            known_failure(&out.tail)
        ))),
    }
}

/// How much of the console's end is kept to recognise a boot failure in.
const CONSOLE_TAIL: usize = 64 << 10;

/// The terminal, keeping the last [`CONSOLE_TAIL`] bytes written (the instance directory,
/// and its log, may be gone by the time the machine has ended: `--rm`).
struct TailTee {
    out: std::io::Stdout,
    tail: Vec<u8>,
}

impl std::io::Write for TailTee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tail.extend_from_slice(buf);
        if self.tail.len() > 2 * CONSOLE_TAIL {
            self.tail.drain(..self.tail.len() - CONSOLE_TAIL);
        }
        // The terminal may be gone (EPIPE); the console is still kept for the reason.
        let _ = self.out.write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let _ = self.out.flush();
        Ok(())
    }
}

/// `; <why and what to do>` when the guest's console shows a well-known Unikraft boot
/// failure (see `kiln_rules::boot_failures`), else nothing.
fn known_failure(console: &[u8]) -> String {
    match kiln_rules::boot_failures::recognise(&String::from_utf8_lossy(console)) {
        Some(f) => format!("; {}", f.explanation),
        None => String::new(),
    }
}

/// Ctrl-C handling for a foreground machine: SIGINT only sets `interrupted`; a helper thread
/// asks the machine to quit (QMP) once it is both interrupted and launched.
struct CtrlC {
    interrupted: Arc<AtomicBool>,
    launched: Arc<AtomicBool>,
}

impl CtrlC {
    /// No handler: the caller has one.
    fn unwatched() -> CtrlC {
        CtrlC {
            interrupted: Arc::new(AtomicBool::new(false)),
            launched: Arc::new(AtomicBool::new(false)),
        }
    }

    fn watch(dir: &InstanceDir) -> CtrlC {
        let interrupted = Arc::new(AtomicBool::new(false));
        let launched = Arc::new(AtomicBool::new(false));
        let registered =
            signal_hook::flag::register(signal_hook::consts::SIGINT, interrupted.clone());
        if registered.is_ok() {
            let (dir, seen, up) = (dir.clone(), interrupted.clone(), launched.clone());
            std::thread::spawn(move || {
                while !(seen.load(Ordering::SeqCst) && up.load(Ordering::SeqCst)) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                eprintln!("\nkiln: stopping {} (Ctrl-C)", dir.name());
                let _ = instance::stop(&dir, STOP_GRACE);
            });
        }
        CtrlC {
            interrupted,
            launched,
        }
    }
}

/// A VMM error as the CLI reports it.
pub fn vmm_err(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}
