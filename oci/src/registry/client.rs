//! A blocking client for one registry: oci-client on a current-thread tokio runtime.
//!
//! Plain HTTP for loopback registries and those configured `insecure`, TLS (rustls, the
//! system's roots plus an optional CA file) for every other. Every blob that arrives is
//! hashed (SHA-256) while it streams and checked against the digest that names it before the
//! caller may keep it; manifests are checked the same way. Uploads stream from a reader: one
//! PUT (monolithic) by default, or PATCH chunks when the registry is configured `chunked`.

use std::io::{Read, Write};
use std::sync::Arc;

use futures_util::StreamExt as _;
use oci_client::RegistryOperation;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use sha2::Digest as _;

use super::auth::Credentials;
use super::{RegistryConfig, RegistryError};
use crate::digest::Sha256;
use crate::reference::{Reference, is_loopback, registry_host};
use crate::spec;

/// Progress of one transfer (a blob being pushed or pulled).
pub trait TransferProgress: Send + Sync {
    /// A transfer of `total` bytes named `label` starts.
    fn start(&self, label: &str, total: u64);
    /// `n` more bytes moved.
    fn advance(&self, n: u64);
    /// It ended (either way).
    fn finish(&self);
}

/// No progress display.
pub struct NoProgress;

impl TransferProgress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// The media types kiln accepts for a manifest.
const ACCEPT: [&str; 4] = [
    spec::MEDIA_INDEX,
    spec::MEDIA_MANIFEST,
    spec::MEDIA_DOCKER_LIST,
    spec::MEDIA_DOCKER_MANIFEST,
];

/// A connection to one registry.
pub struct Client {
    rt: tokio::runtime::Runtime,
    inner: oci_client::Client,
    auth: RegistryAuth,
    /// The registry's name (as in references).
    registry: String,
    /// The host connected to.
    host: String,
    /// Plain HTTP.
    plain: bool,
}

