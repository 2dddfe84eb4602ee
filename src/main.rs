//! The `kiln` binary: parses the command line and calls into the library crates.
//!
//! Architecture invariant: only this crate knows argv, the terminal, JSON output and exit
//! codes (0 ok, 1 failure, 2 invalid input or usage).

mod build;
mod cache;
mod check;
mod cli;
mod console;
mod distribute;
mod docs;
mod download_progress;
mod error;
mod fetch;
mod lock;
mod machines;
mod othervmm;
mod parse;
mod pkg;
mod plan;
mod progress;
mod registry;
mod remote;
mod render;
mod run;
mod run_package;
mod session;
mod shim;
mod summary;
mod testhook;
mod trace;
mod watch;
mod watcher;
mod workspace;

use clap::Parser;

use cli::{Cli, Command};
use error::CliError;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version go to stdout with status 0; usage errors exit 2.
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result: Result<(), CliError> = match &cli.command {
        Command::Build(a) => build::build(a),
        Command::Plan(a) => plan::plan(a),
        Command::Run(a) => run::run(a),
        Command::Ps(a) => machines::ps(a),
        Command::Logs { name, follow } => machines::logs(name, *follow),
        Command::Stop { names } => machines::stop(names),
        Command::Rm { names } => machines::rm(names),
        Command::Supervise { dir } => machines::supervise(dir),
        Command::Lock(a) => lock::lock(a),
        Command::Fetch(a) => fetch::fetch(a),
        Command::Wget { args } => shim::wget(args),
        Command::Git { args } => shim::git(args),
        Command::Pkg(a) => pkg::pkg(a),
        Command::Login(a) => registry::login(a),
        Command::Cache { command } => cache::cache(command),
        Command::Completions { shell } => docs::completions(*shell),
        Command::Man { dir } => docs::man(dir.as_deref()),
        Command::WatchDaemon { socket } => watcher::run_daemon(socket).map_err(CliError::Failed),
    };
    if let Err(e) = result {
        e.report();
        std::process::exit(e.exit_code());
    }
}
