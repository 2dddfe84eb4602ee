//! The Unikraft kernel command line: library parameters, then `--`, then the application's
//! arguments, following Unikraft's conventions (uklibparam).
//!
//! `vfs.fstab=[ "initrd0:/:extract:::" "fs0:/data:9pfs:::" ] env.vars=[ K=V ] -- /app arg`.
//! Arrays are written in `[ ... ]`; words that hold a space or a quote are double-quoted.
//! `--` is written only after at least one parameter: without parameters every word goes to
//! the application, and a leading `--` would reach it as `argv[1]`. This module only formats;
//! the caller decides what goes in.

/// One `vfs.fstab` entry: `<dev>:<mountpoint>:<driver>[:<flags>[:<opts>[:<ukopts>]]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabEntry {
    /// The device (`initrd0`, a 9p tag).
    pub dev: String,
    /// Where it is mounted.
    pub mountpoint: String,
    /// The driver (`extract`, `9pfs`, `ramfs`).
    pub driver: String,
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
}

impl Cmdline {
    /// The command line as the kernel receives it.
    pub fn render(&self) -> String {
        let mut params = Vec::new();
        if !self.fstab.is_empty() {
            let entries: Vec<String> = self
                .fstab
                .iter()
                .map(|e| quote_always(&format!("{}:{}:{}:::", e.dev, e.mountpoint, e.driver)))
                .collect();
            params.push(format!("vfs.fstab=[ {} ]", entries.join(" ")));
        }
        if !self.env.is_empty() {
            let vars: Vec<String> = self
                .env
                .iter()
                .map(|(k, v)| quote(&format!("{k}={v}")))
                .collect();
            params.push(format!("env.vars=[ {} ]", vars.join(" ")));
        }
        if let Some(ip) = &self.netdev_ip {
            params.push(format!("netdev.ip={ip}"));
        }
        let args: Vec<String> = self.app_args.iter().map(|a| quote(a)).collect();
        match (params.is_empty(), args.is_empty()) {
            (true, _) => args.join(" "),
            (false, true) => params.join(" "),
            (false, false) => format!("{} -- {}", params.join(" "), args.join(" ")),
        }
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

    #[test]
    fn no_parameters_means_no_separator() {
        let c = Cmdline {
            app_args: vec!["/server".into(), "-p".into(), "80".into()],
            ..Cmdline::default()
        };
        assert_eq!(c.render(), "/server -p 80");
        assert_eq!(Cmdline::default().render(), "");
    }

    #[test]
    fn parameters_then_separator_then_args() {
        let c = Cmdline {
            fstab: vec![
                FstabEntry {
                    dev: "initrd0".into(),
                    mountpoint: "/".into(),
                    driver: "extract".into(),
                },
                FstabEntry {
                    dev: "fs0".into(),
                    mountpoint: "/data".into(),
                    driver: "9pfs".into(),
                },
            ],
            env: vec![
                ("FOO".into(), "bar".into()),
                ("GREETING".into(), "hello world".into()),
            ],
            netdev_ip: Some("10.0.2.15/24:10.0.2.2:8.8.8.8".into()),
            app_args: vec!["/bin/app".into(), "two words".into()],
        };
        assert_eq!(
            c.render(),
            "vfs.fstab=[ \"initrd0:/:extract:::\" \"fs0:/data:9pfs:::\" ] \
             env.vars=[ FOO=bar \"GREETING=hello world\" ] \
             netdev.ip=10.0.2.15/24:10.0.2.2:8.8.8.8 -- /bin/app \"two words\""
        );
    }

    #[test]
    fn parameters_without_args_end_without_separator() {
        let c = Cmdline {
            env: vec![("A".into(), "1".into())],
            ..Cmdline::default()
        };
        assert_eq!(c.render(), "env.vars=[ A=1 ]");
    }

    #[test]
    fn quotes_inside_words_are_escaped() {
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(quote(""), "\"\"");
    }
}
