//! The xl configurations kiln writes, as golden files (`tests/golden/xen_*.cfg`; set
//! `KILN_BLESS=1` to rewrite them), the specs Xen must refuse, and `xl` driven through a
//! stand-in script that records its argv.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_vmm::spec::{Accel, GuestArch, MachineSpec, PortMap, Proto, SharedDir, Vmm};
use kiln_vmm::xen::{self, XenError, XenOptions, XenVif, XlCommands};

fn spec() -> MachineSpec {
    MachineSpec {
        name: "helloworld".into(),
        vmm: Vmm::Xen,
        arch: GuestArch::X86_64,
        kernel: PathBuf::from("/srv/app/.unikraft/build/helloworld_xen-x86_64"),
        initrd: None,
        cmdline: String::new(),
        memory_mib: 64,
        cpus: 1,
        ports: vec![],
        shared_dirs: vec![],
        accel: Accel::Auto,
    }
}

fn share(host: &str, tag: &str) -> SharedDir {
    SharedDir {
        host: host.into(),
        tag: tag.into(),
        readonly: false,
    }
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("KILN_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with KILN_BLESS=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{} differs (KILN_BLESS=1 rewrites it)",
        path.display()
    );
}

#[test]
fn golden_minimal() {
    golden(
        "xen_minimal.cfg",
        &xen::config(&spec(), &XenOptions::default()).unwrap(),
    );
}

#[test]
fn golden_initrd_quoted_args_9p_and_network() {
    let mut s = spec();
    s.name = "httpd".into();
    s.initrd = Some("/srv/app/.unikraft/build/initramfs-x86_64.cpio".into());
    s.cmdline = r#"vfs.fstab=[ "fs0:/data:9pfs" "fs1:/etc/app:9pfs" ] env.vars=[ GREETING="hi there" ] -- /httpd --root 'C:\www' "a b""#.into();
    s.memory_mib = 256;
    s.shared_dirs = vec![
        share("/srv/data", "fs0"),
        share("/srv/app/etc files", "fs1"),
    ];
    let options = XenOptions {
        vifs: vec![
            XenVif {
                bridge: "xenbr0".into(),
                mac: Some("00:16:3e:00:00:01".into()),
            },
            XenVif {
                bridge: "virbr1".into(),
                mac: None,
            },
        ],
    };
    golden("xen_full.cfg", &xen::config(&s, &options).unwrap());
}

#[test]
fn golden_arm64() {
    let mut s = spec();
    s.arch = GuestArch::Arm64;
    s.kernel = "/srv/app/.unikraft/build/helloworld_xen-arm64".into();
    s.cmdline = "-- hello".into();
    golden(
        "xen_arm64.cfg",
        &xen::config(&s, &XenOptions::default()).unwrap(),
    );
}

