//! Unit tests of COPY on trees: files, directories, slashes, globs, symlinks in sources and
//! destinations, hard links, the workdir, errors.

use super::*;
use kiln_engine::BlobDigest;

fn file(content: &str) -> EntryKind {
    EntryKind::File {
        digest: BlobDigest::of_bytes(content.as_bytes()),
        size: content.len() as u64,
        executable: false,
    }
}

fn tree(entries: &[(&str, EntryKind)]) -> Tree {
    Tree::new(
        entries
            .iter()
            .map(|(p, k)| TreeEntry {
                path: p.to_string(),
                kind: k.clone(),
            })
            .collect(),
    )
    .unwrap()
}

fn link(t: &str) -> EntryKind {
    EntryKind::Symlink { target: t.into() }
}

fn listing(t: &Tree) -> Vec<String> {
    t.entries()
        .iter()
        .map(|e| match &e.kind {
            EntryKind::Dir => format!("{}/", e.path),
            EntryKind::File { size, .. } => format!("{} ({size})", e.path),
            EntryKind::Symlink { target } => format!("{} -> {target}", e.path),
            EntryKind::HardLink { target } => format!("{} => {target}", e.path),
        })
        .collect()
}

fn copy(dst: &Tree, src: &Tree, sources: &[&str], dest: &str) -> Result<Applied, String> {
    let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    let sel = select(src, &sources)?;
    apply(dst, src, &sel, dest, "/")
}

fn context() -> Tree {
    tree(&[
        ("app", EntryKind::Dir),
        ("app/main.py", file("print")),
        ("app/lib", EntryKind::Dir),
        ("app/lib/x.py", file("xx")),
        ("app/link", link("main.py")),
        ("notes.txt", file("n")),
        ("lib.so", link("lib.so.1")),
        ("lib.so.1", file("elf")),
    ])
}

#[test]
fn a_directory_source_copies_its_contents_and_keeps_inner_symlinks() {
    let a = copy(&Tree::default(), &context(), &["app"], "/srv").unwrap();
    assert_eq!(
        listing(&a.tree),
        [
            "srv/",
            "srv/lib/",
            "srv/lib/x.py (2)",
            "srv/link -> main.py",
            "srv/main.py (5)"
        ]
    );
    assert_eq!(a.from_source["srv/main.py"], "app/main.py");
}

#[test]
fn a_file_goes_into_a_directory_only_with_a_slash_or_an_existing_directory() {
    let ctx = context();
    let a = copy(&Tree::default(), &ctx, &["notes.txt"], "/etc/motd").unwrap();
    assert_eq!(listing(&a.tree), ["etc/", "etc/motd (1)"]);
    let b = copy(&Tree::default(), &ctx, &["notes.txt"], "/etc/").unwrap();
    assert_eq!(listing(&b.tree), ["etc/", "etc/notes.txt (1)"]);
    let c = copy(&b.tree, &ctx, &["notes.txt"], "/etc").unwrap();
    assert_eq!(listing(&c.tree), ["etc/", "etc/notes.txt (1)"]);
}

#[test]
fn a_symlink_source_is_followed_and_copied_under_its_own_name() {
    let a = copy(&Tree::default(), &context(), &["/lib.so"], "/lib/").unwrap();
    assert_eq!(listing(&a.tree), ["lib/", "lib/lib.so (3)"]);
    assert_eq!(a.from_source["lib/lib.so"], "lib.so.1");
}

#[test]
fn globs_match_within_one_directory_and_need_a_directory_destination() {
    let ctx = context();
    let a = copy(&Tree::default(), &ctx, &["lib.*"], "/l/").unwrap();
    assert_eq!(listing(&a.tree), ["l/", "l/lib.so (3)", "l/lib.so.1 (3)"]);
    let e = copy(&Tree::default(), &ctx, &["lib.*"], "/l").unwrap_err();
    assert!(e.contains("must be a directory ending with `/`"), "{e}");
    let e = copy(&Tree::default(), &ctx, &["*.c"], "/").unwrap_err();
    assert!(e.contains("no source file matches `*.c`"), "{e}");
    let e = copy(&Tree::default(), &ctx, &["missing"], "/").unwrap_err();
    assert!(e.contains("`missing` is not there"), "{e}");
}

#[test]
fn destination_directories_that_are_symlinks_are_followed() {
    let base = tree(&[
        ("lib", link("usr/lib")),
        ("usr", EntryKind::Dir),
        ("usr/lib", EntryKind::Dir),
    ]);
    let a = copy(&base, &context(), &["lib.so.1"], "/lib/").unwrap();
    assert_eq!(
        listing(&a.tree),
        ["lib -> usr/lib", "usr/", "usr/lib/", "usr/lib/lib.so.1 (3)"]
    );
    let b = copy(&base, &context(), &["app"], "/lib/app").unwrap();
    assert!(listing(&b.tree).contains(&"usr/lib/app/main.py (5)".to_string()));
}

#[test]
fn hard_links_inside_a_copied_directory_stay_hard_links() {
    let src = tree(&[
        ("d", EntryKind::Dir),
        ("d/a", file("same")),
        (
            "d/b",
            EntryKind::HardLink {
                target: "d/a".into(),
            },
        ),
    ]);
    let a = copy(&Tree::default(), &src, &["d"], "/x/").unwrap();
    assert_eq!(listing(&a.tree), ["x/", "x/a (4)", "x/b => x/a"]);
    // The file alone: the link is followed to its content.
    let b = copy(&Tree::default(), &src, &["d/b"], "/y").unwrap();
    assert_eq!(listing(&b.tree), ["y (4)"]);
}

#[test]
fn replacing_the_first_file_of_a_hard_link_group_keeps_the_others_linked() {
    let dst = tree(&[
        ("a", file("old")),
        ("b", EntryKind::HardLink { target: "a".into() }),
        ("c", EntryKind::HardLink { target: "a".into() }),
    ]);
    let a = copy(&dst, &context(), &["notes.txt"], "/a").unwrap();
    assert_eq!(listing(&a.tree), ["a (1)", "b (3)", "c => b"]);
    assert!(
        !a.from_source.contains_key("b"),
        "b's bytes are the state's before"
    );
}

#[test]
fn a_file_cannot_replace_a_directory() {
    let dst = tree(&[("x", EntryKind::Dir), ("x/notes.txt", EntryKind::Dir)]);
    let e = copy(&dst, &context(), &["notes.txt"], "/x/").unwrap_err();
    assert!(e.contains("is a directory"), "{e}");
}

#[test]
fn relative_destinations_are_taken_from_the_workdir() {
    let sel = select(&context(), &["notes.txt".to_string()]).unwrap();
    let a = apply(&Tree::default(), &context(), &sel, ".", "/work").unwrap();
    assert_eq!(listing(&a.tree), ["work/", "work/notes.txt (1)"]);
}

#[test]
fn resolution_stays_inside_the_root() {
    let t = tree(&[
        ("up", link("../../..")),
        ("abs", link("/etc")),
        ("etc", EntryKind::Dir),
    ]);
    assert_eq!(resolve(&t, "up/etc", true).unwrap(), "etc");
    assert_eq!(resolve(&t, "abs/x", true).unwrap(), "etc/x");
    let t = tree(&[("a", link("b")), ("b", link("a"))]);
    assert!(
        resolve(&t, "a", true)
            .unwrap_err()
            .contains("too many levels")
    );
}
