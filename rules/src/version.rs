//! Reading the Unikraft version from a core's `version.mk`.
//!
//! Unikraft's Makefile includes `version.mk` (`UK_VERSION = 0`, `UK_SUBVERSION = 17`,
//! `UK_EXTRAVERSION = 0`) and joins the numbers with dots (without the extra version when it
//! is empty). This reads only those three plain assignments; anything fancier in the file is
//! not make syntax kiln evaluates, and gives an error naming the line.

use std::path::Path;

/// Why `version.mk` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    /// The file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A version variable kiln cannot take literally.
    #[error("{path}:{line}: `{text}` is not a plain `UK_…VERSION = <value>` assignment")]
    Unsupported {
        /// The file.
        path: std::path::PathBuf,
        /// The 1-based line.
        line: usize,
        /// The line.
        text: String,
    },
}

/// `<UK_VERSION>.<UK_SUBVERSION>[.<UK_EXTRAVERSION>]` from `<core>/version.mk`, or `None`
/// when the core has no such file (or no `UK_VERSION`).
pub fn read_version_mk(core: &Path) -> Result<Option<String>, VersionError> {
    let path = core.join("version.mk");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(VersionError::Io { path, source }),
    };
    let (mut version, mut sub, mut extra) = (None, None, None);
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let name = name.trim_end_matches([':', '?', ' ']).trim();
        let slot = match name {
            "UK_VERSION" => &mut version,
            "UK_SUBVERSION" => &mut sub,
            "UK_EXTRAVERSION" => &mut extra,
            _ => continue,
        };
        let value = value.trim();
        if value.contains('$') || value.contains(char::is_whitespace) {
            return Err(VersionError::Unsupported {
                path,
                line: i + 1,
                text: line.to_string(),
            });
        }
        *slot = Some(value.to_string());
    }
    let Some(version) = version else {
        return Ok(None);
    };
    let mut full = format!("{version}.{}", sub.unwrap_or_default());
    if let Some(extra) = extra.filter(|e| !e.is_empty()) {
        full.push('.');
        full.push_str(&extra);
    }
    Ok(Some(full))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Option<String>, VersionError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("version.mk"), text).unwrap();
        read_version_mk(dir.path())
    }

    #[test]
    fn reads_unikraft_0_17() {
        let text = "UK_VERSION = 0\nUK_SUBVERSION = 17\nUK_EXTRAVERSION = 0\n\
                    UK_CODENAME = Calypso\n# https://en.wikipedia.org/wiki/Moons_of_Saturn\n";
        assert_eq!(read(text).unwrap().as_deref(), Some("0.17.0"));
    }

    #[test]
    fn an_empty_extra_version_is_left_out() {
        let text = "UK_VERSION := 1\nUK_SUBVERSION ?= 2 # minor\nUK_EXTRAVERSION =\n";
        assert_eq!(read(text).unwrap().as_deref(), Some("1.2"));
    }

    #[test]
    fn computed_values_are_refused_with_the_line() {
        let err = read("UK_VERSION = 0\nUK_SUBVERSION = $(shell date)\n").unwrap_err();
        assert!(err.to_string().contains("version.mk:2:"), "{err}");
    }

    #[test]
    fn no_file_is_no_version() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_version_mk(dir.path()).unwrap(), None);
    }
}
