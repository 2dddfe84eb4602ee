//! Golden tests of QEMU command lines: one argument per line in `tests/qemu_golden/*.argv`.
//! Regenerate with `KILN_BLESS=1 cargo test -p kiln-vmm --test qemu_args` and review
//! the diff: every change here changes how every machine boots.

use std::path::{Path, PathBuf};

use kiln_vmm::accel::ResolvedAccel;
use kiln_vmm::qemu::{QemuArgs, QemuArgsError, QemuPaths};
use kiln_vmm::spec::{Accel, GuestArch, MachineSpec, PortMap, Proto, SharedDir, Vmm};

fn paths() -> QemuPaths {
    let dir = Path::new("/state/kiln/instances/web");
    QemuPaths {
        serial_log: dir.join("serial.log"),
        pidfile: dir.join("pid"),
        qmp_socket: dir.join("qmp.sock"),
        events_socket: dir.join("events.sock"),
    }
}

fn minimal() -> MachineSpec {
    MachineSpec {
        name: "web".into(),
        vmm: Vmm::Qemu,
        arch: GuestArch::X86_64,
        kernel: PathBuf::from("/src/app/.unikraft/build/app_qemu-x86_64"),
        initrd: None,
        cmdline: "env.vars=[ FOO=bar ] -- /server --port 80".into(),
        memory_mib: 64,
        cpus: 1,
        ports: vec![],
        shared_dirs: vec![],
        accel: Accel::Auto,
    }
}

fn check(name: &str, spec: &MachineSpec, accel: ResolvedAccel) {
    let args = QemuArgs::build(spec, accel, &paths()).unwrap();
    let text: String = args
        .argv()
        .iter()
        .map(|a| format!("{}\n", a.to_str().unwrap()))
        .collect();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/qemu_golden/{name}.argv"));
    if std::env::var_os("KILN_BLESS").is_some() {
        std::fs::write(&file, &text).unwrap();
    }
    let want = std::fs::read_to_string(&file).unwrap_or_default();
    assert_eq!(text, want, "{name}: argv differs from {}", file.display());
}

#[test]
fn minimal_x86_64_tcg() {
    check("minimal", &minimal(), ResolvedAccel::Tcg);
}

#[test]
fn x86_64_kvm_with_smp_and_initrd() {
    let spec = MachineSpec {
        initrd: Some("/src/app/.unikraft/build/initramfs-x86_64.cpio".into()),
        cpus: 2,
        memory_mib: 256,
        ..minimal()
    };
    check("kvm_initrd", &spec, ResolvedAccel::Kvm);
}

#[test]
fn ports_tcp_udp_and_host_address() {
    let port = |host_ip: Option<&str>, host, guest, proto| PortMap {
        host_ip: host_ip.map(str::to_owned),
        host,
        guest,
        proto,
    };
    let spec = MachineSpec {
        ports: vec![
            port(None, 8080, 80, Proto::Tcp),
            port(Some("127.0.0.1"), 5353, 53, Proto::Udp),
        ],
        ..minimal()
    };
    check("ports", &spec, ResolvedAccel::Tcg);
}

#[test]
fn volumes_with_commas_in_paths() {
    let spec = MachineSpec {
        shared_dirs: vec![
            SharedDir {
                host: "/data/www".into(),
                tag: "fs0".into(),
                readonly: true,
            },
            SharedDir {
                host: "/data/odd,name".into(),
                tag: "fs1".into(),
                readonly: false,
            },
        ],
        ..minimal()
    };
    check("volumes", &spec, ResolvedAccel::Tcg);
}

#[test]
fn arm64_tcg() {
    let spec = MachineSpec {
        arch: GuestArch::Arm64,
        kernel: "/src/app/.unikraft/build/app_qemu-arm64".into(),
        cmdline: String::new(),
        ..minimal()
    };
    check("arm64", &spec, ResolvedAccel::Tcg);
}

#[test]
fn specs_qemu_cannot_run_are_refused() {
    let p = paths();
    let err = |spec: MachineSpec| QemuArgs::build(&spec, ResolvedAccel::Tcg, &p).unwrap_err();
    assert!(matches!(
        err(MachineSpec {
            vmm: Vmm::Firecracker,
            ..minimal()
        }),
        QemuArgsError::NotQemu(_)
    ));
    assert!(matches!(
        err(MachineSpec {
            cpus: 0,
            ..minimal()
        }),
        QemuArgsError::Size { .. }
    ));
    let bad_ip = PortMap {
        host_ip: Some("::1".into()),
        host: 1,
        guest: 2,
        proto: Proto::Tcp,
    };
    let e = err(MachineSpec {
        ports: vec![bad_ip],
        ..minimal()
    });
    assert!(e.to_string().contains("not an IPv4 address"), "{e}");
    let bad_tag = SharedDir {
        host: "/d".into(),
        tag: "a,b".into(),
        readonly: false,
    };
    assert!(matches!(
        err(MachineSpec {
            shared_dirs: vec![bad_tag],
            ..minimal()
        }),
        QemuArgsError::BadTag(_)
    ));
    let rel = SharedDir {
        host: "rel".into(),
        tag: "fs0".into(),
        readonly: false,
    };
    assert!(matches!(
        err(MachineSpec {
            shared_dirs: vec![rel],
            ..minimal()
        }),
        QemuArgsError::RelativePath(_)
    ));
}
