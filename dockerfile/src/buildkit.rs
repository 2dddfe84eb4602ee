//! RUN through BuildKit, when the user has one: `KILN_BUILDKIT_HOST` names its address (as
//! `BUILDKIT_HOST` does for buildctl, and `KRAFTKIT_BUILDKIT_HOST` for kraft), or a
//! buildkitd listens on `/run/buildkit/buildkitd.sock`. kiln drives it with its client,
//! `buildctl`, and the Dockerfile frontend:
//!
//! ```text
//! buildctl --addr ADDR build --frontend dockerfile.v0 --local context=STATE \
//!   --local dockerfile=DIR --opt filename=run.Dockerfile --opt platform=linux/<goarch> \
//!   --output type=local,dest=OUT
//! ```
//!
//! with the same generated Dockerfile as buildah gets (`buildah::dockerfile`), and an empty
//! `run.Dockerfile.dockerignore` beside it, which BuildKit takes instead of a
//! `.dockerignore` the state may hold. Which builder to use is chosen here ([`choose`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::buildah::{self, Run};

/// The builder a RUN goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builder {
    /// buildah, at this path.
    Buildah(PathBuf),
    /// BuildKit at `addr`, through `buildctl`.
    BuildKit {
        /// The buildctl executable.
        buildctl: PathBuf,
        /// buildkitd's address (`unix://…`, `tcp://…`).
        addr: String,
    },
}

impl Builder {
    /// Its name in RUN keys: results of one builder are not taken for another's (buildah
    /// leaves `/etc/hosts` and mount points that BuildKit does not).
    pub fn name(&self) -> &'static str {
        match self {
            Builder::Buildah(_) => "buildah",
            Builder::BuildKit { .. } => "buildkit",
        }
    }
}

/// The default buildkitd socket.
pub const DEFAULT_SOCKET: &str = "/run/buildkit/buildkitd.sock";

/// The builder for this environment: BuildKit when `KILN_BUILDKIT_HOST` is set (`host`) or
/// its default socket exists and buildctl is installed, else buildah. The error says what
/// to install.
pub fn choose(host: Option<&str>) -> Result<Builder, String> {
    choose_with(host, Path::new(DEFAULT_SOCKET).exists(), &on_path)
}

/// [`choose`], with the socket's presence and PATH lookups given.
pub fn choose_with(
    host: Option<&str>,
    socket: bool,
    lookup: &dyn Fn(&str) -> Option<PathBuf>,
) -> Result<Builder, String> {
    let buildctl = lookup("buildctl");
    if let Some(addr) = host.filter(|h| !h.is_empty()) {
        return match buildctl {
            Some(buildctl) => Ok(Builder::BuildKit {
                buildctl,
                addr: addr.to_string(),
            }),
            None => Err(format!(
                "KILN_BUILDKIT_HOST is set ({addr}), and buildctl, BuildKit's client, is not \
                 on PATH: install it, or unset KILN_BUILDKIT_HOST to use buildah"
            )),
        };
    }
    if let Some(buildctl) = buildctl.filter(|_| socket) {
        return Ok(Builder::BuildKit {
            buildctl,
            addr: format!("unix://{DEFAULT_SOCKET}"),
        });
    }
    lookup("buildah")
        .map(Builder::Buildah)
        .ok_or_else(|| buildah::MISSING.to_string())
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs `r` with `builder`.
pub fn run(builder: &Builder, r: &Run<'_>) -> Result<(), String> {
    match builder {
        Builder::Buildah(b) => buildah::run(b, r),
        Builder::BuildKit { buildctl, addr } => run_buildctl(buildctl, addr, r),
    }
}

fn run_buildctl(buildctl: &Path, addr: &str, r: &Run<'_>) -> Result<(), String> {
    let work = r.out.with_extension("buildkit");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let result = (|| {
        std::fs::write(work.join("run.Dockerfile"), buildah::dockerfile(r)?)
            .map_err(|e| e.to_string())?;
        std::fs::write(work.join("run.Dockerfile.dockerignore"), "").map_err(|e| e.to_string())?;
        let out = Command::new(buildctl)
            .arg("--addr")
            .arg(addr)
            .args(["build", "--frontend", "dockerfile.v0", "--local"])
            .arg(format!("context={}", r.state.display()))
            .arg("--local")
            .arg(format!("dockerfile={}", work.display()))
            .args(["--opt", "filename=run.Dockerfile", "--opt"])
            .arg(format!("platform={}", r.platform))
            .arg("--output")
            .arg(format!("type=local,dest={}", r.out.display()))
            .output()
            .map_err(|e| format!("cannot start {}: {e}", buildctl.display()))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "the RUN failed in BuildKit at {addr} ({}):\n{}",
            out.status,
            buildah::tail(&String::from_utf8_lossy(&out.stderr))
        ))
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_is_buildkit_when_asked_for_or_listening_else_buildah() {
        let all = |n: &str| Some(PathBuf::from(format!("/usr/bin/{n}")));
        let no_buildctl = |n: &str| (n == "buildah").then(|| PathBuf::from("/usr/bin/buildah"));
        let nothing = |_: &str| None;
        let kit = choose_with(Some("tcp://10.0.0.1:1234"), false, &all).unwrap();
        assert_eq!(
            kit,
            Builder::BuildKit {
                buildctl: "/usr/bin/buildctl".into(),
                addr: "tcp://10.0.0.1:1234".into()
            }
        );
        assert_eq!(kit.name(), "buildkit");
        let e = choose_with(Some("tcp://10.0.0.1:1234"), false, &no_buildctl).unwrap_err();
        assert!(
            e.contains("buildctl") && e.contains("KILN_BUILDKIT_HOST"),
            "{e}"
        );
        let sock = choose_with(None, true, &all).unwrap();
        assert!(
            matches!(sock, Builder::BuildKit { addr, .. } if addr == "unix:///run/buildkit/buildkitd.sock")
        );
        assert_eq!(
            choose_with(None, true, &no_buildctl).unwrap().name(),
            "buildah",
            "a socket without buildctl: buildah"
        );
        assert_eq!(choose_with(None, false, &all).unwrap().name(), "buildah");
        let e = choose_with(None, false, &nothing).unwrap_err();
        assert!(e.contains("apt-get install buildah"), "{e}");
    }
}
