//! Spreading a compile step's C compiles over other machines with icecream (`icecc`), an
//! existing distributed-compile engine (Debian `icecc`).
//!
//! icecream ships the exact local compiler to its workers (an environment tarball made by
//! the local daemon), preprocesses on this machine and sends the result; the workers
//! compile it and send the object back. kiln only puts icecream's compiler wrappers
//! (`/usr/lib/icecc/bin/gcc` …) first on make's `PATH` and passes icecream's own `ICECC_*`
//! variables through make's cleared environment. Nothing of this reaches the action key:
//! the compiler is the one the key holds, and the objects are byte-identical to local ones
//! once gcc does not record its switches (`-gno-record-gcc-switches`, see `make.rs`;
//! icecream adds `-fdirectives-only` to the remote half of each compile).
//!
//! What kiln decides, once per build, at the first compile that runs (so a no-op build or
//! an all-cached one asks nobody anything):
//! - that icecream is installed and the local daemon (`iceccd`) answers on its socket;
//! - the scheduler's hosts and their job slots, asked on the scheduler's text interface
//!   (its port + 1, 8766 by default: `listcs`); the make jobserver then grows by that many
//!   tokens, so make runs local jobs plus remote slots at once;
//! - anything missing or unreachable: one message, and every compile stays local.
//!
//! A worker that dies mid-compile costs icecream a local recompile of that file; a compile
//! step whose distributed make still fails is run again once with local compiles
//! (`steps/kernel.rs`), so a flaky worker costs a retry, never a failed build. Only native
//! compilers are distributed: a cross compiler needs an icecream environment made for it
//! (`icecc-create-env`), which kiln does not make.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The scheduler's port when none is given (`icecc-scheduler -p`).
pub const SCHEDULER_PORT: u16 = 8765;

/// How long a probe of the daemon or the scheduler may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where Debian (and most distributions) put icecream's compiler wrappers.
const WRAPPER_DIRS: [&str; 2] = ["/usr/lib/icecc/bin", "/usr/libexec/icecc/bin"];

/// The local daemon's sockets, in the order the icecc client tries them (root daemon, then
/// a user's).
const DAEMON_SOCKETS: [&str; 2] = ["/var/run/icecc/iceccd.socket", "/run/icecc/iceccd.socket"];

/// The icecream configuration file that names the scheduler.
const ICECC_CONF: &str = "/etc/icecc/icecc.conf";

/// What the user asked for (`[distribute]`, `--distribute`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistributeSettings {
    /// The scheduler, `host[:port]`; default: `ICECC_SCHEDULER_HOST` of
    /// `/etc/icecc/icecc.conf`.
    pub scheduler: Option<String>,
    /// Remote job slots to add to `-j`; default: the scheduler's count.
    pub slots: Option<usize>,
}

/// icecream, as the build found it at its first compile.
#[derive(Debug, Clone)]
struct Active {
    /// The wrapper directory put first on make's `PATH`.
    wrappers: PathBuf,
    /// The slots the jobserver grew by.
    slots: usize,
}

/// The build's distribution: decided at the first compile, then shared by every target.
pub struct Distributor {
    settings: DistributeSettings,
    jobserver: Arc<jobserver::Client>,
    /// Where the local daemon may answer.
    sockets: Vec<PathBuf>,
    decided: OnceLock<Option<Active>>,
}

impl Distributor {
    /// A distributor for one build; `jobserver` is the build's, grown by the remote slots.
    pub fn new(settings: DistributeSettings, jobserver: Arc<jobserver::Client>) -> Distributor {
        Distributor {
            settings,
            jobserver,
            sockets: daemon_sockets(),
            decided: OnceLock::new(),
        }
    }

    /// The variables a compile's make gets to compile through icecream (`PATH` with the
    /// wrappers first, the caller's `ICECC_*`), or `None` to compile locally. The first call
    /// decides for the build and says what it decided, once. `cross` is the target's
    /// `CROSS_COMPILE`; `target` names it in the message about cross compilers.
    pub fn make_env(&self, target: &str, cross: &str) -> Option<Vec<(OsString, OsString)>> {
        let active = self.decided.get_or_init(|| self.decide()).as_ref()?;
        if !cross.is_empty() {
            eprintln!(
                "kiln: distribute: target {target} uses the cross compiler {cross}gcc, for which \
                 icecream needs an environment of its own (icecc-create-env); it compiles locally"
            );
            return None;
        }
        let mut path = OsString::from(&active.wrappers);
        if let Some(p) = std::env::var_os("PATH") {
            path.push(":");
            path.push(p);
        }
        let mut env = vec![(OsString::from("PATH"), path)];
        env.extend(std::env::vars_os().filter(|(k, _)| k.to_string_lossy().starts_with("ICECC_")));
        // Preprocessing stays here (icecream's default, said explicitly).
        if std::env::var_os("ICECC_REMOTE_CPP").is_none() {
            env.push(("ICECC_REMOTE_CPP".into(), "0".into()));
        }
        Some(env)
    }

