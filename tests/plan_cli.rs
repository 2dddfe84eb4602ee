//! `kiln plan` (JSON and human output) on kernel projects — local and unresolved sources,
//! per-target kconfig keys, `--offline` — and `kiln build` failing on an unresolved source;
//! target
//! selection (`--plat`, `--arch`/`-m`, `-t NAME`, `-t plat/arch`) for plan and build, with
//! several matches building all and no match listing the targets.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// A kernel project: local `uk/`, optionally a local `musl/`, a rootfs, two targets and the
/// kconfig option that makes the kernel embed its initrd.
fn kernel_project(w: &World, local_musl: bool) -> PathBuf {
    let p = w.dir("kern");
    let musl = if local_musl {
        "  musl:\n    source: ./musl\n"
    } else {
        "  musl: stable\n"
    };
    write(
        &p.join("Kraftfile"),
        format!(
            "spec: v0.6\nname: kern\nunikraft:\n  source: ./uk\n  kconfig:\n    \
             CONFIG_LIBVFSCORE_AUTOMOUNT_CI_EINITRD: y\nlibraries:\n{musl}rootfs: ./rootfs\n\
             targets:\n  - qemu/x86_64\n  - fc/arm64\n"
        ),
    );
    write(&p.join("uk/Makefile"), "all:\n");
    write(&p.join("uk/.git/HEAD"), "ref: refs/heads/main\n");
    write(&p.join("musl/Makefile.uk"), "LIBMUSL = y\n");
    standard_rootfs(&p.join("rootfs"));
    p
}

fn plan_json(w: &World, p: &Path, extra: &[&str]) -> Value {
    let out = w
        .kiln(p)
        .args(["plan", "-o", "json"])
        .args(extra)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    json(&out.stdout)
}

fn target_step<'a>(doc: &'a Value, target: usize, id: &str) -> &'a Value {
    doc["targets"][target]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in target {target}: {doc:#}"))
}

