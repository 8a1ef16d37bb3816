//! SOCK_SEQPACKET over AF_UNIX (SPEC §1-§4), the real binary over real
//! sockets: ready lines at a path and at an abstract name, `send` sending its
//! input as one message (checked by a peer of the tests' own that counts the
//! messages), empty input, the largest message, a message larger than the
//! server's buffer (MSG_TRUNC: closed and logged, never echoed cut), the
//! repeat mode and `bench`.
//!
//! The generic tests (payload sizes, message forms, files, empty stdin, the
//! socat client) cover seqpacket through [`transports`]; this module pins
//! what is particular to it. Where the platform has no SOCK_SEQPACKET (macOS),
//! each test says so and skips.

use std::io::Write;

use crate::util::*;

/// Whether this machine has seqpacket at a path and at an abstract name; if
/// not, says why (naming `test`).
fn available(test: &str) -> bool {
    for t in [Transport::SEQPACKET, Transport::ABSTRACT_SEQPACKET] {
        if let Some(why) = t.unavailable() {
            skip(test, &why);
            return false;
        }
    }
    true
}

#[test]
fn serve_prints_seqpacket_ready_lines_for_a_path_and_an_abstract_name() {
    if !available("serve_prints_seqpacket_ready_lines_for_a_path_and_an_abstract_name") {
        return;
    }
    let dir = temp_dir();
    let path = dir.path().join("sp.sock").display().to_string();
    let name = abstract_name();
    let by_path = format!("seqpacket:{path}");
    let by_name = format!("seqpacket:{name}");
    let server = Server::start(&[&by_path, &by_name], 2);
    assert_eq!(server.ready, [by_path.clone(), by_name.clone()]);
    for addr in [&by_path, &by_name] {
        send(&[addr, "hello", "seqpacket"], b"", STEP).assert_echo(b"hello seqpacket\n");
    }
}

/// SPEC §3: the client sends its input as ONE message. A peer of the tests'
/// own receives with a buffer larger than the input, so a client that wrote
/// in pieces (as a stream client does) would show up as a shorter first
/// message, then more messages before the EOF.
#[test]
fn send_sends_its_input_as_one_message_and_prints_the_echo() {
    if !available("send_sends_its_input_as_one_message_and_prints_the_echo") {
        return;
    }
    let dir = temp_dir();
    let addr = format!("seqpacket:{}", dir.path().join("peer.sock").display());
    let payload = random_bytes(100_000, 61);
    let peer = SeqPacketPeer::listen(&addr, |conn| {
        let first = recv_message(&conn, 300_000);
        (&conn).write_all(&first).expect("echo the message");
        // Whatever else arrives before the client closes.
        let mut more = Vec::new();
        loop {
            let next = recv_message(&conn, 300_000);
            if next.is_empty() {
                break;
            }
            more.push(next.len());
        }
        (first.len(), more)
    });
    let run = send(&[&addr], &payload, STEP);
    let (first, more) = peer.finish();
    run.assert_echo(&payload);
    assert_eq!(
        (first, more),
        (payload.len(), vec![]),
        "(first message's length, later messages' lengths)\n{run}"
    );
}

/// SPEC §3: empty input sends no message (a zero-length message would read
/// as EOF), and is a valid exchange: exit 0, nothing printed.
#[test]
fn empty_input_sends_no_message_and_exits_0() {
    if !available("empty_input_sends_no_message_and_exits_0") {
        return;
    }
    let dir = temp_dir();
    let addr = format!("seqpacket:{}", dir.path().join("peer.sock").display());
    let peer = SeqPacketPeer::listen(&addr, |conn| {
        let mut lengths = Vec::new();
        loop {
            let next = recv_message(&conn, 1000);
            if next.is_empty() {
                return lengths;
            }
            lengths.push(next.len());
        }
    });
    let run = send(&[&addr], b"", STEP);
    let messages = peer.finish();
    run.assert_echo(b"");
    assert_eq!(messages, Vec::<usize>::new(), "messages received\n{run}");
}

