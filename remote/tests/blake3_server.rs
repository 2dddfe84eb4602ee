//! kiln's REAPI client against an in-memory REAPI server built on the crate's generated
//! server traits, because no server that offers BLAKE3 (NativeLink, BuildBuddy, Buildfarm)
//! is packaged here. The server follows the spec where it matters to a client: it lists its
//! digest functions in its capabilities, keys blobs and entries by (function, hash), verifies
//! every uploaded blob against its digest with the request's function (INVALID_ARGUMENT
//! otherwise), names BLAKE3 ByteStream resources `blobs/blake3/<hash>/<size>`, and answers
//! NOT_FOUND for what it lacks. Checked: BLAKE3 is negotiated when offered (remote digests are
//! then kiln's own), SHA-256 when not; batches and ByteStream both ways; a hit brings the same
//! bytes into another local store; wrong bytes on the server are a `Corrupt` miss.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use bazel_remote_apis::google::bytestream as bs;
use kiln_engine::memstore::MemStore;
use kiln_engine::remote::{RemoteCache, RemoteError};
use kiln_engine::{Action, ActionResult, Digest, Store};
use kiln_remote::RemoteOptions;
use kiln_remote::auth::Credentials;
use kiln_remote::grpc::GrpcCache;
use kiln_remote::hashing::HashFn;
use tonic::{Request, Response, Status};

const SHA256: i32 = re::digest_function::Value::Sha256 as i32;
const BLAKE3: i32 = re::digest_function::Value::Blake3 as i32;

#[derive(Default)]
struct State {
    blobs: HashMap<(i32, String), Vec<u8>>,
    entries: HashMap<(i32, String), re::ActionResult>,
    functions_seen: Vec<i32>,
}

#[derive(Clone)]
struct Server {
    offers: Vec<i32>,
    state: Arc<Mutex<State>>,
}

fn hash(f: i32, bytes: &[u8]) -> String {
    match f {
        BLAKE3 => blake3::hash(bytes).to_hex().to_string(),
        _ => {
            use sha2::Digest as _;
            sha2::Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        }
    }
}

impl Server {
    /// The request's function (unset means SHA-256 for a 64-hex digest, per the spec).
    fn function(&self, f: i32) -> Result<i32, Status> {
        let f = if f == 0 { SHA256 } else { f };
        self.state.lock().unwrap().functions_seen.push(f);
        match self.offers.contains(&f) {
            true => Ok(f),
            false => Err(Status::invalid_argument("digest function not offered")),
        }
    }

    fn store(&self, f: i32, d: &re::Digest, data: Vec<u8>) -> Result<(), Status> {
        if hash(f, &data) != d.hash || data.len() as i64 != d.size_bytes {
            return Err(Status::invalid_argument("blob does not match its digest"));
        }
        self.state
            .lock()
            .unwrap()
            .blobs
            .insert((f, d.hash.clone()), data);
        Ok(())
    }

    /// (function, hash) of a ByteStream resource `…/blobs[/blake3]/<hash>/<size>`.
    fn resource(&self, name: &str) -> Result<(i32, String), Status> {
        let parts: Vec<&str> = name.split('/').collect();
        let at = parts
            .iter()
            .position(|p| *p == "blobs")
            .ok_or_else(|| Status::invalid_argument("no blobs/ in resource"))?;
        let (f, h) = match parts.get(at + 1) {
            Some(&"blake3") => (BLAKE3, parts.get(at + 2)),
            _ => (SHA256, parts.get(at + 1)),
        };
        let h = h.ok_or_else(|| Status::invalid_argument("no hash"))?;
        Ok((self.function(f)?, h.to_string()))
    }
}

