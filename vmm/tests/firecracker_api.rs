//! kiln's Firecracker requests, checked against Firecracker's own API spec by a fake API
//! server (see `firecracker_fake/mod.rs`): the validator itself is shown able to fail,
//! then the whole launch sequence is validated, faults are surfaced, and unsupported specs
//! are refused before any request exists.

#[allow(dead_code)] // Each test crate uses a different part of the fake.
mod firecracker_fake;

use std::path::{Path, PathBuf};

use firecracker_fake::{FakeFirecracker, Fault, SpecValidator};
use kiln_vmm::firecracker::{
    self, ApiClient, ApiRequest, FcError, FcOptions, InstanceState, MachineConfiguration,
    TapInterface,
};
use kiln_vmm::spec::{Accel, GuestArch, MachineSpec, PortMap, Proto, SharedDir, Vmm};
use serde_json::json;

fn spec() -> MachineSpec {
    MachineSpec {
        name: "hello".into(),
        vmm: Vmm::Firecracker,
        arch: GuestArch::X86_64,
        kernel: PathBuf::from("/build/hello_fc-x86_64"),
        initrd: Some(PathBuf::from("/build/initramfs-x86_64.cpio")),
        cmdline: r#"vfs.fstab=[ "initrd0:/:extract:::" ] env.vars=[ HOME=/ ] -- /server "a b""#
            .into(),
        memory_mib: 64,
        cpus: 1,
        ports: vec![],
        shared_dirs: vec![],
        accel: Accel::Auto,
    }
}

fn taps() -> FcOptions {
    FcOptions {
        taps: vec![TapInterface {
            tap: "tap0".into(),
            guest_mac: Some("02:00:00:00:00:01".into()),
        }],
    }
}

#[test]
fn validator_accepts_what_the_spec_allows() {
    let v = SpecValidator::load();
    let ok = |method, path, body: Option<serde_json::Value>| {
        v.validate(method, path, body.as_ref())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    };
    ok(
        "PUT",
        "/machine-config",
        Some(json!({"vcpu_count": 2, "mem_size_mib": 64, "smt": false})),
    );
    ok(
        "PUT",
        "/boot-source",
        Some(json!({"kernel_image_path": "/k"})),
    );
    let template = ok(
        "PUT",
        "/network-interfaces/net0",
        Some(json!({"iface_id": "net0", "host_dev_name": "tap0"})),
    );
    assert_eq!(template, "/network-interfaces/{iface_id}");
    ok(
        "PUT",
        "/actions",
        Some(json!({"action_type": "InstanceStart"})),
    );
    ok("GET", "/", None);
}

/// The proof that the validator can fail: each of these must be rejected.
#[test]
fn validator_rejects_bad_requests() {
    let v = SpecValidator::load();
    let bad: &[(&str, &str, Option<serde_json::Value>, &str)] = &[
        (
            "PUT",
            "/machine-config",
            Some(json!({"vcpu_count": 0, "mem_size_mib": 64})),
            "minimum",
        ),
        (
            "PUT",
            "/machine-config",
            Some(json!({"vcpu_count": 33, "mem_size_mib": 64})),
            "maximum",
        ),
        (
            "PUT",
            "/machine-config",
            Some(json!({"vcpu_cuont": 1, "mem_size_mib": 64})),
            "vcpu_cuont",
        ),
        (
            "PUT",
            "/machine-config",
            Some(json!({"vcpu_count": 1, "mem_size_mib": "64"})),
            "integer",
        ),
        (
            "PUT",
            "/machine-config",
            Some(json!({"vcpu_count": 1, "mem_size_mib": 64, "smt": "no"})),
            "boolean",
        ),
        (
            "PUT",
            "/boot-source",
            Some(json!({"boot_args": "x"})),
            "kernel_image_path",
        ),
        (
            "PUT",
            "/boot-source",
            Some(json!({"kernel_image_path": "/k", "initrd": "/i"})),
            "initrd",
        ),
        (
            "PUT",
            "/actions",
            Some(json!({"action_type": "Start"})),
            "Start",
        ),
        (
            "PUT",
            "/network-interfaces/net0",
            Some(
                json!({"iface_id": "net0", "host_dev_name": "tap0", "rx_rate_limiter": {"bandwith": {}}}),
            ),
            "bandwith",
        ),
        ("PUT", "/actions", None, "requires a body"),
        ("GET", "/", Some(json!({})), "takes no body"),
        ("DELETE", "/boot-source", None, "no such operation"),
        (
            "PUT",
            "/network-interfaces",
            Some(json!({})),
            "no such operation",
        ),
        (
            "PUT",
            "/network-interfaces/a/b",
            Some(json!({})),
            "no such operation",
        ),
        (
            "PUT",
            "/boot_source",
            Some(json!({"kernel_image_path": "/k"})),
            "no such operation",
        ),
    ];
    for (method, path, body, needle) in bad {
        match v.validate(method, path, body.as_ref()) {
            Ok(t) => panic!("{method} {path} {body:?} was accepted as {t}"),
            Err(e) => assert!(
                e.contains(needle),
                "{method} {path}: {e:?} lacks {needle:?}"
            ),
        }
    }
}

