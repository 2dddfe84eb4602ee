//! The binary on mutated Kraftfiles: `kiln plan` ends with 0, 1 or 2, never a signal or a
//! panic's 101, and an exit 2 names the Kraftfile with a line and column. (The parsers
//! themselves are fuzzed in-process, 10,000 cases, in `rules/tests/fuzz_parsers.rs`; this
//! covers what the binary adds around them: loading, planning, rendering.)

mod common;

use common::*;

#[test]
fn plan_exits_0_1_or_2_on_mutated_kraftfiles() {
    let corpus =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/tests/kraftfiles/valid");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let w = World::new();
    let p = w.dir("p");
    std::fs::create_dir_all(p.join("rootfs")).unwrap();
    let mut state: u64 = 0x6b69_6c6e;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) % n.max(1) as u64) as usize
    };
    let mut codes = [0u32; 3];
    for _ in 0..150 {
        let mut bytes = read(&files[next(files.len())]);
        for _ in 0..1 + next(3) {
            let i = next(bytes.len().max(1));
            match next(3) {
                0 if !bytes.is_empty() => {
                    let at = i.min(bytes.len() - 1);
                    bytes[at] ^= 1 << next(8);
                }
                1 => bytes.insert(i.min(bytes.len()), b":-[{#'\"\n"[next(8)]),
                _ => bytes.truncate(i),
            }
        }
        write(&p.join("Kraftfile"), &bytes);
        let out = w.kiln(&p).args(["plan", "--offline"]).output().unwrap();
        let err = text(&out.stderr);
        let code = out.status.code();
        match code {
            Some(c @ 0..=2) => codes[c as usize] += 1,
            _ => panic!(
                "exit {code:?} on {:?}:\n{err}",
                String::from_utf8_lossy(&bytes)
            ),
        }
        if code == Some(2) && err.contains("Kraftfile") {
            assert!(
                err.contains("Kraftfile:"),
                "no position for {:?}:\n{err}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
    eprintln!("fuzz_cli: exits 0/1/2 = {codes:?}");
    assert!(codes[0] > 0 && codes[2] > 0, "{codes:?}");
}