type Stream<T> = Pin<Box<dyn futures_util::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl re::capabilities_server::Capabilities for Server {
    async fn get_capabilities(
        &self,
        _: Request<re::GetCapabilitiesRequest>,
    ) -> Result<Response<re::ServerCapabilities>, Status> {
        Ok(Response::new(re::ServerCapabilities {
            cache_capabilities: Some(re::CacheCapabilities {
                digest_functions: self.offers.clone(),
                action_cache_update_capabilities: Some(re::ActionCacheUpdateCapabilities {
                    update_enabled: true,
                }),
                max_batch_total_size_bytes: 4 << 20,
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
}

#[tonic::async_trait]
impl re::action_cache_server::ActionCache for Server {
    async fn get_action_result(
        &self,
        r: Request<re::GetActionResultRequest>,
    ) -> Result<Response<re::ActionResult>, Status> {
        let r = r.into_inner();
        let f = self.function(r.digest_function)?;
        let key = (f, r.action_digest.unwrap_or_default().hash);
        let got = self.state.lock().unwrap().entries.get(&key).cloned();
        got.map(Response::new)
            .ok_or_else(|| Status::not_found("no entry"))
    }

    async fn update_action_result(
        &self,
        r: Request<re::UpdateActionResultRequest>,
    ) -> Result<Response<re::ActionResult>, Status> {
        let r = r.into_inner();
        let f = self.function(r.digest_function)?;
        let result = r.action_result.unwrap_or_default();
        let mut s = self.state.lock().unwrap();
        // The spec lets a server refuse an entry whose outputs it lacks; this one does.
        for o in &result.output_files {
            let d = o.digest.clone().unwrap_or_default();
            if !s.blobs.contains_key(&(f, d.hash)) {
                return Err(Status::failed_precondition("an output blob is missing"));
            }
        }
        s.entries.insert(
            (f, r.action_digest.unwrap_or_default().hash),
            result.clone(),
        );
        Ok(Response::new(result))
    }
}

#[tonic::async_trait]
impl re::content_addressable_storage_server::ContentAddressableStorage for Server {
    async fn find_missing_blobs(
        &self,
        r: Request<re::FindMissingBlobsRequest>,
    ) -> Result<Response<re::FindMissingBlobsResponse>, Status> {
        let r = r.into_inner();
        let f = self.function(r.digest_function)?;
        let s = self.state.lock().unwrap();
        let missing = r
            .blob_digests
            .into_iter()
            .filter(|d| !s.blobs.contains_key(&(f, d.hash.clone())))
            .collect();
        Ok(Response::new(re::FindMissingBlobsResponse {
            missing_blob_digests: missing,
        }))
    }

    async fn batch_update_blobs(
        &self,
        r: Request<re::BatchUpdateBlobsRequest>,
    ) -> Result<Response<re::BatchUpdateBlobsResponse>, Status> {
        let r = r.into_inner();
        let f = self.function(r.digest_function)?;
        let responses = r
            .requests
            .into_iter()
            .map(|b| {
                let d = b.digest.clone().unwrap_or_default();
                let code = match self.store(f, &d, b.data) {
                    Ok(()) => 0,
                    Err(s) => s.code() as i32,
                };
                re::batch_update_blobs_response::Response {
                    digest: Some(d),
                    status: Some(bazel_remote_apis::google::rpc::Status {
                        code,
                        ..Default::default()
                    }),
                }
            })
            .collect();
        Ok(Response::new(re::BatchUpdateBlobsResponse { responses }))
    }

    async fn batch_read_blobs(
        &self,
        r: Request<re::BatchReadBlobsRequest>,
    ) -> Result<Response<re::BatchReadBlobsResponse>, Status> {
        let r = r.into_inner();
        let f = self.function(r.digest_function)?;
        let s = self.state.lock().unwrap();
        let responses = r
            .digests
            .into_iter()
            .map(|d| {
                let data = s.blobs.get(&(f, d.hash.clone())).cloned();
                let code = match data {
                    Some(_) => 0,
                    None => tonic::Code::NotFound as i32,
                };
                re::batch_read_blobs_response::Response {
                    digest: Some(d),
                    data: data.unwrap_or_default(),
                    status: Some(bazel_remote_apis::google::rpc::Status {
                        code,
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            })
            .collect();
        Ok(Response::new(re::BatchReadBlobsResponse { responses }))
    }

    type GetTreeStream = Stream<re::GetTreeResponse>;
    async fn get_tree(
        &self,
        _: Request<re::GetTreeRequest>,
    ) -> Result<Response<Self::GetTreeStream>, Status> {
        Err(Status::unimplemented("not used by kiln"))
    }
    async fn split_blob(
        &self,
        _: Request<re::SplitBlobRequest>,
    ) -> Result<Response<re::SplitBlobResponse>, Status> {
        Err(Status::unimplemented("not used by kiln"))
    }
    type GetChunkMappingStream = Stream<re::GetChunkMappingResponse>;
    async fn get_chunk_mapping(
        &self,
        _: Request<re::GetChunkMappingRequest>,
    ) -> Result<Response<Self::GetChunkMappingStream>, Status> {
        Err(Status::unimplemented("not used by kiln"))
    }
    async fn splice_blob(
        &self,
        _: Request<re::SpliceBlobRequest>,
    ) -> Result<Response<re::SpliceBlobResponse>, Status> {
        Err(Status::unimplemented("not used by kiln"))
    }
    async fn register_chunk_mapping(
        &self,
        _: Request<tonic::Streaming<re::RegisterChunkMappingRequest>>,
    ) -> Result<Response<re::RegisterChunkMappingResponse>, Status> {
        Err(Status::unimplemented("not used by kiln"))
    }
}

#[tonic::async_trait]
impl bs::byte_stream_server::ByteStream for Server {
    type ReadStream = Stream<bs::ReadResponse>;

    async fn read(
        &self,
        r: Request<bs::ReadRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let (f, h) = self.resource(&r.into_inner().resource_name)?;
        let data = self.state.lock().unwrap().blobs.get(&(f, h)).cloned();
        let data = data.ok_or_else(|| Status::not_found("no blob"))?;
        let chunks: Vec<Result<bs::ReadResponse, Status>> = data
            .chunks(64 * 1024)
            .map(|c| Ok(bs::ReadResponse { data: c.to_vec() }))
            .collect();
        Ok(Response::new(Box::pin(futures_util::stream::iter(chunks))))
    }

    async fn write(
        &self,
        r: Request<tonic::Streaming<bs::WriteRequest>>,
    ) -> Result<Response<bs::WriteResponse>, Status> {
        let mut stream = r.into_inner();
        let mut name = String::new();
        let mut data = Vec::new();
        let mut finished = false;
        while let Some(m) = stream.message().await? {
            if name.is_empty() {
                name = m.resource_name.clone();
            }
            if m.write_offset as usize != data.len() {
                return Err(Status::invalid_argument("bad write offset"));
            }
            data.extend_from_slice(&m.data);
            finished = m.finish_write;
        }
        if !finished {
            return Err(Status::invalid_argument("the write was not finished"));
        }
        let (f, h) = self.resource(&name)?;
        let size = data.len() as i64;
        let d = re::Digest {
            hash: h,
            size_bytes: size,
        };
        self.store(f, &d, data)?;
        Ok(Response::new(bs::WriteResponse {
            committed_size: size,
        }))
    }

    async fn query_write_status(
        &self,
        _: Request<bs::QueryWriteStatusRequest>,
    ) -> Result<Response<bs::QueryWriteStatusResponse>, Status> {
        Err(Status::unimplemented("not used by kiln"))
    }
}

/// Starts `server` on a loopback port on its own runtime; returns the URL.
fn serve(server: Server) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(
        tonic::transport::Server::builder()
            .add_service(re::capabilities_server::CapabilitiesServer::new(
                server.clone(),
            ))
            .add_service(re::action_cache_server::ActionCacheServer::new(
                server.clone(),
            ))
            .add_service(
                re::content_addressable_storage_server::ContentAddressableStorageServer::new(
                    server.clone(),
                ),
            )
            .add_service(bs::byte_stream_server::ByteStreamServer::new(server))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (format!("grpc://127.0.0.1:{port}"), rt)
}

fn client(url: &str) -> GrpcCache {
    GrpcCache::new(&RemoteOptions {
        url: url.into(),
        timeout: Duration::from_secs(10),
        instance: String::new(),
        credentials: Credentials::default(),
    })
    .unwrap()
}

/// A result of two outputs: a small one (batched) and a 3 MiB one (ByteStream).
fn result_in(local: &MemStore) -> (ActionResult, Vec<u8>) {
    let big: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut outputs = BTreeMap::new();
    for (name, bytes) in [("small", b"a small output".to_vec()), ("big", big.clone())] {
        let mut w = local.blob_writer().unwrap();
        w.write_all(&bytes).unwrap();
        outputs.insert(name.to_string(), w.commit(name == "small").unwrap());
    }
    (ActionResult::with_outputs(outputs), big)
}

fn bytes(local: &MemStore, r: &ActionResult, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    local
        .open_blob(&r.outputs[name])
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn round_trip(offers: Vec<i32>, expected: HashFn) {
    let server = Server {
        offers,
        state: Arc::default(),
    };
    let (url, _rt) = serve(server.clone());
    let action = Action::new("compile", 1).input("src", Digest::of(b"source"));
    let key = action.key();

    let writer_store = MemStore::default();
    let writer = client(&url);
    assert_eq!(writer.fetch(&action, &key, &writer_store).unwrap(), None);
    assert_eq!(writer.negotiated(), Some(expected));
    let (result, big) = result_in(&writer_store);
    writer
        .upload(&action, &key, &result, &writer_store)
        .unwrap();

    let f = match expected {
        HashFn::Blake3 => BLAKE3,
        HashFn::Sha256 => SHA256,
    };
    {
        let s = server.state.lock().unwrap();
        assert!(
            s.functions_seen.iter().all(|x| *x == f),
            "{:?}",
            s.functions_seen
        );
        assert!(s.blobs.contains_key(&(f, hash(f, &big))));
        if expected == HashFn::Blake3 {
            // BLAKE3 remote digests are kiln's own blob digests.
            assert!(
                s.blobs
                    .contains_key(&(f, result.outputs["big"].digest.to_hex()))
            );
        }
    }

    let reader_store = MemStore::default();
    let got = client(&url)
        .fetch(&action, &key, &reader_store)
        .unwrap()
        .expect("a hit");
    assert_eq!(got.outputs, result.outputs);
    assert!(bytes(&reader_store, &got, "big") == big);
    assert_eq!(bytes(&reader_store, &got, "small"), b"a small output");

    // Wrong bytes on the server (same size): a Corrupt miss, nothing committed locally.
    for name in ["big", "small"] {
        let good = bytes(&writer_store, &result, name);
        {
            let mut s = server.state.lock().unwrap();
            let stored = s.blobs.get_mut(&(f, hash(f, &good))).unwrap();
            stored[7] ^= 0x55;
        }
        let store = MemStore::default();
        match client(&url).fetch(&action, &key, &store) {
            Err(RemoteError::Corrupt(why)) => {
                assert!(why.contains("other bytes than its digest says"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert!(store.open_blob(&result.outputs[name]).is_err());
        let mut s = server.state.lock().unwrap();
        s.blobs.insert((f, hash(f, &good)), good);
    }
}

#[test]
fn blake3_is_negotiated_when_the_server_offers_it() {
    round_trip(vec![SHA256, BLAKE3], HashFn::Blake3);
}

#[test]
fn sha256_is_used_when_the_server_offers_only_that() {
    round_trip(vec![SHA256], HashFn::Sha256);
}
