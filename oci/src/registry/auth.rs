//! Registry credentials: where they come from and how kiln stores its own.
//!
//! Looked up in this order, first match wins: kiln's own file
//! (`$XDG_CONFIG_HOME/kiln/auth.json`, written by `kiln login`, mode 0600), Docker's
//! (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, including `credHelpers` and
//! `credsStore` helpers), then containers' (`$REGISTRY_AUTH_FILE`,
//! `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`). All use
//! Docker's format: `{"auths": {"<registry>": {"auth": base64("user:password")}}}`; a
//! `registrytoken` is used as a Bearer token. Keys may carry a scheme and path
//! (`https://index.docker.io/v1/`); they match by host.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// A password or token: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `s`.
    pub fn new(s: String) -> Secret {
        Secret(s)
    }
    /// The secret itself, for the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Credentials for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (Basic, or exchanged for a token by the registry's token
    /// server).
    Basic {
        /// The user.
        username: String,
        /// The password.
        password: Secret,
    },
    /// A Bearer token used as it is.
    Bearer(Secret),
}

/// Where credentials were found (for `--explain`-style messages; never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The credentials.
    pub credentials: Credentials,
    /// The file or helper they came from.
    pub source: String,
}

/// The files to look in.
#[derive(Debug, Clone, Default)]
pub struct AuthFiles {
    /// kiln's own file.
    pub kiln: Option<PathBuf>,
    /// Docker's config.json.
    pub docker: Option<PathBuf>,
    /// containers' auth.json files, in order.
    pub containers: Vec<PathBuf>,
}

impl AuthFiles {
    /// The standard locations, from the environment.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> AuthFiles {
        let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        let config_home = env("XDG_CONFIG_HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".config")));
        let docker = env("DOCKER_CONFIG")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".docker")))
            .map(|d| d.join("config.json"));
        let mut containers = Vec::new();
        containers.extend(
            env("REGISTRY_AUTH_FILE")
                .filter(|f| !f.is_empty())
                .map(PathBuf::from),
        );
        containers.extend(
            env("XDG_RUNTIME_DIR")
                .filter(|d| !d.is_empty())
                .map(|d| PathBuf::from(d).join("containers/auth.json")),
        );
        containers.extend(config_home.as_ref().map(|c| c.join("containers/auth.json")));
        AuthFiles {
            kiln: config_home.map(|c| c.join("kiln/auth.json")),
            docker,
            containers,
        }
    }
}

/// A credentials file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct AuthFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong (never containing a secret).
    pub problem: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AuthFile {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(rename = "credHelpers", default, skip_serializing)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(rename = "credsStore", default, skip_serializing)]
    creds_store: Option<String>,
    /// Everything else in the file, kept when kiln rewrites its own.
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(default, skip_serializing)]
    username: Option<String>,
    #[serde(default, skip_serializing)]
    password: Option<String>,
    #[serde(default, skip_serializing)]
    registrytoken: Option<String>,
}

/// The host a key of `auths` names: `https://index.docker.io/v1/` → `index.docker.io`.
fn key_host(key: &str) -> &str {
    let k = key.split_once("://").map_or(key, |(_, rest)| rest);
    k.split('/').next().unwrap_or(k)
}

fn matches(key: &str, registry: &str) -> bool {
    let host = key_host(key);
    host == registry
        || (registry == "docker.io" && matches!(host, "index.docker.io" | "registry-1.docker.io"))
}

