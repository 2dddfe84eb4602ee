//! The Bazel HTTP cache protocol: `GET`/`PUT` of `<base>/ac/<action digest>` (a serialized
//! REAPI `ActionResult`) and `<base>/cas/<blob digest>` (the bytes), SHA-256 hex digests, as
//! bazel-remote and nginx's WebDAV module serve them. `HEAD` on a CAS blob skips uploading
//! what the server has.
//!
//! An upload streams the local blob (read through the store's checked reader) with its
//! `Content-Length`; a damaged local blob aborts the request, so the server never gets a
//! complete wrong blob. The entry is `PUT` only after every blob succeeded.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

use kiln_engine::remote::{RemoteCache, RemoteError};
use kiln_engine::{Action, ActionKey, ActionResult, OutputFile, Store};
use reqwest::StatusCode;

use crate::auth::{self, AuthHeader};
use crate::hashing::{HashFn, RemoteDigest};
use crate::mapping::{self, RemoteOutput};
use crate::transfer::{BadBlobs, DigestMemo, Incoming, local_read_error, open_local};
use crate::{RemoteOptions, SetupError};

/// The largest action entry accepted (real ones are a few hundred bytes).
const MAX_ENTRY: usize = 4 << 20;
/// Upload chunk size.
const CHUNK: usize = 256 * 1024;

/// A Bazel HTTP cache.
pub struct HttpCache {
    base: url::Url,
    auth: AuthHeader,
    /// The client and its runtime, made at the first request: a build that asks the remote
    /// nothing (a no-op, all local hits) pays nothing for TLS set-up or threads.
    io: OnceLock<Result<(reqwest::Client, tokio::runtime::Runtime), String>>,
    timeout: Duration,
    memo: DigestMemo,
    bad: BadBlobs,
}

impl HttpCache {
    /// A client for `opts.url` (which must be http:// or https://).
    pub fn new(opts: &RemoteOptions) -> Result<Self, SetupError> {
        let (mut base, auth) = auth::resolve(&opts.url, &opts.credentials)?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(HttpCache {
            base,
            auth,
            io: OnceLock::new(),
            timeout: opts.timeout,
            memo: DigestMemo::default(),
            bad: BadBlobs::default(),
        })
    }

    fn io(&self) -> Result<&(reqwest::Client, tokio::runtime::Runtime), RemoteError> {
        self.io
            .get_or_init(|| {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let client = reqwest::Client::builder()
                    .connect_timeout(self.timeout)
                    // Reset by every read: a slow large blob is fine, a silent server is not.
                    .read_timeout(self.timeout)
                    // Unacknowledged sent data for this long fails an upload (an idle write
                    // timeout).
                    .tcp_user_timeout(self.timeout)
                    .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
                let rt = crate::runtime().map_err(|e| e.0)?;
                Ok((client, rt))
            })
            .as_ref()
            .map_err(|e| RemoteError::Unavailable(e.clone()))
    }

    fn rt(&self) -> Result<&tokio::runtime::Runtime, RemoteError> {
        self.io().map(|(_, rt)| rt)
    }

    fn url(&self, kind: &str, hash: &str) -> url::Url {
        self.base
            .join(&format!("{kind}/{hash}"))
            .expect("a digest path joins")
    }

    fn request(
        &self,
        method: reqwest::Method,
        url: url::Url,
    ) -> Result<reqwest::RequestBuilder, RemoteError> {
        let req = self.io()?.0.request(method, url);
        Ok(match &self.auth.0 {
            Some(h) => req.header(reqwest::header::AUTHORIZATION, h),
            None => req,
        })
    }

