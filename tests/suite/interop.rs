//! echokit against other programs, over real sockets: Python's socket module
//! (the classroom client: getaddrinfo, connect, sendall, an 8-byte recv loop,
//! and a tiny echo server), OpenBSD `nc`, and `socat` — each both as a client
//! of `echokit serve` and as a server for `echokit send`.
//!
//! Where python3, nc or socat is missing, the test says so and skips (CI's
//! `.ci/run` installs them).

use std::fs::OpenOptions;
use std::process::{Command, Stdio};

use crate::util::*;

// ---------------------------------------------------------------------------
// Python
// ---------------------------------------------------------------------------

/// The classroom client: resolve with getaddrinfo, connect, sendall, then recv
/// 8 bytes at a time until every byte sent is back. Args: `HOST PORT` or
/// `unix PATH`, then the payload lengths; stdin holds the payloads one after
/// another, each sent on a connection of its own; stdout gets the echoes in order.
const PY_CLIENT: &str = r#"
import socket, sys
data = sys.stdin.buffer.read()
def connect():
    if sys.argv[1] == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(sys.argv[2])
        return s
    err = None
    for family, socktype, proto, _, addr in socket.getaddrinfo(
            sys.argv[1], int(sys.argv[2]), type=socket.SOCK_STREAM):
        try:
            s = socket.socket(family, socktype, proto)
            s.settimeout(5)
            s.connect(addr)
            return s
        except OSError as e:
            err = e
    raise err
for length in map(int, sys.argv[3:]):
    message, data = data[:length], data[length:]
    s = connect()
    s.sendall(message)
    got = b""
    while len(got) < len(message):
        chunk = s.recv(8)
        if not chunk:
            break
        got += chunk
    s.close()
    sys.stdout.buffer.write(got)
"#;

/// A tiny echo server: binds (port 0 or a path), prints its ready line in
/// echokit's grammar, then echoes with recv(8)/sendall until killed (or idle 10 s).
/// Arg: tcp4, tcp6, udp4 or a socket path.
const PY_SERVER: &str = r#"
import socket, sys
kind = sys.argv[1]
if kind == "tcp4":
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    ready = "tcp:127.0.0.1:%d" % s.getsockname()[1]
elif kind == "tcp6":
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.bind(("::1", 0))
    ready = "tcp:[::1]:%d" % s.getsockname()[1]
elif kind == "udp4":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    ready = "udp:127.0.0.1:%d" % s.getsockname()[1]
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(kind)
    ready = "unix:" + kind
s.settimeout(10)
if s.type == socket.SOCK_STREAM:
    s.listen(8)
print(ready, flush=True)
while True:
    if s.type == socket.SOCK_DGRAM:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)
        continue
    conn, _ = s.accept()
    conn.settimeout(5)
    while True:
        chunk = conn.recv(8)
        if not chunk:
            break
        conn.sendall(chunk)
    conn.shutdown(socket.SHUT_WR)
    conn.close()
"#;

#[test]
fn issue2_python_classroom_client_against_echokit_serve() {
    let Some(python) = python() else { return };
    let dir = temp_dir();
    let lengths = [1usize, 8, 16, 64, 1000, 4096];
    let payloads: Vec<u8> = lengths
        .iter()
        .flat_map(|&len| random_bytes(len, len as u64 + 11))
        .collect();
    for t in transports(|t| matches!(t, Transport::TCP4 | Transport::TCP6 | Transport::UNIX)) {
        // --buffer-size 8 on both sides: the classroom demo.
        let server = Server::on(t, dir.path(), &["--buffer-size", "8"]);
        let ready = server.addr(0);
        let mut args: Vec<String> = match t {
            Transport::UNIX => vec![
                "unix".to_string(),
                ready.trim_start_matches("unix:").to_string(),
            ],
            _ => {
                let inet = ready.trim_start_matches("tcp:");
                let (host, port) = inet.rsplit_once(':').expect("HOST:PORT");
                vec![host.trim_matches(['[', ']']).to_string(), port.to_string()]
            }
        };
        args.extend(lengths.iter().map(usize::to_string));
        let mut cmd = Command::new(&python);
        cmd.arg("-c").arg(PY_CLIENT).args(&args);
        let run = run_cmd(cmd, &payloads, STEP);
        run.assert_code(0);
        assert_same_bytes(&run.stdout, &payloads, &run.describe());
    }
}

