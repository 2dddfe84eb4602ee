//! REAPI over gRPC (tonic): Capabilities first, then ActionCache, CAS (FindMissingBlobs,
//! BatchReadBlobs, BatchUpdateBlobs) and ByteStream for blobs too large for a batch.
//!
//! The digest function is the server's: BLAKE3 when its cache capabilities list it (then
//! remote digests are kiln's own), else SHA-256. Every request names the instance and the
//! digest function. Small calls have a deadline of the configured timeout; ByteStream
//! transfers have none, only an idle timeout between messages, and HTTP/2 keep-alive pings
//! find a dead connection. Blobs go first (only those FindMissingBlobs reports missing, and
//! those this run found bad), the ActionResult last.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use kiln_engine::remote::{RemoteCache, RemoteError};
use kiln_engine::{Action, ActionKey, ActionResult, OutputFile, Store};
use re::action_cache_client::ActionCacheClient;
use re::capabilities_client::CapabilitiesClient;
use tonic::transport::{Channel, Endpoint};

use crate::auth::{self, AuthHeader};
use crate::hashing::{HashFn, RemoteDigest};
use crate::mapping::{self, RemoteOutput};
use crate::transfer::{BadBlobs, DigestMemo};
use crate::{RemoteOptions, SetupError};

/// What the server said it supports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub(crate) f: HashFn,
    pub(crate) updates: bool,
    /// The largest batch request (bytes), kiln's own limit included.
    pub(crate) max_batch: u64,
}

/// A REAPI cache.
pub struct GrpcCache {
    endpoint: Endpoint,
    /// The runtime and the channel, made at the first request (a no-op build pays nothing).
    io: OnceLock<Result<(tokio::runtime::Runtime, Channel), String>>,
    pub(crate) instance: String,
    pub(crate) auth: AuthHeader,
    pub(crate) timeout: Duration,
    pub(crate) shown: String,
    caps: Mutex<Option<Caps>>,
    pub(crate) memo: DigestMemo,
    pub(crate) bad: BadBlobs,
}

/// Batches are kept under this many bytes (servers commonly accept 4 MiB messages).
const KILN_MAX_BATCH: u64 = 2 << 20;

impl GrpcCache {
    /// A client for `opts.url` (grpc:// or grpcs://); it connects at the first request.
    pub fn new(opts: &RemoteOptions) -> Result<Self, SetupError> {
        let (url, auth) = auth::resolve(&opts.url, &opts.credentials)?;
        let host = url.host_str().unwrap_or("");
        let port = url.port().unwrap_or(match url.scheme() {
            "grpcs" => 443,
            _ => 80,
        });
        let scheme = match url.scheme() {
            "grpcs" => "https",
            _ => "http",
        };
        let shown = format!("the REAPI cache {}://{host}:{port}", url.scheme());
        let endpoint = Endpoint::from_shared(format!("{scheme}://{host}:{port}"))
            .map_err(|e| SetupError(format!("{shown}: not a usable address ({e})")))?
            .connect_timeout(opts.timeout)
            .http2_keep_alive_interval(opts.timeout)
            .keep_alive_timeout(opts.timeout)
            .keep_alive_while_idle(false)
            .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
            .map_err(|e| SetupError(format!("{shown}: {e}")))?;
        let endpoint = match scheme {
            "https" => endpoint
                .tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots())
                .map_err(|e| SetupError(format!("{shown}: cannot set up TLS ({e})")))?,
            _ => endpoint,
        };
        Ok(GrpcCache {
            endpoint,
            io: OnceLock::new(),
            instance: opts.instance.clone(),
            auth,
            timeout: opts.timeout,
            shown,
            caps: Mutex::new(None),
            memo: DigestMemo::default(),
            bad: BadBlobs::default(),
        })
    }

    fn io(&self) -> Result<&(tokio::runtime::Runtime, Channel), RemoteError> {
        self.io
            .get_or_init(|| {
                let rt = crate::runtime().map_err(|e| e.0)?;
                let channel = {
                    let _guard = rt.enter();
                    self.endpoint.connect_lazy()
                };
                Ok((rt, channel))
            })
            .as_ref()
            .map_err(|e| RemoteError::Unavailable(e.clone()))
    }

    /// The runtime the calls run on.
    pub(crate) fn rt(&self) -> Result<&tokio::runtime::Runtime, RemoteError> {
        self.io().map(|(rt, _)| rt)
    }

    /// The channel to the server (connected at its first use).
    pub(crate) fn channel(&self) -> Result<Channel, RemoteError> {
        self.io().map(|(_, c)| c.clone())
    }

    /// A request carrying the credentials, with a deadline for small calls.
    pub(crate) fn request<T>(&self, message: T, deadline: bool) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        if deadline {
            req.set_timeout(self.timeout);
        }
        if let Some(h) = &self.auth.0
            && let Ok(v) = h.parse()
        {
            req.metadata_mut().insert("authorization", v);
        }
        req
    }

    /// A gRPC status as kiln's error for `what`.
    pub(crate) fn status_error(&self, s: &tonic::Status, what: &str) -> RemoteError {
        use tonic::Code;
        let msg = s.message();
        match s.code() {
            Code::Unauthenticated | Code::PermissionDenied => RemoteError::Refused(format!(
                "{} refused {} ({:?} on {what}: {msg}): check the token file or variable in \
                 [remote], or the user and password",
                self.shown,
                self.auth.kind(),
                s.code()
            )),
            Code::NotFound | Code::InvalidArgument | Code::FailedPrecondition => {
                RemoteError::Corrupt(format!("{} rejected {what}: {msg}", self.shown))
            }
            code => RemoteError::Unavailable(format!(
                "{} is unavailable ({code:?} on {what}: {msg})",
                self.shown
            )),
        }
    }

    /// The server's capabilities, asked once per run.
    pub(crate) fn caps(&self) -> Result<Caps, RemoteError> {
        if let Some(c) = *self.caps.lock().map_err(|_| poisoned())? {
            return Ok(c);
        }
        let req = re::GetCapabilitiesRequest {
            instance_name: self.instance.clone(),
        };
        let mut client = CapabilitiesClient::new(self.channel()?);
        let got = self
            .rt()?
            .block_on(async { client.get_capabilities(self.request(req, true)).await });
        let caps = got
            .map_err(|s| self.status_error(&s, "the capabilities"))?
            .into_inner()
            .cache_capabilities
            .ok_or_else(|| RemoteError::Unavailable(format!("{} offers no cache", self.shown)))?;
        let blake3 = re::digest_function::Value::Blake3 as i32;
        let f = match caps.digest_functions.contains(&blake3) {
            true => HashFn::Blake3,
            false => HashFn::Sha256,
        };
        let limit = u64::try_from(caps.max_batch_total_size_bytes).unwrap_or(0);
        let c = Caps {
            f,
            updates: caps
                .action_cache_update_capabilities
                .is_some_and(|u| u.update_enabled),
            max_batch: match limit {
                0 => KILN_MAX_BATCH,
                n => n.min(KILN_MAX_BATCH),
            },
        };
        *self.caps.lock().map_err(|_| poisoned())? = Some(c);
        Ok(c)
    }

    /// The digest function as the requests' enum value.
    pub(crate) fn function(f: HashFn) -> i32 {
        match f {
            HashFn::Sha256 => re::digest_function::Value::Sha256 as i32,
            HashFn::Blake3 => re::digest_function::Value::Blake3 as i32,
        }
    }

    /// Which digest function was negotiated (after the first request), for tests and
    /// `--explain`.
    pub fn negotiated(&self) -> Option<HashFn> {
        self.caps.lock().ok().and_then(|c| c.map(|c| c.f))
    }
}

