//! The harness of the integration tests for `serve` and `send`: it starts the
//! real `echokit` binary (`CARGO_BIN_EXE_echokit`) over real sockets.
//!
//! - [`Server`] starts `echokit serve` (always on port 0 or a path in a fresh
//!   temp dir), reads its ready lines before a deadline, and kills that one pid
//!   when dropped.
//! - [`send`] / [`echokit`] / [`run_cmd`] run a one-shot command with given
//!   stdin and a timeout, and hand back status code, stdout bytes and stderr.
//! - [`Transport`] lists the transports of SPEC §1 with the address to serve
//!   them on, so one test body loops over all of them (socket2's v4/v6 idea).
//!
//! Every blocking step has a deadline: output is read on helper threads and
//! handed over through channels (`recv_timeout`) or a condvar (`wait_timeout`),
//! child waits poll `try_wait`, and the tests' own sockets get read and write
//! timeouts. Nothing here sleeps to wait for a server: a server is ready once
//! its ready line has been read. Failure messages print the command, its exit
//! status, stdout and stderr.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_echokit");

/// The most any one step may take before the test fails: a hung step, never an expected wait.
pub const STEP: Duration = Duration::from_secs(10);

/// Read and write timeouts of the tests' own sockets.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// `program arg arg…`, each argument quoted when it needs it, for failure messages.
pub fn command_text(cmd: &Command) -> String {
    let mut text = quote(cmd.get_program());
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&quote(arg));
    }
    text
}

fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=,%+[]".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// "exit code 3", "killed by signal 9" or "still running".
pub fn status_text(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        None => "still running".to_string(),
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => format!("{s}"),
        },
    }
}

/// Waits for `child` to exit, polling `try_wait`, for at most `timeout`; `None` if it has not.
pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(e) => panic!("try_wait on pid {}: {e}", child.id()),
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        // Polling a child's status has no readiness to wait on; this is bounded by `timeout`.
        thread::sleep((deadline - now).min(Duration::from_millis(5)));
    }
}

/// Bytes shown of a long output in a failure message.
const SHOW: usize = 4000;

/// Bytes as text for a failure message, cut after [`SHOW`] bytes.
pub fn show_bytes(bytes: &[u8]) -> String {
    if bytes.len() <= SHOW {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        format!(
            "{}… ({} bytes in all)",
            String::from_utf8_lossy(&bytes[..SHOW]),
            bytes.len()
        )
    }
}

/// Everything a pipe has delivered so far, and whether it has closed.
#[derive(Default)]
struct Collected {
    bytes: Vec<u8>,
    closed: bool,
}

/// A pipe read to its end on a helper thread; readers wait on a condvar with a deadline.
#[derive(Clone, Default)]
struct Collector(Arc<(Mutex<Collected>, Condvar)>);

impl Collector {
    fn spawn(mut reader: impl Read + Send + 'static) -> Collector {
        let collector = Collector::default();
        let shared = collector.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let (lock, cvar) = &*shared.0;
                let mut state = lock.lock().expect("collector lock");
                if n == 0 {
                    state.closed = true;
                } else {
                    state.bytes.extend_from_slice(&buf[..n]);
                }
                cvar.notify_all();
                if n == 0 {
                    return;
                }
            }
        });
        collector
    }

    fn snapshot(&self) -> Vec<u8> {
        self.0.0.lock().expect("collector lock").bytes.clone()
    }

    /// Waits until `done` holds for what has arrived, the pipe closes, or `timeout` passes.
    fn wait_for(&self, timeout: Duration, mut done: impl FnMut(&[u8]) -> bool) -> bool {
        let (lock, cvar) = &*self.0;
        let deadline = Instant::now() + timeout;
        let mut state = lock.lock().expect("collector lock");
        loop {
            if done(&state.bytes) {
                return true;
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                return false;
            }
            state = cvar
                .wait_timeout(state, deadline - now)
                .expect("collector lock")
                .0;
        }
    }

    /// Everything, once the pipe has closed (or whatever came within `timeout`).
    fn finish(&self, timeout: Duration) -> Vec<u8> {
        let (lock, cvar) = &*self.0;
        let deadline = Instant::now() + timeout;
        let mut state = lock.lock().expect("collector lock");
        while !state.closed {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = cvar
                .wait_timeout(state, deadline - now)
                .expect("collector lock")
                .0;
        }
        state.bytes.clone()
    }
}

