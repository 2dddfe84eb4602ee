//! nginx with its WebDAV module, started on loopback as a Bazel HTTP remote cache (the
//! reference server of that protocol: `GET`/`PUT`/`HEAD` of `/ac/…` and `/cas/…` files):
//! open, or behind Basic auth (an htpasswd file in nginx's `{PLAIN}` scheme) or a bearer
//! token. Its access log counts what kiln sent; its root is the stored entries.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Who may read and write.
pub enum Access {
    /// Anyone.
    Open,
    /// HTTP Basic for this user and password.
    Basic(&'static str, &'static str),
    /// `Authorization: Bearer <token>`.
    Bearer(&'static str),
}

/// A running nginx; stopped when dropped.
pub struct Nginx {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT/cache/`.
    pub url: String,
    /// Config, log, temp files, and `root/` (the stored entries under `root/cache/`).
    pub dir: tempfile::TempDir,
    port: u16,
}

impl Nginx {
    /// Starts one, waiting until it listens.
    pub fn start(access: Access) -> Nginx {
        let dir = tempfile::tempdir().expect("nginx dir");
        let d = dir.path();
        for sub in ["root/cache", "tmp"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        // Run as root, nginx's workers are `nobody`: they must reach and write these.
        for p in [d, &d.join("root"), &d.join("root/cache"), &d.join("tmp")] {
            super::chmod(p, 0o777);
        }
        let auth = match access {
            Access::Open => String::new(),
            Access::Basic(user, password) => {
                std::fs::write(d.join("htpasswd"), format!("{user}:{{PLAIN}}{password}\n"))
                    .unwrap();
                super::chmod(&d.join("htpasswd"), 0o644);
                format!(
                    "auth_basic kiln-test; auth_basic_user_file {}/htpasswd;",
                    d.display()
                )
            }
            Access::Bearer(token) => {
                format!("if ($http_authorization != \"Bearer {token}\") {{ return 401; }}")
            }
        };
        let port = super::registry::free_port();
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{}}\nhttp {{\n  access_log {d}/access.log;\n\
               client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n\
               fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
               server {{\n    listen 127.0.0.1:{port};\n    root {d}/root;\n\
                 client_max_body_size 0;\n    location /cache/ {{\n      {auth}\n\
                   dav_methods PUT;\n      create_full_put_path on;\n\
                   dav_access user:rw group:rw all:rw;\n    }}\n  }}\n}}\n",
            d = d.display()
        );
        std::fs::write(d.join("nginx.conf"), conf).unwrap();
        let mut n = Nginx {
            child: None,
            url: format!("http://127.0.0.1:{port}/cache/"),
            dir,
            port,
        };
        n.spawn();
        n
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let child = Command::new("nginx")
            .args(["-c", &d.join("nginx.conf").display().to_string()])
            .args(["-p", &d.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (scripts/test.sh installs it)");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "nginx did not start: {}",
                std::fs::read_to_string(d.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it (as a crashed or unplugged server: connections are refused).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM: the master stops its workers (a SIGKILLed master would leave its
            // worker listening) and exits.
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The access log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// How many requests of `method` the log records under `/cache/<kind>/`.
    pub fn count(&self, method: &str, kind: &str) -> usize {
        let needle = format!("\"{method} /cache/{kind}/");
        self.log().lines().filter(|l| l.contains(&needle)).count()
    }

    /// The stored files of `kind` (`ac` or `cas`).
    pub fn stored(&self, kind: &str) -> Vec<PathBuf> {
        let d = self.dir.path().join("root/cache").join(kind);
        let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The root of the stored entries.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}
