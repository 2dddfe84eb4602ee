//! The remote cache end to end over the Bazel HTTP protocol, against real nginx (WebDAV) on
//! loopback, with real kernel builds of the test kernel (real make and gcc):
//! - a second machine (another path, cache and HOME) takes every action step from the remote
//!   and make never starts; the artifacts are byte-identical;
//! - `--remote-upload=false` uploads nothing; a failed compile is never uploaded;
//! - a server stopped in the middle of a build: one message, the build succeeds locally;
//! - a stored blob with wrong bytes, and a lost one: detected, the step rebuilt, nothing of
//!   it used (the local cache verifies clean), reported once;
//! - wrong credentials: a clear message that never shows the secret; `--remote-required`
//!   makes it fail; right ones (netrc, a bearer token file) work;
//! - two machines building at once, then a third taking everything;
//! - `--trace` shows each remote lookup as a span of its step;
//! - Dockerfile states (WORKDIR, COPY, RUN) taken from the remote by a machine without
//!   buildah, rebuilt into the same rootfs, and usable as the base of a later step.

mod common;

use std::path::PathBuf;

use common::machine::*;
use common::nginx::{Access, Nginx};
use common::*;

#[test]
fn a_second_machine_takes_every_step_from_the_remote_and_never_runs_make() {
    let server = Nginx::start(Access::Open);
    let a = Machine::new("alice");
    let (doc, err) = a.ok(&["--remote-cache", &server.url]);
    assert_eq!(remotes(&doc), all("remote miss, uploaded"), "{err}");
    assert!(a.make_runs() > 0);
    // Blobs first, the action entry last: every entry's blobs were on the server before it.
    assert_eq!(server.stored("ac").len(), ACTIONS.len());
    let log = server.log();
    let last_blob = log.rfind("\"PUT /cache/cas/").unwrap();
    let last_entry = log.rfind("\"PUT /cache/ac/").unwrap();
    assert!(last_blob < last_entry, "{log}");

    let b = Machine::new("bob-elsewhere/deeper");
    let traces = tempfile::tempdir().unwrap();
    let trace = traces.path().join("trace.json");
    let trace_arg = trace.display().to_string();
    let (doc, err) = b.ok(&["--remote-cache", &server.url, "--trace", &trace_arg]);
    assert_eq!(remotes(&doc), all("remote hit"), "{err}");
    // The profile shows each lookup as a span of its step, with what it found.
    let profile: serde_json::Value = serde_json::from_slice(&read(&trace)).unwrap();
    let lookups: Vec<&serde_json::Value> = profile["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "remote lookup" && e["cat"] == "remote")
        .collect();
    assert_eq!(lookups.len(), ACTIONS.len(), "{profile:#}");
    assert!(lookups.iter().all(|e| e["args"]["detail"] == "remote hit"));
    assert_eq!(b.make_runs(), 0, "make ran on the second machine");
    assert!(b.kernel() == a.kernel());
    assert!(b.initrd() == a.initrd());
    assert!(err.contains("remote     qemu-x86_64/compile"), "{err}");
    assert_local_cache_clean(&b);

    // A no-op asks the remote nothing; a local hit (a second checkout) asks nothing either.
    let requests = server.log().lines().count();
    let (doc, _) = b.ok(&["--remote-cache", &server.url]);
    assert_eq!(status_of(&doc, "qemu-x86_64/compile"), "up-to-date");
    assert_eq!(server.log().lines().count(), requests);
}

#[test]
fn read_only_uploads_nothing_and_a_failed_compile_is_never_uploaded() {
    let server = Nginx::start(Access::Open);
    let a = Machine::new("ro");
    let (doc, _) = a.ok(&["--remote-cache", &server.url, "--remote-upload=false"]);
    assert_eq!(remotes(&doc), all("remote miss"));
    assert_eq!(server.count("PUT", "ac") + server.count("PUT", "cas"), 0);
    assert!(server.stored("ac").is_empty());

    let b = Machine::new("broken");
    write(
        &b.project.join("main.c"),
        "int main(void) { return nope; }\n",
    );
    let (code, doc, err) = b.build(&["--remote-cache", &server.url]);
    assert_ne!(code, 0, "{err}");
    assert_eq!(status_of(&doc, "qemu-x86_64/compile"), "failed");
    assert_eq!(
        remote_of(&doc, "qemu-x86_64/kconfig"),
        "remote miss, uploaded"
    );
    // kconfig, fetch and the initrd were uploaded; the compile was not.
    assert_eq!(server.stored("ac").len(), 3, "{}", server.log());
}

#[test]
fn a_server_stopped_in_the_middle_of_a_build_is_said_once_and_the_build_succeeds() {
    let mut server = Nginx::start(Access::Open);
    let m = Machine::new("stopped");
    let url = server.url.clone();
    let (ok, doc, err) = m.build_while_stopping(&url, || server.stop());
    assert!(ok, "{err}");
    assert_eq!(status_of(&doc, "qemu-x86_64/compile"), "ran");
    let said = err.matches("kiln: remote cache:").count();
    assert_eq!(said, 1, "one message about the outage:\n{err}");
    assert!(err.contains("is unavailable"), "{err}");
    assert!(err.contains("not asked again in this build"), "{err}");
    assert!(m.kernel().len() > 1000);

    // And with --remote-required, an unreachable cache fails the build.
    let strict = Machine::new("stopped-required");
    let (code, _, err) = strict.build(&["--remote-cache", &server.url, "--remote-required"]);
    assert_ne!(code, 0);
    assert!(err.contains("--remote-required"), "{err}");
}

/// The CAS file of the server holding `bytes`.
fn stored_blob(server: &Nginx, bytes: &[u8]) -> PathBuf {
    server
        .stored("cas")
        .into_iter()
        .find(|f| std::fs::read(f).is_ok_and(|b| b == bytes))
        .expect("the server holds the kernel")
}

#[test]
fn a_wrong_or_lost_remote_blob_is_never_used_and_the_step_is_rebuilt() {
    let server = Nginx::start(Access::Open);
    let a = Machine::new("writer");
    a.ok(&["--remote-cache", &server.url]);
    let kernel = a.kernel();
    let blob = stored_blob(&server, &kernel);
    // Same size, other bytes (a disk error, a buggy proxy).
    let mut wrong = kernel.clone();
    wrong[kernel.len() / 2] ^= 0x55;
    std::fs::write(&blob, &wrong).unwrap();

    let b = Machine::new("reader");
    let (doc, err) = b.ok(&["--remote-cache", &server.url]);
    assert!(
        remote_of(&doc, "qemu-x86_64/compile").starts_with("remote error: the remote blob"),
        "{}",
        remote_of(&doc, "qemu-x86_64/compile")
    );
    assert!(err.contains("other bytes than its digest says"), "{err}");
    assert_eq!(
        err.matches("kiln: remote cache:").count(),
        1,
        "reported once:\n{err}"
    );
    assert_eq!(status_of(&doc, "qemu-x86_64/compile"), "ran");
    assert!(b.make_runs() > 0);
    assert!(b.kernel() == kernel);
    assert_local_cache_clean(&b);
    assert!(
        cache_blobs(b.w.cache_dir())
            .iter()
            .all(|f| std::fs::read(f).unwrap() != wrong),
        "the wrong bytes reached the local cache"
    );

    // The reader's rebuilt result was uploaded over the bad blob: the server is repaired.
    assert!(
        remote_of(&doc, "qemu-x86_64/compile").ends_with("the result built here was uploaded"),
        "{doc:#}"
    );
    assert!(read(&blob) == kernel, "the server was not repaired");

    // Lost: the entry names a blob the server no longer has.
    std::fs::remove_file(&blob).unwrap();
    let c = Machine::new("third");
    let (doc, _) = c.ok(&["--remote-cache", &server.url, "--remote-upload=false"]);
    assert!(
        remote_of(&doc, "qemu-x86_64/compile").contains("which the server does not have"),
        "{doc:#}"
    );
    assert!(c.kernel() == kernel);
    assert_eq!(remote_of(&doc, "qemu-x86_64/kconfig"), "remote hit");
}

#[test]
fn wrong_credentials_are_named_without_the_secret_and_right_ones_work() {
    let server = Nginx::start(Access::Basic("kiln", "s3cret-pw"));
    let m = Machine::new("creds");
    let wrong = server.url.replace("http://", "http://kiln:not-the-pw-XYZ@");
    let (doc, err) = m.ok(&["--remote-cache", &wrong]);
    assert!(
        err.contains("refused the user and password (HTTP 401"),
        "{err}"
    );
    assert!(
        !err.contains("not-the-pw-XYZ"),
        "the password was printed:\n{err}"
    );
    assert!(!doc.to_string().contains("not-the-pw-XYZ"));
    let strict = Machine::new("creds-required");
    let (code, _, err) = strict.build(&["--remote-cache", &wrong, "--remote-required"]);
    assert_ne!(code, 0);
    assert!(err.contains("--remote-required"), "{err}");
    assert!(!err.contains("not-the-pw-XYZ"), "{err}");

    // The right password from netrc: uploads, then a second machine hits.
    let netrc = m.home.path().join(".netrc");
    write(&netrc, "machine 127.0.0.1 login kiln password s3cret-pw\n");
    let fresh = Machine::new("creds-ok");
    write(&fresh.home.path().join(".netrc"), read(&netrc));
    let (doc, err) = fresh.ok(&["--remote-cache", &server.url]);
    assert_eq!(remotes(&doc), all("remote miss, uploaded"), "{err}");
    assert!(!err.contains("s3cret-pw"));
    let other = Machine::new("creds-ok-2");
    write(&other.home.path().join(".netrc"), read(&netrc));
    let (doc, _) = other.ok(&["--remote-cache", &server.url]);
    assert_eq!(remotes(&doc), all("remote hit"));
}

#[test]
fn a_bearer_token_comes_from_the_config_and_is_never_printed() {
    let server = Nginx::start(Access::Bearer("tok-9f8e7d"));
    let m = Machine::new("bearer");
    let config = m.home.path().join("kiln.toml");
    let token = m.home.path().join("token");
    write(&token, "tok-9f8e7d\n");
    write(
        &config,
        format!(
            "[remote]\ncache = \"{}\"\ntoken_file = \"{}\"\n",
            server.url,
            token.display()
        ),
    );
    let mut cmd = m.cmd();
    cmd.env("KILN_CONFIG", &config);
    let (code, doc, err) = build_json_with(cmd, &["--explain"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(remotes(&doc), all("remote miss, uploaded"), "{err}");

    write(&token, "tok-wrong-0000\n");
    let n = Machine::new("bearer-2");
    let mut cmd = n.cmd();
    cmd.env("KILN_CONFIG", &config);
    let (code, _, err) = build_json_with(cmd, &["--explain"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("refused the bearer token (HTTP 401"), "{err}");
    assert!(!err.contains("tok-wrong-0000"), "{err}");
}

#[test]
fn two_machines_building_at_once_then_a_third_takes_everything() {
    let server = Nginx::start(Access::Open);
    two_at_once_then_a_third(&server.url);
}

#[test]
fn the_config_file_and_environment_select_the_cache_and_bad_settings_are_named() {
    let server = Nginx::start(Access::Open);
    let m = Machine::new("env");
    let mut cmd = m.cmd();
    cmd.env("KILN_REMOTE_CACHE", &server.url);
    let (code, doc, err) = build_json_with(cmd, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        remote_of(&doc, "qemu-x86_64/compile"),
        "remote miss, uploaded"
    );

    let config = m.home.path().join("bad.toml");
    write(&config, "[remote]\ncache = \"ftp://x/\"\ntimeout = 0\n");
    let mut cmd = m.cmd();
    cmd.env("KILN_CONFIG", &config);
    let (code, _, err) = build_json_with(cmd, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bad.toml") && err.contains("zero [remote] timeout"),
        "{err}"
    );

    write(&config, "[remote]\ncache = \"ftp://x/\"\n");
    let mut cmd = m.cmd();
    cmd.env("KILN_CONFIG", &config);
    let (code, _, err) = build_json_with(cmd, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no known scheme"), "{err}");
}

/// A runtime project whose rootfs is a Dockerfile of WORKDIR, COPY and RUN states over a
/// context with an executable, a symlink and two files with the same bytes.
fn dockerfile_project(w: &World, name: &str) -> PathBuf {
    let p = w.dir(name);
    write(
        &p.join("Kraftfile"),
        "spec: v0.6\nname: demo\nruntime: base:latest\nrootfs: ./Dockerfile\n",
    );
    write(
        &p.join("Dockerfile"),
        "FROM scratch\nWORKDIR /app\nCOPY busybox /bin/busybox\nCOPY app/ ./\n\
         RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo made > /made\"]\n\
         COPY app/bin/tool /usr/bin/tool\n",
    );
    std::fs::copy("/bin/busybox", p.join("busybox")).unwrap();
    write(&p.join("app/index.html"), "<h1>kiln</h1>\n");
    write(&p.join("app/copy.html"), "<h1>kiln</h1>\n");
    write(&p.join("app/bin/tool"), "#!/bin/sh\necho tool\n");
    chmod(&p.join("app/bin/tool"), 0o755);
    std::os::unix::fs::symlink("index.html", p.join("app/home.html")).unwrap();
    p
}

/// The Dockerfile state steps of a build and what the remote cache did for each.
fn state_remotes(doc: &serde_json::Value) -> Vec<(String, String)> {
    steps(doc)
        .iter()
        .filter_map(|s| {
            let id = s["id"].as_str()?;
            let remote = s["remote"].as_str()?;
            (id.starts_with("rootfs/") && id.contains(':')).then(|| (id.into(), remote.into()))
        })
        .collect()
}

#[test]
fn dockerfile_states_come_from_the_remote_and_rebuild_the_same_rootfs_elsewhere() {
    let server = Nginx::start(Access::Open);
    let (w1, w2) = (World::new(), World::new());
    let a = dockerfile_project(&w1, "one");
    let b = dockerfile_project(&w2, "elsewhere/two");
    let args = ["--explain", "--remote-cache", &server.url];
    let (code, doc, err) = build_json(&w1, &a, &args);
    assert_eq!(code, 0, "{err}");
    let first = state_remotes(&doc);
    assert_eq!(
        first.len(),
        5,
        "WORKDIR, three COPYs, a RUN: {first:?}\n{err}"
    );
    assert!(
        first.iter().all(|(_, r)| r == "remote miss, uploaded"),
        "{first:?}"
    );
    // Another path and cache: every state is a hit, rebuilt from the entry's files; with no
    // buildah on PATH, so the RUN cannot have run.
    let nobuildah = common::docker::path_without_buildah(w2.scratch.path());
    let mut cmd = w2.kiln(&b);
    cmd.env("PATH", &nobuildah);
    let (code, doc, err) = build_json_with(cmd, &args);
    assert_eq!(code, 0, "{err}");
    let second = state_remotes(&doc);
    let ids: Vec<&String> = first.iter().map(|(id, _)| id).collect();
    assert_eq!(second.iter().map(|(id, _)| id).collect::<Vec<_>>(), ids);
    assert!(
        second.iter().all(|(_, r)| r == "remote hit"),
        "{second:?}\n{err}"
    );
    assert!(
        read(&initramfs(&a, "x86_64")) == read(&initramfs(&b, "x86_64")),
        "the initrd from remote states differs"
    );
    let cpio = parse_cpio(&read(&initramfs(&b, "x86_64")));
    assert_eq!(cpio.get("usr/bin/tool").mode & 0o777, 0o755);
    assert_eq!(cpio.get("app/home.html").data, b"index.html");
    assert_eq!(cpio.get("app/copy.html").data, b"<h1>kiln</h1>\n");
    assert_eq!(cpio.get("made").data, b"made\n");
    // A state taken from the remote is a base like any other: an edit reruns the COPY on it.
    write(&b.join("app/index.html"), "<h1>edited</h1>\n");
    let (code, doc, err) = build_json(&w2, &b, &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_of(&doc, &first[2].0), "ran", "{err}");
    let cpio = parse_cpio(&read(&initramfs(&b, "x86_64")));
    assert_eq!(cpio.get("app/index.html").data, b"<h1>edited</h1>\n");
}
