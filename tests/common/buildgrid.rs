//! BuildGrid (PyPI `buildgrid`, a real REAPI server) started on loopback as a cache-only
//! server: CAS, ByteStream and ActionCache on a disk storage, SHA-256 (the only function it
//! offers). `bgd` comes from the virtualenv scripts/test.sh makes (`target/test-venv`), or
//! `$KILN_TEST_BGD`. With `jwt`, it checks HS256 bearer tokens signed with a secret; tokens
//! are made with the venv's PyJWT.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running BuildGrid; stopped when dropped.
pub struct BuildGrid {
    child: Option<Child>,
    /// `grpc://127.0.0.1:PORT`.
    pub url: String,
    /// Config, log and `cas/` (the storage: `cas/cas/objects/<2 hex>/<rest>`).
    pub dir: tempfile::TempDir,
    port: u16,
}

/// The venv's `bin/` directory.
fn venv_bin() -> PathBuf {
    match std::env::var_os("KILN_TEST_BGD") {
        Some(p) => PathBuf::from(p)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin"),
    }
}

impl BuildGrid {
    /// Starts one; `jwt_secret` turns on bearer-token authorization.
    pub fn start(jwt_secret: Option<&str>) -> BuildGrid {
        let bgd = venv_bin().join("bgd");
        assert!(
            bgd.exists(),
            "{} is missing: scripts/test.sh makes the virtualenv with BuildGrid (or set \
             KILN_TEST_BGD)",
            bgd.display()
        );
        let dir = tempfile::tempdir().expect("buildgrid dir");
        let d = dir.path();
        let port = super::registry::free_port();
        let auth = match jwt_secret {
            Some(secret) => {
                std::fs::write(d.join("secret"), secret).unwrap();
                format!(
                    "authorization:\n  method: jwt\n  secret: {}/secret\n  algorithm: hs256\n",
                    d.display()
                )
            }
            None => String::new(),
        };
        let conf = format!(
            "server:\n  - !channel\n    address: \"127.0.0.1:{port}\"\n    insecure-mode: true\n\
             {auth}storages:\n  - !disk-storage &main\n    path: {}/cas\n\
             caches:\n  - !lru-action-cache &ac\n    storage: *main\n    max-cached-refs: 10000\n\
             \x20   allow-updates: true\n    cache-failed-actions: false\n\
             instances:\n  - name: ''\n    services:\n      - !action-cache\n        cache: *ac\n\
             \x20     - !cas\n        storage: *main\n      - !bytestream\n        storage: *main\n",
            d.display()
        );
        std::fs::write(d.join("cfg.yml"), conf).unwrap();
        let log = std::fs::File::create(d.join("log")).unwrap();
        let child = Command::new(&bgd)
            .args(["server", "start", "cfg.yml"])
            .current_dir(d)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start bgd");
        let bg = BuildGrid {
            child: Some(child),
            url: format!("grpc://127.0.0.1:{port}"),
            dir,
            port,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "BuildGrid did not start:\n{}",
                bg.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        bg
    }

    /// Its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// The stored blob with SHA-256 `hex`.
    pub fn blob_file(&self, hex: &str) -> PathBuf {
        self.dir
            .path()
            .join("cas/cas/objects")
            .join(&hex[..2])
            .join(&hex[2..])
    }

    /// Every stored blob.
    pub fn blobs(&self) -> Vec<PathBuf> {
        super::files_under(&self.dir.path().join("cas"))
    }

    /// Stops it: connections are refused from now on.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// An HS256 JWT signed with `secret` (made by the venv's PyJWT).
    pub fn token(secret: &str) -> String {
        let out = Command::new(venv_bin().join("python"))
            .args([
                "-c",
                "import jwt,sys,time; print(jwt.encode({'sub': 'kiln-test', 'exp': int(time.time()) + 3600}, sys.argv[1], algorithm='HS256'))",
                secret,
            ])
            .output()
            .expect("the venv's python");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

impl Drop for BuildGrid {
    fn drop(&mut self) {
        self.stop();
    }
}
