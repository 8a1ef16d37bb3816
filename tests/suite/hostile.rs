//! Hostile input and environments (issue 15): another local user racing the
//! socket file `serve --mode` creates, listen queues that are full, control
//! characters in addresses and peer names, and what systemd or a user puts in
//! LISTEN_FDS. Tests named `issue15_…` pin what that issue asked for.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

/// Whether strace can trace a child here (it needs ptrace).
fn have_strace() -> bool {
    program_succeeds("strace", &["-qq", "-o", "/dev/null", "true"])
}

/// Issue 15 point 1: `--mode` changes the mode of the socket file this
/// process created and nothing else. A local user who replaces the new
/// socket with a symlink to a 0600 file, in a world-writable directory
/// without the sticky bit, must not get that file chmod'ed. strace holds
/// every syscall that could set a mode or move the file into place for
/// 300 ms, so the swapper wins any race there is; once with the usual way
/// (a thread of its own umask) and once with unshare(2) refused, as a
/// container's seccomp filter does, which takes the private-directory way.
#[test]
fn issue15_mode_never_chmods_what_a_swapper_put_at_the_path() {
    if !have_strace() {
        eprintln!("skipping: strace is missing or cannot trace here");
        return;
    }
    let dir = temp_dir();
    let world = dir.path().join("world");
    std::fs::create_dir(&world).expect("mkdir");
    std::fs::set_permissions(&world, std::fs::Permissions::from_mode(0o777)).expect("chmod 777");
    for (n, refuse_unshare) in [false, true].into_iter().enumerate() {
        let victim = dir.path().join(format!("victim{n}"));
        std::fs::write(&victim, "secret").expect("write the victim");
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600))
            .expect("chmod 600");
        let sock = world.join(format!("s{n}.sock"));
        let mut cmd = std::process::Command::new("strace");
        cmd.args(["-f", "-qq", "-o", "/dev/null"]);
        cmd.arg("-e")
            .arg("inject=chmod,fchmodat,?fchmodat2,fchmod,linkat,renameat2:delay_enter=300000");
        if refuse_unshare {
            cmd.args(["-e", "inject=unshare:error=EPERM"]);
        }
        cmd.args([BIN, "serve", "--count", "1", "--mode", "666"]);
        cmd.arg(format!("unix:{}", sock.display()));
        cmd.arg("127.0.0.1:0");
        let mut server = Proc::spawn(cmd);
        // The other user: as soon as a socket is there, a symlink takes its place.
        let swapper = {
            let (sock, victim) = (sock.clone(), victim.clone());
            thread::spawn(move || {
                let deadline = Instant::now() + STEP;
                while Instant::now() < deadline {
                    if std::fs::symlink_metadata(&sock).is_ok_and(|m| m.file_type().is_socket()) {
                        std::fs::remove_file(&sock).expect("remove the socket");
                        std::os::unix::fs::symlink(&victim, &sock).expect("symlink");
                        return true;
                    }
                    thread::sleep(Duration::from_micros(200));
                }
                false
            })
        };
        let first = server.expect_line("the unix ready line");
        let tcp = server.expect_line("the tcp ready line");
        assert_eq!(
            first,
            format!("unix:{}", sock.display()),
            "{}",
            server.describe()
        );
        assert!(
            swapper.join().expect("swapper"),
            "the socket never appeared"
        );
        // Ends the server (--count 1), so strace and echokit exit by themselves.
        send(&[&tcp, "hi"], b"", STEP).assert_echo(b"hi\n");
        assert_eq!(server.expect_exit(), 0, "{}", server.describe());
        let mode = std::fs::metadata(&victim)
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(
            mode, 0o600,
            "the swapped-in symlink's target was chmod'ed (unshare refused: {refuse_unshare})"
        );
        // The symlink is not ours: it stays.
        assert!(
            std::fs::symlink_metadata(&sock).is_ok_and(|m| m.file_type().is_symlink()),
            "the symlink that replaced the socket was removed"
        );
        let _ = std::fs::remove_file(&sock);
    }
}

