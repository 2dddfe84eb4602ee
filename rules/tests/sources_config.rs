//! Tests of what needs no git: the config file (where it is, its errors), the lock file's
//! errors, and the rules that turn a component into a source spec.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_rules::diag::Pos;
use kiln_rules::kraftfile::{Component, Kconfig};
use kiln_rules::sources::{
    ComponentId, KilnConfig, LockFile, Request, SourceSpec, SpecLayer, Version, component_request,
    is_git_url, load_config, parse_override, unknown_override_names,
};

fn env_of(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn the_config_file_is_found_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let write = |rel: &str, name: &str| {
        let p = d.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("[sources]\n{name} = \"/x\"\n")).unwrap();
        p
    };
    let explicit = write("explicit.toml", "a");
    write("xdg/kiln/config.toml", "b");
    write("home/.config/kiln/config.toml", "c");
    let s = |v: &str| v.to_string();
    let home = d.join("home").display().to_string();
    let xdg = d.join("xdg").display().to_string();
    let cases = [
        (
            vec![
                ("KILN_CONFIG", explicit.display().to_string()),
                ("XDG_CONFIG_HOME", xdg.clone()),
                ("HOME", home.clone()),
            ],
            Some("a"),
        ),
        (
            vec![("XDG_CONFIG_HOME", xdg.clone()), ("HOME", home.clone())],
            Some("b"),
        ),
        (
            vec![("XDG_CONFIG_HOME", s("")), ("HOME", home.clone())],
            Some("c"),
        ),
        (vec![("HOME", d.join("nobody").display().to_string())], None),
        (vec![], None),
    ];
    for (env, want) in cases {
        let c = load_config(&env_of(&env)).unwrap();
        assert_eq!(c.sources.keys().next().map(String::as_str), want, "{env:?}");
    }
    let missing = env_of(&[("KILN_CONFIG", d.join("missing.toml").display().to_string())]);
    let err = load_config(&missing).unwrap_err();
    assert!(
        err.message.starts_with("cannot read the kiln config file"),
        "{err}"
    );
}

fn parse_err(text: &str) -> String {
    KilnConfig::parse(Path::new("cfg.toml"), text, None)
        .unwrap_err()
        .render()
}

#[test]
fn config_errors_name_the_line_and_suggest() {
    let got =
        parse_err("[sources]\nunikraft = \"/uk\"\n\n[mirros]\n\"https://a/\" = \"file:///b/\"\n");
    assert_eq!(
        got,
        "error: unknown key `mirros` in the kiln config file\n  --> cfg.toml:4:2\n   |\n 4 | [mirros]\n   |  ^^^^^^\n   = help: did you mean `mirrors`? the config file has [sources], [mirrors], [registry], [registries.\"HOST\"], [remote] and [distribute]\n"
    );
    let got = parse_err("[sources]\nunikraft = 3\n");
    assert!(
        got.contains("--> cfg.toml:2:12") && got.contains("invalid type: integer"),
        "{got}"
    );
    let got = parse_err("[sources]\nunikraft = \"\"\n");
    assert!(
        got.contains("--> cfg.toml:2:1") && got.contains("empty"),
        "{got}"
    );
    let got = parse_err("colour = 1\n");
    assert!(
        got.contains("unknown key `colour`")
            && got.contains("the config file has [sources], [mirrors]"),
        "{got}"
    );
    let got = parse_err("[sources\n");
    assert!(got.contains("--> cfg.toml:1:"), "{got}");
}

#[test]
fn lock_file_errors_say_to_regenerate() {
    let p = Path::new("Kraftfile.lock");
    let c = "0".repeat(40);
    let t = "1".repeat(64);
    let bad_commit =
        "format = 1\n[[source]]\nid = \"unikraft\"\nurl = \"u\"\ncommit = \"abc\"\ntree = \""
            .to_string()
            + &t
            + "\"\n";
    let err = LockFile::parse(p, &bad_commit).unwrap_err();
    assert_eq!(
        err.message,
        "entry `unikraft`: the commit is not 40 hex digits"
    );
    assert!(err.help.unwrap().contains("kiln lock --update"));
    let unknown = format!(
        "format = 1\n[[source]]\nid = \"unikraft\"\nurl = \"u\"\ncommit = \"{c}\"\ntree = \"{t}\"\nbranch = \"x\"\n"
    );
    let err = LockFile::parse(p, &unknown).unwrap_err();
    assert_eq!(err.pos.map(|p| p.line), Some(7), "{err}");
    assert!(
        LockFile::parse(p, "format = 2\n")
            .unwrap_err()
            .message
            .contains("format 2")
    );
    let twice = format!(
        "format = 1\n[[source]]\nid = \"template\"\nurl = \"u\"\ncommit = \"{c}\"\ntree = \"{t}\"\n"
    )
    .repeat(1)
        + &format!(
            "[[source]]\nid = \"template\"\nurl = \"v\"\ncommit = \"{c}\"\ntree = \"{t}\"\n"
        );
    assert!(
        LockFile::parse(p, &twice)
            .unwrap_err()
            .message
            .contains("locked twice")
    );
}

fn component(source: Option<&str>, version: Option<&str>) -> Component {
    Component {
        name: "unikraft".into(),
        source: source.map(Into::into),
        version: version.map(Into::into),
        kconfig: Kconfig::default(),
        pos: Pos { line: 1, column: 1 },
    }
}

