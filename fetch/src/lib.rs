//! `kiln-fetch`: downloading a URL over HTTP(S) into a writer, with the bytes hashed
//! (BLAKE3 and SHA-256) on the way and every way a download can go wrong turned into an
//! error that names the URL.
//!
//! A download fails when the server answers anything but 200, when the connection drops,
//! when the body ends before its announced `Content-Length` (or runs past it), or when no
//! byte arrives for the idle timeout. There is no overall deadline: a large download on a
//! slow link is fine as long as it moves. The caller owns the writer and decides what to do
//! with a failure (throw the partial bytes away); this crate keeps nothing.
//!
//! It knows no kiln concept: no caches, no Kraftfiles, no mirrors (the caller rewrites URLs
//! first). Plain `http://` is allowed (tests serve on loopback; integrity comes from the
//! digests the caller checks, not from TLS).

use std::io::{Read, Write};
use std::time::Duration;

use sha2::Digest as _;

/// What a finished download was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Bytes written.
    pub size: u64,
    /// Their BLAKE3 digest.
    pub blake3: [u8; 32],
    /// Their SHA-256 digest.
    pub sha256: [u8; 32],
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with another status than 200.
    #[error("{url}: the server answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The body was shorter or longer than the `Content-Length` it announced.
    #[error("{url}: the download was cut short: {got} of {expected} bytes arrived")]
    Truncated {
        /// The URL.
        url: String,
        /// What the server announced.
        expected: u64,
        /// What arrived.
        got: u64,
    },
    /// No connection, a dropped connection, a timeout, a TLS failure.
    #[error("{url}: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The writer failed.
    #[error("{url}: cannot store the download: {source}")]
    Write {
        /// The URL.
        url: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Settings of a [`Fetcher`].
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// How long a download may go without receiving a byte (also the connect timeout).
    pub idle_timeout: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Downloads URLs. Cheap to share across threads.
pub struct Fetcher {
    client: reqwest::blocking::Client,
}

impl Fetcher {
    /// A fetcher with `opts`.
    pub fn new(opts: &FetchOptions) -> Result<Fetcher, FetchError> {
        // Installing the process-wide crypto provider fails harmlessly if one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(opts.idle_timeout)
            // The blocking client applies this to each wait: the connect, the headers and
            // every read of the body, so it is an idle timeout, not a deadline.
            .timeout(opts.idle_timeout)
            .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Transport {
                url: String::new(),
                reason: format!("cannot set up the HTTP client: {e}"),
            })?;
        Ok(Fetcher { client })
    }

    /// Downloads `url` into `out`, calling `progress(bytes so far, total if known)` as bytes
    /// arrive. On an error, whatever reached `out` must be thrown away.
    pub fn get(
        &self,
        url: &str,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<Fetched, FetchError> {
        let transport = |e: &dyn std::fmt::Display| FetchError::Transport {
            url: url.to_string(),
            reason: e.to_string(),
        };
        let mut response = self
            .client
            .get(url)
            .send()
            .map_err(|e| transport(&describe(&e)))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        let total = response.content_length();
        let mut b3 = blake3::Hasher::new();
        let mut sha = sha2::Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut size = 0u64;
        loop {
            let n = match response.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(match total {
                        Some(expected) if size < expected => FetchError::Truncated {
                            url: url.to_string(),
                            expected,
                            got: size,
                        },
                        _ => transport(&e),
                    });
                }
            };
            let chunk = &buf[..n];
            b3.update(chunk);
            sha.update(chunk);
            out.write_all(chunk).map_err(|source| FetchError::Write {
                url: url.to_string(),
                source,
            })?;
            size += n as u64;
            progress(size, total);
        }
        if let Some(expected) = total
            && expected != size
        {
            return Err(FetchError::Truncated {
                url: url.to_string(),
                expected,
                got: size,
            });
        }
        out.flush().map_err(|source| FetchError::Write {
            url: url.to_string(),
            source,
        })?;
        Ok(Fetched {
            size,
            blake3: *b3.finalize().as_bytes(),
            sha256: sha.finalize().into(),
        })
    }
}

/// The error's chain of causes in one line (reqwest's top-level message alone says little:
/// "error sending request").
fn describe(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        parts.push(c.to_string());
        cause = c.source();
    }
    parts.dedup();
    parts.join(": ")
}

#[cfg(test)]
mod tests;
