//! `echokit send` against `echokit serve` (and against hand-written broken
//! peers), the real binary over real sockets: payload sizes on every
//! transport, the message forms, every exit code of SPEC §5 with its exact
//! stderr line, and the repeat (`--count`), `--json` and `-v` outputs.
//!
//! Tests named `issue2_…` pin what issue 2 (the foundation) asked for.

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;
use std::time::Duration;

use crate::util::*;

/// A `--timeout` short enough to keep the suite fast, long enough for loopback.
const SHORT: &str = "300ms";

// ---------------------------------------------------------------------------
// Payloads on every transport
// ---------------------------------------------------------------------------

/// For each transport `keep` selects (and this machine has): serve it with
/// `flags`, send `payload(t)` on stdin, and expect exactly that echo, exit 0.
fn assert_round_trips(
    keep: impl Fn(Transport) -> bool,
    flags: &[&str],
    payload: impl Fn(Transport) -> Vec<u8>,
) {
    let dir = temp_dir();
    for t in transports(keep) {
        let server = Server::on(t, dir.path(), flags);
        let payload = payload(t);
        send(&[&server.addr(0)], &payload, STEP).assert_echo(&payload);
    }
}

/// The classroom bug: a client that stops at a "short read" hangs on a message
/// whose length is a multiple of the buffer size. With `--buffer-size 8` on
/// both sides, 8, 16 and 64 bytes must come back and the client must exit.
#[test]
fn issue2_one_byte_and_exact_multiples_of_the_buffer_size_on_every_transport() {
    let dir = temp_dir();
    for t in transports(|_| true) {
        // A server that keeps message boundaries holds each message whole in
        // its buffer (a larger one is dropped, SPEC §3): 64, so the largest
        // payload fits exactly.
        let server_buffer = if t.keeps_boundaries() { "64" } else { "8" };
        let server = Server::on(t, dir.path(), &["--buffer-size", server_buffer]);
        let addr = server.addr(0);
        for len in [1usize, 8, 16, 64] {
            let payload = random_bytes(len, len as u64);
            send(&["--buffer-size", "8", &addr], &payload, STEP).assert_echo(&payload);
        }
    }
}

/// `echokit send ADDR <f | cmp - f` holds for 4 MiB of random bytes: more than
/// the socket buffers hold, so a client that did not write and read at once
/// would deadlock.
#[test]
fn issue2_four_mib_of_random_bytes_through_stdin_come_back_byte_for_byte() {
    let payload = random_bytes(4 << 20, 4);
    assert_round_trips(Transport::is_byte_stream, &[], |_| payload.clone());
}

#[test]
fn issue2_largest_udp_datagrams_round_trip_whole() {
    assert_round_trips(
        |t| t.is_inet() && t.keeps_boundaries(),
        &[],
        |t| {
            let max = t.max_message().expect("a UDP transport");
            random_bytes(max, max as u64)
        },
    );
}

/// SPEC §3: Unix datagrams and seqpacket messages carry more than UDP's 65,507 bytes.
#[test]
fn unix_messages_larger_than_udp_allows_round_trip_whole() {
    let payload = random_bytes(100_000, 100);
    assert_round_trips(
        |t| t.keeps_boundaries() && !t.is_inet(),
        &["--buffer-size", "128KiB"],
        |_| payload.clone(),
    );
}

