//! QEMU's command line for a [`MachineSpec`], built the way kraft builds it (see
//! `shared/UNIKRAFT_NOTES.md`, "Booting"), as a vector of arguments — never a shell string.
//!
//! Deliberate differences from kraft, each for a reason:
//! - TCG uses `-cpu max` rather than `qemu64,+pdpe1gb,-vmx,-svm`: `max` offers every feature
//!   TCG emulates (1 GiB pages included), so kernels built for a newer x86-64 baseline boot,
//!   and it is what Unikraft and the test kernel are known to boot with under TCG here.
//! - The serial console goes to a `file` chardev, QMP is on two sockets (`qmp.sock` for short
//!   commands such as `kiln ps`/`stop`, `events.sock` held by the machine's parent for events:
//!   a QMP socket serves one client at a time), and `-monitor none`/`-nic none` keep QEMU from
//!   adding a human monitor on stdio or a default NIC the spec did not ask for.
//! - Option values that are paths have commas doubled (QEMU's escape), so any UTF-8 path works.
//!
//! Checks made here are those that need no filesystem (see [`QemuArgsError`]); whether the
//! kernel exists is the launcher's business.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::accel::ResolvedAccel;
use crate::spec::{GuestArch, MachineSpec, PortMap, Proto, SharedDir, Vmm};

/// Where QEMU puts its per-instance files (all absolute paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuPaths {
    /// The serial console log.
    pub serial_log: PathBuf,
    /// QEMU's pid file.
    pub pidfile: PathBuf,
    /// The QMP socket for commands.
    pub qmp_socket: PathBuf,
    /// The QMP socket kept open by the machine's parent for events.
    pub events_socket: PathBuf,
}

/// A QEMU command line: the program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuArgs {
    /// `qemu-system-x86_64` or `qemu-system-aarch64` (looked up in `PATH`).
    pub program: OsString,
    /// The arguments, without the program.
    pub args: Vec<OsString>,
}

/// Why a spec cannot be turned into QEMU arguments.
#[derive(Debug, thiserror::Error)]
pub enum QemuArgsError {
    /// The spec asks for another monitor.
    #[error("this machine is for {0:?}, not QEMU")]
    NotQemu(Vmm),
    /// Zero CPUs or zero memory.
    #[error(
        "a machine needs at least 1 CPU and 1 MiB of memory (got {cpus} CPUs, {memory_mib} MiB)"
    )]
    Size {
        /// CPUs asked for.
        cpus: u32,
        /// Memory asked for.
        memory_mib: u64,
    },
    /// kiln records command lines as text.
    #[error("path is not valid UTF-8: {0}")]
    NonUtf8Path(PathBuf),
    /// A relative path where QEMU needs an absolute one.
    #[error("path must be absolute: {0}")]
    RelativePath(PathBuf),
    /// slirp forwards IPv4 host addresses only.
    #[error("port mapping {host}:{guest}: host address {addr:?} is not an IPv4 address")]
    HostAddress {
        /// The address given.
        addr: String,
        /// The host port.
        host: u16,
        /// The guest port.
        guest: u16,
    },
    /// A 9p mount tag QEMU would reject or misparse.
    #[error("shared directory tag {0:?}: use 1-31 characters from [A-Za-z0-9_.-]")]
    BadTag(String),
}

impl QemuArgs {
    /// Builds the command line for `spec` accelerated by `accel`, with files at `paths`.
    pub fn build(
        spec: &MachineSpec,
        accel: ResolvedAccel,
        paths: &QemuPaths,
    ) -> Result<QemuArgs, QemuArgsError> {
        if spec.vmm != Vmm::Qemu {
            return Err(QemuArgsError::NotQemu(spec.vmm));
        }
        if spec.cpus == 0 || spec.memory_mib == 0 {
            return Err(QemuArgsError::Size {
                cpus: spec.cpus,
                memory_mib: spec.memory_mib,
            });
        }
        let mut b = Builder::default();
        machine(&mut b, spec, accel);
        boot(&mut b, spec)?;
        b.flags(&[
            "-nographic",
            "-no-reboot",
            "-S",
            "-parallel",
            "none",
            "-vga",
            "none",
        ]);
        b.flags(&["-display", "none", "-monitor", "none", "-rtc", "base=utc"]);
        files(&mut b, paths)?;
        devices(&mut b, spec.arch);
        network(&mut b, &spec.ports)?;
        for (i, dir) in spec.shared_dirs.iter().enumerate() {
            shared_dir(&mut b, i, dir)?;
        }
        let program = match spec.arch {
            GuestArch::X86_64 => "qemu-system-x86_64",
            GuestArch::Arm64 => "qemu-system-aarch64",
        };
        Ok(QemuArgs {
            program: program.into(),
            args: b.args,
        })
    }

    /// The whole command line, program first (what `machine.json` records as `argv`).
    pub fn argv(&self) -> Vec<OsString> {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }
}

#[derive(Default)]
struct Builder {
    args: Vec<OsString>,
}

