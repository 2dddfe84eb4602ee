//! `kiln pkg` end to end on the test kernel: the package steps in the plan and the build, a
//! no-op that writes nothing, digests that do not depend on the path or the cache, what
//! skopeo and umoci (independent OCI clients) read from an exported layout, the urunc format,
//! and `kiln cache gc` keeping the blobs of packages.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::registry::skopeo;
use common::*;
use serde_json::Value;

/// `kiln pkg --name NAME -o json ARGS` in `p`, which must succeed: the package record.
fn pkg(w: &World, p: &Path, name: &str, args: &[&str]) -> Value {
    let out = w
        .kiln(p)
        .args(["pkg", "--name", name, "-o", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "kiln pkg: {}", text(&out.stderr));
    json(&out.stdout)
}

fn export(w: &World, p: &Path, name: &str, dir: &Path) {
    let out = w
        .kiln(p)
        .args(["pkg", "export", name])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kiln pkg export: {}",
        text(&out.stderr)
    );
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    read(
        &layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
}

fn blob_json(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&blob(layout, digest)).unwrap()
}

fn kernel_file(p: &Path) -> PathBuf {
    p.join(".unikraft/build/hello_qemu-x86_64")
}

#[test]
fn package_is_a_step_and_a_second_pkg_writes_nothing() {
    let w = World::new();
    let p = kernel_project(&w, "app", "");
    let out = w
        .kiln(&p)
        .args(["plan", "--name", "localhost:5000/hello:1.0"])
        .output()
        .unwrap();
    let plan = text(&out.stdout);
    assert!(
        plan.contains("qemu-x86_64/package") && plan.contains("\n  package "),
        "{plan}"
    );
    let without = text(&w.kiln(&p).arg("plan").output().unwrap().stdout);
    assert!(
        !without.contains("package"),
        "plain plans have no package step: {without}"
    );

    settle();
    let record = pkg(&w, &p, "localhost:5000/hello:1.0", &[]);
    assert_eq!(record["format"], "kraftkit");
    assert_eq!(record["manifests"][0]["plat"], "qemu");
    assert_eq!(record["manifests"][0]["arch"], "x86_64");
    let before = (snapshot(w.cache_dir()), snapshot(&p));
    let out = w
        .kiln(&p)
        .args(["pkg", "--name", "localhost:5000/hello:1.0", "--explain"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("(unchanged)"), "{err}");
    assert!(!err.contains(" ran "), "a second pkg runs nothing: {err}");
    assert_eq!(
        (snapshot(w.cache_dir()), snapshot(&p)),
        before,
        "a no-op pkg writes nothing"
    );

    let ls = json(
        &w.kiln(&p)
            .args(["pkg", "ls", "-o", "json"])
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(ls[0]["reference"], "localhost:5000/hello:1.0");
    assert_eq!(ls[0]["digest"], record["digest"]);
    let table = text(&w.kiln(&p).args(["pkg", "ls"]).output().unwrap().stdout);
    assert!(
        table.starts_with("NAME")
            && table.contains("localhost:5000/hello  1.0      kraftkit  qemu  x86_64"),
        "{table}"
    );
}

#[test]
fn the_same_inputs_give_the_same_digests_at_any_path_and_cache() {
    let (w1, w2) = (World::new(), World::new());
    let p1 = kernel_project(&w1, "one", "");
    let p2 = kernel_project(&w2, "somewhere/else/two", "");
    let with_epoch =
        |w: &World, p: &Path| pkg(w, p, "unikraft.org/hello:1.0", &[])["digest"].clone();
    let d1 = with_epoch(&w1, &p1);
    assert_eq!(d1, with_epoch(&w2, &p2));
    let without = |w: &World, p: &Path| {
        let out = w
            .kiln(p)
            .env_remove("SOURCE_DATE_EPOCH")
            .args(["pkg", "--name", "unikraft.org/hello:1.0", "-o", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        json(&out.stdout)["digest"].clone()
    };
    let d2 = without(&w1, &p1);
    assert_eq!(d2, without(&w2, &p2));
    assert_ne!(d1, d2, "SOURCE_DATE_EPOCH is the creation time");

    let layout = w1.scratch.path().join("layout");
    export(&w1, &p1, "unikraft.org/hello:1.0", &layout);
    let index = blob_json(&layout, d2.as_str().unwrap());
    let manifest = blob_json(&layout, index["manifests"][0]["digest"].as_str().unwrap());
    assert!(
        manifest["annotations"]
            .get("org.opencontainers.image.created")
            .is_none(),
        "no wall-clock time without SOURCE_DATE_EPOCH: {manifest}"
    );
}

#[test]
fn a_kraftkit_package_has_krafts_layout() {
    let w = World::new();
    let p = kernel_project(&w, "app", "");
    let record = pkg(&w, &p, "unikraft.org/hello:1.0", &[]);
    let layout = w.scratch.path().join("layout");
    export(&w, &p, "unikraft.org/hello:1.0", &layout);
    let index_bytes = blob(&layout, record["digest"].as_str().unwrap());
    let index: Value = serde_json::from_slice(&index_bytes).unwrap();
    assert_eq!(
        index["annotations"],
        serde_json::json!({
            "io.containerd.image.name": "unikraft.org/hello:1.0",
            "org.opencontainers.image.ref.name": "unikraft.org/hello",
            "sh.kraftkit.version": format!("{}+kiln", env!("CARGO_PKG_VERSION")),
        })
    );
    let entry = &index["manifests"][0];
    let manifest_bytes = blob(&layout, entry["digest"].as_str().unwrap());
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    // kraft reads the platform from the config descriptor and selects by the index entry's.
    assert_eq!(manifest["config"]["platform"], entry["platform"]);
    assert_eq!(entry["annotations"], manifest["annotations"]);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    let platform = &entry["platform"];
    assert_eq!(
        (platform["os"].as_str(), platform["architecture"].as_str()),
        (Some("qemu"), Some("x86_64"))
    );
    let version = platform["os.version"].as_str().unwrap();
    assert!(version.starts_with("0.17.0~tree."), "{version}");
    let features: Vec<&str> = platform["os.features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for f in [
        "CONFIG_ARCH_X86_64=y",
        "CONFIG_PLAT_KVM=y",
        "CONFIG_KVM_VMM_QEMU=y",
        "CONFIG_APP_GREETING=hi there",
    ] {
        assert!(features.contains(&f), "{f} in {features:?}");
    }
    let mut sorted = features.clone();
    sorted.sort();
    assert_eq!(features, sorted, "os.features are sorted");
    // What kraftkit's reader checks (oci/compatible.go, oci/manager.go processV1IndexManifests)
    // before it takes a manifest for `kraft run --plat qemu --arch x86_64` of a runtime
    // asking for the options its target implies.
    let kraft_selects = |d: &Value| {
        let compatible = d["annotations"].get("sh.kraftkit.version").is_some();
        let p = &d["platform"];
        let feats: Vec<&str> = p["os.features"]
            .as_array()
            .map_or(vec![], |a| a.iter().filter_map(|f| f.as_str()).collect());
        let wanted = [
            "CONFIG_ARCH_X86_64=y",
            "CONFIG_KVM_VMM_QEMU=y",
            "CONFIG_PLAT_KVM=y",
        ];
        compatible
            && p["os"] == "qemu"
            && p["architecture"] == "x86_64"
            && wanted.iter().all(|w| feats.contains(w))
    };
    assert!(kraft_selects(entry), "{entry}");
    assert!(manifest["annotations"].get("sh.kraftkit.version").is_some());
    let layers = manifest["layers"].as_array().unwrap();
    let paths: Vec<(&str, &str)> = layers
        .iter()
        .map(|l| {
            let (k, v) = l["annotations"].as_object().unwrap().iter().next().unwrap();
            (k.as_str(), v.as_str().unwrap())
        })
        .collect();
    assert_eq!(
        paths,
        [
            ("org.unikraft.kernel.image", "/unikraft/bin/kernel"),
            ("org.unikraft.kernel.initrd", "/unikraft/bin/initrd")
        ]
    );
    // Each layer is one USTAR member: header, data, two zero blocks; Go's header bytes.
    let kernel = read(&kernel_file(&p));
    let layer = blob(&layout, layers[0]["digest"].as_str().unwrap());
    assert_eq!(&layer[..19], b"unikraft/bin/kernel");
    assert_eq!(&layer[100..108], b"0000755\0");
    assert_eq!(&layer[108..124], b"0000000\x000000000\x00");
    assert_eq!(&layer[136..148], b"00000000000\0");
    assert_eq!(&layer[154..156], b"\0 ");
    assert_eq!(&layer[257..265], b"ustar\x0000");
    assert_eq!(&layer[329..345], b"0000000\x000000000\x00");
    assert_eq!(&layer[512..512 + kernel.len()], kernel.as_slice());
    assert_eq!(layer.len(), 512 + kernel.len().div_ceil(512) * 512 + 1024);
    let config: Value = serde_json::from_slice(&blob(
        &layout,
        manifest["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::Value::Null,
        "the project has no cmd"
    );
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!([layers[0]["digest"], layers[1]["digest"]])
    );
    let config_text = text(&blob(
        &layout,
        manifest["config"]["digest"].as_str().unwrap(),
    ));
    assert!(
        config_text.starts_with(r#"{"architecture":"x86_64","os":"qemu","os.version":""#),
        "{config_text}"
    );
}

#[test]
fn skopeo_and_umoci_read_an_exported_package() {
    let w = World::new();
    let p = kernel_project(&w, "app", "");
    let record = pkg(&w, &p, "localhost:5000/hello:2.0", &[]);
    let layout = w.scratch.path().join("layout");
    export(&w, &p, "localhost:5000/hello:2.0", &layout);
    let src = format!("oci:{}:2.0", layout.display());
    let raw = skopeo(&["inspect", "--raw", &src]);
    assert_eq!(
        format!("sha256:{}", sha256_hex(&raw)),
        record["digest"].as_str().unwrap(),
        "skopeo reads the index kiln wrote"
    );
    let seen: Value = serde_json::from_slice(&skopeo(&[
        "inspect",
        "--override-os",
        "qemu",
        "--override-arch",
        "x86_64",
        &src,
    ]))
    .unwrap();
    assert_eq!(
        (seen["Os"].as_str(), seen["Architecture"].as_str()),
        (Some("qemu"), Some("x86_64"))
    );
    let copy = w.scratch.path().join("copy");
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        &src,
        &format!("oci:{}:2.0", copy.display()),
    ]);
    let back = skopeo(&["inspect", "--raw", &format!("oci:{}:2.0", copy.display())]);
    assert_eq!(back, raw, "a copy through skopeo is unchanged");

    let unpacked = w.scratch.path().join("unpacked");
    let out = std::process::Command::new("umoci")
        .args(["raw", "unpack", "--rootless", "--image"])
        .arg(format!("{}:2.0", layout.display()))
        .arg(&unpacked)
        .output()
        .expect("umoci is installed");
    assert!(out.status.success(), "umoci: {}", text(&out.stderr));
    assert_eq!(
        read(&unpacked.join("unikraft/bin/kernel")),
        read(&kernel_file(&p))
    );
    assert_eq!(
        read(&unpacked.join("unikraft/bin/initrd")),
        read(&initramfs(&p, "x86_64"))
    );
}

#[test]
fn a_urunc_package_is_what_urunc_boots() {
    let w = World::new();
    let p = kernel_project(&w, "app", "");
    let record = pkg(
        &w,
        &p,
        "localhost:5000/hello-urunc:1",
        &["--format", "urunc"],
    );
    assert_eq!(record["format"], "urunc");
    let layout = w.scratch.path().join("layout");
    export(&w, &p, "localhost:5000/hello-urunc:1", &layout);
    let index = blob_json(&layout, record["digest"].as_str().unwrap());
    assert_eq!(
        index["manifests"][0]["platform"],
        serde_json::json!({"architecture": "amd64", "os": "linux"})
    );
    let manifest = blob_json(&layout, index["manifests"][0]["digest"].as_str().unwrap());
    let a = &manifest["annotations"];
    assert_eq!(a["com.urunc.unikernel.unikernelType"], "unikraft");
    assert_eq!(a["com.urunc.unikernel.hypervisor"], "qemu");
    assert_eq!(a["com.urunc.unikernel.binary"], "/.boot/kernel");
    assert_eq!(a["com.urunc.unikernel.initrd"], "/.boot/rootfs");
    assert_eq!(a["com.urunc.unikernel.cmdline"], "hello");
    let unpacked = w.scratch.path().join("unpacked");
    let out = std::process::Command::new("umoci")
        .args(["raw", "unpack", "--rootless", "--image"])
        .arg(format!("{}:1", layout.display()))
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(out.status.success(), "umoci: {}", text(&out.stderr));
    assert_eq!(read(&unpacked.join(".boot/kernel")), read(&kernel_file(&p)));
    assert_eq!(
        read(&unpacked.join(".boot/rootfs")),
        read(&initramfs(&p, "x86_64"))
    );
    let urunc: Value = serde_json::from_slice(&read(&unpacked.join("urunc.json"))).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    for (k, v) in urunc.as_object().unwrap() {
        let plain = String::from_utf8(b64.decode(v.as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(
            a[k].as_str(),
            Some(plain.as_str()),
            "{k}: urunc.json holds the base64 of the annotation"
        );
    }
    assert_eq!(urunc.as_object().unwrap().len(), 8, "{urunc}");
}

#[test]
fn gc_keeps_the_blobs_of_packages_until_they_are_removed() {
    let w = World::new();
    let p = kernel_project(&w, "app", "");
    let first = pkg(&w, &p, "localhost:5000/keep:1", &[]);
    // After `kiln cache clean` the steps are up to date by the project's state but their
    // results are gone: kiln packages again, to the same bytes.
    let out = w.kiln(&p).args(["cache", "clean"]).output().unwrap();
    assert!(out.status.success());
    let again = pkg(&w, &p, "localhost:5000/keep:1", &[]);
    assert_eq!(again["digest"], first["digest"]);
    let gc = |w: &World| {
        let out = w
            .kiln(&p)
            .args(["cache", "gc", "--max-size", "0"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    gc(&w);
    let layout = w.scratch.path().join("layout");
    export(&w, &p, "localhost:5000/keep:1", &layout);
    let out = w
        .kiln(&p)
        .args(["pkg", "rm", "localhost:5000/keep:1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    gc(&w);
    assert!(
        cache_blobs(w.cache_dir()).is_empty(),
        "nothing pins the blobs any more"
    );
    let out = w
        .kiln(&p)
        .args(["pkg", "export", "localhost:5000/keep:1"])
        .arg(&layout)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("kiln has no package localhost:5000/keep:1"),
        "{}",
        text(&out.stderr)
    );
    let out = w
        .kiln(&p)
        .args(["pkg", "rm", "localhost:5000/keep:1"])
        .output()
        .unwrap();
    assert!(
        text(&out.stderr).contains("no package named"),
        "{}",
        text(&out.stderr)
    );
}
