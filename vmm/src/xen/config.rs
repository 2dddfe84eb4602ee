//! Writing the xl.cfg(5) text for one Unikraft domain, with every value checked and quoted.
//!
//! xl's parser takes strings in single or double quotes with C-style backslash escapes
//! (`\\`, `\"`, `\'`, `\n`, `\t`, ...); its `\x` and octal escapes are unreliable, so other
//! control characters are refused rather than escaped. Device specs (`vif`, `p9`) are
//! comma-separated `key=value` lists inside one string, so their values may not contain
//! `,`, quotes or backslashes at all.

use std::fmt::Write as _;
use std::path::Path;

use super::{XenError, XenOptions, XenVif};
use crate::spec::{GuestArch, MachineSpec, SharedDir};

/// The xl domain configuration for `spec`, or why Xen cannot run it.
pub fn config(spec: &MachineSpec, options: &XenOptions) -> Result<String, XenError> {
    check_supported(spec)?;
    check_name(&spec.name)?;
    let mut out = String::from("# xl domain configuration written by kiln; see xl.cfg(5).\n");
    let mut line = |key: &str, value: String| {
        let _ = writeln!(out, "{key} = {value}");
    };
    line("name", quote(&spec.name, "domain name")?);
    line("type", quote(guest_type(spec.arch), "type")?);
    line("kernel", quote(path_str(&spec.kernel)?, "kernel")?);
    if let Some(initrd) = &spec.initrd {
        line("ramdisk", quote(path_str(initrd)?, "ramdisk")?);
    }
    let cmdline = spec.cmdline.trim();
    if !cmdline.is_empty() {
        line("extra", quote(cmdline, "command line")?);
    }
    line("memory", spec.memory_mib.to_string());
    line("vcpus", spec.cpus.to_string());
    // A unikernel that stops, reboots or crashes is done: the caller reports how it ended
    // rather than have Xen start it again (QEMU runs with -no-reboot for the same reason).
    for event in ["on_poweroff", "on_reboot", "on_crash"] {
        line(event, quote("destroy", event)?);
    }
    let vifs = options
        .vifs
        .iter()
        .map(vif_spec)
        .collect::<Result<Vec<_>, _>>()?;
    if !vifs.is_empty() {
        line("vif", list(&vifs));
    }
    let shares = spec
        .shared_dirs
        .iter()
        .map(p9_spec)
        .collect::<Result<Vec<_>, _>>()?;
    if !shares.is_empty() {
        line("p9", list(&shares));
    }
    Ok(out)
}

/// xl's guest type for a Unikraft Xen image of this architecture.
fn guest_type(arch: GuestArch) -> &'static str {
    match arch {
        GuestArch::X86_64 => "pv",
        GuestArch::Arm64 => "pvh",
    }
}

/// Refuses what a Unikraft Xen guest cannot do.
fn check_supported(spec: &MachineSpec) -> Result<(), XenError> {
    if !spec.ports.is_empty() {
        return Err(XenError::PortsUnsupported);
    }
    match spec.cpus {
        0 => return Err(XenError::NoCpu),
        1 => {}
        n => return Err(XenError::SmpUnsupported(n)),
    }
    if spec.memory_mib == 0 {
        return Err(XenError::NoMemory);
    }
    if let Some(share) = spec.shared_dirs.iter().find(|s| s.readonly) {
        return Err(XenError::ReadonlyShare(share.host.clone()));
    }
    Ok(())
}

/// A domain name xl will take and that `xl unpause NAME` cannot mistake for a domain id.
fn check_name(name: &str) -> Result<(), XenError> {
    let bad = |why| XenError::BadValue {
        what: "domain name",
        value: name.to_owned(),
        why,
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad("xl would take an all-digit name for a domain id"));
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(bad("it contains whitespace, a control character or '/'"));
    }
    Ok(())
}

/// A double-quoted xl string.
fn quote(value: &str, what: &'static str) -> Result<String, XenError> {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                return Err(XenError::BadValue {
                    what,
                    value: value.to_owned(),
                    why: "it contains a control character",
                });
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// `[ 'a', 'b' ]`: device specs are checked to hold no quote, so single quotes need no escaping.
fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[ {} ]", quoted.join(", "))
}

/// An absolute UTF-8 path without characters that would need escaping in a device spec.
fn path_str(path: &Path) -> Result<&str, XenError> {
    match path.to_str() {
        Some(s) if path.is_absolute() && spec_safe(s) => Ok(s),
        _ => Err(XenError::BadPath(path.to_path_buf())),
    }
}

/// Whether `s` can stand as a value inside a comma-separated device spec.
fn spec_safe(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| matches!(c, ',' | '\'' | '"' | '\\') || c.is_control())
}

/// `bridge=xenbr0[,mac=..]`.
fn vif_spec(vif: &XenVif) -> Result<String, XenError> {
    let bridge_ok = (1..=15).contains(&vif.bridge.len())
        && spec_safe(&vif.bridge)
        && !vif.bridge.contains(['/', '=', ' ']);
    if !bridge_ok {
        return Err(XenError::BadValue {
            what: "bridge",
            value: vif.bridge.clone(),
            why: "a bridge is named by 1 to 15 characters without '/', '=', ',', quotes or spaces",
        });
    }
    let mut spec = format!("bridge={}", vif.bridge);
    if let Some(mac) = &vif.mac {
        if !crate::firecracker::is_mac(mac) {
            return Err(XenError::BadValue {
                what: "MAC address",
                value: mac.clone(),
                why: "expected six hex pairs separated by ':'",
            });
        }
        spec.push_str(&format!(",mac={mac}"));
    }
    Ok(spec)
}

/// `tag=fs0,security_model=none,path=/dir`.
fn p9_spec(share: &SharedDir) -> Result<String, XenError> {
    let tag_ok = !share.tag.is_empty()
        && share
            .tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !tag_ok {
        return Err(XenError::BadValue {
            what: "9p tag",
            value: share.tag.clone(),
            why: "a tag is letters, digits, '_', '-' and '.'",
        });
    }
    let path = path_str(&share.host)?;
    Ok(format!("tag={},security_model=none,path={path}", share.tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_what_xl_unescapes_and_refuses_the_rest() {
        assert_eq!(quote(r#"a "b" \c"#, "x").unwrap(), r#""a \"b\" \\c""#);
        assert_eq!(quote("a\tb", "x").unwrap(), r#""a\tb""#);
        assert!(quote("a\u{7}b", "x").is_err());
    }

    #[test]
    fn names_xl_would_misread_are_refused() {
        assert!(check_name("123").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("my app").is_err());
        assert!(check_name("hello-1").is_ok());
    }
}
