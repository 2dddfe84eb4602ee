//! Moving CAS blobs over REAPI: small ones in batches (BatchReadBlobs, BatchUpdateBlobs,
//! each request under the server's and kiln's size limit), large ones through ByteStream,
//! streamed with an idle timeout between messages and no deadline. Every downloaded blob is
//! verified while it streams into the local store ([`Incoming`]); uploads read the local
//! blob through the store's checked reader.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use bazel_remote_apis::google::bytestream::byte_stream_client::ByteStreamClient;
use bazel_remote_apis::google::bytestream::{ReadRequest, WriteRequest};
use kiln_engine::remote::RemoteError;
use kiln_engine::{OutputFile, Store};
use re::content_addressable_storage_client::ContentAddressableStorageClient as CasClient;

use crate::grpc::{Caps, GrpcCache};
use crate::hashing::{HashFn, RemoteDigest};
use crate::mapping::RemoteOutput;
use crate::transfer::{Incoming, local_read_error, open_local};

/// ByteStream message size.
const CHUNK: usize = 512 * 1024;

impl GrpcCache {
    fn cas(&self) -> Result<CasClient<tonic::transport::Channel>, RemoteError> {
        Ok(CasClient::new(self.channel()?))
    }

    /// The ByteStream resource of `d` (`uploads/<uuid>/` before `blobs` for a write).
    fn resource(&self, d: &RemoteDigest, f: HashFn, upload: Option<&str>) -> String {
        let mut parts: Vec<String> = Vec::new();
        if !self.instance.is_empty() {
            parts.push(self.instance.clone());
        }
        if let Some(id) = upload {
            parts.push(format!("uploads/{id}"));
        }
        parts.push("blobs".into());
        if f == HashFn::Blake3 {
            parts.push("blake3".into());
        }
        parts.push(d.hash.clone());
        parts.push(d.size.to_string());
        parts.join("/")
    }

    /// Downloads every output into the local store.
    pub(crate) fn download_all(
        &self,
        local: &dyn Store,
        outputs: &BTreeMap<String, RemoteOutput>,
        caps: Caps,
    ) -> Result<BTreeMap<String, OutputFile>, RemoteError> {
        let mut files = BTreeMap::new();
        let mut batch: Vec<(&String, &RemoteOutput)> = Vec::new();
        let mut batch_size = 0;
        for (name, out) in outputs {
            if out.digest.size > caps.max_batch / 2 {
                files.insert(name.clone(), self.read_stream(local, name, out, caps.f)?);
                continue;
            }
            if batch_size + out.digest.size > caps.max_batch / 2 {
                files.extend(self.read_batch(local, &batch, caps.f)?);
                batch.clear();
                batch_size = 0;
            }
            batch_size += out.digest.size;
            batch.push((name, out));
        }
        files.extend(self.read_batch(local, &batch, caps.f)?);
        Ok(files)
    }

