//! [`parse_size`]: sizes as users write them (`10G`, `500M`, `1.5GiB`, `123`).
//!
//! The convention is GNU `du`'s: `K`, `M`, `G`, `T` (and `KiB`, `Ki`, ...) are powers of
//! 1024; `KB`, `MB`, `GB`, `TB` are powers of 1000; a bare number or a `B` suffix is bytes.
//! Suffixes are case-insensitive. Written by hand because it is small and must be exact: the
//! fraction is computed in integers, so `1.5G` is exactly 1610612736. It does not format
//! sizes.

use crate::error::CacheError;

/// Parses a size in bytes: a decimal number (a fraction allowed when there is a unit), then
/// optional whitespace and a unit. `K`/`Ki`/`KiB` = 1024, `KB` = 1000, likewise `M`, `G`, `T`.
///
/// ```
/// # use kiln_cache::parse_size;
/// assert_eq!(parse_size("10G").unwrap(), 10 << 30);
/// assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
/// assert_eq!(parse_size("2KB").unwrap(), 2000);
/// assert!(parse_size("ten").is_err());
/// ```
pub fn parse_size(input: &str) -> Result<u64, CacheError> {
    let invalid = |reason| CacheError::InvalidSize {
        input: input.to_string(),
        reason,
    };
    let text = input.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim_start());
    let multiplier = unit_multiplier(unit).ok_or_else(|| invalid("unknown unit"))?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() {
        return Err(invalid("no number"));
    }
    if !all_digits(fraction) {
        return Err(invalid("more than one decimal point"));
    }
    let too_large = || invalid("too large");
    let whole_value: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let fraction_value = fraction_times(fraction, multiplier).ok_or_else(too_large)?;
    if multiplier == 1 && fraction_value.1 {
        return Err(invalid("a number of bytes must be whole"));
    }
    let total = whole_value
        .checked_mul(u128::from(multiplier))
        .and_then(|v| v.checked_add(fraction_value.0))
        .ok_or_else(too_large)?;
    u64::try_from(total).map_err(|_| too_large())
}

/// The bytes one `unit` stands for, or `None` if the unit is unknown.
fn unit_multiplier(unit: &str) -> Option<u64> {
    let lower = unit.to_ascii_lowercase();
    let (prefix, rest) = match lower.chars().next() {
        None => return Some(1),
        Some(c) => (c, &lower[1..]),
    };
    let exponent = match prefix {
        'b' if rest.is_empty() => return Some(1),
        'k' => 1,
        'm' => 2,
        'g' => 3,
        't' => 4,
        _ => return None,
    };
    let base: u64 = match rest {
        "" | "i" | "ib" => 1024,
        "b" => 1000,
        _ => return None,
    };
    Some(base.pow(exponent))
}

/// `0.<digits> * multiplier`, rounded down, and whether the exact value had a nonzero
/// fractional part. `None` if `digits` is too long to compute exactly.
fn fraction_times(digits: &str, multiplier: u64) -> Option<(u128, bool)> {
    if digits.is_empty() {
        return Some((0, false));
    }
    let numerator: u128 = digits.parse().ok()?;
    let denominator = 10u128.checked_pow(u32::try_from(digits.len()).ok()?)?;
    let scaled = numerator.checked_mul(u128::from(multiplier))?;
    Some((scaled / denominator, scaled % denominator != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sizes() {
        let table: &[(&str, u64)] = &[
            ("123", 123),
            ("0", 0),
            ("123B", 123),
            ("1K", 1024),
            ("1k", 1024),
            ("1KiB", 1024),
            ("1Ki", 1024),
            ("1KB", 1000),
            ("500M", 500 << 20),
            ("500 MiB", 500 << 20),
            ("500MB", 500_000_000),
            ("10G", 10 << 30),
            ("10g", 10 << 30),
            ("1.5GiB", 1_610_612_736),
            ("1.5GB", 1_500_000_000),
            (".5K", 512),
            ("2.K", 2048),
            ("1.0001K", 1024),
            ("2T", 2 << 40),
            ("  7M  ", 7 << 20),
        ];
        for (input, expected) in table {
            assert_eq!(parse_size(input).unwrap(), *expected, "{input}");
        }
    }

    #[test]
    fn rejected_sizes() {
        for input in [
            "",
            "  ",
            "G",
            ".",
            "ten",
            "10X",
            "10 GG",
            "1.2.3M",
            "-5M",
            "1.5",
            "10Gb x",
            "15E",
            "99999999999999999999999",
            "20000000T",
        ] {
            let err = parse_size(input).expect_err(input);
            assert!(
                err.to_string().contains("expected a number"),
                "{input}: {err}"
            );
        }
    }
}
