//! Registries: the distribution protocol (through oci-client), credentials, and pushing and
//! pulling the packages kiln keeps.
//!
//! Architecture invariant: a secret never leaves this module except in an HTTP request to
//! the registry it belongs to. [`auth::Secret`] prints as `<redacted>`, errors are built from
//! status codes and registry messages only, and nothing here logs.

pub mod auth;
pub mod client;
pub mod pull;
pub mod push;

use std::path::PathBuf;
use std::time::Duration;

pub use client::{Client, TransferProgress};

/// How to reach one registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    /// `Some(true)`: plain HTTP; `Some(false)`: TLS even on loopback; `None` (not
    /// configured): plain HTTP on loopback (`localhost`, 127.0.0.0/8, `[::1]`), as Docker
    /// does, and TLS everywhere else.
    pub insecure: Option<bool>,
    /// A PEM file of CA certificates to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Hosts to try first when pulling (in order), e.g. a team's pull-through cache.
    pub mirrors: Vec<String>,
    /// Upload in chunks (PATCH per 8 MiB) instead of one streamed PUT.
    pub chunked: bool,
    /// Fail a request when no byte moves for this long.
    pub idle_timeout: Option<Duration>,
}

/// Why a registry operation failed. Messages never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry refused the credentials, or asked for some.
    #[error("{registry}: {message}")]
    Unauthorized {
        /// The registry.
        registry: String,
        /// What happened and what to do.
        message: String,
    },
    /// The reference names nothing on the registry.
    #[error("{reference}: not found on the registry")]
    NotFound {
        /// The reference.
        reference: String,
    },
    /// No manifest of the index matches the platform asked for.
    #[error("{reference} has no manifest for {wanted}; its index holds {holds}")]
    NoMatch {
        /// The package.
        reference: String,
        /// What was asked for.
        wanted: String,
        /// What the index holds.
        holds: String,
    },
    /// Bytes that do not hash to the digest that names them.
    #[error(
        "{what}: the registry sent bytes whose digest is {actual}, not {expected}; nothing was stored"
    )]
    DigestMismatch {
        /// Which blob or manifest.
        what: String,
        /// Its name.
        expected: String,
        /// What arrived.
        actual: String,
    },
    /// The registry cannot be reached, or the connection failed.
    #[error("{registry}: {reason}")]
    Transport {
        /// The registry.
        registry: String,
        /// What went wrong.
        reason: String,
    },
    /// The registry answered something kiln cannot use.
    #[error("{registry}: {reason}")]
    Protocol {
        /// The registry.
        registry: String,
        /// What was wrong.
        reason: String,
    },
    /// Reading from or writing to kiln's store or the disk failed.
    #[error("{0}")]
    Local(String),
}