/// Sends each line of `reader` over a channel; the channel closes at EOF.
fn line_reader(reader: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// A background process this test started: stdout as lines, stderr collected,
/// killed (by its own pid, nothing else) when dropped.
pub struct Proc {
    child: Child,
    cmd: String,
    status: Option<ExitStatus>,
    lines: Option<Receiver<String>>,
    seen: Vec<String>,
    stderr: Collector,
}

impl Proc {
    /// Starts `cmd` with stdin from /dev/null and stdout read as lines.
    pub fn spawn(cmd: Command) -> Proc {
        Proc::spawn_with(cmd, Stdio::null(), None)
    }

    /// Starts `cmd` with the given stdin, and stdout either given or (with `None`) read as lines.
    pub fn spawn_with(mut cmd: Command, stdin: Stdio, stdout: Option<Stdio>) -> Proc {
        let text = command_text(&cmd);
        let capture = stdout.is_none();
        cmd.stdin(stdin)
            .stdout(stdout.unwrap_or_else(Stdio::piped))
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {text}: {e}"));
        let lines = if capture {
            Some(line_reader(child.stdout.take().expect("piped stdout")))
        } else {
            None
        };
        let stderr = Collector::spawn(child.stderr.take().expect("piped stderr"));
        Proc {
            child,
            cmd: text,
            status: None,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits in i32")
    }

    /// The next stdout line, or `None` if none came within `timeout` (or stdout closed).
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        let rx = self.lines.as_ref()?;
        match rx.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// The next stdout line within [`STEP`], or a failure naming `what` was awaited.
    pub fn expect_line(&mut self, what: &str) -> String {
        match self.next_line(STEP) {
            Some(line) => line,
            None => panic!("no {what} on stdout within {STEP:?}\n{}", self.describe()),
        }
    }

    /// Everything on stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.snapshot()).into_owned()
    }

    /// Waits (at most `timeout`) until stderr contains `needle`.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> bool {
        self.stderr
            .wait_for(timeout, |b| String::from_utf8_lossy(b).contains(needle))
    }

    /// Waits (at most `timeout`) until stderr contains one of `needles`.
    pub fn wait_stderr_any(&self, needles: &[&str], timeout: Duration) -> bool {
        self.stderr.wait_for(timeout, |b| {
            let text = String::from_utf8_lossy(b);
            needles.iter().any(|n| text.contains(n))
        })
    }

    /// Waits (at most [`STEP`]) until stderr contains `needle`, or fails.
    pub fn expect_stderr(&mut self, needle: &str) {
        if !self.wait_stderr(needle, STEP) {
            panic!(
                "stderr never contained {needle:?} within {STEP:?}\n{}",
                self.describe()
            );
        }
    }

    /// Sends `signal` to this child's pid.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal)
            .unwrap_or_else(|e| panic!("kill -{signal} {}: {e}", self.pid()));
    }

    /// Whether the child is still running (reaps it if it has exited).
    pub fn running(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status.is_none()
    }

    /// Waits for the exit at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = wait_with_timeout(&mut self.child, timeout);
        }
        self.status
    }

    /// Waits (at most [`STEP`]) for the exit and returns its code, or fails.
    pub fn expect_exit(&mut self) -> i32 {
        match self.wait_exit(STEP) {
            Some(status) => match status.code() {
                Some(code) => code,
                None => panic!("ended by a signal\n{}", self.describe()),
            },
            None => panic!("still running after {STEP:?}\n{}", self.describe()),
        }
    }

    /// Asserts the child is still running.
    pub fn assert_running(&mut self, when: &str) {
        if !self.running() {
            panic!("exited {when}\n{}", self.describe());
        }
    }

    /// Command, exit status, stdout and stderr, for a failure message.
    pub fn describe(&mut self) -> String {
        let _ = self.running();
        if let Some(rx) = &self.lines {
            while let Ok(line) = rx.try_recv() {
                self.seen.push(line);
            }
        }
        let mut text = String::new();
        let _ = writeln!(text, "command: {}", self.cmd);
        let _ = writeln!(text, "pid: {}", self.pid());
        let _ = writeln!(text, "status: {}", status_text(self.status));
        let _ = writeln!(text, "stdout:\n{}", self.seen.join("\n"));
        let _ = write!(text, "stderr:\n{}", show_bytes(&self.stderr.snapshot()));
        text
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            // Not reaped yet, so the pid is still this child's: kill exactly it.
            let _ = self.child.kill();
            let _ = wait_with_timeout(&mut self.child, STEP);
        }
    }
}

