//! House rules, checked: every Rust file starts with a `//!` doc saying what it is, stays
//! under 800 lines, and the crates depend on each other only in the documented direction
//! (ARCHITECTURE.md): engine on no kiln crate, cache, oci, dockerfile and remote on the engine only,
//! rules on the engine, fetch, oci and dockerfile only, vmm, watch and fetch on none.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name == ".git" || name == ".unikraft" {
            continue;
        }
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_rust_file_has_a_module_doc_and_a_sane_length() {
    let mut files = Vec::new();
    for d in [
        "src",
        "engine",
        "cache",
        "rules",
        "vmm",
        "watch",
        "fetch",
        "oci",
        "dockerfile",
        "remote",
        "tests",
        "benches",
    ] {
        rust_files(&root().join(d), &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        if !text.starts_with("//!") {
            problems.push(format!("{}: does not start with a `//!` doc", f.display()));
        }
        let lines = text.lines().count();
        if lines > 800 {
            problems.push(format!(
                "{}: {lines} lines (split it by concept)",
                f.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The crates a manifest depends on (normal dependencies only) whose names start with
/// `prefix`.
fn deps_named(manifest: &str, prefix: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(manifest)).unwrap_or_default();
    let doc: toml::Table = text.parse().unwrap_or_default();
    doc.get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| {
            t.keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The `kiln-*` crates a manifest depends on.
fn kiln_deps(manifest: &str) -> Vec<String> {
    deps_named(manifest, "kiln-")
}

/// Only the binary knows argv and the terminal: no library depends on clap (or its
/// completion and manual generators) or on indicatif. Libraries report progress as engine
/// events and values, never by drawing.
#[test]
fn only_the_binary_knows_argv_and_the_terminal() {
    let libraries = [
        "engine",
        "cache",
        "rules",
        "oci",
        "dockerfile",
        "remote",
        "fetch",
        "vmm",
        "watch",
    ];
    for lib in libraries {
        let manifest = format!("{lib}/Cargo.toml");
        for terminal in ["clap", "indicatif", "console"] {
            assert_eq!(
                deps_named(&manifest, terminal),
                Vec::<String>::new(),
                "{manifest}"
            );
        }
    }
    for needed in ["clap", "clap_complete", "clap_mangen", "indicatif"] {
        assert!(
            deps_named("Cargo.toml", needed).contains(&needed.to_string()),
            "{needed}"
        );
    }
}

#[test]
fn crates_depend_only_in_the_documented_direction() {
    assert_eq!(kiln_deps("engine/Cargo.toml"), Vec::<String>::new());
    assert_eq!(kiln_deps("cache/Cargo.toml"), ["kiln-engine"]);
    assert_eq!(
        kiln_deps("rules/Cargo.toml"),
        ["kiln-dockerfile", "kiln-engine", "kiln-fetch", "kiln-oci"]
    );
    assert_eq!(kiln_deps("oci/Cargo.toml"), ["kiln-engine"]);
    assert_eq!(kiln_deps("dockerfile/Cargo.toml"), ["kiln-engine"]);
    assert_eq!(kiln_deps("remote/Cargo.toml"), ["kiln-engine"]);
    assert_eq!(kiln_deps("fetch/Cargo.toml"), Vec::<String>::new());
    assert_eq!(kiln_deps("vmm/Cargo.toml"), Vec::<String>::new());
    assert_eq!(kiln_deps("watch/Cargo.toml"), Vec::<String>::new());
}

/// The engine's code (comments and unit tests aside) names no Unikraft concept.
#[test]
fn the_engine_knows_no_domain_words() {
    let mut files = Vec::new();
    rust_files(&root().join("engine/src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f)
            .unwrap_or_default()
            .to_lowercase();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for word in ["unikraft", "kraftfile", "qemu", "cpio", "kconfig", "make "] {
                assert!(
                    !line.contains(word),
                    "{}: `{word}` in {line:?}",
                    f.display()
                );
            }
        }
    }
}

/// The OCI, Dockerfile and remote crates' code knows images and blobs, not projects: no
/// Kraftfile, no make.
#[test]
fn the_oci_and_dockerfile_crates_know_no_kraftfile() {
    let mut files = Vec::new();
    rust_files(&root().join("oci/src"), &mut files);
    rust_files(&root().join("dockerfile/src"), &mut files);
    rust_files(&root().join("remote/src"), &mut files);
    assert!(files.len() > 10);
    for f in files {
        let text = std::fs::read_to_string(&f)
            .unwrap_or_default()
            .to_lowercase();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for word in ["kraftfile", "kiln_rules", "make "] {
                assert!(
                    !line.contains(word),
                    "{}: `{word}` in {line:?}",
                    f.display()
                );
            }
        }
    }
}
