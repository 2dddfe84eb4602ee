//! What a Dockerfile says once it is parsed and its variables are expanded: stages, each
//! with its base and instructions, every instruction with its line.

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`: an empty filesystem.
    Scratch,
    /// `FROM <image>`.
    Image(String),
    /// `FROM <earlier stage>`.
    Stage(usize),
}

/// Where a `COPY` takes its sources from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// The build context (the project directory, less `.dockerignore`).
    Context,
    /// The filesystem of an earlier stage.
    Stage(usize),
    /// An image (`COPY --from=alpine:3`).
    Image(String),
}

/// One instruction, expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instr {
    /// `COPY [--from=…] SRC… DEST`.
    Copy {
        /// Where the sources are.
        from: CopySource,
        /// The sources as written (globs allowed).
        sources: Vec<String>,
        /// The destination (relative to WORKDIR when not absolute; a trailing `/` means a
        /// directory).
        dest: String,
    },
    /// `WORKDIR` (already joined to the one before it).
    Workdir(String),
    /// `ENV` pairs.
    Env(Vec<(String, String)>),
    /// `ARG` declarations, with their values for this build.
    Arg(Vec<(String, String)>),
    /// `RUN`: the command (exec form as given; shell form as `/bin/sh -c …`) and its
    /// `--mount` options as written.
    Run {
        /// The argument vector.
        argv: Vec<String>,
        /// `--mount=…` values.
        mounts: Vec<String>,
    },
    /// `CMD`.
    Cmd(Vec<String>),
    /// `ENTRYPOINT`.
    Entrypoint(Vec<String>),
}

/// An instruction and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The 1-based line of its keyword.
    pub line: u32,
    /// The instruction.
    pub instr: Instr,
}

/// A stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS <name>`, lower-cased as Docker compares it.
    pub name: Option<String>,
    /// What it starts from.
    pub base: Base,
    /// `FROM --platform=…`, expanded.
    pub platform: Option<String>,
    /// The line of its `FROM`.
    pub line: u32,
    /// Its instructions after `FROM`.
    pub instrs: Vec<Located>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The stages, in file order; the last is the result.
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// The stages the last one needs (itself, its bases, and what its `COPY --from` reads,
    /// transitively), in file order. A stage not in the list is never built.
    pub fn needed(&self) -> Vec<usize> {
        let mut need = vec![false; self.stages.len()];
        let mut todo: Vec<usize> = self.stages.len().checked_sub(1).into_iter().collect();
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut need[i], true) {
                continue;
            }
            let s = &self.stages[i];
            if let Base::Stage(b) = s.base {
                todo.push(b);
            }
            for l in &s.instrs {
                if let Instr::Copy {
                    from: CopySource::Stage(b),
                    ..
                } = l.instr
                {
                    todo.push(b);
                }
            }
        }
        (0..need.len()).filter(|&i| need[i]).collect()
    }
}
