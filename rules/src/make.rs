//! Running Unikraft's make: the command line, a clean environment, the shared jobserver, and
//! a log whose tail becomes the error message when make fails.
//!
//! Every call passes the same `A= L= O= C= N=` (N= on every call: without it the config
//! targets and the build disagree on the name and everything rebuilds). make's environment is
//! cleared down to PATH, HOME and `LC_ALL=C`, with TMPDIR a folder of the work directory, so nothing outside the action key (a
//! user's CFLAGS, a stray MAKEFLAGS) can change what it builds. Parallelism comes from one
//! GNU make jobserver per kiln process: kiln takes a token before starting make (make's own
//! implicit job) and make takes more from the pipe, so all targets building at once never
//! run more than `-j` jobs in total.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Lines of make's output shown when it fails.
const TAIL_LINES: usize = 25;

/// The work directory's folder for the temporary files of make's children (`TMPDIR`).
pub const TMP_DIR: &str = ".kiln-tmp";

/// The directories and names of one target's make calls.
#[derive(Debug, Clone)]
pub struct MakeSetup {
    /// The Unikraft core (`make -C`).
    pub core: PathBuf,
    /// The application (`A=`).
    pub app: PathBuf,
    /// Libraries (`L=`, joined with `:`), in a fixed order.
    pub libs: Vec<PathBuf>,
    /// The per-target work directory (`O=`; `C=` is `<work>/.config`).
    pub work: PathBuf,
    /// `N=`.
    pub name: String,
    /// `CROSS_COMPILE=`, empty for native builds.
    pub cross: String,
    /// The build date written into the kernel (`SOURCE_DATE_EPOCH`, or 0).
    pub source_date_epoch: u32,
    /// `UK_FULLVERSION=`, the version string the kernel embeds (see `steps/kernel.rs`).
    pub full_version: Option<String>,
}

/// make failed, or could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    /// make exited non-zero.
    #[error("make {goal} failed ({status}); the last lines of its output:\n{tail}\nfull log: {}", log.display())]
    Failed {
        /// The goal (`defconfig`, `build`).
        goal: String,
        /// The exit status.
        status: String,
        /// The last lines of the log.
        tail: String,
        /// Where the whole log is.
        log: PathBuf,
    },
    /// make or the log could not be started or written.
    #[error("cannot run make ({what}): {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl MakeSetup {
    /// `make -C core A= L= O= C= N= [extra] [goal]` with a clean environment.
    pub fn command(&self, goal: Option<&str>, extra: &[String]) -> Command {
        let mut cmd = Command::new("make");
        cmd.arg("-C").arg(&self.core);
        cmd.arg(format!("A={}", self.app.display()));
        if !self.libs.is_empty() {
            let libs: Vec<String> = self.libs.iter().map(|l| l.display().to_string()).collect();
            cmd.arg(format!("L={}", libs.join(":")));
        }
        cmd.arg(format!("O={}", self.work.display()));
        cmd.arg(format!("C={}", self.work.join(".config").display()));
        cmd.arg(format!("N={}", self.name));
        if !self.cross.is_empty() {
            cmd.arg(format!("CROSS_COMPILE={}", self.cross));
        }
        cmd.args(self.reproducibility_args());
        cmd.args(extra);
        cmd.args(goal);
        cmd.env_clear();
        for var in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd.env("LC_ALL", "C");
        cmd
    }
}

impl MakeSetup {
    /// The build's directories, one per line, for keys that must depend on them.
    pub fn paths_text(&self) -> String {
        let mut dirs = vec![&self.work, &self.app, &self.core];
        dirs.extend(&self.libs);
        dirs.iter().map(|d| format!("{}\n", d.display())).collect()
    }

