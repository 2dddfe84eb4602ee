//! kiln's remote caches: the Bazel HTTP cache protocol ([`http`]) and REAPI over gRPC
//! ([`grpc`]), both behind the engine's [`kiln_engine::remote::RemoteCache`].
//!
//! What a remote entry is (the same for both protocols, see [`mapping`]): kiln's action is
//! described as a REAPI `Action` whose input root holds one file, the canonical JSON of
//! kiln's action (every input digest, parameter and tool), so the remote key covers all that
//! the local BLAKE3 key covers. The key is that message's digest under the remote's digest
//! function; results are REAPI `ActionResult`s whose output files are CAS blobs. Every blob
//! downloaded is hashed while it streams into the local store and dropped unless it matches
//! its digest and size ([`transfer`]).
//!
//! Architecture: this crate depends on `kiln-engine` only; `kiln` (the CLI) opens a cache from
//! the user's settings with [`open`].

pub mod auth;
pub mod grpc;
mod grpc_blobs;

pub mod hashing;
pub mod http;
pub mod mapping;
pub mod transfer;

use std::time::Duration;

use kiln_engine::remote::RemoteCache;

pub use auth::Credentials;

/// The connect and idle timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach a remote cache.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// `http(s)://host[:port][/prefix]` (Bazel HTTP) or `grpc(s)://host[:port]` (REAPI).
    pub url: String,
    /// Connect timeout and idle timeout of every transfer (reset by every byte moved).
    pub timeout: Duration,
    /// The REAPI instance name (gRPC only; the HTTP protocol namespaces by URL path).
    pub instance: String,
    /// Where the credentials come from.
    pub credentials: Credentials,
}

/// A remote cache could not be set up (a bad URL or credential source).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// Opens the remote cache `opts` names. Nothing is sent yet, except for REAPI, whose
/// capabilities are asked at the first lookup.
pub fn open(opts: &RemoteOptions) -> Result<Box<dyn RemoteCache>, SetupError> {
    let scheme = opts.url.split("://").next().unwrap_or("");
    match scheme {
        "http" | "https" => Ok(Box::new(http::HttpCache::new(opts)?)),
        "grpc" | "grpcs" => Ok(Box::new(grpc::GrpcCache::new(opts)?)),

        _ => Err(SetupError(format!(
            "the remote cache URL `{}` has no known scheme: use http:// or https:// for a \
             Bazel HTTP cache (nginx WebDAV, bazel-remote), grpc:// or grpcs:// for REAPI",
            auth::redact(&opts.url)
        ))),
    }
}

/// The tokio runtime the clients run on: the engine's worker threads call `block_on`.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, SetupError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kiln-remote")
        .enable_all()
        .build()
        .map_err(|e| SetupError(format!("cannot start the remote cache's I/O threads: {e}")))
}