/// SPEC §2/§3: larger than a message can carry is exit 2 naming the limit
/// (on Linux, 208,896 bytes: the default socket send buffer less its overhead).
#[test]
fn a_message_larger_than_the_transport_carries_exits_2() {
    if !available("a_message_larger_than_the_transport_carries_exits_2") {
        return;
    }
    let dir = temp_dir();
    let server = Server::on(Transport::SEQPACKET, dir.path(), &[]);
    let max = Transport::SEQPACKET.max_message().expect("a message limit");
    if cfg!(target_os = "linux") {
        assert_eq!(max, 208_896);
    }
    send(&[&server.addr(0)], &random_bytes(300_000, 62), STEP).assert_error(
        2,
        &format!(
            "echokit: message is 300000 bytes; a seqpacket message carries at most {max} bytes"
        ),
    );
    // The largest one is sent whole (the server's buffer holds it).
    let big = Server::on(
        Transport::SEQPACKET,
        dir.path(),
        &["--buffer-size", "256KiB"],
    );
    let payload = random_bytes(max, 63);
    send(&[&big.addr(0)], &payload, STEP).assert_echo(&payload);
}

/// SPEC §3: a message larger than the server's `--buffer-size` is detected
/// (MSG_TRUNC) and never echoed cut: that connection is closed, and the
/// server says so on stderr even without `-v`. The client sees the
/// connection close with nothing back (exit 1); a raw client sees EOF, not
/// the first `--buffer-size` bytes; other connections are served as before.
#[test]
fn a_message_larger_than_the_buffer_closes_the_connection_msg_trunc_never_cut() {
    let test = "a_message_larger_than_the_buffer_closes_the_connection_msg_trunc_never_cut";
    if !available(test) {
        return;
    }
    let dir = temp_dir();
    for t in [Transport::SEQPACKET, Transport::ABSTRACT_SEQPACKET] {
        let mut server = Server::on(t, dir.path(), &["--buffer-size", "1000"]);
        let addr = server.addr(0);
        let run = send(&[&addr], &random_bytes(2000, 64), STEP);
        run.assert_error(
            1,
            &format!(
                "echokit: echo from {addr} ended early: 0 of 2000 bytes came back (connection closed by the peer)"
            ),
        );
        server.expect_stderr("MSG_TRUNC");
        let logged: Vec<String> = server
            .stderr()
            .lines()
            .filter(|l| l.contains("MSG_TRUNC"))
            .map(str::to_string)
            .collect();
        assert_eq!(
            logged.len(),
            1,
            "one line per dropped message\n{}",
            server.describe()
        );
        assert!(logged[0].starts_with("echokit: "), "{}", server.describe());

        // A raw client: the 2000-byte message gets EOF, not 1000 cut bytes.
        let conn = seqpacket_connect(&addr);
        (&conn)
            .write_all(&random_bytes(2000, 65))
            .expect("send 2000 bytes");
        let back = recv_message(&conn, 4000);
        assert_eq!(
            back.len(),
            0,
            "{}: got {} bytes back of a message larger than the buffer\n{}",
            t.name(),
            back.len(),
            server.describe()
        );

        // Exactly the buffer size still fits, and the server runs on.
        let fits = random_bytes(1000, 66);
        send(&[&addr], &fits, STEP).assert_echo(&fits);
        server.assert_running("after dropping messages larger than its buffer");
    }
}

