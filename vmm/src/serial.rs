//! The guest's serial console, as a terminal should see it: [`follow`] streams the growing
//! `serial.log` live, [`dump`] copies what is there; both strip the ANSI/VT escape sequences
//! SeaBIOS writes (`ESC c`, `ESC [ ... m`, ...) and turn CRLF into LF ([`ConsoleFilter`]).
//!
//! Following polls every 5 ms rather than using inotify: that bounds the added latency at
//! 5 ms, costs nothing measurable, and works on every filesystem. This module does not know
//! which process writes the file or when it stops: the caller's `stop` says so.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(5);

/// Errors of serial streaming.
#[derive(Debug, thiserror::Error)]
pub enum SerialError {
    /// Reading the log failed.
    #[error("cannot read the serial log {path}: {source}")]
    Read {
        /// The log.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Writing to the output failed (a closed pipe, say).
    #[error("cannot write the serial output: {0}")]
    Write(#[source] io::Error),
}

/// Streams `path` to `out` as it grows, until `stop()` returns true; then copies what is
/// left and returns. A log that does not exist yet is waited for.
pub fn follow(
    path: &Path,
    out: &mut dyn Write,
    stop: impl Fn() -> bool,
) -> Result<(), SerialError> {
    let read_err = |source| SerialError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = loop {
        match File::open(path) {
            Ok(f) => break f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if stop() {
                    // Stopped before the log appeared: one last look, then give up quietly.
                    match File::open(path) {
                        Ok(f) => break f,
                        Err(_) => return Ok(()),
                    }
                }
                std::thread::sleep(POLL);
            }
            Err(e) => return Err(read_err(e)),
        }
    };
    let mut filter = ConsoleFilter::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Read `stop` before draining, so bytes written before it turned true are not lost.
        let last = stop();
        let n = copy_available(&mut file, &mut buf, &mut filter, out).map_err(|e| match e {
            Side::Read(e) => read_err(e),
            Side::Write(e) => SerialError::Write(e),
        })?;
        if last {
            out.write_all(&filter.finish())
                .map_err(SerialError::Write)?;
            return out.flush().map_err(SerialError::Write);
        }
        if n == 0 {
            std::thread::sleep(POLL);
        }
    }
}

/// Copies the serial log as it is now (`kiln logs` without `-f`).
pub fn dump(path: &Path, out: &mut dyn Write) -> Result<(), SerialError> {
    follow(path, out, || true)
}

enum Side {
    Read(io::Error),
    Write(io::Error),
}

fn copy_available(
    file: &mut File,
    buf: &mut [u8],
    filter: &mut ConsoleFilter,
    out: &mut dyn Write,
) -> Result<usize, Side> {
    let mut total = 0;
    loop {
        let n = match file.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Side::Read(e)),
        };
        if n == 0 {
            if total > 0 {
                out.flush().map_err(Side::Write)?;
            }
            return Ok(total);
        }
        total += n;
        out.write_all(&filter.push(&buf[..n]))
            .map_err(Side::Write)?;
    }
}

/// Where the filter is inside an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Esc {
    /// Plain text.
    #[default]
    Text,
    /// After ESC.
    Escape,
    /// After ESC and intermediate bytes (0x20-0x2F): waiting for the final byte.
    Intermediate,
    /// Inside `ESC [` (CSI): parameters and intermediates until a final byte 0x40-0x7E.
    Csi,
    /// Inside a string (OSC `ESC ]`, DCS `ESC P`, SOS, PM, APC) until BEL or `ESC \`.
    String,
    /// After ESC inside a string: `\` ends it.
    StringEscape,
}

/// A streaming filter from raw serial bytes to terminal text: drops escape sequences
/// (ECMA-48: CSI, OSC/DCS strings, two-byte and intermediate forms such as `ESC c` or
/// `ESC ( B`) and turns CRLF into LF. State is kept across chunks, so a sequence or a CRLF
/// split between two reads is handled.
#[derive(Debug, Default)]
pub struct ConsoleFilter {
    state: Esc,
    pending_cr: bool,
}