impl Builder {
    fn flags(&mut self, flags: &[&str]) {
        self.args.extend(flags.iter().map(OsString::from));
    }

    fn pair(&mut self, flag: &str, value: impl Into<OsString>) {
        self.args.push(flag.into());
        self.args.push(value.into());
    }
}

fn machine(b: &mut Builder, spec: &MachineSpec, accel: ResolvedAccel) {
    let (machine, cpu) = match (spec.arch, accel) {
        (GuestArch::X86_64, ResolvedAccel::Kvm) => ("pc,accel=kvm", "host,+x2apic,-pmu"),
        (GuestArch::X86_64, ResolvedAccel::Tcg) => ("pc,accel=tcg", "max"),
        (GuestArch::Arm64, ResolvedAccel::Kvm) => ("virt,accel=kvm", "host"),
        (GuestArch::Arm64, ResolvedAccel::Tcg) => ("virt,accel=tcg", "max"),
    };
    b.pair("-machine", machine);
    b.pair("-cpu", cpu);
    b.pair("-m", format!("size={}M", spec.memory_mib));
    b.pair("-smp", format!("cpus={},threads=1,sockets=1", spec.cpus));
}

fn boot(b: &mut Builder, spec: &MachineSpec) -> Result<(), QemuArgsError> {
    b.pair("-kernel", utf8(&spec.kernel)?);
    if let Some(initrd) = &spec.initrd {
        b.pair("-initrd", utf8(initrd)?);
    }
    if !spec.cmdline.is_empty() {
        b.pair("-append", spec.cmdline.as_str());
    }
    Ok(())
}

fn files(b: &mut Builder, paths: &QemuPaths) -> Result<(), QemuArgsError> {
    let serial = opt_path(&paths.serial_log)?;
    b.pair("-chardev", format!("file,id=serial0,path={serial}"));
    b.pair("-serial", "chardev:serial0");
    b.pair("-pidfile", opt_path(&paths.pidfile)?);
    for (id, socket) in [
        ("qmp0", &paths.qmp_socket),
        ("qmpevents0", &paths.events_socket),
    ] {
        let path = opt_path(socket)?;
        b.pair(
            "-chardev",
            format!("socket,id={id},path={path},server=on,wait=off"),
        );
        b.pair("-mon", format!("chardev={id},mode=control"));
    }
    Ok(())
}

fn devices(b: &mut Builder, arch: GuestArch) {
    match arch {
        GuestArch::X86_64 => {
            b.pair("-device", "pvpanic");
            b.pair("-device", "isa-debug-exit,iobase=0x501,iosize=2");
            // SeaBIOS writes its banner and screen-clearing escapes to the serial port
            // before the kernel runs; sercon-port 0 turns its serial console off, so the
            // console shows only the guest (QEMU warns about the name on stderr, harmlessly).
            b.pair("-fw_cfg", "name=etc/sercon-port,string=0");
        }
        GuestArch::Arm64 => b.pair("-device", "pvpanic-pci"),
    }
}

fn network(b: &mut Builder, ports: &[PortMap]) -> Result<(), QemuArgsError> {
    if ports.is_empty() {
        b.pair("-nic", "none");
        return Ok(());
    }
    let mut netdev = String::from("user,id=hostnet0");
    for p in ports {
        let addr = match &p.host_ip {
            None => String::new(),
            Some(a) => a
                .parse::<Ipv4Addr>()
                .map_err(|_| QemuArgsError::HostAddress {
                    addr: a.clone(),
                    host: p.host,
                    guest: p.guest,
                })?
                .to_string(),
        };
        let proto = match p.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        netdev.push_str(&format!(",hostfwd={proto}:{addr}:{}-:{}", p.host, p.guest));
    }
    b.pair("-netdev", netdev);
    b.pair("-device", "virtio-net-pci,netdev=hostnet0");
    Ok(())
}

fn shared_dir(b: &mut Builder, i: usize, dir: &SharedDir) -> Result<(), QemuArgsError> {
    let tag_ok = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
    if dir.tag.is_empty() || dir.tag.len() > 31 || !dir.tag.chars().all(tag_ok) {
        return Err(QemuArgsError::BadTag(dir.tag.clone()));
    }
    let path = opt_path(&dir.host)?;
    let ro = if dir.readonly { ",readonly=on" } else { "" };
    b.pair(
        "-fsdev",
        format!("local,id=fsdev{i},path={path},security_model=passthrough{ro}"),
    );
    b.pair(
        "-device",
        format!("virtio-9p-pci,fsdev=fsdev{i},mount_tag={}", dir.tag),
    );
    Ok(())
}

fn utf8(path: &Path) -> Result<&str, QemuArgsError> {
    path.to_str()
        .ok_or_else(|| QemuArgsError::NonUtf8Path(path.to_owned()))
}

/// A path as an option value: absolute, UTF-8, commas doubled.
fn opt_path(path: &Path) -> Result<String, QemuArgsError> {
    if !path.is_absolute() {
        return Err(QemuArgsError::RelativePath(path.to_owned()));
    }
    Ok(utf8(path)?.replace(',', ",,"))
}
