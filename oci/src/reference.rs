//! Image references: `[registry/]repository[:tag][@sha256:…]`, parsed as Docker and kraft
//! parse them.
//!
//! The first component is a registry when it contains `.` or `:` or is `localhost`;
//! otherwise the reference is on the default registry (kraft's `unikraft.org`). The original
//! text is kept, because kraft writes it into one annotation as the user typed it.

use std::fmt;

use crate::digest::Sha256;

/// kraft's default registry.
pub const DEFAULT_REGISTRY: &str = "unikraft.org";

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The registry's name as written (`unikraft.org`, `localhost:5000`).
    pub registry: String,
    /// Whether the text named the registry.
    pub explicit_registry: bool,
    /// `base`, `library/alpine`, `team/app`.
    pub repository: String,
    /// The tag, if one was written.
    pub tag: Option<String>,
    /// The digest, if one was written.
    pub digest: Option<Sha256>,
    /// The text as given.
    pub original: String,
}

/// A reference that cannot be parsed; the message says what is wrong.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{text}` is not an image reference: {problem}; write [REGISTRY/]NAME[:TAG][@sha256:DIGEST], e.g. localhost:5000/app:1.0"
)]
pub struct BadReference {
    /// The text.
    pub text: String,
    /// What is wrong.
    pub problem: String,
}

impl Reference {
    /// Parses `text`, with `default_registry` when it names none.
    pub fn parse(text: &str, default_registry: &str) -> Result<Reference, BadReference> {
        let bad = |problem: &str| BadReference {
            text: text.to_string(),
            problem: problem.to_string(),
        };
        let rest = text.strip_prefix("oci://").unwrap_or(text);
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => (r, Some(Sha256::parse(d).map_err(|e| bad(&e.to_string()))?)),
            None => (rest, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first), path)
            }
            _ => (None, rest),
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) => (r, Some(t)),
            None => (path, None),
        };
        if let Some(r) = registry {
            check_registry(r).map_err(|p| bad(&p))?;
        }
        check_repository(repository).map_err(|p| bad(&p))?;
        if let Some(t) = tag {
            check_tag(t).map_err(|p| bad(&p))?;
        }
        let explicit_registry = registry.is_some();
        let registry = registry.unwrap_or(default_registry).to_string();
        let mut repository = repository.to_string();
        if registry == "docker.io" && !repository.contains('/') {
            repository = format!("library/{repository}");
        }
        Ok(Reference {
            registry,
            explicit_registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
            original: text.to_string(),
        })
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag, `latest` when none was written.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The same reference with the tag `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            original: format!("{}:{tag}", self.name()),
            ..self.clone()
        }
    }

    /// The host to connect to: `unikraft.org` is served at `index.unikraft.io` and Docker Hub
    /// at `registry-1.docker.io`.
    pub fn host(&self) -> &str {
        registry_host(&self.registry)
    }

    /// kraft's repository name without a default registry: `helloworld` for `--name
    /// helloworld`, `unikraft.org/helloworld` when written out.
    pub fn context_as_written(&self) -> String {
        if self.explicit_registry {
            self.name()
        } else {
            self.repository.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        match (&self.tag, &self.digest) {
            (_, Some(d)) => write!(f, "@{d}"),
            (t, None) => write!(f, ":{}", t.as_deref().unwrap_or("latest")),
        }
    }
}

/// The host a registry's name is served at.
pub fn registry_host(registry: &str) -> &str {
    match registry {
        "unikraft.org" => "index.unikraft.io",
        "docker.io" => "registry-1.docker.io",
        other => other,
    }
}

/// Whether `registry` is on the loopback interface (plain HTTP without configuration, as
/// Docker does): `localhost`, `127.0.0.0/8`, `[::1]`, with any port.
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn check_registry(r: &str) -> Result<(), String> {
    let ok = r
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if ok && !r.starts_with(['.', '-']) {
        Ok(())
    } else {
        Err(format!(
            "the registry `{r}` is not a host name with an optional port"
        ))
    }
}

fn check_repository(repo: &str) -> Result<(), String> {
    if repo.is_empty() {
        return Err("the name is empty".into());
    }
    if repo.contains(':') {
        return Err("only one `:TAG` may follow the name".into());
    }
    for part in repo.split('/') {
        let ok = !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && part.as_bytes()[0].is_ascii_alphanumeric()
            && part.as_bytes()[part.len() - 1].is_ascii_alphanumeric();
        if !ok {
            return Err(format!(
                "the name component `{part}` must be lower-case letters and digits, separated by . _ or -"
            ));
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && (tag.as_bytes()[0].is_ascii_alphanumeric() || tag.starts_with('_'))
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the tag `{tag}` must be up to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        Reference::parse(s, DEFAULT_REGISTRY).unwrap()
    }

    #[test]
    fn parses_the_forms_kraft_users_write() {
        let r = p("base:latest");
        assert_eq!(
            (r.name(), r.tag_or_latest()),
            ("unikraft.org/base".into(), "latest")
        );
        assert!(!r.explicit_registry);
        assert_eq!(r.context_as_written(), "base");
        let r = p("localhost:5000/team/app:1.0");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost:5000", "team/app")
        );
        assert_eq!(r.to_string(), "localhost:5000/team/app:1.0");
        let r = p("oci://unikraft.org/helloworld");
        assert_eq!(r.to_string(), "unikraft.org/helloworld:latest");
        assert_eq!(r.host(), "index.unikraft.io");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = p(&format!("127.0.0.1:5000/base@{d}"));
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/base@{d}"));
        assert_eq!(p("docker.io/alpine").repository, "library/alpine");
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        for (text, needle) in [
            ("Base:latest", "lower-case"),
            ("base:-x", "the tag"),
            ("base@sha256:12", "sha256:<64 hex"),
            ("", "empty"),
            ("a//b", "name component"),
        ] {
            let e = Reference::parse(text, DEFAULT_REGISTRY)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn loopback_registries() {
        for r in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5999",
            "127.3.4.5",
            "[::1]:5000",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in ["unikraft.org", "10.0.0.1:5000", "localhost.example.com"] {
            assert!(!is_loopback(r), "{r}");
        }
    }
}
