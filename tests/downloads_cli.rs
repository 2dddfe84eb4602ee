//! Libraries that download their upstream sources, built offline once cached: make's fetch
//! rules (the test kernel has Unikraft's) are served from kiln's download and git caches,
//! against a loopback HTTP server started by the test (`tests/support/http_server.py`,
//! which logs every request) and a git repository over file://.
//!
//! Checked: a second build, and a build of a second app using the same library, make zero
//! requests; `kiln fetch`, then the server stopped, then `kiln build --offline` from a clean
//! project works; a second `kiln fetch` makes no request; a server that changes the bytes
//! behind a URL is found by `kiln fetch --refresh`:
//! `--locked` fails naming the URL, otherwise the lock moves and the compile reruns with
//! `--explain` saying why; a truncated download, a 404 and a dead server each give a clear
//! error and leave nothing in the download cache; two targets of one build and a second kiln
//! started meanwhile make one request for a slow download between them, the others waiting,
//! and the slow download shows progress. A fetch step taken from the remote cache brings its
//! archives into the second machine's download cache, so a later edit builds there offline;
//! and an app with a cloned library has the same compile key whatever the cache directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Std};
use std::time::{Duration, Instant};

use common::*;

/// The loopback HTTP server, stopped on drop.
struct Server {
    child: Child,
    port: u16,
    root: PathBuf,
    log: PathBuf,
}