/// SPEC §2/§3: a message larger than the transport carries is exit 2 naming
/// the limit, on every transport that keeps message boundaries (UDP datagrams,
/// Unix datagrams, seqpacket messages; SPEC §3: "larger than the socket can
/// carry: exit 2"), with the limit the library's model gives.
#[test]
fn issue2_a_datagram_one_byte_over_the_maximum_exits_2_naming_the_limit() {
    let dir = temp_dir();
    for t in transports(Transport::keeps_boundaries) {
        let max = t.max_message().expect("a transport that keeps boundaries");
        let server = Server::on(t, dir.path(), &[]);
        let name = t.model.name();
        let noun = if t.accepts_connections() {
            "message"
        } else {
            "datagram"
        };
        // One byte over, and far over: the message names the real size either way.
        for len in [max + 1, 300_000] {
            let payload = random_bytes(len, 1);
            send(&[&server.addr(0)], &payload, STEP).assert_error(
                2,
                &format!(
                    "echokit: message is {len} bytes; a {name} {noun} carries at most {max} bytes"
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------
// What is sent: MESSAGE words, -n, --file, stdin
// ---------------------------------------------------------------------------

#[test]
fn issue2_message_words_are_joined_by_spaces_plus_a_newline_on_every_transport() {
    let dir = temp_dir();
    let words = [
        "This",
        "is",
        "a",
        "fancy",
        "message,",
        "containing",
        "über-important",
        "information",
    ];
    let want = "This is a fancy message, containing über-important information\n";
    for t in transports(|_| true) {
        let server = Server::on(t, dir.path(), &[]);
        let addr = server.addr(0);
        let mut args = vec![addr.as_str()];
        args.extend(words);
        send(&args, b"ignored stdin", STEP).assert_echo(want.as_bytes());
    }
}

#[test]
fn dash_n_omits_the_newline() {
    let dir = temp_dir();
    for t in transports(|_| true) {
        let server = Server::on(t, dir.path(), &[]);
        send(&["-n", &server.addr(0), "no", "newline"], b"", STEP).assert_echo(b"no newline");
    }
}

#[test]
fn file_sends_the_file_byte_for_byte() {
    let dir = temp_dir();
    for t in transports(|_| true) {
        let len = if t.keeps_boundaries() { 1000 } else { 300_000 };
        let payload = random_bytes(len, 7);
        let file = dir
            .path()
            .join(format!("payload-{}", t.name().replace(' ', "-")));
        std::fs::write(&file, &payload).expect("write payload file");
        let server = Server::on(t, dir.path(), &[]);
        let file = file.display().to_string();
        send(&["--file", &file, &server.addr(0)], b"", STEP).assert_echo(&payload);
        send(&["-f", &file, &server.addr(0)], b"", STEP).assert_echo(&payload);
    }
}

/// SPEC §4: empty input is a valid exchange — exit 0, nothing printed.
#[test]
fn issue2_empty_stdin_exits_0_and_prints_nothing_on_every_transport() {
    assert_round_trips(|_| true, &[], |_| Vec::new());
}

#[test]
fn a_file_that_cannot_be_read_is_one_error_line() {
    let dir = temp_dir();
    let server = Server::on(Transport::TCP4, dir.path(), &[]);
    let missing = dir.path().join("missing");
    let missing = missing.display().to_string();
    // SPEC §5 does not name this case; a file the user named that cannot be
    // read is bad input: exit 2, before any connection is made.
    send(&["--file", &missing, &server.addr(0)], b"", STEP).assert_error(
        2,
        &format!("echokit: cannot read {missing}: no such file or directory"),
    );
}

#[test]
fn send_to_colon_port_means_localhost() {
    let dir = temp_dir();
    let server = Server::on(Transport::TCP4, dir.path(), &[]);
    let addr = format!(":{}", server.port(0));
    send(&[&addr, "hi"], b"", STEP).assert_echo(b"hi\n");
}

// ---------------------------------------------------------------------------
// Exit 1: the echo differs or ends early
// ---------------------------------------------------------------------------

const HELLO: &[u8] = b"hello world\n";

#[test]
fn issue2_an_echo_with_one_byte_changed_exits_1_naming_the_offset_and_both_bytes() {
    let peer = FakePeer::tcp(|mut s| {
        let mut got = read_until_eof(&mut s);
        got[4] = b'O';
        s.write_all(&got).expect("write the bad echo");
    });
    let addr = peer.addr_text();
    let run = send(&[&addr], HELLO, STEP);
    run.assert_stderr_line(
        1,
        &format!(
            "echokit: echo from {addr} differs at byte 4: sent 0x6f ('o'), received 0x4f ('O')"
        ),
    );
    assert!(
        HELLO.starts_with(&run.stdout) && run.stdout.len() <= 4,
        "only verified bytes may reach stdout\n{}",
        run.describe()
    );
    peer.finish();
}

#[test]
fn issue2_an_echo_that_ends_early_exits_1_with_the_count() {
    let peer = FakePeer::tcp(|mut s| {
        let got = read_until_eof(&mut s);
        s.write_all(&got[..5]).expect("write half the echo");
        // Dropping the stream sends a FIN: the echo ends after 5 bytes.
    });
    let addr = peer.addr_text();
    let run = send(&[&addr], HELLO, STEP);
    run.assert_stderr_line(1, &format!("echokit: echo from {addr} ended early: 5 of 12 bytes came back (connection closed by the peer)"));
    assert_same_bytes(&run.stdout, &HELLO[..5], &run.describe());
    peer.finish();
}

#[test]
fn issue2_a_reset_instead_of_the_echo_exits_1() {
    let peer = FakePeer::tcp(|mut s| {
        read_until_eof(&mut s);
        reset_on_drop(&s);
    });
    let addr = peer.addr_text();
    send(&[&addr], HELLO, STEP).assert_error(
        1,
        &format!(
            "echokit: echo from {addr} ended early: 0 of 12 bytes came back (connection reset by peer)"
        ),
    );
    peer.finish();
}

/// SPEC §4: "including a reset mid-exchange" — the peer resets while the client
/// is still writing a payload larger than the socket buffers.
#[test]
fn issue2_a_reset_mid_exchange_exits_1() {
    let peer = FakePeer::tcp(|mut s| {
        let mut first = [0u8; 1024];
        std::io::Read::read_exact(&mut s, &mut first).expect("read the first KiB");
        reset_on_drop(&s);
    });
    let addr = peer.addr_text();
    let payload = random_bytes(8 << 20, 8);
    let run = send(&[&addr], &payload, STEP);
    run.assert_code(1);
    let prefix = format!("echokit: echo from {addr} ended early: 0 of ");
    assert!(
        run.stderr.starts_with(&prefix)
            && (run
                .stderr
                .ends_with(" bytes came back (connection reset by peer)\n")
                || run.stderr.ends_with(" bytes came back (broken pipe)\n"))
            && run.stderr.lines().count() == 1,
        "want one line {prefix}N bytes came back (connection reset by peer)\n{}",
        run.describe()
    );
    peer.finish();
}

#[test]
fn an_echo_longer_than_what_was_sent_exits_1() {
    let peer = FakePeer::tcp(|mut s| {
        let mut got = read_until_eof(&mut s);
        got.push(b'!');
        // One write, so the extra byte arrives with the echo.
        s.write_all(&got).expect("write the long echo");
    });
    let addr = peer.addr_text();
    let run = send(&[&addr], HELLO, STEP);
    run.assert_stderr_line(
        1,
        &format!(
            "echokit: echo from {addr} is longer than what was sent: an extra byte at offset 12"
        ),
    );
    peer.finish();
}

// ---------------------------------------------------------------------------
// Exit 2: bad addresses and bad flags
// ---------------------------------------------------------------------------

#[test]
fn issue2_bad_addresses_exit_2_naming_the_bad_part() {
    for (args, line) in bad_addresses() {
        let mut full: Vec<&str> = args.iter().map(String::as_str).collect();
        full.push("hi");
        send(&full, b"", STEP).assert_error(2, &line);
    }
}

#[test]
fn bad_flags_exit_2_with_one_line_and_a_usage_hint() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["--bogus", "127.0.0.1:1"],
            "echokit: unexpected argument '--bogus' found",
        ),
        (
            &[],
            "echokit: the following required arguments were not provided:",
        ),
        (
            &["--timeout", "soon", "127.0.0.1:1", "x"],
            "echokit: invalid value 'soon' for '--timeout <DURATION>': expected number at 0 (durations look like 500ms, 2s, 1m30s)",
        ),
        (
            &["--buffer-size", "0", "127.0.0.1:1", "x"],
            "echokit: invalid value '0' for '--buffer-size <SIZE>': size must be at least 1 byte",
        ),
        (
            &["-4", "-6", "127.0.0.1:1", "x"],
            "echokit: the argument '-4' cannot be used with '-6'",
        ),
        (
            &["--file", "/etc/hostname", "127.0.0.1:1", "x"],
            "echokit: the argument '--file <PATH>' cannot be used with '[MESSAGE]...'",
        ),
    ];
    for (args, line) in cases {
        let run = send(args, b"", STEP);
        run.assert_first_line(2, line);
        assert!(run.stdout.is_empty(), "{}", run.describe());
    }
}

// ---------------------------------------------------------------------------
// Exit 3: could not connect
// ---------------------------------------------------------------------------

/// The reason given when nothing listens at an address.
const REFUSED: &str = "connection refused (nothing is listening there)";

/// `echokit send FLAGS… ADDR hi` must exit 3 with exactly
/// `echokit: cannot connect to ADDR: REASON` and print nothing.
fn assert_cannot_connect(flags: &[&str], addr: &str, reason: &str) {
    let mut args = flags.to_vec();
    args.extend([addr, "hi"]);
    send(&args, b"", STEP).assert_error(3, &format!("echokit: cannot connect to {addr}: {reason}"));
}

#[test]
fn issue2_a_refused_tcp_port_exits_3() {
    let port = free_tcp_port("127.0.0.1");
    let addr = format!("127.0.0.1:{port}");
    assert_cannot_connect(&[], &addr, REFUSED);
    if let Some(why) = ipv6_unavailable() {
        eprintln!("skipping tcp6: {why}");
        return;
    }
    let port = free_tcp_port("::1");
    let addr = format!("[::1]:{port}");
    assert_cannot_connect(&[], &addr, REFUSED);
}

/// ICMP port unreachable is UDP's "refused" (SPEC §5).
#[test]
fn issue2_a_refused_udp_port_exits_3() {
    let mut addrs = vec![format!("udp:127.0.0.1:{}", free_udp_port("127.0.0.1"))];
    match ipv6_unavailable() {
        None => addrs.push(format!("udp:[::1]:{}", free_udp_port("::1"))),
        Some(why) => eprintln!("skipping udp6: {why}"),
    }
    for addr in addrs {
        assert_cannot_connect(&["--timeout", "5s"], &addr, REFUSED);
    }
}

#[test]
fn issue2_no_such_socket_file_exits_3() {
    let dir = temp_dir();
    let path = dir.path().join("none.sock").display().to_string();
    assert_cannot_connect(&[], &path, "no such socket file");
    let gram = format!("unixgram:{path}");
    assert_cannot_connect(&[], &gram, "no such socket file");
}

/// A refused connect to a path says which of the two usual causes it is.
#[test]
fn a_stale_socket_file_or_a_non_socket_is_named_on_connect() {
    let dir = temp_dir();
    let stale = dir.path().join("stale.sock");
    drop(UnixListener::bind(&stale).expect("bind"));
    let stale = stale.display().to_string();
    assert_cannot_connect(
        &[],
        &stale,
        "connection refused (a stale socket file: no process accepts on it)",
    );
    let file = dir.path().join("plain.txt");
    std::fs::write(&file, "not a socket").expect("write");
    let file = file.display().to_string();
    assert_cannot_connect(&[], &file, "not a socket (something else is at that path)");
}

/// The longest usable path (107 bytes) parses; nothing is there, so exit 3, not 2.
#[test]
fn a_path_of_exactly_107_bytes_is_valid() {
    let path = format!("/tmp/{}", "b".repeat(102));
    assert_eq!(path.len(), 107);
    assert_cannot_connect(&[], &path, "no such socket file");
}

#[test]
fn an_abstract_name_nobody_serves_exits_3() {
    if let Some(why) = Transport::ABSTRACT.unavailable() {
        eprintln!("skipping: {why}");
        return;
    }
    let name = abstract_name();
    for addr in [name.clone(), format!("unixgram:{name}")] {
        assert_cannot_connect(&[], &addr, REFUSED);
    }
}

#[test]
fn the_wrong_socket_type_exits_3_with_a_hint() {
    let dir = temp_dir();
    let stream = Server::on(Transport::UNIX, dir.path(), &[]);
    let path = stream.addr(0).trim_start_matches("unix:").to_string();
    let gram = format!("unixgram:{path}");
    assert_cannot_connect(
        &[],
        &gram,
        "protocol wrong type for socket (is it a stream or a datagram socket? try with or without -u)",
    );
}

/// SPEC §5: permission denied is exit 3: a socket file served with
/// `--mode 000`. Root passes every permission check, so as root the client
/// runs as `nobody`.
#[test]
fn issue2_permission_denied_on_a_socket_file_exits_3() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod 755 the temp dir");
    let path = dir.path().join("private.sock").display().to_string();
    let server = Server::start(&["--mode", "000", &path], 1);
    assert_eq!(server.addr(0), format!("unix:{path}"));
    let mut cmd = echokit_unprivileged(dir.path());
    cmd.args(["send", &path, "hi"]);
    run_cmd(cmd, b"", STEP).assert_error(
        3,
        &format!("echokit: cannot connect to {path}: permission denied"),
    );
}

// ---------------------------------------------------------------------------
// Exit 4: timed out
// ---------------------------------------------------------------------------

#[test]
fn issue2_a_tcp_peer_that_accepts_but_never_echoes_times_out_with_exit_4() {
    let (tx, rx) = std::sync::mpsc::channel();
    // The peer accepts, then hands the connection over unread.
    let peer = FakePeer::tcp(move |s| {
        let _ = tx.send(s);
    });
    let addr = peer.addr_text();
    let run = send(&["--timeout", SHORT, &addr, "hello"], b"", STEP);
    let held = rx.recv_timeout(STEP).expect("the peer accepted");
    run.assert_error(
        4,
        &format!("echokit: timed out waiting for the echo from {addr} (0 of 6 bytes came back)"),
    );
    assert!(
        run.elapsed >= Duration::from_millis(250) && run.elapsed < Duration::from_secs(3),
        "--timeout 300ms took {:?}\n{}",
        run.elapsed,
        run.describe()
    );
    drop(held);
    peer.finish();
}

/// `--connect-timeout` (and `--timeout`, which covers the connect too): a
/// listener whose accept queue is full drops new SYNs, so connect hangs.
#[test]
fn issue2_a_connect_that_hangs_times_out_with_exit_4() {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .expect("addr")
                .into(),
        )
        .expect("bind");
    listener.listen(0).expect("listen with a backlog of 0");
    let addr = listener
        .local_addr()
        .expect("addr")
        .as_socket()
        .expect("inet");
    // Fill the accept queue (nobody accepts): one connection completes, the next SYN is dropped.
    let first = std::net::TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("first connect");
    let second = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    second.set_nonblocking(true).expect("nonblocking");
    let _ = second.connect(&addr.into()); // EINPROGRESS: left hanging
    let text = addr.to_string();
    for flag in ["--connect-timeout", "--timeout"] {
        let run = send(&[flag, SHORT, &text, "hi"], b"", STEP);
        run.assert_error(4, &format!("echokit: timed out connecting to {text}"));
        assert!(
            run.elapsed >= Duration::from_millis(250) && run.elapsed < Duration::from_secs(3),
            "{flag} 300ms took {:?}",
            run.elapsed
        );
    }
    drop((first, second, listener));
}