impl ConsoleFilter {
    /// Filters one chunk.
    pub fn push(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            self.byte(b, &mut out);
        }
        out
    }

    /// Ends the stream: a carriage return still held back is emitted.
    pub fn finish(&mut self) -> Vec<u8> {
        let out = if self.pending_cr {
            vec![b'\r']
        } else {
            Vec::new()
        };
        self.pending_cr = false;
        self.state = Esc::Text;
        out
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>) {
        self.state = match (self.state, b) {
            (Esc::Text, 0x1b) => Esc::Escape,
            (Esc::Text, _) => {
                self.text(b, out);
                Esc::Text
            }
            (Esc::Escape, b'[') => Esc::Csi,
            (Esc::Escape, b']' | b'P' | b'X' | b'^' | b'_') => Esc::String,
            (Esc::Escape | Esc::Intermediate, 0x20..=0x2f) => Esc::Intermediate,
            (Esc::Escape | Esc::Intermediate, 0x30..=0x7e) => Esc::Text,
            (Esc::Csi, 0x40..=0x7e) => Esc::Text,
            (Esc::Csi, 0x20..=0x3f) => Esc::Csi,
            (Esc::String, 0x07) => Esc::Text,
            (Esc::String, 0x1b) => Esc::StringEscape,
            (Esc::String, _) => Esc::String,
            (Esc::StringEscape, b'\\') => Esc::Text,
            (Esc::StringEscape, _) => Esc::String,
            // Anything else malformed (a control byte inside a sequence): drop the sequence
            // and treat the byte as text again, as terminals do.
            (Esc::Escape | Esc::Intermediate | Esc::Csi, _) => {
                self.text(b, out);
                Esc::Text
            }
        };
    }

    fn text(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.pending_cr {
            self.pending_cr = false;
            if b != b'\n' {
                out.push(b'\r');
            }
        }
        if b == b'\r' {
            self.pending_cr = true;
        } else {
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(chunks: &[&[u8]]) -> String {
        let mut f = ConsoleFilter::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(f.push(c));
        }
        out.extend(f.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strips_what_seabios_writes() {
        let raw = b"\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2)\r\nBooting..ok\r\n";
        assert_eq!(clean(&[raw]), "SeaBIOS (version 1.16.2)\nBooting..ok\n");
    }

    #[test]
    fn sequences_and_crlf_split_across_chunks() {
        assert_eq!(
            clean(&[b"a\x1b", b"[3", b"1mred\x1b[0m\r", b"\nb"]),
            "ared\nb"
        );
        assert_eq!(clean(&[b"x\r", b"y"]), "x\ry");
        assert_eq!(clean(&[b"end\r"]), "end\r");
    }

    #[test]
    fn strings_charsets_and_malformed_sequences() {
        assert_eq!(clean(&[b"\x1b]0;title\x07t\x1b]2;x\x1b\\u"]), "tu");
        assert_eq!(clean(&[b"\x1b(Bv\x1b7w\x1b8"]), "vw");
        assert_eq!(clean(&[b"\x1b[1\nz"]), "\nz");
        assert_eq!(clean(&[b"tab\there\x07"]), "tab\there\x07");
    }

    #[test]
    fn follow_streams_a_growing_file_and_drains_after_stop() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serial.log");
        let done = AtomicBool::new(false);
        let mut out = Vec::new();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                let mut f = File::create(&path).unwrap();
                f.write_all(b"\x1b[0mone\r\n").unwrap();
                std::thread::sleep(Duration::from_millis(20));
                f.write_all(b"two\r\n").unwrap();
                done.store(true, Ordering::SeqCst);
            });
            follow(&path, &mut out, || done.load(Ordering::SeqCst)).unwrap();
        });
        assert_eq!(String::from_utf8(out).unwrap(), "one\ntwo\n");
    }
}