    /// The remote slots in use (0 before the first compile or when compiling locally).
    pub fn slots(&self) -> usize {
        self.decided
            .get()
            .and_then(|a| a.as_ref())
            .map_or(0, |a| a.slots)
    }

    fn decide(&self) -> Option<Active> {
        match probe(&self.settings, &self.sockets) {
            Ok(active) => {
                for _ in 0..active.slots {
                    if self.jobserver.release_raw().is_err() {
                        break;
                    }
                }
                Some(active)
            }
            Err(why) => {
                eprintln!("kiln: distribute: {why}; compiling locally");
                None
            }
        }
    }
}

/// Checks that icecream can take compiles now, and counts the remote slots.
fn probe(settings: &DistributeSettings, sockets: &[PathBuf]) -> Result<Active, String> {
    let wrappers = WRAPPER_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|d| d.join("gcc").exists())
        .ok_or_else(|| {
            "icecream is not installed (no /usr/lib/icecc/bin/gcc; Debian: apt-get install icecc)"
                .to_string()
        })?;
    check_daemon(sockets)?;
    let scheduler = settings.scheduler.clone().or_else(configured_scheduler);
    let counted = match &scheduler {
        Some(s) => Some(scheduler_slots(s)?),
        None => None,
    };
    let slots = match (settings.slots, counted) {
        (Some(n), _) => n,
        (None, Some((n, _))) => n,
        (None, None) => {
            eprintln!(
                "kiln: distribute: no icecream scheduler named ([distribute] scheduler, or \
                 ICECC_SCHEDULER_HOST in {ICECC_CONF}), so -j is not grown (set [distribute] slots)"
            );
            0
        }
    };
    if counted.is_some_and(|(n, _)| n == 0) && settings.slots.is_none() {
        return Err(format!(
            "no host of the icecream scheduler at {} takes jobs",
            scheduler.unwrap_or_default()
        ));
    }
    let hosts = counted.map_or(String::new(), |(_, h)| {
        format!(" on {h} host{}", if h == 1 { "" } else { "s" })
    });
    let at = scheduler.map_or(String::new(), |s| format!(" (scheduler {s})"));
    eprintln!("kiln: distribute: icecream, {slots} remote slots{hosts}{at}");
    Ok(Active { wrappers, slots })
}

/// The local daemon's sockets, as the icecc client looks for them (`ICECC_TEST_SOCKET` alone
/// when set).
fn daemon_sockets() -> Vec<PathBuf> {
    if let Some(s) = std::env::var_os("ICECC_TEST_SOCKET") {
        return vec![PathBuf::from(s)];
    }
    let mut sockets: Vec<PathBuf> = DAEMON_SOCKETS.iter().map(PathBuf::from).collect();
    if let Some(home) = std::env::var_os("HOME") {
        sockets.push(Path::new(&home).join(".iceccd.socket"));
    }
    sockets
}

/// The local daemon answers on one of `sockets`.
fn check_daemon(sockets: &[PathBuf]) -> Result<(), String> {
    let mut last = String::from("no socket");
    for s in sockets {
        match std::os::unix::net::UnixStream::connect(s) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{}: {e}", s.display()),
        }
    }
    Err(format!(
        "the local icecream daemon (iceccd) does not answer ({last}); start it (systemctl start iceccd)"
    ))
}

/// `ICECC_SCHEDULER_HOST` of `/etc/icecc/icecc.conf`, if set.
fn configured_scheduler() -> Option<String> {
    let text = std::fs::read_to_string(ICECC_CONF).ok()?;
    scheduler_in_conf(&text)
}

fn scheduler_in_conf(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("ICECC_SCHEDULER_HOST="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .rfind(|v| !v.is_empty())
}

/// Asks the scheduler at `host[:port]` for its hosts: (slots of the hosts that take remote
/// jobs, how many such hosts).
fn scheduler_slots(scheduler: &str) -> Result<(usize, usize), String> {
    let (host, port) = match scheduler.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>().map_err(|_| {
                format!("the scheduler {scheduler:?} has no valid port; write host or host:port")
            })?,
        ),
        None => (scheduler, SCHEDULER_PORT),
    };
    let text_port = port.checked_add(1).ok_or("the scheduler port is 65535")?;
    let unreachable = |e: String| {
        format!(
            "the icecream scheduler at {host}:{port} is unreachable ({e} on its text port {text_port})"
        )
    };
    let addr = (host, text_port)
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
        .next()
        .ok_or_else(|| unreachable("no address".into()))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, PROBE_TIMEOUT).map_err(|e| unreachable(e.to_string()))?;
    let _ = stream.set_read_timeout(Some(PROBE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(PROBE_TIMEOUT));
    stream
        .write_all(b"listcs\r\nquit\r\n")
        .map_err(|e| unreachable(e.to_string()))?;
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    if !text.starts_with("200") {
        return Err(unreachable("no icecream answer".into()));
    }
    Ok(count_slots(&text))
}