/// Nobody accepts: the kernel completes the handshake into the backlog.
#[test]
fn a_tcp_listener_that_never_accepts_times_out_with_exit_4() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    send(&["--timeout", SHORT, &addr, "hello"], b"", STEP).assert_error(
        4,
        &format!("echokit: timed out waiting for the echo from {addr} (0 of 6 bytes came back)"),
    );
    drop(listener);
}

#[test]
fn a_unix_peer_that_never_echoes_times_out_with_exit_4() {
    let dir = temp_dir();
    let path = dir.path().join("mute.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    let path = path.display().to_string();
    send(&["--timeout", SHORT, &path, "hello"], b"", STEP).assert_error(
        4,
        &format!("echokit: timed out waiting for the echo from {path} (0 of 6 bytes came back)"),
    );
    drop(listener);
}

#[test]
fn issue2_a_udp_peer_that_never_answers_times_out_with_exit_4() {
    let mute = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = format!("udp:{}", mute.local_addr().expect("addr"));
    let run = send(&["--timeout", SHORT, &addr, "hello"], b"", STEP);
    run.assert_code(4);
    let prefix = format!("echokit: timed out waiting for the echo from {addr} (no reply to ");
    assert!(
        run.stderr.starts_with(&prefix)
            && (run.stderr.ends_with(" datagrams)\n") || run.stderr.ends_with(" 1 datagram)\n"))
            && run.stderr.lines().count() == 1,
        "want one line {prefix}N datagrams)\n{}",
        run.describe()
    );
    assert!(run.stdout.is_empty(), "{}", run.describe());
    assert!(
        run.elapsed < Duration::from_secs(3),
        "--timeout 300ms took {:?}",
        run.elapsed
    );
}

/// `--retries`: a datagram lost once is sent again after the first wait (1 s).
#[test]
fn retries_resend_a_lost_datagram() {
    let peer = UdpSocket::bind("127.0.0.1:0").expect("bind");
    peer.set_read_timeout(Some(STEP)).expect("timeout");
    let addr = format!("udp:{}", peer.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let (_, _) = peer.recv_from(&mut buf).expect("the first datagram"); // lost
        let (n, from) = peer.recv_from(&mut buf).expect("the datagram sent again");
        peer.send_to(&buf[..n], from).expect("echo");
        buf[..n].to_vec()
    });
    let run = send(&["--retries", "1", &addr, "again"], b"", STEP);
    run.assert_echo(b"again\n");
    assert!(
        run.elapsed >= Duration::from_millis(900),
        "answered after {:?}, before the first wait ended",
        run.elapsed
    );
    assert_eq!(handle.join().expect("peer thread"), b"again\n");
}

