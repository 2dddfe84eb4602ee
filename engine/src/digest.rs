//! Typed BLAKE3 digests.
//!
//! Every hash in kiln is a 32-byte BLAKE3 digest, but a blob digest, a tree digest and an
//! action key are different things: passing one where another is expected is a bug that
//! poisons caches. [`TypedDigest`] carries the kind in the type, so the compiler catches it.
//! This module does not hash files; see [`crate::tree`] and [`crate::hashing`] for that.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

/// A raw 32-byte BLAKE3 digest with no kind attached.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(*blake3::hash(bytes).as_bytes())
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// Parses 64 hex characters.
    pub fn from_hex(hex: &str) -> Result<Self, DigestParseError> {
        blake3::Hash::from_hex(hex)
            .map(|h| Digest(*h.as_bytes()))
            .map_err(|_| DigestParseError(hex.chars().take(80).collect()))
    }
}

impl From<blake3::Hash> for Digest {
    fn from(h: blake3::Hash) -> Self {
        Digest(*h.as_bytes())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", &self.to_hex()[..12])
    }
}

/// A string that is not a 64-character hex digest.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not a 64-character hex BLAKE3 digest: {0:?}")]
pub struct DigestParseError(pub String);

/// The kind of thing a digest names. Implemented by the zero-sized marker types below.
pub trait DigestKind: 'static {
    /// A short name used in debug output and error messages.
    const NAME: &'static str;
}

/// Marker: the digest of a blob's bytes (a file's content, a cpio archive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Blob {}
/// Marker: the digest of a [`crate::tree::Tree`]'s canonical encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TreeKind {}
/// Marker: the digest of an [`crate::action::Action`]'s canonical encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionKind {}

impl DigestKind for Blob {
    const NAME: &'static str = "blob";
}
impl DigestKind for TreeKind {
    const NAME: &'static str = "tree";
}
impl DigestKind for ActionKind {
    const NAME: &'static str = "action";
}

/// A digest that knows what it names.
pub struct TypedDigest<K: DigestKind> {
    raw: Digest,
    kind: PhantomData<K>,
}

/// The digest of a blob's bytes.
pub type BlobDigest = TypedDigest<Blob>;
/// The digest of a tree's canonical encoding.
pub type TreeDigest = TypedDigest<TreeKind>;
/// The key of an action in the action cache.
pub type ActionKey = TypedDigest<ActionKind>;

impl<K: DigestKind> TypedDigest<K> {
    /// Wraps a raw digest. Only code that just computed the digest of a `K` should call this.
    pub const fn from_raw(raw: Digest) -> Self {
        TypedDigest {
            raw,
            kind: PhantomData,
        }
    }

    /// The raw digest, for encodings that mix kinds (an action's inputs).
    pub const fn raw(&self) -> Digest {
        self.raw
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.raw.to_hex()
    }

    /// Parses 64 hex characters.
    pub fn from_hex(hex: &str) -> Result<Self, DigestParseError> {
        Digest::from_hex(hex).map(Self::from_raw)
    }
}

impl BlobDigest {
    /// The digest of `bytes` as a blob.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self::from_raw(Digest::of(bytes))
    }
}

// Manual impls: derive would demand the bounds on K, which is an uninhabited marker.
impl<K: DigestKind> Clone for TypedDigest<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K: DigestKind> Copy for TypedDigest<K> {}
impl<K: DigestKind> PartialEq for TypedDigest<K> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}
impl<K: DigestKind> Eq for TypedDigest<K> {}
impl<K: DigestKind> std::hash::Hash for TypedDigest<K> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.raw.hash(state)
    }
}
impl<K: DigestKind> PartialOrd for TypedDigest<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K: DigestKind> Ord for TypedDigest<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.raw.cmp(&other.raw)
    }
}
impl<K: DigestKind> fmt::Display for TypedDigest<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.raw, f)
    }
}
impl<K: DigestKind> fmt::Debug for TypedDigest<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", K::NAME, &self.raw.to_hex()[..12])
    }
}
impl<K: DigestKind> FromStr for TypedDigest<K> {
    type Err = DigestParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}
impl<K: DigestKind> serde::Serialize for TypedDigest<K> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}
impl<'de, K: DigestKind> serde::Deserialize<'de> for TypedDigest<K> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}
impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}
impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let d = BlobDigest::of_bytes(b"hello");
        let back: BlobDigest = d.to_hex().parse().unwrap();
        assert_eq!(d, back);
        assert_eq!(d.to_hex().len(), 64);
    }

    #[test]
    fn known_vector() {
        // b3sum of the empty input.
        assert_eq!(
            Digest::of(b"").to_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn bad_hex_is_an_error() {
        assert!(BlobDigest::from_hex("xyz").is_err());
        assert!(BlobDigest::from_hex(&"0".repeat(63)).is_err());
    }

    #[test]
    fn json_round_trip() {
        let d = BlobDigest::of_bytes(b"x");
        let json = serde_json::to_string(&d).unwrap();
        let back: BlobDigest = serde_json::from_str(&json).unwrap();
        assert_eq!(d, back);
    }
}
