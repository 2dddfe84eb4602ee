//! The build's live display on a kernel project whose compile takes a few seconds: plain
//! logs repeat every running step (with make's object count, estimated on the first build
//! and counted on the next), live lines redraw in place with escape codes (`--progress tty`
//! forces them into a pipe), `-v` streams make's lines prefixed with the target, `none`
//! prints no step lines, and `-o json` keeps stdout a clean JSON document.

mod common;

use std::path::Path;

use common::*;

/// A kernel project whose compile takes a while (`slow.c`).
fn slow_project(w: &World, name: &str) -> std::path::PathBuf {
    let p = kernel_project(w, name, "");
    write(&p.join("slow.c"), slow_c_source(250));
    p
}

fn build(w: &World, p: &Path, args: &[&str]) -> (i32, String, String) {
    let out = w
        .kiln(p)
        .env("KILN_HEARTBEAT_SECS", "0.3")
        .arg("build")
        .args(args)
        .output()
        .expect("run kiln");
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// The heartbeat lines of the compile step.
fn heartbeats(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("running    qemu-x86_64/compile (for "))
        .collect()
}

#[test]
fn plain_logs_repeat_running_steps_with_the_estimated_then_the_counted_total() {
    let w = World::new();
    let p = slow_project(&w, "plain");
    let (code, _, err) = build(&w, &p, &["--progress", "plain"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains('\x1b'), "no escape codes in a log:\n{err}");
    assert!(err.contains("ran        qemu-x86_64/compile "), "{err}");
    let beats = heartbeats(&err);
    assert!(!beats.is_empty(), "a heartbeat while make ran:\n{err}");
    // The first build knows no count: `make -n` estimates it (the test kernel's objects: its
    // kernel sources, the app and slow.c).
    let last = beats.last().unwrap();
    assert!(
        last.contains(" objects, estimated)"),
        "the first build's total is an estimate: {last}"
    );
    let total = |line: &str| -> u64 {
        let counts = line.rsplit("; ").next().unwrap();
        let of = counts.split('/').nth(1).unwrap();
        of.split(' ').next().unwrap().parse().unwrap()
    };
    assert!(total(last) >= 10, "{last}");

    // A new work directory, the same kernel: the count from the last build, not a guess.
    std::fs::remove_dir_all(p.join(".unikraft/kiln/work/qemu-x86_64")).unwrap();
    write(&p.join("slow.c"), slow_c_source(251));
    let (code, _, err) = build(&w, &p, &["--progress", "plain"]);
    assert_eq!(code, 0, "{err}");
    let beats = heartbeats(&err);
    let last = beats.last().expect("a heartbeat");
    assert!(
        last.ends_with(" objects)"),
        "counted, not estimated: {last}"
    );
    assert!(last.contains("compile"), "make's phase: {last}");
}

#[test]
fn tty_lines_redraw_in_place_and_finished_steps_scroll_above() {
    let w = World::new();
    let p = slow_project(&w, "tty");
    let (code, _, err) = build(&w, &p, &["--progress", "tty"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("\x1b["),
        "live lines move the cursor:\n{err:?}"
    );
    // A live line of the compile, with its clock, the kind and the objects bar.
    let live = err
        .split(['\r', '\n'])
        .find(|l| l.contains("compile   qemu-x86_64/compile") && l.contains("objects"))
        .unwrap_or_else(|| panic!("no live compile line:\n{err:?}"));
    assert!(live.contains('s'), "{live:?}");
    assert!(err.contains("ran        qemu-x86_64/compile "), "{err:?}");
    assert!(err.contains("kiln: built qemu-x86_64"), "{err:?}");
}

#[test]
fn verbose_streams_makes_output_prefixed_with_the_target() {
    let w = World::new();
    let p = kernel_project(&w, "verbose", "");
    let (code, _, err) = build(&w, &p, &["-v", "--progress", "plain"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("qemu-x86_64 |   CC      app/main.o"), "{err}");
    assert!(
        err.contains("qemu-x86_64 |   LD      hello_qemu-x86_64.dbg"),
        "{err}"
    );
    // Without -v, make's lines stay in its log.
    write(
        &p.join("main.c"),
        "int app_main(const char *a) { (void)a; return 0; }\n",
    );
    let (code, _, err) = build(&w, &p, &["--progress", "plain"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains(" |   CC "), "{err}");
}

#[test]
fn none_shows_no_steps_and_json_keeps_stdout_clean() {
    let w = World::new();
    let p = kernel_project(&w, "quiet", "");
    let (code, out, err) = build(&w, &p, &["--progress", "none"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty());
    assert!(!err.contains("qemu-x86_64/compile"), "{err}");
    assert!(
        err.contains("kiln: built qemu-x86_64"),
        "the result still shows: {err}"
    );

    write(
        &p.join("main.c"),
        "int app_main(const char *a) { (void)a; return 1; }\n",
    );
    let (code, out, err) = build(&w, &p, &["-o", "json", "--progress", "tty"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains('\x1b'), "{out:?}");
    let doc = json(out.as_bytes());
    assert_eq!(status_of(&doc, "qemu-x86_64/compile"), "ran");
}