/// `--retries` documents waits of 1s, 2s, 4s… between datagrams, so within a
/// 300 ms `--timeout` exactly one datagram may go out.
#[test]
fn udp_timeout_shorter_than_the_first_wait_sends_one_datagram() {
    let mute = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = format!("udp:{}", mute.local_addr().expect("addr"));
    let run = send(&["--timeout", SHORT, &addr, "hello"], b"", STEP);
    run.assert_code(4);
    mute.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 64];
    let mut datagrams = 0;
    while mute.recv(&mut buf).is_ok() {
        datagrams += 1;
    }
    assert_eq!(datagrams, 1, "datagrams sent\n{}", run.describe());
    assert!(
        run.stderr.contains("(no reply to 1 datagram"),
        "{}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------
// Repeat mode, JSON, -v
// ---------------------------------------------------------------------------

/// Parses `… time=0.123 ms` into milliseconds.
fn time_ms(line: &str) -> f64 {
    let t = line
        .split("time=")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(" ms"))
        .unwrap_or_else(|| panic!("no time=… ms in {line:?}"));
    t.parse()
        .unwrap_or_else(|e| panic!("bad time {t:?} in {line:?}: {e}"))
}

#[test]
fn count_and_interval_print_one_line_per_echo_and_a_ping_summary() {
    let dir = temp_dir();
    for t in transports(|t| matches!(t, Transport::TCP4 | Transport::UDP4 | Transport::UNIX)) {
        let server = Server::on(t, dir.path(), &[]);
        let addr = server.addr(0);
        let run = send(
            &["--count", "3", "--interval", "10ms", &addr, "hello"],
            b"",
            STEP,
        );
        run.assert_code(0);
        assert_eq!(run.stderr, "", "{}", run.describe());
        let out = run.out();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 7, "{}", run.describe());
        assert_eq!(
            lines[0],
            format!("ECHO {addr}: 6 bytes"),
            "{}",
            run.describe()
        );
        let mut times = Vec::new();
        for (i, line) in lines[1..4].iter().enumerate() {
            let seq = i + 1;
            let want = format!("6 bytes from {addr}: seq={seq} time=");
            assert!(line.starts_with(&want), "{line:?}\n{}", run.describe());
            times.push(time_ms(line));
        }
        assert_eq!(lines[4], format!("--- {addr} echo statistics ---"));
        assert!(
            lines[5].starts_with("3 sent, 3 received, 0% loss, time ") && lines[5].ends_with("ms"),
            "{}",
            run.describe()
        );
        let stats = lines[6]
            .strip_prefix("rtt min/avg/max/mdev = ")
            .and_then(|s| s.strip_suffix(" ms"))
            .unwrap_or_else(|| panic!("summary line {:?}\n{}", lines[6], run.describe()));
        let v: Vec<f64> = stats
            .split('/')
            .map(|x| x.parse().expect("a number"))
            .collect();
        assert_eq!(v.len(), 4, "{}", run.describe());
        let min = times.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = times.iter().cloned().fold(0.0, f64::max);
        assert!((v[0] - min).abs() < 0.0015, "min {} vs {min}", v[0]);
        assert!((v[2] - max).abs() < 0.0015, "max {} vs {max}", v[2]);
        assert!(v[0] <= v[1] && v[1] <= v[2] && v[3] >= 0.0, "{stats}");
        // Two 10 ms intervals between three echoes.
        assert!(
            run.elapsed >= Duration::from_millis(20),
            "{:?}",
            run.elapsed
        );
    }
}

