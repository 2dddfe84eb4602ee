//! What a project command works on: one project (`DIR`), or every project under a directory
//! (`DIR/...`, as Go and Bazel spell it) planned into one graph.
//!
//! Projects are found as `git ls-files` would list their Kraftfiles: the walk respects
//! `.gitignore` (and `.git/info/exclude`, `.ignore`), also outside a git repository, and
//! never enters `.unikraft/` or `.git/`. Each project is planned on its own (in parallel,
//! sharing one [`session::Context`]: one watcher connection, one jobserver, one config);
//! their steps then go into one graph, each id prefixed with the project's path
//! (`apps/web:qemu-x86_64/compile`), each project's state kept in its own directory.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use kiln_rules::kraftfile::{KRAFTFILE_NAMES, process_env};
use kiln_rules::project::Project;

use crate::cli::ProjectArgs;
use crate::error::CliError;
use crate::session::{self, Extras, Session};

/// One planned project.
pub struct Member {
    /// Its path relative to the pattern's directory (`.` for the directory itself); empty
    /// for a single project.
    pub rel: String,
    /// The prefix of its step ids in a merged graph (`apps/web:`); empty for a single
    /// project.
    pub prefix: String,
    /// The planned project.
    pub session: Session,
}

/// A project of `DIR/...` that could not be planned (with `--keep-going`).
pub struct Broken {
    /// Its path relative to the pattern's directory.
    pub rel: String,
    /// Why, as the user would have seen it.
    pub error: String,
}

/// The projects of one command.
pub struct Workspace {
    /// The planned projects, by path.
    pub members: Vec<Member>,
    /// Those that could not be planned.
    pub broken: Vec<Broken>,
    /// `DIR/...` was given (even if it found one project).
    pub many: bool,
}

impl Workspace {
    /// One project, its steps under their own ids.
    pub fn single(session: Session) -> Workspace {
        Workspace {
            members: vec![Member {
                rel: String::new(),
                prefix: String::new(),
                session,
            }],
            broken: Vec::new(),
            many: false,
        }
    }
}

/// `DIR/...` -> `DIR` (`./...` and `...` -> `.`), or `None` for a plain directory.
pub fn pattern_root(dir: &Path) -> Option<PathBuf> {
    let s = dir.to_str()?;
    let root = s.strip_suffix("...")?;
    if !(root.is_empty() || root.ends_with('/')) {
        return None;
    }
    let root = root.trim_end_matches('/');
    Some(PathBuf::from(if root.is_empty() { "." } else { root }))
}

/// The directories under `root` that hold a Kraftfile, sorted.
pub fn find_projects(root: &Path) -> Result<Vec<PathBuf>, CliError> {
    if !root.is_dir() {
        return Err(CliError::Usage(format!(
            "{}/...: {} is not a directory",
            root.display(),
            root.display()
        )));
    }
    let walk = ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .require_git(false)
        .filter_entry(|e| {
            let name = e.file_name();
            !(e.file_type().is_some_and(|t| t.is_dir()) && (name == ".unikraft" || name == ".git"))
        })
        .build();
    let mut dirs = Vec::new();
    for entry in walk {
        let entry = entry.map_err(|e| {
            CliError::Failed(format!(
                "cannot search {} for Kraftfiles: {e}",
                root.display()
            ))
        })?;
        let is_kraftfile = entry.file_type().is_some_and(|t| t.is_file())
            && entry
                .file_name()
                .to_str()
                .is_some_and(|n| KRAFTFILE_NAMES.contains(&n));
        if is_kraftfile && let Some(parent) = entry.path().parent() {
            dirs.push(parent.to_path_buf());
        }
    }
    dirs.sort();
    dirs.dedup();
    Ok(dirs)
}

/// The projects `args` names: its directory, or every project under `DIR/...`. A project
/// that cannot be planned fails the command, unless `keep_going` (then it is listed in
/// [`Workspace::broken`] and the others go on).
pub fn open(
    args: &ProjectArgs,
    jobs: Option<usize>,
    extras: &Extras,
    keep_going: bool,
) -> Result<Workspace, CliError> {
    let Some(root) = pattern_root(&args.dir) else {
        let ctx = session::context(args, jobs)?;
        let project = Project::load(&args.dir, args.kraftfile.as_deref(), &process_env)?;
        let session = session::open_in(&ctx, args, project, extras.clone(), true)?;
        return Ok(Workspace::single(session));
    };
    if args.kraftfile.is_some() {
        return Err(CliError::Usage(
            "-K names one Kraftfile; it cannot be used with DIR/...".into(),
        ));
    }
    let dirs = find_projects(&root)?;
    if dirs.is_empty() {
        return Err(CliError::Usage(format!(
            "{}/... holds no Kraftfile (looked for {}, respecting .gitignore)",
            root.display(),
            KRAFTFILE_NAMES.join(", ")
        )));
    }
    let ctx = session::context(args, jobs)?;
    let planned: Vec<(String, Result<Session, CliError>)> = dirs
        .par_iter()
        .map(|dir| {
            let rel = relative(dir, &root);
            let session = Project::load(dir, None, &process_env)
                .map_err(CliError::from)
                .and_then(|p| session::open_in(&ctx, args, p, extras.clone(), false));
            (rel, session)
        })
        .collect();
    gather(planned, keep_going)
}

/// The planned projects of `DIR/...`, or the first failure (without `keep_going`).
fn gather(
    planned: Vec<(String, Result<Session, CliError>)>,
    keep_going: bool,
) -> Result<Workspace, CliError> {
    let mut ws = Workspace {
        members: Vec::new(),
        broken: Vec::new(),
        many: true,
    };
    for (rel, session) in planned {
        match session {
            Ok(session) => ws.members.push(Member {
                prefix: format!("{rel}:"),
                rel,
                session,
            }),
            Err(e) if keep_going => ws.broken.push(Broken {
                rel,
                error: e.message(),
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(ws)
}

/// `dir` relative to `root`, `.` for `root` itself.
fn relative(dir: &Path, root: &Path) -> String {
    match dir.strip_prefix(root) {
        Ok(r) if r.as_os_str().is_empty() => ".".into(),
        Ok(r) => r.display().to_string(),
        Err(_) => dir.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_end_in_three_dots_after_a_slash() {
        let root = |s: &str| pattern_root(Path::new(s));
        assert_eq!(root("./..."), Some(PathBuf::from(".")));
        assert_eq!(root("..."), Some(PathBuf::from(".")));
        assert_eq!(root("apps/..."), Some(PathBuf::from("apps")));
        assert_eq!(root("/src/mono/..."), Some(PathBuf::from("/src/mono")));
        assert_eq!(root("apps"), None);
        assert_eq!(root("apps..."), None);
        assert_eq!(root(".."), None);
    }
}
