//! Sockets handed to `echokit serve` already made: `--inetd` (the socket is
//! stdin) and systemd socket activation (LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES).
//!
//! Passing a socket as fd 3 with LISTEN_PID set to the child's own pid needs a
//! fork between setting up and exec, which Python's `os` module does plainly;
//! where python3 is missing these tests say so and skip. The real thing,
//! systemd's own `systemd-socket-activate` (Debian's `systemd` package), runs
//! echokit the way a `.socket` unit would: several named fds, a datagram
//! socket, and one `--inetd` process per connection; where it is missing
//! those tests say so and skip.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::util::{
    BIN, Proc, RawStream, STEP, echokit_command, free_tcp_port, free_udp_port, have_program,
    python, send, skip, temp_dir, wait_with_timeout,
};

/// Waits for `child` within `limit` and collects its output; kills it and fails past that.
fn wait_output(mut child: Child, limit: Duration, what: &str) -> Output {
    if wait_with_timeout(&mut child, limit).is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.code().is_some(),
        "{what} did not finish within {limit:?}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn inetd_stream_socket_on_stdin_is_echoed_then_exits_0() {
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let child = echokit_command(&["serve", "--inetd"])
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    ours.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    ours.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let writer = {
        let mut w = ours.try_clone().unwrap();
        let payload = payload.clone();
        std::thread::spawn(move || {
            w.write_all(&payload).unwrap();
            w.shutdown(std::net::Shutdown::Write).unwrap();
        })
    };
    let mut echoed = Vec::new();
    ours.read_to_end(&mut echoed).unwrap();
    writer.join().unwrap();
    assert!(
        echoed == payload,
        "echo differs ({} of {} bytes)",
        echoed.len(),
        payload.len()
    );
    let out = wait_output(child, Duration::from_secs(10), "echokit serve --inetd");
    assert_eq!(out.status.code(), Some(0));
    // inetd hands the socket over as stdout too: nothing may be printed there.
    assert!(out.stdout.is_empty());
}

#[test]
fn inetd_without_a_socket_is_a_usage_error() {
    let child = echokit_command(&["serve", "--inetd"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = wait_output(child, Duration::from_secs(10), "echokit serve --inetd");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "echokit: --inetd needs a socket on stdin: socket operation on non-socket"
    );
}

/// Python: make a TCP listener and a UDP socket, fork, put them on fds 3 and 4
/// of the child with LISTEN_PID = the child's pid, exec `echokit serve`, then
/// read its ready lines, echo through each with `echokit send`, and SIGTERM it.
const ACTIVATE: &str = r#"
import os, socket, subprocess, sys, signal, select
binary, listen_pid_mode = sys.argv[1], sys.argv[2]
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM); l.bind(("127.0.0.1", 0)); l.listen(16)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
print("passed", "tcp:127.0.0.1:%d" % l.getsockname()[1], "udp:127.0.0.1:%d" % u.getsockname()[1], flush=True)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.dup2(w, 1)
    os.dup2(l.fileno(), 3); os.dup2(u.fileno(), 4)
    os.set_inheritable(3, True); os.set_inheritable(4, True)
    listen_pid = str(os.getpid()) if listen_pid_mode == "ours" else "1"
    env = dict(os.environ, LISTEN_PID=listen_pid, LISTEN_FDS="2", LISTEN_FDNAMES="echo:echo-udp")
    os.execve(binary, ["echokit", "serve", "-v", "127.0.0.1:0"], env)
os.close(w)
lines = []
buf = b""
while True:
    ready, _, _ = select.select([r], [], [], 10)
    if not ready:
        break
    chunk = os.read(r, 4096)
    if not chunk:
        break
    buf += chunk
    lines = buf.decode().split("\n")
    expected = 3 if listen_pid_mode == "ours" else 1
    if len(lines) > expected:
        break
lines = [x for x in lines if x]
for line in lines:
    print("ready", line, flush=True)
    res = subprocess.run([binary, "send", "-t", "5s", line, "hello"], capture_output=True, timeout=20)
    print("send", line, res.returncode, res.stdout.decode().strip(), flush=True)
