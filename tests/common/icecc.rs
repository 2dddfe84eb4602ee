//! icecream on loopback for the distributed-compile tests: a scheduler, this machine's
//! daemon (`--no-remote`: it only hands jobs out) and worker daemons, each with its own
//! port, environment directory and socket, as icecream's own test suite runs them
//! (`ICECC_TESTS`, `ICECC_TEST_SOCKET`; `ICECC_TEST_REMOTEBUILD` makes jobs given to a
//! 127.0.0.1 worker really go to it). The workers' logs say which files they compiled.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running icecream network; stopped when dropped.
pub struct Icecream {
    /// Sockets, environments and logs.
    pub dir: tempfile::TempDir,
    /// The scheduler's port (its text interface is the next one).
    pub port: u16,
    procs: Vec<(String, Child)>,
}

/// A free port `p`, with `p + 1` free too (a scheduler's text port), below Linux's ephemeral range (32768 and up): icecream binds without
/// SO_REUSEADDR, so a port the kernel just handed to a client connection, now in
/// TIME_WAIT, would fail its bind although a test's own probe (with SO_REUSEADDR) succeeds.
fn unused_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    loop {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = 20_000
            + ((std::process::id() as u16)
                .wrapping_mul(97)
                .wrapping_add(step * 7))
                % 12_000;
        let free = |p: u16| {
            TcpStream::connect(("127.0.0.1", p)).is_err()
                && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
        };
        if free(p) && free(p + 1) {
            return p;
        }
    }
}

impl Icecream {
    /// A scheduler, the local daemon and `workers`, waiting until the scheduler lists them.
    pub fn start(workers: &[&str]) -> Icecream {
        let dir = tempfile::tempdir().unwrap();
        // Run as root, the daemons drop to user icecc, which makes its environment dirs here.
        super::chmod(dir.path(), 0o777);
        let port = unused_port();
        let net = format!("kiln{port}");
        let mut ice = Icecream {
            dir,
            port,
            procs: Vec::new(),
        };
        let sched = Command::new("icecc-scheduler")
            .args(["-p", &port.to_string(), "-n", &net, "-l"])
            .arg(ice.log_path("scheduler"))
            .arg("-vvv")
            .envs(ice.test_env())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start icecc-scheduler (Debian: apt-get install icecc)");
        ice.procs.push(("scheduler".into(), sched));
        ice.wait_for_listing(&[]);
        ice.daemon("local", true);
        for w in workers {
            ice.daemon(w, false);
        }
        ice.wait_for_listing(workers);
        ice
    }

    fn test_env(&self) -> Vec<(String, String)> {
        vec![
            ("ICECC_TESTS".into(), "1".into()),
            (
                "ICECC_TEST_SCHEDULER_PORTS".into(),
                format!("{}:{}", self.port, self.port + 1),
            ),
        ]
    }

    fn daemon(&mut self, name: &str, local: bool) {
        let d = self.dir.path();
        let mut cmd = Command::new("iceccd");
        cmd.args(["-p", &unused_port().to_string(), "-N", name, "-n"])
            .arg(format!("kiln{}", self.port))
            .arg("-b")
            .arg(d.join(format!("env-{name}")))
            .arg("-s")
            .arg(self.scheduler())
            .arg("-l")
            .arg(self.log_path(name))
            .arg("-vvv")
            .envs(self.test_env())
            .env("ICECC_TEST_SOCKET", d.join(format!("socket-{name}")))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if local {
            cmd.arg("--no-remote");
        }
        let child = cmd.spawn().expect("start iceccd");
        self.procs.push((name.to_string(), child));
    }

    /// `127.0.0.1:PORT`.
    pub fn scheduler(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What a client of this network needs in its environment.
    pub fn client_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "ICECC_TEST_SOCKET".into(),
                self.dir.path().join("socket-local").display().to_string(),
            ),
            ("ICECC_TEST_REMOTEBUILD".into(), "1".into()),
        ]
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_path(name)).unwrap_or_default()
    }

    /// The files worker `name` compiled (its log's "remote compile for file" lines).
    pub fn compiled_by(&self, name: &str) -> Vec<String> {
        self.log(name)
            .lines()
            .filter_map(|l| {
                l.split_once("remote compile for file ")
                    .map(|(_, f)| f.trim().to_string())
            })
            .collect()
    }

    /// The scheduler's `listcs` answer.
    pub fn listing(&self) -> String {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port + 1)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.write_all(b"listcs\r\nquit\r\n");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
    }

    /// Waits until the scheduler answers and lists every one of `workers` (daemons take a
    /// few seconds to log in).
    fn wait_for_listing(&self, workers: &[&str]) {
        let start = Instant::now();
        loop {
            let text = self.listing();
            if text.starts_with("200") && workers.iter().all(|w| text.contains(&format!(" {w} (")))
            {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "icecream did not come up:\n{text}\n{}",
                self.log("scheduler")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills daemon `name` and the compiles it is running (its process group) at once.
    pub fn kill(&mut self, name: &str) {
        if let Some((_, child)) = self.procs.iter_mut().find(|(n, _)| n == name) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Icecream {
    fn drop(&mut self) {
        let names: Vec<String> = self.procs.iter().map(|(n, _)| n.clone()).collect();
        for n in names {
            self.kill(&n);
        }
    }
}
