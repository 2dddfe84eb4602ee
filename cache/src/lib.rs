//! kiln's stores: the local content-addressed store and action cache on disk.
//!
//! - [`LocalStore`] implements the engine's [`kiln_engine::Store`] on a directory whose format
//!   is described in `layout.rs`: blobs in `cas/`, action results in `ac/`, writes through
//!   `tmp/`, and a lock file shared by builds and held exclusively by maintenance.
//! - [`stats`], [`gc`], [`verify`] and [`clean`] (or an [`ExclusiveCache`]) maintain a cache
//!   root for `kiln cache ...`; they return serializable reports and print nothing.
//! - [`default_cache_dir`] and [`parse_size`] turn the environment and user input into paths
//!   and byte counts.
//!
//! This crate has no remote store yet, and it never hard-links a blob out of the cache: a
//! user editing a materialized file must not be able to corrupt it. It is Unix-only (file
//! modes and `flock`).

mod copy;
mod error;
mod gc;
mod layout;
mod local;
mod location;
mod lock;
mod maintenance;
mod scan;
mod size;
mod verify;
mod writer;

pub use error::CacheError;
pub use gc::GcReport;
pub use layout::{STALE_TEMP_AGE, TOUCH_INTERVAL};
pub use local::LocalStore;
pub use location::default_cache_dir;
pub use maintenance::{CacheStats, CleanReport, ExclusiveCache, clean, gc, stats, verify};
pub use size::parse_size;
pub use verify::VerifyReport;
