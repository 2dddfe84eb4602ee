//! Actions and their keys.
//!
//! An [`Action`] describes one cacheable step completely: its kind, the rule's version, the
//! digests of its named inputs, its parameters and a fingerprint of the tools it runs. The
//! [`ActionKey`] is the BLAKE3 digest of the canonical encoding of all of that (REAPI-style:
//! sorted maps, length-prefixed fields, nothing non-deterministic). Bump a rule's version to
//! invalidate every result of that rule.
//!
//! The action itself is kept (as JSON) beside each build so `--explain` can name what changed;
//! see [`crate::explain`]. This module does not run anything.

use std::collections::BTreeMap;

use crate::digest::{ActionKey, Digest};
use crate::encoding::CanonicalEncoder;

/// The tools an action runs and their versions or binary digests, e.g. `gcc -> "12.2.0"`.
pub type ToolFingerprint = BTreeMap<String, String>;

/// A complete description of a cacheable step. Two actions with equal keys must produce
/// equal outputs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Action {
    /// What kind of step this is (`initrd`, `compile`, ...).
    pub kind: String,
    /// The rule's version; bumping it invalidates all earlier results of this kind.
    pub rule_version: u32,
    /// Named input digests (a source tree, an upstream step's output, a file).
    pub inputs: BTreeMap<String, Digest>,
    /// Canonical parameters (already normalised by the rule: no paths that vary by machine).
    pub params: BTreeMap<String, String>,
    /// The tools the step runs.
    pub tools: ToolFingerprint,
}

impl Action {
    /// Starts an action of `kind` at `rule_version` with no inputs.
    pub fn new(kind: &str, rule_version: u32) -> Self {
        Action {
            kind: kind.to_string(),
            rule_version,
            inputs: BTreeMap::new(),
            params: BTreeMap::new(),
            tools: BTreeMap::new(),
        }
    }

    /// Adds a named input digest.
    pub fn input(mut self, name: &str, digest: Digest) -> Self {
        self.inputs.insert(name.to_string(), digest);
        self
    }

    /// Adds a parameter.
    pub fn param(mut self, name: &str, value: impl Into<String>) -> Self {
        self.params.insert(name.to_string(), value.into());
        self
    }

    /// Adds a tool to the fingerprint.
    pub fn tool(mut self, name: &str, version: impl Into<String>) -> Self {
        self.tools.insert(name.to_string(), version.into());
        self
    }

    /// The key: BLAKE3 of the canonical encoding.
    pub fn key(&self) -> ActionKey {
        let mut enc = CanonicalEncoder::new("kiln/action/v1");
        enc.str(&self.kind).u64(u64::from(self.rule_version));
        enc.u64(self.inputs.len() as u64);
        for (name, d) in &self.inputs {
            enc.str(name).digest(d);
        }
        enc.u64(self.params.len() as u64);
        for (name, v) in &self.params {
            enc.str(name).str(v);
        }
        enc.u64(self.tools.len() as u64);
        for (name, v) in &self.tools {
            enc.str(name).str(v);
        }
        ActionKey::from_raw(enc.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Action {
        Action::new("initrd", 1)
            .input("rootfs", Digest::of(b"tree"))
            .param("mtime", "0")
            .tool("kiln-cpio", "1")
    }

    #[test]
    fn every_field_is_in_the_key() {
        let k = base().key();
        assert_eq!(k, base().key());
        let changed = vec![
            Action {
                kind: "other".into(),
                ..base()
            },
            Action {
                rule_version: 2,
                ..base()
            },
            base().input("rootfs", Digest::of(b"tree2")),
            base().input("extra", Digest::of(b"")),
            base().param("mtime", "1"),
            base().tool("kiln-cpio", "2"),
        ];
        for a in changed {
            assert_ne!(a.key(), k, "{a:?}");
        }
    }

    #[test]
    fn key_is_stable_across_releases() {
        // A golden value: if this changes, every cache in the field is invalidated. Change it
        // only on purpose (and say so in the changelog).
        assert_eq!(
            base().key().to_hex(),
            "28d5c94134d0920a0b11f8f3fcbdf2b75853907c5e2e8cbddb73b01af15b46a8"
        );
        let json = serde_json::to_string(&base()).unwrap();
        let back: Action = serde_json::from_str(&json).unwrap();
        assert_eq!(back.key(), base().key());
    }
}