/// The classroom client resolves `localhost` itself, against `serve localhost:0`.
#[test]
fn python_client_resolving_localhost_reaches_serve_localhost() {
    let Some(python) = python() else { return };
    use std::net::ToSocketAddrs;
    let mut ips = Vec::new();
    for a in ("localhost", 0)
        .to_socket_addrs()
        .expect("resolve localhost")
    {
        if !ips.contains(&a.ip()) {
            ips.push(a.ip());
        }
    }
    let server = Server::start(&["localhost:0"], ips.len());
    let port = server.port(0).to_string();
    let payload = b"resolved by getaddrinfo\n";
    let mut cmd = Command::new(&python);
    cmd.args([
        "-c",
        PY_CLIENT,
        "localhost",
        &port,
        &payload.len().to_string(),
    ]);
    let run = run_cmd(cmd, payload, STEP);
    run.assert_code(0);
    assert_same_bytes(&run.stdout, payload, &run.describe());
}

#[test]
fn issue2_echokit_send_against_a_python_echo_server() {
    let Some(python) = python() else { return };
    let dir = temp_dir();
    let path = dir.path().join("py.sock").display().to_string();
    let mut kinds = vec!["tcp4", "udp4", path.as_str()];
    match ipv6_unavailable() {
        None => kinds.push("tcp6"),
        Some(why) => eprintln!("skipping tcp6: {why}"),
    }
    for kind in kinds {
        let mut cmd = Command::new(&python);
        cmd.args(["-c", PY_SERVER, kind]);
        let mut server = Proc::spawn(cmd);
        let ready = server.expect_line("the python server's ready line");
        let sizes: &[usize] = if kind == "udp4" {
            &[1, 8, 16, 64, 1000]
        } else {
            &[1, 8, 16, 64, 100_000]
        };
        for &len in sizes {
            let payload = random_bytes(len, len as u64 + 5);
            send(&["--buffer-size", "8", &ready], &payload, STEP).assert_echo(&payload);
        }
        send(&[&ready, "hello", "python"], b"", STEP).assert_echo(b"hello python\n");
        server.assert_running("after the exchanges");
    }
}

// ---------------------------------------------------------------------------
// nc (OpenBSD netcat)
// ---------------------------------------------------------------------------

#[test]
fn issue2_nc_as_a_client_of_echokit_serve() {
    let Some(eof) = nc_or_skip() else { return };
    let dir = temp_dir();
    let payload = random_bytes(200_000, 21);
    for t in transports(|t| matches!(t, Transport::TCP4 | Transport::TCP6 | Transport::UNIX)) {
        let server = Server::on(t, dir.path(), &[]);
        let ready = server.addr(0);
        let mut cmd = Command::new("nc");
        cmd.args(&eof);
        match t {
            Transport::UNIX => {
                cmd.args(["-U", ready.trim_start_matches("unix:")]);
            }
            _ => {
                let inet = ready.trim_start_matches("tcp:");
                let (host, port) = inet.rsplit_once(':').expect("HOST:PORT");
                cmd.args(["-n", host.trim_matches(['[', ']']), port]);
            }
        }
        let run = run_cmd(cmd, &payload, STEP);
        run.assert_code(0);
        assert_same_bytes(&run.stdout, &payload, &run.describe());
    }
}

/// Starts `nc -v -n -l ARGS…` whose stdout feeds its own stdin through a fifo,
/// so everything it receives goes back: an echo server made of nc. Returns the
/// process and its port, read from nc's "Listening on"/"Bound on" line.
fn nc_echo_server(dir: &std::path::Path, args: &[&str]) -> Option<(Proc, u16)> {
    let fifo = dir.join(format!("fifo-{}", args.join("-").replace(['.', ':'], "_")));
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    // O_RDWR on a fifo does not block on Linux; with that reader open, the write-only open does not either.
    let input = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .expect("open the fifo read-write");
    let output = OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("open the fifo for writing");
    let mut cmd = Command::new("nc");
    cmd.args(["-v", "-n", "-l"]).args(args);
    let proc = Proc::spawn_with(cmd, Stdio::from(input), Some(Stdio::from(output)));
    if !proc.wait_stderr_any(&["Listening on ", "Bound on "], STEP) {
        let mut proc = proc;
        eprintln!(
            "skipping: this nc does not say where it listens\n{}",
            proc.describe()
        );
        return None;
    }
    let line = proc
        .stderr()
        .lines()
        .find(|l| l.starts_with("Listening on ") || l.starts_with("Bound on "))
        .map(str::to_string)
        .expect("the line just seen");
    let port = line
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in nc's line {line:?}"));
    Some((proc, port))
}