    /// Variables that make Unikraft's output independent of where and when it is built, and
    /// of who builds it. Every `$(shell …)` of Unikraft's Makefile whose output can reach the
    /// kernel is pinned here (a command-line variable overrides the Makefile's assignment):
    /// - `HOSTUTC` (`date`, the compile date uklibid embeds), from `SOURCE_DATE_EPOCH`;
    /// - `UK_FULLVERSION` (version.mk plus `support/scripts/gitsha1`, i.e. the HEAD of any git
    ///   repository that encloses the core; in the boot banner and uklibid), decided by kiln;
    /// - `HOSTNAME` and `HOSTUSER` (`hostname -s`, `whoami`; embedded with the non-default
    ///   `CONFIG_LIBUKLIBID_INFO_COMPILEDBY_HOST`), as `kiln`;
    /// - not `GZIP`: a variable on make's command line is exported to every recipe, and gzip
    ///   reads a `GZIP` environment variable as its options, so `GZIP=gzip -n` breaks every
    ///   `tar -z` of the fetch rules. The `.config` that `CONFIG_LIBUKLIBID_INFO_UKCONFIGGZ`
    ///   embeds therefore carries its mtime in the gzip header, and its paths: with that
    ///   (non-default) option, the keys hold the paths, and the kernel is not reproducible;
    /// - `-ffile-prefix-map` for every directory whose path would otherwise end up in debug
    ///   information and `__FILE__` strings;
    /// - `-gno-record-gcc-switches`, so the debug information holds no command line.
    ///
    /// The other `$(shell …)`s name host tools (`which gcc`, `uname`) or the compiler's
    /// version, which the key already holds.
    fn reproducibility_args(&self) -> Vec<String> {
        let mut maps = vec![
            (self.work.clone(), "/kiln/work".to_string()),
            (self.app.clone(), "/kiln/app".to_string()),
            (self.core.clone(), "/kiln/unikraft".to_string()),
        ];
        for (i, lib) in self.libs.iter().enumerate() {
            maps.push((lib.clone(), format!("/kiln/lib{i}")));
        }
        // gcc uses the last map that matches a path, and these directories nest (the work
        // directory is inside the application's): the longest prefixes go last, so every
        // path is named after the innermost directory that holds it, wherever the project
        // and its work directory are. (Found by `kiln build --check`: a work directory at
        // another place inside the project changed the debug information.)
        maps.sort_by_key(|(from, _)| from.as_os_str().len());
        let flags: Vec<String> = maps
            .iter()
            .map(|(from, to)| format!("-ffile-prefix-map={}={to}", from.display()))
            .collect();
        // gcc records its command line in DW_AT_producer, and a compile icecream spreads
        // (`distribute.rs`) runs with other switches on the worker (`-fdirectives-only`):
        // without this, a distributed kernel differs from a local one in its debug info.
        let flags = format!("{} -gno-record-gcc-switches", flags.join(" "));
        let mut args = vec![
            format!("HOSTUTC={}", iso8601_utc(self.source_date_epoch)),
            "HOSTNAME=kiln".to_string(),
            "HOSTUSER=kiln".to_string(),
            format!("UK_CFLAGS={flags}"),
            format!("UK_CXXFLAGS={flags}"),
            format!("UK_ASFLAGS={flags}"),
        ];
        if let Some(v) = &self.full_version {
            args.push(format!("UK_FULLVERSION={v}"));
        }
        args
    }
}

/// `secs` since the epoch as `date -Iseconds -u` prints it (`1970-01-01T00:00:00+00:00`).
pub fn iso8601_utc(secs: u32) -> String {
    let days = i64::from(secs / 86_400);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Runs `cmd`, appending its output to `log` and handing each line to `progress` as it
/// arrives, holding one jobserver token for make's implicit job and handing make the
/// jobserver for the rest. Its pid is recorded in the log's directory while it runs (see
/// `make_guard.rs`; call [`crate::make_guard::recover`] before writing make's inputs there).
pub fn run(
    mut cmd: Command,
    goal: &str,
    log: &Path,
    jobserver: &jobserver::Client,
    progress: Option<&crate::make_output::MakeProgress<'_>>,
) -> Result<(), MakeError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| MakeError::Io { what, source }
    };
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(io("creating the log directory"))?;
    }
    let mut file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io("opening the log"))?;
    let start = file.metadata().map(|m| m.len()).unwrap_or(0);
    // One pipe for both streams, so the log keeps make's order of lines and kiln sees each
    // line as it comes (for the live progress and `-v`).
    let (reader, writer) = std::io::pipe().map_err(io("creating make's output pipe"))?;
    let err_writer = writer
        .try_clone()
        .map_err(io("creating make's output pipe"))?;
    jobserver.configure_make(&mut cmd);
    cmd.stdin(Stdio::null()).stdout(writer).stderr(err_writer);
    let _token = jobserver
        .acquire()
        .map_err(io("waiting for a jobserver token"))?;
    let work = log.parent().unwrap_or(Path::new("."));
    // The compilers' temporary files (gcc's `/tmp/cc*.s` and the like) go to a directory of
    // the work tree, emptied before and after: a make killed with its kiln would otherwise
    // leave them in the machine's /tmp for good.
    let tmp = work.join(TMP_DIR);
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io("creating make's temporary directory"))?;
    cmd.env("TMPDIR", &tmp);
    let spawned = cmd.spawn();
    // Our copies of the pipe's write ends: make's output ends when make's (and its
    // children's) are closed.
    drop(cmd);
    let mut child = spawned.map_err(io("starting make"))?;
    crate::make_guard::record(work, child.id());
    let copied = copy_lines(reader, &mut file, progress);
    let status = child.wait().map_err(io("waiting for make"));
    crate::make_guard::clear(work);
    let _ = std::fs::remove_dir_all(&tmp);
    let status = status?;
    copied.map_err(io("writing make's log"))?;
    if status.success() {
        return Ok(());
    }
    Err(MakeError::Failed {
        goal: goal.to_string(),
        status: status.to_string(),
        tail: tail(log, start),
        log: log.to_path_buf(),
    })
}