/// A running `echokit serve` and its ready lines (one per listener).
pub struct Server {
    pub proc: Proc,
    pub ready: Vec<String>,
}

impl Server {
    /// Runs `echokit serve ARGS…` and reads `listeners` ready lines before [`STEP`] passes.
    pub fn start(args: &[&str], listeners: usize) -> Server {
        Server::start_in(None, args, listeners)
    }

    /// Like [`Server::start`], in working directory `cwd` (for relative socket paths).
    pub fn start_in(cwd: Option<&Path>, args: &[&str], listeners: usize) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").args(args);
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let mut proc = Proc::spawn(cmd);
        let mut ready = Vec::new();
        for i in 0..listeners {
            ready.push(proc.expect_line(&format!("ready line {} of {listeners}", i + 1)));
        }
        Server { proc, ready }
    }

    /// Serves one `transport` in `dir` with `extra` flags first; returns the server.
    pub fn on(transport: Transport, dir: &Path, extra: &[&str]) -> Server {
        let addr = transport.listen_arg(dir);
        let mut args: Vec<&str> = extra.to_vec();
        args.push(&addr);
        let server = Server::start(&args, 1);
        transport.check_ready(&server.ready[0]);
        server
    }

    /// The address of listener `i` in the grammar (a `--json` ready line's `address`).
    pub fn addr(&self, i: usize) -> String {
        let line = &self.ready[i];
        if line.starts_with('{') {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("ready line {line:?} is not JSON: {e}"));
            value["address"]
                .as_str()
                .unwrap_or_else(|| panic!("ready line {line:?} has no address"))
                .to_string()
        } else {
            line.clone()
        }
    }

    /// The port of inet listener `i`.
    pub fn port(&self, i: usize) -> u16 {
        port_of(&self.addr(i))
    }
}

impl std::ops::Deref for Server {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.proc
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Proc {
        &mut self.proc
    }
}

/// The port at the end of an inet ready line (`tcp:[::1]:40123` → 40123).
pub fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {addr:?}"))
}

/// What a finished one-shot command did.
#[derive(Debug)]
pub struct Run {
    pub cmd: String,
    pub pid: u32,
    /// The exit code (-1 when a signal ended it).
    pub code: i32,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// `(status code, stdout bytes, stderr string)`.
    pub fn parts(&self) -> (i32, &[u8], &str) {
        (self.code, &self.stdout, &self.stderr)
    }

    /// stdout as text.
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Command, exit status, stdout and stderr, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {} after {:?}\nstdout:\n{}\nstderr:\n{}",
            self.cmd,
            status_text(Some(self.status)),
            self.elapsed,
            show_bytes(&self.stdout),
            self.stderr
        )
    }

    /// Fails unless the exit code is `code`.
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "wrong exit code\n{}", self.describe());
        self
    }

    /// Fails unless it exited 0 with exactly `payload` on stdout and nothing on stderr.
    pub fn assert_echo(&self, payload: &[u8]) -> &Run {
        self.assert_code(0);
        assert_same_bytes(&self.stdout, payload, &self.describe());
        assert_eq!(self.stderr, "", "unexpected stderr\n{}", self.describe());
        self
    }

    /// Fails unless it exited `code`, printed nothing on stdout, and exactly `line` on stderr.
    pub fn assert_error(&self, code: i32, line: &str) -> &Run {
        self.assert_code(code);
        assert_eq!(
            self.stderr,
            format!("{line}\n"),
            "wrong stderr\n{}",
            self.describe()
        );
        assert!(
            self.stdout.is_empty(),
            "unexpected stdout\n{}",
            self.describe()
        );
        self
    }

    /// Fails unless it exited `code` and the first stderr line is `line` (clap may add a usage hint below).
    pub fn assert_first_line(&self, code: i32, line: &str) -> &Run {
        self.assert_code(code);
        assert_eq!(
            self.stderr.lines().next(),
            Some(line),
            "wrong first stderr line\n{}",
            self.describe()
        );
        self
    }
}

