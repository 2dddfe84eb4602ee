//! `kiln pkg push`, `kiln pkg pull` and `kiln login` against Debian's docker-registry started
//! on loopback (open, htpasswd Basic auth, TLS with a certificate the test makes), read back
//! by skopeo; re-pushes that upload nothing (counted in the registry's log); a registry
//! serving a corrupted blob; pulling offline from the local store once the registry is gone.

mod common;

use std::path::Path;

use common::registry::{Kind, Registry, private_home, skopeo};
use common::*;
use serde_json::Value;

/// A kiln command with a private HOME (no credentials of the machine), in `cwd`.
fn kiln(w: &World, cwd: &Path) -> assert_cmd::Command {
    let mut c = w.kiln(cwd);
    private_home(&mut c, &w.scratch.path().join("home"));
    c
}

/// The same, with `KILN_CONFIG=config`.
fn kiln_with(w: &World, cwd: &Path, config: &Path) -> assert_cmd::Command {
    let mut c = kiln(w, cwd);
    c.env("KILN_CONFIG", config);
    c
}

fn ok(mut c: assert_cmd::Command, args: &[&str]) -> (Value, String) {
    let out = c.args(args).output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "kiln {args:?}: {err}");
    (
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        err,
    )
}

fn fails(mut c: assert_cmd::Command, args: &[&str]) -> String {
    let out = c.args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "kiln {args:?} must fail: {}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

#[test]
fn push_and_pull_through_an_open_registry() {
    let reg = Registry::start(Kind::Open);
    let w = World::new();
    let p = kernel_project(&w, "app", "");
    let name = format!("{}/team/hello:1.0", reg.addr);
    let (record, _) = ok(kiln(&w, &p), &["pkg", "--name", &name, "-o", "json"]);
    let (report, err) = ok(kiln(&w, &p), &["pkg", "push", &name, "-o", "json"]);
    assert!(
        !err.contains('\x1b'),
        "no progress bar when stderr is not a terminal: {err:?}"
    );
    assert_eq!(
        report["push"]["uploaded"].as_array().unwrap().len(),
        3,
        "kernel, initrd, config: {report}"
    );
    assert_eq!(reg.uploads("team/hello"), 3);
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{name}"),
    ]);
    assert_eq!(
        format!("sha256:{}", sha256_hex(&raw)),
        record["digest"].as_str().unwrap(),
        "skopeo sees kiln's digest"
    );

    // An unchanged package uploads nothing, and --push on pkg does the same.
    let (again, _) = ok(kiln(&w, &p), &["pkg", "push", &name, "-o", "json"]);
    assert!(
        again["push"]["uploaded"].as_array().unwrap().is_empty(),
        "{again}"
    );
    ok(kiln(&w, &p), &["pkg", "--name", &name, "--push"]);
    assert_eq!(reg.uploads("team/hello"), 3, "re-pushes upload zero blobs");

    // Another repository of the same registry mounts the blobs instead of uploading them.
    let other = format!("{}/team/copy:1", reg.addr);
    ok(kiln(&w, &p), &["pkg", "--name", &other]);
    let (mounted, _) = ok(kiln(&w, &p), &["pkg", "push", &other, "-o", "json"]);
    // The layers and the config (which names no package) are the same blobs.
    assert_eq!(
        mounted["push"]["mounted"].as_array().unwrap().len(),
        3,
        "{mounted}"
    );
    assert_eq!(reg.uploads("team/copy"), 0);

    // A fresh machine (another cache and HOME) pulls the same digest and unpacks like kraft.
    let w2 = World::new();
    let wd = w2.scratch.path().join("wd");
    let (pulled, _) = ok(
        kiln(&w2, w2.scratch.path()),
        &[
            "pkg",
            "pull",
            &name,
            "-w",
            wd.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert_eq!(pulled["digest"], record["digest"]);
    assert_eq!(pulled["format"], "kraftkit");
    assert_eq!(
        read(&wd.join("unikraft/bin/kernel")),
        read(&p.join(".unikraft/build/hello_qemu-x86_64"))
    );
    assert_eq!(
        read(&wd.join("unikraft/bin/initrd")),
        read(&initramfs(&p, "x86_64"))
    );

    let err = fails(
        kiln(&w2, w2.scratch.path()),
        &["pkg", "pull", &name, "--plat", "fc"],
    );
    assert!(
        err.contains("has no manifest for fc/") && err.contains("its index holds qemu/x86_64"),
        "{err}"
    );
    let err = fails(
        kiln(&w2, w2.scratch.path()),
        &["pkg", "pull", &format!("{}/nothing:1", reg.addr)],
    );
    assert!(err.contains("not found on the registry"), "{err}");
}

#[test]
fn basic_auth_login_and_wrong_passwords() {
    let secret = "correct-horse-battery";
    let reg = Registry::start(Kind::Basic {
        user: "alice".into(),
        password: secret.into(),
    });
    let w = World::new();
    let p = kernel_project(&w, "app", "");
    let name = format!("{}/hello:1", reg.addr);
    ok(kiln(&w, &p), &["pkg", "--name", &name]);
    let err = fails(kiln(&w, &p), &["pkg", "push", &name]);
    assert!(
        err.contains("needs credentials") && err.contains(&format!("kiln login {}", reg.addr)),
        "{err}"
    );

    let mut login = kiln(&w, &p);
    login
        .args(["login", &reg.addr, "-u", "alice", "--password-stdin"])
        .write_stdin("wrong-password\n");
    let out = login.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("refused the credentials"),
        "{}",
        text(&out.stderr)
    );
    let auth_file = w.scratch.path().join("home/.config/kiln/auth.json");
    assert!(!auth_file.exists(), "a failed login stores nothing");

    let mut login = kiln(&w, &p);
    login
        .args(["login", &reg.addr, "-u", "alice", "--password-stdin"])
        .write_stdin(format!("{secret}\n"));
    let out = login.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut outputs = text(&out.stdout) + &text(&out.stderr);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&auth_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let out = kiln(&w, &p)
        .args(["pkg", "push", &name, "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    outputs += &(text(&out.stdout) + &text(&out.stderr));
    let out = kiln(&w, &p)
        .args(["pkg", "pull", &name, "--explain"])
        .output()
        .unwrap();
    outputs += &(text(&out.stdout) + &text(&out.stderr));
    assert!(
        !outputs.contains(secret),
        "the password never appears in output: {outputs}"
    );
    assert!(
        !reg.log().contains(secret),
        "nor in what the registry logged"
    );

    // Credentials users already have in Docker's config are used as they are.
    let w2 = World::new();
    let docker = w2.scratch.path().join("home/.docker/config.json");
    let auth = base64_encode(&format!("alice:{secret}"));
    write(
        &docker,
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.addr),
    );
    ok(kiln(&w2, w2.scratch.path()), &["pkg", "pull", &name]);
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn a_tls_registry_needs_its_certificate() {
    let reg = Registry::start(Kind::Tls);
    let w = World::new();
    let p = kernel_project(&w, "app", "");
    let name = format!("{}/hello:1", reg.addr);
    ok(kiln(&w, &p), &["pkg", "--name", &name]);
    let config = w.scratch.path().join("kiln.toml");
    write(
        &config,
        format!("[registries.\"{}\"]\ninsecure = false\n", reg.addr),
    );
    let err = fails(kiln_with(&w, &p, &config), &["pkg", "push", &name]);
    assert!(
        err.contains(&reg.addr) && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    write(
        &config,
        format!(
            "[registries.\"{}\"]\ninsecure = false\nca_file = \"{}\"\n",
            reg.addr,
            reg.cert().display()
        ),
    );
    ok(kiln_with(&w, &p, &config), &["pkg", "push", &name]);
    let w2 = World::new();
    ok(
        kiln_with(&w2, w2.scratch.path(), &config),
        &["pkg", "pull", &name],
    );
}

#[test]
fn a_corrupted_blob_is_refused_and_an_offline_pull_uses_the_store() {
    let mut reg = Registry::start(Kind::Open);
    let w = World::new();
    let p = kernel_project(&w, "app", "");
    let name = format!("{}/hello:1", reg.addr);
    ok(kiln(&w, &p), &["pkg", "--name", &name, "--push"]);
    let exported = w.scratch.path().join("layout");
    ok(
        kiln(&w, &p),
        &["pkg", "export", &name, exported.to_str().unwrap()],
    );
    let index: Value = serde_json::from_slice(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{name}"),
    ]))
    .unwrap();
    let manifest: Value = serde_json::from_slice(&read(
        &exported.join("blobs/sha256").join(
            index["manifests"][0]["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:"),
        ),
    ))
    .unwrap();
    let kernel_layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    flip_byte(&reg.blob_file(kernel_layer), 600);

    let w2 = World::new();
    let err = fails(kiln(&w2, w2.scratch.path()), &["pkg", "pull", &name]);
    assert!(
        err.contains("whose digest is") && err.contains("nothing was stored"),
        "{err}"
    );
    let listed = text(
        &kiln(&w2, w2.scratch.path())
            .args(["pkg", "ls"])
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(
        listed.lines().count(),
        1,
        "no package was recorded: {listed}"
    );
    let kernel = read(&p.join(".unikraft/build/hello_qemu-x86_64"));
    let stored: Vec<_> = cache_blobs(w2.cache_dir())
        .into_iter()
        .filter(|b| read(b).len() >= kernel.len())
        .collect();
    assert!(
        stored.is_empty(),
        "the damaged layer was not stored: {stored:?}"
    );

    // The first machine pulled nothing but has the package; with the registry gone, an
    // offline pull works from the store and a network pull says why it cannot.
    reg.stop();
    let wd = w.scratch.path().join("wd");
    ok(
        kiln(&w, &p),
        &[
            "pkg",
            "pull",
            &name,
            "--offline",
            "-w",
            wd.to_str().unwrap(),
        ],
    );
    assert_eq!(read(&wd.join("unikraft/bin/kernel")), kernel);
    let err = fails(kiln(&w, &p), &["pkg", "pull", &name]);
    assert!(
        err.contains(&reg.addr) && err.contains("cannot connect"),
        "{err}"
    );
}

#[test]
fn the_bearer_token_flow_and_credential_helpers() {
    let secret = "token-server-secret";
    let reg = Registry::start(Kind::Token {
        user: "bob".into(),
        password: secret.into(),
    });
    let w = World::new();
    let p = kernel_project(&w, "app", "");
    let name = format!("{}/team/hello:1", reg.addr);
    ok(kiln(&w, &p), &["pkg", "--name", &name]);
    let err = fails(kiln(&w, &p), &["pkg", "push", &name]);
    assert!(err.contains("kiln login"), "no credentials: {err}");

    let mut login = kiln(&w, &p);
    login
        .args(["login", &reg.addr, "-u", "bob", "--password-stdin"])
        .write_stdin("not-it");
    let out = login.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("refused the credentials"),
        "{}",
        text(&out.stderr)
    );

    let mut login = kiln(&w, &p);
    login
        .args(["login", &reg.addr, "-u", "bob", "--password-stdin"])
        .write_stdin(secret);
    let out = login.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (report, err) = ok(kiln(&w, &p), &["pkg", "push", &name, "-o", "json"]);
    assert_eq!(
        report["push"]["uploaded"].as_array().unwrap().len(),
        3,
        "{report}"
    );
    assert!(
        reg.token_log().contains("GET /token authenticated=True"),
        "{}",
        reg.token_log()
    );
    assert!(!err.contains(secret) && !report.to_string().contains(secret));

    // A Docker credential helper answers for the registry (`credHelpers`).
    let w2 = World::new();
    let bin = w2.scratch.path().join("bin");
    write(
        &bin.join("docker-credential-kilntest"),
        format!(
            "#!/bin/sh\ncat >/dev/null\necho '{{\"Username\":\"bob\",\"Secret\":\"{secret}\"}}'\n"
        ),
    );
    chmod(&bin.join("docker-credential-kilntest"), 0o755);
    write(
        &w2.scratch.path().join("home/.docker/config.json"),
        format!(r#"{{"credHelpers":{{"{}":"kilntest"}}}}"#, reg.addr),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut pull = kiln(&w2, w2.scratch.path());
    pull.env("PATH", path);
    let (_, err) = ok(pull, &["pkg", "pull", &name]);
    assert!(!err.contains(secret));
}

#[test]
fn chunked_uploads_mirrors_and_a_round_trip_through_skopeo() {
    let reg = Registry::start(Kind::Open);
    let w = World::new();
    let p = kernel_project(&w, "app", "");
    let name = format!("{}/chunky:1", reg.addr);
    let (record, _) = ok(kiln(&w, &p), &["pkg", "--name", &name, "-o", "json"]);
    let config = w.scratch.path().join("kiln.toml");
    write(
        &config,
        format!("[registries.\"{}\"]\nchunked = true\n", reg.addr),
    );
    ok(kiln_with(&w, &p, &config), &["pkg", "push", &name]);
    assert_eq!(reg.uploads("chunky"), 3);
    let patches = reg
        .log()
        .lines()
        .filter(|l| l.contains("\"PATCH /v2/chunky/blobs/uploads/"))
        .count();
    assert!(
        patches >= 3,
        "chunked uploads send PATCH requests: {patches}"
    );

    // skopeo copies it out to an OCI layout and back in under another name: same digests.
    let layout = w.scratch.path().join("skopeo-layout");
    let back = format!("{}/back:1", reg.addr);
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        &format!("docker://{name}"),
        &format!("oci:{}:1", layout.display()),
    ]);
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{back}"),
    ]);
    let w2 = World::new();
    let (pulled, _) = ok(
        kiln(&w2, w2.scratch.path()),
        &["pkg", "pull", &back, "-o", "json"],
    );
    assert_eq!(
        pulled["digest"], record["digest"],
        "a round trip through skopeo changes nothing"
    );

    // A pull goes to the configured mirror first; a mirror that is down is skipped.
    let mirror = Registry::start(Kind::Open);
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{name}"),
        &format!("docker://{}/chunky:1", mirror.addr),
    ]);
    let cfg = w2.scratch.path().join("mirrors.toml");
    write(
        &cfg,
        format!(
            "[registries.\"{}\"]\nmirrors = [\"127.0.0.1:9\", \"{}\"]\n",
            reg.addr, mirror.addr
        ),
    );
    let w3 = World::new();
    let blob_gets = |r: &Registry| {
        r.log()
            .lines()
            .filter(|l| l.contains("\"GET /v2/chunky/blobs/"))
            .count()
    };
    let from_origin = blob_gets(&reg);
    let (_, err) = ok(
        kiln_with(&w3, w3.scratch.path(), &cfg),
        &["pkg", "pull", &name],
    );
    assert!(
        err.contains("mirror 127.0.0.1:9") && err.contains("trying the next"),
        "{err}"
    );
    assert_eq!(blob_gets(&mirror), 3, "the blobs came from the mirror");
    assert_eq!(
        blob_gets(&reg),
        from_origin,
        "and none from the registry itself"
    );
}
