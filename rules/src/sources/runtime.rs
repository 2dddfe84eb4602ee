//! `runtime:` packages: resolving a target's runtime to one manifest of a registry's index
//! (pinned per target by Kraftfile.lock's `[[runtime]]`), and pulling that manifest's blobs
//! into kiln's store.
//!
//! Resolution reads only the index (a small JSON) and needs no store, so a plan can show it;
//! the pull happens when a step needs the kernel. With a pin, nothing asks the registry: the
//! package kiln already holds is used, and only a missing blob is pulled (never under
//! `--offline`). The manifest is chosen as kraft chooses it: the same platform and
//! architecture, and every kconfig option the target asks for among its `os.features`.

use kiln_engine::Store;
use kiln_oci::Sha256;
use kiln_oci::reference::Reference;
use kiln_oci::registry::auth::AuthFiles;
use kiln_oci::registry::pull::Selector;
use kiln_oci::registry::{Client, RegistryError};
use kiln_oci::store::{PackageRecord, PackageStore};

use super::{RuntimeEntry, SourceError, SourceResolver};

pub(super) fn registry_error(r: &Reference, e: RegistryError) -> SourceError {
    SourceError::Registry {
        reference: r.to_string(),
        unreachable: matches!(e, RegistryError::Transport { .. }),
        message: e.to_string(),
    }
}

impl SourceResolver {
    /// A client for `r`'s registry with the config's settings and the user's credentials.
    pub(super) fn registry_client(&self, r: &Reference) -> Result<Client, SourceError> {
        let settings = self
            .opts
            .config
            .registries
            .get(&r.registry)
            .cloned()
            .unwrap_or_default();
        let files = AuthFiles::from_env(&crate::kraftfile::process_env);
        let found = kiln_oci::registry::auth::find(&files, &r.registry).map_err(|e| {
            SourceError::Registry {
                reference: r.to_string(),
                message: e.to_string(),
                unreachable: false,
            }
        })?;
        Client::new(
            &r.registry,
            &r.registry,
            &settings,
            found.as_ref().map(|f| &f.credentials),
        )
        .map_err(|e| registry_error(r, e))
    }

    /// The default registry: the config's `[registry] default`, else `unikraft.org`.
    pub fn default_registry(&self) -> String {
        self.opts
            .config
            .default_registry
            .clone()
            .unwrap_or_else(|| kiln_oci::reference::DEFAULT_REGISTRY.to_string())
    }

    /// Resolves `target`'s runtime `r` to a manifest, as [`Selector`] picks it.
    pub fn resolve_runtime(
        &self,
        target: &str,
        r: &Reference,
        selector: &Selector,
    ) -> Result<RuntimeEntry, SourceError> {
        let reference = r.to_string();
        let pinned = self
            .opts
            .lock
            .as_ref()
            .and_then(|l| l.runtimes.get(target))
            .filter(|p| p.reference == reference);
        if let Some(pin) = pinned
            && !self.opts.update_lock
        {
            return Ok(self.record_runtime(pin.clone()));
        }
        if self.opts.locked {
            return Err(SourceError::LockMismatch {
                component: format!("runtime of {target}"),
                detail: format!("Kraftfile.lock does not pin {reference}"),
            });
        }
        if self.opts.offline {
            return self.resolve_offline(target, r, selector);
        }
        let (index, manifest) = self.ask_registry(r, selector)?;
        Ok(self.record_runtime(RuntimeEntry {
            target: target.to_string(),
            reference,
            index,
            manifest,
        }))
    }

