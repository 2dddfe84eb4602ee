//! Every place where a string from a Kraftfile, its lock file or the command line becomes a
//! file-name component refuses names that would leave the directory kiln meant: the
//! project's `name:` (the kernel's file name), a target's `name:` (its work directory), a
//! library's name, a lock file's commit (a checkout directory) and `kiln run --name` (the
//! instance directory). Each is exit 2 with the file, line and column (or the flag), and
//! nothing is written outside the project.
//!
//! Strings that are paths by design (`rootfs:`, `outdir:`, `volumes:`, a local `source:`,
//! `-K`) are the user's to point anywhere and are not checked here.

mod common;

use std::path::Path;

use common::*;

/// Names that try to leave their directory; `{m}` is a marker unique to the test.
const HOSTILE: [&str; 4] = ["../../../../{m}", "/tmp/{m}", "..", "a/../../{m}"];

fn marker() -> String {
    format!("kiln-escape-{}", std::process::id())
}

/// Fails if the marker appears anywhere kiln could have written it.
fn assert_nothing_escaped(w: &World, m: &str) {
    assert!(!Path::new("/tmp").join(m).exists(), "wrote /tmp/{m}");
    let found = files_under(w.scratch.path())
        .into_iter()
        .chain(files_under(w.cache_dir()))
        .find(|p| p.to_string_lossy().contains(m));
    assert!(found.is_none(), "wrote {found:?}");
}

/// Runs `kiln build` in `p` and checks exit 2 with a positioned message about `what`.
fn refused(w: &World, p: &Path, what: &str, line: u32) {
    let out = w.kiln(p).arg("build").output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    assert!(err.contains(what), "{what}: {err}");
    assert!(
        err.contains(&format!("Kraftfile:{line}:")),
        "{what}: no position: {err}"
    );
}

#[test]
fn kraftfile_names_that_would_leave_the_project_are_refused() {
    let w = World::new();
    let m = marker();
    let core = testkernel_dir();
    for hostile in HOSTILE {
        let name = hostile.replace("{m}", &m);
        let p = w.dir("p");
        standard_rootfs(&p.join("rootfs"));
        write(&p.join("main.c"), read(&core.join("example-app/main.c")));
        let kraftfile = |body: &str| write(&p.join("Kraftfile"), body);
        kraftfile(&format!(
            "spec: v0.6\nname: hello\nunikraft:\n  source: {}\nrootfs: ./rootfs\ntargets:\n  \
             - name: \"{name}\"\n    plat: qemu\n    arch: x86_64\n",
            core.display()
        ));
        refused(&w, &p, "invalid target name", 7);
        kraftfile(&format!(
            "spec: v0.6\nname: \"{name}\"\nunikraft:\n  source: {}\nrootfs: ./rootfs\n",
            core.display()
        ));
        refused(&w, &p, "invalid project name", 2);
        kraftfile(&format!(
            "spec: v0.6\nname: hello\nunikraft:\n  source: {}\nlibraries:\n  \"{name}\": stable\n\
             targets:\n  - qemu/x86_64\n",
            core.display()
        ));
        refused(&w, &p, "invalid library name", 6);
        std::fs::remove_dir_all(&p).unwrap();
    }
    assert_nothing_escaped(&w, &m);
}

#[test]
fn a_lock_file_commit_that_is_not_hex_is_refused() {
    let w = World::new();
    let m = marker();
    let p = w.dir("p");
    write(
        &p.join("Kraftfile"),
        "spec: v0.6\nname: hello\nunikraft: stable\ntargets:\n  - qemu/x86_64\n",
    );
    write(
        &p.join("Kraftfile.lock"),
        format!(
            "format = 1\n\n[[source]]\nid = \"unikraft\"\nversion = \"stable\"\n\
             url = \"https://github.com/unikraft/unikraft.git\"\ncommit = \"../../../../{m}\"\n\
             tree = \"{}\"\n",
            "0".repeat(64)
        ),
    );
    let out = w.kiln(&p).args(["build", "--offline"]).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("Kraftfile.lock") && err.contains("40 hex"),
        "{err}"
    );
    assert_nothing_escaped(&w, &m);
}

#[test]
fn an_instance_name_that_would_leave_the_state_directory_is_refused() {
    let w = World::new();
    let m = marker();
    let p = kernel_project(&w, "p", "");
    for hostile in HOSTILE {
        let name = hostile.replace("{m}", &m);
        let out = w
            .kiln(&p)
            .env("XDG_STATE_HOME", w.dir("state"))
            .args(["run", "--name", &name])
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains("invalid instance name"), "{name}: {err}");
    }
    assert_nothing_escaped(&w, &m);
}
