//! The remote cache end to end over REAPI (gRPC), against a real BuildGrid on loopback (a
//! SHA-256 server: the digest function is negotiated from its capabilities), with real kernel
//! builds of the test kernel:
//! - a second machine takes every action step from the cache and make never starts; an
//!   initrd larger than a batch goes through ByteStream both ways; artifacts are identical;
//! - read-only uploads nothing; a failed compile is never uploaded;
//! - a server stopped in the middle of a build: one message, local success;
//! - a stored blob with wrong bytes, and a lost one: detected, rebuilt, never used;
//! - bearer tokens (BuildGrid's JWT check): a wrong one is named without the secret;
//! - two machines at once, then a third taking everything.
//!
//! (BLAKE3 negotiation is tested in remote/tests/blake3_server.rs: no packaged server
//! offers it.)

mod common;

use common::buildgrid::BuildGrid;
use common::machine::*;
use common::*;

/// A rootfs file larger than a CAS batch (kiln batches up to 1 MiB per blob).
fn add_big_file(m: &Machine) {
    let mut bytes = Vec::with_capacity(3 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while bytes.len() < 3 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    write(&m.project.join("rootfs/big.bin"), bytes);
}

#[test]
fn a_second_machine_takes_everything_over_reapi_including_large_blobs() {
    let server = BuildGrid::start(None);
    let a = Machine::new("alice");
    add_big_file(&a);
    let (doc, err) = a.ok(&["--remote-cache", &server.url]);
    assert_eq!(remotes(&doc), all("remote miss, uploaded"), "{err}");
    let initrd = a.initrd();
    assert!(initrd.len() > 3 << 20);
    // Stored under its SHA-256, byte for byte (it went through ByteStream Write).
    assert!(read(&server.blob_file(&sha256_hex(&initrd))) == initrd);

    let b = Machine::new("elsewhere/bob");
    add_big_file(&b);
    let (doc, err) = b.ok(&["--remote-cache", &server.url]);
    assert_eq!(remotes(&doc), all("remote hit"), "{err}");
    assert_eq!(b.make_runs(), 0, "make ran on the second machine");
    assert!(b.initrd() == initrd);
    assert!(b.kernel() == a.kernel());
    assert_local_cache_clean(&b);
}

#[test]
fn read_only_uploads_nothing_and_failures_are_not_uploaded_over_reapi() {
    let server = BuildGrid::start(None);
    let a = Machine::new("ro");
    let (doc, _) = a.ok(&["--remote-cache", &server.url, "--remote-upload=false"]);
    assert_eq!(remotes(&doc), all("remote miss"));
    assert!(server.blobs().is_empty(), "{:?}", server.blobs());

    let broken = |name: &str| {
        let m = Machine::new(name);
        write(
            &m.project.join("main.c"),
            "int main(void) { return nope; }\n",
        );
        m
    };
    let b = broken("broken");
    let (code, doc, _) = b.build(&["--remote-cache", &server.url]);
    assert_ne!(code, 0);
    assert_eq!(
        remote_of(&doc, "qemu-x86_64/kconfig"),
        "remote miss, uploaded"
    );
    let c = broken("broken-2");
    let (code, doc, _) = c.build(&["--remote-cache", &server.url]);
    assert_ne!(code, 0);
    assert_eq!(remote_of(&doc, "qemu-x86_64/kconfig"), "remote hit");
    // The first broken build's compile failed and was not uploaded: still a miss.
    assert_eq!(remote_of(&doc, "qemu-x86_64/compile"), "remote miss");
}

#[test]
fn a_reapi_server_stopped_mid_build_and_bad_blobs_are_survived() {
    let mut server = BuildGrid::start(None);
    let a = Machine::new("writer");
    a.ok(&["--remote-cache", &server.url]);
    let kernel = a.kernel();
    let blob = server.blob_file(&sha256_hex(&kernel));
    let mut wrong = kernel.clone();
    wrong[100] ^= 0x55;
    std::fs::write(&blob, &wrong).unwrap();

    let b = Machine::new("reader");
    let (doc, err) = b.ok(&["--remote-cache", &server.url]);
    let compile = remote_of(&doc, "qemu-x86_64/compile");
    assert!(
        compile.starts_with("remote error: the remote blob"),
        "{compile}"
    );
    assert!(
        compile.ends_with("the result built here was uploaded"),
        "{compile}"
    );
    assert_eq!(err.matches("kiln: remote cache:").count(), 1, "{err}");
    assert!(b.kernel() == kernel, "the rebuilt kernel differs");
    assert_local_cache_clean(&b);
    // BuildGrid keeps a blob it has when it is uploaded again (REAPI has no delete), so the
    // bad bytes stay there; every reader detects them again and never uses them.
    let again = Machine::new("reader-2");
    let (doc, _) = again.ok(&["--remote-cache", &server.url, "--remote-upload=false"]);
    let compile = remote_of(&doc, "qemu-x86_64/compile");
    assert!(
        compile.starts_with("remote error: the remote blob"),
        "{compile}"
    );
    assert!(again.kernel() == kernel);

    std::fs::remove_file(&blob).unwrap();
    let c = Machine::new("lost");
    let (doc, _) = c.ok(&["--remote-cache", &server.url, "--remote-upload=false"]);
    // BuildGrid checks an entry's blobs before it answers: a lost blob makes it a miss.
    assert_eq!(remote_of(&doc, "qemu-x86_64/compile"), "remote miss");
    assert!(c.make_runs() > 0);
    assert!(c.kernel() == kernel);

    // Stopped while the compile runs: the upload finds it gone.
    let m = Machine::new("stopped");
    let mut source = read(&m.project.join("main.c"));
    source.extend_from_slice(b"\n/* another version */\n");
    write(&m.project.join("main.c"), source);
    let url = server.url.clone();
    let (ok, doc, err) = m.build_while_stopping(&url, || server.stop());
    assert!(ok, "{err}");
    assert_eq!(status_of(&doc, "qemu-x86_64/compile"), "ran");
    assert_eq!(err.matches("kiln: remote cache:").count(), 1, "{err}");
    assert!(err.contains("is unavailable"), "{err}");
}

#[test]
fn bearer_tokens_reach_buildgrid_and_a_wrong_one_is_named_without_the_secret() {
    let server = BuildGrid::start(Some("kiln-test-secret"));
    let good = BuildGrid::token("kiln-test-secret");
    let bad = BuildGrid::token("another-secret");
    let run = |m: &Machine, token: &str, extra: &[&str]| {
        let mut cmd = m.cmd();
        cmd.env("KILN_TEST_TOKEN", token);
        let config = m.home.path().join("kiln.toml");
        write(
            &config,
            format!(
                "[remote]\ncache = \"{}\"\ntoken_env = \"KILN_TEST_TOKEN\"\n",
                server.url
            ),
        );
        cmd.env("KILN_CONFIG", &config);
        let mut args = vec!["--explain"];
        args.extend_from_slice(extra);
        build_json_with(cmd, &args)
    };
    let m = Machine::new("token-ok");
    let (code, doc, err) = run(&m, &good, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(remotes(&doc), all("remote miss, uploaded"), "{err}");
    let n = Machine::new("token-bad");
    let (code, _, err) = run(&n, &bad, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("refused the bearer token"), "{err}");
    assert!(!err.contains(&bad), "the token was printed:\n{err}");
    let o = Machine::new("token-bad-required");
    let (code, _, err) = run(&o, &bad, &["--remote-required"]);
    assert_ne!(code, 0);
    assert!(!err.contains(&bad), "{err}");
}

#[test]
fn two_machines_at_once_over_reapi_then_a_third_takes_everything() {
    let server = BuildGrid::start(None);
    two_at_once_then_a_third(&server.url);
}