/// `--interval` alone repeats until interrupted; SIGINT then prints the
/// summary and exits 0, as ping does.
#[test]
fn interval_alone_repeats_until_sigint_then_summarises() {
    let dir = temp_dir();
    let server = Server::on(Transport::TCP4, dir.path(), &[]);
    let addr = server.addr(0);
    let cmd = echokit_command(&["send", "--interval", "10ms", &addr, "hi"]);
    let mut client = Proc::spawn(cmd);
    assert_eq!(
        client.expect_line("the ECHO line"),
        format!("ECHO {addr}: 3 bytes")
    );
    for seq in 1..=3 {
        let line = client.expect_line("a per-echo line");
        let want = format!("3 bytes from {addr}: seq={seq} time=");
        assert!(line.starts_with(&want), "{line:?}\n{}", client.describe());
    }
    client.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(client.expect_exit(), 0, "{}", client.describe());
    let mut rest = Vec::new();
    while let Some(line) = client.next_line(STEP) {
        rest.push(line);
    }
    let header = format!("--- {addr} echo statistics ---");
    let at = rest
        .iter()
        .position(|l| *l == header)
        .unwrap_or_else(|| panic!("no summary after SIGINT\n{}", client.describe()));
    let counts = &rest[at + 1];
    let sent: u64 = counts
        .split(" sent, ")
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{counts:?}"));
    assert!(sent >= 3, "{counts:?}");
    assert!(
        counts.starts_with(&format!("{sent} sent, {sent} received, 0% loss, time ")),
        "{counts:?}\n{}",
        client.describe()
    );
    assert!(
        rest[at + 2].starts_with("rtt min/avg/max/mdev = "),
        "{rest:?}"
    );
    assert_eq!(client.stderr(), "", "{}", client.describe());
}

