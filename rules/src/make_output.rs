//! make's output as it arrives: every line goes to the step's events (shown live with `-v`),
//! and Unikraft's short lines (`printf '  %-7s %s\n' LABEL TARGET`: `  CC      libkvmplat:
//! setup.o`) tell how far the build has got: objects compiled, and make's phases.
//!
//! Phases only move forward — prepare, kconfig, compile, link — so the interleaved
//! per-library partial links (`  LD      libkvmplat.ld.o`, `  OBJCOPY libkvmplat.o`) stay
//! inside the compile phase: the link phase begins with the image's own link, the first
//! `LD` whose target is not an object. Each phase that ends becomes a span of the step (a
//! child span in `--trace`).
//!
//! The expected number of objects is the count of the last build of the target that
//! compiled from scratch (`<target>.objects` beside its work directory, so it outlives a
//! removed work directory), or else an estimate: the compile lines a `make -n` prints (see
//! [`count_dry_run_objects`]).

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use kiln_engine::report::{ProgressUnit, StepProgress};
use kiln_engine::step::StepEvents;

/// The file beside work directory `work` that holds the object count of its last full
/// build.
fn objects_file(work: &Path) -> std::path::PathBuf {
    let name = work.file_name().map(|n| n.to_string_lossy().into_owned());
    work.with_file_name(format!("{}.objects", name.unwrap_or_default()))
}

/// The objects a build is expected to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// How many.
    pub objects: u64,
    /// Guessed by a dry run, not counted by an earlier build.
    pub estimated: bool,
}

/// make's phases, in the order they can follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Before anything else: links, generated headers.
    Prepare,
    /// Kconfig's tools and `.config` processing.
    Kconfig,
    /// Compiling objects (and the libraries' partial links).
    Compile,
    /// The image's link and what is derived from it.
    Link,
}

impl Phase {
    /// The phase's name in progress lines and traces.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prepare => "prepare",
            Phase::Kconfig => "kconfig",
            Phase::Compile => "compile",
            Phase::Link => "link",
        }
    }
}

/// What one line of make's output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// An object compiled (`CC`, `CXX`, `AS`, ...).
    Object,
    /// Other compile-phase work (`LDS`, `CPP`).
    Compile,
    /// The image's link (`LD` of a non-object).
    Link,
    /// Kconfig (`MAKE kconfig`, `HOSTCC`, ...).
    Kconfig,
    /// Anything else.
    Other,
}

/// The label of one of Unikraft's short lines (`  CC      x.o` -> `CC`), if it is one.
fn label(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("  ")?;
    let end = rest.find(' ')?;
    let (word, target) = rest.split_at(end);
    let is_label = (2..=8).contains(&word.len())
        && word
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    is_label.then(|| (word, target.trim()))
}

fn classify(line: &str) -> LineKind {
    let Some((word, target)) = label(line) else {
        return LineKind::Other;
    };
    match word {
        "CC" | "CXX" | "AS" | "GOC" | "RUSTC" => LineKind::Object,
        "LDS" | "CPP" | "M4" => LineKind::Compile,
        "LD" if !target.ends_with(".o") => LineKind::Link,
        "MAKE" if target == "kconfig" => LineKind::Kconfig,
        "HOSTCC" | "HOSTCXX" | "HOSTLD" | "LEX" | "YACC" => LineKind::Kconfig,
        _ => LineKind::Other,
    }
}

/// Counts objects and follows phases while one make runs; tells the step's events.
pub struct MakeProgress<'a> {
    events: StepEvents<'a>,
    expected: Mutex<Option<Expected>>,
    state: Mutex<Counter>,
}

struct Counter {
    objects: u64,
    phase: Phase,
    since: Instant,
}

impl<'a> MakeProgress<'a> {
    /// A make that starts in `phase`, expected to compile `expected` objects if known.
    pub fn new(events: StepEvents<'a>, phase: Phase, expected: Option<Expected>) -> Self {
        MakeProgress {
            events,
            expected: Mutex::new(expected),
            state: Mutex::new(Counter {
                objects: 0,
                phase,
                since: Instant::now(),
            }),
        }
    }