    fn read_batch(
        &self,
        local: &dyn Store,
        batch: &[(&String, &RemoteOutput)],
        f: HashFn,
    ) -> Result<Vec<(String, OutputFile)>, RemoteError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let req = re::BatchReadBlobsRequest {
            instance_name: self.instance.clone(),
            digests: batch.iter().map(|(_, o)| o.digest.to_proto()).collect(),
            digest_function: Self::function(f),
            ..Default::default()
        };
        let mut cas = self.cas()?;
        let got = self
            .rt()?
            .block_on(async { cas.batch_read_blobs(self.request(req, true)).await })
            .map_err(|s| self.status_error(&s, "a blob batch"))?
            .into_inner();
        let mut by_hash: BTreeMap<String, re::batch_read_blobs_response::Response> = got
            .responses
            .into_iter()
            .filter_map(|r| r.digest.clone().map(|d| (d.hash, r)))
            .collect();
        let mut files = Vec::new();
        for (name, out) in batch {
            let missing = || {
                RemoteError::Corrupt(format!(
                    "the remote action entry names blob {} (output `{name}`), which the \
                     server does not have",
                    out.digest
                ))
            };
            let r = by_hash.remove(&out.digest.hash).ok_or_else(missing)?;
            if r.status.as_ref().is_some_and(|s| s.code != 0) {
                return Err(missing());
            }
            let what = format!("output `{name}`");
            let mut incoming = Incoming::new(local, f, out.digest.clone(), what)?;
            let done = incoming
                .push(&r.data)
                .and_then(|()| incoming.finish(out.executable));
            if let Err(e) = &done {
                self.bad.mark(e, &out.digest);
            }
            let (file, remote) = done?;
            self.memo.remember(file.digest, remote);
            files.push((name.to_string(), file));
        }
        Ok(files)
    }

    fn read_stream(
        &self,
        local: &dyn Store,
        name: &str,
        out: &RemoteOutput,
        f: HashFn,
    ) -> Result<OutputFile, RemoteError> {
        let what = format!("output `{name}`");
        let mut incoming = Incoming::new(local, f, out.digest.clone(), what)?;
        let req = ReadRequest {
            resource_name: self.resource(&out.digest, f, None),
            read_offset: 0,
            read_limit: 0,
        };
        let mut client = ByteStreamClient::new(self.channel()?);
        let got = self.rt()?.block_on(async {
            let mut stream = client
                .read(self.request(req, false))
                .await
                .map_err(|s| self.stream_error(&s, out, name))?
                .into_inner();
            loop {
                let next = tokio::time::timeout(self.timeout, stream.message())
                    .await
                    .map_err(|_| self.idle(name))?
                    .map_err(|s| self.stream_error(&s, out, name))?;
                match next {
                    Some(m) => incoming.push(&m.data)?,
                    None => return Ok(()),
                }
            }
        });
        let done = got.and_then(|()| incoming.finish(out.executable));
        if let Err(e) = &done {
            self.bad.mark(e, &out.digest);
        }
        let (file, remote) = done?;
        self.memo.remember(file.digest, remote);
        Ok(file)
    }

    fn stream_error(&self, s: &tonic::Status, out: &RemoteOutput, name: &str) -> RemoteError {
        match s.code() {
            tonic::Code::NotFound => RemoteError::Corrupt(format!(
                "the remote action entry names blob {} (output `{name}`), which the server \
                 does not have",
                out.digest
            )),
            _ => self.status_error(s, "a blob download"),
        }
    }

    fn idle(&self, what: &str) -> RemoteError {
        RemoteError::Unavailable(format!(
            "{} sent nothing for {} s while transferring {what}",
            self.shown,
            self.timeout.as_secs()
        ))
    }

    /// Uploads what the server is missing of `outputs` (local blobs) and `extra` (bytes).
    pub(crate) fn upload_blobs(
        &self,
        local: &dyn Store,
        outputs: &[(RemoteDigest, &OutputFile)],
        extra: &[(RemoteDigest, Vec<u8>)],
        caps: Caps,
    ) -> Result<(), RemoteError> {
        let mut all: Vec<RemoteDigest> = outputs.iter().map(|(d, _)| d.clone()).collect();
        all.extend(extra.iter().map(|(d, _)| d.clone()));
        all.sort();
        all.dedup();
        let missing = self.find_missing(&all, caps.f)?;
        let mut done: HashSet<String> = HashSet::new();
        let mut batch: Vec<(RemoteDigest, Vec<u8>)> = Vec::new();
        let mut batch_size = 0;
        let mut queue = |d: &RemoteDigest, bytes: Vec<u8>, me: &Self| {
            if batch_size + d.size > caps.max_batch / 2 {
                me.write_batch(std::mem::take(&mut batch), caps.f)?;
                batch_size = 0;
            }
            batch_size += d.size;
            batch.push((d.clone(), bytes));
            Ok::<(), RemoteError>(())
        };
        for (d, bytes) in extra {
            if missing.contains(&d.hash) && done.insert(d.hash.clone()) {
                queue(d, bytes.clone(), self)?;
            }
        }
        for (d, file) in outputs {
            if !missing.contains(&d.hash) || !done.insert(d.hash.clone()) {
                continue;
            }
            if d.size > caps.max_batch / 2 {
                self.write_stream(local, d, file, caps.f)?;
                continue;
            }
            let mut bytes = Vec::with_capacity(d.size as usize);
            open_local(local, file)?
                .read_to_end(&mut bytes)
                .map_err(|e| local_read_error(file, e))?;
            queue(d, bytes, self)?;
        }
        self.write_batch(batch, caps.f)
    }

    fn find_missing(
        &self,
        all: &[RemoteDigest],
        f: HashFn,
    ) -> Result<HashSet<String>, RemoteError> {
        let req = re::FindMissingBlobsRequest {
            instance_name: self.instance.clone(),
            blob_digests: all.iter().map(RemoteDigest::to_proto).collect(),
            digest_function: Self::function(f),
        };
        let mut cas = self.cas()?;
        let got = self
            .rt()?
            .block_on(async { cas.find_missing_blobs(self.request(req, true)).await })
            .map_err(|s| self.status_error(&s, "FindMissingBlobs"))?
            .into_inner();
        let mut missing: HashSet<String> = got
            .missing_blob_digests
            .into_iter()
            .map(|d| d.hash)
            .collect();
        missing.extend(
            all.iter()
                .filter(|d| self.bad.contains(d))
                .map(|d| d.hash.clone()),
        );
        Ok(missing)
    }

    fn write_batch(
        &self,
        batch: Vec<(RemoteDigest, Vec<u8>)>,
        f: HashFn,
    ) -> Result<(), RemoteError> {
        if batch.is_empty() {
            return Ok(());
        }
        let req = re::BatchUpdateBlobsRequest {
            instance_name: self.instance.clone(),
            requests: batch
                .into_iter()
                .map(|(d, data)| re::batch_update_blobs_request::Request {
                    digest: Some(d.to_proto()),
                    data,
                    compressor: 0,
                })
                .collect(),
            digest_function: Self::function(f),
        };
        let mut cas = self.cas()?;
        let got = self
            .rt()?
            .block_on(async { cas.batch_update_blobs(self.request(req, true)).await })
            .map_err(|s| self.status_error(&s, "a blob batch upload"))?
            .into_inner();
        for r in got.responses {
            if let Some(s) = r.status.filter(|s| s.code != 0) {
                return Err(RemoteError::Unavailable(format!(
                    "{} did not store blob {}: {}",
                    self.shown,
                    r.digest.map(|d| d.hash).unwrap_or_default(),
                    s.message
                )));
            }
        }
        Ok(())
    }

    fn write_stream(
        &self,
        local: &dyn Store,
        d: &RemoteDigest,
        file: &OutputFile,
        f: HashFn,
    ) -> Result<(), RemoteError> {
        let mut reader = open_local(local, file)?;
        let resource = self.resource(d, f, Some(&upload_id(d)));
        let (tx, rx) = tokio::sync::mpsc::channel::<WriteRequest>(4);
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|m| (m, rx)) },
            );
        let req = self.request(stream, false);
        let channel = self.channel()?;
        let call = self
            .rt()?
            .spawn(async move { ByteStreamClient::new(channel).write(req).await });
        let mut offset = 0u64;
        let mut buf = vec![0u8; CHUNK];
        let mut failed = None;
        while offset < d.size {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    failed = Some(local_read_error(file, e));
                    break;
                }
            };
            let message = WriteRequest {
                resource_name: if offset == 0 {
                    resource.clone()
                } else {
                    String::new()
                },
                write_offset: offset as i64,
                finish_write: offset + n as u64 == d.size,
                data: buf[..n].to_vec(),
            };
            offset += n as u64;
            let sent = self
                .rt()?
                .block_on(async { tokio::time::timeout(self.timeout, tx.send(message)).await });
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break, // The call ended early; its result says why.
                Err(_) => {
                    failed = Some(self.idle("a blob upload"));
                    break;
                }
            }
        }
        drop(tx);
        if failed.is_none() && offset == d.size {
            // The checked reader fails at its end on damaged bytes: read it to the end.
            if let Err(e) = reader.read(&mut buf) {
                failed = Some(local_read_error(file, e));
            }
        }
        let answer = self.rt()?.block_on(call);
        if let Some(e) = failed {
            return Err(e);
        }
        let committed = answer
            .map_err(|e| RemoteError::Unavailable(format!("the upload task failed: {e}")))?
            .map_err(|s| self.status_error(&s, "a blob upload"))?
            .into_inner()
            .committed_size;
        match u64::try_from(committed) {
            Ok(n) if n == d.size => Ok(()),
            _ => Err(RemoteError::Unavailable(format!(
                "{} committed {committed} of the {} bytes of blob {}",
                self.shown, d.size, d.hash
            ))),
        }
    }
}

/// A UUID-shaped upload id, unique per process, blob and moment (REAPI only needs it to be
/// unique among concurrent uploads).
fn upload_id(d: &RemoteDigest) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos())
        .unwrap_or(0);
    let seed = format!("{}/{}/{now}", std::process::id(), d.hash);
    let h = blake3::hash(seed.as_bytes()).to_hex().to_string();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}