    fn unavailable(&self, e: reqwest::Error) -> RemoteError {
        let e = e.without_url();
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            why = format!("{why}: {s}");
            source = s.source();
        }
        RemoteError::Unavailable(format!("{} is unavailable ({why})", self.describe()))
    }

    /// The error for an unexpected status on `what`.
    fn status_error(&self, status: StatusCode, what: &str) -> RemoteError {
        let code = status.as_u16();
        match code {
            401 | 403 => RemoteError::Refused(format!(
                "{} refused {} (HTTP {code} on {what}): check the user and password in the URL \
                 or ~/.netrc, or [remote] token_file / token_env in the config",
                self.describe(),
                self.auth.kind()
            )),
            405 | 501 => RemoteError::Refused(format!(
                "{} does not accept uploads (HTTP {code} on {what}): enable PUT on the server \
                 (nginx: dav_methods PUT) or use --remote-upload=false",
                self.describe()
            )),
            _ => RemoteError::Unavailable(format!(
                "{} is unavailable (HTTP {code} on {what})",
                self.describe()
            )),
        }
    }

    /// GETs the action entry: `None` on 404.
    fn get_entry(&self, hash: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        self.rt()?.block_on(async {
            let resp = self
                .request(reqwest::Method::GET, self.url("ac", hash))?
                .send()
                .await
                .map_err(|e| self.unavailable(e))?;
            match resp.status() {
                StatusCode::NOT_FOUND => return Ok(None),
                s if s.is_success() => {}
                s => return Err(self.status_error(s, "an action entry")),
            }
            let mut resp = resp;
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| self.unavailable(e))? {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_ENTRY {
                    return Err(RemoteError::Corrupt(format!(
                        "the remote action entry {hash} is larger than {MAX_ENTRY} bytes"
                    )));
                }
            }
            Ok(Some(body))
        })
    }

    /// Downloads `digest` into the local store.
    fn download(
        &self,
        local: &dyn Store,
        name: &str,
        out: &RemoteOutput,
    ) -> Result<OutputFile, RemoteError> {
        let what = format!("output `{name}`");
        let mut incoming = Incoming::new(local, HashFn::Sha256, out.digest.clone(), what)?;
        let got = self.rt()?.block_on(async {
            let mut resp = self
                .request(reqwest::Method::GET, self.url("cas", &out.digest.hash))?
                .send()
                .await
                .map_err(|e| self.unavailable(e))?;
            match resp.status() {
                StatusCode::NOT_FOUND => {
                    return Err(RemoteError::Corrupt(format!(
                        "the remote action entry names blob {} (output `{name}`), which the \
                         server does not have",
                        out.digest
                    )));
                }
                s if s.is_success() => {}
                s => return Err(self.status_error(s, "a blob")),
            }
            while let Some(chunk) = resp.chunk().await.map_err(|e| self.unavailable(e))? {
                incoming.push(&chunk)?;
            }
            Ok(())
        });
        let done = got.and_then(|()| incoming.finish(out.executable));
        if let Err(e) = &done {
            self.bad.mark(e, &out.digest);
        }
        let (file, remote) = done?;
        self.memo.remember(file.digest, remote);
        Ok(file)
    }

    /// Whether the server has `digest` (HEAD; a server without HEAD gets the upload).
    fn has_blob(&self, digest: &RemoteDigest) -> Result<bool, RemoteError> {
        if self.bad.contains(digest) {
            return Ok(false);
        }
        self.rt()?.block_on(async {
            let resp = self
                .request(reqwest::Method::HEAD, self.url("cas", &digest.hash))?
                .send()
                .await
                .map_err(|e| self.unavailable(e))?;
            match resp.status() {
                s if s.is_success() => Ok(resp.content_length() == Some(digest.size)),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    Err(self.status_error(resp.status(), "a blob"))
                }
                _ => Ok(false),
            }
        })
    }

    /// PUTs a local blob, streamed from the store's checked reader.
    fn put_blob(
        &self,
        local: &dyn Store,
        file: &OutputFile,
        digest: &RemoteDigest,
    ) -> Result<(), RemoteError> {
        let mut reader = open_local(local, file)?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let req = self
            .request(reqwest::Method::PUT, self.url("cas", &digest.hash))?
            .header(reqwest::header::CONTENT_LENGTH, digest.size)
            .body(reqwest::Body::wrap_stream(stream));
        // Sent on the runtime (its timers need it) while this thread feeds the body.
        let sending = self.rt()?.spawn(async move { req.send().await });
        let mut read_error = None;
        let mut buf = vec![0u8; CHUNK];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.blocking_send(Ok(buf[..n].to_vec())).is_err() {
                        break; // The request ended early; its result says why.
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    let _ = tx.blocking_send(Err(e));
                    read_error = Some(std::io::Error::other(msg));
                    break;
                }
            }
        }
        drop(tx);
        let sent = self.rt()?.block_on(sending);
        if let Some(e) = read_error {
            return Err(local_read_error(file, e));
        }
        let resp = sent
            .map_err(|e| RemoteError::Unavailable(format!("the upload task failed: {e}")))?
            .map_err(|e| self.unavailable(e))?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            s => Err(self.status_error(s, "a blob upload")),
        }
    }

    fn put_entry(&self, hash: &str, body: Vec<u8>) -> Result<(), RemoteError> {
        self.rt()?.block_on(async {
            let resp = self
                .request(reqwest::Method::PUT, self.url("ac", hash))?
                .body(body)
                .send()
                .await
                .map_err(|e| self.unavailable(e))?;
            match resp.status() {
                s if s.is_success() => Ok(()),
                s => Err(self.status_error(s, "an action entry upload")),
            }
        })
    }
}

impl RemoteCache for HttpCache {
    fn describe(&self) -> String {
        format!("the HTTP cache {}", self.base)
    }

    fn fetch(
        &self,
        action: &Action,
        _key: &ActionKey,
        local: &dyn Store,
    ) -> Result<Option<ActionResult>, RemoteError> {
        let ra = mapping::remote_action(action, HashFn::Sha256);
        let Some(entry) = self.get_entry(&ra.digest.hash)? else {
            return Ok(None);
        };
        let (outputs, duration_ms) = mapping::decode_result(&entry)
            .map_err(|e| RemoteError::Corrupt(format!("{e} (entry {})", ra.digest.hash)))?;
        let mut files = BTreeMap::new();
        for (name, out) in &outputs {
            files.insert(name.clone(), self.download(local, name, out)?);
        }
        let mut result = ActionResult::with_outputs(files);
        result.duration_ms = duration_ms;
        Ok(Some(result))
    }

    fn upload(
        &self,
        action: &Action,
        _key: &ActionKey,
        result: &ActionResult,
        local: &dyn Store,
    ) -> Result<(), RemoteError> {
        let ra = mapping::remote_action(action, HashFn::Sha256);
        let mut outputs = BTreeMap::new();
        for (name, file) in &result.outputs {
            let digest = self.memo.digest_of(local, file, HashFn::Sha256)?;
            if !self.has_blob(&digest)? {
                self.put_blob(local, file, &digest)?;
            }
            let out = RemoteOutput {
                digest,
                executable: file.executable,
            };
            outputs.insert(name.clone(), out);
        }
        let entry = mapping::encode_result(&outputs, result.duration_ms);
        self.put_entry(&ra.digest.hash, entry)
    }
}
