//! kiln's Unikraft domain: the Kraftfile model and parser, the plan, and the build steps.

pub mod boot;
pub mod boot_failures;
pub mod cmdline;
pub mod diag;
pub mod distribute;
pub mod docker_plan;
pub mod dotconfig;
pub mod initrd;
pub mod kconfig;
pub mod kernel_plan;
pub mod kraftfile;
pub mod make;
pub mod make_guard;
pub mod make_output;
pub mod plan;
pub mod project;
pub mod select;
pub mod sources;
pub mod steps;
pub mod toolchain;
pub mod version;
