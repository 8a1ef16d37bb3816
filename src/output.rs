//! The only writer to stdout and stderr: ready lines, data, human lines,
//! JSON lines, and diagnostics behind the `echokit: ` prefix (SPEC §6).
//!
//! Commands hand over [`Report`]s — each knows its human and its JSON form —
//! and this module alone applies `-q`, `--json` and `-v` (echokit prints no
//! colour, so NO_COLOR has nothing to turn off), and draws
//! the one [`Table`] layout `check` and `resolve` share. It never picks exit
//! codes. Every write is flushed at once, so a script reading a ready line
//! never waits for a buffer.
//!
//! No write here can panic or end the process (SPEC §5), which `println!` and
//! `eprintln!` would on a closed or full stream. Stderr that cannot be written
//! loses the message and nothing else: the exit code still tells. Stdout is
//! the command's result: a reader that went away (EPIPE, `| head`) only stops
//! the writing, but any other failure (`/dev/full`: ENOSPC, EIO) is kept, and
//! [`stdout_failure`] turns it into exit 6 once the command is done. Rust
//! starts every program with SIGPIPE ignored, so EPIPE arrives as an error
//! here and never as a signal.

use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use serde_json::Value;

use crate::cli::OutputFlags;
use crate::error::Error;

/// Where a report's human form goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Human {
    /// Lines on stdout (the command's result), unless `-q`.
    Stdout(String),
    /// A log line on stderr from `-v` × `level` on (0: always, unless `-q`).
    Log { level: u8, text: String },
    /// Nothing outside `--json`.
    Nothing,
}

/// Something a command reports: a send result, a ping line or summary, a
/// check row, a bench report, a serve event, a resolve row.
pub trait Report {
    /// The human form.
    fn human(&self) -> Human;
    /// The `--json` form: one object, printed as one line on stdout (none: nothing in JSON).
    fn json(&self) -> Option<Value>;
}

/// How much to say, and in which form.
#[derive(Debug)]
pub struct Output {
    pub json: bool,
    pub verbose: u8,
    pub quiet: bool,
}

/// Set once stdout's reader has gone away (EPIPE): data is then dropped, not
/// fatal. Process-wide, as stdout is: `serve` writes it from two `Output`s.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// The first stdout write that failed for another reason (a full disk, an I/O
/// error): what [`stdout_failure`] reports. Nothing is written after it.
static STDOUT_FAILED: Mutex<Option<io::Error>> = Mutex::new(None);

/// That failure's errno, for every later write (0: none yet; -1: not an OS error).
static STDOUT_ERRNO: AtomicI32 = AtomicI32::new(0);

impl Output {
    /// From the command's output flags.
    pub fn new(flags: OutputFlags) -> Output {
        Output {
            json: flags.json,
            verbose: flags.verbose,
            quiet: flags.quiet,
        }
    }

    /// Whether human text goes to stdout at all (not `-q`, not `--json`).
    pub fn human(&self) -> bool {
        !self.quiet && !self.json
    }

    /// Prints `report` in the form the flags ask for.
    pub fn report(&self, report: &dyn Report) {
        if self.json {
            if let Some(value) = report.json() {
                self.json(&value);
            }
            return;
        }
        match report.human() {
            Human::Stdout(text) if !self.quiet => self.line(&text),
            Human::Log { level, text } if !self.quiet && self.verbose >= level => {
                diagnostic(&text);
            }
            _ => {}
        }
    }

    fn stdout(&self, bytes: &[u8]) -> io::Result<()> {
        write_stdout(bytes)
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
            diagnostic(text);
        }
    }

    /// A diagnostic on stderr only with `-v` (or more).
    pub fn verbose(&self, level: u8, text: &str) {
        if self.verbose >= level {
            diagnostic(text);
        }
    }
}

/// Writes `bytes` to stdout and flushes them. A closed pipe is `Ok`: the
/// reader chose to stop, and the work goes on (`send … | head` still verifies).
/// Any other failure is kept for [`stdout_failure`] and returned; from then on
/// nothing more is written, and every write returns that error's kind.
fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    match STDOUT_ERRNO.load(Ordering::Relaxed) {
        0 => {}
        -1 => return Err(io::Error::other("an earlier write failed")),
        errno => return Err(io::Error::from_raw_os_error(errno)),
    }
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(-1);
            STDOUT_ERRNO.store(errno, Ordering::Relaxed);
            let kept = match errno {
                -1 => io::Error::new(e.kind(), e.to_string()),
                errno => io::Error::from_raw_os_error(errno),
            };
            let mut failed = STDOUT_FAILED.lock().unwrap_or_else(|p| p.into_inner());
            failed.get_or_insert(kept);
            Err(e)
        }
    }
}