/// Issue 15 point 1: the private-directory way (unshare refused) still gives
/// exactly `--mode`, whatever the umask, and leaves no directory behind.
#[test]
fn issue15_mode_is_exact_when_the_socket_is_made_in_a_private_directory() {
    if !have_strace() {
        eprintln!("skipping: strace is missing or cannot trace here");
        return;
    }
    let dir = temp_dir();
    for (mode, want) in [("666", 0o666), ("0660", 0o660), ("600", 0o600)] {
        let sock = dir.path().join(format!("p{mode}.sock"));
        let mut cmd = std::process::Command::new("sh");
        cmd.args([
            "-c",
            "umask 077; exec strace -f -qq -o /dev/null -e inject=unshare:error=EPERM \"$0\" serve --count 1 --mode \"$1\" \"$2\"",
            BIN,
            mode,
        ]);
        cmd.arg(format!("unix:{}", sock.display()));
        let mut server = Proc::spawn(cmd);
        let ready = server.expect_line("the ready line");
        assert_eq!(
            ready,
            format!("unix:{}", sock.display()),
            "{}",
            server.describe()
        );
        let meta = std::fs::symlink_metadata(&sock).expect("stat the socket");
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o7777, want, "--mode {mode}");
        // Ends the server (--count 1), so strace and echokit exit by themselves.
        send(&[&ready, "hi"], b"", STEP).assert_echo(b"hi\n");
        assert_eq!(server.expect_exit(), 0, "{}", server.describe());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read the dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".echokit-"))
            .collect();
        assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
        assert!(
            !Path::new(&sock).exists(),
            "the socket file outlived the server"
        );
    }
}

/// A Unix stream listener at `path` with a backlog of 0 that never accepts,
/// its listen queue filled: the next connect(2) says EAGAIN. The connections
/// that filled it come back with it, to be held for the test.
fn full_unix_listener(path: &Path) -> (socket2::Socket, Vec<socket2::Socket>) {
    use socket2::{Domain, SockAddr, Socket, Type};
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
    let addr = SockAddr::unix(path).expect("address");
    listener.bind(&addr).expect("bind");
    listener.listen(0).expect("listen");
    let mut held = Vec::new();
    for _ in 0..64 {
        let c = Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
        c.set_nonblocking(true).expect("non-blocking");
        match c.connect(&addr) {
            Ok(()) => held.push(c),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return (listener, held),
            Err(e) => panic!("filling the queue: {e}"),
        }
    }
    panic!("the listen queue never filled");
}

/// A TCP listener on 127.0.0.1 with a backlog of 0 that never accepts, filled
/// until a handshake gets no answer (the kernel drops the SYN of a full
/// queue); its port, and everything to hold for the test.
fn full_tcp_listener() -> (u16, socket2::Socket, Vec<socket2::Socket>) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use socket2::{Domain, SockAddr, Socket, Type};
    use std::os::fd::AsFd;
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("address");
    listener.bind(&SockAddr::from(any)).expect("bind");
    listener.listen(0).expect("listen");
    let addr = listener.local_addr().expect("local address");
    let port = addr.as_socket().expect("inet").port();
    let mut held = Vec::new();
    for _ in 0..64 {
        let c = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        c.set_nonblocking(true).expect("non-blocking");
        let _ = c.connect(&addr);
        let mut fds = [PollFd::new(c.as_fd(), PollFlags::POLLOUT)];
        let answered = poll(&mut fds, PollTimeout::from(200u8)).expect("poll") > 0;
        held.push(c);
        if !answered {
            return (port, listener, held);
        }
    }
    panic!("the TCP listen queue never filled");
}

/// Issue 15 point 5: a live server whose listen queue is full is live. The
/// stale-socket probe blocked in connect(2) and `serve` hung for ever.
#[test]
fn issue15_serve_on_a_live_socket_with_a_full_queue_is_address_in_use() {
    let dir = temp_dir();
    let path = dir.path().join("full.sock");
    let _full = full_unix_listener(&path);
    let path = path.display().to_string();
    echokit_within(&["serve", &path], b"", STEP).assert_error(
        5,
        &format!(
            "echokit: cannot listen on {path}: address in use (another process is serving on this socket; its listen queue is full)"
        ),
    );
}