    /// An expected count that arrived while make runs (a dry run's estimate).
    pub fn set_expected(&self, expected: Expected) {
        if let Ok(mut e) = self.expected.lock() {
            e.get_or_insert(expected);
        }
        if let Ok(s) = self.state.lock() {
            self.tell(&s);
        }
    }

    /// One line of make's output (without its newline).
    pub fn line(&self, line: &str) {
        self.events.output(line);
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        let kind = classify(line);
        let phase = match kind {
            LineKind::Object | LineKind::Compile => Phase::Compile,
            LineKind::Link => Phase::Link,
            LineKind::Kconfig => Phase::Kconfig,
            LineKind::Other => s.phase,
        };
        let moved = phase > s.phase;
        if moved {
            let now = Instant::now();
            self.events.span(s.phase.name(), s.since, now, None);
            s.phase = phase;
            s.since = now;
        }
        if kind == LineKind::Object {
            s.objects += 1;
        }
        if moved || kind == LineKind::Object {
            self.tell(&s);
        }
    }

    /// Ends the last phase; the number of objects compiled.
    pub fn finish(&self) -> u64 {
        let Ok(s) = self.state.lock() else {
            return 0;
        };
        self.events
            .span(s.phase.name(), s.since, Instant::now(), None);
        s.objects
    }

    fn tell(&self, s: &Counter) {
        let expected = self.expected.lock().ok().and_then(|e| *e);
        self.events.progress(&StepProgress {
            phase: Some(s.phase.name().to_string()),
            done: s.objects,
            total: expected.map(|e| e.objects),
            estimated: expected.is_some_and(|e| e.estimated),
            unit: ProgressUnit::Items("objects"),
        });
    }
}

/// The objects a `make -n` of the build would compile: its lines that print a compile
/// label, as Unikraft's recipes do (`printf '  %-7s %s\n' 'CC' 'libkvmplat':' setup.o'`; the
/// test kernel's `echo '  CC      kernel/main.o'`). Unikraft never prints the compiler's
/// command itself, so counting `-c ... -o x.o` would count only kconfig's host tools.
pub fn count_dry_run_objects(output: &str) -> u64 {
    output
        .lines()
        .filter(|l| {
            ["'CC'", "'CXX'", "'AS'", "'  CC ", "'  CXX ", "'  AS "]
                .iter()
                .any(|needle| l.contains(needle))
        })
        .count() as u64
}

/// The count the last full build of `work` recorded.
pub fn recorded_objects(work: &Path) -> Option<Expected> {
    let text = std::fs::read_to_string(objects_file(work)).ok()?;
    let objects = text.trim().parse().ok().filter(|n| *n > 0)?;
    Some(Expected {
        objects,
        estimated: false,
    })
}

