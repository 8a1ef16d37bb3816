//! Every datagram echo goes to exactly its sender, byte for byte, and to
//! nobody else (SPEC §3), whatever senders came before it: a randomized
//! test over the real server process, with senders of every address shape
//! the kernel gives — Unix paths and abstract names of every length,
//! autobound names, unbound senders in between, IPv4 from several loopback
//! addresses, IPv6, and IPv4 on a dual-stack socket — interleaved and
//! concurrent, against several datagram listeners in one process.
//!
//! Our own `send -u` could never find the bug this guards against: its
//! autobind names all have the same length, so a reused header that kept
//! the length of the last address looked right. These senders are the
//! tests' own sockets, bound the way strangers bind them.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;
use socket2::{Domain, SockAddr, Socket, Type};

use crate::util::*;

/// How a test sender gets its address.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A Unix path of this many bytes in total (within the 107 usable).
    Path(usize),
    /// A Linux abstract name of this many bytes.
    Abstract(usize),
    /// Linux autobind: the kernel picks a 5-byte abstract name.
    Autobind,
    /// Never bound: the server cannot answer, and must not answer anyone else.
    Unbound,
    /// UDP from 127.0.0.N, connected to the listener (replies from elsewhere are not taken).
    V4(u8),
    /// UDP from ::1.
    V6,
}

/// One datagram listener of the server under test.
#[derive(Debug, Clone)]
struct Listener {
    addr: SockAddr,
    unix: bool,
    /// Which IP families may send to it (dual-stack takes both).
    v4: bool,
    v6: bool,
    /// Bound to every local address: sent to 127.0.0.N, it must answer from there.
    wildcard: bool,
}

/// The server and what it listens on, started once per configuration.
struct Under {
    server: Server,
    listeners: Vec<Listener>,
    dir: tempfile::TempDir,
}

fn start(extra: &[&str]) -> Under {
    let dir = temp_dir();
    let path = dir.path().join("l.sock");
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    args.push(format!("unixgram:{}", path.display()));
    args.push(format!("unixgram:{}", abstract_name()));
    args.push("udp:127.0.0.1:0".into());
    let ipv6 = ipv6_unavailable().is_none();
    if ipv6 {
        args.push("udp:[::1]:0".into());
    }
    // Every local address: a dual-stack [::] socket (or 0.0.0.0 without IPv6).
    args.push("udp::0".into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&refs, refs.len() - extra.len());
    let mut listeners = Vec::new();
    for line in &server.ready {
        let listener = if let Some(rest) = line.strip_prefix("unixgram:@") {
            Listener {
                addr: SockAddr::unix(format!("\0{rest}")).expect("abstract address"),
                unix: true,
                v4: false,
                v6: false,
                wildcard: false,
            }
        } else if let Some(rest) = line.strip_prefix("unixgram:") {
            Listener {
                addr: SockAddr::unix(rest).expect("path address"),
                unix: true,
                v4: false,
                v6: false,
                wildcard: false,
            }
        } else if let Some(rest) = line.strip_prefix("udp:") {
            let addr: SocketAddr = rest
                .parse()
                .unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
            let wildcard = addr.ip().is_unspecified();
            Listener {
                addr: if wildcard {
                    // Sent to 127.0.0.N (a v6 sender uses ::1): see `target`.
                    SocketAddr::new("127.0.0.1".parse().unwrap(), addr.port()).into()
                } else {
                    addr.into()
                },
                unix: false,
                v4: addr.is_ipv4() || wildcard,
                v6: addr.is_ipv6() && (!wildcard || ipv6),
                wildcard,
            }
        } else {
            panic!("unexpected ready line {line:?}");
        };
        listeners.push(listener);
    }
    Under {
        server,
        listeners,
        dir,
    }
}

