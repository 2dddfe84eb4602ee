//! Choosing QEMU's accelerator: KVM only when it really runs a guest here, else TCG.
//!
//! `/dev/kvm` existing proves little: under nested "kvm-pvm" it opens and creates VMs, yet
//! QEMU aborts or hangs on the first guest instruction. So [`probe_kvm`] runs a real guest —
//! one page holding `hlt` at the x86 reset vector — in a forked child (a hang there cannot hang
//! kiln: the parent kills it after a deadline) and expects `KVM_EXIT_HLT`. The verdict is
//! cached per boot (`/proc/sys/kernel/random/boot_id`) in a one-line file, so only the first run
//! after a boot pays the few milliseconds.
//!
//! This module does not build QEMU arguments (see `qemu::args`), and probes x86_64 hosts only:
//! elsewhere automatic choice falls back to TCG.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::spec::{Accel, GuestArch};

/// The name of the verdict cache file inside the cache directory (the instances root).
pub const CACHE_FILE: &str = ".kvm-probe";

/// How long the probe child may take before it is killed and KVM is called broken.
pub const PROBE_DEADLINE: Duration = Duration::from_millis(300);

/// The accelerator a machine will actually use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResolvedAccel {
    /// Hardware virtualisation.
    Kvm,
    /// Software emulation.
    Tcg,
}

/// What the KVM probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmVerdict {
    /// A guest ran and halted.
    Works,
    /// KVM is present but did not run the test guest (the reason says where it failed).
    Broken(String),
    /// No usable `/dev/kvm` (missing, no permission, or not probed on this host).
    Absent(String),
}

/// Errors of accelerator resolution.
#[derive(Debug, thiserror::Error)]
pub enum AccelError {
    /// `--accel kvm` on a machine where KVM does not work.
    #[error("KVM was requested but cannot be used here: {reason}; run with --accel tcg (or auto)")]
    KvmUnusable {
        /// Why.
        reason: String,
    },
}

/// Turns the requested acceleration into the one to use, probing KVM (through the per-boot
/// cache in `cache_dir`) only when the request is `auto` or `kvm`.
pub fn resolve(
    requested: Accel,
    arch: GuestArch,
    cache_dir: &Path,
) -> Result<ResolvedAccel, AccelError> {
    if requested == Accel::Tcg {
        return Ok(ResolvedAccel::Tcg);
    }
    let verdict = if host_runs(arch) {
        cached_kvm_verdict(cache_dir)
    } else {
        KvmVerdict::Absent(format!(
            "KVM cannot run a {arch:?} guest on a {} host",
            std::env::consts::ARCH
        ))
    };
    match (requested, verdict) {
        (_, KvmVerdict::Works) => Ok(ResolvedAccel::Kvm),
        (Accel::Kvm, KvmVerdict::Broken(reason) | KvmVerdict::Absent(reason)) => {
            Err(AccelError::KvmUnusable { reason })
        }
        _ => Ok(ResolvedAccel::Tcg),
    }
}

fn host_runs(arch: GuestArch) -> bool {
    matches!(
        (arch, std::env::consts::ARCH),
        (GuestArch::X86_64, "x86_64") | (GuestArch::Arm64, "aarch64")
    )
}

/// The KVM verdict for this boot: read from `cache_dir/.kvm-probe` when it was written since
/// the last boot, else probed now and written there (a write failure only loses the cache).
pub fn cached_kvm_verdict(cache_dir: &Path) -> KvmVerdict {
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let file = cache_dir.join(CACHE_FILE);
    if !boot_id.is_empty()
        && let Some(v) = fs::read_to_string(&file)
            .ok()
            .and_then(|s| parse_cache(&s, &boot_id))
    {
        return v;
    }
    let verdict = probe_kvm(PROBE_DEADLINE);
    if !boot_id.is_empty() {
        let _ = write_cache(&file, &boot_id, &verdict);
    }
    verdict
}

fn parse_cache(text: &str, boot_id: &str) -> Option<KvmVerdict> {
    let mut parts = text.trim_end().splitn(3, ' ');
    if parts.next()? != boot_id {
        return None;
    }
    let kind = parts.next()?;
    let reason = parts.next().unwrap_or("").to_owned();
    match kind {
        "works" => Some(KvmVerdict::Works),
        "broken" => Some(KvmVerdict::Broken(reason)),
        "absent" => Some(KvmVerdict::Absent(reason)),
        _ => None,
    }
}