#[test]
fn json_prints_json_lines_and_no_data() {
    let dir = temp_dir();
    for t in transports(|t| matches!(t, Transport::TCP4 | Transport::UDP4 | Transport::UNIX)) {
        let server = Server::on(t, dir.path(), &[]);
        let addr = server.addr(0);
        let run = send(&["--json", &addr, "hello"], b"", STEP);
        run.assert_code(0);
        let out = run.out();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "one JSON line\n{}", run.describe());
        let v: serde_json::Value = serde_json::from_str(lines[0])
            .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", run.describe()));
        assert_eq!(v["address"], addr.as_str(), "{v}");
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["bytes_sent"], 6, "{v}");
        assert_eq!(v["bytes_received"], 6, "{v}");
        assert!(v["rtt_ms"].as_f64().is_some_and(|x| x >= 0.0), "{v}");

        let run = send(
            &[
                "--json",
                "--count",
                "3",
                "--interval",
                "10ms",
                &addr,
                "hello",
            ],
            b"",
            STEP,
        );
        run.assert_code(0);
        let values: Vec<serde_json::Value> = run
            .out()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}\n{}", run.describe()))
            })
            .collect();
        assert_eq!(values.len(), 4, "{}", run.describe());
        for (i, v) in values[..3].iter().enumerate() {
            assert_eq!(v["seq"], i as u64 + 1, "{v}");
            assert_eq!(v["ok"], true, "{v}");
            assert_eq!(v["bytes"], 6, "{v}");
            assert!(v["rtt_ms"].as_f64().is_some(), "{v}");
        }
        let summary = &values[3];
        assert_eq!(summary["address"], addr.as_str(), "{summary}");
        assert_eq!(summary["sent"], 3, "{summary}");
        assert_eq!(summary["received"], 3, "{summary}");
        assert_eq!(summary["loss_percent"].as_f64(), Some(0.0), "{summary}");
        for key in ["min", "avg", "max", "mdev"] {
            assert!(
                summary["rtt_ms"][key].as_f64().is_some(),
                "{key}: {summary}"
            );
        }
    }
}

/// The classroom demo: with `-v --buffer-size 8` every received chunk is shown.
#[test]
fn verbose_with_buffer_size_8_shows_each_received_chunk() {
    let dir = temp_dir();
    let payload = b"0123456789abcdefghij"; // 20 bytes: 8 + 8 + 4 at most per read
    for t in transports(Transport::is_byte_stream) {
        let server = Server::on(t, dir.path(), &["--buffer-size", "8"]);
        let addr = server.addr(0);
        let run = send(&["-v", "--buffer-size", "8", &addr], payload, STEP);
        run.assert_code(0);
        assert_same_bytes(&run.stdout, payload, &run.describe());
        let lines: Vec<&str> = run.stderr.lines().collect();
        let (last, chunks) = lines.split_last().expect("some stderr");
        assert!(
            last.starts_with(&format!("echokit: 20 bytes echoed by {addr} in "))
                && last.ends_with(" ms"),
            "{}",
            run.describe()
        );
        let mut joined = String::new();
        for line in chunks {
            let rest = line
                .strip_prefix("echokit: received ")
                .unwrap_or_else(|| panic!("{line:?}\n{}", run.describe()));
            let (n, text) = rest.split_once(" bytes: ").expect("N bytes: \"…\"");
            let n: usize = n.parse().expect("a count");
            let text = text.trim_matches('"');
            assert!(
                (1..=8).contains(&n),
                "a chunk of {n} bytes\n{}",
                run.describe()
            );
            assert_eq!(text.len(), n, "{line:?}");
            joined.push_str(text);
        }
        assert!(chunks.len() >= 3, "{}", run.describe());
        assert_eq!(joined.as_bytes(), payload, "{}", run.describe());
    }
}

