//! The KVM probe on this very machine: it must answer quickly, whatever `/dev/kvm` does.

use std::time::{Duration, Instant};

use kiln_vmm::accel::{self, KvmVerdict, ResolvedAccel};
use kiln_vmm::spec::{Accel, GuestArch};

#[test]
fn probe_answers_within_its_deadline_and_caches_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let verdict = accel::cached_kvm_verdict(dir.path());
    let first = start.elapsed();
    eprintln!("KVM probe: {verdict:?} in {first:?}");
    // A hang guard, not a benchmark: the probe kills its child after 300 ms.
    assert!(first < Duration::from_secs(2), "probe took {first:?}");
    if std::env::var_os("KILN_EXPECT_KVM").is_none() {
        // kiln's machines have a /dev/kvm that cannot run guests (nested kvm-pvm) or none.
        assert!(
            matches!(verdict, KvmVerdict::Broken(_) | KvmVerdict::Absent(_)),
            "{verdict:?}"
        );
        let auto = accel::resolve(Accel::Auto, GuestArch::X86_64, dir.path()).unwrap();
        assert_eq!(auto, ResolvedAccel::Tcg);
        let err = accel::resolve(Accel::Kvm, GuestArch::X86_64, dir.path()).unwrap_err();
        assert!(err.to_string().contains("KVM was requested"), "{err}");
    }
    assert!(dir.path().join(accel::CACHE_FILE).exists());
    let start = Instant::now();
    assert_eq!(accel::cached_kvm_verdict(dir.path()), verdict);
    assert!(
        start.elapsed() < Duration::from_millis(50),
        "the cache was not used"
    );
}