os.kill(pid, signal.SIGTERM)
status = os.waitpid(pid, 0)[1]
print("exit", os.waitstatus_to_exitcode(status), flush=True)
"#;

/// The lines of the script's output that `what` (`ready`, `send`…) starts, without that word.
fn reported<'a>(text: &'a str, what: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(what)?.strip_prefix(' '))
        .collect()
}

fn activate(python: &str, mode: &str) -> String {
    let child = Command::new(python)
        .args(["-c", ACTIVATE, BIN, mode])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let out = wait_output(
        child,
        Duration::from_secs(60),
        "the socket-activation script",
    );
    assert!(
        out.status.success(),
        "script failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn socket_activation_serves_the_passed_sockets_and_binds_addrs_too() {
    let Some(python) = python() else { return };
    let text = activate(&python, "ours");
    let passed: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("passed "))
        .expect("passed line")
        .split(' ')
        .collect();
    let ready = reported(&text, "ready");
    assert_eq!(ready.len(), 3, "{text}");
    assert_eq!(&ready[..2], &passed[..], "{text}");
    assert!(ready[2].starts_with("tcp:127.0.0.1:"), "{text}");
    for line in &ready {
        assert!(
            text.contains(&format!("send {line} 0 hello")),
            "{line}: {text}"
        );
    }
    assert!(text.contains("exit 0"), "{text}");
}

#[test]
fn listen_pid_of_another_process_is_not_ours() {
    let Some(python) = python() else { return };
    let text = activate(&python, "other");
    let ready = reported(&text, "ready");
    assert_eq!(ready.len(), 1, "only the bound ADDR: {text}");
    assert!(
        text.contains(&format!("send {} 0 hello", ready[0])),
        "{text}"
    );
    assert!(text.contains("exit 0"), "{text}");
}

/// systemd's socket activator, or `None` having said why the test skips.
fn socket_activate(test: &str) -> Option<Command> {
    const TOOL: &str = "systemd-socket-activate";
    if !have_program(TOOL, &["--version"]) {
        skip(
            test,
            &format!("{TOOL} is not installed (Debian: apt-get install systemd)"),
        );
        return None;
    }
    Some(Command::new(TOOL))
}

/// A free loopback port for `systemd-socket-activate -l`: it takes no port 0
/// (it would say "Listening on 127.0.0.1:0" and nothing could learn the port
/// the kernel chose), so this is the one place a test picks a port first. The
/// port is bound and closed just before; a process taking it meanwhile makes
/// the activator fail to listen, a visible failure, never a wrong pass.
fn free_port(udp: bool) -> u16 {
    if udp {
        free_udp_port("127.0.0.1")
    } else {
        free_tcp_port("127.0.0.1")
    }
}

/// Starts `systemd-socket-activate ARGS…` (`cmd`) and waits until it has
/// said "Listening on … as N." for its last socket (fd 3 + `listeners` - 1):
/// the activator's own ready line. It execs (or, with `-a`, forks) echokit
/// only when the first connection or datagram arrives, so the caller makes one next.
fn activator(cmd: Command, listeners: usize) -> Proc {
    let mut proc = Proc::spawn(cmd);
    let last = format!(" as {}.", 2 + listeners);
    if !proc.wait_stderr(&last, STEP) {
        panic!(
            "the activator did not listen within {STEP:?}\n{}",
            proc.describe()
        );
    }
    proc
}

/// Writes `payload` on a new connection to `ready` (from a thread of its own,
/// so a payload larger than the socket buffers cannot deadlock), half-closes,
/// and reads the echo to EOF, every step under the stream's 10 s timeouts.
fn echo_over(ready: &str, payload: &[u8]) -> Vec<u8> {
    let mut conn = RawStream::connect(ready);
    let mut writer = conn.try_clone();
    let bytes = payload.to_vec();
    let writing = std::thread::spawn(move || {
        writer.write_all(&bytes).expect("write the payload");
        writer.shutdown_write();
    });
    let echoed = conn.read_to_eof();
    writing.join().expect("the writer thread");
    echoed
}