/// Sums `jobs=used/max` over `listcs` lines of hosts that take remote jobs (a daemon started
/// with `--no-remote` shows port 0).
fn count_slots(listcs: &str) -> (usize, usize) {
    let mut slots = 0;
    let mut hosts = 0;
    for line in listcs.lines().filter(|l| l.starts_with(' ')) {
        let port = line
            .split_once('(')
            .and_then(|(_, r)| r.split_once(')'))
            .and_then(|(addr, _)| addr.rsplit_once(':'))
            .and_then(|(_, p)| p.parse::<u16>().ok());
        let max = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("jobs="))
            .and_then(|j| j.split_once('/'))
            .and_then(|(_, m)| m.parse::<usize>().ok());
        if let (Some(p), Some(m)) = (port, max)
            && p != 0
            && m > 0
        {
            slots += m;
            hosts += 1;
        }
    }
    (slots, hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listcs_counts_only_hosts_that_take_jobs() {
        let text = "200-ICECC 1.4.0: 12s uptime, 3 hosts, 0 jobs in queue (0 total).\n\
            200 Use 'help' for help and 'quit' to quit.\n \
            remote1 (127.0.0.1:29071) [x86_64] speed=0.00 jobs=0/2 load=16\n \
            local (127.0.0.1:0) [x86_64] speed=0.00 jobs=0/2 load=16\n \
            remote2 (127.0.0.1:29072) [x86_64] speed=0.00 jobs=1/4 load=16\n200 done\n";
        assert_eq!(count_slots(text), (6, 2));
        assert_eq!(count_slots("200 done\n"), (0, 0));
    }

    /// A scheduler's text port that answers `listcs` with `hosts` once.
    fn text_port(hosts: &'static str) -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
            let reply = format!("200-ICECC 1.4.0: 1s uptime\n200 Use 'help'\n{hosts}200 done\n");
            let _ = s.write_all(reply.as_bytes());
        });
        port
    }

    #[test]
    fn the_jobserver_grows_by_the_schedulers_slots_at_the_first_compile_only() {
        if !Path::new(WRAPPER_DIRS[0]).join("gcc").exists() {
            panic!("icecream is not installed (scripts/test.sh installs Debian's icecc)");
        }
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("iceccd.socket");
        let _daemon = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let port = text_port(" w1 (127.0.0.1:10245) [x86_64] speed=1 jobs=0/3 load=0\n");
        let js = Arc::new(jobserver::Client::new(2).unwrap());
        let settings = DistributeSettings {
            scheduler: Some(format!("127.0.0.1:{}", port - 1)),
            slots: None,
        };
        let mut d = Distributor::new(settings, js.clone());
        d.sockets = vec![sock];
        assert_eq!(d.slots(), 0, "nothing is asked before a compile");
        assert_eq!(js.available().unwrap(), 2);
        let env = d.make_env("qemu-x86_64", "").expect("distributed");
        assert_eq!(d.slots(), 3);
        assert_eq!(js.available().unwrap(), 5, "2 local jobs + 3 remote slots");
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .unwrap()
            .1
            .to_string_lossy()
            .into_owned();
        assert!(path.starts_with(WRAPPER_DIRS[0]), "{path}");
        // The second compile does not ask again (the fake answers once) nor grow it again.
        assert!(d.make_env("qemu-x86_64", "").is_some());
        assert_eq!(js.available().unwrap(), 5);
        // A cross target compiles locally.
        assert!(d.make_env("qemu-arm64", "aarch64-linux-gnu-").is_none());
    }

    #[test]
    fn the_scheduler_comes_from_icecc_conf() {
        let conf = "# comment\nICECC_NETNAME=\"\"\nICECC_SCHEDULER_HOST=\"sched.lan\"\n";
        assert_eq!(scheduler_in_conf(conf).as_deref(), Some("sched.lan"));
        assert_eq!(scheduler_in_conf("ICECC_SCHEDULER_HOST=\"\"\n"), None);
    }

    #[test]
    fn an_unreachable_scheduler_is_named() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = scheduler_slots(&format!("127.0.0.1:{}", port - 1)).unwrap_err();
        assert!(err.contains("unreachable"), "{err}");
        assert!(err.contains(&format!("127.0.0.1:{}", port - 1)), "{err}");
        let err = scheduler_slots("host:notaport").unwrap_err();
        assert!(err.contains("no valid port"), "{err}");
    }
}
