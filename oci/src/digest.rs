//! `Sha256`: the digests registries and OCI layouts name blobs by, and a writer that computes
//! one while bytes pass through it.
//!
//! kiln's own store names blobs by BLAKE3; OCI names them by SHA-256. Both are computed in
//! the same pass over the same bytes wherever a blob is written (see `store.rs`).

use std::fmt;
use std::io::{self, Write};

use sha2::Digest as _;

/// A SHA-256 digest, shown as `sha256:<64 hex>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256(pub [u8; 32]);

/// A string that is not `sha256:<64 lower-case hex>`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a digest of the form sha256:<64 hex digits>")]
pub struct BadDigest(pub String);

impl Sha256 {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256 {
        Sha256(sha2::Sha256::digest(bytes).into())
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses `sha256:<hex>`.
    pub fn parse(s: &str) -> Result<Sha256, BadDigest> {
        let bad = || BadDigest(s.to_string());
        let hex = s.strip_prefix("sha256:").ok_or_else(bad)?;
        Sha256::parse_hex(hex).ok_or_else(bad)
    }

    /// Parses 64 lower-case hex digits.
    pub fn parse_hex(hex: &str) -> Option<Sha256> {
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Sha256(out))
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Sha256::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A writer that passes bytes on and computes their SHA-256 and size.
pub struct Sha256Writer<W> {
    inner: W,
    hasher: sha2::Sha256,
    size: u64,
}

impl<W: Write> Sha256Writer<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Sha256Writer {
            inner,
            hasher: sha2::Sha256::new(),
            size: 0,
        }
    }

    /// The writer, the digest and the size of what was written.
    pub fn finish(self) -> (W, Sha256, u64) {
        (self.inner, Sha256(self.hasher.finalize().into()), self.size)
    }
}

impl<W: Write> Write for Sha256Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_shows_the_same_form() {
        let d = Sha256::of(b"");
        let s = d.to_string();
        assert_eq!(
            s,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Sha256::parse(&s).unwrap(), d);
        assert!(Sha256::parse("sha256:E3B0").is_err());
        assert!(Sha256::parse(&s.replace("sha256", "sha512")).is_err());
    }

    #[test]
    fn the_writer_hashes_what_passes() {
        let mut w = Sha256Writer::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (bytes, d, n) = w.finish();
        assert_eq!((bytes.as_slice(), n), (&b"abc"[..], 3));
        assert_eq!(d, Sha256::of(b"abc"));
    }
}