/// nc as the server for `echokit send`. nc itself closes its network side
/// soon after the client's half-close, before the fifo has drained, so a
/// one-shot stream exchange through it loses its tail now and then; repeat
/// mode keeps the connection open for every echo and is reliable.
#[test]
fn issue2_nc_as_a_server_for_echokit_send() {
    if nc_or_skip().is_none() {
        return;
    }
    let dir = temp_dir();
    let Some((mut nc, port)) = nc_echo_server(dir.path(), &["127.0.0.1", "0"]) else {
        return;
    };
    let addr = format!("127.0.0.1:{port}");
    let run = send(
        &[
            "--count",
            "3",
            "--interval",
            "10ms",
            "--timeout",
            "2s",
            &addr,
            "hello",
        ],
        b"",
        STEP,
    );
    run.assert_code(0);
    let out = run.out();
    assert!(
        out.contains(&format!("6 bytes from tcp:{addr}: seq=3 time="))
            && out.contains("3 sent, 3 received, 0% loss"),
        "{}\n{}",
        run.describe(),
        nc.describe()
    );

    // UDP: nc answers the first sender, one datagram back for one out.
    let udp = nc_echo_server(dir.path(), &["-u", "127.0.0.1", "0"]);
    let Some((_nc_udp, port)) = udp else { return };
    let addr = format!("udp:127.0.0.1:{port}");
    send(&["--timeout", "2s", &addr, "hello", "nc"], b"", STEP).assert_echo(b"hello nc\n");
}

// ---------------------------------------------------------------------------
// socat
// ---------------------------------------------------------------------------

/// socat's `-t` for datagrams: how long it waits for the reply after stdin ends.
const DGRAM_WAIT: &str = "0.3";

/// socat's `type=` for SOCK_SEQPACKET (5 on Linux and the BSDs).
const SOCK_SEQPACKET: i32 = 5;

/// socat's address for a client of `ready` (a ready line of `t`): built from
/// the transport's family, place and socket type, so every transport of the
/// model gets one.
fn socat_client_address(t: Transport, ready: &str, dir: &std::path::Path) -> String {
    let target = ready
        .strip_prefix(&format!("{}:", t.model.prefix()))
        .expect("a ready line starts with its prefix");
    let version = match t.model.family() {
        Family::Inet4 => "4",
        Family::Inet6 => "6",
        Family::Unix => "",
    };
    match (t.place, t.accepts_connections(), t.keeps_boundaries()) {
        (Place::Inet, true, _) => format!("TCP{version}:{target}"),
        (Place::Inet, false, _) => format!("UDP{version}:{target}"),
        // A Unix datagram client must bind an address to be answered (SPEC §3).
        (Place::Path, false, _) => {
            let client = dir.join("socat-client.sock");
            format!("UNIX-SENDTO:{target},bind={}", client.display())
        }
        (Place::Abstract, false, _) => format!(
            "ABSTRACT-SENDTO:{},bind={}",
            target.trim_start_matches('@'),
            abstract_name().trim_start_matches('@')
        ),
        (Place::Path, true, false) => format!("UNIX-CONNECT:{target}"),
        (Place::Abstract, true, false) => {
            format!("ABSTRACT-CONNECT:{}", target.trim_start_matches('@'))
        }
        (Place::Path, true, true) => format!("UNIX-CONNECT:{target},type={SOCK_SEQPACKET}"),
        (Place::Abstract, true, true) => format!(
            "ABSTRACT-CONNECT:{},type={SOCK_SEQPACKET}",
            target.trim_start_matches('@')
        ),
    }
}

