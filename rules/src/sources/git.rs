//! Running the system `git`, with an environment that cannot prompt and cannot change what
//! a checkout contains.
//!
//! Every command gets `GIT_TERMINAL_PROMPT=0` (no password prompts: CI has no terminal),
//! `GIT_CONFIG_NOSYSTEM=1`, `LC_ALL=C` (stable messages), stdin from `/dev/null`, and none
//! of the inherited `GIT_DIR`-like variables that would point it at another repository.
//! Commands that read or write content ([`Isolation::Content`]) also get
//! `GIT_CONFIG_GLOBAL=/dev/null`, so no user setting (filters, `core.autocrlf`) can change
//! the files of a checkout; network commands ([`Isolation::Network`]) keep the user's global
//! config for credentials and `url.<base>.insteadOf`. `GIT_ALLOW_PROTOCOL` restricts the
//! transports when the resolver is told to (tests allow only `file`).
//!
//! This module knows nothing of caches or components; callers turn a [`GitFailure`] into a
//! [`super::SourceError`] naming the component.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

/// How much of the user's git configuration a command may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Fetches: the user's global config (credentials, URL rewrites) applies.
    Network,
    /// Everything that reads refs or writes files: no user config at all.
    Content,
}

/// How kiln runs git.
#[derive(Debug, Clone, Default)]
pub struct Git {
    /// `GIT_ALLOW_PROTOCOL`: a colon-separated list of transports git may use (`None`: git's
    /// default). Tests set `file` so that no network URL can ever be contacted.
    pub allow_protocols: Option<String>,
}

/// A git command that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitFailure {
    /// The command, as `git <args>` (without the environment).
    pub command: String,
    /// The last lines of git's stderr, or why it could not be started.
    pub detail: String,
    /// Whether git itself is missing.
    pub not_installed: bool,
}

/// How many lines of git's stderr an error keeps.
const STDERR_TAIL_LINES: usize = 6;

impl Git {
    /// Runs `git <args>` and returns its stdout.
    pub fn run<S: AsRef<OsStr>>(
        &self,
        isolation: Isolation,
        envs: &[(&str, &OsStr)],
        args: &[S],
    ) -> Result<Vec<u8>, GitFailure> {
        let mut cmd = self.command(isolation);
        cmd.args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let describe = || {
            let words: Vec<String> = args
                .iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect();
            format!("git {}", words.join(" "))
        };
        let out = cmd.output().map_err(|e| GitFailure {
            command: describe(),
            detail: format!("cannot run git: {e}"),
            not_installed: e.kind() == std::io::ErrorKind::NotFound,
        })?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(GitFailure {
            command: describe(),
            detail: stderr_tail(&out.stderr, out.status),
            not_installed: false,
        })
    }

    /// Runs `git <args>` in the bare repository `git_dir`.
    pub fn in_repo<S: AsRef<OsStr>>(
        &self,
        git_dir: &Path,
        isolation: Isolation,
        envs: &[(&str, &OsStr)],
        args: &[S],
    ) -> Result<Vec<u8>, GitFailure> {
        let mut all: Vec<&OsStr> = vec![OsStr::new("--git-dir"), git_dir.as_os_str()];
        all.extend(args.iter().map(|a| a.as_ref()));
        self.run(isolation, envs, &all)
    }

    fn command(&self, isolation: Isolation) -> Command {
        let mut cmd = Command::new("git");
        for var in [
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_OBJECT_DIRECTORY",
            "GIT_ALTERNATE_OBJECT_DIRECTORIES",
            "GIT_NAMESPACE",
            "GIT_COMMON_DIR",
            "GIT_CONFIG",
            "GIT_CONFIG_PARAMETERS",
            "GIT_CONFIG_COUNT",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        if isolation == Isolation::Content {
            cmd.env("GIT_CONFIG_GLOBAL", "/dev/null");
        }
        if let Some(p) = &self.allow_protocols {
            cmd.env("GIT_ALLOW_PROTOCOL", p);
        }
        // Settings that could change content or leave processes behind, whatever the user's
        // config says.
        cmd.args([
            "-c",
            "core.autocrlf=false",
            "-c",
            "core.symlinks=true",
            "-c",
            "gc.auto=0",
            "-c",
            "maintenance.auto=false",
        ]);
        cmd
    }
}

/// The last few non-empty lines of `stderr`, or the exit status when it is empty.
fn stderr_tail(stderr: &[u8], status: std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return format!("git exited with {status}");
    }
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_the_stderr_tail() {
        let git = Git::default();
        let err = git
            .run(
                Isolation::Content,
                &[],
                &["--git-dir", "/nonexistent/kiln", "rev-parse", "HEAD"],
            )
            .unwrap_err();
        assert!(
            err.command
                .starts_with("git --git-dir /nonexistent/kiln rev-parse")
        );
        assert!(
            err.detail.contains("not a git repository"),
            "{}",
            err.detail
        );
        assert!(!err.not_installed);
    }
}
