//! `kiln build --check`: every action step is rebuilt in a scratch directory into an empty
//! store and compared bit for bit with the cache. A reproducible kernel project passes and
//! says how many steps were checked; the test kernel's `CONFIG_TESTKERNEL_EMBED_BUILD_TIME`
//! (the build's clock in the kernel) fails it, naming the step, the output and the first
//! differing byte, with both versions kept for diffoscope.

mod common;

use std::path::PathBuf;

use common::*;

fn check(w: &World, p: &std::path::Path) -> (i32, String) {
    let out = w
        .kiln(p)
        .args(["build", "--check", "--progress", "plain"])
        .output()
        .expect("run kiln");
    (out.status.code().unwrap_or(-1), text(&out.stderr))
}

#[test]
fn a_reproducible_kernel_project_passes() {
    let w = World::new();
    let p = kernel_project(
        &w,
        "repro",
        "    CONFIG_LIBVFSCORE_AUTOMOUNT_CI_EINITRD: y\n",
    );
    let (code, err) = check(&w, &p);
    assert_eq!(code, 0, "{err}");
    let n: usize = err
        .lines()
        .find_map(|l| l.strip_prefix("kiln: reproducible: "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no verdict:\n{err}"));
    // initrd, kconfig, fetch, compile, embed.
    assert!(n >= 5, "{err}");
    assert!(
        err.contains("ran        qemu-x86_64/compile"),
        "the rebuild ran make:\n{err}"
    );
    assert!(
        !p.join(".unikraft/kiln/check").exists(),
        "a pass leaves no scratch"
    );
    // The project's own outputs are the cached ones, untouched by the rebuild.
    let (code, doc, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_of(&doc, "qemu-x86_64/embed"), "up-to-date");
}

#[test]
fn a_kernel_that_embeds_the_time_is_caught_at_its_first_differing_byte() {
    let w = World::new();
    let p = kernel_project(&w, "clock", "    CONFIG_TESTKERNEL_EMBED_BUILD_TIME: y\n");
    let (code, err) = check(&w, &p);
    assert_eq!(code, 1, "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("kiln: not reproducible: qemu-x86_64/compile: output `kernel`"))
        .unwrap_or_else(|| panic!("the compile step is named:\n{err}"));
    let line = lines[at];
    let offset: u64 = line
        .rsplit("at byte ")
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    // The two versions are named on the lines after it.
    let path = |label: &str| -> PathBuf {
        let prefix = format!("  {label}:");
        let found = lines[at + 1..]
            .iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap();
        PathBuf::from(found[prefix.len()..].trim())
    };
    let (cached, rebuilt) = (read(&path("cached")), read(&path("rebuilt")));
    assert_eq!(
        cached,
        read(&p.join(".unikraft/build/hello_qemu-x86_64")),
        "the cached version is the build's kernel"
    );
    let first = cached.iter().zip(&rebuilt).position(|(a, b)| a != b);
    assert_eq!(first.map(|f| f as u64), Some(offset));
    assert!(err.contains("hint: diffoscope "), "{err}");
    assert!(
        err.contains("error: the build is not reproducible"),
        "{err}"
    );
}

#[test]
fn a_runtime_project_checks_its_initrd() {
    let w = World::new();
    let p = w.runtime_project("rt", RUNTIME_KRAFTFILE);
    let (code, err) = check(&w, &p);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("kiln: reproducible: 1 step checked"), "{err}");
}
