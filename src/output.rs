//! The only writer to stdout and stderr: ready lines, data, human lines,
//! JSON lines, and diagnostics behind the `echokit: ` prefix (SPEC §6).
//!
//! It picks human or JSON form; it never picks exit codes. Every write is
//! flushed at once, so a script reading a ready line never waits for a buffer.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::cli::OutputFlags;
use crate::error::Error;

/// How much to say, and in which form.
#[derive(Debug)]
pub struct Output {
    pub json: bool,
    pub verbose: u8,
    pub quiet: bool,
    /// Set once stdout's reader has gone away (EPIPE): data is then dropped, not fatal.
    stdout_closed: AtomicBool,
}

impl Output {
    /// From the command's output flags.
    pub fn new(flags: OutputFlags) -> Output {
        Output {
            json: flags.json,
            verbose: flags.verbose,
            quiet: flags.quiet,
            stdout_closed: AtomicBool::new(false),
        }
    }

    fn stdout(&self, bytes: &[u8]) -> io::Result<()> {
        if self.stdout_closed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        match out.write_all(bytes).and_then(|()| out.flush()) {
            // The reader of our stdout left (`| head`): keep working, stop writing.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.stdout_closed.store(true, Ordering::Relaxed);
                Ok(())
            }
            other => other,
        }
    }

    /// Raw echoed bytes (send's data).
    pub fn data(&self, bytes: &[u8]) -> io::Result<()> {
        self.stdout(bytes)
    }

    /// One human-readable line on stdout.
    pub fn line(&self, text: &str) {
        let _ = self.stdout(format!("{text}\n").as_bytes());
    }

    /// One JSON object as a line on stdout.
    pub fn json(&self, value: &Value) {
        let _ = self.stdout(format!("{value}\n").as_bytes());
    }

    /// A ready line: the bound address in the grammar, with its prefix.
    pub fn ready(&self, address: &str) {
        if self.json {
            self.json(&serde_json::json!({"event": "listening", "address": address}));
        } else {
            self.line(address);
        }
    }

    /// A diagnostic on stderr, unless `-q`.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("echokit: {text}");
        }
    }

    /// A diagnostic on stderr only with `-v` (or more).
    pub fn verbose(&self, level: u8, text: &str) {
        if self.verbose >= level {
            eprintln!("echokit: {text}");
        }
    }
}

/// Prints an error as its one line on stderr.
pub fn error(err: &Error) {
    eprintln!("echokit: {err}");
}

/// A byte for a diagnostic: hex, plus the character when printable.
pub fn byte(b: u8) -> String {
    if b.is_ascii_graphic() || b == b' ' {
        format!("0x{b:02x} ({:?})", b as char)
    } else {
        format!("0x{b:02x}")
    }
}

/// A duration in humantime syntax (SPEC §6): microseconds below one second
/// (`42us`, `1ms 234us`), milliseconds from there (`1s 520ms`).
pub fn duration(d: std::time::Duration) -> String {
    use std::time::Duration;
    let rounded = if d < Duration::from_secs(1) {
        Duration::from_micros(d.as_micros() as u64)
    } else {
        Duration::from_millis(d.as_millis() as u64)
    };
    humantime::format_duration(rounded).to_string()
}

/// A duration in milliseconds with three decimals, as ping prints it.
pub fn millis(d: std::time::Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}
