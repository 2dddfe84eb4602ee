//! `kiln pkg`: build what is stale, package it (the `package` steps), and file the package
//! under its name in kiln's package store; `pkg ls`, `rm` and `export`. Push and pull are in
//! `registry.rs`.

use std::io::Read;

use kiln_engine::Store;
use kiln_oci::Reference;
use kiln_oci::image::PackageMeta;
use kiln_oci::store::{PackageRecord, PackageStore};
use kiln_rules::plan::PACKAGE;
use kiln_rules::steps::package::{PackageFormat, PackageOptions};
use serde_json::json;

use crate::cli::{Output, OutputArgs, PkgArgs, PkgCommand, PkgFormat};
use crate::error::{CliError, print_stdout};
use crate::session;

/// The value kiln writes as `sh.kraftkit.version`: kraft only checks that it is there.
pub fn tool_version() -> String {
    format!("{}+kiln", env!("CARGO_PKG_VERSION"))
}

/// Parses a package name given on the command line.
pub fn parse_reference(text: &str) -> Result<Reference, CliError> {
    Reference::parse(text, &crate::registry::default_registry()?)
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// What `--name REF --format F` mean for the plan.
pub fn package_options(name: &str, format: PkgFormat) -> Result<PackageOptions, CliError> {
    let reference = parse_reference(name)?;
    if reference.digest.is_some() {
        return Err(CliError::Usage(format!(
            "--name {name}: a package is named by a tag, not a digest (its digest follows from its content)"
        )));
    }
    Ok(PackageOptions {
        meta: PackageMeta {
            reference,
            created: session::package_created()?,
            tool_version: tool_version(),
        },
        format: match format {
            PkgFormat::Kraftkit => PackageFormat::Kraftkit,
            PkgFormat::Urunc => PackageFormat::Urunc,
        },
    })
}

/// Runs `kiln pkg`.
pub fn pkg(args: &PkgArgs) -> Result<(), CliError> {
    match &args.command {
        None => package(args),
        Some(PkgCommand::Ls(a)) => ls(a),
        Some(PkgCommand::Rm { refs }) => rm(refs),
        Some(PkgCommand::Export { reference, dir }) => export(reference, dir),
        Some(PkgCommand::Push(a)) => crate::registry::push_command(a),
        Some(PkgCommand::Pull(a)) => crate::registry::pull_command(a),
    }
}

fn package(args: &PkgArgs) -> Result<(), CliError> {
    crate::console::init(args.build.show.progress);
    let project_args = &args.build.project;
    let jobs = session::jobs(args.build.jobs)?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => {
            let kf = kiln_rules::project::Project::load(
                &project_args.dir,
                project_args.kraftfile.as_deref(),
                &kiln_rules::kraftfile::process_env,
            )?;
            kf.kraftfile.name.clone()
        }
    };
    let options = package_options(&name, args.format)?;
    let reference = options.meta.reference.clone();
    let extras = session::Extras {
        package: Some(options),
        runtime_kernel: true,
        ..Default::default()
    };
    let s = session::open_with(project_args, Some(jobs), extras)?;
    let mut result = None;
    for attempt in 0..2 {
        let opts = crate::build::RunOpts::of(&args.build);
        let report = crate::build::traced(&args.build.show, "pkg", || {
            crate::build::build_session(&s, jobs, &opts)
        })?;
        crate::build::check_succeeded(&report)?;
        let key = report
            .steps
            .iter()
            .find(|r| r.id == PACKAGE)
            .and_then(|r| r.key)
            .ok_or_else(|| CliError::Failed("internal: the build has no package step".into()))?;
        result = session::open_store()?.lookup(&key)?;
        if result.is_some() || attempt == 1 {
            break;
        }
        // The package steps were up to date by the project's state, but the cache no longer
        // holds their result (cleaned, or evicted): forget them and package again.
        forget_package_steps(&s);
    }
    let store = session::open_store()?;
    let result = result.ok_or_else(|| {
        CliError::Failed(
            "the package was removed from the cache while it was built; run kiln pkg again".into(),
        )
    })?;
    let record_file = result
        .outputs
        .get("record")
        .ok_or_else(|| CliError::Failed("internal: the package step has no record".into()))?;
    let mut bytes = Vec::new();
    store
        .open_blob(record_file)?
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Failed(format!("reading the package record: {e}")))?;
    let record: PackageRecord = serde_json::from_slice(&bytes)
        .map_err(|e| CliError::Failed(format!("internal: the package record: {e}")))?;
    let packages = PackageStore::new(&session::cache_dir()?);
    let wrote = packages
        .put(&reference, &record)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    drop(store);
    if args.build.project.output == Output::Json && !args.push {
        return print_stdout(&format!("{:#}\n", record_json(&record)));
    }
    if args.build.project.output == Output::Human {
        eprintln!(
            "kiln: packaged {} ({}, {} manifest{}) {}{}",
            record.reference,
            record.format,
            record.manifests.len(),
            if record.manifests.len() == 1 { "" } else { "s" },
            record.index,
            if wrote { "" } else { " (unchanged)" }
        );
    }
    if args.push {
        crate::registry::push(&reference, args.build.project.output)?;
    }
    Ok(())
}