impl Client {
    /// A client for `registry` (`host[:port]`), connecting to `host` (the registry itself or
    /// one of its mirrors).
    pub fn new(
        registry: &str,
        host: &str,
        config: &RegistryConfig,
        credentials: Option<&Credentials>,
    ) -> Result<Client, RegistryError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let local = |reason: String| RegistryError::Local(reason);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| local(format!("cannot start the network runtime: {e}")))?;
        let mut extra_root_certificates = Vec::new();
        if let Some(ca) = &config.ca_file {
            let data = std::fs::read(ca)
                .map_err(|e| local(format!("the CA file {} for {registry}: {e}", ca.display())))?;
            extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let plain = config.insecure.unwrap_or_else(|| is_loopback(host));
        let client_config = ClientConfig {
            protocol: if plain {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            extra_root_certificates,
            use_monolithic_push: !config.chunked,
            read_timeout: Some(
                config
                    .idle_timeout
                    .unwrap_or(std::time::Duration::from_secs(60)),
            ),
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            user_agent: concat!("kiln/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let auth = match credentials {
            None => RegistryAuth::Anonymous,
            Some(Credentials::Basic { username, password }) => {
                RegistryAuth::Basic(username.clone(), password.expose().to_string())
            }
            Some(Credentials::Bearer(token)) => RegistryAuth::Bearer(token.expose().to_string()),
        };
        Ok(Client {
            rt,
            inner: oci_client::Client::new(client_config),
            auth,
            registry: registry.to_string(),
            host: registry_host(host).to_string(),
            plain,
        })
    }

    fn image(&self, r: &Reference, tag_or_digest: &str) -> oci_client::Reference {
        if tag_or_digest.starts_with("sha256:") {
            oci_client::Reference::with_digest(
                self.host.clone(),
                r.repository.clone(),
                tag_or_digest.into(),
            )
        } else {
            oci_client::Reference::with_tag(
                self.host.clone(),
                r.repository.clone(),
                tag_or_digest.into(),
            )
        }
    }

    /// Signs in for `op` on `r`'s repository (a token from the registry's token server, or
    /// Basic), so that later requests carry it.
    pub fn authenticate(&self, r: &Reference, push: bool) -> Result<(), RegistryError> {
        let op = if push {
            RegistryOperation::Push
        } else {
            RegistryOperation::Pull
        };
        let image = self.image(r, r.tag_or_latest());
        self.rt
            .block_on(self.inner.auth(&image, &self.auth, op))
            .map(|_| ())
            .map_err(|e| self.error(e, &r.to_string()))
    }

    /// Checks the credentials: `GET /v2/` must answer 200 with them.
    pub fn check_login(&self) -> Result<(), RegistryError> {
        let scheme = if self.plain() { "http" } else { "https" };
        let url = format!("{scheme}://{}/v2/", self.host);
        let image = oci_client::Reference::with_tag(
            self.host.clone(),
            "kiln-login-check".into(),
            "latest".into(),
        );
        let auth = self.auth.clone();
        let outcome = self.rt.block_on(async {
            // A token registry answers 401 on /v2/ with a challenge; oci-client's auth does
            // the token exchange, which fails for wrong credentials.
            self.inner
                .auth(&image, &auth, RegistryOperation::Pull)
                .await?;
            self.inner
                .list_tags(&image, &auth, Some(1), None)
                .await
                .map(|_| ())
        });
        match outcome {
            Ok(()) => Ok(()),
            Err(OciDistributionError::UnauthorizedError { .. })
            | Err(OciDistributionError::AuthenticationFailure(_)) => Err(self.unauthorized()),
            // The probe repository does not exist: the registry let us in to ask.
            Err(OciDistributionError::RegistryError { envelope, .. })
                if envelope
                    .errors
                    .iter()
                    .any(|e| format!("{:?}", e.code).contains("NameUnknown")) =>
            {
                Ok(())
            }
            Err(OciDistributionError::ServerError { code: 404, .. }) => Ok(()),
            Err(e) => Err(self.error(e, &url)),
        }
    }

    fn plain(&self) -> bool {
        self.plain
    }

    fn unauthorized(&self) -> RegistryError {
        let message = match &self.auth {
            RegistryAuth::Anonymous => format!(
                "the registry needs credentials; run `kiln login {} -u USER --password-stdin`",
                self.registry
            ),
            _ => format!(
                "the registry refused the credentials (wrong user name or password?); run \
                 `kiln login {} -u USER --password-stdin` again",
                self.registry
            ),
        };
        RegistryError::Unauthorized {
            registry: self.registry.clone(),
            message,
        }
    }

    /// Turns oci-client's error into one that names the registry and says what to do.
    fn error(&self, e: OciDistributionError, what: &str) -> RegistryError {
        let registry = self.registry.clone();
        match e {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => self.unauthorized(),
            OciDistributionError::ServerError {
                code: 401 | 403, ..
            } => self.unauthorized(),
            OciDistributionError::ImageManifestNotFoundError(_)
            | OciDistributionError::ServerError { code: 404, .. } => RegistryError::NotFound {
                reference: what.to_string(),
            },
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<String> = envelope
                    .errors
                    .iter()
                    .map(|e| format!("{:?}: {}", e.code, e.message))
                    .collect();
                if codes
                    .iter()
                    .any(|c| c.contains("Unauthorized") || c.contains("Denied"))
                {
                    return self.unauthorized();
                }
                if codes.iter().any(|c| {
                    c.contains("ManifestUnknown")
                        || c.contains("NameUnknown")
                        || c.contains("BlobUnknown")
                }) {
                    return RegistryError::NotFound {
                        reference: what.to_string(),
                    };
                }
                RegistryError::Protocol {
                    registry,
                    reason: format!("{what}: {}", codes.join("; ")),
                }
            }
            OciDistributionError::RequestError(e) => match e.status().map(|s| s.as_u16()) {
                Some(401 | 403) => self.unauthorized(),
                Some(404) => RegistryError::NotFound {
                    reference: what.to_string(),
                },
                _ => RegistryError::Transport {
                    registry,
                    reason: transport_reason(&e),
                },
            },
            OciDistributionError::ServerError { code, message, .. } => RegistryError::Protocol {
                registry,
                reason: format!("{what}: the registry answered {code}: {}", message.trim()),
            },
            other => RegistryError::Protocol {
                registry,
                reason: format!("{what}: {other}"),
            },
        }
    }

    /// The manifest or index `tag_or_digest` names, checked against its digest: the one asked
    /// for, or the one the registry announces. Returns the bytes, digest and media type.
    pub fn get_manifest(
        &self,
        r: &Reference,
        tag_or_digest: &str,
    ) -> Result<(Vec<u8>, Sha256, String), RegistryError> {
        let image = self.image(r, tag_or_digest);
        let what = format!("{}:{}", r.name(), tag_or_digest);
        let (bytes, announced) = self
            .rt
            .block_on(self.inner.pull_manifest_raw(&image, &self.auth, &ACCEPT))
            .map_err(|e| self.error(e, &what))?;
        let actual = Sha256::of(&bytes);
        let expected = match Sha256::parse(tag_or_digest) {
            Ok(d) => Some(d),
            Err(_) => Sha256::parse(&announced).ok(),
        };
        if let Some(expected) = expected
            && expected != actual
        {
            return Err(RegistryError::DigestMismatch {
                what,
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| spec::MEDIA_MANIFEST.to_string());
        Ok((bytes.to_vec(), actual, media_type))
    }

    /// Whether `r`'s repository has the blob `digest` (`HEAD`).
    pub fn has_blob(&self, r: &Reference, digest: &Sha256) -> Result<bool, RegistryError> {
        let image = self.image(r, r.tag_or_latest());
        self.rt
            .block_on(self.inner.blob_exists(&image, &digest.to_string()))
            .map_err(|e| self.error(e, &digest.to_string()))
    }

    /// Mounts the blob `digest` from repository `from` of the same registry; false when the
    /// registry would not (it then has to be uploaded).
    pub fn mount(&self, r: &Reference, from: &str, digest: &Sha256) -> bool {
        let image = self.image(r, r.tag_or_latest());
        let source =
            oci_client::Reference::with_tag(self.host.clone(), from.into(), "latest".into());
        self.rt
            .block_on(self.inner.mount_blob(&image, &source, &digest.to_string()))
            .is_ok()
    }

    /// Uploads the blob `digest` of `size` bytes, read from `data`.
    pub fn push_blob(
        &self,
        r: &Reference,
        digest: &Sha256,
        size: u64,
        data: Box<dyn Read + Send>,
        progress: Arc<dyn TransferProgress>,
    ) -> Result<(), RegistryError> {
        let image = self.image(r, r.tag_or_latest());
        progress.start(&format!("push {}", &digest.hex()[..12]), size);
        let stream = read_stream(data, progress.clone());
        let pushed = self.rt.block_on(self.inner.push_blob_stream(
            &image,
            stream,
            &digest.to_string(),
            Some(size),
        ));
        progress.finish();
        pushed
            .map(|_| ())
            .map_err(|e| self.error(e, &digest.to_string()))
    }

    /// Puts the manifest `bytes` (exactly these bytes) at `tag_or_digest`; returns the digest
    /// the registry computed, which must be the bytes' own.
    pub fn put_manifest(
        &self,
        r: &Reference,
        tag_or_digest: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(), RegistryError> {
        let image = self.image(r, tag_or_digest);
        let what = format!("{}:{}", r.name(), tag_or_digest);
        let content_type = media_type
            .parse()
            .map_err(|_| RegistryError::Local(format!("bad media type {media_type}")))?;
        let url = self
            .rt
            .block_on(
                self.inner
                    .push_manifest_raw(&image, bytes.to_vec(), content_type),
            )
            .map_err(|e| self.error(e, &what))?;
        let expected = Sha256::of(bytes).to_string();
        if url.contains("sha256:") && !url.contains(&expected) {
            return Err(RegistryError::Protocol {
                registry: self.registry.clone(),
                reason: format!(
                    "{what}: the registry stored the manifest under another digest than {expected} ({url})"
                ),
            });
        }
        Ok(())
    }

    /// Downloads the blob `digest` (`size` bytes) into `out`, hashing it as it streams; a
    /// blob that does not hash to `digest`, or is not `size` bytes, is an error (the caller
    /// then discards what `out` got).
    pub fn pull_blob(
        &self,
        r: &Reference,
        digest: &Sha256,
        size: u64,
        out: &mut dyn Write,
        progress: &dyn TransferProgress,
    ) -> Result<(), RegistryError> {
        let image = self.image(r, r.tag_or_latest());
        let d = digest.to_string();
        progress.start(&format!("pull {}", &digest.hex()[..12]), size);
        let result = self.rt.block_on(async {
            let mut stream = self
                .inner
                .pull_blob_stream(&image, d.as_str())
                .await
                .map_err(|e| self.error(e, &d))?;
            let mut hasher = sha2::Sha256::new();
            let mut got = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.stream_error(e, &d, &hasher, got))?;
                hasher.update(&chunk);
                got += chunk.len() as u64;
                out.write_all(&chunk)
                    .map_err(|e| RegistryError::Local(format!("storing {d}: {e}")))?;
                progress.advance(chunk.len() as u64);
            }
            let actual = Sha256(hasher.finalize().into());
            if actual != *digest || got != size {
                return Err(RegistryError::DigestMismatch {
                    what: format!("blob {d} of {}", r.name()),
                    expected: format!("{d} ({size} bytes)"),
                    actual: format!("{actual} ({got} bytes)"),
                });
            }
            Ok(())
        });
        progress.finish();
        result
    }

    /// An error while a blob streams: oci-client's own digest check says "digest" and is a
    /// mismatch; anything else is the connection.
    fn stream_error(
        &self,
        e: std::io::Error,
        d: &str,
        hasher: &sha2::Sha256,
        got: u64,
    ) -> RegistryError {
        let text = e.to_string();
        if text.to_lowercase().contains("digest") {
            let actual = Sha256(hasher.clone().finalize().into());
            return RegistryError::DigestMismatch {
                what: format!("blob {d}"),
                expected: d.to_string(),
                actual: format!("{actual} ({got} bytes)"),
            };
        }
        RegistryError::Transport {
            registry: self.registry.clone(),
            reason: format!("downloading {d}: {text}"),
        }
    }
}

/// A reqwest error as a short reason (the URL, the cause), never a header.
fn transport_reason(e: &reqwest::Error) -> String {
    let mut reason = if e.is_connect() {
        "cannot connect".to_string()
    } else if e.is_timeout() {
        "the registry stopped answering (timed out)".to_string()
    } else {
        "the connection failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason.push_str(&format!(": {s}"));
        source = s.source();
    }
    if let Some(url) = e.url() {
        reason.push_str(&format!(
            " ({})",
            url.as_str().split('?').next().unwrap_or("")
        ));
    }
    reason
}

/// `data` as a stream of 1 MiB chunks, counted into `progress`.
fn read_stream(
    data: Box<dyn Read + Send>,
    progress: Arc<dyn TransferProgress>,
) -> impl futures_util::Stream<Item = oci_client::errors::Result<bytes::Bytes>> + Send + 'static {
    futures_util::stream::unfold(Some(data), move |state| {
        let progress = progress.clone();
        async move {
            let mut reader = state?;
            let mut buf = vec![0u8; 1 << 20];
            match reader.read(&mut buf) {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    progress.advance(n as u64);
                    Some((Ok(bytes::Bytes::from(buf)), Some(reader)))
                }
                Err(e) => Some((Err(OciDistributionError::IoError(e)), None)),
            }
        }
    })
}
