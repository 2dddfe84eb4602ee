//! `firecracker::launch_with` end to end with a stand-in `firecracker` (a shell script that
//! prints its argv and sleeps) and the spec-validating fake API server on its socket:
//! process start, stdout → serial.log, socket wait, logger + configuration + InstanceStart.

#[allow(dead_code)] // Each test crate uses a different part of the fake.
mod firecracker_fake;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use firecracker_fake::FakeFirecracker;
use kiln_vmm::firecracker::{self, FcError, FcOptions};
use kiln_vmm::spec::{Accel, GuestArch, MachineSpec, Vmm};

fn script(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("firecracker");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn config() -> firecracker::FcConfig {
    let spec = MachineSpec {
        name: "hello".into(),
        vmm: Vmm::Firecracker,
        arch: GuestArch::X86_64,
        kernel: PathBuf::from("/build/hello_fc-x86_64"),
        initrd: Some(PathBuf::from("/build/initramfs-x86_64.cpio")),
        cmdline: "netdev.ip=10.0.0.2/24:10.0.0.1 -- /server --port 80".into(),
        memory_mib: 128,
        cpus: 2,
        ports: vec![],
        shared_dirs: vec![],
        accel: Accel::Kvm,
    };
    firecracker::plan(&spec, &FcOptions::default()).unwrap()
}

fn wait_for(path: &Path, needle: &str) -> String {
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
fn launch_starts_the_binary_and_boots_through_the_socket() {
    let bin = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("inst");
    let fake_bin = script(bin.path(), "echo \"fake firecracker $*\"\nexec sleep 30");
    let fake = FakeFirecracker::start_when(&dir.join("fc.sock"), &dir.join("serial.log"), None);

    let mut instance = firecracker::launch_with(&fake_bin, &config(), &dir).unwrap();
    let serial = wait_for(&instance.serial_log, "fake firecracker");
    let _ = instance.child.kill();
    let _ = instance.child.wait();

    let expected = format!(
        "fake firecracker --api-sock {}",
        dir.join("fc.sock").display()
    );
    assert!(serial.contains(&expected), "{serial:?}");
    let received = fake.received();
    for r in &received {
        assert!(
            r.verdict.is_ok(),
            "{} {}: {:?}",
            r.method,
            r.path,
            r.verdict
        );
    }
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/logger", "/machine-config", "/boot-source", "/actions"]
    );
    let log_path = dir.join("firecracker.log");
    assert_eq!(
        received[0].body.as_ref().unwrap()["log_path"],
        log_path.to_str().unwrap()
    );
    assert_eq!(received[1].body.as_ref().unwrap()["vcpu_count"], 2);
    assert_eq!(
        received[2].body.as_ref().unwrap()["boot_args"],
        "hello_fc-x86_64 netdev.ip=10.0.0.2/24:10.0.0.1 -- /server --port 80"
    );
}

#[test]
fn a_firecracker_that_exits_early_is_reported_with_its_log() {
    let bin = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let fake_bin = script(bin.path(), "echo 'Error: no /dev/kvm' >&2\nexit 3");
    let err = firecracker::launch_with(&fake_bin, &config(), state.path()).unwrap_err();
    assert!(matches!(err, FcError::Exited { .. }), "{err:?}");
    assert!(err.to_string().contains("firecracker.log"), "{err}");
    let log = wait_for(&state.path().join("firecracker.log"), "no /dev/kvm");
    assert!(log.contains("Error: no /dev/kvm"), "{log:?}");
}

#[test]
fn a_missing_binary_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        firecracker::find_program("firecracker", Some(empty.path().as_os_str())),
        None
    );
    let bin = tempfile::tempdir().unwrap();
    let fake_bin = script(bin.path(), "exit 0");
    let found = firecracker::find_program("firecracker", Some(bin.path().as_os_str()));
    assert_eq!(found, Some(fake_bin));

    // This machine has no firecracker; where one is installed, launch would really run.
    let path = std::env::var_os("PATH");
    if firecracker::find_program("firecracker", path.as_deref()).is_none() {
        let state = tempfile::tempdir().unwrap();
        let err = firecracker::launch(&config(), state.path()).unwrap_err();
        assert!(
            err.to_string().starts_with("firecracker is not installed"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_dir(state.path()).unwrap().count(),
            0,
            "nothing was created"
        );
    }
}