#[test]
fn the_launch_sequence_validates_against_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("fc.sock");
    let fake = FakeFirecracker::start(&socket, None);
    let config = firecracker::plan(&spec(), &taps()).unwrap();
    let mut client = ApiClient::connect(&socket).unwrap();
    assert_eq!(
        client.describe_instance().unwrap().state,
        InstanceState::NotStarted
    );
    firecracker::configure_and_start(&mut client, &config).unwrap();
    assert_eq!(
        client.describe_instance().unwrap().state,
        InstanceState::Running
    );

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
    let calls: Vec<String> = received
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /",
            "PUT /machine-config",
            "PUT /boot-source",
            "PUT /network-interfaces/net0",
            "PUT /actions",
            "GET /"
        ]
    );
    assert_eq!(
        received[1].body,
        Some(json!({"vcpu_count": 1, "mem_size_mib": 64, "smt": false}))
    );
    assert_eq!(
        received[2].body,
        Some(json!({
            "kernel_image_path": "/build/hello_fc-x86_64",
            "initrd_path": "/build/initramfs-x86_64.cpio",
            "boot_args": r#"hello_fc-x86_64 vfs.fstab=[ "initrd0:/:extract:::" ] env.vars=[ HOME=/ ] -- /server "a b""#,
        }))
    );
    assert_eq!(
        received[3].body,
        Some(
            json!({"iface_id": "net0", "host_dev_name": "tap0", "guest_mac": "02:00:00:00:00:01"})
        )
    );
    assert_eq!(
        received[4].body,
        Some(json!({"action_type": "InstanceStart"}))
    );
}

#[test]
fn a_fault_message_reaches_the_caller_and_stops_the_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("fc.sock");
    let fault = Fault {
        path: "/boot-source".into(),
        fault_message: "Invalid kernel path: No such file or directory (os error 2)".into(),
    };
    let fake = FakeFirecracker::start(&socket, Some(fault));
    let config = firecracker::plan(&spec(), &FcOptions::default()).unwrap();
    let mut client = ApiClient::connect(&socket).unwrap();
    let err = firecracker::configure_and_start(&mut client, &config).unwrap_err();
    match &err {
        FcError::Api {
            method,
            path,
            status,
            fault_message,
        } => {
            assert_eq!(
                (method.as_str(), path.as_str(), *status),
                ("PUT", "/boot-source", 400)
            );
            assert!(
                fault_message.starts_with("Invalid kernel path"),
                "{fault_message}"
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(err.to_string().contains("Invalid kernel path"), "{err}");
    let paths: Vec<String> = fake.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        ["/machine-config", "/boot-source"],
        "no InstanceStart after a fault"
    );
}

#[test]
fn an_invalid_body_is_refused_by_the_fake_with_the_validators_reason() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("fc.sock");
    let _fake = FakeFirecracker::start(&socket, None);
    let mut client = ApiClient::connect(&socket).unwrap();
    let bad = ApiRequest::MachineConfig(MachineConfiguration {
        vcpu_count: 0,
        mem_size_mib: 64,
        smt: false,
        track_dirty_pages: None,
    });
    let err = client.send(&bad).unwrap_err().to_string();
    assert!(err.contains("400") && err.contains("minimum"), "{err}");
}