/// The credentials for `registry`, if any file has some.
pub fn find(files: &AuthFiles, registry: &str) -> Result<Option<Found>, AuthFileError> {
    let all = files
        .kiln
        .iter()
        .chain(&files.docker)
        .chain(&files.containers);
    for path in all {
        let Some(file) = read(path)? else { continue };
        if let Some(found) = from_file(path, &file, registry)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn read(path: &Path) -> Result<Option<AuthFile>, AuthFileError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(AuthFileError {
                path: path.into(),
                problem: e.to_string(),
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| AuthFileError {
            path: path.into(),
            // serde_json's message names the line and column, never the content.
            problem: format!("not a credentials file in Docker's format ({e})"),
        })
}

fn from_file(path: &Path, file: &AuthFile, registry: &str) -> Result<Option<Found>, AuthFileError> {
    let bad = |problem: String| AuthFileError {
        path: path.into(),
        problem,
    };
    let source = path.display().to_string();
    for (key, entry) in &file.auths {
        if !matches(key, registry) {
            continue;
        }
        if let Some(token) = &entry.registrytoken {
            return Ok(Some(Found {
                credentials: Credentials::Bearer(Secret(token.clone())),
                source,
            }));
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            let credentials = Credentials::Basic {
                username: u.clone(),
                password: Secret(p.clone()),
            };
            return Ok(Some(Found {
                credentials,
                source,
            }));
        }
        if let Some(auth) = &entry.auth {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "the `auth` of `{key}` is not base64 of USER:PASSWORD"
                    ))
                })?;
            let (u, p) = decoded.split_once(':').ok_or_else(|| {
                bad(format!(
                    "the `auth` of `{key}` is not base64 of USER:PASSWORD"
                ))
            })?;
            let credentials = Credentials::Basic {
                username: u.into(),
                password: Secret(p.into()),
            };
            return Ok(Some(Found {
                credentials,
                source,
            }));
        }
    }
    let helper = file
        .cred_helpers
        .iter()
        .find(|(k, _)| matches(k, registry))
        .map(|(_, h)| h)
        .or(file.creds_store.as_ref());
    match helper {
        Some(h) => helper_get(h, registry).map_err(bad),
        None => Ok(None),
    }
}

/// Runs `docker-credential-<helper> get` with the registry on stdin.
fn helper_get(helper: &str, registry: &str) -> Result<Option<Found>, String> {
    let program = format!("docker-credential-{helper}");
    let mut child = std::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run the credential helper `{program}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(registry.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("the credential helper `{program}` failed: {e}"))?;
    if !out.status.success() {
        // Helpers exit non-zero for "no credentials for this registry".
        return Ok(None);
    }
    #[derive(Deserialize)]
    struct HelperAnswer {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout).map_err(|_| {
        format!("the credential helper `{program}` answered something that is not its JSON")
    })?;
    let credentials = if answer.username == "<token>" {
        Credentials::Bearer(Secret(answer.secret))
    } else {
        Credentials::Basic {
            username: answer.username,
            password: Secret(answer.secret),
        }
    };
    Ok(Some(Found {
        credentials,
        source: program,
    }))
}

/// Stores `username`/`password` for `registry` in kiln's file `path`, keeping its other
/// entries. The file is written whole with mode 0600 from its first byte (a temporary file
/// created 0600, then renamed).
pub fn store(
    path: &Path,
    registry: &str,
    username: &str,
    password: &Secret,
) -> Result<(), AuthFileError> {
    let bad = |problem: String| AuthFileError {
        path: path.into(),
        problem,
    };
    let mut file = read(path)?.unwrap_or_default();
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{}", password.0));
    file.auths.insert(
        registry.to_string(),
        AuthEntry {
            auth: Some(auth),
            ..AuthEntry::default()
        },
    );
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| bad(e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
    let temp = dir.join(format!(".auth.json.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        f.write_all(&bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        bad(e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_credentials_in_the_documented_order_and_never_prints_them() {
        let dir = tempfile::tempdir().unwrap();
        let docker = dir.path().join("docker.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        std::fs::write(
            &docker,
            format!(r#"{{"auths":{{"https://reg.example:5000/v1/":{{"auth":"{auth}"}}}}}}"#),
        )
        .unwrap();
        let kiln = dir.path().join("kiln/auth.json");
        let files = AuthFiles {
            kiln: Some(kiln.clone()),
            docker: Some(docker),
            containers: vec![],
        };
        let found = find(&files, "reg.example:5000").unwrap().unwrap();
        assert_eq!(
            found.credentials,
            Credentials::Basic {
                username: "alice".into(),
                password: Secret("s3cret".into())
            }
        );
        assert!(!format!("{found:?}").contains("s3cret"));
        assert!(find(&files, "other.example").unwrap().is_none());

        store(&kiln, "reg.example:5000", "bob", &Secret("pw2".into())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&kiln).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let found = find(&files, "reg.example:5000").unwrap().unwrap();
        assert!(
            matches!(found.credentials, Credentials::Basic { ref username, .. } if username == "bob")
        );
    }

    #[test]
    fn a_broken_file_is_named_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.json");
        std::fs::write(&f, r#"{"auths":{"h":{"auth":"!!notbase64 s3cret"}}}"#).unwrap();
        let files = AuthFiles {
            docker: Some(f),
            ..AuthFiles::default()
        };
        let e = find(&files, "h").unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains("not base64"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
    }
}