/// Compares two byte strings, naming the first difference instead of printing megabytes.
pub fn assert_same_bytes(got: &[u8], want: &[u8], context: &str) {
    if got == want {
        return;
    }
    let first = got.iter().zip(want).position(|(a, b)| a != b);
    match first {
        Some(i) => panic!(
            "bytes differ at offset {i}: got 0x{:02x}, want 0x{:02x} (got {} bytes, want {})\n{context}",
            got[i],
            want[i],
            got.len(),
            want.len()
        ),
        None => panic!(
            "got {} bytes, want {} (one is a prefix of the other)\n{context}",
            got.len(),
            want.len()
        ),
    }
}

/// Spawns `cmd`; ETXTBSY (a binary copied a moment ago, still open in a child
/// another thread forked meanwhile) is tried again a few times.
fn spawn_retrying(cmd: &mut Command, text: &str) -> Child {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Ok(child) => return child,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 20 => {
                tries += 1;
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("cannot start {text}: {e}"),
        }
    }
}

/// Runs `cmd` to its end with `stdin` as its input, failing if it takes longer than `timeout`.
pub fn run_cmd(mut cmd: Command, stdin: &[u8], timeout: Duration) -> Run {
    let text = command_text(&cmd);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = spawn_retrying(&mut cmd, &text);
    let pid = child.id();
    let mut input = child.stdin.take().expect("piped stdin");
    let bytes = stdin.to_vec();
    // A writer of its own, so a child that echoes while it reads never deadlocks
    // with us; EPIPE (the child stopped reading) is fine.
    thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let out = Collector::spawn(child.stdout.take().expect("piped stdout"));
    let err = Collector::spawn(child.stderr.take().expect("piped stderr"));
    let status = match wait_with_timeout(&mut child, timeout) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let status = wait_with_timeout(&mut child, STEP);
            panic!(
                "still running after {timeout:?}, killed\ncommand: {text}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
                status_text(status),
                show_bytes(&out.finish(Duration::from_secs(1))),
                show_bytes(&err.finish(Duration::from_secs(1)))
            );
        }
    };
    let elapsed = started.elapsed();
    Run {
        cmd: text,
        pid,
        code: status.code().unwrap_or(-1),
        status,
        stdout: out.finish(STEP),
        stderr: String::from_utf8_lossy(&err.finish(STEP)).into_owned(),
        elapsed,
    }
}

/// Runs `echokit ARGS…` with `stdin`, within [`STEP`].
pub fn echokit(args: &[&str], stdin: &[u8]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    run_cmd(cmd, stdin, STEP)
}

/// Runs `echokit send ARGS…` with `stdin`, failing if it takes longer than `timeout`.
/// [`Run::parts`] gives (status code, stdout bytes, stderr string).
pub fn send(args: &[&str], stdin: &[u8], timeout: Duration) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("send").args(args);
    run_cmd(cmd, stdin, timeout)
}

/// Whether `program` can be run here (`program ARGS` starts and exits within [`STEP`]).
pub fn have_program(program: &str, args: &[&str]) -> bool {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match cmd.spawn() {
        Ok(mut child) => {
            let done = wait_with_timeout(&mut child, STEP).is_some();
            if !done {
                let _ = child.kill();
                let _ = wait_with_timeout(&mut child, STEP);
            }
            done
        }
        Err(_) => false,
    }
}

