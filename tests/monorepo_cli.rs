//! `kiln build|plan|fetch DIR/...`: every project under a directory in one graph. Kraftfiles
//! are found as `git ls-files` lists them (.gitignore respected, `.unikraft/` skipped);
//! steps with the same key in two projects run once; each project keeps its own state (a
//! later build of one project alone is up to date); `--keep-going` builds what it can and
//! lists the failures; the summary is a table (or JSON) of projects × targets.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// A tree of projects: `apps/a` and `apps/b` (runtime projects with the same rootfs),
/// `kernels/one` and `kernels/two` (the same kernel), an ignored project and one under
/// `.unikraft/`, both broken.
fn monorepo(w: &World) -> PathBuf {
    let root = w.dir("mono");
    for app in ["apps/a", "apps/b"] {
        write(&root.join(app).join("Kraftfile"), RUNTIME_KRAFTFILE);
        standard_rootfs(&root.join(app).join("rootfs"));
    }
    for k in ["kernels/one", "kernels/two"] {
        let p = kernel_project(w, k, "");
        let dest = root.join(k);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::rename(&p, &dest).unwrap();
    }
    write(&root.join(".gitignore"), "/generated/\n");
    write(
        &root.join("generated/x/Kraftfile"),
        "this: [is not a kraftfile\n",
    );
    write(&root.join("apps/a/.unikraft/old/Kraftfile"), "nor: [this\n");
    root
}

fn run(w: &World, root: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = w.kiln(root).args(args).output().expect("run kiln");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), doc, text(&out.stderr))
}

fn project<'a>(doc: &'a Value, path: &str) -> &'a Value {
    doc["projects"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["path"] == path))
        .unwrap_or_else(|| panic!("no project {path} in {doc:#}"))
}

fn status(doc: &Value, path: &str, step: &str) -> String {
    project(doc, path)["targets"][0]["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == step))
        .map(|s| s["status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("no step {step} in {path}"))
}

#[test]
fn one_graph_runs_shared_keys_once_and_each_project_keeps_its_state() {
    let w = World::new();
    let root = monorepo(&w);
    let (code, doc, err) = run(&w, &root, &["build", "./...", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let paths: Vec<&str> = doc["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["apps/a", "apps/b", "kernels/one", "kernels/two"],
        "ignored and .unikraft/ projects are skipped"
    );
    // The same rootfs, the same kernel: one of each pair ran, the other took its result.
    for (a, b, step) in [
        ("apps/a", "apps/b", "initrd"),
        ("kernels/one", "kernels/two", "qemu-x86_64/compile"),
    ] {
        let mut got = [status(&doc, a, step), status(&doc, b, step)];
        got.sort();
        assert_eq!(got, ["cached", "ran"], "{step} of {a} and {b}");
    }
    for p in ["apps/a", "apps/b"] {
        assert!(initramfs(&root.join(p), "x86_64").is_file());
    }
    for p in ["kernels/one", "kernels/two"] {
        assert!(
            root.join(p)
                .join(".unikraft/build/hello_qemu-x86_64")
                .is_file()
        );
    }
    let counts = &project(&doc, "apps/a")["targets"][0]["counts"];
    assert_eq!(counts["failed"], 0, "{counts}");

    // A no-op, and the human table.
    let out = w.kiln(&root).args(["build", "./..."]).output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let row = err
        .lines()
        .find(|l| l.starts_with("kernels/two"))
        .unwrap_or_else(|| panic!("no row:\n{err}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], "qemu-x86_64");
    assert_eq!(cells[2], "0", "nothing ran: {row}");
    assert!(
        err.contains("project") && err.contains("up-to-date"),
        "{err}"
    );
    assert!(
        err.contains("kiln: built 4 projects, 4 targets: 0 steps ran"),
        "{err}"
    );

    // Each project's state is its own: built alone, it is up to date.
    let (code, doc, err) = build_json(&w, &root.join("kernels/two"), &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_of(&doc, "qemu-x86_64/compile"), "up-to-date");
}

#[test]
fn keep_going_builds_the_rest_and_lists_the_failures() {
    let w = World::new();
    let root = monorepo(&w);
    // A project that fails to plan, and one whose compile fails.
    write(
        &root.join("apps/0-bad/Kraftfile"),
        "spec: v0.6\nname: [unclosed\n",
    );
    write(&root.join("kernels/one/main.c"), "not C at all\n");

    // Without --keep-going, a project that cannot be planned stops the command.
    let (code, _, err) = run(&w, &root, &["build", "./..."]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("apps/0-bad/Kraftfile"), "{err}");

    let (code, doc, err) = run(
        &w,
        &root,
        &["build", "./...", "-k", "-o", "json", "-j", "1"],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(doc["ok"], false);
    let bad = project(&doc, "apps/0-bad");
    assert!(
        bad["error"].as_str().unwrap().contains("Kraftfile"),
        "{bad}"
    );
    assert_eq!(status(&doc, "kernels/one", "qemu-x86_64/compile"), "failed");
    assert_eq!(status(&doc, "kernels/two", "qemu-x86_64/compile"), "ran");
    assert_eq!(project(&doc, "apps/b")["ok"], true);
    assert!(initramfs(&root.join("apps/b"), "x86_64").is_file());

    let out = w
        .kiln(&root)
        .args(["build", "./...", "-k"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: 2 of 5 projects failed: kernels/one, apps/0-bad"),
        "{err}"
    );
}

#[test]
fn without_keep_going_no_step_starts_after_the_first_failure() {
    let w = World::new();
    let root = w.dir("stop");
    for p in ["0-bad", "z-late"] {
        write(&root.join(p).join("Kraftfile"), RUNTIME_KRAFTFILE);
        standard_rootfs(&root.join(p).join("rootfs"));
    }
    // A FIFO cannot go into an initrd: the first project's rootfs step fails.
    sh(&root, "mkfifo 0-bad/rootfs/pipe");
    // One worker takes the steps in graph order: the failing rootfs comes first.
    let (code, doc, err) = run(&w, &root, &["build", "./...", "-o", "json", "-j", "1"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(status(&doc, "0-bad", "rootfs"), "failed");
    let late = project(&doc, "z-late")["targets"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "initrd")
        .unwrap()
        .clone();
    assert_eq!(late["status"], "skipped", "{late}");
    assert!(
        late["reason"].as_str().unwrap().contains("--keep-going"),
        "{late}"
    );
}

#[test]
fn plan_and_fetch_take_the_pattern_too() {
    let w = World::new();
    let root = monorepo(&w);
    let (code, doc, err) = run(&w, &root, &["plan", "./...", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["projects"].as_array().unwrap().len(), 4);
    assert_eq!(project(&doc, "kernels/one")["path"], "kernels/one");
    let out = w.kiln(&root).args(["plan", "apps/..."]).output().unwrap();
    let listing = text(&out.stdout);
    assert!(
        listing.contains("== a ==") && listing.contains("== b =="),
        "{listing}"
    );

    let out = w.kiln(&root).args(["fetch", "./..."]).output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("kiln: fetched for 4 projects, 2 target(s)"),
        "{err}"
    );

    // A directory without a Kraftfile under it is a usage error naming it.
    let empty = w.dir("empty");
    let out = w.kiln(&empty).args(["build", "./..."]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("./... holds no Kraftfile"));
}