/// Issue 15 point 5: EAGAIN from connect(2) on AF_UNIX means "queue full",
/// not "in progress": `send`, `check` and `bench` failed at once with "no
/// error set after POLLHUP". They retry until the connect timeout, then exit
/// 4 naming the full queue.
#[test]
fn issue15_clients_retry_a_full_unix_queue_then_time_out_naming_it() {
    let dir = temp_dir();
    let path = dir.path().join("full.sock");
    let _full = full_unix_listener(&path);
    let path = path.display().to_string();
    let line = |limit: &str| {
        format!(
            "echokit: timed out connecting to {path} (its listen queue stayed full for {limit}: the server accepts no more connections)"
        )
    };
    let run = send(&["--connect-timeout", "1s", &path, "hi"], b"", STEP);
    run.assert_error(4, &line("1s"));
    assert!(run.elapsed >= Duration::from_millis(900), "{run}");
    // --timeout is the connect timeout too when --connect-timeout is not given.
    send(&["--timeout", "1s", &path, "hi"], b"", STEP).assert_error(4, &line("1s"));
    echokit_within(
        &["bench", "--timeout", "1s", "--duration", "1s", &path],
        b"",
        STEP,
    )
    .assert_error(4, &line("1s"));
    let check = echokit_within(&["check", "--timeout", "1s", &path], b"", STEP);
    check.assert_code(1);
    assert!(
        check
            .out()
            .contains("timed out connecting (its listen queue stayed full for 1s"),
        "the row should say the queue stayed full\n{check}"
    );
}

/// Issue 15 point 5: with no timeout given at all, `send` to a full queue hung
/// for ever; now it gives up after the default 10s.
#[test]
fn issue15_send_with_no_timeout_gives_up_on_a_full_queue_after_10s() {
    let dir = temp_dir();
    let path = dir.path().join("full.sock");
    let _full = full_unix_listener(&path);
    let path = path.display().to_string();
    send(&[&path, "hi"], b"", STEP + Duration::from_secs(5)).assert_error(
        4,
        &format!(
            "echokit: timed out connecting to {path} (its listen queue stayed full for 10s: the server accepts no more connections)"
        ),
    );
}

/// Issue 15 point 5: a TCP connect that gets no answer (a full backlog drops
/// the SYN) waited as long as the kernel retries (over two minutes) when no
/// timeout was given; now it ends at the default 10s, exit 4.
#[test]
fn issue15_a_tcp_connect_with_no_answer_times_out_after_10s() {
    let (port, _listener, _held) = full_tcp_listener();
    let addr = format!("127.0.0.1:{port}");
    let run = send(&[&addr, "hi"], b"", STEP + Duration::from_secs(5));
    run.assert_error(4, &format!("echokit: timed out connecting to {addr}"));
    assert!(run.elapsed >= Duration::from_secs(9), "{run}");
}

/// Issue 15 point 6: a newline in an address forged a second ready line
/// (`serve`) or split a table row (`check`). A control character in a path
/// or abstract name is exit 2 naming it, and nothing reaches stdout.
#[test]
fn issue15_control_characters_in_an_address_are_refused_naming_them() {
    let forged = "/tmp/a\ntcp:10.9.9.9:7";
    let run = echokit(&["serve", forged], b"");
    run.assert_error(
        2,
        r#"echokit: invalid address "/tmp/a\ntcp:10.9.9.9:7": a Unix socket path cannot contain a control character (\n, byte 6)"#,
    );
    assert!(run.stdout.is_empty(), "{run}");
    let run = echokit(&["check", "/tmp/nl\nx.sock"], b"");
    run.assert_error(
        2,
        r#"echokit: invalid address "/tmp/nl\nx.sock": a Unix socket path cannot contain a control character (\n, byte 7)"#,
    );
    assert!(run.stdout.is_empty(), "{run}");
    send(&["unix:x\x7fy", "hi"], b"", STEP).assert_error(
        2,
        r#"echokit: invalid address "unix:x\u{7f}y": a Unix socket path cannot contain a control character (\x7f, byte 1)"#,
    );
    if cfg!(target_os = "linux") {
        send(&["seqpacket:@e\x1b[2Jx", "hi"], b"", STEP).assert_error(
            2,
            r#"echokit: invalid address "seqpacket:@e\u{1b}[2Jx": an abstract socket name cannot contain a control character (\x1b, byte 1)"#,
        );
    }
}