    /// The index and manifest `selector` picks from `r`, asked once per command.
    fn ask_registry(
        &self,
        r: &Reference,
        selector: &Selector,
    ) -> Result<(String, String), SourceError> {
        let key = format!("{r} {selector:?}");
        let answers = &self.opts.registry_answers.answers;
        if let Some(known) = answers.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return known
                .clone()
                .map_err(|(message, unreachable)| SourceError::Registry {
                    reference: r.to_string(),
                    message,
                    unreachable,
                });
        }
        let answer = self.registry_client(r).and_then(|client| {
            kiln_oci::registry::pull::resolve(&client, r, selector)
                .map(|(index, manifest)| (index.to_string(), manifest.to_string()))
                .map_err(|e| registry_error(r, e))
        });
        let kept = match &answer {
            Ok(found) => Ok(found.clone()),
            Err(SourceError::Registry {
                message,
                unreachable,
                ..
            }) => Err((message.clone(), *unreachable)),
            // Not a registry's answer (credentials files): not kept.
            Err(_) => return answer,
        };
        answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, kept);
        answer
    }

    /// Offline: a package kiln already holds under `r` with a manifest of the platform.
    fn resolve_offline(
        &self,
        target: &str,
        r: &Reference,
        selector: &Selector,
    ) -> Result<RuntimeEntry, SourceError> {
        let packages = PackageStore::new(&self.opts.cache_dir);
        let record = packages
            .get(r)
            .ok()
            .flatten()
            .ok_or_else(|| SourceError::NeedsNetwork {
                component: format!("runtime of {target}"),
                url: r.to_string(),
                why: "kiln has not pulled it".into(),
                hint: format!("run `kiln pkg pull {r}` (or `kiln lock`) once online"),
            })?;
        let m = record
            .manifests
            .iter()
            .find(|m| {
                selector.os.as_ref().is_none_or(|o| *o == m.plat)
                    && selector.arch.as_ref().is_none_or(|a| *a == m.arch)
            })
            .ok_or_else(|| SourceError::Registry {
                reference: r.to_string(),
                message: no_match(selector, &holds(&record)),
                unreachable: false,
            })?;
        Ok(self.record_runtime(RuntimeEntry {
            target: target.into(),
            reference: r.to_string(),
            index: record.index.to_string(),
            manifest: m.digest.to_string(),
        }))
    }

    fn record_runtime(&self, entry: RuntimeEntry) -> RuntimeEntry {
        let mut all = self.runtimes.lock().unwrap_or_else(|e| e.into_inner());
        all.insert(entry.target.clone(), entry.clone());
        entry
    }

    /// The package holding `pin`'s manifest, its blobs in `store`: what kiln holds, or pulled
    /// (each blob's bytes told to `progress`).
    pub fn pull_runtime(
        &self,
        pin: &RuntimeEntry,
        store: &dyn Store,
        progress: &dyn kiln_oci::registry::TransferProgress,
    ) -> Result<PackageRecord, SourceError> {
        let bad = |message: String| SourceError::Registry {
            reference: pin.reference.clone(),
            message,
            unreachable: false,
        };
        let r = Reference::parse(&pin.reference, &self.default_registry())
            .map_err(|e| bad(e.to_string()))?;
        let manifest = Sha256::parse(&pin.manifest).map_err(|e| bad(e.to_string()))?;
        let index = Sha256::parse(&pin.index).map_err(|e| bad(e.to_string()))?;
        let packages = PackageStore::new(&self.opts.cache_dir);
        let by_digest = Reference {
            digest: Some(index),
            tag: None,
            ..r.clone()
        };
        for candidate in [&r, &by_digest] {
            if let Ok(Some(record)) = packages.get(candidate)
                && record.index == index
                && holds_all(&record, &manifest, store)
            {
                return Ok(record);
            }
        }
        if self.opts.offline {
            return Err(SourceError::NeedsNetwork {
                component: format!("runtime of {}", pin.target),
                url: pin.reference.clone(),
                why: format!("kiln does not hold its manifest {}", &pin.manifest),
                hint: format!("run `kiln pkg pull {}` once online", pin.reference),
            });
        }
        let client = self.registry_client(&r)?;
        let selector = Selector {
            digest: Some(manifest),
            ..Selector::default()
        };
        kiln_oci::registry::pull::pull(&client, &by_digest, &selector, store, &packages, progress)
            .map_err(|e| registry_error(&r, e))
    }
}

fn holds(record: &PackageRecord) -> String {
    let list: Vec<String> = record
        .manifests
        .iter()
        .map(|m| format!("{}/{}", m.plat, m.arch))
        .collect();
    list.join(", ")
}

fn no_match(selector: &Selector, holds: &str) -> String {
    let mut wanted = format!(
        "no manifest for {}/{}",
        selector.os.as_deref().unwrap_or("any"),
        selector.arch.as_deref().unwrap_or("any")
    );
    if !selector.features.is_empty() {
        wanted.push_str(&format!(" with {}", selector.features.join(" ")));
    }
    format!("{wanted}; its index holds {holds}")
}

/// Whether `record` holds manifest `m` and every blob it names is readable in `store`.
fn holds_all(record: &PackageRecord, m: &Sha256, store: &dyn Store) -> bool {
    let Some(file) = record.blob(m) else {
        return false;
    };
    let Ok(mut reader) = store.open_blob(&file) else {
        return false;
    };
    let mut bytes = Vec::new();
    if std::io::Read::read_to_end(&mut reader, &mut bytes).is_err() {
        return false;
    }
    let Ok(manifest) = serde_json::from_slice::<kiln_oci::spec::Manifest>(&bytes) else {
        return false;
    };
    std::iter::once(&manifest.config)
        .chain(&manifest.layers)
        .all(|d| {
            record
                .blob(&d.digest)
                .is_some_and(|f| store.open_blob(&f).is_ok())
        })
}