/// Bad addresses (with the flags before them) and the exact stderr line each
/// must give with exit 2 (SPEC §2): `send` and `serve` share the grammar.
pub fn bad_addresses() -> Vec<(Vec<String>, String)> {
    let long_path = format!("/tmp/{}", "a".repeat(103)); // 108 bytes: one too many
    let long_path = long_path.as_str();
    let bad = |addr: &str, reason: &str| format!("echokit: invalid address {addr:?}: {reason}");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["127.0.0.1:65536"],
            bad("127.0.0.1:65536", "port 65536 out of range (0-65535)"),
        ),
        (
            vec!["[::zz]:1"],
            bad("[::zz]:1", "bad IPv6 address \"::zz\""),
        ),
        (
            vec!["::1:5"],
            bad("::1:5", "IPv6 addresses need brackets: [::1]:5"),
        ),
        (
            vec!["localhost:nosuchservice"],
            bad(
                "localhost:nosuchservice",
                "unknown service \"nosuchservice\" for tcp (not in the services database, /etc/services)",
            ),
        ),
        (
            vec!["udp:localhost:nosuchservice"],
            bad(
                "udp:localhost:nosuchservice",
                "unknown service \"nosuchservice\" for udp (not in the services database, /etc/services)",
            ),
        ),
        (
            vec![long_path],
            bad(
                long_path,
                "Unix socket path is 108 bytes; sun_path holds at most 107 usable bytes (use a shorter directory)",
            ),
        ),
        (
            vec!["[fe80::1%nosuchif]:1"],
            bad(
                "[fe80::1%nosuchif]:1",
                "unknown scope \"nosuchif\" (no such network interface)",
            ),
        ),
        (
            vec!["127.0.0.1:"],
            bad("127.0.0.1:", "missing port after ':'"),
        ),
        (
            vec!["[::1]"],
            bad("[::1]", "missing :PORT after ']' (e.g. [::1]:5000)"),
        ),
        (
            vec!["127.0.0.1"],
            bad(
                "127.0.0.1",
                "expected HOST:PORT, :PORT, a path containing '/', or @name (e.g. localhost:5000)",
            ),
        ),
        (
            vec!["300.1.1.1:5"],
            bad("300.1.1.1:5", "bad IPv4 address \"300.1.1.1\""),
        ),
        (
            vec!["tcp:@echokit-test"],
            bad(
                "tcp:@echokit-test",
                "tcp: and udp: take HOST:PORT, not @name",
            ),
        ),
        (
            vec!["udp:@echokit-test"],
            bad(
                "udp:@echokit-test",
                "tcp: and udp: take HOST:PORT, not @name",
            ),
        ),
        (
            vec!["tcp:/tmp/x.sock"],
            bad(
                "tcp:/tmp/x.sock",
                "tcp: and udp: take HOST:PORT, not a path",
            ),
        ),
        (
            vec!["@"],
            bad("@", "an abstract socket needs a name after @"),
        ),
        (
            vec![""],
            bad("", "empty address (try HOST:PORT, /path or @name)"),
        ),
        (
            vec!["-4", "[::1]:5"],
            bad("[::1]:5", "::1 is an IPv6 address but -4 was given"),
        ),
        (
            vec!["-6", "127.0.0.1:5"],
            bad(
                "127.0.0.1:5",
                "127.0.0.1 is an IPv4 address but -6 was given",
            ),
        ),
    ];
    cases
        .into_iter()
        .map(|(args, line)| (args.into_iter().map(String::from).collect(), line))
        .collect()
}

// ---------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------

/// The transports of SPEC §1, each with an address to serve it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp4,
    Tcp6,
    Udp4,
    Udp6,
    Unix,
    Unixgram,
    Abstract,
    AbstractGram,
}