/// SPEC §2: `send` tries each address a name resolves to, in order. Served on
/// the last address of `localhost` only, the earlier ones are refused first.
#[test]
fn send_tries_each_resolved_address_of_localhost() {
    use std::net::ToSocketAddrs;
    let mut addrs: Vec<std::net::SocketAddr> = ("localhost", 0)
        .to_socket_addrs()
        .expect("resolve localhost")
        .collect();
    addrs.dedup();
    let last = *addrs.last().expect("localhost has an address");
    if addrs.len() < 2 {
        eprintln!(
            "note: localhost resolves only to {last} here, so the fall-through to a second address is not exercised"
        );
    }
    let listen = match last {
        std::net::SocketAddr::V4(a) => format!("{}:0", a.ip()),
        std::net::SocketAddr::V6(a) => format!("[{}]:0", a.ip()),
    };
    let server = Server::start(&[&listen], 1);
    let target = format!("localhost:{}", server.port(0));
    send(&[&target, "hi"], b"", STEP).assert_echo(b"hi\n");
    // With every address refused, each failure is reported (one line).
    drop(server);
    let port = free_tcp_port("127.0.0.1");
    let target = format!("localhost:{port}");
    let run = send(&[&target, "hi"], b"", STEP);
    run.assert_code(3);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.describe());
    assert!(
        run.stderr
            .starts_with(&format!("echokit: cannot connect to {target}: ")),
        "{}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------
// --idle-timeout
// ---------------------------------------------------------------------------

/// A TCP peer that accepts and then neither reads nor writes until the test
/// says it is done (or [`IO_TIMEOUT`] passes): silence both ways.
fn silent_peer() -> (FakePeer, std::sync::mpsc::Sender<()>) {
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let peer = FakePeer::tcp(move |_stream| {
        let _ = wait.recv_timeout(IO_TIMEOUT);
    });
    (peer, done)
}

/// SPEC §4: no byte moving either way for `--idle-timeout` ends the exchange:
/// exit 4, one line naming the bytes sent and received so far.
#[test]
fn idle_timeout_ends_a_silent_exchange_with_exit_4() {
    let (peer, done) = silent_peer();
    let addr = peer.addr_text();
    let run = send(&["--idle-timeout", "300ms", &addr, "hello"], b"", STEP);
    run.assert_error(
        4,
        &format!(
            "echokit: timed out waiting for the echo from {addr} (no byte moved either way for 300ms (--idle-timeout): 6 bytes sent, 0 received)"
        ),
    );
    assert!(
        run.elapsed >= Duration::from_millis(300) && run.elapsed < Duration::from_secs(5),
        "ended after {:?}, not about 300ms\n{run}",
        run.elapsed
    );
    done.send(()).expect("the peer waits");
    peer.finish();
}

/// Progress resets the idle timer: a peer that echoes one byte every 100 ms
/// for over a second stays within a 300 ms `--idle-timeout`.
#[test]
fn idle_timeout_is_reset_by_every_byte_that_moves() {
    let message = b"slow echo, byte by byte\n"; // 24 bytes: 2.4 s at 100 ms each
    let peer = FakePeer::tcp(move |mut stream| {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < message.len() {
            let n = std::io::Read::read(&mut stream, &mut buf).expect("read");
            assert_ne!(n, 0, "client closed after {} bytes", got.len());
            got.extend_from_slice(&buf[..n]);
        }
        for byte in got {
            // The slowness under test: bounded, 100 ms per byte.
            std::thread::sleep(Duration::from_millis(100));
            stream.write_all(&[byte]).expect("echo one byte");
        }
    });
    let addr = peer.addr_text();
    let run = send(&["--idle-timeout", "300ms", "-n", &addr], message, STEP);
    run.assert_echo(message);
    assert!(
        run.elapsed > Duration::from_secs(1),
        "the peer was not slow: {:?}\n{run}",
        run.elapsed
    );
    peer.finish();
}

/// `--idle-timeout 0` waits for ever: only `--timeout` (the whole exchange)
/// ends a silent exchange, with its own wording.
#[test]
fn idle_timeout_0_waits_until_the_whole_exchange_timeout() {
    let (peer, done) = silent_peer();
    let addr = peer.addr_text();
    let run = send(
        &["--idle-timeout", "0", "--timeout", "1s", &addr, "hello"],
        b"",
        STEP,
    );
    run.assert_error(
        4,
        &format!("echokit: timed out waiting for the echo from {addr} (0 of 6 bytes came back)"),
    );
    assert!(
        run.elapsed >= Duration::from_secs(1),
        "ended after {:?}, before --timeout 1s\n{run}",
        run.elapsed
    );
    done.send(()).expect("the peer waits");
    peer.finish();
}

/// The default `--idle-timeout` is 10 s: longer than a 1 s `--timeout`, so the
/// whole-exchange wording wins there.
#[test]
fn idle_timeout_default_is_longer_than_a_short_timeout() {
    let (peer, done) = silent_peer();
    let addr = peer.addr_text();
    let run = send(&["--timeout", "1s", &addr, "hello"], b"", STEP);
    run.assert_error(
        4,
        &format!("echokit: timed out waiting for the echo from {addr} (0 of 6 bytes came back)"),
    );
    done.send(()).expect("the peer waits");
    peer.finish();
}

// ---------------------------------------------------------------------------
// Regressions
// ---------------------------------------------------------------------------

/// Issue 6: `send` reads its input once, before the first address is tried.
/// In a network namespace with a hosts file of its own, `echokit-test` names
/// 127.0.0.1 and 127.0.0.2; a UDP echo server runs on 127.0.0.2 only, so the
/// first address (getaddrinfo sorts 127.0.0.1 first whatever the hosts file's
/// order, RFC 6724 rule 9; the script checks that) is refused and the second
/// one serves. Before the fix the input was read while trying the first
/// address, so the second one got an empty datagram: exit 0, nothing
/// printed. Now `hello` comes back.
#[test]
fn issue6_send_reads_its_input_once_before_the_first_address_is_tried() {
    let test = "issue6_send_reads_its_input_once_before_the_first_address_is_tried";
    // Inside the namespace: a server that exits after one echo (and within
    // 10 s whatever happens), its ready line read through a fifo (no sleep),
    // then `send` to the name with `hello` on stdin.
    let script = r#"
        fifo=$(mktemp -u) && mkfifo "$fifo" || exit 98
        timeout 10 "$0" serve --count 1 -u 127.0.0.2:0 > "$fifo" &
        server=$!
        exec 3< "$fifo"
        read -r ready <&3 || { echo "no ready line from serve" >&2; exit 99; }
        rm -f "$fifo"
        port=${ready##*:}
        first=$("$0" resolve -u echokit-test "$port" | sed -n 2p)
        case "$first" in
            *" 127.0.0.1:$port") ;;
            *) echo "echokit-test resolves to [$first] first, not to the refused 127.0.0.1" >&2
               kill "$server"; exit 97 ;;
        esac
        echo hello | timeout 10 "$0" send --timeout 3s -u "echokit-test:$port"
        code=$?
        kill "$server" 2>/dev/null
        wait "$server"
        exit "$code"
    "#;
    let Some(run) = in_netns_script(
        test,
        Some("127.0.0.1 localhost\n127.0.0.2 echokit-test\n127.0.0.1 echokit-test\n"),
        LO_UP,
        script,
        STEP,
    ) else {
        return;
    };
    run.assert_echo(b"hello\n");
}