/// Clears the project state of the package steps, so that the next build looks them up.
fn forget_package_steps(s: &session::Session) {
    let state = kiln_engine::state::StateDir::new(&s.project.state_dir().join("state"));
    for step in &s.plan.steps {
        if step.kind() == "package" || step.kind() == "index" {
            let prev = state.load(step.id());
            let _ = state.save(step.id(), &prev, &Default::default());
        }
    }
}

/// A record as `pkg ls -o json` and `pkg -o json` show it.
pub fn record_json(r: &PackageRecord) -> serde_json::Value {
    let reference = Reference::parse(&r.reference, kiln_oci::reference::DEFAULT_REGISTRY).ok();
    json!({
        "reference": r.reference,
        "name": reference.as_ref().map(|x| x.name()),
        "version": reference.as_ref().map(|x| x.tag.clone().unwrap_or_default()),
        "format": r.format,
        "digest": r.index.to_string(),
        "size": r.size(),
        "created": r.created,
        "manifests": r.manifests.iter().map(|m| json!({
            "digest": m.digest.to_string(),
            "plat": m.plat,
            "arch": m.arch,
            "size": m.size,
        })).collect::<Vec<_>>(),
    })
}

fn ls(args: &OutputArgs) -> Result<(), CliError> {
    let records = PackageStore::new(&session::cache_dir()?)
        .list()
        .map_err(|e| CliError::Failed(e.to_string()))?;
    if args.output == Output::Json {
        let all: Vec<_> = records.iter().map(record_json).collect();
        return print_stdout(&format!("{:#}\n", serde_json::Value::from(all)));
    }
    let mut rows = vec![
        [
            "NAME", "VERSION", "FORMAT", "PLAT", "ARCH", "DIGEST", "SIZE", "CREATED",
        ]
        .map(String::from),
    ];
    for r in &records {
        let (name, version) =
            match Reference::parse(&r.reference, kiln_oci::reference::DEFAULT_REGISTRY) {
                Ok(x) => (x.name(), x.tag.unwrap_or_default()),
                Err(_) => (r.reference.clone(), String::new()),
            };
        let list = |f: fn(&kiln_oci::store::ManifestSummary) -> &str| {
            let mut v: Vec<&str> = r.manifests.iter().map(f).collect();
            v.dedup();
            v.join(",")
        };
        rows.push([
            name,
            version,
            r.format.clone(),
            list(|m| m.plat.as_str()),
            list(|m| m.arch.as_str()),
            r.index.hex()[..12].to_string(),
            crate::cache::human_bytes(r.size()),
            r.created.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    print_stdout(&crate::render::table(&rows))
}

fn rm(refs: &[String]) -> Result<(), CliError> {
    let packages = PackageStore::new(&session::cache_dir()?);
    let mut missing = Vec::new();
    for text in refs {
        let r = parse_reference(text)?;
        if !packages
            .remove(&r)
            .map_err(|e| CliError::Failed(e.to_string()))?
        {
            missing.push(text.clone());
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "no package named {}; `kiln pkg ls` lists them",
            missing.join(", ")
        )))
    }
}

/// The record of the package `text` names, or an error saying how to get one.
pub fn find_record(text: &str) -> Result<(Reference, PackageRecord), CliError> {
    let r = parse_reference(text)?;
    let packages = PackageStore::new(&session::cache_dir()?);
    match packages
        .get(&r)
        .map_err(|e| CliError::Failed(e.to_string()))?
    {
        Some(record) => Ok((r, record)),
        None => Err(CliError::Failed(format!(
            "kiln has no package {r}; build one with `kiln pkg --name {text}`, pull it with \
             `kiln pkg pull {text}`, or see `kiln pkg ls`"
        ))),
    }
}

fn export(text: &str, dir: &std::path::Path) -> Result<(), CliError> {
    let (r, record) = find_record(text)?;
    let store = session::open_store()?;
    kiln_oci::layout::export(&record, &store, dir, r.tag_or_latest())
        .map_err(|e| CliError::Failed(format!("exporting {r} to {}: {e}", dir.display())))?;
    eprintln!(
        "kiln: wrote {r} to {} (an OCI image layout; tag {})",
        dir.display(),
        r.tag_or_latest()
    );
    Ok(())
}
