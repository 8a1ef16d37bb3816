//! Running the binary under test: background processes ([`Proc`], [`Server`])
//! whose ready lines are read before a deadline and which are killed by their
//! own pid on drop, and one-shot commands ([`run_cmd`], [`echokit`], [`send`])
//! run with given stdin and a timeout, handing back a [`Run`].
//!
//! Output is read on helper threads and handed over through channels
//! (`recv_timeout`) or a condvar (`wait_timeout`); child waits poll
//! `try_wait` against a deadline. A failure message prints the command, its
//! exit status, stdout and stderr. Nothing here sleeps to wait for a server:
//! a server is ready once its ready line has been read.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::Transport;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_echokit");

/// The most any one step may take before the test fails: a hung step, never an expected wait.
pub const STEP: Duration = Duration::from_secs(10);

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

    /// Everything on stderr so far; once the child has been seen to exit,
    /// everything it wrote (the reader thread may still be catching up, so
    /// this waits, at most [`STEP`], for the pipe to close).
    pub fn stderr(&self) -> String {
        let bytes = if self.status.is_some() {
            self.stderr.finish(STEP)
        } else {
            self.stderr.snapshot()
        };
        String::from_utf8_lossy(&bytes).into_owned()
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
        let _ = write!(text, "stderr:\n{}", show_bytes(self.stderr().as_bytes()));
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
        let mut cmd = echokit_command(&["serve"]);
        cmd.args(args);
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

    /// Fails unless it exited `code` with exactly `line` on stderr (stdout unchecked).
    pub fn assert_stderr_line(&self, code: i32, line: &str) -> &Run {
        self.assert_code(code);
        assert_eq!(
            self.stderr,
            format!("{line}\n"),
            "wrong stderr\n{}",
            self.describe()
        );
        self
    }

    /// Fails unless it exited `code`, printed nothing on stdout, and exactly `line` on stderr.
    pub fn assert_error(&self, code: i32, line: &str) -> &Run {
        self.assert_stderr_line(code, line);
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

impl std::fmt::Display for Run {
    /// The same text as [`Run::describe`], so `"{run}"` fits a failure message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
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

/// `echokit ARGS…`, to run with [`run_cmd`] or [`Proc::spawn`].
pub fn echokit_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    cmd
}

/// Runs `echokit ARGS…` with `stdin`, within [`STEP`].
pub fn echokit(args: &[&str], stdin: &[u8]) -> Run {
    echokit_within(args, stdin, STEP)
}

/// Runs `echokit ARGS…` with `stdin`, failing if it takes longer than `timeout`.
pub fn echokit_within(args: &[&str], stdin: &[u8], timeout: Duration) -> Run {
    run_cmd(echokit_command(args), stdin, timeout)
}

/// Runs `echokit send ARGS…` with `stdin`, failing if it takes longer than `timeout`.
/// [`Run::parts`] gives (status code, stdout bytes, stderr string).
pub fn send(args: &[&str], stdin: &[u8], timeout: Duration) -> Run {
    let mut cmd = echokit_command(&["send"]);
    cmd.args(args);
    run_cmd(cmd, stdin, timeout)
}

/// Whether `program` can be run here (`program ARGS` starts and exits within [`STEP`]).
pub fn have_program(program: &str, args: &[&str]) -> bool {
    try_program(program, args).is_some()
}

/// Whether `program ARGS` starts and exits 0 within [`STEP`].
pub fn program_succeeds(program: &str, args: &[&str]) -> bool {
    try_program(program, args).is_some_and(|status| status.success())
}

/// Runs `program ARGS` with no input or output; its status, or `None` if it
/// cannot start or is still running after [`STEP`] (then it is killed).
fn try_program(program: &str, args: &[&str]) -> Option<ExitStatus> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().ok()?;
    let status = wait_with_timeout(&mut child, STEP);
    if status.is_none() {
        let _ = child.kill();
        let _ = wait_with_timeout(&mut child, STEP);
    }
    status
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

/// `echokit serve ARGS` under `ulimit -n LIMIT` (through bash), and the
/// `host:port` of its one TCP ready line.
pub fn serve_with_open_files_limit(limit: u32, args: &str) -> (Proc, String) {
    let script = format!("ulimit -n {limit} && exec '{BIN}' serve {args}");
    let mut cmd = Command::new("bash");
    cmd.args(["-c", &script]);
    let mut proc = Proc::spawn(cmd);
    let ready = proc.expect_line("the ready line");
    let addr = ready
        .strip_prefix("tcp:")
        .unwrap_or_else(|| panic!("a tcp ready line, not {ready:?}"))
        .to_string();
    (proc, addr)
}
