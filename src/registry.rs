//! `kiln pkg push`, `kiln pkg pull`, `kiln login`: the registry settings and credentials
//! from the config file and the usual credential files, transfers with progress on a
//! terminal, and their reports.

use std::io::Read;
use std::sync::{Arc, Mutex};

use kiln_engine::Store;
use kiln_oci::Reference;
use kiln_oci::registry::auth::{AuthFiles, Credentials, Secret};
use kiln_oci::registry::pull::Selector;
use kiln_oci::registry::{Client, RegistryConfig, RegistryError, TransferProgress};
use kiln_oci::store::PackageStore;
use kiln_rules::kraftfile::process_env;
use kiln_rules::sources::load_config;
use serde_json::json;

use crate::cli::{LoginArgs, Output, PullArgs, PushArgs};
use crate::error::{CliError, print_stdout};
use crate::session;

/// The registry of references that name none: `[registry] default`, else `unikraft.org`.
pub fn default_registry() -> Result<String, CliError> {
    let config = load_config(&process_env)?;
    Ok(config
        .default_registry
        .unwrap_or_else(|| kiln_oci::reference::DEFAULT_REGISTRY.to_string()))
}

fn registry_error(e: RegistryError) -> CliError {
    CliError::Failed(e.to_string())
}

/// A client for `registry` connecting to `host`, with its settings and credentials.
fn client(registry: &str, host: &str) -> Result<Client, CliError> {
    let config = load_config(&process_env)?;
    let settings: RegistryConfig = config.registries.get(registry).cloned().unwrap_or_default();
    let files = AuthFiles::from_env(&process_env);
    let found = kiln_oci::registry::auth::find(&files, registry)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    Client::new(
        registry,
        host,
        &settings,
        found.as_ref().map(|f| &f.credentials),
    )
    .map_err(registry_error)
}

/// The hosts to pull `registry` from: its mirrors, then itself.
fn pull_hosts(registry: &str) -> Result<Vec<String>, CliError> {
    let config = load_config(&process_env)?;
    let mut hosts = config
        .registries
        .get(registry)
        .map(|r| r.mirrors.clone())
        .unwrap_or_default();
    hosts.push(registry.to_string());
    Ok(hosts)
}

/// Runs `kiln pkg push`.
pub fn push_command(args: &PushArgs) -> Result<(), CliError> {
    let r = crate::pkg::parse_reference(&args.reference)?;
    push(&r, args.output)
}

/// Pushes the package kiln keeps under `r` to `r`'s registry.
pub fn push(r: &Reference, output: Output) -> Result<(), CliError> {
    let (r, record) = crate::pkg::find_record(&r.original)?;
    let store = session::open_store()?;
    let packages = PackageStore::new(&session::cache_dir()?);
    let client = client(&r.registry, &r.registry)?;
    let progress = Arc::new(Bar::new());
    let report = kiln_oci::registry::push::push(&client, &r, &record, &store, &packages, progress)
        .map_err(registry_error)?;
    if output == Output::Json {
        return print_stdout(&format!(
            "{:#}\n",
            json!({ "reference": r.to_string(), "push": report })
        ));
    }
    eprintln!(
        "kiln: pushed {r}: {} blob{} uploaded ({}), {} mounted, {} already there; {}",
        report.uploaded.len(),
        if report.uploaded.len() == 1 { "" } else { "s" },
        crate::cache::human_bytes(report.bytes_uploaded),
        report.mounted.len(),
        report.present.len(),
        record.index
    );
    Ok(())
}

/// Pulls `r` (from the mirrors first), or with `offline` takes what kiln has.
pub fn pull(
    r: &Reference,
    selector: &Selector,
    offline: bool,
) -> Result<kiln_oci::store::PackageRecord, CliError> {
    let packages = PackageStore::new(&session::cache_dir()?);
    if offline {
        return match packages
            .get(r)
            .map_err(|e| CliError::Failed(e.to_string()))?
        {
            Some(record) => Ok(record),
            None => Err(CliError::Failed(format!(
                "kiln has no package {r} and --offline forbids pulling it; pull it once without --offline"
            ))),
        };
    }
    let store = session::open_store()?;
    let mut last = None;
    for host in pull_hosts(&r.registry)? {
        let client = client(&r.registry, &host)?;
        match kiln_oci::registry::pull::pull(&client, r, selector, &store, &packages, &Bar::new()) {
            Ok(record) => return Ok(record),
            Err(e @ (RegistryError::Transport { .. } | RegistryError::NotFound { .. }))
                if host != r.registry =>
            {
                eprintln!(
                    "kiln: mirror {host} of {}: {e}; trying the next",
                    r.registry
                );
                last = Some(e);
            }
            Err(e) => return Err(registry_error(e)),
        }
    }
    Err(last
        .map(registry_error)
        .unwrap_or_else(|| CliError::Failed(format!("{r}: no registry to pull from"))))
}

/// Runs `kiln pkg pull`.
pub fn pull_command(args: &PullArgs) -> Result<(), CliError> {
    let r = crate::pkg::parse_reference(&args.reference)?;
    let plat = args.plat.as_ref().map(|p| {
        kiln_rules::kraftfile::Platform::from_name(p).map_or_else(|| p.clone(), |p| p.to_string())
    });
    let selector = Selector {
        os: plat,
        arch: args.arch.clone(),
        ..Selector::default()
    };
    let record = pull(&r, &selector, args.offline)?;
    let mut unpacked = None;
    if let Some(dir) = &args.workdir {
        unpacked = Some(unpack(&record, &selector, dir)?);
    }
    if args.output == Output::Json {
        let mut doc = crate::pkg::record_json(&record);
        if let Some(u) = &unpacked {
            doc["unpacked"] = json!(u.files);
        }
        return print_stdout(&format!("{doc:#}\n"));
    }
    eprintln!(
        "kiln: pulled {r} ({}, {} manifest{}) {}",
        record.format,
        record.manifests.len(),
        if record.manifests.len() == 1 { "" } else { "s" },
        record.index
    );
    if let (Some(u), Some(dir)) = (&unpacked, &args.workdir) {
        for f in &u.files {
            eprintln!("kiln: wrote {}", dir.join(f).display());
        }
    }
    Ok(())
}

