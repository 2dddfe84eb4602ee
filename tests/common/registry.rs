//! Debian's `docker-registry` (distribution 2.8) started on loopback for a test: open, with
//! htpasswd Basic auth, or behind TLS with a certificate the test makes; its access log, to
//! count what kiln sent; and a private HOME, so no credentials of the machine leak in.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the registry authenticates and talks.
pub enum Kind {
    /// Anyone may push and pull.
    Open,
    /// htpasswd (bcrypt) Basic auth for `user`/`password`.
    Basic { user: String, password: String },
    /// TLS with a certificate for 127.0.0.1 signed by a CA the test makes (`cert()`).
    Tls,
    /// Bearer tokens from a token server (tests/support/token_server.py) that takes
    /// `user`/`password` as Basic credentials, as Docker Hub and GHCR work.
    Token { user: String, password: String },
}

/// A running registry; killed when dropped.
pub struct Registry {
    child: Child,
    /// The token server of a [`Kind::Token`] registry.
    tokens: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Its directory: config, storage (`data/`), log, certificate.
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// Starts one, waiting until it listens.
    pub fn start(kind: Kind) -> Registry {
        let dir = tempfile::tempdir().expect("registry dir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut http = format!("http: {{addr: \"{addr}\"");
        let mut auth = String::new();
        let mut tokens = None;
        match &kind {
            Kind::Open => {}
            Kind::Basic { user, password } => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("htpasswd (apache2-utils) is installed");
                std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
                auth = format!(
                    "auth: {{htpasswd: {{realm: kiln-test, path: \"{}\"}}}}\n",
                    dir.path().join("htpasswd").display()
                );
            }
            Kind::Tls => {
                // A CA and a server certificate it signs (rustls refuses a self-signed
                // end-entity certificate, as browsers do).
                let d = dir.path();
                let run = |args: &[&str]| {
                    let ok = Command::new("openssl")
                        .args(args)
                        .current_dir(d)
                        .stderr(Stdio::null())
                        .stdout(Stdio::null())
                        .status()
                        .expect("openssl is installed");
                    assert!(ok.success(), "openssl {args:?}");
                };
                run(&[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=kiln test CA",
                    "-keyout",
                    "ca.key",
                    "-out",
                    "cert.pem",
                ]);
                run(&[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-keyout",
                    "key.pem",
                    "-out",
                    "server.csr",
                ]);
                std::fs::write(
                    d.join("ext.cnf"),
                    "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
                )
                .unwrap();
                run(&[
                    "x509",
                    "-req",
                    "-in",
                    "server.csr",
                    "-CA",
                    "cert.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    "ext.cnf",
                    "-out",
                    "server.pem",
                ]);
                http.push_str(&format!(
                    ", tls: {{certificate: \"{}\", key: \"{}\"}}",
                    d.join("server.pem").display(),
                    d.join("key.pem").display()
                ));
            }
            Kind::Token { user, password } => {
                let d = dir.path();
                let ok = Command::new("openssl")
                    .args([
                        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    ])
                    .args([
                        "-subj",
                        "/CN=kiln test token issuer",
                        "-keyout",
                        "token.key",
                        "-out",
                        "token.pem",
                    ])
                    .current_dir(d)
                    .stderr(Stdio::null())
                    .stdout(Stdio::null())
                    .status()
                    .expect("openssl is installed");
                assert!(ok.success());
                let script =
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/token_server.py");
                let portfile = d.join("token.port");
                let child = Command::new("python3")
                    .arg(script)
                    .args([d.join("token.key"), d.join("token.pem")])
                    .args([user, password, "kiln-test-issuer"])
                    .arg(&portfile)
                    .arg(d.join("token.log"))
                    .spawn()
                    .expect("python3 runs the token server");
                tokens = Some(child);
                let start = Instant::now();
                while !portfile.exists() {
                    assert!(
                        start.elapsed() < Duration::from_secs(20),
                        "the token server did not start"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                let port = std::fs::read_to_string(&portfile).unwrap();
                auth = format!(
                    "auth: {{token: {{realm: \"http://127.0.0.1:{port}/token\", service: kiln-test, issuer: \
                     kiln-test-issuer, rootcertbundle: \"{}\"}}}}\n",
                    d.join("token.pem").display()
                );
            }
        }
        http.push('}');
        let config = format!(
            "version: 0.1\nlog: {{level: info, formatter: text}}\nstorage: {{filesystem: \
             {{rootdirectory: \"{}\"}}, delete: {{enabled: true}}}}\n{http}\n{auth}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry is installed (apt-get install docker-registry)");
        let r = Registry {
            child,
            tokens,
            addr,
            dir,
        };
        r.wait_listening();
        r
    }

    fn wait_listening(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if self.log().contains("listening on") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("docker-registry did not start:\n{}", self.log());
    }

    /// The log so far (logrus lines and access lines).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// How many blob uploads finished (`PUT …/blobs/uploads/…digest=… 201`) for `repo`.
    pub fn uploads(&self, repo: &str) -> usize {
        let needle = format!("\"PUT /v2/{repo}/blobs/uploads/");
        self.log()
            .lines()
            .filter(|l| l.contains(&needle) && l.contains("digest=sha256") && l.contains("\" 201 "))
            .count()
    }

    /// The CA certificate that signed the server's (TLS registries).
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The file holding blob `hex` in the registry's storage.
    pub fn blob_file(&self, hex: &str) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Stops it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(t) = &mut self.tokens {
            let _ = t.kill();
            let _ = t.wait();
        }
    }

    /// The token server's request log (token registries).
    pub fn token_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("token.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A private HOME with empty credential locations, set on `cmd`.
pub fn private_home(cmd: &mut assert_cmd::Command, home: &Path) {
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR");
}

/// `skopeo ARGS`, which must succeed: its stdout.
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