fn config_err(edit: impl FnOnce(&mut MachineSpec)) -> String {
    let mut s = spec();
    edit(&mut s);
    xen::config(&s, &XenOptions::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn what_xen_cannot_run_is_refused() {
    let port = PortMap {
        host_ip: None,
        host: 8080,
        guest: 80,
        proto: Proto::Tcp,
    };
    let err = config_err(|s| s.ports.push(port));
    assert!(err.contains("bridge") && err.contains("qemu"), "{err}");
    assert!(config_err(|s| s.cpus = 2).contains("SMP"));
    assert!(config_err(|s| s.cpus = 0).contains("vCPU"));
    assert!(config_err(|s| s.memory_mib = 0).contains("memory"));
    let ro = SharedDir {
        readonly: true,
        ..share("/srv/data", "fs0")
    };
    assert!(config_err(|s| s.shared_dirs.push(ro)).contains("read-only"));
    assert!(config_err(|s| s.shared_dirs.push(share("/a,b", "fs0"))).contains("/a,b"));
    assert!(config_err(|s| s.shared_dirs.push(share("/srv", "fs 0"))).contains("9p tag"));
    assert!(config_err(|s| s.kernel = "relative/kernel".into()).contains("absolute"));
    assert!(config_err(|s| s.name = "42".into()).contains("domain id"));
    assert!(config_err(|s| s.cmdline = "a\u{1b}b".into()).contains("control character"));
    let bad_bridge = XenOptions {
        vifs: vec![XenVif {
            bridge: "br,0".into(),
            mac: None,
        }],
    };
    assert!(xen::config(&spec(), &bad_bridge).is_err());
    let bad_mac = XenOptions {
        vifs: vec![XenVif {
            bridge: "xenbr0".into(),
            mac: Some("x".into()),
        }],
    };
    assert!(xen::config(&spec(), &bad_mac).is_err());
}

#[test]
fn xl_argv() {
    let c = XlCommands::new("httpd", Path::new("/run/kiln/httpd/xl.cfg"));
    let words = |v: &[std::ffi::OsString]| {
        v.iter()
            .map(|w| w.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(words(&c.create), ["create", "-p", "/run/kiln/httpd/xl.cfg"]);
    assert_eq!(words(&c.console), ["console", "httpd"]);
    assert_eq!(words(&c.unpause), ["unpause", "httpd"]);
    assert_eq!(words(&c.destroy), ["destroy", "httpd"]);
}

/// A stand-in `xl` that appends its argv to `calls`, prints a console line, and fails on
/// the verb named `fail` (if any).
fn fake_xl(dir: &Path, fail: &str) -> PathBuf {
    let path = dir.join("xl");
    let calls = dir.join("calls");
    let body = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\ncase \"$1\" in\n  {fail}) echo 'xl: {fail} failed' >&2; exit 1;;\n  console) echo 'Hello from Unikraft';;\nesac\n",
        calls.display()
    );
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn read_when(path: &Path, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) || start.elapsed() > Duration::from_secs(5) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn launch_creates_paused_attaches_the_console_and_unpauses() {
    let bin = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let xl = fake_xl(bin.path(), "never");
    let text = xen::config(&spec(), &XenOptions::default()).unwrap();
    let mut inst = xen::launch_with(&xl, "helloworld", &text, state.path()).unwrap();
    let _ = inst.console.wait();
    assert_eq!(std::fs::read_to_string(&inst.config_path).unwrap(), text);
    assert!(read_when(&inst.serial_log, "Hello").contains("Hello from Unikraft"));
    let calls = read_when(&bin.path().join("calls"), "console");
    let lines: Vec<&str> = calls.lines().collect();
    let create = format!("create -p {}", state.path().join("xl.cfg").display());
    assert_eq!(lines[0], create, "{calls}");
    assert!(
        lines.contains(&"console helloworld") && lines.contains(&"unpause helloworld"),
        "{calls}"
    );
}

#[test]
fn a_failed_unpause_destroys_the_domain() {
    let bin = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let xl = fake_xl(bin.path(), "unpause");
    let text = xen::config(&spec(), &XenOptions::default()).unwrap();
    let err = xen::launch_with(&xl, "helloworld", &text, state.path()).unwrap_err();
    assert!(matches!(err, XenError::Xl { .. }), "{err:?}");
    assert!(err.to_string().contains("xl: unpause failed"), "{err}");
    let calls = read_when(&bin.path().join("calls"), "destroy");
    assert!(
        calls.lines().last() == Some("destroy helloworld"),
        "{calls}"
    );
}

#[test]
fn without_xl_launch_is_a_clear_error_and_touches_nothing() {
    let path = std::env::var_os("PATH");
    if kiln_vmm::firecracker::find_program("xl", path.as_deref()).is_some() {
        return; // A real Xen host: launching would really create a domain.
    }
    let state = tempfile::tempdir().unwrap();
    let err = xen::launch(&spec(), &XenOptions::default(), state.path()).unwrap_err();
    assert!(err.to_string().starts_with("xl is not installed"), "{err}");
    assert_eq!(std::fs::read_dir(state.path()).unwrap().count(), 0);
}
