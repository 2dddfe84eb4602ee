//! The remote's digest function: SHA-256 (the REAPI default, bazel-remote, BuildGrid) or
//! BLAKE3 (when a REAPI server offers it; then remote digests equal kiln's local ones).

use sha2::Digest as _;

/// A digest function the remote side uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFn {
    /// SHA-256.
    Sha256,
    /// BLAKE3 (32-byte output).
    Blake3,
}

/// A digest in the remote's function: lowercase hex and size, as REAPI's `Digest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteDigest {
    /// Lowercase hex.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
}

impl RemoteDigest {
    /// As the REAPI message.
    pub fn to_proto(&self) -> bazel_remote_apis::build::bazel::remote::execution::v2::Digest {
        bazel_remote_apis::build::bazel::remote::execution::v2::Digest {
            hash: self.hash.clone(),
            size_bytes: self.size as i64,
        }
    }
}

impl std::fmt::Display for RemoteDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.hash, self.size)
    }
}

/// An incremental hasher of either function, counting the bytes.
pub struct Hasher {
    inner: Inner,
    size: u64,
}

enum Inner {
    Sha256(Box<sha2::Sha256>),
    Blake3(Box<blake3::Hasher>),
}

impl HashFn {
    /// A new hasher.
    pub fn hasher(self) -> Hasher {
        let inner = match self {
            HashFn::Sha256 => Inner::Sha256(Box::default()),
            HashFn::Blake3 => Inner::Blake3(Box::default()),
        };
        Hasher { inner, size: 0 }
    }

    /// The digest of `bytes`.
    pub fn of(self, bytes: &[u8]) -> RemoteDigest {
        let mut h = self.hasher();
        h.update(bytes);
        h.finish()
    }

    /// The name REAPI and messages use.
    pub fn name(self) -> &'static str {
        match self {
            HashFn::Sha256 => "SHA-256",
            HashFn::Blake3 => "BLAKE3",
        }
    }
}

impl Hasher {
    /// Hashes more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        match &mut self.inner {
            Inner::Sha256(h) => h.update(bytes),
            Inner::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    /// How many bytes were hashed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest of everything hashed.
    pub fn finish(self) -> RemoteDigest {
        let hash = match self.inner {
            Inner::Sha256(h) => h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
            Inner::Blake3(h) => h.finalize().to_hex().to_string(),
        };
        RemoteDigest {
            hash,
            size: self.size,
        }
    }
}
