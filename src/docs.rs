//! `kiln completions SHELL` and `kiln man`: generated from the command line's own clap
//! definitions (clap_complete, clap_mangen), so they never drift from the CLI; the copies in
//! `contrib/` are checked against them by `tests/docs_cli.rs`.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{CliError, print_stdout};

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Result<(), CliError> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut visible(Cli::command()), "kiln", &mut out);
    print_stdout(&String::from_utf8_lossy(&out))
}

/// The command without its hidden verbs (`__supervise` and the other internal ones), which
/// clap_complete would offer.
fn visible(cmd: clap::Command) -> clap::Command {
    let hidden: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    let shown: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !hidden.iter().any(|h| h == s.get_name()))
        .cloned()
        .collect();
    // clap cannot remove a subcommand: a new command with the same name, version, about and
    // arguments gets the visible verbs.
    let mut out = clap::Command::new("kiln")
        .version(env!("CARGO_PKG_VERSION"))
        .about(cmd.get_about().cloned().unwrap_or_default())
        .subcommand_required(true);
    for arg in cmd.get_arguments() {
        out = out.arg(arg.clone());
    }
    out.subcommands(shown)
}

/// Prints kiln(1), or writes one page per command into `dir`.
pub fn man(dir: Option<&Path>) -> Result<(), CliError> {
    let cmd = Cli::command();
    let Some(dir) = dir else {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut out)
            .map_err(|e| CliError::Failed(format!("cannot render the manual page: {e}")))?;
        return print_stdout(&String::from_utf8_lossy(&out));
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Failed(format!("{}: {e}", dir.display())))?;
    clap_mangen::generate_to(cmd, dir).map_err(|e| {
        CliError::Failed(format!(
            "cannot write the manual pages into {}: {e}",
            dir.display()
        ))
    })
}