/// Issue 15: in ping mode the error that ends the run is said once, by its
/// `seq=N:` line, not again as the last line.
#[test]
fn issue15_ping_mode_prints_its_final_error_once() {
    // It reads the first message, then closes without echoing it.
    let peer = FakePeer::tcp(|mut s| {
        let mut first = [0u8; 6];
        std::io::Read::read_exact(&mut s, &mut first).expect("the first message");
    });
    let addr = peer.addr_text();
    let run = send(&["-c", "3", "-i", "10ms", &addr, "hello"], b"", STEP);
    run.assert_code(1);
    assert_eq!(
        run.stderr,
        format!(
            "echokit: seq=1: echo from {addr} ended early: 0 of 6 bytes came back (connection closed by the peer)\n"
        ),
        "{}",
        run.describe()
    );
    peer.finish();
}

/// A UDP peer that answers one datagram with `reply(datagram)`.
fn udp_peer_answering(reply: fn(&[u8]) -> Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp 127.0.0.1:0");
    socket.set_read_timeout(Some(STEP)).expect("timeout");
    let addr = socket.local_addr().expect("local addr").to_string();
    let handle = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&reply(&buf[..n]), from);
        }
    });
    (addr, handle)
}

/// Issue 16.4: a longer, altered datagram reply names the first differing
/// byte, says "datagram", names `udp:ADDR`, and goes to stdout as it came.
#[test]
fn issue16_a_longer_altered_datagram_reply_names_the_offset_and_is_written_as_it_came() {
    let (addr, peer) = udp_peer_answering(|d| {
        let mut r = d.to_vec();
        r[2] = b'X';
        r.extend_from_slice(b"tail");
        r
    });
    let run = send(&["-u", &addr, "hello"], b"", STEP);
    run.assert_stderr_line(
        1,
        &format!(
            "echokit: echo from udp:{addr} is a datagram that differs at byte 2: sent 0x6c ('l'), received 0x58 ('X')"
        ),
    );
    assert_eq!(run.out(), "heXlo\ntail", "{}", run.describe());
    let _ = peer.join();
}

/// Issue 16.4: a short datagram reply is a short datagram, not a closed
/// connection; with --json the failed exchange is a JSON line too.
#[test]
fn issue16_a_short_datagram_reply_is_written_and_json_has_a_line_for_it() {
    let (addr, peer) = udp_peer_answering(|d| d[..2].to_vec());
    let run = send(&["-u", &addr, "hello"], b"", STEP);
    run.assert_stderr_line(
        1,
        &format!("echokit: echo from udp:{addr} is a short datagram: 2 of 6 bytes came back"),
    );
    assert_eq!(run.out(), "he", "{}", run.describe());
    let _ = peer.join();

    let (addr, peer) = udp_peer_answering(|d| d[..2].to_vec());
    let run = send(&["-u", "--json", &addr, "hello"], b"", STEP);
    run.assert_code(1);
    let line: serde_json::Value = serde_json::from_str(run.out().trim())
        .unwrap_or_else(|e| panic!("not one JSON line ({e}):\n{}", run.describe()));
    assert_eq!(line["ok"], false, "{line}");
    assert_eq!(line["error_class"], "verify", "{line}");
    assert_eq!(line["address"], format!("udp:{addr}"), "{line}");
    assert_eq!(
        line["error"],
        format!("echo from udp:{addr} is a short datagram: 2 of 6 bytes came back"),
        "{line}"
    );
    let _ = peer.join();
}
