//! The version string a kernel embeds comes from kiln's inputs, never from a git repository
//! that happens to enclose the core: the test kernel computes `UK_FULLVERSION` exactly as
//! Unikraft does (`version.mk` plus `scripts/gitsha1`, the enclosing repository's HEAD), and
//! the same core inside a fresh `git init` repository and outside one gives one kernel.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A project `name` whose core is `core` (a copy of the test kernel).
fn project_on(w: &World, name: &str, core: &Path) -> PathBuf {
    let p = w.dir(name);
    write(
        &p.join("Kraftfile"),
        format!(
            "spec: v0.6\nname: hello\nunikraft:\n  source: {}\nrootfs: ./rootfs\ntargets:\n  - qemu/x86_64\n",
            core.display()
        ),
    );
    write(
        &p.join("main.c"),
        read(&testkernel_dir().join("example-app/main.c")),
    );
    standard_rootfs(&p.join("rootfs"));
    p
}

/// A copy of the test kernel at `dir`.
fn copy_core(dir: &Path) {
    sh(dir, &format!("cp -a {}/. .", testkernel_dir().display()));
}

#[test]
fn a_core_inside_a_git_repository_gives_the_same_kernel_as_outside_one() {
    let (w1, w2) = (World::new(), World::new());
    let repo = w1.dir("monorepo");
    let inside = w1.dir("monorepo/vendor/unikraft");
    copy_core(&inside);
    sh(
        &repo,
        "git init -q . && git add -A && \
         git -c user.name=t -c user.email=t@example.invalid commit -qm vendored",
    );
    // What Unikraft's make would embed on its own: the monorepo's HEAD.
    let leaked = text(&sh(&inside, "./scripts/gitsha1"));
    assert!(
        leaked.starts_with('~'),
        "gitsha1 sees the repository: {leaked:?}"
    );
    let outside = w2.dir("unikraft");
    copy_core(&outside);
    assert_eq!(text(&sh(&outside, "./scripts/gitsha1")), "");

    let a = project_on(&w1, "monorepo/app", &inside);
    let b = project_on(&w2, "app", &outside);
    for (w, p) in [(&w1, &a), (&w2, &b)] {
        let (code, _, err) = build_json(w, p, &[]);
        assert_eq!(code, 0, "{err}");
    }
    let kernel = |p: &Path| read(&p.join(".unikraft/build/hello_qemu-x86_64"));
    assert!(
        kernel(&a) == kernel(&b),
        "the enclosing repository changed the kernel"
    );
    let (code, serial) = boot_x86(&a.join(".unikraft/build/hello_qemu-x86_64"), None, "");
    assert_eq!(code, 83, "{serial}");
    let version = serial
        .lines()
        .find_map(|l| l.strip_prefix("version: "))
        .expect("the kernel prints its version");
    let suffix = version.strip_prefix("0.17.0~tree.").unwrap_or("");
    assert!(
        suffix.len() == 8 && suffix.bytes().all(|b| b.is_ascii_hexdigit()),
        "a local core's version comes from its tree digest: {version}"
    );
    // Another core tree is another version.
    write(&outside.join("NOTES"), "a change to the core\n");
    let (code, _, err) = build_json(&w2, &b, &[]);
    assert_eq!(code, 0, "{err}");
    let (_, serial) = boot_x86(&b.join(".unikraft/build/hello_qemu-x86_64"), None, "");
    assert!(!serial.contains(version), "{serial}");
}

/// A core whose Kconfig has no Firecracker support drops `CONFIG_KVM_VMM_FIRECRACKER=y` in
/// `make defconfig`, as real Kconfig drops symbols it does not know: the kconfig step fails
/// instead of building a kernel named `_fc-x86_64` that is not one.
#[test]
fn a_target_the_core_cannot_build_fails_at_kconfig() {
    let w = World::new();
    let core = w.dir("core");
    copy_core(&core);
    let script = core.join("scripts/kconfig.sh");
    let text = text(&read(&script)).replace(
        "' \"$@\" > \"$tmp\"",
        "' \"$@\" | grep -v KVM_VMM_FIRECRACKER > \"$tmp\"",
    );
    assert!(
        text.contains("grep -v KVM_VMM_FIRECRACKER"),
        "the patch applies"
    );
    write(&script, text);
    chmod(&script, 0o755);
    let p = w.dir("app");
    write(
        &p.join("Kraftfile"),
        format!(
            "spec: v0.6\nname: hello\nunikraft:\n  source: {}\ntargets:\n  - fc/x86_64\n",
            core.display()
        ),
    );
    write(
        &p.join("main.c"),
        read(&testkernel_dir().join("example-app/main.c")),
    );
    let (code, doc, err) = build_json(&w, &p, &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(status_of(&doc, "fc-x86_64/kconfig"), "failed");
    assert!(
        err.contains("dropped CONFIG_KVM_VMM_FIRECRACKER=y, which fc/x86_64 needs"),
        "{err}"
    );
}
