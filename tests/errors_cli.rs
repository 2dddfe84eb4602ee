//! Invalid input and usage: Kraftfile diagnostics with file:line:col (unknown key with a
//! suggestion, missing spec, no or two Kraftfiles, `-K`), bad flags, a bad
//! `SOURCE_DATE_EPOCH`, `-j 0`, `--version` and `--help`. Each exits 2 (or 0 for help) and
//! writes nothing into the project.

mod common;

use std::path::Path;

use common::*;

fn run(w: &World, cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = w.kiln(cwd).args(args).output().expect("run");
    (
        out.status.code().expect("exit code"),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn unknown_key_points_at_it_with_a_suggestion() {
    let w = World::new();
    let p = w.dir("p");
    write(
        &p.join("Kraftfile"),
        "spec: v0.6\nruntime: base:latest\nrootfs: ./rootfs\ntargets:\n  - platfrom: qemu\n    arch: x86_64\n",
    );
    std::fs::create_dir_all(p.join("rootfs")).expect("mkdir");
    let (code, out, err) = run(&w, &p, &["build"]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "error: unknown key `platfrom` in target\n  --> ./Kraftfile:5:5\n   |\n 5 |   - platfrom: qemu\n   |     ^^^^^^^^\n   = help: did you mean `platform`?\n"
    );
    // The same from outside the project, naming the directory.
    let (code, _, err) = run(&w, w.scratch.path(), &["plan", "p"]);
    assert_eq!(code, 2);
    assert!(err.contains("  --> p/Kraftfile:5:5\n"), "{err}");
    // A top-level typo.
    write(&p.join("Kraftfile"), "spec: v0.6\nruntim: base:latest\n");
    let (code, _, err) = run(&w, &p, &["plan"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: unknown key `runtim` in the Kraftfile\n  --> ./Kraftfile:2:1\n"),
        "{err}"
    );
    assert!(err.contains("= help: did you mean `runtime`?\n"), "{err}");
    assert!(!p.join(".unikraft").exists());
}

#[test]
fn top_level_kconfig_is_an_unknown_key() {
    // kraft has no top-level `kconfig:`; it belongs under `unikraft:` or a target.
    let w = World::new();
    let p = w.dir("p");
    write(
        &p.join("Kraftfile"),
        "spec: v0.6\nunikraft: stable\nkconfig:\n  CONFIG_X: y\ntargets:\n  - qemu/x86_64\n",
    );
    let (code, _, err) = run(&w, &p, &["plan"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: unknown key `kconfig` in the Kraftfile\n  --> ./Kraftfile:3:1\n"),
        "{err}"
    );
}

#[test]
fn missing_spec_is_reported_at_line_one() {
    let w = World::new();
    let p = w.dir("p");
    write(
        &p.join("Kraftfile"),
        "runtime: base:latest\nrootfs: ./rootfs\n",
    );
    let (code, _, err) = run(&w, &p, &["build"]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: the Kraftfile has no `spec`\n  --> ./Kraftfile:1:1\n   |\n 1 | runtime: base:latest\n   | ^\n   = help: add `spec: v0.6` as the first line\n"
    );
}

#[test]
fn a_missing_rootfs_is_unresolved_in_the_plan_and_exit_2_in_a_build() {
    let w = World::new();
    let p = w.dir("p");
    write(
        &p.join("Kraftfile"),
        "spec: v0.6\nruntime: base:latest\nrootfs: ./nothere\n",
    );
    // The plan shows it as unresolved, with where kiln looked, and exits 0.
    let (code, out, _) = run(&w, &p, &["plan"]);
    assert_eq!(code, 0);
    let looked = format!("looked at {}", p.join("nothere").display());
    assert!(
        out.contains("unresolved ./Kraftfile:3:9: rootfs `./nothere` cannot be read")
            && out.contains(&looked),
        "{out}"
    );
    // The build fails with the same message, exit 2, before anything runs.
    let (code, _, err) = run(&w, &p, &["build"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("./Kraftfile:3:9: rootfs `./nothere` cannot be read") && err.contains(&looked),
        "{err}"
    );
    assert!(!p.join(".unikraft/build").exists());
}

#[test]
fn kraftfile_lookup_errors() {
    let w = World::new();
    let p = w.dir("p");
    let (code, _, err) = run(&w, &p, &["build"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: no Kraftfile found in this directory\n  --> .\n"),
        "{err}"
    );
    assert!(
        err.contains("`kraft.yaml`, `kraft.yml`, `Kraftfile.yml`, `Kraftfile.yaml`, `Kraftfile`"),
        "{err}"
    );

    write(&p.join("Kraftfile"), RUNTIME_KRAFTFILE);
    write(&p.join("kraft.yaml"), RUNTIME_KRAFTFILE);
    let (code, _, err) = run(&w, &p, &["plan"]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: more than one Kraftfile in this directory: `kraft.yaml`, `Kraftfile`\n  --> .\n   = help: keep one of them, or choose one with `-K FILE`\n"
    );

    let (code, _, err) = run(&w, w.scratch.path(), &["build", "does-not-exist"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: the project directory does not exist\n  --> does-not-exist\n"),
        "{err}"
    );
}

#[test]
fn dash_k_names_the_kraftfile() {
    let w = World::new();
    let p = w.dir("p");
    standard_rootfs(&p.join("rootfs"));
    write(&p.join("other.yaml"), RUNTIME_KRAFTFILE);
    // Two Kraftfiles by kraft's names, but -K picks a third.
    write(&p.join("Kraftfile"), "garbage: [\n");
    write(&p.join("kraft.yaml"), "garbage: [\n");
    let out = w
        .kiln(&p)
        .args(["build", "-K", "other.yaml", "-o", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(step(&json(&out.stdout), "initrd")["status"], "ran");
    assert!(initramfs(&p, "x86_64").is_file() || initramfs(&p, "arm64").is_file());
    // Errors in a -K file name that file.
    write(&p.join("bad.yaml"), "spec: v0.6\nrootfs: [\n");
    let (code, _, err) = run(&w, &p, &["plan", "--kraftfile", "bad.yaml"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("error: invalid YAML"), "{err}");
    assert!(err.contains("  --> bad.yaml:"), "{err}");
}

#[test]
fn bad_usage_exits_2() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    for args in [
        &["build", "--nope"][..],
        &["plan", "-o", "yaml"],
        &["frobnicate"],
        &["cache"],
        &["cache", "gc"],
        &["build", "-j", "many"],
        &[],
    ] {
        let (code, out, err) = run(&w, &p, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(out, "", "{args:?}");
        assert!(!err.is_empty(), "{args:?}");
    }
    let (_, _, err) = run(&w, &p, &["build", "--nope"]);
    assert!(
        err.starts_with("error: unexpected argument '--nope' found\n"),
        "{err}"
    );
    assert!(err.contains("Usage: kiln build [OPTIONS] [DIR]\n"), "{err}");
    assert!(!p.join(".unikraft").exists());
}

#[test]
fn bad_source_date_epoch_exits_2() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    for bad in ["abc", "-1", "4294967296", "1.5"] {
        for verb in ["build", "plan"] {
            let out = w
                .kiln(&p)
                .env("SOURCE_DATE_EPOCH", bad)
                .arg(verb)
                .output()
                .expect("run");
            assert_eq!(out.status.code(), Some(2), "{verb} with {bad}");
            assert_eq!(
                text(&out.stderr),
                format!(
                    "error: SOURCE_DATE_EPOCH={bad:?} is not a number of seconds between 0 and 4294967295\n"
                )
            );
        }
    }
    assert!(!p.join(".unikraft").exists());
    // The largest value is accepted and written as is.
    w.kiln(&p)
        .env("SOURCE_DATE_EPOCH", "4294967295")
        .arg("build")
        .assert()
        .code(0);
    let a = parse_cpio(&read(&initramfs(&p, "x86_64")));
    assert!(a.entries.iter().all(|e| e.mtime == u32::MAX));
}

#[test]
fn zero_jobs_exits_2() {
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_KRAFTFILE);
    let (code, out, err) = run(&w, &p, &["build", "-j", "0"]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert_eq!(err, "error: -j must be at least 1\n");
    assert!(!p.join(".unikraft").exists());
    // -j 1 works.
    let (code, _, err) = run(&w, &p, &["build", "-j", "1"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn version_and_help() {
    let w = World::new();
    let d = w.dir("d");
    let (code, out, err) = run(&w, &d, &["--version"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "kiln 0.1.0\n", ""));
    let (code, out, _) = run(&w, &d, &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage: kiln <COMMAND>"), "{out}");
    for verb in ["build", "plan", "cache"] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{verb} "))),
            "--help does not list {verb}:\n{out}"
        );
    }
    assert!(out.contains("Exit status: 0 ok, 1 build or run failure, 2 invalid input or usage."));
    let (code, out, _) = run(&w, &d, &["build", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--plat",
        "--arch",
        "--target",
        "--offline",
        "--jobs",
        "--explain",
        "--kraftfile",
    ] {
        assert!(out.contains(flag), "build --help lacks {flag}");
    }
}

#[test]
fn closed_stdout_does_not_panic() {
    // `kiln plan -o json | head -1` must not print a Rust panic when the reader goes away.
    let w = World::new();
    let p = w.runtime_project("p", RUNTIME_TWO_TARGETS);
    let mut child = kiln_std(w.cache_dir(), &p)
        .args(["plan", "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let err = text(&out.stderr);
    assert!(
        !err.contains("panicked"),
        "kiln panicked on a closed stdout (exit {:?}):\n{err}",
        out.status.code()
    );
}

#[test]
fn a_huge_line_is_not_echoed_whole() {
    let w = World::new();
    let p = w.dir("p");
    let huge = "x".repeat(1 << 20);
    write(
        &p.join("Kraftfile"),
        format!("spec: v0.6\nruntime: base:latest\n{huge}: 1\n"),
    );
    let (code, _, err) = run(&w, &p, &["plan"]);
    assert_eq!(code, 2);
    assert!(err.len() < 4096, "{} bytes of error", err.len());
    assert!(err.contains("./Kraftfile:3:1"), "{err}");
    assert!(err.contains('…'), "the line is cut: {err}");
}

#[test]
fn invalid_utf8_points_at_the_bad_byte() {
    let w = World::new();
    let p = w.dir("p");
    write(
        &p.join("Kraftfile"),
        b"spec: v0.6\nruntime: base:latest\ncmd: [\"caf\xe9\"]\n".as_slice(),
    );
    let (code, _, err) = run(&w, &p, &["plan"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("not valid UTF-8") && err.contains("./Kraftfile:3:11"),
        "{err}"
    );
}

#[test]
fn a_kernel_path_that_is_a_directory_says_so() {
    let w = World::new();
    let p = w.dir("p");
    std::fs::create_dir_all(p.join("kernel-dir")).unwrap();
    write(
        &p.join("Kraftfile"),
        "spec: v0.6\nruntime: kernel://kernel-dir\ncmd: [\"/app\"]\n",
    );
    let out = w
        .kiln(&p)
        .env("XDG_STATE_HOME", w.dir("state"))
        .args(["run", "--rm"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("kernel-dir is a directory, not a file"),
        "{err}"
    );
}