#[test]
fn issue2_socat_as_a_client_of_echokit_serve() {
    if !have_socat() {
        return;
    }
    let dir = temp_dir();
    for (i, t) in transports(|_| true).into_iter().enumerate() {
        let server = Server::on(t, dir.path(), &[]);
        let ready = server.addr(0);
        let peer = socat_client_address(t, &ready, dir.path());
        // A datagram has no EOF: socat waits -t after stdin's end for the reply.
        let wait = if t.accepts_connections() {
            "5"
        } else {
            DGRAM_WAIT
        };
        // socat sends each read of stdin as one message: small ones where
        // boundaries are kept, more than the socket buffers hold for streams.
        let len = if t.keeps_boundaries() { 1000 } else { 200_000 };
        let payload = random_bytes(len, 31 + i as u64);
        let mut cmd = Command::new("socat");
        cmd.args(["-t", wait, "-", &peer]);
        let run = run_cmd(cmd, &payload, STEP);
        run.assert_code(0);
        assert_same_bytes(&run.stdout, &payload, &format!("{}\n{run}", t.name()));
    }
}

/// Starts `socat LISTEN-ADDRESS PIPE` (an echo server) on a free port, tried
/// again on another port if it was taken meanwhile, and waits until it accepts.
fn socat_tcp_echo(ip: &str) -> (Proc, String) {
    for _ in 0..5 {
        let port = free_tcp_port(ip);
        let (listen, addr) = if ip.contains(':') {
            (
                format!("TCP6-LISTEN:{port},bind=[{ip}],reuseaddr,fork"),
                format!("[{ip}]:{port}"),
            )
        } else {
            (
                format!("TCP4-LISTEN:{port},bind={ip},reuseaddr,fork"),
                format!("{ip}:{port}"),
            )
        };
        let mut cmd = Command::new("socat");
        cmd.args([&listen, "PIPE"]);
        let mut proc = Proc::spawn(cmd);
        if wait_accepting(&addr, STEP, || proc.running()) {
            return (proc, addr);
        }
        eprintln!(
            "socat could not use port {port}, trying another\n{}",
            proc.describe()
        );
    }
    panic!("socat never accepted on a free port in 5 tries");
}

#[test]
fn issue2_socat_as_a_server_for_echokit_send() {
    if !have_socat() {
        return;
    }
    let payload = random_bytes(1 << 20, 41);
    let mut ips = vec!["127.0.0.1"];
    match ipv6_unavailable() {
        None => ips.push("::1"),
        Some(why) => eprintln!("skipping tcp6: {why}"),
    }
    for ip in ips {
        let (mut socat, addr) = socat_tcp_echo(ip);
        send(&[&addr], &payload, STEP).assert_echo(&payload);
        send(&["--buffer-size", "8", &addr, "hello", "socat"], b"", STEP)
            .assert_echo(b"hello socat\n");
        socat.assert_running("after the exchanges");
    }

    let dir = temp_dir();
    let path = dir.path().join("socat.sock").display().to_string();
    let mut cmd = Command::new("socat");
    cmd.args([&format!("UNIX-LISTEN:{path},fork"), "PIPE"]);
    let mut socat = Proc::spawn(cmd);
    let probe = format!("unix:{path}");
    if !wait_accepting(&probe, STEP, || socat.running()) {
        panic!("socat never accepted on {path}\n{}", socat.describe());
    }
    send(&[&path], &payload, STEP).assert_echo(&payload);
}

/// ncat (nmap's netcat) as a client of `echokit serve`, over TCP and a Unix
/// path: it half-closes at stdin's end and reads until the server closes, so
/// every byte must come back and the connection must then end (a server that
/// kept it open would hang ncat until the timeout).
#[test]
fn ncat_clients_get_every_byte_back_over_tcp_and_unix() {
    if !have_program("ncat", &["--version"]) {
        return skip("ncat_clients_get_every_byte_back", "ncat is not installed");
    }
    let dir = temp_dir();
    let path = dir.path().join("n.sock");
    let server = Server::start(&["tcp:127.0.0.1:0", &format!("unix:{}", path.display())], 2);
    let port = server.port(0).to_string();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    for payload in [b"hello ncat\n".to_vec(), big] {
        let mut tcp = Command::new("ncat");
        tcp.args(["127.0.0.1", &port]);
        let run = run_cmd(tcp, &payload, STEP);
        assert!(
            run.code == 0 && run.stdout == payload,
            "ncat over tcp: {} bytes back of {}\n{}",
            run.stdout.len(),
            payload.len(),
            run.describe()
        );
        let mut unix = Command::new("ncat");
        unix.args(["-U", &path.display().to_string()]);
        let run = run_cmd(unix, &payload, STEP);
        assert!(
            run.code == 0 && run.stdout == payload,
            "ncat over unix: {} bytes back of {}\n{}",
            run.stdout.len(),
            payload.len(),
            run.describe()
        );
    }
}
