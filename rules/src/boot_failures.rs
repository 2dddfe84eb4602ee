//! Well-known ways a Unikraft guest fails at boot, recognised in its console output, each
//! with why it happens and what to do. `kiln run` adds the explanation to its one-line reason
//! when a guest crashes.
//!
//! The messages are Unikraft's own (RELEASE-0.17.0; file and line in each entry), so the
//! table matches real kernels; the test kernel prints the same lines for the cases its tests
//! provoke. The first entry whose pattern appears in the output wins, so more specific
//! patterns come first.

/// One known failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootFailure {
    /// Text the console shows (a substring).
    pub pattern: &'static str,
    /// Why, and what to do (one sentence, for the reason line).
    pub explanation: &'static str,
}

/// The known failures, most specific first.
pub const KNOWN: &[BootFailure] = &[
    BootFailure {
        // lib/ukrandom/random.c:65; x86 ukarch_random_init returns -ENOTSUP without RDSEED.
        pattern: "Could not initialize the HWRNG (-95)",
        explanation: "the CPU has no RDSEED (QEMU's TCG emulation has none): set \
                      `CONFIG_LIBUKRANDOM: 'n'` in the Kraftfile's kconfig, or run with a \
                      working KVM",
    },
    BootFailure {
        // lib/vfscore/automount.c:508
        pattern: "Could not find an initrd!",
        explanation: "the kernel mounts an initrd but none was given: set `rootfs:` in the \
                      Kraftfile, or embed the initrd (CONFIG_LIBVFSCORE_AUTOMOUNT_CI_EINITRD)",
    },
    BootFailure {
        // lib/vfscore/automount.c:525
        pattern: "is an invalid or unsupported initrd source",
        explanation: "an fstab entry names an initrd device the kernel does not have: use \
                      `initrd0`, or `embedded` with CONFIG_LIBVFSCORE_AUTOMOUNT_EINITRD",
    },
    BootFailure {
        // lib/ukcpio/cpio.c:318 and 322
        pattern: "CPIO header",
        explanation: "the initrd is not an uncompressed cpio newc archive ending with \
                      TRAILER!!!: give the rootfs as a directory and let kiln write it",
    },
    BootFailure {
        // lib/ukcpio/cpio.c:137, 219, 246
        pattern: "Failed to create ",
        explanation: "an initrd entry could not be created: its directory comes later in the \
                      archive, or nothing writable is mounted there (mount a ramfs at `/`)",
    },
    BootFailure {
        // lib/ukboot/boot.c:331, plat/kvm/x86/setup.c:102 and 109, boot.c:344
        pattern: "Failed to initialize memory allocator",
        explanation: "the guest is out of memory at boot: give it more with -M (e.g. -M 256M)",
    },
    BootFailure {
        pattern: "Mem init failed",
        explanation: "the guest is out of memory at boot: give it more with -M (e.g. -M 256M)",
    },
    BootFailure {
        pattern: "Boot stack alloc failed",
        explanation: "the guest is out of memory at boot: give it more with -M (e.g. -M 256M)",
    },
    BootFailure {
        pattern: "Could not initialize stack allocator",
        explanation: "the guest is out of memory at boot: give it more with -M (e.g. -M 256M)",
    },
    BootFailure {
        // drivers/virtio/9p/virtio_9p.c:340
        pattern: "does not offer MOUNT_TAG",
        explanation: "a 9p device has no mount tag: kiln's -v volumes set one; check extra \
                      QEMU devices",
    },
    BootFailure {
        // drivers/virtio/bus/virtio_bus.c:141
        pattern: "Failed to find the driver for the virtio device",
        explanation: "a virtio device has no driver in the kernel: enable LIBVIRTIO_NET, \
                      LIBVIRTIO_BLK or LIBVIRTIO_9P in the kconfig, or drop the device",
    },
    BootFailure {
        // plat/common/x86/traps.c:84-90
        pattern: "Unhandled Trap",
        explanation: "the guest took a CPU exception: under emulation a CPU feature may be \
                      missing; otherwise it is a bug in the kernel or the app",
    },
];

/// The first known failure whose pattern appears in `console`.
pub fn recognise(console: &str) -> Option<&'static BootFailure> {
    KNOWN.iter().find(|f| console.contains(f.pattern))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_entry_is_found_by_its_own_line_and_shadows_none_after_it() {
        for (i, f) in KNOWN.iter().enumerate() {
            let console = format!("[    0.000000] ERR:  [lib] <x.c @ 1> {}\n", f.pattern);
            let found = recognise(&console).expect("found");
            assert!(
                found.explanation == f.explanation,
                "entry {i} ({:?}) is shadowed by {:?}",
                f.pattern,
                found.pattern
            );
        }
    }

    #[test]
    fn real_console_lines() {
        let hwrng = "[    0.000000] ERR:  [libukrandom] <random.c @   65> Could not \
                     initialize the HWRNG (-95)\n[    0.000000] ERR:  [libukboot] <boot.c @  \
                     427> Init function at 0x12345 returned error -95\n";
        assert!(
            recognise(hwrng)
                .unwrap()
                .explanation
                .contains("CONFIG_LIBUKRANDOM: 'n'")
        );
        let initrd =
            "[    0.108] ERR:  [libvfscore] <automount.c @  508> Could not find an initrd!\n";
        assert!(recognise(initrd).unwrap().explanation.contains("rootfs:"));
        assert!(recognise("Hello world!\n").is_none());
    }
}