/// The first failed stdout write, as the error that ends the command (exit 6:
/// `cannot write to stdout: no space left on device`); `None` when every
/// write went through or only the reader went away. Taken: asked twice, the
/// second answer is `None`.
pub fn stdout_failure() -> Option<Error> {
    let mut failed = STDOUT_FAILED.lock().unwrap_or_else(|p| p.into_inner());
    failed.take().map(Error::stdout)
}

/// One `echokit: ` line on stderr. A stderr that cannot be written (closed
/// pipe, full disk) loses the line and nothing else (SPEC §5).
fn diagnostic(text: &str) {
    raw_stderr(&format!("echokit: {}\n", one_line(text)));
}

/// `text` on stderr as it is (clap's usage message, already prefixed and
/// ended), ignoring every error, as [`diagnostic`] does.
pub fn raw_stderr(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Prints an error as its one line on stderr.
pub fn error(err: &Error) {
    diagnostic(&one_line(&err.to_string()));
}

/// Control characters from the user's input (a newline in an address) are
/// shown escaped, so every diagnostic stays one line (SPEC §6).
/// C1 controls (U+0080–U+009F, NEL among them) too, as `\u{85}`.
pub fn one_line(text: &str) -> String {
    crate::addr::escape_controls(text)
        .chars()
        .flat_map(|c| match c {
            c if c.is_control() => c.escape_unicode().collect::<Vec<_>>(),
            c => vec![c],
        })
        .collect()
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

/// The one table layout: columns padded to their widest cell and two spaces
/// apart; the last column is never padded, so no line ends in spaces.
/// Widths are fitted before the first row is printed, so rows can be printed
/// as they finish (check) and still line up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    widths: Vec<usize>,
}

impl Table {
    /// A table with these column names, each as wide as its name.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            widths: header.iter().map(|h| h.chars().count()).collect(),
        }
    }

    /// Widens the columns to fit `cells`.
    pub fn fit<S: AsRef<str>>(&mut self, cells: &[S]) {
        for (width, cell) in self.widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.as_ref().chars().count());
        }
    }

    /// Makes column `column` at least `width` wide.
    pub fn at_least(mut self, column: usize, width: usize) -> Table {
        if let Some(w) = self.widths.get_mut(column) {
            *w = (*w).max(width);
        }
        self
    }

    /// The header line.
    pub fn header(&self) -> String {
        self.line(&self.header)
    }

    /// One row.
    pub fn line<S: AsRef<str>>(&self, cells: &[S]) -> String {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let cell = cell.as_ref();
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let pad = self.widths.get(i).copied().unwrap_or(0);
                let used = cell.chars().count();
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad.saturating_sub(used) + 2));
            }
        }
        text.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_stay_on_one_line() {
        assert_eq!(one_line("a\nb:c"), "a\\nb:c");
        assert_eq!(one_line("über"), "über");
    }

    #[test]
    fn table_columns_line_up_without_trailing_spaces() {
        let mut table = Table::new(&["A", "BB", "C"]);
        table.fit(&["long", "x", "tail"]);
        assert_eq!(table.header(), "A     BB  C");
        assert_eq!(table.line(&["long", "x", "tail"]), "long  x   tail");
        assert_eq!(table.line(&["a", "", ""]), "a");
        let wide = Table::new(&["A", "B"]).at_least(0, 4);
        assert_eq!(wide.line(&["x", "y"]), "x     y");
    }

    struct Sample;

    impl Report for Sample {
        fn human(&self) -> Human {
            Human::Stdout("hello".into())
        }
        fn json(&self) -> Option<Value> {
            Some(serde_json::json!({"hello": true}))
        }
    }

    #[test]
    fn quiet_and_json_decide_in_one_place() {
        let out = |json, quiet| {
            Output::new(OutputFlags {
                json,
                verbose: 0,
                quiet,
            })
        };
        assert!(out(false, false).human());
        assert!(!out(true, false).human());
        assert!(!out(false, true).human());
        // Rendering itself writes to stdout; the forms are the report's.
        assert_eq!(Sample.human(), Human::Stdout("hello".into()));
    }
}
