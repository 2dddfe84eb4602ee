//! `kiln completions` and `kiln man` are generated from the CLI's own definitions; the
//! copies shipped in `contrib/` must equal what the binary prints (run with `KILN_BLESS=1`
//! after changing a flag), and the bash script really completes kiln's verbs and flags in
//! bash.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn contrib(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(rel)
}

fn printed(args: &[&str]) -> String {
    let w = World::new();
    let out = w
        .kiln(w.scratch.path())
        .args(args)
        .output()
        .expect("run kiln");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// `actual` equals the shipped file, or (with `KILN_BLESS=1`) becomes it.
fn shipped(rel: &str, actual: &str) {
    let path = contrib(rel);
    if std::env::var_os("KILN_BLESS").is_some_and(|v| v == "1") {
        write(&path, actual);
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with KILN_BLESS=1)", path.display()));
    assert!(
        want == actual,
        "{} is out of date with the CLI: run `KILN_BLESS=1 cargo test --test docs_cli`",
        path.display()
    );
}

#[test]
fn the_shipped_completions_and_manual_match_the_cli() {
    for shell in ["bash", "zsh", "fish"] {
        let script = printed(&["completions", shell]);
        for verb in ["build", "plan", "run", "pkg", "fetch", "completions", "man"] {
            assert!(script.contains(verb), "{shell} completes {verb}");
        }
        for flag in ["keep-going", "progress", "trace", "check", "watch"] {
            assert!(script.contains(flag), "{shell} completes --{flag}");
        }
        assert!(
            !script.contains("__supervise"),
            "hidden commands stay hidden"
        );
        shipped(&format!("completions/kiln.{shell}"), &script);
    }
    let page = printed(&["man"]);
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq"),
        "roff: {}",
        &page[..40]
    );
    assert!(page.contains(".TH kiln 1"), "{page}");
    shipped("man/kiln.1", &page);

    let w = World::new();
    let dir = w.dir("pages");
    let out = w
        .kiln(&dir)
        .args(["man", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.join("kiln.1").is_file());
    assert!(dir.join("kiln-build.1").is_file());
}

/// What bash's completion offers for the words typed so far.
fn complete(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cmd = format!(
        "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}; \
         _kiln kiln '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &cmd])
        .output()
        .expect("bash");
    text(&out.stdout).lines().map(String::from).collect()
}

#[test]
fn bash_completes_verbs_and_flags() {
    let script = contrib("completions/kiln.bash");
    let verbs = complete(&script, &["kiln", "bu"]);
    assert_eq!(verbs, ["build"]);
    let flags = complete(&script, &["kiln", "build", "--ke"]);
    assert_eq!(flags, ["--keep-going"]);
    let modes = complete(&script, &["kiln", "build", "--progress", ""]);
    assert_eq!(modes, ["auto", "tty", "plain", "none"]);
}