impl Server {
    fn start(w: &World) -> Server {
        let root = w.dir("www");
        let dir = w.dir("server");
        let (portfile, log) = (dir.join("port"), dir.join("requests.log"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/http_server.py");
        let child = Std::new("python3")
            .arg(script)
            .args([&root, &portfile, &log])
            .spawn()
            .expect("python3 runs the test server");
        let start = Instant::now();
        while !portfile.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let port = text(&read(&portfile)).trim().parse().expect("a port");
        Server {
            child,
            port,
            root,
            log,
        }
    }
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
    fn requests(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .count()
    }
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A tarball `greet-1.0.tar.gz` in the server's root whose `greet.c` prints `message`.
fn publish_tarball(server: &Server, w: &World, message: &str) {
    let src = w.dir("tarball-src/greet-1.0");
    write(
        &src.join("greet.c"),
        format!(
            "#include <testkernel.h>\nvoid greet(void) {{ tk_puts(\"app: {message}\\n\"); }}\n"
        ),
    );
    sh(
        src.parent().unwrap(),
        &format!(
            "tar --sort=name --mtime=@0 --owner=0 --group=0 -czf {}/greet-1.0.tar.gz greet-1.0",
            server.root.display()
        ),
    );
}

/// A git repository with `wave.c`, tagged v1.
fn wave_repo(w: &World) -> PathBuf {
    let repo = w.dir("wave-repo");
    write(
        &repo.join("wave.c"),
        "#include <testkernel.h>\nvoid wave(void) { tk_puts(\"app: wave from the clone\\n\"); }\n",
    );
    sh(
        &repo,
        "git init -q -b main . && git add -A && git -c user.name=t -c user.email=t@t \
         commit -qm wave && git tag v1",
    );
    repo
}

/// Library directories: `libgreet` fetches the tarball, `libwave` clones the repository.
fn libraries(w: &World, server: &Server, repo: &Path) -> (PathBuf, PathBuf) {
    libraries_from(w, server, repo, "greet-1.0.tar.gz")
}

/// The same, `libgreet` fetching the tarball from the server's `path`.
fn libraries_from(w: &World, server: &Server, repo: &Path, path: &str) -> (PathBuf, PathBuf) {
    let greet = w.dir("libs/libgreet");
    write(
        &greet.join("Makefile.uk"),
        format!(
            "$(eval $(call addlib,libgreet))\n\
             $(eval $(call fetch,libgreet,{}))\n\
             LIBGREET_SRCS-y += $(LIBGREET_ORIGIN)/greet-1.0/greet.c\n",
            server.url(path)
        ),
    );
    let wave = w.dir("libs/libwave");
    write(
        &wave.join("Makefile.uk"),
        format!(
            "$(eval $(call addlib,libwave))\n\
             $(eval $(call clone,libwave,file://{},v1))\n\
             LIBWAVE_SRCS-y += $(LIBWAVE_ORIGIN)/wave.c\n",
            repo.display()
        ),
    );
    (greet, wave)
}

/// An app `name` using both libraries (local sources), on qemu/x86_64.
fn app(w: &World, name: &str, greet: &Path, wave: &Path) -> PathBuf {
    let p = w.dir(name);
    write(
        &p.join("Kraftfile"),
        format!(
            "spec: v0.6\nname: {name}\nunikraft:\n  source: {}\nlibraries:\n  libgreet:\n    \
             source: {}\n  libwave:\n    source: {}\ntargets:\n  - qemu/x86_64\n",
            testkernel_dir().display(),
            greet.display(),
            wave.display()
        ),
    );
    write(
        &p.join("main.c"),
        "void greet(void);\nvoid wave(void);\nint app_main(const char *a) { (void)a; greet(); \
         wave(); return 0; }\n",
    );
    p
}

fn boot_line(p: &Path, name: &str, prefix: &str) -> Vec<String> {
    let kernel = p.join(format!(".unikraft/build/{name}_qemu-x86_64"));
    let (code, serial) = boot_x86(&kernel, None, "");
    assert_eq!(code, 83, "{serial}");
    serial
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(String::from)
        .collect()
}

#[test]
fn archives_are_fetched_once_per_machine_and_built_offline() {
    let w = World::new();
    let server = Server::start(&w);
    publish_tarball(&server, &w, "hello from the tarball");
    let repo = wave_repo(&w);
    let (greet, wave) = libraries(&w, &server, &repo);
    let a = app(&w, "alpha", &greet, &wave);
    let (code, doc, err) = build_json(&w, &a, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_of(&doc, "qemu-x86_64/fetch"), "ran");
    assert_eq!(server.requests(), 1, "one download");
    assert_eq!(
        boot_line(&a, "alpha", "app: "),
        ["app: hello from the tarball", "app: wave from the clone"]
    );
    let lock = text(&read(&a.join("Kraftfile.lock")));
    assert!(
        lock.contains(&server.url("greet-1.0.tar.gz")) && lock.contains("[[clone]]"),
        "{lock}"
    );
    // The same app again (from scratch), and a second app with the same library: no request.
    std::fs::remove_dir_all(a.join(".unikraft")).unwrap();
    let (code, _, err) = build_json(&w, &a, &[]);
    assert_eq!(code, 0, "{err}");
    let b = app(&w, "beta", &greet, &wave);
    let (code, _, err) = build_json(&w, &b, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        server.requests(),
        1,
        "nothing is downloaded twice on one machine"
    );
}

#[test]
fn fetch_then_offline_from_a_clean_project_and_a_changed_server() {
    let w = World::new();
    let mut server = Server::start(&w);
    publish_tarball(&server, &w, "first bytes");
    let repo = wave_repo(&w);
    let (greet, wave) = libraries(&w, &server, &repo);
    let a = app(&w, "alpha", &greet, &wave);
    let out = w.kiln(&a).arg("fetch").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(server.requests(), 1);
    let (code, _, err) = build_json(&w, &a, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(server.requests(), 1, "the build took what fetch downloaded");
    assert_eq!(boot_line(&a, "alpha", "app: ")[0], "app: first bytes");

    // A second fetch finds everything cached: no request.
    let out = w.kiln(&a).arg("fetch").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(server.requests(), 1, "the second fetch asked the server");

    // The server changes the bytes behind the URL: a plain fetch trusts the cache, but
    // `kiln fetch --refresh --locked` asks again and fails naming the URL.
    publish_tarball(&server, &w, "other bytes");
    let out = w.kiln(&a).arg("fetch").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(server.requests(), 1);
    let out = w
        .kiln(&a)
        .args(["fetch", "--refresh", "--locked"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&server.url("greet-1.0.tar.gz")), "{err}");
    // A machine with an empty cache (a CI runner) must download: `kiln build --locked` there
    // gets the other bytes and fails naming the URL and both digests.
    let runner = World::new();
    let ci = runner.dir("checkout");
    sh(
        &ci,
        &format!("cp -a {}/. . && rm -rf .unikraft", a.display()),
    );
    let out = runner
        .kiln(&ci)
        .args(["build", "--locked"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let pinned = text(&read(&a.join("Kraftfile.lock")));
    let pinned_sha = pinned
        .lines()
        .find_map(|l| l.strip_prefix("sha256 = \""))
        .map(|l| l.trim_end_matches('"').to_string())
        .expect("a pinned sha256");
    assert!(
        err.contains(&server.url("greet-1.0.tar.gz")) && err.contains(&pinned_sha),
        "{err}"
    );
    assert_eq!(
        text(&read(&ci.join("Kraftfile.lock"))),
        pinned,
        "--locked left the lock alone"
    );

    // Without --locked the lock moves, and the next build compiles the new bytes, saying why.
    let out = w.kiln(&a).args(["fetch", "--refresh"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (code, _, err) = build_json(&w, &a, &["--explain"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("ran        qemu-x86_64/compile")
            && err.contains("input `qemu-x86_64/fetch` changed"),
        "{err}"
    );
    assert_eq!(boot_line(&a, "alpha", "app: ")[0], "app: other bytes");

    // The server stops; a clean checkout of the project builds offline from the caches.
    server.stop();
    let c = w.dir("clean");
    sh(
        &c,
        &format!("cp -a {}/. . && rm -rf .unikraft", a.display()),
    );
    let (code, _, err) = build_json(&w, &c, &["--offline"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(boot_line(&c, "alpha", "app: ")[0], "app: other bytes");
}

#[test]
fn a_bad_download_is_a_clear_error_and_caches_nothing() {
    let w = World::new();
    let mut server = Server::start(&w);
    publish_tarball(&server, &w, "hello");
    let repo = wave_repo(&w);
    let cases = [
        ("truncated/greet-1.0.tar.gz", "cut short"),
        ("missing-1.0.tar.gz", "404"),
    ];
    for (path, what) in cases {
        let slug = what.replace(' ', "-");
        let lib = w.dir(&format!("libs-{slug}/libgreet"));
        write(
            &lib.join("Makefile.uk"),
            format!(
                "$(eval $(call addlib,libgreet))\n$(eval $(call fetchas,libgreet,{},greet-1.0.tar.gz))\n\
                 LIBGREET_SRCS-y += $(LIBGREET_ORIGIN)/greet-1.0/greet.c\n",
                server.url(path)
            ),
        );
        let (_, wave) = libraries(&w, &server, &repo);
        let p = app(&w, &format!("app-{slug}"), &lib, &wave);
        let (code, doc, err) = build_json(&w, &p, &[]);
        assert_eq!(code, 1, "{what}: {err}");
        assert_eq!(status_of(&doc, "qemu-x86_64/fetch"), "failed", "{what}");
        assert!(
            err.contains(&server.url(path)) && err.contains(what),
            "{what}: {err}"
        );
    }
    server.stop();
    let (greet, wave) = libraries(&w, &server, &repo);
    let p = app(&w, "app-dead", &greet, &wave);
    let (code, _, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&server.url("greet-1.0.tar.gz")), "{err}");
    // Nothing half-written was kept.
    let files = files_under(&w.cache_dir().join("downloads/files"));
    assert!(files.is_empty(), "{files:?}");
    // Offline with nothing cached: unresolved, naming the URL and what fetches it.
    let (code, doc, err) = build_json(&w, &p, &["--offline"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(status_of(&doc, "qemu-x86_64/fetch"), "unresolved");
    assert!(
        err.contains(&server.url("greet-1.0.tar.gz")) && err.contains("kiln fetch"),
        "{err}"
    );
}

/// The path of the tarball the server sends slowly.
const SLOW: &str = "slow/greet-1.0.tar.gz";

/// A server sending the library's tarball slowly, and the libraries that fetch it.
fn slow_libraries(w: &World) -> (Server, PathBuf, PathBuf) {
    let server = Server::start(w);
    publish_tarball(&server, w, "slowly");
    let repo = wave_repo(w);
    let (greet, wave) = libraries_from(w, &server, &repo, SLOW);
    (server, greet, wave)
}

#[test]
fn parallel_targets_and_processes_share_one_slow_download_with_progress() {
    let w = World::new();
    let (server, greet, wave) = slow_libraries(&w);
    let path = SLOW;
    let a = app(&w, "alpha", &greet, &wave);
    let kraftfile = text(&read(&a.join("Kraftfile")));
    write(
        &a.join("Kraftfile"),
        kraftfile.replace("  - qemu/x86_64\n", "  - qemu/x86_64\n  - fc/x86_64\n"),
    );
    let b = app(&w, "beta", &greet, &wave);
    let fetch = |p: &Path| {
        kiln_std(w.cache_dir(), p)
            .args(["fetch", "-j", "2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start kiln fetch")
    };
    // alpha's two targets fetch at once; once the download has begun, a second kiln starts.
    let first = fetch(&a);
    let start = Instant::now();
    while server.requests() == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "no request came");
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = fetch(&b);
    let (first, second) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    let (err_a, err_b) = (text(&first.stderr), text(&second.stderr));
    assert!(first.status.success(), "{err_a}");
    assert!(second.status.success(), "{err_b}");
    assert_eq!(
        server.requests(),
        1,
        "one request between them:\n{err_a}\n{err_b}"
    );
    let url = server.url(path);
    // Progress: a line while it comes (non-terminal: the first after a second), one at the end.
    let progress = format!("kiln: downloading {url}: ");
    let tarball = std::fs::metadata(server.root.join("greet-1.0.tar.gz"))
        .unwrap()
        .len();
    let of = format!(" B of {tarball} B (");
    assert!(
        err_a
            .lines()
            .any(|l| l.starts_with(&progress) && l.contains(&of) && l.contains("%), ")),
        "{err_a}"
    );
    assert!(
        err_a.contains(&format!("kiln: downloaded {url}: ")),
        "{err_a}"
    );
    assert!(
        err_b.contains(&format!("kiln: waiting for another download of {url}")),
        "the second kiln waited for the first: {err_b}"
    );
    assert!(!err_b.contains(&progress), "{err_b}");
    // Both locks pin the same bytes; the cache has one copy.
    let sha = |p: &Path| {
        let lock = text(&read(&p.join("Kraftfile.lock")));
        lock.lines()
            .find(|l| l.starts_with("sha256 = "))
            .map(String::from)
            .unwrap_or_else(|| panic!("no sha256 in {lock}"))
    };
    assert_eq!(sha(&a), sha(&b));
    assert_eq!(files_under(&w.cache_dir().join("downloads/files")).len(), 1);
}

/// An app using `libgreet` only (its tarball is a download, no clone), in `dir`.
fn greet_app(dir: &Path, greet: &Path, greeting: &str) {
    write(
        &dir.join("Kraftfile"),
        format!(
            "spec: v0.6\nname: greeter\nunikraft:\n  source: {}\nlibraries:\n  libgreet:\n    \
             source: {}\ntargets:\n  - qemu/x86_64\n",
            testkernel_dir().display(),
            greet.display()
        ),
    );
    write(
        &dir.join("main.c"),
        format!(
            "void greet(void);\nint app_main(const char *a) {{ (void)a; greet(); \
             /* {greeting} */ return 0; }}\n"
        ),
    );
}

#[test]
fn a_fetch_taken_from_the_remote_cache_brings_its_archives_to_this_machine() {
    let w = World::new();
    let server = Server::start(&w);
    publish_tarball(&server, &w, "hello from the tarball");
    let repo = wave_repo(&w);
    let (greet, _) = libraries(&w, &server, &repo);
    let cache = common::nginx::Nginx::start(common::nginx::Access::Open);
    let a = w.dir("machine-a/app");
    greet_app(&a, &greet, "v1");
    let (code, doc, err) = build_json(&w, &a, &["--remote-cache", &cache.url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        step(&doc, "qemu-x86_64/fetch")["remote"],
        "remote miss, uploaded"
    );
    assert_eq!(server.requests(), 1);

    // Another machine: its own cache (no archive in it) and path.
    let other = tempfile::tempdir().unwrap();
    let b = w.dir("machine-b/elsewhere/app");
    greet_app(&b, &greet, "v1");
    let (code, doc, err) =
        build_json_with(kiln_cmd(other.path(), &b), &["--remote-cache", &cache.url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(step(&doc, "qemu-x86_64/fetch")["remote"], "remote hit");
    assert_eq!(step(&doc, "qemu-x86_64/compile")["remote"], "remote hit");
    // The hit brought the archive into this machine's download cache (one more request).
    assert_eq!(server.requests(), 2);
    // So an edit builds here, offline, with the server gone.
    let mut server = server;
    server.stop();
    greet_app(&b, &greet, "v2");
    let (code, doc, err) = build_json_with(kiln_cmd(other.path(), &b), &["--offline"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_of(&doc, "qemu-x86_64/compile"), "ran");
    assert_eq!(
        boot_line(&b, "greeter", "app: "),
        ["app: hello from the tarball"]
    );
}

#[test]
fn the_compile_key_of_an_app_with_a_cloned_library_is_the_same_for_any_cache_dir() {
    let w = World::new();
    let server = Server::start(&w);
    publish_tarball(&server, &w, "hello from the tarball");
    let repo = wave_repo(&w);
    let (greet, wave) = libraries(&w, &server, &repo);
    let a = app(&w, "alpha", &greet, &wave);
    let (code, doc_a, err) = build_json(&w, &a, &[]);
    assert_eq!(code, 0, "{err}");
    // Another cache directory (another machine's), another checkout path of the app.
    let other = tempfile::tempdir().unwrap();
    let b = w.dir("elsewhere/deeper");
    for f in ["Kraftfile", "main.c"] {
        std::fs::copy(a.join(f), b.join(f)).unwrap();
    }
    let (code, doc_b, err) = build_json_with(kiln_cmd(other.path(), &b), &[]);
    assert_eq!(code, 0, "{err}");
    for id in ["qemu-x86_64/fetch", "qemu-x86_64/compile"] {
        assert_eq!(step(&doc_a, id)["key"], step(&doc_b, id)["key"], "{id}");
    }
    assert_eq!(
        boot_line(&b, "alpha", "app: "),
        ["app: hello from the tarball", "app: wave from the clone"]
    );
}

#[test]
fn a_slow_download_on_a_terminal_is_a_live_line_with_bytes_and_rate() {
    let w = World::new();
    let (server, greet, wave) = slow_libraries(&w);
    let path = SLOW;
    let p = app(&w, "live", &greet, &wave);
    let out = w
        .kiln(&p)
        .args(["fetch", "--progress", "tty"])
        .output()
        .expect("run kiln");
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let url = server.url(path);
    // Redrawn in place (`--progress tty` draws even into this pipe), with bytes and rate.
    assert!(err.contains("\x1b["), "{err:?}");
    let live = err
        .split(['\r', '\n'])
        .find(|l| l.contains(&format!("kiln: downloading {url}: ")) && l.contains("/s"))
        .unwrap_or_else(|| panic!("no live download line: {err:?}"));
    assert!(live.contains(" B of ") || live.contains("iB of "), "{live}");
    assert!(
        err.contains(&format!("kiln: downloaded {url}: ")),
        "{err:?}"
    );
}
