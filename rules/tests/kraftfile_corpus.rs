//! Golden tests for the Kraftfile parser: every `tests/kraftfiles/valid/*.yaml`
//! must parse to the model in the `.json` beside it (and, when it has warnings, such as a
//! key given twice, render them exactly as the `.warn` beside it), and every
//! `tests/kraftfiles/invalid/*.yaml` must fail with exactly the rendered
//! diagnostic in the `.err` beside it.
//!
//! `KILN_BLESS=1 cargo test -p kiln-rules --test kraftfile_corpus` rewrites
//! the goldens; review them by eye, they are the specification. This test
//! does not cover finding Kraftfiles on disk (see the unit tests).

use std::path::{Path, PathBuf};

use kiln_rules::kraftfile::parse_str;

/// The fixed environment the corpus is interpolated with.
fn env(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/home/kiln".to_string()),
        "KILN_UK_VERSION" => Some("staging".to_string()),
        "KILN_PLAT" => Some("fc".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

/// The corpus files of one kind, sorted, as paths relative to the crate.
fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kraftfiles")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter_map(|p| {
            p.file_name()
                .map(|n| Path::new("tests/kraftfiles").join(kind).join(n))
        })
        .collect();
    files.sort();
    files
}

/// Compares `actual` with the golden file, or rewrites it when blessing.
/// Returns a description of the mismatch, if any.
fn check_golden(golden: &Path, actual: &str) -> Option<String> {
    let abs = Path::new(env!("CARGO_MANIFEST_DIR")).join(golden);
    if std::env::var_os("KILN_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&abs, actual)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", abs.display()));
        return None;
    }
    match std::fs::read_to_string(&abs) {
        Ok(expected) if expected == actual => None,
        Ok(expected) => Some(format!(
            "{} differs\n--- expected\n{expected}\n--- actual\n{actual}",
            golden.display()
        )),
        Err(e) => Some(format!(
            "{}: {e} (run with KILN_BLESS=1 to create it)",
            golden.display()
        )),
    }
}

fn read(rel: &Path) -> String {
    let abs = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&abs).unwrap_or_else(|e| panic!("cannot read {}: {e}", abs.display()))
}

#[test]
fn valid_kraftfiles_parse_to_their_golden_model() {
    let files = corpus("valid");
    assert!(
        files.len() >= 25,
        "the valid corpus is too small: {}",
        files.len()
    );
    let mut failures = Vec::new();
    for rel in &files {
        match parse_str(&read(rel), rel, &env) {
            Ok(kf) => {
                let json = serde_json::to_string_pretty(&kf).expect("the model serialises") + "\n";
                failures.extend(check_golden(&rel.with_extension("json"), &json));
                let warn = rel.with_extension("warn");
                let warnings: String = kf.warnings.iter().map(|w| w.render_warning()).collect();
                let has_golden = Path::new(env!("CARGO_MANIFEST_DIR")).join(&warn).exists();
                if !warnings.is_empty() || has_golden {
                    failures.extend(check_golden(&warn, &warnings));
                }
            }
            Err(d) => failures.push(format!(
                "{} should parse, but:\n{}",
                rel.display(),
                d.render()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn invalid_kraftfiles_fail_with_their_golden_diagnostic() {
    let files = corpus("invalid");
    assert!(
        files.len() >= 20,
        "the invalid corpus is too small: {}",
        files.len()
    );
    let mut failures = Vec::new();
    for rel in &files {
        match parse_str(&read(rel), rel, &env) {
            Ok(_) => failures.push(format!("{} should not parse", rel.display())),
            Err(d) => {
                let rendered = d.render();
                if d.pos.is_none() && !rel.to_string_lossy().contains("empty") {
                    failures.push(format!("{} has no position:\n{rendered}", rel.display()));
                }
                failures.extend(check_golden(&rel.with_extension("err"), &rendered));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