impl Transport {
    /// Every transport, in a fixed order.
    pub const ALL: [Transport; 8] = [
        Transport::Tcp4,
        Transport::Tcp6,
        Transport::Udp4,
        Transport::Udp6,
        Transport::Unix,
        Transport::Unixgram,
        Transport::Abstract,
        Transport::AbstractGram,
    ];

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp4 => "tcp4",
            Transport::Tcp6 => "tcp6",
            Transport::Udp4 => "udp4",
            Transport::Udp6 => "udp6",
            Transport::Unix => "unix",
            Transport::Unixgram => "unixgram",
            Transport::Abstract => "abstract",
            Transport::AbstractGram => "abstract unixgram",
        }
    }

    /// SOCK_STREAM (as opposed to SOCK_DGRAM).
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            Transport::Tcp4 | Transport::Tcp6 | Transport::Unix | Transport::Abstract
        )
    }

    /// AF_INET or AF_INET6.
    pub fn is_inet(self) -> bool {
        matches!(
            self,
            Transport::Tcp4 | Transport::Tcp6 | Transport::Udp4 | Transport::Udp6
        )
    }

    /// A fresh address to serve this transport on: port 0, or a new name in `dir`
    /// or in the abstract namespace.
    pub fn listen_arg(self, dir: &Path) -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        match self {
            Transport::Tcp4 => "127.0.0.1:0".to_string(),
            Transport::Tcp6 => "[::1]:0".to_string(),
            Transport::Udp4 => "udp:127.0.0.1:0".to_string(),
            Transport::Udp6 => "udp:[::1]:0".to_string(),
            Transport::Unix => dir.join(format!("s{n}.sock")).display().to_string(),
            Transport::Unixgram => {
                format!("unixgram:{}", dir.join(format!("g{n}.sock")).display())
            }
            Transport::Abstract => abstract_name(),
            Transport::AbstractGram => format!("unixgram:{}", abstract_name()),
        }
    }

    /// How this transport's ready line starts.
    pub fn ready_prefix(self) -> &'static str {
        match self {
            Transport::Tcp4 => "tcp:127.0.0.1:",
            Transport::Tcp6 => "tcp:[::1]:",
            Transport::Udp4 => "udp:127.0.0.1:",
            Transport::Udp6 => "udp:[::1]:",
            Transport::Unix => "unix:/",
            Transport::Unixgram => "unixgram:/",
            Transport::Abstract => "unix:@",
            Transport::AbstractGram => "unixgram:@",
        }
    }

    /// Fails unless `line` is a ready line of this transport (with a real port for inet).
    pub fn check_ready(self, line: &str) {
        assert!(
            line.starts_with(self.ready_prefix()),
            "{}: ready line {line:?} should start with {:?}",
            self.name(),
            self.ready_prefix()
        );
        if self.is_inet() {
            assert_ne!(port_of(line), 0, "ready line {line:?} names port 0");
        }
    }

    /// Why this machine cannot run this transport, if it cannot.
    pub fn unavailable(self) -> Option<String> {
        match self {
            Transport::Tcp6 | Transport::Udp6 => ipv6_unavailable(),
            Transport::Abstract | Transport::AbstractGram if !cfg!(target_os = "linux") => {
                Some("abstract Unix sockets exist only on Linux".to_string())
            }
            _ => None,
        }
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh abstract socket name, unique to this process and call: `@echokit-test-PID-N`.
pub fn abstract_name() -> String {
    format!(
        "@echokit-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The transports of [`Transport::ALL`] that `keep` selects and this machine has;
/// each one skipped is named on stderr with the reason.
pub fn transports(keep: impl Fn(Transport) -> bool) -> Vec<Transport> {
    Transport::ALL
        .into_iter()
        .filter(|&t| keep(t))
        .filter(|&t| match t.unavailable() {
            Some(why) => {
                eprintln!("skipping {}: {why}", t.name());
                false
            }
            None => true,
        })
        .collect()
}

/// Why IPv6 loopback cannot be used here, if it cannot (tried by binding `[::1]:0`).
pub fn ipv6_unavailable() -> Option<String> {
    if let Err(e) = TcpListener::bind("[::1]:0") {
        return Some(format!(
            "this machine has no IPv6 loopback (bind [::1]:0: {e})"
        ));
    }
    if let Err(e) = UdpSocket::bind("[::1]:0") {
        return Some(format!(
            "this machine has no IPv6 loopback (bind udp [::1]:0: {e})"
        ));
    }
    None
}

/// A fresh temp dir for socket files, under a short base so paths stay well below
/// the 107 usable bytes of `sun_path`.
pub fn temp_dir() -> tempfile::TempDir {
    let base = std::env::temp_dir();
    let base = if base.as_os_str().len() <= 40 {
        base
    } else {
        PathBuf::from("/tmp")
    };
    tempfile::Builder::new()
        .prefix("ek")
        .tempdir_in(base)
        .expect("create a temp dir")
}

/// A port nothing listens on right now (bound, then closed).
pub fn free_tcp_port(ip: &str) -> u16 {
    let listener = TcpListener::bind((ip, 0)).expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// A UDP port nothing is bound to right now (bound, then closed).
pub fn free_udp_port(ip: &str) -> u16 {
    let socket = UdpSocket::bind((ip, 0)).expect("bind udp port 0");
    socket.local_addr().expect("local addr").port()
}

/// Deterministic pseudo-random bytes (xorshift64*), different for each `seed`.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

// ---------------------------------------------------------------------------
// The tests' own sockets
// ---------------------------------------------------------------------------

/// A raw stream client of the tests: TCP or Unix (path or abstract), with timeouts.
pub enum RawStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl RawStream {
    /// Connects to a stream ready line (`tcp:127.0.0.1:P`, `unix:/path`, `unix:@name`).
    pub fn connect(ready: &str) -> RawStream {
        RawStream::try_connect(ready).unwrap_or_else(|e| panic!("connect to {ready}: {e}"))
    }

    /// Like [`RawStream::connect`], returning the error.
    pub fn try_connect(ready: &str) -> io::Result<RawStream> {
        let stream = if let Some(inet) = ready.strip_prefix("tcp:") {
            let addr: SocketAddr = inet
                .parse()
                .unwrap_or_else(|e| panic!("{inet:?} is not a socket address: {e}"));
            RawStream::Tcp(TcpStream::connect_timeout(&addr, IO_TIMEOUT)?)
        } else if let Some(name) = ready.strip_prefix("unix:@") {
            RawStream::Unix(connect_abstract(name)?)
        } else if let Some(path) = ready.strip_prefix("unix:") {
            RawStream::Unix(UnixStream::connect(path)?)
        } else {
            panic!("not a stream ready line: {ready:?}");
        };
        stream.set_timeouts(Some(IO_TIMEOUT))?;
        Ok(stream)
    }

    /// Sets both read and write timeouts.
    pub fn set_timeouts(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            RawStream::Tcp(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
            RawStream::Unix(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
        }
    }

    /// Another handle on the same socket.
    pub fn try_clone(&self) -> RawStream {
        match self {
            RawStream::Tcp(s) => RawStream::Tcp(s.try_clone().expect("clone")),
            RawStream::Unix(s) => RawStream::Unix(s.try_clone().expect("clone")),
        }
    }

    /// Shuts down our write side (half-close).
    pub fn shutdown_write(&self) {
        match self {
            RawStream::Tcp(s) => s.shutdown(Shutdown::Write),
            RawStream::Unix(s) => s.shutdown(Shutdown::Write),
        }
        .expect("shutdown(SHUT_WR)")
    }

    /// Our own address in the grammar, as the server logs peers (`127.0.0.1:40000`, `[::1]:40000`).
    pub fn local_text(&self) -> String {
        match self {
            RawStream::Tcp(s) => s.local_addr().expect("local addr").to_string(),
            RawStream::Unix(_) => "unix peer".to_string(),
        }
    }

    /// Non-blocking mode on or off.
    pub fn set_nonblocking(&self, on: bool) {
        match self {
            RawStream::Tcp(s) => s.set_nonblocking(on),
            RawStream::Unix(s) => s.set_nonblocking(on),
        }
        .expect("set_nonblocking")
    }

    /// The socket, for poll(2).
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            RawStream::Tcp(s) => s.as_fd(),
            RawStream::Unix(s) => s.as_fd(),
        }
    }

    /// Reads exactly `n` bytes (within the read timeout), or fails.
    pub fn read_n(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
        buf
    }

    /// Reads until EOF (within the read timeout per read), or fails.
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        self.read_to_end(&mut all)
            .unwrap_or_else(|e| panic!("reading to EOF after {} bytes: {e}", all.len()));
        all
    }
}

impl Read for RawStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            RawStream::Tcp(s) => s.read(buf),
            RawStream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for RawStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            RawStream::Tcp(s) => s.write(buf),
            RawStream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn connect_abstract(name: &str) -> io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    UnixStream::connect_addr(&addr)
}

#[cfg(not(target_os = "linux"))]
fn connect_abstract(_name: &str) -> io::Result<UnixStream> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets are Linux-only",
    ))
}

