//! Unit tests of the whole Kraftfile parser: that error locations are exact
//! (block, flow and quoted styles, CRLF), that interpolation reaches every
//! string value, and that finding and loading files works on disk. The
//! shapes of valid and invalid files are covered by the golden corpus in
//! `tests/kraftfiles/`.

use std::path::Path;

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse_ok(text: &str) -> Kraftfile {
    match parse_str(text, Path::new("app/Kraftfile"), &no_env) {
        Ok(k) => k,
        Err(d) => panic!("should parse:\n{}", d.render()),
    }
}

/// The position and message of the error `text` gives.
fn error_at(text: &str) -> (u32, u32, String) {
    match parse_str(text, Path::new("app/Kraftfile"), &no_env) {
        Ok(_) => panic!("should fail:\n{text}"),
        Err(d) => {
            let p = d
                .pos
                .unwrap_or_else(|| panic!("no position: {}", d.render()));
            (p.line, p.column, d.message)
        }
    }
}

const HEAD: &str = "spec: v0.6\nunikraft: stable\n";

#[test]
fn locations_in_block_style() {
    let (l, c, m) = error_at(&format!(
        "{HEAD}targets:\n  - qemu/x86_64\n  - plat: qemu\n    arch: x86_65\n"
    ));
    assert_eq!((l, c), (6, 11), "{m}");
    let (l, c, _) = error_at(&format!(
        "{HEAD}libraries:\n  lwip:\n    version: stable\n    kconfig:\n      LWIP_TCP: y\n"
    ));
    assert_eq!((l, c), (7, 7));
    let (l, c, _) = error_at(&format!("{HEAD}env:\n  - GOOD=1\n  - 9BAD=1\n"));
    assert_eq!((l, c), (5, 5));
}

#[test]
fn locations_inside_strings() {
    // The architecture part of `plat/arch` is marked, also inside quotes.
    let (l, c, m) = error_at(&format!("{HEAD}targets: [qemu/x86, 'fc/x86_64']\n"));
    assert_eq!((l, c), (3, 16), "{m}");
    let (l, c, _) = error_at(&format!("{HEAD}targets:\n  - 'fc/arm65'\n"));
    assert_eq!((l, c), (4, 9));
    let (l, c, _) = error_at(&format!("{HEAD}targets:\n  - \"qmu/x86_64\"\n"));
    assert_eq!((l, c), (4, 6));
}

#[test]
fn locations_in_flow_style_and_crlf() {
    let (l, c, m) =
        error_at("{spec: v0.6, unikraft: stable, targets: [{plat: qemu, arc: x86_64}]}\n");
    assert_eq!((l, c), (1, 55), "{m}");
    let (l, c, _) = error_at("spec: v0.6\r\nunikraft: stable\r\nnmae: x\r\n");
    assert_eq!((l, c), (3, 1));
}

#[test]
fn rendered_snippet_marks_the_whole_key() {
    let text = format!("{HEAD}targets:\n  - plat: qemu\n    architecure: x86_64\n");
    let Err(d) = parse_str(&text, Path::new("demo/Kraftfile"), &no_env) else {
        panic!("should fail");
    };
    assert_eq!(
        d.render(),
        "error: unknown key `architecure` in target\n  --> demo/Kraftfile:5:5\n   |\n 5 |     architecure: x86_64\n   |     ^^^^^^^^^^^\n   = help: did you mean `architecture`?\n"
    );
}

#[test]
fn interpolation_reaches_all_string_values_but_not_keys() {
    let env = |n: &str| match n {
        "V" => Some("staging".to_string()),
        "P" => Some("fc".to_string()),
        "KEY" => Some("nope".to_string()),
        _ => None,
    };
    let text = "spec: v0.6\nname: app-${V}\nunikraft: $V\nlabels:\n  ${KEY}: x\ntargets: [\"${P}/x86_64\"]\ncmd: [\"${MISSING:-/bin/app}\"]\n";
    let k = parse_str(text, Path::new("app/Kraftfile"), &env)
        .unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(k.name, "app-staging");
    assert_eq!(
        k.unikraft.and_then(|u| u.version).as_deref(),
        Some("staging")
    );
    assert_eq!(k.targets[0].plat, Platform::Fc);
    assert_eq!(k.cmd, ["/bin/app"]);
    assert!(k.labels.contains_key("${KEY}"), "keys are not interpolated");
}

#[test]
fn interpolation_errors_point_at_the_dollar() {
    let (l, c, m) = error_at("spec: v0.6\nunikraft: stable\ncmd: \"/bin/echo ${}\"\n");
    assert_eq!((l, c), (3, 17), "{m}");
}

#[test]
fn names() {
    assert_eq!(parse_ok("spec: v0.6\nunikraft: stable\n").name, "app");
    assert_eq!(
        parse_ok("spec: v0.6\nname: Caddy2.7\nunikraft: stable\n").name,
        "Caddy2.7"
    );
    assert_eq!(convert::normalize_name("__My App.v2-"), "myappv2-");
    let no_dir = parse_str(
        "spec: v0.6\nunikraft: stable\n",
        Path::new("Kraftfile"),
        &no_env,
    );
    assert!(no_dir.is_err_and(|d| d.message.contains("cannot name the project")));
}

#[test]
fn find_kraftfile_none_one_many() {
    let dir = tempfile::tempdir().expect("tempdir");
    let none = find_kraftfile(dir.path()).expect_err("no file yet");
    assert!(
        none.help
            .as_deref()
            .is_some_and(|h| h.contains("`kraft.yaml`") && h.contains("`Kraftfile`"))
    );
    std::fs::write(
        dir.path().join("Kraftfile"),
        "spec: v0.6\nunikraft: stable\n",
    )
    .expect("write");
    assert_eq!(
        find_kraftfile(dir.path()).ok(),
        Some(dir.path().join("Kraftfile"))
    );
    std::fs::write(dir.path().join("kraft.yaml"), "spec: v0.6\n").expect("write");
    let many = find_kraftfile(dir.path()).expect_err("two files");
    assert_eq!(
        many.message,
        "more than one Kraftfile in this directory: `kraft.yaml`, `Kraftfile`"
    );
}

#[test]
fn load_names_the_project_after_its_directory() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("My_Project.v2");
    std::fs::create_dir(&dir).expect("mkdir");
    let path = dir.join("Kraftfile");
    std::fs::write(
        &path,
        "spec: v0.6\nunikraft: stable\ntargets: [qemu/x86_64]\n",
    )
    .expect("write");
    let k = load(&path, &no_env).unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(k.name, "my_projectv2");
    assert_eq!(k.path, path);
    let missing = load(&dir.join("nope.yaml"), &no_env).expect_err("missing file");
    assert!(missing.message.starts_with("cannot read the Kraftfile"));
}

#[test]
fn cmd_string_is_split_like_a_shell() {
    let k = parse_ok("spec: v0.6\nruntime: base\ncmd: /bin/x --flag 'a b'\n");
    assert_eq!(k.cmd, ["/bin/x", "--flag", "a b"]);
}
