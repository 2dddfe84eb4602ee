//! The canonical byte encoding that trees and actions are hashed over.
//!
//! Every field is tagged and length-prefixed, so no two different values can encode to the
//! same bytes (no ambiguity between `"ab","c"` and `"a","bc"`). Maps are written in sorted
//! order by their callers (they use `BTreeMap`). Nothing here knows what is being encoded;
//! the domain string passed to [`CanonicalEncoder::new`] separates encodings of different
//! kinds of thing, so a tree can never collide with an action.

use crate::digest::Digest;

/// Builds a canonical encoding and hashes it with BLAKE3 as it goes.
pub struct CanonicalEncoder {
    hasher: blake3::Hasher,
}

impl CanonicalEncoder {
    /// Starts an encoding in `domain` (e.g. `"kiln/tree/v1"`).
    pub fn new(domain: &str) -> Self {
        let mut enc = CanonicalEncoder {
            hasher: blake3::Hasher::new(),
        };
        enc.str(domain);
        enc
    }

    /// Writes a length-prefixed byte string.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.hasher.update(&(bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
        self
    }

    /// Writes a length-prefixed UTF-8 string.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// Writes a fixed-width integer.
    pub fn u64(&mut self, n: u64) -> &mut Self {
        self.hasher.update(&n.to_le_bytes());
        self
    }

    /// Writes a one-byte tag (an enum discriminant).
    pub fn tag(&mut self, t: u8) -> &mut Self {
        self.hasher.update(&[t]);
        self
    }

    /// Writes a digest (fixed 32 bytes).
    pub fn digest(&mut self, d: &Digest) -> &mut Self {
        self.hasher.update(&d.0);
        self
    }

    /// The digest of everything written.
    pub fn finish(&self) -> Digest {
        self.hasher.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefix_prevents_ambiguity() {
        let a = CanonicalEncoder::new("t").str("ab").str("c").finish();
        let b = CanonicalEncoder::new("t").str("a").str("bc").finish();
        assert_ne!(a, b);
    }

    #[test]
    fn domain_separates() {
        let a = CanonicalEncoder::new("x").str("v").finish();
        let b = CanonicalEncoder::new("y").str("v").finish();
        assert_ne!(a, b);
    }
}