/// Records the object count of a full build of `work` (best effort: it is only a display
/// hint).
pub fn record_objects(work: &Path, objects: u64) {
    if objects > 0 {
        let _ = kiln_engine::fsutil::write_atomic(
            &objects_file(work),
            format!("{objects}\n").as_bytes(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_engine::report::{Event, EventSink};

    #[derive(Default)]
    struct Heard(Mutex<Vec<String>>);

    impl EventSink for Heard {
        fn event(&self, event: Event<'_>) {
            let s = match event {
                Event::Progress { progress: p, .. } => format!(
                    "{} {}/{:?}{}",
                    p.phase.as_deref().unwrap_or("-"),
                    p.done,
                    p.total,
                    if p.estimated { " est" } else { "" }
                ),
                Event::Span { name, .. } => format!("span {name}"),
                _ => return,
            };
            self.0.lock().unwrap().push(s);
        }
    }

    /// Lines of a real Unikraft 0.17.0 build of app-helloworld (kiln-make.log).
    const UNIKRAFT: &str = "  LN      Makefile
  MAKE    kconfig
  GEN     config.h
  AWK     libuklibid: libid.h
  CC      libkvmplat: trace.common.o
  AS      libkvmplat: multiboot.x86.o
  LDS     libkvmplat: link64.lds
  LD      libkvmplat.ld.o
/usr/bin/ld: warning: libinfo.libuklibid.o: missing .note.GNU-stack section
  OBJCOPY libkvmplat.o
  CC      apphelloworld: main.o
  LD      helloworld_qemu-x86_64.dbg
  SCSTRIP helloworld_qemu-x86_64
  UKBI    helloworld_qemu-x86_64.bootinfo";

    #[test]
    fn unikrafts_lines_count_objects_and_move_through_the_phases() {
        let heard = Heard::default();
        let events = StepEvents::new(&heard, "qemu-x86_64/compile");
        let expected = Expected {
            objects: 3,
            estimated: true,
        };
        let p = MakeProgress::new(events, Phase::Prepare, None);
        for (i, line) in UNIKRAFT.lines().enumerate() {
            if i == 5 {
                p.set_expected(expected);
            }
            p.line(line);
        }
        assert_eq!(p.finish(), 3);
        assert_eq!(
            *heard.0.lock().unwrap(),
            [
                "span prepare",
                "kconfig 0/None",
                "span kconfig",
                "compile 1/None",
                "compile 1/Some(3) est",
                "compile 2/Some(3) est",
                // The library's partial link and objcopy stay in the compile phase.
                "compile 3/Some(3) est",
                "span compile",
                "link 3/Some(3) est",
                "span link",
            ]
        );
    }

    #[test]
    fn the_test_kernels_lines_read_the_same_way() {
        let heard = Heard::default();
        let p = MakeProgress::new(StepEvents::new(&heard, "t"), Phase::Prepare, None);
        for line in [
            "  GEN     .config",
            "  CC      kernel/main.o",
            "  AS      kernel/boot.o",
            "  LD      hello_qemu-x86_64.dbg",
            "  OBJCOPY hello_qemu-x86_64",
        ] {
            p.line(line);
        }
        assert_eq!(p.finish(), 2);
        let heard = heard.0.lock().unwrap();
        assert!(heard.contains(&"link 2/None".to_string()), "{heard:?}");
    }

    #[test]
    fn a_dry_run_counts_the_compile_labels_it_would_print() {
        let unikraft = "mkdir -p /w/libkvmplat\n\
            printf '  %-7s %s\\n' 'CC'  'libkvmplat':' setup.o' &&  /bin/bash /w/libkvmplat/setup.o.cmd\n\
            printf '  %-7s %s\\n' 'AS'  'libkvmplat':' entry64.o' &&  /bin/bash /w/x.o.cmd\n\
            printf '  %-7s %s\\n' 'LD'  'libkvmplat.ld.o' &&  /bin/bash /w/y.cmd\n\
            gcc -c -o /w/kconfig/conf.o conf.c\n";
        assert_eq!(count_dry_run_objects(unikraft), 2);
        let testkernel = "echo '  CC      kernel/main.o'\ngcc -c kernel/main.c -o /w/kernel/main.o\n\
            echo '  AS      kernel/boot.o'\necho '  LD      hello.dbg'\n";
        assert_eq!(count_dry_run_objects(testkernel), 2);
    }

    #[test]
    fn the_record_survives_only_as_a_positive_count() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("qemu-x86_64");
        assert_eq!(recorded_objects(&work), None);
        record_objects(&work, 0);
        assert_eq!(recorded_objects(&work), None);
        record_objects(&work, 105);
        assert!(
            dir.path().join("qemu-x86_64.objects").is_file(),
            "beside the work dir"
        );
        assert_eq!(
            recorded_objects(&work),
            Some(Expected {
                objects: 105,
                estimated: false
            })
        );
    }
}