/// Unpacks the one manifest of `record` that `selector` picks into `dir`.
pub fn unpack(
    record: &kiln_oci::store::PackageRecord,
    selector: &Selector,
    dir: &std::path::Path,
) -> Result<kiln_oci::unpack::Unpacked, CliError> {
    let store = session::open_store()?;
    let chosen: Vec<_> = record
        .manifests
        .iter()
        .filter(|m| {
            selector.os.as_ref().is_none_or(|o| *o == m.plat)
                && selector.arch.as_ref().is_none_or(|a| *a == m.arch)
        })
        .collect();
    let [m] = chosen.as_slice() else {
        let all: Vec<String> = record
            .manifests
            .iter()
            .map(|m| format!("{}/{}", m.plat, m.arch))
            .collect();
        return Err(CliError::Usage(format!(
            "{} holds {}; choose one with --plat and --arch to unpack it",
            record.reference,
            all.join(", ")
        )));
    };
    let bytes =
        kiln_oci::registry::push::read_blob(&store, record, &m.digest).map_err(registry_error)?;
    let manifest: kiln_oci::spec::Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| CliError::Failed(format!("{}: {e}", record.reference)))?;
    let mut out = kiln_oci::unpack::Unpacked::default();
    for layer in &manifest.layers {
        if layer.media_type != kiln_oci::spec::MEDIA_LAYER_TAR
            && !layer.media_type.ends_with(".tar")
        {
            return Err(CliError::Failed(format!(
                "{}: layer {} is {}; kiln unpacks uncompressed layers only",
                record.reference, layer.digest, layer.media_type
            )));
        }
        let file = record.blob(&layer.digest).ok_or_else(|| {
            CliError::Failed(format!(
                "{}: layer {} is not in kiln's store",
                record.reference, layer.digest
            ))
        })?;
        let mut reader = store.open_blob(&file)?;
        kiln_oci::unpack::unpack_layer(&mut reader, dir, &mut out).map_err(|e| {
            CliError::Failed(format!(
                "unpacking {} into {}: {e}",
                layer.digest,
                dir.display()
            ))
        })?;
        // Read to the end, so that the store's hash check covers every byte.
        std::io::copy(&mut reader, &mut std::io::sink())
            .map_err(|e| CliError::Failed(format!("unpacking {}: {e}", layer.digest)))?;
    }
    Ok(out)
}

/// Runs `kiln login`.
pub fn login(args: &LoginArgs) -> Result<(), CliError> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|e| CliError::Failed(format!("reading the password from stdin: {e}")))?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(CliError::Usage("no password on stdin: pipe it in, e.g. `kiln login HOST -u USER --password-stdin < file`".into()));
    }
    let registry = args
        .registry
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let secret = Secret::new(password);
    let credentials = Credentials::Basic {
        username: args.username.clone(),
        password: secret.clone(),
    };
    let config = load_config(&process_env)?;
    let settings = config.registries.get(registry).cloned().unwrap_or_default();
    let client =
        Client::new(registry, registry, &settings, Some(&credentials)).map_err(registry_error)?;
    client.check_login().map_err(registry_error)?;
    let files = AuthFiles::from_env(&process_env);
    let path = files.kiln.ok_or_else(|| {
        CliError::Usage("cannot find a config directory: set XDG_CONFIG_HOME or HOME".into())
    })?;
    kiln_oci::registry::auth::store(&path, registry, &args.username, &secret)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    eprintln!(
        "kiln: logged in to {registry} as {}; credentials stored in {}",
        args.username,
        path.display()
    );
    Ok(())
}

/// The progress of a registry's blob transfers (see [`crate::console::Transfer`]): bytes and
/// rate, live on a terminal, every ten seconds in a log; quick ones print nothing.
pub struct Bar {
    state: Mutex<Option<(crate::console::Transfer, u64, u64)>>,
}

impl Bar {
    /// A display for the transfers of one command.
    pub fn new() -> Bar {
        Bar {
            state: Mutex::new(None),
        }
    }
}

impl TransferProgress for Bar {
    fn start(&self, label: &str, total: u64) {
        // The client says `push <digest>` / `pull <digest>`.
        let label = match label.split_once(' ') {
            Some(("push", rest)) => format!("pushing blob {rest}"),
            Some(("pull", rest)) => format!("pulling blob {rest}"),
            _ => label.to_string(),
        };
        if let Ok(mut s) = self.state.lock() {
            *s = Some((crate::console::Transfer::new(&label), 0, total));
        }
    }
    fn advance(&self, n: u64) {
        let Ok(mut s) = self.state.lock() else { return };
        if let Some((t, done, total)) = s.as_mut() {
            *done += n;
            t.update(*done, Some(*total));
        }
    }
    fn finish(&self) {
        let Ok(mut s) = self.state.lock() else { return };
        if let Some((t, done, _)) = s.take() {
            t.finish(Some(done));
        }
    }
}
