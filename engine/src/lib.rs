//! kiln's generic build engine.
//!
//! It knows actions, digests, trees, stores and a scheduler — and nothing of Unikraft,
//! Kraftfiles, make or QEMU. Domain crates (`kiln-rules`) describe their steps through the
//! [`graph::Step`] trait; storage crates (`kiln-cache`) implement [`store::Store`].
//! See `examples/toy.rs` for the engine driven on a toy domain.
//!
//! Architecture invariant: this crate does no network I/O and never spawns processes.

pub mod action;
pub mod digest;
pub mod encoding;
pub mod explain;
pub mod fsutil;
pub mod graph;
pub mod memo;
pub mod memstore;
pub mod remote;
pub mod report;
pub mod run;
pub mod scan;
pub mod scope;
pub mod statcache;
pub mod state;
pub mod step;
pub mod store;
pub mod temp_owner;
pub mod tree;

pub use action::{Action, ToolFingerprint};
pub use digest::{ActionKey, BlobDigest, Digest, TreeDigest, TypedDigest};
pub use store::{ActionResult, BlobWriter, CheckedBlobReader, OutputFile, Store, StoreError};
pub use tree::{EntryKind, Tree, TreeChange, TreeEntry};
