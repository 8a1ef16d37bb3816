//! Issue 15, broken and full outputs (SPEC §5): a closed stderr loses the
//! message but never the exit code, and never panics; stdout that cannot be
//! written (`/dev/full`) is exit 6 with one line naming what could not be
//! written. A reader of stdout that goes away (`| head`) is not a failure:
//! `send` keeps verifying (tests/suite/send.rs).

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::util::*;

/// The write end of a pipe whose read end is already closed: every write
/// gets EPIPE (SIGPIPE, were it not ignored).
fn closed_pipe() -> Stdio {
    let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe().expect("pipe");
    drop(read);
    Stdio::from(write)
}

/// Runs `cmd` with stderr a closed pipe and stdout collected; returns the exit code.
fn run_with_closed_stderr(mut cmd: Command) -> i32 {
    let text = command_text(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(closed_pipe());
    let mut child = cmd.spawn().expect("spawn");
    match wait_with_timeout(&mut child, STEP) {
        Some(status) => status
            .code()
            .unwrap_or_else(|| panic!("{text}: ended by a signal: {status}")),
        None => {
            let _ = child.kill();
            panic!("{text}: still running after {STEP:?}");
        }
    }
}

#[test]
fn issue15_a_closed_stderr_keeps_every_exit_code() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing");
    let missing = missing.to_str().expect("utf-8 path");
    let cases: &[(&[&str], i32)] = &[
        // A usage error from clap's parser, and one from a value.
        (&["send"], 2),
        (&["send", "127.0.0.1:1", "--timeout", "1e19", "hi"], 2),
        (&["send", "127.0.0.1:1", "hi"], 3),
        (&["send", "-v", "127.0.0.1:1", "hi"], 3),
        (&["check", "--require", "nonsense"], 2),
        (&["check", "-v", "127.0.0.1:1"], 1),
        (&["bench", "127.0.0.1:1", "-d", "100ms"], 3),
        (&["resolve", "localhost", "no-such-service-here"], 2),
        (&["serve", "127.0.0.1:1", "no:such"], 2),
        (&["generate", "man", missing], 2),
    ];
    for (args, code) in cases {
        let got = run_with_closed_stderr(echokit_command(args));
        assert_eq!(got, *code, "echokit {args:?} with stderr closed");
    }
}

/// `serve -v` logs each connection on stderr: with stderr closed, every
/// connection still gets its echo and SIGTERM still ends it with 0.
#[test]
fn issue15_serve_logs_into_a_closed_stderr_and_keeps_serving() {
    let mut cmd = echokit_command(&["serve", "-v", "127.0.0.1:0"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(closed_pipe());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut ready = Vec::new();
    let mut byte = [0u8; 1];
    // The ready line, byte by byte (the pipe read blocks only until serve writes it).
    while !ready.ends_with(b"\n") {
        match stdout.read(&mut byte) {
            Ok(1) => ready.push(byte[0]),
            _ => panic!("no ready line; serve ended: {:?}", child.try_wait()),
        }
    }
    let ready = String::from_utf8(ready).expect("utf-8");
    let addr = ready.trim().to_string();
    for message in ["one", "two", "three"] {
        let run = echokit(&["send", &addr, message], b"");
        run.assert_code(0);
    }
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "serve ended after the connections were logged: {:?}",
        child.try_wait()
    );
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGTERM).expect("kill -TERM");
    let status = wait_with_timeout(&mut child, STEP).expect("serve exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status}");
}

/// /dev/full for stdout, or `None` (saying so) where there is none.
fn dev_full() -> Option<File> {
    match std::fs::OpenOptions::new().write(true).open("/dev/full") {
        Ok(file) => Some(file),
        Err(e) => {
            eprintln!("skipping: no /dev/full here ({e})");
            None
        }
    }
}

/// Runs `echokit ARGS` with stdout on /dev/full; returns (exit code, stderr).
fn run_into_full_disk(args: &[&str]) -> Option<(i32, String)> {
    let full = dev_full()?;
    let mut cmd = echokit_command(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = wait_with_timeout(&mut child, Duration::from_secs(20));
    let Some(status) = status else {
        let _ = child.kill();
        panic!("echokit {args:?} > /dev/full: still running after 20s");
    };
    let stderr = reader.join().expect("stderr reader");
    Some((status.code().unwrap_or(-1), stderr))
}

#[test]
fn issue15_stdout_on_a_full_disk_is_exit_6_naming_stdout() {
    let server = Server::start(&["127.0.0.1:0"], 1);
    let addr = server.addr(0);
    let line = "echokit: cannot write to stdout: no space left on device\n";
    let cases: &[&[&str]] = &[
        &["resolve", "127.0.0.1", "80"],
        &["resolve", "--json", "127.0.0.1", "80"],
        &["check", &addr],
        &["check", "--json", &addr],
        &["send", &addr, "hi"],
        &["send", "--json", &addr, "hi"],
        &["send", "-c", "1", "-i", "10ms", &addr],
        &["bench", &addr, "-d", "100ms", "-c", "1"],
        &["bench", "--json", &addr, "-d", "100ms", "-c", "1"],
        &["serve", "127.0.0.1:0"],
        &["serve", "--json", "127.0.0.1:0"],
        &["--help"],
        &["--version"],
        &["send", "--help"],
    ];
    for args in cases {
        let Some((code, stderr)) = run_into_full_disk(args) else {
            return;
        };
        assert_eq!(
            (code, stderr.as_str()),
            (6, line),
            "echokit {args:?} > /dev/full"
        );
    }
    let Some((code, stderr)) = run_into_full_disk(&["generate", "completions", "bash"]) else {
        return;
    };
    assert_eq!(
        (code, stderr.as_str()),
        (
            6,
            "echokit: cannot write the completion script: no space left on device\n"
        )
    );
}

/// A failed run still reports its own error, not the stdout one: a refused
/// connection is exit 3 whatever stdout is.
#[test]
fn issue15_an_error_before_any_output_keeps_its_exit_code_on_a_full_disk() {
    let Some((code, stderr)) = run_into_full_disk(&["send", "127.0.0.1:1", "hi"]) else {
        return;
    };
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.starts_with("echokit: cannot connect to 127.0.0.1:1: "),
        "{stderr}"
    );
}

/// A reader that leaves stdout (`| head`) is not a failure: the echo is
/// still verified and the exit code says whether it was right (SPEC §5).
#[test]
fn issue15_send_into_a_closed_stdout_keeps_verifying() {
    let server = Server::start(&["127.0.0.1:0"], 1);
    let addr = server.addr(0);
    let mut cmd = echokit_command(&["send", &addr]);
    cmd.stdin(Stdio::piped())
        .stdout(closed_pipe())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&vec![b'x'; 1 << 20]);
    });
    let status = wait_with_timeout(&mut child, STEP).expect("send ends");
    writer.join().expect("writer");
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    assert_eq!((status.code(), stderr.as_str()), (Some(0), ""));
    // And the server really saw the whole exchange: another one works.
    let mut conn = TcpStream::connect(addr.trim_start_matches("tcp:")).expect("connect");
    conn.write_all(b"x").expect("write");
}