/// `--count 3 -i 0.1s`: ping-like lines for seqpacket too, each message echoed whole.
#[test]
fn count_and_interval_print_ping_lines() {
    if !available("count_and_interval_print_ping_lines") {
        return;
    }
    let dir = temp_dir();
    let server = Server::on(Transport::ABSTRACT_SEQPACKET, dir.path(), &[]);
    let addr = server.addr(0);
    let run = send(&["--count", "3", "-i", "0.1s", &addr, "hello"], b"", STEP);
    run.assert_code(0);
    assert_eq!(run.stderr, "", "{run}");
    let out = run.out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 7, "{run}");
    assert_eq!(lines[0], format!("ECHO {addr}: 6 bytes"), "{run}");
    for (i, line) in lines[1..4].iter().enumerate() {
        let want = format!("6 bytes from {addr}: seq={} time=", i + 1);
        assert!(
            line.starts_with(&want) && line.ends_with(" ms"),
            "{line:?}\n{run}"
        );
    }
    assert_eq!(lines[4], format!("--- {addr} echo statistics ---"), "{run}");
    assert!(
        lines[5].starts_with("3 sent, 3 received, 0% loss, time "),
        "{run}"
    );
    assert!(lines[6].starts_with("rtt min/avg/max/mdev = "), "{run}");
    // Two 100 ms intervals between three echoes.
    assert!(
        run.elapsed >= std::time::Duration::from_millis(200),
        "{run}"
    );
}

/// `bench` against an `echokit serve` on an abstract seqpacket name.
#[test]
fn bench_against_a_seqpacket_server_has_no_errors_or_mismatches() {
    if !available("bench_against_a_seqpacket_server_has_no_errors_or_mismatches") {
        return;
    }
    let dir = temp_dir();
    let server = Server::on(Transport::ABSTRACT_SEQPACKET, dir.path(), &[]);
    let addr = server.addr(0);
    let run = echokit_within(
        &["bench", &addr, "--duration", "1s", "-c", "4", "--json"],
        b"",
        STEP * 2,
    );
    run.assert_code(0);
    let out = run.out();
    let last = out.lines().last().unwrap_or_default();
    let report: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e})\n{run}"));
    assert_eq!(report["address"], addr.as_str(), "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["mismatches"], 0, "{report}");
    assert!(
        report["requests"].as_u64().is_some_and(|n| n > 10),
        "{report}"
    );
}

/// Python's socket module with AF_UNIX/SOCK_SEQPACKET: as a client of
/// `echokit serve` (one message out, one whole message back), and as a
/// server that `echokit send` talks to (it reports how many messages came).
#[test]
fn python_seqpacket_client_and_server_interoperate() {
    let test = "python_seqpacket_client_and_server_interoperate";
    if !available(test) {
        return;
    }
    let Some(python) = python() else { return };
    let dir = temp_dir();
    let server = Server::on(Transport::SEQPACKET, dir.path(), &[]);
    let path = server.addr(0).trim_start_matches("seqpacket:").to_string();
    let client = r#"
import socket, sys
data = sys.stdin.buffer.read()
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5)
s.connect(sys.argv[1])
s.send(data)
sys.stdout.buffer.write(s.recv(len(data) + 1000))
"#;
    let payload = random_bytes(50_000, 67);
    let mut cmd = std::process::Command::new(&python);
    cmd.args(["-c", client, &path]);
    run_cmd(cmd, &payload, STEP).assert_echo(&payload);

    // Python as the server: prints its ready line, echoes each message, and
    // says on stderr how many messages it got before the EOF.
    let py_server = r#"
import socket, sys
l = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
l.bind(sys.argv[1]); l.listen(1); l.settimeout(10)
print("seqpacket:" + sys.argv[1], flush=True)
c, _ = l.accept(); c.settimeout(5)
n = 0
while True:
    m = c.recv(300000)
    if not m:
        break
    n += 1
    c.send(m)
sys.stderr.write("messages=%d\n" % n); sys.stderr.flush()
"#;
    let py_path = dir.path().join("py-sp.sock").display().to_string();
    let mut cmd = std::process::Command::new(&python);
    cmd.args(["-c", py_server, &py_path]);
    let mut py = Proc::spawn(cmd);
    let ready = py.expect_line("the python server's ready line");
    send(&[&ready], &payload, STEP).assert_echo(&payload);
    assert_eq!(py.expect_exit(), 0, "{}", py.describe());
    assert_eq!(py.stderr(), "messages=1\n", "{}", py.describe());
}
