//! The Unikraft kernel command line, built exactly as kraft builds it
//! (kraftkit machine/qemu/v1alpha1.go and machine/firecracker/v1alpha1.go): library
//! parameters, then `--`, then the application's arguments (uklibparam's conventions).
//!
//! `netdev.ip=<cidr>:<gw>:<dns> vfs.fstab=[ "initrd0:/:extract:::" "fs2:/data:9pfs:::mkmp" ]
//! env.vars=[ "K=V" ] -- /app arg`.
//! - Array elements are always double-quoted, as kraft writes them.
//! - `--` is written whenever at least one parameter is: Unikraft parses parameters only when
//!   it finds `--`, and with none every word goes to the application (so a `vfs.fstab`
//!   without `--` would reach the app as argv and the initrd would never be mounted). On
//!   Firecracker kraft always writes it (the line starts with the kernel's name there).
//! - Where kiln differs from kraft, on purpose: `env.vars` keeps the Kraftfile's order (kraft
//!   walks a Go map, so its order is random); an application argument holding white space or
//!   a quote is double-quoted (kraft quotes only words with `'`, so `"two words"` reaches the
//!   app as two); there is no trailing space.
//!
//! This module only formats; the caller decides what goes in.

/// One `vfs.fstab` entry: `<dev>:<mountpoint>:<driver>:<flags>:<opts>:<ukopts>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabEntry {
    /// The device (`initrd0`, a 9p tag).
    pub dev: String,
    /// Where it is mounted.
    pub mountpoint: String,
    /// The driver (`extract`, `9pfs`, `ramfs`).
    pub driver: String,
    /// Unikraft's own options: `mkmp` (create the mount point) for 9p volumes, as kraft
    /// writes; empty for the initrd.
    pub ukopts: String,
}

impl FstabEntry {
    /// The initrd, extracted to `/`.
    pub fn initrd() -> FstabEntry {
        FstabEntry {
            dev: "initrd0".into(),
            mountpoint: "/".into(),
            driver: "extract".into(),
            ukopts: String::new(),
        }
    }

    /// A 9p share `tag` at `mountpoint`, whose mount point Unikraft creates if missing.
    pub fn ninep(tag: &str, mountpoint: &str) -> FstabEntry {
        FstabEntry {
            dev: tag.into(),
            mountpoint: mountpoint.into(),
            driver: "9pfs".into(),
            ukopts: "mkmp".into(),
        }
    }

    fn text(&self) -> String {
        format!(
            "{}:{}:{}:::{}",
            self.dev, self.mountpoint, self.driver, self.ukopts
        )
    }
}

/// What goes on a command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cmdline {
    /// `vfs.fstab` entries.
    pub fstab: Vec<FstabEntry>,
    /// `env.vars` entries, `(name, value)`, in order.
    pub env: Vec<(String, String)>,
    /// `netdev.ip=<cidr>:<gw>:<dns>` when set.
    pub netdev_ip: Option<String>,
    /// The application's arguments.
    pub app_args: Vec<String>,
    /// Write `--` even without parameters (Firecracker, as kraft does).
    pub separator_always: bool,
}

impl Cmdline {
    /// The command line as the kernel receives it.
    pub fn render(&self) -> String {
        let mut words = Vec::new();
        if let Some(ip) = &self.netdev_ip {
            words.push(format!("netdev.ip={ip}"));
        }
        if !self.fstab.is_empty() {
            let entries: Vec<String> = self.fstab.iter().map(|e| quote_always(&e.text())).collect();
            words.push(format!("vfs.fstab=[ {} ]", entries.join(" ")));
        }
        if !self.env.is_empty() {
            let vars: Vec<String> = self
                .env
                .iter()
                .map(|(k, v)| quote_always(&format!("{k}={v}")))
                .collect();
            words.push(format!("env.vars=[ {} ]", vars.join(" ")));
        }
        if !words.is_empty() || self.separator_always {
            words.push("--".into());
        }
        words.extend(self.app_args.iter().map(|a| quote(a)));
        words.join(" ")
    }
}