fn write_cache(file: &Path, boot_id: &str, verdict: &KvmVerdict) -> std::io::Result<()> {
    let line = match verdict {
        KvmVerdict::Works => format!("{boot_id} works\n"),
        KvmVerdict::Broken(r) => format!("{boot_id} broken {}\n", r.replace('\n', " ")),
        KvmVerdict::Absent(r) => format!("{boot_id} absent {}\n", r.replace('\n', " ")),
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{CACHE_FILE}.{}", std::process::id()));
    fs::File::create(&tmp)?.write_all(line.as_bytes())?;
    fs::rename(&tmp, file)
}

/// Probes KVM now, in a forked child killed after `deadline`. Never blocks much longer than
/// `deadline` (plus up to a second to reap a child that ignores SIGKILL in the kernel).
pub fn probe_kvm(deadline: Duration) -> KvmVerdict {
    if std::env::consts::ARCH != "x86_64" {
        return KvmVerdict::Absent("the KVM probe only knows x86_64 hosts".into());
    }
    if !Path::new("/dev/kvm").exists() {
        return KvmVerdict::Absent("/dev/kvm does not exist".into());
    }
    probe::run(deadline)
}

/// The forked probe: raw system calls only in the child (it is forked from a possibly
/// multi-threaded process, so it must not allocate or take locks).
mod probe {
    use super::*;

    const KVMIO: u64 = 0xAE;
    const KVM_GET_API_VERSION: u64 = KVMIO << 8;
    const KVM_CREATE_VM: u64 = (KVMIO << 8) | 0x01;
    const KVM_GET_VCPU_MMAP_SIZE: u64 = (KVMIO << 8) | 0x04;
    const KVM_CREATE_VCPU: u64 = (KVMIO << 8) | 0x41;
    const KVM_RUN: u64 = (KVMIO << 8) | 0x80;
    // _IOW(KVMIO, 0x46, struct kvm_userspace_memory_region): direction 1, size 32.
    const KVM_SET_USER_MEMORY_REGION: u64 = (1 << 30) | (32 << 16) | (KVMIO << 8) | 0x46;
    // _IOWR(KVMIO, 0x88, struct kvm_msrs) and _IOW(KVMIO, 0x89, ...): the header is 8 bytes.
    const KVM_GET_MSRS: u64 = (3 << 30) | (8 << 16) | (KVMIO << 8) | 0x88;
    const KVM_SET_MSRS: u64 = (1 << 30) | (8 << 16) | (KVMIO << 8) | 0x89;
    /// IA32_ARCH_CAPABILITIES: QEMU's `-cpu host` copies it into every vCPU; kvm-pvm refuses.
    const MSR_ARCH_CAPABILITIES: u32 = 0x10a;
    const KVM_EXIT_HLT: u32 = 5;
    /// The page holding the x86 reset vector (CS base 0xffff0000 + IP 0xfff0).
    const RESET_PAGE: u64 = 0xffff_f000;

    /// `struct kvm_msrs` with room for one `struct kvm_msr_entry`.
    #[repr(C)]
    struct OneMsr {
        nmsrs: u32,
        pad: u32,
        index: u32,
        reserved: u32,
        data: u64,
    }

    #[repr(C)]
    struct MemoryRegion {
        slot: u32,
        flags: u32,
        guest_phys_addr: u64,
        memory_size: u64,
        userspace_addr: u64,
    }

    /// The step of the probe that failed; written by the child as one byte plus a `u32`.
    #[derive(Clone, Copy)]
    #[repr(u8)]
    enum Step {
        Ok = 0,
        Open = 1,
        ApiVersion = 2,
        CreateVm = 3,
        Memory = 4,
        CreateVcpu = 5,
        Msr = 9,
        RunMap = 6,
        Run = 7,
        ExitReason = 8,
    }

    pub(super) fn run(deadline: Duration) -> KvmVerdict {
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 writes two descriptors into the array we own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return KvmVerdict::Absent(format!("pipe: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: the child calls only async-signal-safe system calls (open, ioctl, mmap,
        // write, _exit) on memory it owns, and never returns into Rust code.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: see above; `child` ends in _exit.
            unsafe { child(fds[1]) }
        }
        // SAFETY: closing our copy of the write end, which we own.
        unsafe { libc::close(fds[1]) };
        if pid < 0 {
            // SAFETY: closing the read end we own.
            unsafe { libc::close(fds[0]) };
            return KvmVerdict::Absent(format!("fork: {}", std::io::Error::last_os_error()));
        }
        let report = read_report(fds[0], deadline);
        // SAFETY: closing the read end we own.
        unsafe { libc::close(fds[0]) };
        reap(pid);
        match report {
            Some(bytes) => verdict(bytes),
            None => KvmVerdict::Broken(format!(
                "a test guest did not halt within {} ms (KVM hangs)",
                deadline.as_millis()
            )),
        }
    }

    fn read_report(fd: i32, deadline: Duration) -> Option<[u8; 5]> {
        let mut buf = [0u8; 5];
        let mut got = 0;
        let end = Instant::now() + deadline;
        while got < buf.len() {
            crate::fdwait::readable_before(fd, end)?;
            // SAFETY: reading into the unfilled tail of our buffer.
            let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
            if n <= 0 {
                return None;
            }
            got += n as usize;
        }
        Some(buf)
    }

    fn reap(pid: i32) {
        // SAFETY: signalling and reaping our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let end = Instant::now() + Duration::from_secs(1);
        while Instant::now() < end {
            // SAFETY: as above.
            if unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) } != 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn verdict(bytes: [u8; 5]) -> KvmVerdict {
        let value = u32::from_ne_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        let errno = || std::io::Error::from_raw_os_error(value as i32);
        let broken = |what: String| KvmVerdict::Broken(what);
        match bytes[0] {
            0 => KvmVerdict::Works,
            1 => KvmVerdict::Absent(format!("cannot open /dev/kvm: {}", errno())),
            2 => broken(format!("KVM API version {value}, expected 12")),
            3 => broken(format!("KVM_CREATE_VM failed: {}", errno())),
            4 => broken(format!("cannot map guest memory: {}", errno())),
            5 => broken(format!("KVM_CREATE_VCPU failed: {}", errno())),
            6 => broken(format!("cannot map the vCPU run area: {}", errno())),
            7 => broken(format!("KVM_RUN failed: {}", errno())),
            9 => broken(format!(
                "KVM refuses the feature MSR IA32_ARCH_CAPABILITIES (0x10a) that QEMU's \
                 -cpu host sets (errno/result {value})"
            )),
            _ => broken(format!(
                "a test guest stopped with KVM exit reason {value}, not HLT (5)"
            )),
        }
    }

    /// # Safety
    /// Only to be called in a freshly forked child; never returns.
    unsafe fn child(out: i32) -> ! {
        // SAFETY: the caller's contract; everything below is raw system calls.
        let (step, value) = unsafe { guest() };
        let mut msg = [0u8; 5];
        msg[0] = step as u8;
        msg[1..].copy_from_slice(&value.to_ne_bytes());
        // SAFETY: writing our stack buffer, then leaving without running any destructor.
        unsafe {
            libc::write(out, msg.as_ptr().cast(), msg.len());
            libc::_exit(0)
        }
    }

    fn errno() -> u32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as u32
    }

    type Failed = (Step, u32);

    /// # Safety
    /// Raw KVM ioctls on descriptors and mappings created here.
    unsafe fn guest() -> (Step, u32) {
        // SAFETY: the callees only use descriptors and mappings they create.
        let ran = unsafe { vm_with_hlt().and_then(|(kvm, vm)| run_vcpu(kvm, vm)) };
        ran.err().unwrap_or((Step::Ok, 0))
    }

    /// Opens KVM and creates a VM whose reset-vector page holds `hlt`.
    ///
    /// # Safety
    /// Raw system calls only, on descriptors and a mapping created here.
    unsafe fn vm_with_hlt() -> Result<(i32, i32), Failed> {
        // SAFETY: every call passes descriptors, pointers and sizes created here.
        unsafe {
            let kvm = libc::open(c"/dev/kvm".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
            if kvm < 0 {
                return Err((Step::Open, errno()));
            }
            let version = libc::ioctl(kvm, KVM_GET_API_VERSION as _, 0);
            if version != 12 {
                return Err((Step::ApiVersion, version as u32));
            }
            let vm = libc::ioctl(kvm, KVM_CREATE_VM as _, 0);
            if vm < 0 {
                return Err((Step::CreateVm, errno()));
            }
            let prot = libc::PROT_READ | libc::PROT_WRITE;
            let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
            let mem = libc::mmap(std::ptr::null_mut(), 4096, prot, flags, -1, 0);
            if mem == libc::MAP_FAILED {
                return Err((Step::Memory, errno()));
            }
            *(mem as *mut u8).add(0xff0) = 0xf4; // hlt
            let region = MemoryRegion {
                slot: 0,
                flags: 0,
                guest_phys_addr: RESET_PAGE,
                memory_size: 4096,
                userspace_addr: mem as u64,
            };
            if libc::ioctl(vm, KVM_SET_USER_MEMORY_REGION as _, &region) < 0 {
                return Err((Step::Memory, errno()));
            }
            Ok((kvm, vm))
        }
    }

    /// Creates a vCPU, sets the feature MSR QEMU sets, runs it and expects `KVM_EXIT_HLT`.
    ///
    /// # Safety
    /// Raw system calls only, on the given descriptors and a mapping created here.
    unsafe fn run_vcpu(kvm: i32, vm: i32) -> Result<(), Failed> {
        // SAFETY: every call passes descriptors, pointers and sizes created here.
        unsafe {
            let vcpu = libc::ioctl(vm, KVM_CREATE_VCPU as _, 0);
            if vcpu < 0 {
                return Err((Step::CreateVcpu, errno()));
            }
            let mut msr = OneMsr {
                nmsrs: 1,
                pad: 0,
                index: MSR_ARCH_CAPABILITIES,
                reserved: 0,
                data: 0,
            };
            // A feature MSR the host reports (1 read) must be settable on a vCPU, as QEMU
            // does at start-up; kernels without feature-MSR support answer < 1 and are skipped.
            if libc::ioctl(kvm, KVM_GET_MSRS as _, &mut msr) == 1 {
                let set = libc::ioctl(vcpu, KVM_SET_MSRS as _, &msr);
                if set != 1 {
                    return Err((Step::Msr, if set < 0 { errno() } else { set as u32 }));
                }
            }
            let size = libc::ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE as _, 0);
            if size <= 0 {
                return Err((Step::RunMap, errno()));
            }
            let prot = libc::PROT_READ | libc::PROT_WRITE;
            let run = libc::mmap(
                std::ptr::null_mut(),
                size as usize,
                prot,
                libc::MAP_SHARED,
                vcpu,
                0,
            );
            if run == libc::MAP_FAILED {
                return Err((Step::RunMap, errno()));
            }
            if libc::ioctl(vcpu, KVM_RUN as _, 0) < 0 {
                return Err((Step::Run, errno()));
            }
            // struct kvm_run: two u8 flags, six bytes of padding, then `__u32 exit_reason`.
            let reason = *(run as *const u8).add(8).cast::<u32>();
            if reason == KVM_EXIT_HLT {
                Ok(())
            } else {
                Err((Step::ExitReason, reason))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_lines_round_trip_and_expire_with_the_boot() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CACHE_FILE);
        let v = KvmVerdict::Broken("KVM_RUN failed: x".into());
        write_cache(&file, "boot-a", &v).unwrap();
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(parse_cache(&text, "boot-a"), Some(v));
        assert_eq!(parse_cache(&text, "boot-b"), None);
        write_cache(&file, "boot-b", &KvmVerdict::Works).unwrap();
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(parse_cache(&text, "boot-b"), Some(KvmVerdict::Works));
    }

    #[test]
    fn tcg_skips_the_probe_and_foreign_guests_never_get_kvm() {
        let dir = tempfile::tempdir().unwrap();
        let tcg = resolve(Accel::Tcg, GuestArch::X86_64, dir.path()).unwrap();
        assert_eq!(tcg, ResolvedAccel::Tcg);
        assert!(!dir.path().join(CACHE_FILE).exists());
        if std::env::consts::ARCH == "x86_64" {
            let auto = resolve(Accel::Auto, GuestArch::Arm64, dir.path()).unwrap();
            assert_eq!(auto, ResolvedAccel::Tcg);
            let err = resolve(Accel::Kvm, GuestArch::Arm64, dir.path()).unwrap_err();
            assert!(err.to_string().contains("--accel tcg"), "{err}");
        }
    }
}