fn is_hex64(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn plan_kernel_project_with_unresolved_library() {
    let w = World::new();
    let p = kernel_project(&w, false);
    let doc = plan_json(&w, &p, &["--offline"]);
    let targets = doc["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 2);
    assert_eq!(
        (
            &targets[0]["name"],
            &targets[0]["plat"],
            &targets[0]["arch"]
        ),
        (
            &Value::from("qemu-x86_64"),
            &Value::from("qemu"),
            &Value::from("x86_64")
        )
    );
    assert_eq!(
        (
            &targets[1]["name"],
            &targets[1]["plat"],
            &targets[1]["arch"]
        ),
        (
            &Value::from("fc-arm64"),
            &Value::from("fc"),
            &Value::from("arm64")
        )
    );
    for (i, t) in ["qemu-x86_64", "fc-arm64"].iter().enumerate() {
        let ids: Vec<&str> = targets[i]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|s| s["id"].as_str().expect("id"))
            .collect();
        let mut want = vec![
            "rootfs".to_string(),
            "initrd".to_string(),
            "sources/unikraft".to_string(),
            "sources/lib/musl".to_string(),
            "sources/app".to_string(),
        ];
        want.extend(["kconfig", "fetch", "compile", "embed"].map(|k| format!("{t}/{k}")));
        let mut got: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        for s in targets[i]["steps"].as_array().expect("steps") {
            for field in [
                "id",
                "kind",
                "key",
                "deps",
                "cached",
                "unresolved",
                "status",
            ] {
                assert!(s.get(field).is_some(), "step lacks {field}: {s:#}");
            }
        }
        let musl = target_step(&doc, i, "sources/lib/musl");
        assert_eq!(musl["status"], "unresolved");
        assert_eq!(musl["key"], Value::Null);
        let why = musl["unresolved"].as_str().expect("a reason");
        assert!(
            why.contains("`lib/musl`") && why.contains("stable"),
            "{why}"
        );
        assert!(
            why.contains("https://github.com/unikraft/lib-musl.git"),
            "{why}"
        );
        assert!(why.contains("--source musl=PATH"), "{why}");
        let uk = target_step(&doc, i, "sources/unikraft");
        assert_eq!(uk["status"], "hashed");
        assert!(is_hex64(&uk["digest"]), "{uk:#}");
        assert_eq!(uk["unresolved"], Value::Null);
        for k in ["kconfig", "fetch", "compile", "embed"] {
            let s = target_step(&doc, i, &format!("{t}/{k}"));
            assert_eq!(s["kind"], k);
            assert_eq!(s["key"], Value::Null, "{s:#}");
            assert_eq!(s["status"], "pending", "{s:#}");
            assert_eq!(s["cached"], false);
        }
        let srcs = ["sources/unikraft", "sources/lib/musl", "sources/app"];
        let embed = target_step(&doc, i, &format!("{t}/embed"));
        let mut want = vec![
            format!("{t}/compile"),
            format!("{t}/kconfig"),
            "initrd".into(),
        ];
        want.extend(srcs.map(String::from));
        want.push(format!("{t}/fetch"));
        assert_eq!(embed["deps"], serde_json::json!(want));
        let kconfig = target_step(&doc, i, &format!("{t}/kconfig"));
        assert_eq!(kconfig["deps"], serde_json::json!(srcs));
    }
    // The rootfs and initrd are shared by both targets.
    assert_eq!(
        target_step(&doc, 0, "initrd")["key"],
        target_step(&doc, 1, "initrd")["key"]
    );
    assert!(is_hex64(&target_step(&doc, 0, "initrd")["key"]));
    // `.git` is not part of the unikraft digest.
    let before = target_step(&doc, 0, "sources/unikraft")["digest"].clone();
    write(&p.join("uk/.git/HEAD"), "ref: refs/heads/other\n");
    let doc2 = plan_json(&w, &p, &["--offline"]);
    assert_eq!(target_step(&doc2, 0, "sources/unikraft")["digest"], before);
    write(&p.join("uk/Makefile"), "all: x\n");
    let doc3 = plan_json(&w, &p, &["--offline"]);
    assert_ne!(target_step(&doc3, 0, "sources/unikraft")["digest"], before);
}

#[test]
fn plan_offline_names_offline_in_the_reason() {
    let w = World::new();
    let p = kernel_project(&w, false);
    let doc = plan_json(&w, &p, &["--offline"]);
    let why = target_step(&doc, 0, "sources/lib/musl")["unresolved"]
        .as_str()
        .expect("unresolved")
        .to_string();
    assert!(why.contains("but --offline is set"), "{why}");
    // Without --offline the fetch is tried (and fails here: git may use only file://),
    // and the failure names the component and what to do.
    let doc = plan_json(&w, &p, &[]);
    let musl = target_step(&doc, 0, "sources/lib/musl");
    assert_eq!(musl["status"], "failed");
    let err = musl["error"].as_str().expect("error").to_string();
    assert!(err.starts_with("`lib/musl`"), "{err}");
    assert!(
        err.contains("--source musl=PATH") && err.contains("[mirrors]"),
        "{err}"
    );
}

#[test]
fn plan_with_local_sources_gives_per_target_kconfig_keys() {
    let w = World::new();
    let p = kernel_project(&w, true);
    let doc = plan_json(&w, &p, &[]);
    let (t0, t1) = ("qemu-x86_64", "fc-arm64");
    let k0 = &target_step(&doc, 0, &format!("{t0}/kconfig"))["key"];
    let k1 = &target_step(&doc, 1, &format!("{t1}/kconfig"))["key"];
    assert!(is_hex64(k0) && is_hex64(k1), "{doc:#}");
    assert_ne!(k0, k1, "the two targets' kconfig keys must differ");
    assert_eq!(
        target_step(&doc, 0, &format!("{t0}/kconfig"))["status"],
        "not-cached"
    );
    assert_eq!(target_step(&doc, 0, "sources/lib/musl")["status"], "hashed");
    for (i, t) in [t0, t1].iter().enumerate() {
        for k in ["compile", "embed"] {
            let s = target_step(&doc, i, &format!("{t}/{k}"));
            assert_eq!(s["key"], Value::Null, "{s:#}");
            assert_eq!(s["status"], "pending");
        }
    }
    // The key is deterministic, and a kconfig change changes it.
    let again = plan_json(&w, &p, &[]);
    assert_eq!(&target_step(&again, 0, &format!("{t0}/kconfig"))["key"], k0);
    let kf = std::fs::read_to_string(p.join("Kraftfile")).expect("read");
    write(
        &p.join("Kraftfile"),
        kf.replace("AUTOMOUNT_CI_EINITRD: y", "AUTOMOUNT_CI_EINITRD: n"),
    );
    let changed = plan_json(&w, &p, &[]);
    assert_ne!(
        &target_step(&changed, 0, &format!("{t0}/kconfig"))["key"],
        k0
    );
    // Without the embedding option there is no embed step.
    assert!(
        changed["targets"][0]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .all(|s| s["kind"] != "embed"),
        "{changed:#}"
    );
}

#[test]
fn plan_human_output_lists_the_steps() {
    let w = World::new();
    let p = kernel_project(&w, false);
    let out = w
        .kiln(&p)
        .args(["plan", "--offline"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    let header = format!(
        "project {} (Kraftfile ./Kraftfile)\nrootfs  ./rootfs -> {}\ntarget qemu-x86_64 (qemu/x86_64)\n",
        p.display(),
        p.join("rootfs").display()
    );
    assert!(s.starts_with(&header), "{s}");
    assert!(s.contains("\ntarget fc-arm64 (fc/arm64)\n"), "{s}");
    for id in [
        "rootfs",
        "initrd",
        "sources/unikraft",
        "sources/lib/musl",
        "qemu-x86_64/kconfig",
        "qemu-x86_64/compile",
        "qemu-x86_64/embed",
        "fc-arm64/kconfig",
        "fc-arm64/compile",
        "fc-arm64/embed",
    ] {
        assert!(
            s.lines()
                .any(|l| l.trim_start().starts_with(&format!("{id} "))),
            "no line for {id}:\n{s}"
        );
    }
    let musl = s
        .lines()
        .find(|l| l.trim_start().starts_with("sources/lib/musl "))
        .expect("musl line");
    assert!(
        musl.contains("unresolved `lib/musl` needs the network"),
        "{musl}"
    );
    assert!(
        s.contains("after: qemu-x86_64/compile, qemu-x86_64/kconfig, initrd, sources/unikraft"),
        "embed deps not listed:\n{s}"
    );
    // plan writes nothing into the project.
    assert!(!p.join(".unikraft").exists());
}

#[test]
fn build_with_an_unresolved_source_fails_naming_it() {
    let w = World::new();
    let p = kernel_project(&w, false);
    let out = w
        .kiln(&p)
        .args(["build", "--offline"])
        .output()
        .expect("run");
    // Unresolved inputs: the build cannot start, which is exit 2 (a failed step is 1).
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("unresolved sources/lib/musl"), "{err}");
    assert!(err.contains("--source musl=PATH"), "{err}");
    assert!(
        err.ends_with("error: the build failed: sources/lib/musl unresolved (and 8 steps after them skipped)\n"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

const SELECT_KRAFTFILE: &str = "spec: v0.6\nname: sel\nruntime: base:latest\nrootfs: ./rootfs\n\
targets:\n  - qemu/x86_64\n  - name: fast\n    plat: fc\n    arch: x86_64\n  - fc/arm64\n";

fn planned_targets(w: &World, p: &Path, filter: &[&str]) -> Vec<String> {
    plan_json(w, p, filter)["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_string())
        .collect()
}

#[test]
fn selection_filters_targets() {
    let w = World::new();
    let p = w.runtime_project("p", SELECT_KRAFTFILE);
    let cases: &[(&[&str], &[&str])] = &[
        (&[], &["qemu-x86_64", "fast", "fc-arm64"]),
        (&["--plat", "fc"], &["fast", "fc-arm64"]),
        (&["--plat", "firecracker"], &["fast", "fc-arm64"]),
        (&["--plat", "kvm"], &["qemu-x86_64"]),
        (&["--arch", "arm64"], &["fc-arm64"]),
        (&["-m", "x86_64"], &["qemu-x86_64", "fast"]),
        (&["-t", "fast"], &["fast"]),
        (&["-t", "qemu/x86_64"], &["qemu-x86_64"]),
        (&["-t", "qemu-x86_64"], &["qemu-x86_64"]),
        (&["--plat", "fc", "--arch", "x86_64"], &["fast"]),
    ];
    for (filter, want) in cases {
        assert_eq!(&planned_targets(&w, &p, filter), want, "filter {filter:?}");
    }
}

#[test]
fn build_selection_writes_only_the_selected_archs() {
    let w = World::new();
    let p = w.runtime_project("p", SELECT_KRAFTFILE);
    let listing = |p: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(p.join(".unikraft/build"))
            .expect("outdir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    w.kiln(&p)
        .args(["build", "--arch", "arm64"])
        .assert()
        .code(0);
    assert_eq!(listing(&p), ["initramfs-arm64.cpio"]);
    let q = w.runtime_project("q", SELECT_KRAFTFILE);
    let out = w
        .kiln(&q)
        .args(["build", "--plat", "fc", "-o", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let names: Vec<String> = json(&out.stdout)["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(names, ["fast", "fc-arm64"]);
    assert_eq!(
        listing(&q),
        ["initramfs-arm64.cpio", "initramfs-x86_64.cpio"]
    );
    assert_eq!(
        read(&initramfs(&q, "arm64")),
        read(&initramfs(&q, "x86_64"))
    );
    // The human summary names the targets built; the archive comes from the shared cache.
    let r = w.runtime_project("r", SELECT_KRAFTFILE);
    let out = w
        .kiln(&r)
        .args(["build", "-t", "fast"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "kiln: built fast (0 ran, 1 from cache, 0 up to date) in {}\n",
            r.join(".unikraft/build").display()
        )),
        "{err}"
    );
    assert_eq!(listing(&r), ["initramfs-x86_64.cpio"]);
}

#[test]
fn no_matching_target_lists_the_available_ones() {
    let w = World::new();
    let p = w.runtime_project("p", SELECT_KRAFTFILE);
    for verb in ["plan", "build"] {
        let out = w
            .kiln(&p)
            .args([verb, "--plat", "xen"])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{verb}");
        assert_eq!(
            text(&out.stderr),
            "error: no target matches the given filters\n  --> ./Kraftfile\n   \
             = note: filters: --plat xen\n   \
             = note: the Kraftfile's targets: qemu/x86_64, fast (fc/x86_64), fc/arm64\n   \
             = help: drop or change --plat, --arch or -t\n"
        );
    }
    let out = w
        .kiln(&p)
        .args(["build", "-t", "nope"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("= note: filters: -t nope\n"), "{err}");
    assert!(
        err.contains("qemu/x86_64, fast (fc/x86_64), fc/arm64"),
        "{err}"
    );
    assert!(!p.join(".unikraft/build").exists());
}

#[test]
fn unknown_platform_or_arch_is_a_usage_error() {
    let w = World::new();
    let p = w.runtime_project("p", SELECT_KRAFTFILE);
    let out = w
        .kiln(&p)
        .args(["build", "--plat", "bogus"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: unknown platform `bogus` given with --plat\n"),
        "{err}"
    );
    assert!(err.contains("qemu, fc, xen"), "{err}");
    let out = w
        .kiln(&p)
        .args(["plan", "--arch", "mips"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("error: unknown architecture `mips` given with --arch\n")
    );
}

#[test]
fn zero_jobs_is_a_usage_error_even_for_kernel_projects() {
    // Usage errors (exit 2) come before any work.
    let w = World::new();
    let p = kernel_project(&w, true);
    let out = w.kiln(&p).args(["build", "-j", "0"]).output().expect("run");
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(2), "error: -j must be at least 1\n".to_string())
    );
}