#[test]
fn systemd_socket_activate_passes_several_named_stream_sockets() {
    let test = "systemd_socket_activate_passes_several_named_stream_sockets";
    let Some(mut cmd) = socket_activate(test) else {
        return;
    };
    let dir = temp_dir();
    let path = dir.path().join("echo.sock");
    let (one, two) = (free_port(false), free_port(false));
    let expected = [
        format!("tcp:127.0.0.1:{one}"),
        format!("tcp:127.0.0.1:{two}"),
        format!("unix:{}", path.display()),
    ];
    cmd.args(["-l", &format!("127.0.0.1:{one}")])
        .args(["-l", &format!("127.0.0.1:{two}")])
        .arg("-l")
        .arg(&path)
        .args(["--fdname=echo:echo-too:echo-unix", BIN, "serve", "-v"]);
    let mut server = activator(cmd, 3);
    // The first connection makes the activator exec echokit, which then finds
    // it queued on fd 3 and echoes it.
    assert_eq!(echo_over(&expected[0], b"first\n"), b"first\n");
    let ready: Vec<String> = (1..=3)
        .map(|i| server.expect_line(&format!("ready line {i} of 3")))
        .collect();
    assert_eq!(ready, expected, "{}", server.describe());
    for (line, name) in expected.iter().zip(["echo", "echo-too", "echo-unix"]) {
        server.expect_stderr(&format!(
            "echokit: {line}: passed by socket activation as \"{name}\""
        ));
        send(&["-t", "5s", line, "hello"], b"", STEP).assert_echo(b"hello\n");
    }
    // The activator exec'd echokit in its own process: this pid is echokit now.
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(server.expect_exit(), 0, "{}", server.describe());
}

#[test]
fn systemd_socket_activate_passes_a_datagram_socket() {
    let test = "systemd_socket_activate_passes_a_datagram_socket";
    let Some(mut cmd) = socket_activate(test) else {
        return;
    };
    let port = free_port(true);
    cmd.args([
        "-d",
        "-l",
        &format!("127.0.0.1:{port}"),
        "--fdname=echo-udp",
        BIN,
        "serve",
    ]);
    let mut server = activator(cmd, 1);
    // The first datagram wakes the activator; echokit reads it once exec'd.
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(STEP)).unwrap();
    client.send_to(b"ping", ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = client
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no echo of the first datagram: {e}\n{}", server.describe()));
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(from.port(), port);
    let ready = server.expect_line("the ready line");
    assert_eq!(ready, format!("udp:127.0.0.1:{port}"));
    send(&["-t", "5s", &ready, "hello"], b"", STEP).assert_echo(b"hello\n");
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(server.expect_exit(), 0, "{}", server.describe());
}

#[test]
fn systemd_socket_activate_accept_runs_serve_inetd_per_connection() {
    let test = "systemd_socket_activate_accept_runs_serve_inetd_per_connection";
    let Some(mut cmd) = socket_activate(test) else {
        return;
    };
    let port = free_port(false);
    cmd.args([
        "-a",
        "--inetd",
        "-l",
        &format!("127.0.0.1:{port}"),
        BIN,
        "serve",
        "--inetd",
    ]);
    let mut activator = activator(cmd, 1);
    let ready = format!("tcp:127.0.0.1:{port}");
    // Each connection is its own `echokit serve --inetd`, forked when it
    // arrives: two in turn, one larger than the socket buffers.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    for payload in [b"one connection\n".to_vec(), big] {
        let echoed = echo_over(&ready, &payload);
        crate::util::assert_same_bytes(&echoed, &payload, &activator.describe());
    }
    // Each connection had a process of its own; the activator itself lives on.
    activator.assert_running("after serving two connections");
}

