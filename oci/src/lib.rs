//! `kiln-oci`: OCI packages. kraft's and urunc's formats byte for byte, the names of the
//! packages kiln keeps (their blobs live in kiln's store), OCI image layouts, and registries.
//!
//! It knows no Kraftfile: callers give it kernels, initrds and what kraft derives from a
//! target (platform, kconfig, command). Nothing here reads a clock: a package's bytes depend
//! only on its inputs, so the same inputs give the same digests on any machine.

pub mod blobs;
pub mod digest;
pub mod flatten;
pub mod gojson;
pub mod image;
pub mod kraftkit;
pub mod layout;
pub mod reference;
pub mod spec;
pub mod store;
pub mod tar_layer;
pub mod unpack;
pub mod urunc;

pub use blobs::Blob;
pub use digest::Sha256;
pub use reference::Reference;
pub mod registry;
