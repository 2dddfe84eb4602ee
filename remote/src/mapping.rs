//! kiln's actions and results as REAPI messages.
//!
//! A kiln action becomes a REAPI `Action` whose `Command` names the step (`kiln step <kind>
//! --rule-version=N`) and whose input root is a directory of one file, `kiln-action.json`:
//! the canonical JSON of kiln's [`Action`] (sorted maps; every input digest, parameter and
//! tool). Its digest is therefore a pure function of what kiln's local key covers, computed
//! with the remote's digest function; the salt keeps kiln's entries apart from any other
//! client's. (Remote execution, designed in ARCHITECTURE.md, needs the real input files and
//! will use a full input root, under its own salt.)
//!
//! A result is a REAPI `ActionResult` with exit code 0 and one output file per kiln output,
//! named by the output's name. Reading one back rejects anything kiln did not write: a
//! non-zero exit code, output directories or symlinks, bad digests, repeated names.

use std::collections::BTreeMap;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use kiln_engine::Action;
use prost::Message;

use crate::hashing::{HashFn, RemoteDigest};

/// Bumped when the mapping changes, which gives every action a new remote key.
pub const SALT: &[u8] = b"kiln/remote/v1";

/// A kiln action described for the remote side.
pub struct RemoteAction {
    /// The key: the digest of the serialized `Action` message.
    pub digest: RemoteDigest,
    /// The messages the `Action` references, and the action itself, as CAS blobs (REAPI
    /// servers are given them so that an entry's action can be read back).
    pub blobs: Vec<(RemoteDigest, Vec<u8>)>,
}

/// The REAPI `Action` of `action` under `f`.
pub fn remote_action(action: &Action, f: HashFn) -> RemoteAction {
    // serde_json writes struct fields in declaration order and BTreeMaps sorted: canonical.
    let manifest = serde_json::to_vec(action).expect("an action serializes");
    let manifest_digest = f.of(&manifest);
    let root = re::Directory {
        files: vec![re::FileNode {
            name: "kiln-action.json".into(),
            digest: Some(manifest_digest.to_proto()),
            is_executable: false,
            node_properties: None,
        }],
        ..Default::default()
    }
    .encode_to_vec();
    let root_digest = f.of(&root);
    #[allow(deprecated)]
    let command = re::Command {
        arguments: vec![
            "kiln".into(),
            "step".into(),
            action.kind.clone(),
            format!("--rule-version={}", action.rule_version),
        ],
        ..Default::default()
    }
    .encode_to_vec();
    let command_digest = f.of(&command);
    let message = re::Action {
        command_digest: Some(command_digest.to_proto()),
        input_root_digest: Some(root_digest.to_proto()),
        salt: SALT.to_vec(),
        ..Default::default()
    }
    .encode_to_vec();
    let digest = f.of(&message);
    RemoteAction {
        digest: digest.clone(),
        blobs: vec![
            (manifest_digest, manifest),
            (root_digest, root),
            (command_digest, command),
            (digest, message),
        ],
    }
}

/// One output of a result, on the remote side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteOutput {
    /// Its digest under the remote's function.
    pub digest: RemoteDigest,
    /// Whether it is materialized executable.
    pub executable: bool,
}

