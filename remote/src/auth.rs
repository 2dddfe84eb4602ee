//! Credentials for a remote cache, and keeping them out of every message.
//!
//! Sources, in order: a bearer token from a file or an environment variable (named in the
//! config file, never given on the command line, where `ps` would show it); else HTTP Basic
//! from the URL's userinfo; else HTTP Basic from the netrc file (`$NETRC`, or `~/.netrc`) entry
//! for the host, as curl and Bazel read it. The header is built once; [`Credentials`] prints
//! as `<redacted>`, and URLs are shown through [`redact`].

use std::path::PathBuf;

use base64::Engine as _;

use crate::SetupError;

/// Where a bearer token comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TokenSource {
    /// No token: Basic from the URL or netrc, if any.
    #[default]
    None,
    /// The first line of this file.
    File(PathBuf),
    /// This environment variable.
    Env(String),
}

/// What the credentials are resolved from.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// A bearer token's source.
    pub token: TokenSource,
    /// The netrc file to read (None: `$NETRC`, else `$HOME/.netrc`).
    pub netrc: Option<PathBuf>,
}

/// A resolved `Authorization` header value. Never printed.
#[derive(Clone, Default)]
pub struct AuthHeader(pub(crate) Option<String>);

impl std::fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(_) => f.write_str("AuthHeader(<redacted>)"),
            None => f.write_str("AuthHeader(none)"),
        }
    }
}

impl AuthHeader {
    /// What kind of credentials these are, for messages (`a bearer token`, ...).
    pub fn kind(&self) -> &'static str {
        match &self.0 {
            Some(h) if h.starts_with("Bearer ") => "the bearer token",
            Some(_) => "the user and password",
            None => "no credentials",
        }
    }
}

/// `url` without its userinfo, and the header for the credentials `creds` and the URL give.
pub fn resolve(url: &str, creds: &Credentials) -> Result<(url::Url, AuthHeader), SetupError> {
    let mut parsed = url::Url::parse(url).map_err(|e| {
        SetupError(format!(
            "the remote cache URL `{}` is not a URL ({e})",
            redact(url)
        ))
    })?;
    let userinfo = match parsed.username() {
        "" => None,
        user => Some((
            percent_decode(user),
            percent_decode(parsed.password().unwrap_or("")),
        )),
    };
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    let header = match &creds.token {
        TokenSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                SetupError(format!(
                    "cannot read the remote cache's token file {}: {e}",
                    path.display()
                ))
            })?;
            Some(format!(
                "Bearer {}",
                first_line(&text, &path.display().to_string())?
            ))
        }
        TokenSource::Env(var) => {
            let text = std::env::var(var).map_err(|_| {
                SetupError(format!(
                    "the remote cache's token variable {var} is not set (the config names it \
                     in [remote] token_env)"
                ))
            })?;
            Some(format!("Bearer {}", first_line(&text, var)?))
        }
        TokenSource::None => userinfo
            .or_else(|| netrc_login(parsed.host_str().unwrap_or(""), creds.netrc.as_ref()))
            .map(|(user, pass)| {
                let raw = format!("{user}:{pass}");
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )
            }),
    };
    Ok((parsed, AuthHeader(header)))
}

fn first_line(text: &str, from: &str) -> Result<String, SetupError> {
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() || line.bytes().any(|b| b.is_ascii_control()) {
        return Err(SetupError(format!(
            "the remote cache's token in {from} is empty or has control characters"
        )));
    }
    Ok(line.to_string())
}

/// A userinfo part percent-decoded (RFC 3986: `+` is a plus, not a space).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The `login`/`password` of `host` in the netrc file (or its `default` entry).
fn netrc_login(host: &str, path: Option<&PathBuf>) -> Option<(String, String)> {
    let path = match path {
        Some(p) => p.clone(),
        None => match std::env::var_os("NETRC") {
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(std::env::var_os("HOME")?).join(".netrc"),
        },
    };
    let text = std::fs::read_to_string(path).ok()?;
    parse_netrc(&text, host)
}

/// netrc's grammar: whitespace-separated tokens; `machine NAME` or `default` starts an entry,
/// whose `login` and `password` follow (`macdef` bodies are skipped to the blank line).
fn parse_netrc(text: &str, host: &str) -> Option<(String, String)> {
    let mut found: Option<(String, String)> = None;
    let mut default: Option<(String, String)> = None;
    let mut current: Option<bool> = None; // Some(true): the host's entry; Some(false): default
    let mut tokens: Vec<&str> = Vec::new();
    let mut in_macdef = false;
    for line in text.lines() {
        if in_macdef {
            in_macdef = !line.trim().is_empty();
            continue;
        }
        for w in line.split_whitespace() {
            if w == "macdef" {
                in_macdef = true;
                break;
            }
            tokens.push(w);
        }
    }
    let mut it = tokens.into_iter();
    while let Some(t) = it.next() {
        match t {
            "machine" => {
                let name = it.next().unwrap_or("");
                current = (name == host).then_some(true);
                if current == Some(true) && found.is_none() {
                    found = Some((String::new(), String::new()));
                }
            }
            "default" => {
                current = Some(false);
                default.get_or_insert((String::new(), String::new()));
            }
            "login" | "password" | "account" => {
                let value = it.next().unwrap_or("").to_string();
                let entry = match current {
                    Some(true) => found.as_mut(),
                    Some(false) => default.as_mut(),
                    None => None,
                };
                if let Some(e) = entry {
                    match t {
                        "login" => e.0 = value,
                        "password" => e.1 = value,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    found.or(default).filter(|(u, _)| !u.is_empty())
}

/// `url` with any password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        // Not a URL: cut anything between "//" and "@".
        Err(_) => match (url.find("//"), url.rfind('@')) {
            (Some(a), Some(b)) if b > a => format!("{}***{}", &url[..a + 2], &url[b..]),
            _ => url.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netrc_entries_are_found_by_host_with_a_default() {
        let text = "machine other login a password b\n\
                    macdef init\n  cd /x\n\n\
                    machine cache.example login alice\n  password s3cret\n\
                    default login anon password none\n";
        assert_eq!(
            parse_netrc(text, "cache.example"),
            Some(("alice".into(), "s3cret".into()))
        );
        assert_eq!(
            parse_netrc(text, "elsewhere"),
            Some(("anon".into(), "none".into()))
        );
        assert_eq!(parse_netrc("machine x login y password z", "w"), None);
    }

    #[test]
    fn userinfo_becomes_basic_and_leaves_the_url() {
        let (url, h) =
            resolve("http://bob:pa%40ss@127.0.0.1:9/c/", &Credentials::default()).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/c/");
        let expected = base64::engine::general_purpose::STANDARD.encode("bob:pa@ss");
        assert_eq!(h.0.as_deref(), Some(format!("Basic {expected}").as_str()));
        assert_eq!(format!("{h:?}"), "AuthHeader(<redacted>)");
        assert_eq!(redact("http://bob:pw@h/"), "http://bob:***@h/");
    }
}
