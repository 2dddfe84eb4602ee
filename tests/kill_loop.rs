//! `kiln build` killed with SIGKILL at random points, over and over, never leaves a wrong or
//! partial result: after every kill each output is absent or byte-identical to a blob of the
//! cache (so complete); after the loop `kiln cache verify` finds nothing to remove, the next
//! build leaves no temp file of a dead writer, and its outputs equal a clean build's.
//!
//! One runtime project (a 16 MiB rootfs file rewritten every round, so the initrd step is
//! killed while it streams) and one kernel project on the test kernel (an app source or the
//! rootfs changed every round, so make is killed mid-compile). The random points come from a
//! fixed seed. `KILN_KILL_ROUNDS` sets the rounds per project (default 24; CI's run takes
//! under a minute); `benches/killloop.sh` runs it long and prints the totals.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// A small deterministic generator (64-bit LCG, Knuth's constants): the same kill points on
/// every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

#[derive(Default, Debug)]
struct Totals {
    runs: u64,
    kills: u64,
    partial_outputs: u64,
}

fn rounds() -> u64 {
    std::env::var("KILN_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

/// Each output present is the whole of some blob in the cache.
fn check_outputs(w: &World, outputs: &[PathBuf], totals: &mut Totals) {
    for out in outputs.iter().filter(|o| o.exists()) {
        let bytes = read(out);
        let hex = blake3::hash(&bytes).to_hex().to_string();
        let blob = w.cache_dir().join("cas").join(&hex[..2]).join(&hex);
        if !blob.is_file() || read(&blob) != bytes {
            totals.partial_outputs += 1;
            panic!(
                "{} is not a complete output ({} bytes)",
                out.display(),
                bytes.len()
            );
        }
    }
}

/// How long a build after `change` takes here, in milliseconds: the kill points are spread
/// over a little more than that, so most builds are killed whatever the machine's speed (a
/// fixed window killed too few on a loaded machine, or too many on a slow one).
fn calibrate(
    w: &World,
    p: &Path,
    round: u64,
    rng: &mut Lcg,
    change: &mut impl FnMut(u64, &mut Lcg),
) -> u64 {
    change(round, rng);
    let started = std::time::Instant::now();
    let status = kiln_std(w.cache_dir(), p)
        .env("TMPDIR", w.dir("tmp"))
        .arg("build")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run kiln");
    assert!(status.success(), "the calibration build failed");
    (started.elapsed().as_millis() as u64 * 5 / 4).max(20)
}

/// Builds `p` while killing it at random points; `change` alters an input before each round.
fn kill_loop(
    w: &World,
    p: &Path,
    outputs: &[PathBuf],
    rng: &mut Lcg,
    mut change: impl FnMut(u64, &mut Lcg),
) -> Totals {
    let mut totals = Totals::default();
    // A first build (not counted) makes the rounds incremental, as the calibration is.
    // Rounds far past the loop's, even ones (the kernel project's app edits: a compile).
    calibrate(w, p, u64::MAX - 1, rng, &mut change);
    let max_delay_ms = calibrate(w, p, u64::MAX - 3, rng, &mut change);
    for round in 0..rounds() {
        change(round, rng);
        let mut child = kiln_std(w.cache_dir(), p)
            .env("TMPDIR", w.dir("tmp"))
            .arg("build")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kiln");
        std::thread::sleep(Duration::from_millis(rng.below(max_delay_ms)));
        if child.try_wait().expect("poll kiln").is_none() {
            child.kill().expect("SIGKILL kiln");
            totals.kills += 1;
        }
        child.wait().expect("reap kiln");
        totals.runs += 1;
        check_outputs(w, outputs, &mut totals);
    }
    totals
}

/// After the loop: verify is clean, a build succeeds, no dead writer's temp file remains,
/// and the outputs equal those of a clean build of a copy in a fresh cache.
/// Returns (entries verify removed, leftover temp bytes), both asserted zero.
fn settle_and_compare(w: &World, p: &Path, outputs: &[&str]) -> (usize, u64) {
    let report = verify_report(w, p);
    let corrupt: usize = ["blobs_removed", "actions_removed", "strays_removed"]
        .iter()
        .map(|f| report[f].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(corrupt, 0, "verify found damage: {report:#}");
    let (code, _, err) = build_json(w, p, &[]);
    assert_eq!(code, 0, "the build after the kills: {err}");
    let leftovers: Vec<PathBuf> = files_under(p)
        .into_iter()
        .chain(files_under(w.cache_dir()))
        .filter(|f| {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            name.contains(".kiln-") && name.ends_with(".tmp")
        })
        .collect();
    let leftover_bytes = leftovers
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    // Nor anything in the TMPDIR the killed builds had: make's compilers (gcc's cc*.s) write
    // their temporary files under the work directory instead.
    let in_tmp = files_under(&w.dir("tmp"));
    assert!(in_tmp.is_empty(), "left in TMPDIR: {in_tmp:?}");
    let clean = World::new();
    let q = clean.dir("clean");
    sh(
        &q,
        &format!("cp -a {}/. . && rm -rf .unikraft", p.display()),
    );
    let (code, _, err) = build_json(&clean, &q, &[]);
    assert_eq!(code, 0, "{err}");
    for out in outputs {
        assert!(
            read(&p.join(out)) == read(&q.join(out)),
            "{out} differs from a clean build's"
        );
    }
    (corrupt, leftover_bytes)
}

#[test]
fn builds_killed_at_random_points_leave_no_wrong_or_partial_result() {
    let mut rng = Lcg(0x6b69_6c6e);
    let w = World::new();
    let rt = w.runtime_project("runtime", RUNTIME_KRAFTFILE);
    let rt_outputs = [initramfs(&rt, "x86_64")];
    let big = rt.join("rootfs/data.bin");
    let runtime = kill_loop(&w, &rt, &rt_outputs, &mut rng, |round, rng| {
        let len = (8 << 20) + rng.below(8 << 20) as usize;
        write(&big, vec![(round % 251) as u8; len]);
    });
    let (rt_corrupt, rt_left) =
        settle_and_compare(&w, &rt, &[".unikraft/build/initramfs-x86_64.cpio"]);

    let k = kernel_project(
        &w,
        "kernel",
        "    CONFIG_LIBVFSCORE_AUTOMOUNT_CI_EINITRD: y\n",
    );
    let kernel_file = k.join(".unikraft/build/hello_qemu-x86_64");
    let k_outputs = [
        kernel_file.clone(),
        PathBuf::from(format!("{}.dbg", kernel_file.display())),
        initramfs(&k, "x86_64"),
    ];
    let kernel = kill_loop(&w, &k, &k_outputs, &mut rng, |round, _| {
        if round % 2 == 0 {
            write(&k.join("extra.c"), format!("int extra_round = {round};\n"));
        } else {
            write(&k.join("rootfs/etc/round"), format!("{round}\n"));
        }
    });
    let (k_corrupt, k_left) = settle_and_compare(
        &w,
        &k,
        &[
            ".unikraft/build/hello_qemu-x86_64",
            ".unikraft/build/hello_qemu-x86_64.dbg",
            ".unikraft/build/initramfs-x86_64.cpio",
        ],
    );
    eprintln!("runtime project: {runtime:?}; kernel project: {kernel:?}");
    let runs = runtime.runs + kernel.runs;
    let kills = runtime.kills + kernel.kills;
    eprintln!(
        "kill loop: {runs} runs, {kills} killed, corrupt entries {}, half-written outputs {}, \
         leftover temp bytes after the next build {}",
        rt_corrupt + k_corrupt,
        runtime.partial_outputs + kernel.partial_outputs,
        rt_left + k_left
    );
    assert!(
        kills >= 30 || rounds() < 24,
        "only {kills} builds were killed"
    );
}
