//! One failure vocabulary for the clients (issue 17.5): `send` and `check`
//! say the same failure in the same words, `check`'s row without the address
//! the row already names. Each case is a peer nobody here wrote or a setup a
//! stranger meets: a socket file nobody serves, a plain file at the path, a
//! TCP server that accepts and never answers, a UDP server that answers with
//! a byte too many, and (in a network namespace, root only) loopback down.
//!
//! Every run has a deadline; all traffic stays on loopback and private paths.

use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;
use std::time::Duration;

use crate::util::{Run, STEP, echokit_within, in_netns, send, temp_dir};

/// `send`'s one error line for `addr`, as `check`'s row says it: without
/// `echokit: `, without the address, and after the payload's size (`1B
/// payload: `, `1B datagram: `) that the row puts first.
fn assert_same_words(sent: &Run, addr: &str, checked: &Run, row_prefix: &str) {
    let line = sent.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "send says it in one line\n{sent}");
    let line = line
        .strip_prefix("echokit: ")
        .unwrap_or_else(|| panic!("no echokit: prefix\n{sent}"));
    let without_address = line
        .replace(&format!("cannot connect to {addr}: "), "")
        .replace(&format!(" from {addr}"), "")
        .replace(&format!("echo from {addr} "), "echo ");
    assert_ne!(without_address, line, "send's line names {addr}\n{sent}");
    let row = checked
        .out()
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("no row\n{checked}"))
        .to_string();
    assert!(
        row.ends_with(&format!("  {row_prefix}{without_address}")),
        "check's row does not say what send says ({without_address:?})\n{row}\n{checked}\n{sent}"
    );
}

#[test]
fn a_stale_socket_file_and_a_plain_file_are_named_alike() {
    let dir = temp_dir();
    let stale = dir.path().join("stale.sock");
    drop(UnixListener::bind(&stale).expect("bind"));
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "not a socket").expect("write");
    for (path, reason) in [
        (
            &stale,
            "connection refused (a stale socket file: no process accepts on it)",
        ),
        (&plain, "not a socket (something else is at that path)"),
    ] {
        let addr = format!("unix:{}", path.display());
        let sent = send(&[&addr, "x"], b"", STEP);
        sent.assert_error(3, &format!("echokit: cannot connect to {addr}: {reason}"));
        let checked = echokit_within(&["check", &addr], b"", STEP);
        checked.assert_code(1);
        assert_same_words(&sent, &addr, &checked, "");
    }
}

#[test]
fn a_server_that_never_answers_times_out_alike() {
    // The kernel completes the handshake; nobody ever reads.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = format!("tcp:{}", silent.local_addr().expect("addr"));
    let sent = send(&["-n", "--timeout", "1s", &addr, "x"], b"", STEP);
    sent.assert_error(
        4,
        &format!("echokit: timed out waiting for the echo from {addr} (0 of 1 bytes came back)"),
    );
    let checked = echokit_within(&["check", "--timeout", "1s", &addr], b"", STEP);
    checked.assert_code(1);
    assert_same_words(&sent, &addr, &checked, "1B payload: ");
}

#[test]
fn a_datagram_reply_with_a_byte_too_many_is_named_alike() {
    // A UDP server nobody here wrote the engine of: every reply is the
    // datagram and one byte more, for a bounded number of datagrams.
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
    server
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let addr = format!("udp:{}", server.local_addr().expect("addr"));
    let answering = std::thread::spawn(move || {
        let mut buf = vec![0u8; 70_000];
        for _ in 0..2 {
            let Ok((n, from)) = server.recv_from(&mut buf) else {
                return;
            };
            buf[n] = b'!';
            let _ = server.send_to(&buf[..=n], from);
        }
    });
    let sent = send(&["-n", &addr, "x"], b"", STEP);
    sent.assert_code(1);
    assert!(
        sent.stderr.contains(&format!(
            "echo from {addr} is a datagram longer than what was sent: an extra byte at offset 1"
        )),
        "{sent}"
    );
    let checked = echokit_within(&["check", "--timeout", "2s", &addr], b"", STEP);
    checked.assert_code(1);
    assert_same_words(&sent, &addr, &checked, "1B datagram: ");
    answering.join().expect("the UDP server");
}

#[test]
fn loopback_down_names_the_fix_in_both() {
    const LIMIT: Duration = Duration::from_secs(30);
    let test = "client_failure::loopback_down_names_the_fix_in_both";
    // A fresh network namespace: `lo` exists and is down.
    let Some(sent) = in_netns(test, None, "true", &["send", "127.0.0.1:9", "x"], LIMIT) else {
        return;
    };
    sent.assert_error(
        3,
        "echokit: cannot connect to 127.0.0.1:9: network is unreachable (is the loopback interface up? ip link set lo up)",
    );
    let Some(checked) = in_netns(test, None, "true", &["check", "127.0.0.1:9"], LIMIT) else {
        return;
    };
    checked.assert_code(1);
    assert_same_words(&sent, "127.0.0.1:9", &checked, "");
}