/// Python: make one fd of `kind`, fork, put it on fd 3 of the child with
/// LISTEN_PID = the child's pid and the given LISTEN_FDS, exec `echokit serve`
/// (stdout and stderr are ours), and print its exit code; a child still
/// running after 10 s is killed and printed as "exit timeout".
const PASS_ONE: &str = r#"
import os, socket, sys, time, signal
binary, kind, listen_fds = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "tcp-bound":
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.bind(("127.0.0.1", 0))
elif kind == "tcp-listening":
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.bind(("127.0.0.1", 0)); s.listen(4)
elif kind == "unix-unbound":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
elif kind == "unixgram-unbound":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
elif kind == "packet":
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
    except (PermissionError, AttributeError, OSError) as e:
        print("skip", e, flush=True); sys.exit(0)
elif kind == "file":
    s = open("/dev/null", "rb")
sys.stdout.flush()
pid = os.fork()
if pid == 0:
    os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
    env = dict(os.environ, LISTEN_PID=str(os.getpid()), LISTEN_FDS=listen_fds, LISTEN_FDNAMES="web")
    os.execve(binary, ["echokit", "serve"], env)
deadline = time.time() + 10
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("exit", os.waitstatus_to_exitcode(status), flush=True)
        break
    if time.time() > deadline:
        os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
        print("exit timeout", flush=True)
        break
    time.sleep(0.01)
"#;

/// Runs [`PASS_ONE`]: (stdout, stderr), or `None` when the kind cannot be made here.
fn pass_one(python: &str, kind: &str, listen_fds: &str) -> Option<(String, String)> {
    let child = Command::new(python)
        .args(["-c", PASS_ONE, BIN, kind, listen_fds])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let out = wait_output(child, Duration::from_secs(30), "the fd-passing script");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if let Some(why) = stdout.strip_prefix("skip ") {
        skip(kind, why.trim());
        return None;
    }
    Some((stdout, stderr))
}

/// Issue 15 point 7: with LISTEN_PID ours, a passed fd echokit cannot serve
/// printed a ready line and served nothing (a bound TCP socket never
/// listen(2)ed), or was shown as `unix:(unnamed)` or, for AF_PACKET, as
/// `unixgram:(unnamed)`. Each is refused: exit 5 naming the fd and its name.
#[test]
fn issue15_a_passed_fd_that_cannot_be_served_is_refused_naming_it() {
    let Some(python) = python() else { return };
    let fd3 = r#"echokit: cannot listen on fd 3 (LISTEN_FDNAMES "web"): "#;
    for (kind, why) in [
        (
            "tcp-bound",
            "a stream socket that is not listening (listen(2) was never called; for one connection use serve --inetd)",
        ),
        (
            "unix-unbound",
            "a stream socket that is not listening (listen(2) was never called; for one connection use serve --inetd)",
        ),
        (
            "unixgram-unbound",
            "a datagram socket that is not bound to an address",
        ),
        (
            "packet",
            "an AF_PACKET socket; echokit serves AF_INET, AF_INET6 and AF_UNIX",
        ),
        ("file", "not a socket"),
    ] {
        let Some((stdout, stderr)) = pass_one(&python, kind, "1") else {
            continue;
        };
        assert_eq!(
            stdout, "exit 5\n",
            "{kind}: nothing served, no ready line\n{stderr}"
        );
        assert_eq!(stderr, format!("{fd3}{why}\n"), "{kind}");
    }
}

/// Issue 15 point 7: a LISTEN_FDS that is not a count was ignored and
/// `localhost:5000` bound instead; it is exit 2 naming the variable.
#[test]
fn issue15_listen_fds_that_is_not_a_count_is_a_usage_error() {
    let Some(python) = python() else { return };
    for value in ["99999999999", " 1x", "", "-1"] {
        let Some((stdout, stderr)) = pass_one(&python, "tcp-listening", value) else {
            return;
        };
        assert_eq!(stdout, "exit 2\n", "LISTEN_FDS={value:?}\n{stderr}");
        assert_eq!(
            stderr,
            format!("echokit: LISTEN_FDS is not a count of file descriptors: {value:?}\n"),
        );
    }
}