fn plan_err(edit: impl FnOnce(&mut MachineSpec)) -> String {
    let mut s = spec();
    edit(&mut s);
    firecracker::plan(&s, &FcOptions::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn unsupported_specs_are_refused_before_any_request() {
    let port = PortMap {
        host_ip: None,
        host: 8080,
        guest: 80,
        proto: Proto::Tcp,
    };
    let err = plan_err(|s| s.ports.push(port));
    assert!(
        err.contains("no user-mode networking") && err.contains("tap") && err.contains("qemu"),
        "{err}"
    );
    let share = SharedDir {
        host: "/srv".into(),
        tag: "fs0".into(),
        readonly: false,
    };
    let err = plan_err(|s| s.shared_dirs.push(share));
    assert!(err.contains("virtio-9p") && err.contains("qemu"), "{err}");
    assert!(plan_err(|s| s.accel = Accel::Tcg).contains("KVM"));
    assert!(plan_err(|s| s.cpus = 0).contains("1 to 32"));
    assert!(plan_err(|s| s.cpus = 33).contains("1 to 32"));
    assert!(plan_err(|s| s.memory_mib = 0).contains("memory"));
    assert!(plan_err(|s| s.kernel = PathBuf::from("/")).contains("path"));
    let bad_tap = FcOptions {
        taps: vec![TapInterface {
            tap: "a/b".into(),
            guest_mac: None,
        }],
    };
    assert!(firecracker::plan(&spec(), &bad_tap).is_err());
    let bad_mac = FcOptions {
        taps: vec![TapInterface {
            tap: "tap0".into(),
            guest_mac: Some("02:00".into()),
        }],
    };
    assert!(firecracker::plan(&spec(), &bad_mac).is_err());
}

#[test]
fn arm64_plans_and_boot_args_follow_kraft() {
    let mut s = spec();
    s.arch = GuestArch::Arm64;
    s.initrd = None;
    s.cmdline = String::new();
    let config = firecracker::plan(&s, &FcOptions::default()).unwrap();
    let ApiRequest::BootSource(boot) = &config.requests[1] else {
        panic!("{config:?}")
    };
    assert_eq!(boot.boot_args.as_deref(), Some("hello_fc-x86_64"));
    assert_eq!(boot.initrd_path, None);
    assert_eq!(firecracker::boot_args("k", "  -- a  "), "k -- a");
}

#[test]
fn relative_paths_are_made_absolute() {
    let mut s = spec();
    s.kernel = PathBuf::from("out/kernel");
    let config = firecracker::plan(&s, &FcOptions::default()).unwrap();
    let ApiRequest::BootSource(boot) = &config.requests[1] else {
        panic!("{config:?}")
    };
    assert!(
        Path::new(&boot.kernel_image_path).is_absolute(),
        "{}",
        boot.kernel_image_path
    );
    assert!(boot.kernel_image_path.ends_with("out/kernel"));
}

#[test]
fn every_request_kiln_can_build_validates() {
    use kiln_vmm::firecracker::{ActionType, Drive, Logger};
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("fc.sock");
    let fake = FakeFirecracker::start(&socket, None);
    let mut client = ApiClient::connect(&socket).unwrap();
    let drive = Drive {
        drive_id: "rootfs".into(),
        path_on_host: "/build/rootfs.img".into(),
        is_root_device: false,
        is_read_only: true,
    };
    client.send(&ApiRequest::Drive(drive)).unwrap();
    let logger = Logger {
        log_path: "/tmp/fc.log".into(),
        level: "Warning".into(),
    };
    client.send(&ApiRequest::Logger(logger)).unwrap();
    for action in [
        ActionType::FlushMetrics,
        ActionType::SendCtrlAltDel,
        ActionType::InstanceStart,
    ] {
        client.action(action).unwrap();
    }
    let received = fake.received();
    assert_eq!(received.len(), 5);
    assert!(received.iter().all(|r| r.verdict.is_ok()), "{received:?}");
    assert_eq!(received[0].path, "/drives/rootfs");
}