/// Waits at most `timeout` for `fd` to have `events`; true if it does.
pub fn poll_fd(
    fd: std::os::fd::BorrowedFd<'_>,
    events: nix::poll::PollFlags,
    timeout: Duration,
) -> bool {
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [nix::poll::PollFd::new(fd, events)];
    match nix::poll::poll(&mut fds, ms) {
        Ok(n) => n > 0,
        Err(nix::errno::Errno::EINTR) => false,
        Err(e) => panic!("poll: {e}"),
    }
}

/// Polls `connect` to `addr` until it succeeds or `timeout` passes: how a test
/// waits for a peer that prints no ready line (socat). Each round is a real
/// connect; between refusals it pauses 10 ms. `still_alive` stops the wait
/// early when the peer has exited (e.g. its port was taken meanwhile).
pub fn wait_accepting(
    addr: &str,
    timeout: Duration,
    mut still_alive: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !still_alive() {
            return false;
        }
        let ok = match addr.strip_prefix("unix:") {
            Some(path) => UnixStream::connect(path).is_ok(),
            None => {
                let target: SocketAddr = addr.parse().expect("socket address");
                TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok()
            }
        };
        if ok {
            return true;
        }
        // Refused at once: give the peer a moment before the next attempt.
        thread::sleep(Duration::from_millis(10));
    }
    false
}

