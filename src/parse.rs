//! Parsing `kiln run`'s small value syntaxes: sizes (`64M`), durations (`30s`) and port
//! mappings (`[IP:]HOST:GUEST[/udp]`). Errors are usage errors naming the flag.

use std::time::Duration;

use kiln_vmm::spec::{PortMap, Proto};

/// `-M`: a memory size in MiB (`64M`, `1G`, `512` = MiB, `2048K`).
pub fn memory_mib(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("-M {s}: expected a size such as 64M or 1G"))?;
    let mib = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" | "M" => n,
        "G" => n * 1024,
        "K" if n.is_multiple_of(1024) => n / 1024,
        _ => return Err(format!("-M {s}: expected a size such as 64M or 1G")),
    };
    if mib == 0 {
        return Err(format!("-M {s}: the machine needs some memory"));
    }
    Ok(mib)
}

/// `--timeout`: `500ms`, `30s`, `2m`, `1h`, or a number of seconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("--timeout {s}: expected a duration such as 30s or 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "--timeout {s}: expected a duration such as 30s or 2m"
            ));
        }
    };
    Ok(Duration::from_secs_f64(secs))
}

/// `-p`: `HOST:GUEST`, `IP:HOST:GUEST`, with an optional `/tcp` or `/udp`.
pub fn port(s: &str) -> Result<PortMap, String> {
    let bad = || format!("-p {s}: expected HOST:GUEST, IP:HOST:GUEST, optionally /udp");
    let (spec, proto) = match s.rsplit_once('/') {
        Some((p, "udp")) => (p, Proto::Udp),
        Some((p, "tcp")) => (p, Proto::Tcp),
        Some(_) => return Err(bad()),
        None => (s, Proto::Tcp),
    };
    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    let num = |p: &str| p.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(bad);
    match parts.as_slice() {
        [guest, host] => Ok(PortMap {
            host_ip: None,
            host: num(host)?,
            guest: num(guest)?,
            proto,
        }),
        [guest, host, ip] => Ok(PortMap {
            host_ip: Some(ip.to_string()),
            host: num(host)?,
            guest: num(guest)?,
            proto,
        }),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(memory_mib("64M"), Ok(64));
        assert_eq!(memory_mib("1G"), Ok(1024));
        assert_eq!(memory_mib("256"), Ok(256));
        assert_eq!(memory_mib("2GiB"), Ok(2048));
        assert_eq!(memory_mib("4096K"), Ok(4));
        assert!(memory_mib("0M").is_err());
        assert!(memory_mib("12X").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("7"), Ok(Duration::from_secs(7)));
        assert!(duration("soon").is_err());
    }

    #[test]
    fn ports() {
        let p = port("8080:80").unwrap();
        assert_eq!(
            (p.host, p.guest, p.proto, p.host_ip),
            (8080, 80, Proto::Tcp, None)
        );
        let p = port("127.0.0.1:53:53/udp").unwrap();
        assert_eq!((p.host, p.guest, p.proto), (53, 53, Proto::Udp));
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        assert!(port("80").is_err());
        assert!(port("0:80").is_err());
        assert!(port("8080:80/sctp").is_err());
    }
}
