//! `--trace FILE`: the profile of a kernel build is a Chrome trace-event document whose
//! structure (lanes, step spans with their status and cache outcome, make's phases nested
//! inside the steps that ran make) is golden-tested with the times taken out; the times are
//! checked for nesting instead. A no-op build's profile shows every step up to date.

mod common;

use serde_json::Value;

use common::*;

/// The events of a profile, with what varies between runs (times, keys, the reasons'
/// wording of the first build) taken out.
fn structure(doc: &Value) -> String {
    let mut out = String::new();
    for e in doc["traceEvents"].as_array().expect("traceEvents") {
        let ph = e["ph"].as_str().unwrap_or_default();
        let (name, tid) = (e["name"].as_str().unwrap_or_default(), &e["tid"]);
        match ph {
            "M" => out.push_str(&format!("M tid={tid} {name} {}\n", e["args"]["name"])),
            "X" => {
                let args = &e["args"];
                let cat = e["cat"].as_str().unwrap_or_default();
                let mut line = format!("X tid={tid} {cat} {name}");
                for k in ["status", "cache"] {
                    if let Some(v) = args[k].as_str() {
                        line.push_str(&format!(" {k}={v}"));
                    }
                }
                if let Some(step) = args["step"].as_str() {
                    line.push_str(&format!(" in={step}"));
                }
                out.push_str(&line);
                out.push('\n');
            }
            other => panic!("unexpected phase {other}"),
        }
    }
    out
}

/// Every span of a step lies inside that step's own event, on its lane.
fn assert_nested(doc: &Value) {
    let events = doc["traceEvents"].as_array().unwrap();
    let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    for e in complete.iter().filter(|e| e["args"]["step"].is_string()) {
        let step = e["args"]["step"].as_str().unwrap();
        let parent = complete
            .iter()
            .find(|p| p["name"] == step && p["args"]["step"].is_null())
            .unwrap_or_else(|| panic!("no event for step {step}"));
        let (ts, dur) = (e["ts"].as_u64().unwrap(), e["dur"].as_u64().unwrap());
        let (pts, pdur) = (
            parent["ts"].as_u64().unwrap(),
            parent["dur"].as_u64().unwrap(),
        );
        assert_eq!(e["tid"], parent["tid"], "{e} runs on its step's lane");
        assert!(ts >= pts && ts + dur <= pts + pdur, "{e} inside {parent}");
    }
}

/// `kiln build -j 1 --trace`, which must succeed: the profile. One worker: the lanes and
/// the order of the steps are the same on every run.
fn traced_build(w: &World, p: &std::path::Path) -> Value {
    let trace = w.dir("out").join("build.json");
    let out = w
        .kiln(p)
        .args(["build", "-j", "1", "--trace"])
        .arg(&trace)
        .output()
        .expect("run kiln");
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&read(&trace)).expect("the trace is JSON")
}

#[test]
fn a_kernel_builds_profile_has_steps_in_lanes_and_makes_phases_inside() {
    let w = World::new();
    let p = kernel_project(&w, "traced", "");
    let doc = traced_build(&w, &p);
    assert_eq!(doc["displayTimeUnit"], "ms");
    assert_nested(&doc);
    golden("trace_kernel_build.txt", &structure(&doc));

    // A no-op: every action up to date, no make, so no phase.
    let s = structure(&traced_build(&w, &p));
    assert!(
        s.contains("compile qemu-x86_64/compile status=up-to-date cache=up to date"),
        "{s}"
    );
    assert!(!s.contains(" phase "), "{s}");
}

#[test]
fn a_failed_build_still_writes_its_profile() {
    let w = World::new();
    let p = kernel_project(&w, "broken", "");
    write(&p.join("main.c"), "this is not C\n");
    let trace = w.dir("out").join("failed.json");
    let out = w
        .kiln(&p)
        .args(["build", "--trace"])
        .arg(&trace)
        .output()
        .expect("run kiln");
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&read(&trace)).expect("the trace is JSON");
    let s = structure(&doc);
    assert!(
        s.contains("compile qemu-x86_64/compile status=failed"),
        "{s}"
    );
}
