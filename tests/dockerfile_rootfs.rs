//! Dockerfile rootfs (issue 10): catalog-shaped Dockerfiles built by kiln, each checked
//! against the expected tree and against `buildah bud` of the same Dockerfile (same paths,
//! contents, permission bits and symlink targets); base images the tests make and push to a
//! loopback docker-registry; per-instruction incrementality; byte-identical initrds at two
//! paths with two caches; and the errors: a missing source, an instruction kiln does not
//! build, RUN with no builder.

mod common;

use std::path::{Path, PathBuf};

use common::docker::*;
use common::registry::{Kind, Registry};
use common::*;
use serde_json::Value;

const KRAFTFILE: &str = "spec: v0.6\nname: demo\nruntime: base:latest\nrootfs: ./Dockerfile\n";

fn project(w: &World, name: &str, dockerfile: &str) -> PathBuf {
    let p = w.dir(name);
    write(&p.join("Kraftfile"), KRAFTFILE);
    write(&p.join("Dockerfile"), dockerfile);
    p
}

fn built(w: &World, p: &Path, args: &[&str]) -> Value {
    let (code, doc, err) = build_json(w, p, args);
    assert_eq!(code, 0, "kiln build: {err}");
    doc
}

fn kiln_listing(p: &Path) -> Listing {
    cpio_listing(&read(&initramfs(p, "x86_64")))
}

/// The ids of the steps with `status`.
fn with_status(doc: &Value, status: &str) -> Vec<String> {
    statuses(doc)
        .into_iter()
        .filter(|(_, s)| s == status)
        .map(|(id, _)| id)
        .collect()
}

/// A context with files, directories, an inner symlink, a symlink to copy, an executable, a
/// name with a space, and what `.dockerignore` leaves out.
fn scratch_context(p: &Path) {
    write(&p.join("app/www/index.html"), "<h1>kiln</h1>\n");
    write(&p.join("app/www/css/site.css"), "body {}\n");
    std::os::unix::fs::symlink("index.html", p.join("app/www/home.html")).unwrap();
    write(&p.join("app/conf/a.conf"), "a=1\n");
    write(&p.join("app/conf/b.conf"), "b=2\n");
    write(&p.join("app/conf/notes.txt"), "not a conf\n");
    write(&p.join("app/bin/tool"), "#!/bin/sh\necho tool\n");
    chmod(&p.join("app/bin/tool"), 0o755);
    std::os::unix::fs::symlink("bin/tool", p.join("app/tool-link")).unwrap();
    write(&p.join("app/space name.txt"), "spaced\n");
    write(&p.join("app/secret.key"), "do not ship\n");
    write(&p.join("app/cache.tmp"), "scratch\n");
    write(
        &p.join(".dockerignore"),
        "# not sent\napp/secret.key\n**/*.tmp\n.unikraft\n",
    );
}