/// A one-connection TCP peer whose behaviour a test writes: the stand-in for a
/// broken echo server. It accepts (within [`STEP`]) on 127.0.0.1, port 0.
pub struct FakePeer {
    pub addr: SocketAddr,
    handle: Option<JoinHandle<()>>,
}

impl FakePeer {
    /// Starts the peer; `behave` gets the accepted connection (with timeouts set).
    pub fn tcp(behave: impl FnOnce(TcpStream) + Send + 'static) -> FakePeer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let handle = thread::spawn(move || {
            if !poll_fd(listener.as_fd(), nix::poll::PollFlags::POLLIN, STEP) {
                return; // nobody came: the test itself reports why
            }
            let (stream, _) = listener.accept().expect("accept");
            stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
            stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
            behave(stream);
        });
        FakePeer {
            addr,
            handle: Some(handle),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr_text(&self) -> String {
        self.addr.to_string()
    }

    /// Waits (at most [`STEP`]) for the peer's thread and re-raises its panic, if any.
    pub fn finish(mut self) {
        let handle = self.handle.take().expect("joined once");
        let deadline = Instant::now() + STEP;
        while !handle.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert!(
            handle.is_finished(),
            "fake peer still running after {STEP:?}"
        );
        if let Err(panic) = handle.join() {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Reads from a fake peer's connection until the client half-closes.
pub fn read_until_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    stream
        .read_to_end(&mut all)
        .unwrap_or_else(|e| panic!("fake peer reading to EOF: {e}"));
    all
}

/// Sends an RST instead of a FIN when `stream` is dropped (SO_LINGER 0).
pub fn reset_on_drop(stream: &TcpStream) {
    socket2::SockRef::from(stream)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
}

/// Resident memory of process `pid` in KiB (Linux /proc), if it can be read.
pub fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A command running echokit as a user without privileges, so that
/// permission errors can be seen: as root, as `nobody` (uid/gid 65534), with
/// the binary copied into `dir` (made 0755) when the build directory is not
/// reachable by other users; as any other user, as that user.
pub fn echokit_unprivileged(dir: &Path) -> Command {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    if !is_root() {
        return Command::new(BIN);
    }
    let reachable = Path::new(BIN)
        .ancestors()
        .skip(1)
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    let program = if reachable {
        PathBuf::from(BIN)
    } else {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .expect("chmod 755 the temp dir");
        let copy = dir.join("echokit");
        std::fs::copy(BIN, &copy).expect("copy the binary for nobody");
        copy
    };
    let mut cmd = Command::new(program);
    cmd.uid(65534).gid(65534);
    cmd
}

/// Whether we are root (some tests drop to `nobody` to see permission errors).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
