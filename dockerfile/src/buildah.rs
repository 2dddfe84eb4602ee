//! RUN, delegated to buildah (Debian's `buildah`): no daemon, `--isolation chroot`, vfs
//! storage under kiln's cache, as root or rootless.
//!
//! The builder gets the exact state before the RUN as the context of a generated
//! Dockerfile (`FROM scratch`, `COPY . /`, the stage's WORKDIR and environment, then the
//! RUN with its `--mount`s as written, so `--mount=type=cache` persists in kiln's buildah
//! storage), and returns the filesystem after it with `--output type=local`. The image
//! buildah commits on the way is removed. Cache mounts live in kiln's buildah storage too
//! (`$TMPDIR`), not in the machine's /var/tmp.

use std::path::Path;
use std::process::Command;

/// One RUN.
pub struct Run<'a> {
    /// The state before it.
    pub state: &'a Path,
    /// The argument vector (shell form already `/bin/sh -c …`).
    pub argv: &'a [String],
    /// Its environment (the image's, ENV, ARG), in order.
    pub env: &'a [(String, String)],
    /// The stage's working directory.
    pub workdir: &'a str,
    /// `--mount=` values, as written.
    pub mounts: &'a [String],
    /// `linux/<goarch>`.
    pub platform: &'a str,
    /// buildah's storage (`<cache>/buildah`).
    pub storage: &'a Path,
    /// Where the filesystem after it goes (must not exist).
    pub out: &'a Path,
}

/// What to tell a user without buildah.
pub const MISSING: &str = "RUN needs buildah, and it is not on PATH: install Debian's `buildah` \
                           package (apt-get install buildah), or point KILN_BUILDKIT_HOST at a \
                           BuildKit; a Dockerfile without RUN needs no builder";

/// The generated Dockerfile for `r`.
pub fn dockerfile(r: &Run<'_>) -> Result<String, String> {
    let mut text = String::from("FROM scratch\nCOPY . /\n");
    for (k, v) in r.env {
        if v.contains('\n') {
            return Err(format!(
                "the value of {k} has a line break, which RUN cannot pass"
            ));
        }
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$");
        text.push_str(&format!("ENV {k}=\"{v}\"\n"));
    }
    if r.workdir.contains(char::is_whitespace) {
        return Err(format!(
            "the WORKDIR `{}` has a space, which RUN cannot pass",
            r.workdir
        ));
    }
    text.push_str(&format!("WORKDIR {}\nRUN ", r.workdir.replace('$', "\\$")));
    for m in r.mounts {
        text.push_str(&format!("--mount={m} "));
    }
    let argv: Vec<String> = r.argv.iter().map(|a| json(a)).collect();
    text.push_str(&format!("[{}]\n", argv.join(", ")));
    Ok(text)
}

fn json(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// Runs `r` with `buildah`; on failure the error ends with buildah's last lines.
pub fn run(buildah: &Path, r: &Run<'_>) -> Result<(), String> {
    let work = r.out.with_extension("buildah");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let result = run_in(buildah, r, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn run_in(buildah: &Path, r: &Run<'_>, work: &Path) -> Result<(), String> {
    let file = work.join("Dockerfile");
    let ignore = work.join("ignore");
    let iid = work.join("iid");
    std::fs::write(&file, dockerfile(r)?).map_err(|e| e.to_string())?;
    std::fs::write(&ignore, "").map_err(|e| e.to_string())?;
    let mut cmd = base(buildah, r.storage);
    cmd.arg("bud")
        .args(["--isolation", "chroot", "--layers=false", "--pull=never"])
        .arg("--platform")
        .arg(r.platform)
        .arg("--ignorefile")
        .arg(&ignore)
        .arg("--iidfile")
        .arg(&iid)
        .arg("--output")
        .arg(format!("type=local,dest={}", r.out.display()))
        .arg("-f")
        .arg(&file)
        .arg(r.state);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {}: {e}", buildah.display()))?;
    if let Ok(id) = std::fs::read_to_string(&iid) {
        let _ = base(buildah, r.storage)
            .args(["rmi", "--force", id.trim()])
            .output();
    }
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return Err(format!(
            "the RUN failed in buildah ({}):\n{}",
            out.status,
            tail(&text)
        ));
    }
    Ok(())
}

/// The last lines of a builder's output, which say why it failed.
pub(crate) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn base(buildah: &Path, storage: &Path) -> Command {
    let mut cmd = Command::new(buildah);
    // buildah keeps `RUN --mount=type=cache` directories under $TMPDIR/buildah-cache-<uid>:
    // inside kiln's cache, they go with it (and `kiln cache clean`).
    let tmp = storage.join("tmp");
    let _ = std::fs::create_dir_all(&tmp);
    cmd.env("TMPDIR", &tmp);
    cmd.arg("--root")
        .arg(storage.join("root"))
        .arg("--runroot")
        .arg(storage.join("run"))
        .args(["--storage-driver", "vfs"]);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_dockerfile_quotes_what_docker_would_expand() {
        let argv = vec!["/bin/sh".to_string(), "-c".into(), "echo \"$X\"".into()];
        let env = vec![("X".to_string(), "a \"b\" $c \\d".to_string())];
        let mounts = vec!["type=cache,target=/root/.cache".to_string()];
        let r = Run {
            state: Path::new("/s"),
            argv: &argv,
            env: &env,
            workdir: "/src",
            mounts: &mounts,
            platform: "linux/amd64",
            storage: Path::new("/b"),
            out: Path::new("/o"),
        };
        assert_eq!(
            dockerfile(&r).unwrap(),
            "FROM scratch\nCOPY . /\nENV X=\"a \\\"b\\\" \\$c \\\\d\"\nWORKDIR /src\n\
             RUN --mount=type=cache,target=/root/.cache [\"/bin/sh\", \"-c\", \"echo \\\"$X\\\"\"]\n"
        );
    }
}