/// A fresh random name of `len` bytes from a small alphabet (bytes a Unix
/// name may hold; the dot and dash keep it readable in failure messages).
fn name(len: usize, rng: &mut impl FnMut() -> u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789.-_";
    (0..len)
        .map(|_| ALPHABET[(rng() % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

/// A test sender: its socket, its shape, what it expects back.
struct Sender {
    socket: Socket,
    shape: Shape,
    /// The listener an IP sender is connected to.
    target: Option<usize>,
    expected: Vec<Vec<u8>>,
}

/// Makes a sender of `shape`; `None` when this machine cannot (no IPv6, or
/// no listener of its family).
fn sender(
    shape: Shape,
    under: &Under,
    pick: usize,
    rng: &mut impl FnMut() -> u64,
) -> Option<Sender> {
    let timeout = Some(Duration::from_secs(3));
    let (socket, target) = match shape {
        Shape::Path(_) | Shape::Abstract(_) | Shape::Autobind | Shape::Unbound => {
            let socket = Socket::new(Domain::UNIX, Type::DGRAM, None).expect("unix dgram socket");
            match shape {
                Shape::Path(len) => {
                    let dir = under.dir.path();
                    let room = 107 - dir.as_os_str().len() - 1;
                    let len = len.clamp(1, room);
                    // Unique: a counter in front, random filler after.
                    let tag = format!("{}-", rng() % 1_000_000_000);
                    let mut file = tag + &name(len, rng);
                    file.truncate(len.max(1));
                    loop {
                        let path = dir.join(&file);
                        if !path.exists() {
                            socket
                                .bind(&SockAddr::unix(&path).expect("path"))
                                .expect("bind sender path");
                            break;
                        }
                        file = name(len, rng);
                    }
                }
                Shape::Abstract(len) => {
                    let len = len.clamp(1, 107);
                    let mut tries = 0;
                    loop {
                        let addr =
                            SockAddr::unix(format!("\0{}", name(len, rng))).expect("abstract");
                        match socket.bind(&addr) {
                            Ok(()) => break,
                            Err(e) if tries < 50 => {
                                tries += 1;
                                let _ = e;
                            }
                            Err(e) => panic!("bind abstract sender: {e}"),
                        }
                    }
                }
                Shape::Autobind => {
                    nix::sys::socket::bind(
                        socket.as_raw_fd(),
                        &nix::sys::socket::UnixAddr::new_unnamed(),
                    )
                    .expect("autobind");
                }
                _ => {}
            }
            (socket, None)
        }
        Shape::V4(n) => {
            let candidates: Vec<usize> = (0..under.listeners.len())
                .filter(|&i| under.listeners[i].v4)
                .collect();
            let i = candidates[pick % candidates.len()];
            let socket = Socket::new(Domain::IPV4, Type::DGRAM, None).expect("udp4 socket");
            let from: SocketAddr = format!("127.0.0.{n}:0").parse().unwrap();
            socket.bind(&from.into()).expect("bind 127.0.0.N");
            let mut to = under.listeners[i].addr.as_socket().expect("inet listener");
            if under.listeners[i].wildcard {
                // Sent to another loopback address: the echo must come back
                // from that address (IP_PKTINFO), or this connected socket
                // never takes it.
                to = SocketAddr::new(format!("127.0.0.{}", n % 9 + 2).parse().unwrap(), to.port());
            }
            socket.connect(&to.into()).expect("connect udp4");
            (socket, Some(i))
        }
        Shape::V6 => {
            let candidates: Vec<usize> = (0..under.listeners.len())
                .filter(|&i| under.listeners[i].v6)
                .collect();
            if candidates.is_empty() {
                return None;
            }
            let i = candidates[pick % candidates.len()];
            let socket = Socket::new(Domain::IPV6, Type::DGRAM, None).expect("udp6 socket");
            socket
                .bind(&"[::1]:0".parse::<SocketAddr>().unwrap().into())
                .expect("bind ::1");
            let port = under.listeners[i].addr.as_socket().unwrap().port();
            let to: SocketAddr = format!("[::1]:{port}").parse().unwrap();
            socket.connect(&to.into()).expect("connect udp6");
            (socket, Some(i))
        }
    };
    socket.set_read_timeout(timeout).expect("read timeout");
    socket.set_write_timeout(timeout).expect("write timeout");
    Some(Sender {
        socket,
        shape,
        target,
        expected: Vec::new(),
    })
}

fn shape_of(kind: u8, len: usize) -> Shape {
    match kind % 7 {
        0 => Shape::Path(len),
        1 => Shape::Abstract(len),
        2 => Shape::Autobind,
        3 => Shape::Unbound,
        4 => Shape::V4(1 + (len % 9) as u8),
        5 => Shape::V6,
        _ => Shape::Path(107),
    }
}

/// One randomized sequence: make the senders, send, collect, compare.
/// `concurrent`: every datagram is sent before any echo is read, so one
/// recvmmsg batch holds many senders; otherwise each echo is awaited.
fn run_sequence(
    under: &Under,
    case: u64,
    shapes: &[(u8, usize, usize)],
    sends: &[(Index, Index, usize)],
    concurrent: bool,
) -> Result<(), TestCaseError> {
    let mut seed = case.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut rng = move || {
        // xorshift64: names and payload bytes, reproducible from the case.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut senders: Vec<Sender> = shapes
        .iter()
        .filter_map(|&(kind, len, pick)| sender(shape_of(kind, len), under, pick, &mut rng))
        .collect();
    prop_assume!(!senders.is_empty());
    let unix_listeners: Vec<usize> = (0..under.listeners.len())
        .filter(|&i| under.listeners[i].unix)
        .collect();
    let mut in_flight: BTreeMap<usize, usize> = BTreeMap::new();
    for (seq, &(who, listener, len)) in sends.iter().enumerate() {
        let s = who.index(senders.len());
        // A Unix datagram socket queues at most max_dgram_qlen (10 by
        // default) unread echoes: more would be dropped by the kernel, not misdelivered.
        if concurrent && in_flight.get(&s).copied().unwrap_or(0) >= 8 {
            continue;
        }
        let mut payload = format!("case {case} seq {seq} sender {s}|").into_bytes();
        payload.extend((0..len).map(|_| rng() as u8));
        let sender = &mut senders[s];
        let answered = !matches!(sender.shape, Shape::Unbound);
        match sender.target {
            Some(_) => {
                sender.socket.send(&payload).map_err(|e| {
                    TestCaseError::fail(format!("send from {:?}: {e}", sender.shape))
                })?;
            }
            None => {
                let to =
                    &under.listeners[unix_listeners[listener.index(unix_listeners.len())]].addr;
                sender.socket.send_to(&payload, to).map_err(|e| {
                    TestCaseError::fail(format!("send_to from {:?}: {e}", sender.shape))
                })?;
            }
        }
        if answered {
            sender.expected.push(payload);
            *in_flight.entry(s).or_default() += 1;
        }
        if !concurrent && answered {
            collect(&mut senders[s], case)?;
            in_flight.insert(s, 0);
        }
    }
    for sender in senders.iter_mut() {
        collect(sender, case)?;
    }
    // Nothing else may have arrived anywhere: every socket is drained and checked.
    for sender in &senders {
        sender.socket.set_nonblocking(true).expect("nonblocking");
        let mut buf = vec![0u8; 70_000];
        if let Ok(n) = (&sender.socket).read(&mut buf) {
            return Err(TestCaseError::fail(format!(
                "case {case}: a stray datagram of {n} bytes reached sender {:?}: {}",
                sender.shape,
                show_bytes(&buf[..n.min(80)])
            )));
        }
    }
    Ok(())
}

/// Reads the echoes `sender` expects (in any order) and checks each is one
/// of its own, byte for byte.
fn collect(sender: &mut Sender, case: u64) -> Result<(), TestCaseError> {
    let mut buf = vec![0u8; 70_000];
    while !sender.expected.is_empty() {
        let n = (&sender.socket).read(&mut buf).map_err(|e| {
            TestCaseError::fail(format!(
                "case {case}: sender {:?} waited for {} echo(es) and got none: {e} \
                 (first expected: {})",
                sender.shape,
                sender.expected.len(),
                show_bytes(&sender.expected[0][..sender.expected[0].len().min(60)])
            ))
        })?;
        let got = &buf[..n];
        match sender.expected.iter().position(|e| e == got) {
            Some(i) => {
                sender.expected.swap_remove(i);
            }
            None => {
                return Err(TestCaseError::fail(format!(
                    "case {case}: sender {:?} got a datagram it did not send ({n} bytes): {}",
                    sender.shape,
                    show_bytes(&got[..n.min(80)])
                )));
            }
        }
    }
    Ok(())
}

fn sequences(under: &Under, cases: u32) {
    let counter = std::sync::atomic::AtomicU64::new(0);
    let config = ProptestConfig {
        cases,
        max_shrink_iters: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let strategy = (
        prop::collection::vec((any::<u8>(), 0usize..=107, any::<usize>()), 1..7),
        prop::collection::vec((any::<Index>(), any::<Index>(), 0usize..1500), 1..16),
        any::<bool>(),
    );
    let result = runner.run(&strategy, |(shapes, sends, concurrent)| {
        let case = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        run_sequence(under, case, &shapes, &sends, concurrent)
    });
    if let Err(e) = result {
        panic!(
            "{e}\nserver stderr:\n{}",
            under
                .server
                .stderr()
                .lines()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn every_datagram_echo_reaches_exactly_its_sender_with_one_worker() {
    let mut under = start(&["--workers", "1"]);
    let started = Instant::now();
    sequences(&under, 1000);
    under.server.assert_running("after 1000 sequences");
    eprintln!("1000 sequences in {:?}", started.elapsed());
}

#[test]
fn every_datagram_echo_reaches_exactly_its_sender_with_default_workers() {
    let mut under = start(&[]);
    sequences(&under, 1000);
    under.server.assert_running("after 1000 sequences");
}

/// Large datagrams from senders of different name lengths, near each
/// transport's limit, through one batch.
#[test]
fn datagrams_near_the_limit_from_mixed_senders_come_back_whole() {
    let under = start(&["--workers", "1"]);
    let mut rng = {
        let mut seed = 0x1234_5678_9abc_def1u64;
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    };
    let shapes = [
        Shape::Path(3),
        Shape::Abstract(100),
        Shape::Path(90),
        Shape::V4(2),
    ];
    for (k, shape) in shapes.into_iter().enumerate() {
        let Some(mut s) = sender(shape, &under, 0, &mut rng) else {
            continue;
        };
        // 65,507 bytes is UDP/IPv4's largest; the default buffer is 64 KiB.
        let len = if s.target.is_some() { 65_507 } else { 65_536 };
        let mut payload = vec![k as u8; len];
        payload[..8].copy_from_slice(&(k as u64).to_be_bytes());
        match s.target {
            Some(_) => s.socket.send(&payload).expect("send big udp"),
            None => {
                let unix = under.listeners.iter().find(|l| l.unix).unwrap();
                s.socket
                    .send_to(&payload, &unix.addr)
                    .expect("send big unix")
            }
        };
        s.expected.push(payload);
        collect(&mut s, k as u64).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The path the server's Unix listener is bound to (for foreign clients).
fn unix_listener_path(under: &Under) -> String {
    under
        .server
        .ready
        .iter()
        .find_map(|l| l.strip_prefix("unixgram:/"))
        .map(|rest| format!("/{rest}"))
        .expect("a unixgram path listener")
}

fn assert_is_dir(p: &Path) {
    assert!(p.is_dir(), "{} is not a directory", p.display());
}

// ---------------------------------------------------------------------------
// Strangers as clients: socat, OpenBSD nc, ncat, Python
// ---------------------------------------------------------------------------

/// socat's UNIX-SENDTO with `bind=` names of falling and rising lengths, one
/// after another: the repro of the misdelivery ("nothing comes back").
#[test]
fn socat_unix_datagram_clients_of_every_name_length_get_their_echo() {
    if !have_socat() {
        return skip("socat_unix_datagram_clients", "socat is not installed");
    }
    let under = start(&["--workers", "1"]);
    let path = unix_listener_path(&under);
    assert_is_dir(under.dir.path());
    let names = [
        "a-very-long-client-name-for-socat.sock",
        "a.sock",
        "abc.sock",
        "b",
    ];
    // Our own client first, as in the report: its autobind name sets a length.
    let first = send(&[&format!("unixgram:{path}"), "one"], b"", STEP);
    assert_eq!(first.code, 0, "{}", first.describe());
    for (k, name) in names.iter().enumerate() {
        let client = under.dir.path().join(name);
        let message = format!("message {k} from {name}\n");
        let mut cmd = std::process::Command::new("socat");
        cmd.args([
            "-t2",
            "-T3",
            "-",
            &format!("UNIX-SENDTO:{path},bind={}", client.display()),
        ]);
        let run = run_cmd(cmd, message.as_bytes(), STEP);
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            message,
            "socat client {name} did not get its own echo: {}\nserver stderr: {}",
            run.describe(),
            under.server.stderr()
        );
    }
}

/// OpenBSD nc and ncat as UDP clients of a wildcard listener, sent to
/// 127.0.0.2 and 127.0.0.3: a connected client takes only an echo from the
/// address it sent to (IP_PKTINFO).
#[test]
fn udp_clients_of_a_wildcard_listener_get_the_echo_from_the_address_they_sent_to() {
    let server = Server::start(&["-u", ":0"], 1);
    let port = server.port(0).to_string();
    // echokit's own client, connected to 127.0.0.2.
    let ours = send(&["-u", &format!("127.0.0.2:{port}"), "ours"], b"", STEP);
    assert_eq!(ours.code, 0, "{}", ours.describe());
    assert_eq!(ours.stdout, b"ours\n");
    if have_program("nc", &["-h"]) {
        // OpenBSD nc: -w 1 ends it once stdin is done and a second passes quietly.
        let mut cmd = std::process::Command::new("nc");
        cmd.args(["-u", "-w", "1", "127.0.0.2", &port]);
        let run = run_cmd(cmd, b"from nc\n", STEP);
        assert_eq!(run.stdout, b"from nc\n", "nc -u: {}", run.describe());
    } else {
        skip("nc udp client", "nc is not installed");
    }
    if have_program("ncat", &["--version"]) {
        // ncat -u ends at stdin EOF, maybe before the echo: keep stdin open
        // until the echo line is read.
        let mut cmd = std::process::Command::new("ncat");
        cmd.args(["-u", "127.0.0.3", &port]);
        let got = first_line_while_stdin_open(cmd, b"from ncat\n");
        assert_eq!(
            got.as_deref(),
            Some("from ncat"),
            "ncat -u to 127.0.0.3:{port}"
        );
    } else {
        skip("ncat udp client", "ncat is not installed");
    }
    if ipv6_unavailable().is_none() {
        let v6 = send(&["-u", &format!("[::1]:{port}"), "six"], b"", STEP);
        assert_eq!(v6.code, 0, "{}", v6.describe());
    }
}

/// Runs `cmd` with `input` on a stdin kept open, and returns the first line
/// it prints within [`STEP`]; then kills it (it is our child, by its pid).
fn first_line_while_stdin_open(mut cmd: std::process::Command, input: &[u8]) -> Option<String> {
    use std::io::{BufRead, Write};
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let _ = stdin.write_all(input);
    let stdout = child.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(STEP).ok();
    let _ = child.kill();
    let _ = wait_with_timeout(&mut child, STEP);
    drop(stdin);
    line.map(|l| l.trim_end().to_string())
}

/// Python clients bound to a path, an 11-byte abstract name and a longer
/// path, one after another against one worker (the report's second repro),
/// then all at once.
#[test]
fn python_unix_datagram_clients_with_different_names_each_get_their_own_echo() {
    let Some(py) = python() else {
        return skip("python_unix_datagram_clients", "python3 is not installed");
    };
    let under = start(&["--workers", "1"]);
    let path = unix_listener_path(&under);
    let dir = under.dir.path().display().to_string();
    let script = r#"
import socket, sys
server, d = sys.argv[1], sys.argv[2]
names = [d + "/b.sock", "\0abstract-11", d + "/b.sock-other-user"]
socks = []
for n in names:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(n)
    s.settimeout(3)
    socks.append(s)
for i, s in enumerate(socks):          # one after another
    s.sendto(b"seq %d" % i, server)
    got = s.recv(100)
    assert got == b"seq %d" % i, (i, got)
for i, s in enumerate(socks):          # all at once
    s.sendto(b"burst %d" % i, server)
for i, s in enumerate(socks):
    got = s.recv(100)
    assert got == b"burst %d" % i, (i, got)
print("ok")
"#;
    let mut cmd = std::process::Command::new(py);
    cmd.args(["-c", script, &path, &dir]);
    let run = run_cmd(cmd, b"", STEP);
    assert_eq!(
        run.stdout,
        b"ok\n",
        "{}\nserver stderr: {}",
        run.describe(),
        under.server.stderr()
    );
}

/// A sender whose path holds a newline and ESC cannot forge log lines: the
/// drop line names it escaped, on one line.
#[test]
fn a_datagram_sender_name_with_control_characters_is_escaped_in_the_drop_line() {
    let dir = temp_dir();
    let path = dir.path().join("s.sock");
    let mut server = Server::start(
        &[
            "--buffer-size",
            "8",
            &format!("unixgram:{}", path.display()),
        ],
        1,
    );
    let client_path = dir.path().join("c\ntcp:10.9.9.9:7\x1b[31m");
    let client = std::os::unix::net::UnixDatagram::bind(&client_path).expect("bind weird name");
    // Larger than the 8-byte buffer: dropped, and the drop line names the sender.
    client.send_to(b"0123456789abcdef", &path).expect("send");
    let expected = format!(
        "(last from {}/c\\ntcp:10.9.9.9:7\\x1b[31m)",
        dir.path().display()
    );
    assert!(
        server.wait_stderr(&expected, STEP),
        "no escaped drop line {expected:?} in:\n{}",
        server.stderr()
    );
    let stderr = server.stderr();
    assert!(!stderr.contains('\x1b'), "raw ESC in stderr: {stderr:?}");
    assert!(
        !stderr.lines().any(|l| l.starts_with("tcp:10.9.9.9")),
        "a forged line in stderr: {stderr:?}"
    );
    server.proc.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(server.proc.expect_exit(), 0);
}

/// One forged datagram whose source is the server's own address (a raw
/// socket: root only) is dropped, not echoed to itself forever.
#[test]
fn a_forged_datagram_from_the_servers_own_address_is_not_echoed() {
    if !nix::unistd::geteuid().is_root() {
        return skip(
            "a_forged_datagram_from_the_servers_own_address",
            "needs root for a raw socket",
        );
    }
    for listen in ["udp:127.0.0.1:0", "udp::0"] {
        let mut server = Server::start(&["-v", "--workers", "1", listen], 1);
        let port = server.port(0);
        // A UDP header from port `port` to port `port`; the kernel adds the
        // IP header (source 127.0.0.1). Checksum 0: none, allowed over IPv4.
        let raw =
            Socket::new(Domain::IPV4, Type::RAW, Some(socket2::Protocol::UDP)).expect("raw socket");
        let payload = b"forged";
        let mut packet = Vec::new();
        packet.extend_from_slice(&port.to_be_bytes());
        packet.extend_from_slice(&port.to_be_bytes());
        packet.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        packet.extend_from_slice(&[0, 0]);
        packet.extend_from_slice(payload);
        let to: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        raw.send_to(&packet, &to.into())
            .expect("send forged datagram");
        assert!(
            server.wait_stderr("from one of this server's own addresses", STEP),
            "{listen}: no own-address drop line in:\n{}",
            server.stderr()
        );
        server.proc.signal(nix::sys::signal::Signal::SIGTERM);
        assert_eq!(
            server.proc.expect_exit(),
            0,
            "{listen}: {}",
            server.stderr()
        );
        let stderr = server.stderr();
        assert!(
            stderr.contains(&format!("(last from 127.0.0.1:{port})"))
                || stderr.contains(&format!("(last from [::ffff:127.0.0.1]:{port})")),
            "{listen}: the drop line does not name the forged sender: {stderr}"
        );
        assert!(
            stderr.contains("; 0 datagrams echoed, 1 dropped;"),
            "{listen}: the forged datagram was echoed: {stderr}"
        );
    }
}