/// The `ActionResult` message of outputs named `outputs`.
pub fn encode_result(outputs: &BTreeMap<String, RemoteOutput>, duration_ms: u64) -> Vec<u8> {
    let output_files = outputs
        .iter()
        .map(|(name, o)| re::OutputFile {
            path: name.clone(),
            digest: Some(o.digest.to_proto()),
            is_executable: o.executable,
            ..Default::default()
        })
        .collect();
    let duration = prost_types_duration(duration_ms);
    re::ActionResult {
        output_files,
        exit_code: 0,
        execution_metadata: Some(re::ExecutedActionMetadata {
            worker: "kiln".into(),
            virtual_execution_duration: Some(duration),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn prost_types_duration(ms: u64) -> bazel_remote_apis::google::protobuf::Duration {
    bazel_remote_apis::google::protobuf::Duration {
        seconds: (ms / 1000) as i64,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

/// The outputs of an `ActionResult` kiln wrote, or why it is not one.
pub fn decode_result(bytes: &[u8]) -> Result<(BTreeMap<String, RemoteOutput>, u64), String> {
    let r = re::ActionResult::decode(bytes)
        .map_err(|e| format!("the action entry is not a REAPI ActionResult ({e})"))?;
    decode_message(&r)
}

/// [`decode_result`] of a decoded message.
pub fn decode_message(
    r: &re::ActionResult,
) -> Result<(BTreeMap<String, RemoteOutput>, u64), String> {
    if r.exit_code != 0 {
        return Err(format!(
            "the action entry records exit code {}",
            r.exit_code
        ));
    }
    #[allow(deprecated)]
    let extra = !r.output_directories.is_empty()
        || !r.output_symlinks.is_empty()
        || !r.output_file_symlinks.is_empty()
        || !r.output_directory_symlinks.is_empty();
    if extra {
        return Err("the action entry has directories or symlinks, which kiln never writes".into());
    }
    let mut outputs = BTreeMap::new();
    for o in &r.output_files {
        let digest =
            o.digest.as_ref().and_then(check_digest).ok_or_else(|| {
                format!("the action entry's output `{}` has a bad digest", o.path)
            })?;
        let out = RemoteOutput {
            digest,
            executable: o.is_executable,
        };
        if outputs.insert(o.path.clone(), out).is_some() {
            return Err(format!("the action entry names output `{}` twice", o.path));
        }
    }
    let duration_ms = r
        .execution_metadata
        .as_ref()
        .and_then(|m| m.virtual_execution_duration.as_ref())
        .map(|d| (d.seconds.max(0) as u64) * 1000 + (d.nanos.max(0) as u64) / 1_000_000)
        .unwrap_or(0);
    Ok((outputs, duration_ms))
}

/// A well-formed REAPI digest: 64 lowercase hex digits (both functions kiln speaks have
/// 32-byte digests) and a size >= 0.
pub fn check_digest(d: &re::Digest) -> Option<RemoteDigest> {
    let ok = d.hash.len() == 64
        && d.hash
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && d.size_bytes >= 0;
    ok.then(|| RemoteDigest {
        hash: d.hash.clone(),
        size: d.size_bytes as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_engine::Digest;

    fn action() -> Action {
        Action::new("compile", 3)
            .input("config", Digest::of(b"cfg"))
            .param("arch", "x86_64")
            .tool("gcc", "12.2.0")
    }

    #[test]
    fn the_remote_key_covers_what_the_local_key_covers() {
        let k = remote_action(&action(), HashFn::Sha256).digest;
        assert_eq!(k.hash.len(), 64);
        for other in [
            action().input("config", Digest::of(b"cfg2")),
            action().param("arch", "arm64"),
            action().tool("gcc", "13"),
            Action::new("compile", 4)
                .input("config", Digest::of(b"cfg"))
                .param("arch", "x86_64")
                .tool("gcc", "12.2.0"),
        ] {
            assert_ne!(remote_action(&other, HashFn::Sha256).digest, k);
        }
        assert_eq!(remote_action(&action(), HashFn::Sha256).digest, k);
        assert_ne!(remote_action(&action(), HashFn::Blake3).digest.hash, k.hash);
    }

    #[test]
    fn results_round_trip_and_foreign_ones_are_refused() {
        let mut outs = BTreeMap::new();
        outs.insert(
            "kernel".to_string(),
            RemoteOutput {
                digest: HashFn::Sha256.of(b"elf"),
                executable: true,
            },
        );
        let bytes = encode_result(&outs, 1500);
        assert_eq!(decode_result(&bytes).unwrap(), (outs.clone(), 1500));
        let failed = re::ActionResult {
            exit_code: 2,
            ..Default::default()
        };
        assert!(decode_message(&failed).is_err());
        let bad = re::ActionResult {
            output_files: vec![re::OutputFile {
                path: "kernel".into(),
                digest: Some(re::Digest {
                    hash: "../../etc".into(),
                    size_bytes: 3,
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(decode_message(&bad).is_err());
        assert!(decode_result(b"\xff\xff\xff").is_err());
    }
}
