//! `kiln-dockerfile`: a Dockerfile read into kiln's model (`model.rs`): stages, their bases,
//! and the instructions kiln builds (COPY, WORKDIR, ENV, ARG, RUN, CMD, ENTRYPOINT), with
//! ARG and ENV expanded by Docker's rules (`expand.rs`), every instruction with its line.
//!
//! Parsing is `parse-dockerfile`'s. What Docker would do differently from kiln is refused
//! here, with the line and what to do: an instruction kiln does not build (ADD, USER, …), a
//! flag it does not honour (`COPY --chmod`), a `COPY --from` naming no stage. Nothing is
//! silently skipped. The crate knows no Kraftfile and touches no file but the text given.

pub mod buildah;
pub mod buildkit;
pub mod copy;
pub mod expand;
pub mod glob;
pub mod ignore;
pub mod model;
pub mod state;

use std::collections::BTreeMap;

pub use model::{Base, CopySource, Dockerfile, Instr, Located, Stage};
use parse_dockerfile::{Command, Instruction};

/// A Dockerfile kiln cannot build, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct DockerfileError {
    /// The file, as given.
    pub file: String,
    /// The 1-based line (0: the file as a whole).
    pub line: u32,
    /// What is wrong and what to do.
    pub message: String,
}

struct Cx<'t> {
    file: &'t str,
    text: &'t str,
}

impl Cx<'_> {
    fn line(&self, offset: usize) -> u32 {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count() as u32
            + 1
    }
    fn err(&self, offset: usize, message: impl Into<String>) -> DockerfileError {
        DockerfileError {
            file: self.file.into(),
            line: self.line(offset),
            message: message.into(),
        }
    }
}

