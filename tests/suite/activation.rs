//! Sockets handed to `echokit serve` already made: `--inetd` (the socket is
//! stdin) and systemd socket activation (LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES).
//!
//! Passing a socket as fd 3 with LISTEN_PID set to the child's own pid needs a
//! fork between setting up and exec, which Python's `os` module does plainly;
//! where python3 is missing these tests say so and skip.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::util::{BIN, echokit_command, python, wait_with_timeout};

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
