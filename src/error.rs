//! The binary's error type and exit codes: 0 ok, 1 build/run failure, 2 usage or invalid input
//! (including a build that cannot start because an input is unresolved).

use kiln_rules::diag::Diagnostic;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// Bad flags or arguments (exit 2).
    Usage(String),
    /// An invalid input file, rendered with its location (exit 2).
    Invalid(Box<Diagnostic>),
    /// The work failed; the message is already user-facing (exit 1).
    Failed(String),
    /// The work failed and has already been reported in full (exit 1).
    Reported,
    /// The work could not start because an input cannot be resolved (a path that does not
    /// exist, a missing tool, the network under `--offline`); already reported (exit 2).
    ReportedUnresolved,
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) | CliError::Invalid(_) => 2,
            CliError::Failed(_) | CliError::Reported => 1,
            CliError::ReportedUnresolved => 2,
        }
    }

    /// The error as text (a diagnostic rendered with its location); empty when it was
    /// already reported.
    pub fn message(&self) -> String {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => m.clone(),
            CliError::Invalid(d) => d.render().trim_end().to_string(),
            CliError::Reported | CliError::ReportedUnresolved => String::new(),
        }
    }

    /// Prints the error to stderr.
    pub fn report(&self) {
        match self {
            CliError::Usage(m) => eprintln!("error: {m}"),
            CliError::Invalid(d) => eprint!("{}", d.render()),
            CliError::Failed(m) => eprintln!("error: {m}"),
            CliError::Reported | CliError::ReportedUnresolved => {}
        }
    }
}

impl From<Diagnostic> for CliError {
    fn from(d: Diagnostic) -> Self {
        CliError::Invalid(Box::new(d))
    }
}

impl From<kiln_cache::CacheError> for CliError {
    fn from(e: kiln_cache::CacheError) -> Self {
        CliError::Failed(e.to_string())
    }
}

/// Writes `text` to stdout. A closed pipe (`kiln plan -o json | head -1`) is not an error:
/// the reader has what it wanted.
pub fn print_stdout(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Failed(format!("cannot write to stdout: {e}"))),
    }
}

impl From<kiln_engine::StoreError> for CliError {
    fn from(e: kiln_engine::StoreError) -> Self {
        CliError::Failed(e.to_string())
    }
}