/// Parses `text` (read from `file`), with `build_args` (`--build-arg`, the Kraftfile's) for
/// its `ARG`s.
pub fn parse(
    file: &str,
    text: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<Dockerfile, DockerfileError> {
    let cx = Cx { file, text };
    let parsed = parse_dockerfile::parse(text).map_err(|e| DockerfileError {
        file: file.into(),
        line: e.line() as u32,
        message: format!("cannot parse it: {e:#} (column {})", e.column()),
    })?;
    // ARGs before the first FROM: usable in FROM lines, and in a stage that declares them.
    let mut global = BTreeMap::new();
    for i in &parsed.instructions {
        match i {
            Instruction::From(_) => break,
            Instruction::Arg(a) => {
                let scope = global.clone();
                declare(
                    &cx,
                    a.arguments.span.start,
                    &a.arguments.value,
                    build_args,
                    &scope,
                    &mut global,
                )?;
            }
            other => return Err(cx.err(span_of(other), "only ARG may come before the first FROM")),
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for st in parsed.stages() {
        let from = st.from;
        let at = from.from.span.start;
        let image = expand::expand(&from.image.value, &global).map_err(|e| cx.err(at, e))?;
        let mut platform = None;
        for flag in &from.options {
            match flag.name.value.as_ref() {
                "platform" => {
                    let v = flag
                        .value
                        .as_ref()
                        .map(|v| v.value.to_string())
                        .unwrap_or_default();
                    platform = Some(expand::expand(&v, &global).map_err(|e| cx.err(at, e))?);
                }
                other => {
                    return Err(cx.err(at, format!("FROM --{other} is not supported; remove it")));
                }
            }
        }
        let base = if image.eq_ignore_ascii_case("scratch") {
            Base::Scratch
        } else if let Some(i) = find_stage(&stages, &image) {
            Base::Stage(i)
        } else {
            Base::Image(image)
        };
        let name = from.as_.as_ref().map(|(_, n)| n.value.to_lowercase());
        let mut stage = Stage {
            name,
            base,
            platform,
            line: cx.line(at),
            instrs: Vec::new(),
        };
        let mut vars = BTreeMap::new();
        if let Base::Stage(b) = stage.base {
            vars = env_of(&stages[b]);
        }
        for i in st.instructions {
            let located = instruction(&cx, i, &stages, build_args, &global, &mut vars)?;
            stage.instrs.push(located);
        }
        stages.push(stage);
    }
    if stages.is_empty() {
        return Err(DockerfileError {
            file: file.into(),
            line: 0,
            message: "it has no FROM".into(),
        });
    }
    Ok(Dockerfile { stages })
}

/// The ENV a stage leaves to a stage built on it.
fn env_of(stage: &Stage) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for l in &stage.instrs {
        if let Instr::Env(pairs) = &l.instr {
            env.extend(pairs.iter().cloned());
        }
    }
    env
}

fn find_stage(stages: &[Stage], name: &str) -> Option<usize> {
    let name = name.to_lowercase();
    stages
        .iter()
        .rposition(|s| s.name.as_deref() == Some(name.as_str()))
}

fn span_of(i: &Instruction<'_>) -> usize {
    match i {
        Instruction::Add(x) => x.add.span.start,
        Instruction::Arg(x) => x.arg.span.start,
        Instruction::Cmd(x) => x.cmd.span.start,
        Instruction::Copy(x) => x.copy.span.start,
        Instruction::Entrypoint(x) => x.entrypoint.span.start,
        Instruction::Env(x) => x.env.span.start,
        Instruction::Expose(x) => x.expose.span.start,
        Instruction::From(x) => x.from.span.start,
        Instruction::Healthcheck(x) => x.healthcheck.span.start,
        Instruction::Label(x) => x.label.span.start,
        Instruction::Maintainer(x) => x.maintainer.span.start,
        Instruction::Onbuild(x) => x.onbuild.span.start,
        Instruction::Run(x) => x.run.span.start,
        Instruction::Shell(x) => x.shell.span.start,
        Instruction::Stopsignal(x) => x.stopsignal.span.start,
        Instruction::User(x) => x.user.span.start,
        Instruction::Volume(x) => x.volume.span.start,
        Instruction::Workdir(x) => x.workdir.span.start,
        _ => 0,
    }
}

/// `ARG` declarations into `into`: a build arg wins over the default; `scope` expands defaults.
fn declare(
    cx: &Cx<'_>,
    at: usize,
    text: &str,
    build_args: &BTreeMap<String, String>,
    scope: &BTreeMap<String, String>,
    into: &mut BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, DockerfileError> {
    let mut out = Vec::new();
    for (name, default) in expand::pairs(text, false).map_err(|e| cx.err(at, e))? {
        let value = match (build_args.get(&name), default) {
            (Some(v), _) => v.clone(),
            (None, Some(d)) => expand::expand(&d, scope).map_err(|e| cx.err(at, e))?,
            (None, None) => scope.get(&name).cloned().unwrap_or_default(),
        };
        into.insert(name.clone(), value.clone());
        out.push((name, value));
    }
    Ok(out)
}

fn command(c: &Command<'_>) -> Vec<String> {
    match c {
        Command::Exec(words) => words.value.iter().map(|w| w.value.to_string()).collect(),
        Command::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.value.trim().to_string()],
        // The enum is non-exhaustive; a future form is taken as its text.
        _ => vec![],
    }
}

fn instruction(
    cx: &Cx<'_>,
    i: &Instruction<'_>,
    stages: &[Stage],
    build_args: &BTreeMap<String, String>,
    global: &BTreeMap<String, String>,
    vars: &mut BTreeMap<String, String>,
) -> Result<Located, DockerfileError> {
    let at = span_of(i);
    let ex = |s: &str, vars: &BTreeMap<String, String>| {
        expand::expand(s, vars).map_err(|e| cx.err(at, e))
    };
    let instr = match i {
        Instruction::Copy(c) => {
            let mut from = CopySource::Context;
            for flag in &c.options {
                let value = flag
                    .value
                    .as_ref()
                    .map(|v| v.value.to_string())
                    .unwrap_or_default();
                match flag.name.value.as_ref() {
                    "from" => {
                        let v = ex(&value, vars)?;
                        from = match (find_stage(stages, &v), v.parse::<usize>()) {
                            (Some(s), _) => CopySource::Stage(s),
                            (None, Ok(n)) if n < stages.len() => CopySource::Stage(n),
                            _ if v.contains(':') || v.contains('/') => CopySource::Image(v),
                            _ => return Err(cx.err(at, format!("COPY --from={v} names no earlier stage; stages are named with FROM … AS NAME"))),
                        };
                    }
                    "link" => {}
                    other => return Err(cx.err(at, format!("COPY --{other} is not supported (kiln normalises owners and modes); remove it"))),
                }
            }
            let mut sources = Vec::new();
            for s in &c.src {
                match s {
                    parse_dockerfile::Source::Path(p) => sources.push(ex(&p.value, vars)?),
                    _ => return Err(cx.err(at, "COPY with a here-document is not supported")),
                }
            }
            Instr::Copy {
                from,
                sources,
                dest: ex(&c.dest.value, vars)?,
            }
        }
        Instruction::Workdir(w) => {
            let dir = ex(&w.arguments.value, vars)?;
            let prev = stages_workdir(vars);
            let joined = if dir.starts_with('/') {
                dir
            } else {
                format!("{}/{dir}", prev.trim_end_matches('/'))
            };
            vars.insert("\u{0}WORKDIR".into(), joined.clone());
            Instr::Workdir(joined)
        }
        Instruction::Env(e) => {
            let mut out = Vec::new();
            for (k, v) in expand::pairs(&e.arguments.value, true).map_err(|m| cx.err(at, m))? {
                let v = ex(&v.unwrap_or_default(), vars)?;
                vars.insert(k.clone(), v.clone());
                out.push((k, v));
            }
            Instr::Env(out)
        }
        Instruction::Arg(a) => {
            let mut scope = global.clone();
            scope.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            Instr::Arg(declare(
                cx,
                at,
                &a.arguments.value,
                build_args,
                &scope,
                vars,
            )?)
        }
        Instruction::Run(r) => {
            let mut mounts = Vec::new();
            for flag in &r.options {
                let value = flag
                    .value
                    .as_ref()
                    .map(|v| v.value.to_string())
                    .unwrap_or_default();
                match flag.name.value.as_ref() {
                    "mount" => mounts.push(value),
                    other => {
                        return Err(
                            cx.err(at, format!("RUN --{other} is not supported; remove it"))
                        );
                    }
                }
            }
            if !r.here_docs.is_empty() {
                return Err(cx.err(at, "RUN with a here-document is not supported"));
            }
            Instr::Run {
                argv: command(&r.arguments),
                mounts,
            }
        }
        Instruction::Cmd(c) => Instr::Cmd(command(&c.arguments)),
        Instruction::Entrypoint(e) => Instr::Entrypoint(command(&e.arguments)),
        Instruction::Add(_) => {
            return Err(cx.err(
                at,
                "ADD is not supported: use COPY (and RUN for archives or URLs)",
            ));
        }
        other => {
            let word = cx.text[at..]
                .split_whitespace()
                .next()
                .unwrap_or("?")
                .to_uppercase();
            let _ = other;
            return Err(cx.err(at, format!("{word} is not supported by kiln's Dockerfile builder; remove it (a unikernel's rootfs has no users, ports or health checks)")));
        }
    };
    Ok(Located {
        line: cx.line(at),
        instr,
    })
}

fn stages_workdir(vars: &BTreeMap<String, String>) -> String {
    vars.get("\u{0}WORKDIR")
        .cloned()
        .unwrap_or_else(|| "/".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str, args: &[(&str, &str)]) -> Dockerfile {
        let args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse("Dockerfile", text, &args).unwrap()
    }

    #[test]
    fn a_catalog_shaped_multi_stage_file() {
        let d = parse_ok(
            "ARG GCC=13.2.0\nFROM --platform=linux/x86_64 gcc:${GCC}-bookworm AS build\nARG GCC\nWORKDIR /src\n\
             COPY ./hello.c .\nRUN --mount=type=cache,target=/root/.cache gcc -o hello hello.c\n\
             FROM alpine:3 AS unused\nRUN echo never\n\
             FROM scratch\nENV LIB=/lib/x86_64-linux-gnu\nCOPY --from=build /src/hello /hello\n\
             COPY --from=build ${LIB}/libc.so.6 ${LIB}/\nCMD [\"/hello\"]\n",
            &[],
        );
        assert_eq!(d.stages.len(), 3);
        assert_eq!(d.stages[0].base, Base::Image("gcc:13.2.0-bookworm".into()));
        assert_eq!(d.stages[0].platform.as_deref(), Some("linux/x86_64"));
        assert_eq!(
            d.stages[0].instrs[0].instr,
            Instr::Arg(vec![("GCC".into(), "13.2.0".into())])
        );
        assert_eq!(d.stages[0].instrs[1].instr, Instr::Workdir("/src".into()));
        assert_eq!(
            d.stages[0].instrs[3].instr,
            Instr::Run {
                argv: vec!["/bin/sh".into(), "-c".into(), "gcc -o hello hello.c".into()],
                mounts: vec!["type=cache,target=/root/.cache".into()],
            }
        );
        assert_eq!(d.stages[2].base, Base::Scratch);
        assert_eq!(
            d.stages[2].instrs[2],
            Located {
                line: 12,
                instr: Instr::Copy {
                    from: CopySource::Stage(0),
                    sources: vec!["/lib/x86_64-linux-gnu/libc.so.6".into()],
                    dest: "/lib/x86_64-linux-gnu/".into(),
                },
            }
        );
        assert_eq!(d.needed(), [0, 2], "the unused stage is never built");
    }

    #[test]
    fn build_args_win_over_defaults() {
        let d = parse_ok(
            "ARG V=1\nFROM base:$V\nARG V\nARG W=x$V\nCOPY a-$W /\n",
            &[("V", "2")],
        );
        assert_eq!(d.stages[0].base, Base::Image("base:2".into()));
        assert_eq!(
            d.stages[0].instrs[2].instr,
            Instr::Copy {
                from: CopySource::Context,
                sources: vec!["a-x2".into()],
                dest: "/".into()
            }
        );
    }

    #[test]
    fn what_kiln_does_not_build_is_an_error_with_its_line() {
        for (text, line, needle) in [
            ("FROM scratch\nUSER nobody\n", 2, "USER is not supported"),
            ("FROM scratch\n\nADD a.tar /\n", 3, "ADD is not supported"),
            ("FROM scratch\nCOPY --chmod=755 a /\n", 2, "--chmod"),
            (
                "FROM scratch\nCOPY --from=nowhere a /\n",
                2,
                "names no earlier stage",
            ),
            ("RUN x\nFROM scratch\n", 1, "expected FROM"),
        ] {
            let e = parse("Dockerfile", text, &BTreeMap::new()).unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.message.contains(needle), "{e}");
            assert!(e.to_string().starts_with(&format!("Dockerfile:{line}: ")));
        }
    }
}
