//! `serve` tells a service manager how it is doing (SPEC §4 serve,
//! Readiness; sd_notify(3)): the test plays systemd's part, binding its own
//! Unix datagram socket in a temp dir and naming it in NOTIFY_SOCKET, then
//! reads what arrives there with a timeout on every read.
//!
//! The notification protocol is Linux's (systemd's); elsewhere `serve` says
//! "not supported on this platform" instead, so these tests run on Linux only.
#![cfg(target_os = "linux")]

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::util::{Proc, STEP, Server, echokit_command, poll_fd, send, temp_dir};

/// The service manager's end: a bound datagram socket and its temp dir.
struct NotifySocket {
    _dir: tempfile::TempDir,
    path: PathBuf,
    socket: UnixDatagram,
    /// Every datagram received so far, in order.
    seen: Vec<String>,
}

impl NotifySocket {
    fn new() -> NotifySocket {
        let dir = temp_dir();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket {
            _dir: dir,
            path,
            socket,
            seen: Vec::new(),
        }
    }

    /// The next datagram, or `None` if none arrives within `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<String> {
        // A zero timeout would mean "block forever" to set_read_timeout.
        let timeout = timeout.max(Duration::from_millis(1));
        self.socket.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(text.clone());
                Some(text)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("recv on the notify socket: {e}"),
        }
    }

    /// Reads datagrams until one holds the line `line`, for at most [`STEP`].
    fn expect(&mut self, line: &str, server: &mut Proc) -> String {
        let deadline = Instant::now() + STEP;
        while let Some(datagram) = self.next(deadline.saturating_duration_since(Instant::now())) {
            if has_line(&datagram, line) {
                return datagram;
            }
        }
        panic!(
            "no {line:?} on NOTIFY_SOCKET within {STEP:?}; seen: {:?}\n{}",
            self.seen,
            server.describe()
        );
    }

    /// How many datagrams seen so far hold the line `line`.
    fn count(&self, line: &str) -> usize {
        self.seen.iter().filter(|d| has_line(d, line)).count()
    }
}

/// sd_notify(3) datagrams are newline-separated `VARIABLE=value` lines.
fn has_line(datagram: &str, line: &str) -> bool {
    datagram.lines().any(|l| l == line)
}