fn request(c: &Component, overrides: &[(&str, &str)], config: &KilnConfig) -> Request {
    let o: BTreeMap<String, String> = overrides
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    component_request(
        &ComponentId::Core,
        c,
        Path::new("/proj"),
        &o,
        config,
        Some(Path::new("/home/me")),
    )
    .unwrap()
}

fn git(url: &str, version: Version) -> SourceSpec {
    SourceSpec::Git {
        url: url.into(),
        fetch_url: url.into(),
        version,
    }
}

#[test]
fn precedence_and_classification() {
    let config = KilnConfig {
        sources: BTreeMap::from([("unikraft".into(), "ssh://git@corp/uk.git".into())]),
        ..KilnConfig::default()
    };
    let kf = component(Some("https://x/uk.git?branch=dev"), Some("dev"));
    let r = request(&kf, &[], &KilnConfig::default());
    assert_eq!(
        (r.spec, r.layer),
        (
            git("https://x/uk.git", Version::Branch("dev".into())),
            SpecLayer::Kraftfile
        )
    );
    let r = request(&kf, &[], &config);
    assert_eq!(
        (r.spec, r.layer),
        (
            git("ssh://git@corp/uk.git", Version::Ref("dev".into())),
            SpecLayer::Config
        )
    );
    let r = request(&kf, &[("unikraft", "/src/uk")], &config);
    assert_eq!(
        (r.spec, r.layer),
        (
            SourceSpec::Local(PathBuf::from("/src/uk")),
            SpecLayer::CommandLine
        )
    );
    let r = request(&kf, &[("unikraft", "file:///m/uk.git?tag=v1")], &config);
    assert_eq!(r.spec, git("file:///m/uk.git", Version::Tag("v1".into())));

    let local = |s: &str| request(&component(Some(s), None), &[], &KilnConfig::default()).spec;
    assert_eq!(local("./uk"), SourceSpec::Local("/proj/uk".into()));
    assert_eq!(local("../uk"), SourceSpec::Local("/proj/../uk".into()));
    assert_eq!(local("~/uk"), SourceSpec::Local("/home/me/uk".into()));
    assert_eq!(
        local("unikraft/unikraft"),
        SourceSpec::Local("/proj/unikraft/unikraft".into())
    );
    assert_eq!(
        request(&component(None, None), &[], &KilnConfig::default()).spec,
        git("https://github.com/unikraft/unikraft.git", Version::Stable)
    );
    assert_eq!(
        request(
            &component(Some("https://x/y.git"), None),
            &[],
            &KilnConfig::default()
        )
        .spec,
        git("https://x/y.git", Version::Default)
    );

    for s in [
        "file:///a",
        "https://github.com/x",
        "ssh://h/x",
        "git@github.com:x/y.git",
        "git://h/x",
    ] {
        assert!(is_git_url(s), "{s}");
    }
    for s in ["/abs", "./x", "../x", "~/x", "rel/dir", "name"] {
        assert!(!is_git_url(s), "{s}");
    }
    let err = component_request(
        &ComponentId::Core,
        &component(Some("-oProxy=x@h:p"), None),
        Path::new("/p"),
        &BTreeMap::new(),
        &KilnConfig::default(),
        None,
    );
    assert!(err.unwrap_err().contains("starts with `-`"));
}

#[test]
fn versions_and_overrides_parse() {
    assert_eq!(Version::parse("stable"), Version::Stable);
    assert_eq!(Version::parse("staging"), Version::Staging);
    let c = "AbCdEf0123456789abcdef0123456789abcdef01";
    assert_eq!(Version::parse(c), Version::Commit(c.to_lowercase()));
    assert_eq!(Version::parse("abcdef0"), Version::Ref("abcdef0".into()));
    assert_eq!(
        Version::Tag("t".into()).lock_form().as_deref(),
        Some("tag=t")
    );
    assert_eq!(Version::Default.lock_form(), None);

    let cwd = Path::new("/work/app");
    assert_eq!(
        parse_override("musl=../musl", cwd, None).unwrap(),
        ("musl".into(), "/work/app/../musl".into())
    );
    assert_eq!(
        parse_override("unikraft=https://h/u.git", cwd, None).unwrap(),
        ("unikraft".into(), "https://h/u.git".into())
    );
    assert!(
        parse_override("unikraft", cwd, None)
            .unwrap_err()
            .contains("NAME=PATH|URL")
    );

    let ids = [
        ComponentId::Core,
        ComponentId::Library("musl".into()),
        ComponentId::Template,
    ];
    let given = [
        "musl".to_string(),
        "msul".to_string(),
        "zzz".to_string(),
        "template".to_string(),
    ];
    assert_eq!(
        unknown_override_names(&given, &ids),
        vec![
            ("msul".to_string(), Some("musl".to_string())),
            ("zzz".to_string(), None)
        ]
    );
    assert_eq!(
        ComponentId::parse("lib/musl"),
        Some(ComponentId::Library("musl".into()))
    );
    assert_eq!(ComponentId::Library("musl".into()).to_string(), "lib/musl");
    assert_eq!(ComponentId::parse("lib/"), None);
}
