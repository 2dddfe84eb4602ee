//! What a package is made of, independent of its format: per target, a kernel and an
//! optional initrd with what kraft derives from the target (platform, kconfig, version,
//! command, environment, labels), and the package's name and creation time.

use std::collections::BTreeMap;
use std::io::Read;

use crate::reference::Reference;

/// A file to put into a layer.
pub struct LayerFile<'a> {
    /// The bytes; exactly `size` of them.
    pub data: &'a mut dyn Read,
    /// Its size.
    pub size: u64,
    /// Its normalised mode (0755 for executables, else 0644).
    pub mode: u32,
}

/// One target's kernel and what describes it.
pub struct TargetImage<'a> {
    /// kraft's platform name: `qemu`, `fc`, `xen`.
    pub plat: String,
    /// kraft's architecture name: `x86_64`, `arm64`, `arm`.
    pub arch: String,
    /// The kernel image.
    pub kernel: LayerFile<'a>,
    /// The initrd, when it is not embedded in the kernel.
    pub initrd: Option<LayerFile<'a>>,
    /// The kernel's kconfig as `KEY=VALUE`, sorted, as kraft writes `os.features`.
    pub features: Vec<String>,
    /// The Unikraft version (`CONFIG_UK_FULLVERSION`), when known.
    pub version: Option<String>,
    /// The application's name (urunc puts it first on the command line).
    pub app_name: String,
    /// The application's arguments.
    pub cmd: Vec<String>,
    /// `KEY=VALUE`, sorted by key (kraft's order is random).
    pub env: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// What names a package and when it was made.
#[derive(Debug, Clone)]
pub struct PackageMeta {
    /// The name it is stored and pushed under.
    pub reference: Reference,
    /// `org.opencontainers.image.created`: from SOURCE_DATE_EPOCH, or absent.
    pub created: Option<String>,
    /// The value of `sh.kraftkit.version` (kraft only checks that it is there).
    pub tool_version: String,
}

/// `secs` since the epoch as RFC 3339 in UTC with second precision (`2025-01-02T03:04:05Z`),
/// the form Go's `time.RFC3339` gives.
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_go() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_735_787_045), "2025-01-02T03:04:05Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