/// `echokit serve 127.0.0.1:0` told about `notify` and the watchdog
/// variables given (`None` removes one from the environment).
fn serve(notify: Option<&NotifySocket>, usec: Option<&str>, pid: Option<&str>) -> Server {
    let mut cmd = echokit_command(&["serve", "127.0.0.1:0"]);
    for (name, value) in [
        ("NOTIFY_SOCKET", notify.map(|n| n.path.to_str().unwrap())),
        ("WATCHDOG_USEC", usec),
        ("WATCHDOG_PID", pid),
    ] {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    let mut proc = Proc::spawn(cmd);
    let ready = vec![proc.expect_line("the ready line")];
    Server { proc, ready }
}

/// One byte through `server`'s listener, so we know it serves.
fn assert_echoes(server: &Server) {
    send(&["-t", "5s", &server.addr(0), "hi"], b"", STEP).assert_echo(b"hi\n");
}

#[test]
fn ready_comes_after_the_ready_line_then_watchdog_pings_then_stopping_on_sigterm() {
    let mut notify = NotifySocket::new();
    // stdout is a pipe of our own, not read by a helper thread: when READY=1
    // arrives, the ready line must already be waiting in it.
    let (stdout_read, stdout_write) = nix::unistd::pipe().expect("pipe");
    let mut cmd = echokit_command(&["serve", "127.0.0.1:0"]);
    cmd.env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID");
    let mut server = Proc::spawn_with(cmd, Stdio::null(), Some(Stdio::from(stdout_write)));

    let ready = notify.expect("READY=1", &mut server);
    assert!(
        has_line(&ready, "STATUS=serving, 0 connections open"),
        "{ready:?}"
    );
    assert!(
        poll_fd(
            stdout_read.as_fd(),
            nix::poll::PollFlags::POLLIN,
            Duration::ZERO
        ),
        "READY=1 came before the ready line was printed\n{}",
        server.describe()
    );
    let mut stdout = std::fs::File::from(stdout_read);
    let mut buf = [0u8; 256];
    let n = stdout.read(&mut buf).expect("read the ready line");
    let line = String::from_utf8_lossy(&buf[..n]).trim_end().to_string();
    assert!(line.starts_with("tcp:127.0.0.1:"), "ready line {line:?}");
    send(&["-t", "5s", &line, "hi"], b"", STEP).assert_echo(b"hi\n");

    // WATCHDOG_USEC=200000: a ping every 100 ms, so at least two within a second.
    let before = notify.count("WATCHDOG=1");
    let deadline = Instant::now() + Duration::from_secs(1);
    while notify.count("WATCHDOG=1") < before + 2 {
        if notify
            .next(deadline.saturating_duration_since(Instant::now()))
            .is_none()
        {
            panic!(
                "fewer than two WATCHDOG=1 within 1s of READY=1; seen: {:?}\n{}",
                notify.seen,
                server.describe()
            );
        }
    }

    server.signal(Signal::SIGTERM);
    notify.expect("STOPPING=1", &mut server);
    assert_eq!(server.expect_exit(), 0, "{}", server.describe());
    assert_eq!(notify.count("READY=1"), 1, "{:?}", notify.seen);
}

#[test]
fn watchdog_pid_of_another_process_means_no_watchdog_pings() {
    let mut notify = NotifySocket::new();
    // pid 1 is never ours: the watchdog is meant for another process.
    let mut server = serve(Some(&notify), Some("200000"), Some("1"));
    notify.expect("READY=1", &mut server);
    assert_echoes(&server);
    // Were the watchdog ours, six pings would come in 600 ms.
    let deadline = Instant::now() + Duration::from_millis(600);
    while notify
        .next(deadline.saturating_duration_since(Instant::now()))
        .is_some()
    {}
    assert_eq!(notify.count("WATCHDOG=1"), 0, "{:?}", notify.seen);
    server.signal(Signal::SIGTERM);
    notify.expect("STOPPING=1", &mut server);
    assert_eq!(server.expect_exit(), 0, "{}", server.describe());
}

#[test]
fn status_tells_how_many_connections_are_open() {
    let mut notify = NotifySocket::new();
    let mut server = serve(Some(&notify), None, None);
    notify.expect("READY=1", &mut server);
    // An open connection that has been served, so the server has surely accepted it.
    let mut conn = crate::util::RawStream::connect(&server.ready[0]);
    std::io::Write::write_all(&mut conn, b"x").unwrap();
    assert_eq!(conn.read_n(1), b"x");
    notify.expect("STATUS=serving, 1 connection open", &mut server);
    drop(conn);
    notify.expect("STATUS=serving, 0 connections open", &mut server);
    // No WATCHDOG_USEC: no pings.
    assert_eq!(notify.count("WATCHDOG=1"), 0, "{:?}", notify.seen);
}

#[test]
fn without_notify_socket_serve_runs_as_ever() {
    let mut server = serve(None, Some("200000"), None);
    assert_echoes(&server);
    server.signal(Signal::SIGTERM);
    assert_eq!(server.expect_exit(), 0, "{}", server.describe());
    assert_eq!(server.stderr(), "");
}

#[test]
fn a_notify_socket_nobody_listens_on_is_one_line_and_serving_goes_on() {
    let notify = NotifySocket::new();
    std::fs::remove_file(&notify.path).unwrap();
    let mut server = serve(Some(&notify), None, None);
    server.expect_stderr(
        "echokit: cannot tell the service manager we are ready (NOTIFY_SOCKET): no such file or directory",
    );
    assert_echoes(&server);
    server.signal(Signal::SIGTERM);
    assert_eq!(server.expect_exit(), 0, "{}", server.describe());
}

/// Issue 15 point 7: `WATCHDOG_USEC=1` made the loop tick without pause and
/// send 188,196 `WATCHDOG=1` in 2 s; at most 100 a second, however small the
/// interval, and the server still serves.
#[test]
fn issue15_a_tiny_watchdog_interval_sends_at_most_100_pings_a_second() {
    let mut notify = NotifySocket::new();
    let mut server = serve(Some(&notify), Some("1"), None);
    notify.expect("READY=1", &mut server);
    let before = notify.count("WATCHDOG=1");
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline
        && notify
            .next(deadline.saturating_duration_since(Instant::now()))
            .is_some()
    {}
    let pings = notify.count("WATCHDOG=1") - before;
    assert!(
        (1..=110).contains(&pings),
        "{pings} WATCHDOG=1 in one second\n{}",
        server.describe()
    );
    assert_echoes(&server);
}