const SCRATCH_DOCKERFILE: &str = r#"ARG DIR=srv
FROM scratch AS unused
COPY app/secret.key /never
FROM scratch
ARG DIR
ARG SUB=www
ENV APP=/app
WORKDIR /app
COPY app/${SUB} ${DIR}/
COPY app/conf/*.conf /etc/app/
COPY app/bin/tool .
COPY app/tool-link /usr/bin/tool
COPY ["app/space name.txt", "/data/"]
COPY app/conf/notes.txt /data/renamed.txt
COPY app/ /all/
WORKDIR sub
COPY app/www/index.html ./
CMD ["/app/tool", "--serve"]
"#;

#[test]
fn a_scratch_dockerfile_gives_the_tree_buildah_gives() {
    let w = World::new();
    let p = project(&w, "app", SCRATCH_DOCKERFILE);
    scratch_context(&p);
    let doc = built(&w, &p, &[]);
    let ids: Vec<String> = statuses(&doc).into_iter().map(|(id, _)| id).collect();
    assert!(
        !ids.iter().any(|id| id.starts_with("rootfs/unused")),
        "a stage nothing copies from is never planned: {ids:?}"
    );
    let kiln = kiln_listing(&p);
    // What Docker's rules give, written out.
    for (path, want) in [
        ("app/srv/index.html", Some("<h1>kiln</h1>\n")),
        ("app/srv/css/site.css", Some("body {}\n")),
        ("etc/app/a.conf", Some("a=1\n")),
        ("etc/app/b.conf", Some("b=2\n")),
        ("app/tool", Some("#!/bin/sh\necho tool\n")),
        ("usr/bin/tool", Some("#!/bin/sh\necho tool\n")),
        ("data/space name.txt", Some("spaced\n")),
        ("data/renamed.txt", Some("not a conf\n")),
        ("all/www/index.html", Some("<h1>kiln</h1>\n")),
        ("app/sub/index.html", Some("<h1>kiln</h1>\n")),
        ("etc/app/notes.txt", None),
        ("all/secret.key", None),
        ("all/cache.tmp", None),
        ("never", None),
    ] {
        match (kiln.get(path), want) {
            (Some(Desc::File(_, c)), Some(w)) => assert_eq!(c, w.as_bytes(), "{path}"),
            (None, None) => {}
            (got, want) => panic!("{path}: got {got:?}, want {want:?}"),
        }
    }
    assert_eq!(
        kiln["app/tool"],
        Desc::File(0o755, b"#!/bin/sh\necho tool\n".to_vec())
    );
    assert_eq!(
        kiln["app/srv/home.html"],
        Desc::Symlink("index.html".into())
    );
    assert_eq!(kiln["all/tool-link"], Desc::Symlink("bin/tool".into()));

    let buildah = Buildah::new();
    let reference = buildah.bud_listing(&p, &p.join("Dockerfile"), &[]);
    assert_eq!(diff(&kiln, &reference), "", "kiln and buildah bud differ");

    // A no-op runs nothing and writes nothing.
    settle();
    built(&w, &p, &[]);
    settle();
    let before = (snapshot(w.cache_dir()), snapshot(&p));
    let doc = built(&w, &p, &[]);
    assert!(with_status(&doc, "ran").is_empty(), "{:?}", statuses(&doc));
    assert_eq!(
        before,
        (snapshot(w.cache_dir()), snapshot(&p)),
        "a no-op wrote"
    );
}

#[test]
fn editing_one_copied_file_reruns_that_copy_the_steps_after_it_and_the_initrd() {
    let w = World::new();
    let p = project(&w, "app", SCRATCH_DOCKERFILE);
    scratch_context(&p);
    built(&w, &p, &[]);
    settle();
    write(&p.join("app/conf/b.conf"), "b=3\n");
    let out = w
        .kiln(&p)
        .args(["build", "--explain", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json(&out.stdout);
    let ran = with_status(&doc, "ran");
    // Lines 9 (the first COPY) runs before the edited file's COPY (line 10): it is kept.
    assert_eq!(status_of(&doc, "rootfs/1:9"), "up-to-date");
    assert_eq!(status_of(&doc, "rootfs/1:8"), "up-to-date", "WORKDIR");
    assert_eq!(
        ran,
        [
            "rootfs/1:10",
            "rootfs/1:11",
            "rootfs/1:12",
            "rootfs/1:13",
            "rootfs/1:14",
            "rootfs/1:15",
            "rootfs/1:16",
            "rootfs/1:17",
            "initrd"
        ],
        "{:?}",
        statuses(&doc)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("input `context /app/conf/b.conf` changed"),
        "--explain names the file: {err}"
    );
    assert!(matches!(&kiln_listing(&p)["etc/app/b.conf"], Desc::File(_, c) if c == b"b=3\n"));
    // An edit to a file no COPY reads (left out by .dockerignore) runs nothing.
    settle();
    write(&p.join("app/secret.key"), "changed\n");
    let doc = built(&w, &p, &[]);
    assert!(with_status(&doc, "ran").is_empty(), "{:?}", statuses(&doc));
}

#[test]
fn the_errors_name_the_dockerfile_and_line() {
    let w = World::new();
    for (name, dockerfile, want) in [
        (
            "missing",
            "FROM scratch\nCOPY a.txt /\nCOPY nothere.txt /\n",
            "Dockerfile:3: COPY: `nothere.txt` is not there",
        ),
        (
            "ignored",
            "FROM scratch\nCOPY secret.key /\n",
            "Dockerfile:2: COPY: `secret.key` is not there",
        ),
        ("add", "FROM scratch\nADD a.txt /\n", "Dockerfile:2:"),
        (
            "many",
            "FROM scratch\nCOPY a.txt secret.key /dir\n",
            "must be a directory ending with `/`",
        ),
    ] {
        let p = project(&w, name, dockerfile);
        write(&p.join("a.txt"), "a\n");
        write(&p.join("secret.key"), "s\n");
        write(
            &p.join(".dockerignore"),
            if name == "ignored" { "*.key\n" } else { "" },
        );
        let out = w.kiln(&p).arg("build").output().unwrap();
        // A Dockerfile kiln cannot read is invalid input (2); a COPY that fails, a failed
        // build (1).
        let code = if name == "add" { 2 } else { 1 };
        assert_eq!(out.status.code(), Some(code), "{name}");
        let err = text(&out.stderr);
        assert!(err.contains(want), "{name}: {err}");
        assert!(
            !initramfs(&p, "x86_64").exists(),
            "{name}: no initrd is written"
        );
    }
}

#[test]
fn run_without_buildah_names_the_package_and_a_dockerfile_without_run_needs_none() {
    let w = World::new();
    let p = project(
        &w,
        "run",
        "FROM scratch AS b\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"true\"]\nFROM scratch\nCOPY --from=b /bin/busybox /x\n",
    );
    std::fs::copy("/bin/busybox", p.join("busybox")).unwrap();
    let bin = path_without_buildah(w.scratch.path());
    let out = w.kiln(&p).env("PATH", &bin).arg("build").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("Dockerfile:3: RUN: RUN needs buildah")
            && err.contains("apt-get install buildah"),
        "{err}"
    );
    let q = project(&w, "norun", "FROM scratch\nCOPY a /a\n");
    write(&q.join("a"), "a\n");
    let out = w.kiln(&q).env("PATH", &bin).arg("build").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// A build stage on a base image from the registry, with a RUN, and a scratch stage with 50+
/// `COPY --from=build` of files, directories and symlinked libraries.
fn multi_stage(reg: &Registry) -> String {
    let base = format!("{}/base:oci", reg.addr);
    let mut d = format!(
        "FROM --platform=linux/amd64 {base} AS build\nENV GREETING=hello\nWORKDIR /src\nCOPY src/ ./\n\
         RUN --mount=type=cache,target=/root/.cache mkdir -p /out/bin /out/share && cp /src/f00.txt /out/share/ \
         && echo \"built $GREETING\" > /out/bin/app && ln -s app /out/bin/app-link && echo run >> /root/.cache/runs\n\
         FROM {base} AS tools\nRUN exit 1\n\
         FROM scratch\n\
         COPY --from=build /lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/\n\
         COPY --from=build /usr/lib/x86_64-linux-gnu/libm.so.6 /lib/x86_64-linux-gnu/\n\
         COPY --from=build /out /\n\
         COPY --from=build /etc/os-release /etc/\n\
         COPY --from=build /usr/share/doc /usr/share/doc\n"
    );
    for i in 0..50 {
        d += &format!("COPY --from=build /src/f{i:02}.txt /data/\n");
    }
    d += &format!("COPY --from={base} /etc/os-release /etc/os-release.base\n");
    d += "COPY conf/app.conf /etc/app.conf\nCMD [\"/bin/app\"]\n";
    d
}

fn multi_stage_project(w: &World, reg: &Registry, name: &str) -> PathBuf {
    let p = project(w, name, &multi_stage(reg));
    for i in 0..50 {
        write(&p.join(format!("src/f{i:02}.txt")), format!("file {i}\n"));
    }
    write(&p.join("conf/app.conf"), "port=80\n");
    p
}

fn registry_with_base(buildah: &Buildah) -> Registry {
    let reg = Registry::start(Kind::Open);
    let fs = tempfile::tempdir().unwrap();
    let base = fs.path().join("base");
    base_fs(&base);
    buildah.push_image(&base, &format!("{}/base:oci", reg.addr), "oci", &[]);
    std::mem::forget(fs);
    reg
}

#[test]
fn a_multi_stage_build_with_run_and_fifty_copies_gives_buildahs_tree() {
    let buildah = Buildah::new();
    let reg = registry_with_base(&buildah);
    let w = World::new();
    let p = multi_stage_project(&w, &reg, "app");
    let doc = built(&w, &p, &[]);
    let ids: Vec<String> = statuses(&doc).into_iter().map(|(id, _)| id).collect();
    assert!(
        !ids.iter().any(|i| i.starts_with("rootfs/tools")),
        "{ids:?}"
    );
    let kiln = kiln_listing(&p);
    assert!(matches!(&kiln["bin/app"], Desc::File(_, c) if c == b"built hello\n"));
    assert_eq!(kiln["bin/app-link"], Desc::Symlink("app".into()));
    let libc =
        std::fs::read(std::fs::canonicalize("/lib/x86_64-linux-gnu/libc.so.6").unwrap()).unwrap();
    assert!(
        matches!(&kiln["lib/x86_64-linux-gnu/libc.so.6"], Desc::File(_, c) if *c == libc),
        "a symlinked library is copied as the file it names"
    );
    assert_eq!(kiln.keys().filter(|k| k.starts_with("data/")).count(), 50);
    assert!(
        kiln.contains_key("etc/os-release.base"),
        "COPY --from=<image>"
    );
    let reference = buildah.bud_listing(&p, &p.join("Dockerfile"), &[]);
    assert_eq!(diff(&kiln, &reference), "", "kiln and buildah bud differ");

    // Editing a file the last stage copies from the context reruns no RUN and no COPY
    // before it.
    settle();
    write(&p.join("conf/app.conf"), "port=8080\n");
    let doc = built(&w, &p, &[]);
    let ran = with_status(&doc, "ran");
    assert_eq!(
        ran.len(),
        2,
        "the COPY and the initrd: {:?}",
        statuses(&doc)
    );
    assert_eq!(status_of(&doc, "rootfs/build:5"), "up-to-date", "the RUN");

    // Editing a file the build stage copies reruns the RUN (whose output is the same: the
    // COPY of /out is kept); of the 50 COPYs, those before the one that reads the changed
    // file are kept.
    settle();
    write(&p.join("src/f30.txt"), "file thirty\n");
    let doc = built(&w, &p, &[]);
    assert_eq!(status_of(&doc, "rootfs/build:5"), "ran");
    let line_of = |i: usize| 14 + i; // f00 is on line 14
    assert_eq!(
        status_of(&doc, &format!("rootfs/2:{}", line_of(29))),
        "up-to-date"
    );
    assert_eq!(status_of(&doc, &format!("rootfs/2:{}", line_of(30))), "ran");
    assert!(matches!(&kiln_listing(&p)["data/f30.txt"], Desc::File(_, c) if c == b"file thirty\n"));
}

#[test]
fn the_same_dockerfile_gives_the_same_initrd_at_two_paths_with_two_caches() {
    let buildah = Buildah::new();
    let reg = registry_with_base(&buildah);
    let (w1, w2) = (World::new(), World::new());
    let a = multi_stage_project(&w1, &reg, "one");
    let b = multi_stage_project(&w2, &reg, "elsewhere/two");
    built(&w1, &a, &[]);
    built(&w2, &b, &[]);
    assert_eq!(
        read(&initramfs(&a, "x86_64")),
        read(&initramfs(&b, "x86_64")),
        "byte-identical initrds"
    );
}

#[test]
fn an_image_rootfs_reads_both_media_type_families_and_every_compression() {
    let buildah = Buildah::new();
    let reg = Registry::start(Kind::Open);
    let fs = tempfile::tempdir().unwrap();
    let base = fs.path().join("base");
    base_fs(&base);
    let w = World::new();
    // The directory itself, as a rootfs: what the image of it must give.
    let want_for = |tag: &str| {
        let dir = w.dir(&format!("dir-{tag}"));
        write(
            &dir.join("Kraftfile"),
            "spec: v0.6\nname: demo\nruntime: base:latest\nrootfs: ./base\n",
        );
        sh(&dir, &format!("cp -a {} base", base.display()));
        built(&w, &dir, &[]);
        read(&initramfs(&dir, "x86_64"))
    };
    for (tag, format, flags, layer_type) in [
        (
            "oci-zstd",
            "oci",
            vec!["--compression-format", "zstd"],
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        (
            "oci-gzip",
            "oci",
            vec![],
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        (
            "docker-gzip",
            "docker",
            vec![],
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
        // (Uncompressed: below; buildah 1.28 gzips on push even with
        // --disable-compression.)
    ] {
        let r = format!("{}/base:{tag}", reg.addr);
        // Each image has a file of its own: buildah (containers/image's blob-info cache)
        // would otherwise push the layer it already pushed, in the other compression.
        write(&base.join("etc/variant"), tag);
        let want = want_for(tag);
        buildah.push_image(&base, &r, format, &flags);
        let p = w.dir(tag);
        write(
            &p.join("Kraftfile"),
            format!("spec: v0.6\nname: demo\nruntime: base:latest\nrootfs: {r}\n"),
        );
        let raw = text(&common::registry::skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{r}"),
        ]));
        assert!(raw.contains(layer_type), "{tag}: {raw}");
        built(&w, &p, &[]);
        assert_eq!(read(&initramfs(&p, "x86_64")), want, "{tag}");
    }
    // An uncompressed layer.
    write(&base.join("etc/variant"), "plain");
    let want = want_for("plain");
    push_uncompressed(&reg.addr, "base", "plain", &base);
    let r = format!("{}/base:plain", reg.addr);
    let raw = text(&common::registry::skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{r}"),
    ]));
    assert!(
        raw.contains("\"application/vnd.oci.image.layer.v1.tar\""),
        "{raw}"
    );
    let p = w.dir("plain");
    write(
        &p.join("Kraftfile"),
        format!("spec: v0.6\nname: demo\nruntime: base:latest\nrootfs: {r}\n"),
    );
    built(&w, &p, &[]);
    assert_eq!(read(&initramfs(&p, "x86_64")), want, "plain");

    // An OCI index and a Docker manifest list naming the image for linux/amd64.
    for (format, list_type) in [
        ("oci", "application/vnd.oci.image.index.v1+json"),
        (
            "v2s2",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ),
    ] {
        let tag = format!("list-{format}");
        write(&base.join("etc/variant"), &tag);
        let want = want_for(&tag);
        let image_format = if format == "oci" { "oci" } else { "docker" };
        buildah.push_image(
            &base,
            &format!("{}/base:single-{format}", reg.addr),
            image_format,
            &[],
        );
        let list = format!("localhost/kiln-{tag}");
        buildah.run(&["manifest", "create", &list], fs.path());
        let image = format!("localhost/kiln-test-base:{image_format}");
        buildah.run(&["manifest", "add", &list, &image], fs.path());
        let r = format!("{}/base:{tag}", reg.addr);
        let dest = format!("docker://{r}");
        buildah.run(
            &[
                "manifest",
                "push",
                "--all",
                "--format",
                format,
                "--tls-verify=false",
                &list,
                &dest,
            ],
            fs.path(),
        );
        let raw = text(&common::registry::skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--raw",
            &dest,
        ]));
        assert!(raw.contains(list_type), "{tag}: {raw}");
        let p = w.dir(&tag);
        write(
            &p.join("Kraftfile"),
            format!("spec: v0.6\nname: demo\nruntime: base:latest\nrootfs: {r}\n"),
        );
        built(&w, &p, &[]);
        assert_eq!(read(&initramfs(&p, "x86_64")), want, "{tag}");
    }
}

#[test]
fn catalog_dockerfiles_that_need_no_network_build_as_buildah_builds_them() {
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/catalog");
    let buildah = Buildah::new();
    let w = World::new();
    let mut built_count = 0;
    for e in std::fs::read_dir(&catalog).unwrap() {
        let src = e.unwrap().path();
        if !src.join("Kraftfile").is_file() {
            continue;
        }
        let name = src.file_name().unwrap().to_str().unwrap().to_string();
        let p = w.dir(&name);
        sh(&p, &format!("cp -a {}/. .", src.display()));
        let doc = built(&w, &p, &[]);
        assert_eq!(status_of(&doc, "initrd"), "ran", "{name}");
        let kiln = kiln_listing(&p);
        let reference = buildah.bud_listing(&p, &p.join("Dockerfile"), &[]);
        assert_eq!(
            diff(&kiln, &reference),
            "",
            "{name}: kiln and buildah bud differ"
        );
        assert!(!kiln.is_empty(), "{name}");
        built_count += 1;
    }
    assert!(built_count >= 3, "{built_count}");
}

#[test]
fn run_cache_mounts_persist_and_build_args_reach_run() {
    let w = World::new();
    let p = project(
        &w,
        "cache",
        "FROM scratch AS b\nARG N=1\nCOPY busybox /bin/busybox\n\
         RUN --mount=type=cache,target=/c [\"/bin/busybox\", \"sh\", \"-c\", \"echo $N >> /c/runs; /bin/busybox cp /c/runs /runs\"]\n\
         FROM scratch\nCOPY --from=b /runs /runs\n",
    );
    std::fs::copy("/bin/busybox", p.join("busybox")).unwrap();
    built(&w, &p, &[]);
    assert!(matches!(&kiln_listing(&p)["runs"], Desc::File(_, c) if c == b"1\n"));
    let doc = built(&w, &p, &["--build-arg", "N=2"]);
    assert_eq!(
        status_of(&doc, "rootfs/b:4"),
        "ran",
        "an ARG is in the RUN's key"
    );
    assert!(
        matches!(&kiln_listing(&p)["runs"], Desc::File(_, c) if c == b"1\n2\n"),
        "the cache mount kept the first run's file: {:?}",
        kiln_listing(&p)["runs"]
    );
    // Back to N=1: the first result is taken from the cache, not run again.
    let doc = built(&w, &p, &[]);
    assert_eq!(status_of(&doc, "rootfs/b:4"), "cached");
}

#[test]
fn plan_shows_every_step_of_a_dockerfile_and_cmd_and_env_reach_the_package() {
    let buildah = Buildah::new();
    let reg = registry_with_base(&buildah);
    let w = World::new();
    let p = multi_stage_project(&w, &reg, "plan");
    let out = w.kiln(&p).args(["plan", "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json(&out.stdout);
    let kinds: Vec<String> = steps(&doc)
        .iter()
        .map(|s| s["kind"].as_str().unwrap_or("").to_string())
        .collect();
    for k in [
        "image", "context", "workdir", "copy", "run", "rootfs", "initrd",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }

    // A kernel project whose rootfs is a Dockerfile: its ENV and CMD are the package's.
    let k = kernel_project(&w, "kernel", "");
    let kf = std::fs::read_to_string(k.join("Kraftfile")).unwrap();
    write(
        &k.join("Kraftfile"),
        kf.replace("rootfs: ./rootfs", "rootfs: ./Dockerfile"),
    );
    write(
        &k.join("Dockerfile"),
        "FROM scratch\nENV GREETING=hi LANG=C\nCOPY rootfs/ /\nENTRYPOINT [\"/bin/app\"]\nCMD [\"--port\", \"80\"]\n",
    );
    let out = w
        .kiln(&k)
        .args(["pkg", "--name", "unikraft.org/df:1", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let layout = w.scratch.path().join("layout");
    let out = w
        .kiln(&k)
        .args(["pkg", "export", "unikraft.org/df:1"])
        .arg(&layout)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let blob = |d: &str| -> Value {
        serde_json::from_slice(&read(
            &layout
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        ))
        .unwrap()
    };
    let index: Value = serde_json::from_slice(&read(&layout.join("index.json"))).unwrap();
    let mut m = blob(index["manifests"][0]["digest"].as_str().unwrap());
    if m["manifests"].is_array() {
        m = blob(m["manifests"][0]["digest"].as_str().unwrap());
    }
    let config = blob(m["config"]["digest"].as_str().unwrap());
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["/bin/app", "--port", "80"])
    );
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["GREETING=hi", "LANG=C"])
    );
}

#[test]
fn devices_and_fifos_of_an_image_are_left_out_and_explain_says_so() {
    let buildah = Buildah::new();
    let reg = Registry::start(Kind::Open);
    let fs = tempfile::tempdir().unwrap();
    let base = fs.path().join("devs");
    write(&base.join("etc/hostname"), "kiln\n");
    std::fs::create_dir_all(base.join("dev")).unwrap();
    sh(&base, "mknod dev/null c 1 3 && mkfifo dev/initctl");
    let r = format!("{}/devs:1", reg.addr);
    buildah.push_image(&base, &r, "oci", &[]);
    let w = World::new();
    let p = w.dir("devs");
    write(
        &p.join("Kraftfile"),
        format!("spec: v0.6\nname: demo\nruntime: base:latest\nrootfs: {r}\n"),
    );
    for _ in 0..2 {
        let out = w.kiln(&p).args(["build", "--explain"]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains("2 device or FIFO entries of the image are left out")
                && err.contains("dev/null")
                && err.contains("dev/initctl"),
            "--explain names them, on every build: {err}"
        );
    }
    let kiln = kiln_listing(&p);
    assert!(kiln.contains_key("etc/hostname") && kiln.contains_key("dev"));
    assert!(!kiln.contains_key("dev/null") && !kiln.contains_key("dev/initctl"));
}

/// The RUN Dockerfile of the cache-mount test, in a new project.
fn run_project(w: &World, name: &str) -> PathBuf {
    let p = project(
        w,
        name,
        &format!(
            "FROM scratch AS b\nCOPY busybox /bin/busybox\n\
             RUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo made > /made # {name}\"]\n\
             FROM scratch\nCOPY --from=b /made /made\n"
        ),
    );
    std::fs::copy("/bin/busybox", p.join("busybox")).unwrap();
    p
}

#[test]
fn with_kiln_buildkit_host_run_goes_to_buildkit_through_buildctl() {
    // BuildKit cannot run here (not in Debian, no network): tests/support/buildkit/buildctl
    // stands in for its client, taking only buildctl's documented flags.
    let w = World::new();
    let p = run_project(&w, "kit");
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/buildkit");
    let log = w.scratch.path().join("buildctl.log");
    let storage = w.scratch.path().join("fake-buildkit");
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap());
    let out = w
        .kiln(&p)
        .env("KILN_BUILDKIT_HOST", "tcp://127.0.0.1:1234")
        .env("PATH", &path)
        .env("FAKE_BUILDCTL_LOG", &log)
        .env("FAKE_BUILDKIT_STORAGE", &storage)
        .args(["build", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(matches!(&kiln_listing(&p)["made"], Desc::File(_, c) if c == b"made\n"));
    let calls: Vec<Value> = text(&read(&log))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(calls.len(), 1, "one RUN, one buildctl call: {calls:?}");
    let c = &calls[0];
    assert_eq!(c["global"]["addr"], "tcp://127.0.0.1:1234");
    assert_eq!(c["frontend"], "dockerfile.v0");
    assert_eq!(c["opts"]["platform"], "linux/amd64");
    assert_eq!(c["output"]["type"], "local");
    let context = c["locals"]["context"].as_str().unwrap();
    assert!(
        context.starts_with(&w.cache_dir().join("rootfs/state-").display().to_string()),
        "the builder gets the state before the RUN: {context}"
    );
    // The builder is in the RUN's key: buildah's result is not BuildKit's.
    let doc = built(&w, &p, &[]);
    assert_eq!(status_of(&doc, "rootfs/b:3"), "ran");

    // Asked for BuildKit without its client: an error saying what to install (another
    // project, another RUN: nothing is cached for it).
    let q = run_project(&w, "nokit");
    let out = w
        .kiln(&q)
        .env("KILN_BUILDKIT_HOST", "tcp://127.0.0.1:1234")
        .arg("build")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("Dockerfile:3: RUN: KILN_BUILDKIT_HOST is set") && err.contains("buildctl"),
        "{err}"
    );
}