/// Copies make's output into the log until make and its children close the pipe, handing
/// each line to `progress`. A log that cannot be written does not stop the reading (make
/// would block on a full pipe); the first error is returned at the end.
fn copy_lines(
    reader: std::io::PipeReader,
    log: &mut File,
    progress: Option<&crate::make_output::MakeProgress<'_>>,
) -> std::io::Result<()> {
    use std::io::{BufRead, Write};
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, reader);
    let mut line = Vec::new();
    let mut failed = None;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if failed.is_none()
            && let Err(e) = log.write_all(&line)
        {
            failed = Some(e);
        }
        if let Some(p) = progress {
            let text = String::from_utf8_lossy(&line);
            p.line(text.trim_end_matches(['\n', '\r']));
        }
    }
    failed.map_or(Ok(()), Err)
}

/// The last lines written to `log` since byte `start`.
fn tail(log: &Path, start: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(log) {
        let _ = f.seek(SeekFrom::Start(start));
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(TAIL_LINES);
    lines[from..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_shows_the_tail_and_the_log() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Makefile"),
            "all:\n\t@for i in $$(seq 1 40); do echo line $$i; done\n\t@echo boom >&2; exit 3\n",
        )
        .unwrap();
        let mut cmd = Command::new("make");
        cmd.arg("-C").arg(dir.path());
        let js = jobserver::Client::new(2).unwrap();
        let log = dir.path().join("logs/make.log");
        let err = run(cmd, "build", &log, &js, None).unwrap_err().to_string();
        assert!(err.contains("  | boom"), "{err}");
        assert!(err.contains("  | line 40"), "{err}");
        assert!(!err.contains("  | line 10\n"), "only the tail: {err}");
        assert!(err.contains(&log.display().to_string()));
        assert_eq!(js.available().unwrap(), 2, "the token was given back");
    }

    #[test]
    fn dates_format_like_gnu_date() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso8601_utc(1_700_000_000), "2023-11-14T22:13:20+00:00");
        assert_eq!(iso8601_utc(951_782_400), "2000-02-29T00:00:00+00:00");
    }

    #[test]
    fn make_sees_the_jobserver_and_a_clean_environment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Makefile"),
            "UK_FULLVERSION := 9.9$(shell echo ~fromgit)\n\
             all:\n\t@echo \"flags=$$MAKEFLAGS cflags=$$CFLAGS lc=$$LC_ALL \
             v=$(UK_FULLVERSION) host=$(HOSTUSER)@$(HOSTNAME) tmp=$$TMPDIR\" > out.txt; \
             test -d \"$$TMPDIR\" && touch \"$$TMPDIR/cc1.s\"\n",
        )
        .unwrap();
        let setup = MakeSetup {
            core: dir.path().to_path_buf(),
            app: dir.path().to_path_buf(),
            libs: vec![],
            work: dir.path().join("w"),
            name: "n".into(),
            cross: String::new(),
            source_date_epoch: 0,
            full_version: Some("0.17.0~1234567".into()),
        };
        let js = jobserver::Client::new(3).unwrap();
        let mut cmd = setup.command(Some("all"), &[]);
        cmd.env("CFLAGS_FROM_TEST", "x");
        run(cmd, "all", &dir.path().join("log"), &js, None).unwrap();
        let out = std::fs::read_to_string(dir.path().join("out.txt")).unwrap();
        assert!(out.contains("--jobserver-auth="), "{out}");
        assert!(out.contains("cflags= "), "{out}");
        assert!(out.contains("lc=C"), "{out}");
        // kiln's values override the Makefile's own `:=` assignments.
        assert!(out.contains("v=0.17.0~1234567 host=kiln@kiln"), "{out}");
        // Compilers' temporary files go to the work directory's folder, removed after make.
        let tmp = dir.path().join(TMP_DIR);
        assert!(out.contains(&format!("tmp={}", tmp.display())), "{out}");
        assert!(!tmp.exists());
    }
}