pub(crate) fn poisoned() -> RemoteError {
    RemoteError::Unavailable("internal: a lock was poisoned".into())
}

impl RemoteCache for GrpcCache {
    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn fetch(
        &self,
        action: &Action,
        _key: &ActionKey,
        local: &dyn Store,
    ) -> Result<Option<ActionResult>, RemoteError> {
        let caps = self.caps()?;
        let ra = mapping::remote_action(action, caps.f);
        let req = re::GetActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(ra.digest.to_proto()),
            digest_function: Self::function(caps.f),
            ..Default::default()
        };
        let mut client = ActionCacheClient::new(self.channel()?);
        let got = self
            .rt()?
            .block_on(async { client.get_action_result(self.request(req, true)).await });
        let message = match got {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
            Err(s) => return Err(self.status_error(&s, "an action entry")),
        };
        let (outputs, duration_ms) = mapping::decode_message(&message)
            .map_err(|e| RemoteError::Corrupt(format!("{e} (entry {})", ra.digest.hash)))?;
        let files = self.download_all(local, &outputs, caps)?;
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
        let caps = self.caps()?;
        if !caps.updates {
            return Err(RemoteError::Refused(format!(
                "{} does not accept action cache updates: use --remote-upload=false (or \
                 read_only = true in [remote])",
                self.shown
            )));
        }
        let ra = mapping::remote_action(action, caps.f);
        let mut outputs = BTreeMap::new();
        let mut blobs: Vec<(RemoteDigest, &OutputFile)> = Vec::new();
        for (name, file) in &result.outputs {
            let digest = self.memo.digest_of(local, file, caps.f)?;
            blobs.push((digest.clone(), file));
            let out = RemoteOutput {
                digest,
                executable: file.executable,
            };
            outputs.insert(name.clone(), out);
        }
        self.upload_blobs(local, &blobs, &ra.blobs, caps)?;
        let action_result =
            prost::Message::decode(mapping::encode_result(&outputs, result.duration_ms).as_slice())
                .map_err(|e| RemoteError::Corrupt(format!("internal: {e}")))?;
        let req = re::UpdateActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(ra.digest.to_proto()),
            action_result: Some(action_result),
            digest_function: Self::function(caps.f),
            ..Default::default()
        };
        let mut client = ActionCacheClient::new(self.channel()?);
        self.rt()?
            .block_on(async { client.update_action_result(self.request(req, true)).await })
            .map_err(|s| self.status_error(&s, "the action entry upload"))?;
        Ok(())
    }
}