/// A word as uklibparam reads it: as is when plain, else in double quotes.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '[' || c == ']');
    if plain {
        word.to_string()
    } else {
        quote_always(word)
    }
}

fn quote_always(word: &str) -> String {
    format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kraft's line for the same inputs, by its algorithm (v1alpha1.go): params, `--` if
    /// any param, app args (quoted only if they hold `'`), joined by spaces, a trailing space.
    fn kraft(netdev: Option<&str>, fstab: &[&str], env: &[&str], args: &[&str]) -> String {
        let mut out: Vec<String> = Vec::new();
        if let Some(ip) = netdev {
            out.push(format!("netdev.ip={ip}"));
        }
        let arr = |name: &str, items: &[&str]| {
            let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\" ")).collect();
            format!("{name}=[ {}]", quoted.concat())
        };
        if !fstab.is_empty() {
            out.push(arr("vfs.fstab", fstab));
        }
        if !env.is_empty() {
            out.push(arr("env.vars", env));
        }
        if !out.is_empty() {
            out.push("--".into());
        }
        out.extend(args.iter().map(|a| a.to_string()));
        let mut line = out.join(" ");
        line.push(' ');
        line
    }

    #[test]
    fn every_combination_of_fstab_env_and_args_is_krafts_line() {
        let fstabs: [&[FstabEntry]; 3] = [
            &[],
            &[FstabEntry::initrd()],
            &[FstabEntry::initrd(), FstabEntry::ninep("fs2", "/data")],
        ];
        let envs: [&[(&str, &str)]; 3] = [&[], &[("FOO", "bar")], &[("A", "1"), ("B", "two")]];
        let argss: [&[&str]; 3] = [&[], &["/server"], &["/bin/app", "-p", "80"]];
        let mut lines = Vec::new();
        for fstab in fstabs {
            for env in envs {
                for args in argss {
                    for netdev in [None, Some("10.0.2.15/24:10.0.2.2:8.8.8.8")] {
                        let c = Cmdline {
                            fstab: fstab.to_vec(),
                            env: env
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect(),
                            netdev_ip: netdev.map(String::from),
                            app_args: args.iter().map(|a| a.to_string()).collect(),
                            separator_always: false,
                        };
                        let fs: Vec<String> = fstab.iter().map(FstabEntry::text).collect();
                        let fs: Vec<&str> = fs.iter().map(String::as_str).collect();
                        let ev: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        let ev: Vec<&str> = ev.iter().map(String::as_str).collect();
                        let want = kraft(netdev, &fs, &ev, args);
                        assert_eq!(c.render(), want.trim_end(), "{c:?}");
                        lines.push(c.render());
                    }
                }
            }
        }
        assert_eq!(lines.len(), 54);
        assert!(lines.contains(&"vfs.fstab=[ \"initrd0:/:extract:::\" ] --".to_string()));
        assert!(
            lines.contains(
                &"vfs.fstab=[ \"initrd0:/:extract:::\" \"fs2:/data:9pfs:::mkmp\" ] \
              env.vars=[ \"FOO=bar\" ] -- /server"
                    .to_string()
            )
        );
        assert!(lines.contains(&"/bin/app -p 80".to_string()));
    }

    #[test]
    fn firecracker_always_writes_the_separator() {
        let c = Cmdline {
            app_args: vec!["/app".into()],
            separator_always: true,
            ..Cmdline::default()
        };
        assert_eq!(c.render(), "-- /app");
        let empty = Cmdline {
            separator_always: true,
            ..Cmdline::default()
        };
        assert_eq!(empty.render(), "--");
    }

    #[test]
    fn words_with_spaces_or_quotes_are_quoted_where_kraft_would_split_them() {
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(quote(""), "\"\"");
        let c = Cmdline {
            env: vec![("GREETING".into(), "hello world".into())],
            app_args: vec!["/bin/app".into(), "two words".into()],
            ..Cmdline::default()
        };
        assert_eq!(
            c.render(),
            "env.vars=[ \"GREETING=hello world\" ] -- /bin/app \"two words\""
        );
    }
}
