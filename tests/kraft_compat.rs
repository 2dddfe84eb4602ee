//! Kraftfiles read as kraft reads them: the project directory is DIR (the current directory)
//! also with `-K`, so apps laid out like unikraft/catalog's tests/os-demo (a shared
//! `./Dockerfile` in the parent, `app/Kraftfile`, run as `kraft run -K app/Kraftfile` from the
//! parent) resolve their rootfs there; and a key given twice is a warning, the last value
//! winning, as in kraft's YAML loader. Golden output, with the temporary path replaced.

mod common;

use std::path::Path;

use common::*;

/// `kiln plan --offline ARGS` in `cwd`: (exit code, stdout and stderr with `root` as `<DIR>`).
fn plan(w: &World, cwd: &Path, root: &Path, args: &[&str]) -> (i32, String) {
    let out = w
        .kiln(cwd)
        .args(["plan", "--offline"])
        .args(args)
        .output()
        .expect("run kiln");
    let both = format!(
        "--- stderr\n{}--- stdout\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    (
        out.status.code().unwrap_or(-1),
        both.replace(&root.display().to_string(), "<DIR>"),
    )
}

#[test]
fn dash_k_keeps_the_project_directory_and_relative_paths_follow_it() {
    let w = World::new();
    let demo = w.dir("os-demo");
    // As in the catalog: an empty Kraftfile in the parent (kraft wants one in its workdir),
    // the shared Dockerfile, and the app's Kraftfile one level down.
    write(&demo.join("Kraftfile"), "");
    write(&demo.join("Dockerfile"), "FROM scratch\nCOPY ./rootfs /\n");
    write(&demo.join("rootfs/allocation"), "#!/bin/true\n");
    write(
        &demo.join("allocation/Kraftfile"),
        "spec: v0.6\nruntime: base:latest\nrootfs: ./Dockerfile\ncmd: [\"/allocation\"]\n",
    );
    let (code, out) = plan(&w, &demo, w.scratch.path(), &["-K", "allocation/Kraftfile"]);
    assert_eq!(code, 0, "{out}");
    golden("compat_dash_k.txt", &out);
    // The default project name is the project directory's, as kraft takes it.
    let json = w
        .kiln(&demo)
        .args([
            "plan",
            "--offline",
            "-K",
            "allocation/Kraftfile",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let doc = json_doc(&json.stdout);
    assert_eq!(doc["project"]["dir"], demo.display().to_string());
    assert_eq!(
        doc["project"]["rootfs"]["path"],
        demo.join("Dockerfile").display().to_string()
    );
    // Without -K, in the app's own directory, the rootfs is the app's (missing) Dockerfile:
    // unresolved, as kraft would fail there too.
    let (code, out) = plan(&w, &demo.join("allocation"), w.scratch.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("<DIR>/os-demo/allocation/Dockerfile"), "{out}");
}

fn json_doc(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("JSON")
}

#[test]
fn a_key_given_twice_is_a_warning_and_the_last_value_wins() {
    let w = World::new();
    let p = w.dir("lua");
    std::fs::create_dir_all(p.join("rootfs")).unwrap();
    write(
        &p.join("Kraftfile"),
        "spec: v0.6\nname: lua\nunikraft:\n  source: ./unikraft\n  kconfig:\n    \
         CONFIG_LIBUK9P: 'y'\n    CONFIG_LIBVFSCORE: 'y'\n    CONFIG_LIBUK9P: 'n'\n\
         rootfs: ./rootfs\ntargets:\n  - qemu/x86_64\n",
    );
    let (code, out) = plan(&w, &p, w.scratch.path(), &[]);
    assert_eq!(code, 0, "{out}");
    golden("compat_duplicate_key.txt", &out);
}