/// Issue 15 point 6: 2,000 connections cut by `--buffer-size` gave 2,000 log
/// lines. Repeated lines of one kind are throttled like datagram drops: the
/// first at once, then a count at most once per interval, and no connection
/// goes uncounted.
#[test]
fn issue15_cut_message_lines_are_throttled_and_counted() {
    use socket2::{Domain, SockAddr, Socket, Type};
    use std::io::Read;
    const CONNECTIONS: u64 = 200;
    let dir = temp_dir();
    let path = dir.path().join("cut.sock");
    let arg = format!("seqpacket:{}", path.display());
    let mut server = Server::start(&["--buffer-size", "8", &arg], 1);
    let addr = SockAddr::unix(&path).expect("address");
    let started = Instant::now();
    for _ in 0..CONNECTIONS {
        let c = Socket::new(Domain::UNIX, Type::SEQPACKET, None).expect("socket");
        c.set_read_timeout(Some(STEP)).expect("timeout");
        c.connect(&addr).expect("connect");
        c.send(b"sixteen bytes!!!").expect("send");
        // The server closes the connection: EOF, nothing echoed.
        let mut buf = [0u8; 64];
        let n = (&c).read(&mut buf).expect("read to the close");
        assert_eq!(n, 0, "a cut message was echoed");
    }
    let took = started.elapsed();
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(server.expect_exit(), 0, "{}", server.describe());
    let stderr = server.stderr();
    let full: Vec<&str> = stderr.lines().filter(|l| l.contains("MSG_TRUNC")).collect();
    let counted: u64 = stderr
        .lines()
        .filter_map(|l| l.split(": ").nth(2))
        .filter_map(|rest| rest.strip_suffix(" closed for a message larger than --buffer-size"))
        .filter_map(|rest| rest.split(' ').next()?.parse::<u64>().ok())
        .sum();
    // One full line at once, then at most one per second the run lasted.
    let intervals = took.as_secs() + 2;
    assert!(
        !full.is_empty() && full.len() as u64 <= intervals,
        "{} full lines in {took:?}:\n{stderr}",
        full.len()
    );
    assert_eq!(
        full.len() as u64 + counted,
        CONNECTIONS,
        "every cut is counted:\n{stderr}"
    );
}

/// Issue 15 point 2: `--mode` with an abstract name was silently ignored. An
/// abstract name has no file: each abstract listener gets one warning line
/// saying so, a socket file none.
#[test]
fn issue15_mode_on_an_abstract_name_warns_once_per_listener() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = temp_dir();
    let (a, b) = (abstract_name(), abstract_name());
    let stream = format!("unix:@{a}");
    let packet = format!("seqpacket:@{b}");
    let path = format!("unix:{}", dir.path().join("f.sock").display());
    let mut server = Server::start(&["--mode", "600", &stream, &packet, &path], 3);
    let warning = |ready: &str, name: &str| {
        format!(
            "echokit: {ready}: --mode does not apply to abstract socket @{name}: it has no file; any local user in this network namespace can connect"
        )
    };
    let want = [warning(&stream, &a), warning(&packet, &b)];
    for line in &want {
        assert!(
            server.wait_stderr(line, STEP),
            "no warning {line:?}\n{}",
            server.describe()
        );
    }
    send(&[&stream, "hi"], b"", STEP).assert_echo(b"hi\n");
    server.signal(nix::sys::signal::Signal::SIGTERM);
    server.expect_exit();
    let stderr = server.stderr();
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("--mode")).collect();
    assert_eq!(
        warnings,
        want.iter().map(String::as_str).collect::<Vec<_>>(),
        "{stderr}"
    );
}

/// Issue 15 point 8: `serve P P` said "another process is serving on this
/// socket" (exit 5) about its own first listener; the same address twice is
/// a usage error, and nothing is bound.
#[test]
fn issue15_the_same_address_twice_is_a_usage_error() {
    let dir = temp_dir();
    let path = dir.path().join("twice.sock").display().to_string();
    echokit(&["serve", &path, &path], b"").assert_error(
        2,
        &format!("echokit: the same address twice: {path} (each address is served once)"),
    );
    let unix = format!("unix:{path}");
    echokit(&["serve", &path, &unix], b"").assert_error(
        2,
        &format!(
            "echokit: the same address twice: {path} and {unix} (each address is served once)"
        ),
    );
    assert!(!Path::new(&path).exists(), "nothing is bound");
}

/// Issue 15 point 8: an unknown numeric scope was exit 3 ("no such device"),
/// and a link-local address without a scope said only "invalid argument".
#[test]
fn issue15_link_local_scopes_are_checked_before_connecting() {
    send(&["[fe80::1%4000000]:7", "hi"], b"", STEP).assert_error(
        2,
        r#"echokit: invalid address "[fe80::1%4000000]:7": unknown scope 4000000 (no network interface has that index)"#,
    );
    send(&["[fe80::1]:7", "hi"], b"", STEP).assert_error(
        2,
        r#"echokit: invalid address "[fe80::1]:7": a link-local address needs a scope id, the interface to use: [fe80::1%eth0]"#,
    );
}
