//! Multipath TCP (`mptcp:`, SPEC §1-§4), the real binary over loopback:
//! the ready line and the socket the kernel lists as MPTCP, an exchange that
//! is MPTCP on both ends, fallback to plain TCP both ways (a TCP client to an
//! MPTCP listener, an MPTCP client to a TCP listener) with the echo exact and
//! `-v` saying which one each side runs, check's mptcp4/mptcp6 rows and
//! `--require mptcp`, and, in a network namespace, MPTCP turned off
//! (`net.mptcp.enabled=0`): a SKIP and a listen error naming the sysctl.
//!
//! Where this kernel has no MPTCP or has it off, each test says so and skips.

use std::time::Duration;

use crate::util::*;

const LIMIT: Duration = Duration::from_secs(30);

/// Whether this kernel has MPTCP turned on; if not, says why (naming `test`).
fn available(test: &str) -> bool {
    match std::fs::read_to_string("/proc/sys/net/mptcp/enabled") {
        Ok(v) if v.trim() == "1" => true,
        Ok(_) => {
            skip(test, "net.mptcp.enabled is 0 on this machine");
            false
        }
        Err(_) => {
            skip(
                test,
                "this kernel has no MPTCP (/proc/sys/net/mptcp/enabled)",
            );
            false
        }
    }
}

/// Whether the IPv6 loopback address can be bound here.
fn have_ipv6() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// The loopback hosts to try: 127.0.0.1, and [::1] where it exists.
fn loopbacks() -> Vec<&'static str> {
    let mut hosts = vec!["127.0.0.1"];
    if have_ipv6() {
        hosts.push("[::1]");
    }
    hosts
}

#[test]
fn serve_mptcp_prints_an_mptcp_ready_line_and_makes_an_mptcp_socket() {
    let test = "serve_mptcp_prints_an_mptcp_ready_line_and_makes_an_mptcp_socket";
    if !available(test) {
        return;
    }
    let server = Server::start(&["mptcp:127.0.0.1:0"], 1);
    assert!(
        server.ready[0].starts_with("mptcp:127.0.0.1:"),
        "{:?}",
        server.ready
    );
    let port = server.port(0);
    if !have_program("ss", &["-V"]) {
        skip(test, "cannot run ss to list MPTCP sockets");
        return;
    }
    // `ss -M` lists MPTCP sockets only: a plain TCP socket is not among them.
    let mut ss = std::process::Command::new("ss");
    ss.args(["-Mln"]);
    let run = run_cmd(ss, b"", LIMIT);
    let listed = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        listed.contains(&format!("127.0.0.1:{port} ")),
        "ss -Mln does not list port {port}:\n{listed}"
    );
}

#[test]
fn mptcp_to_mptcp_is_mptcp_on_both_ends_and_echoes_exactly() {
    if !available("mptcp_to_mptcp_is_mptcp_on_both_ends_and_echoes_exactly") {
        return;
    }
    for host in loopbacks() {
        let mut server = Server::start(&["-v", "--count", "1", &format!("mptcp:{host}:0")], 1);
        let run = echokit(&["send", "-v", &server.addr(0), "hello"], b"");
        assert_eq!(run.code, 0, "{run}");
        assert_eq!(run.stdout, b"hello\n", "{run}");
        assert!(
            run.stderr.contains(&format!(
                "echokit: connected to {} over MPTCP\n",
                server.addr(0)
            )),
            "{run}"
        );
        server.expect_stderr(": MPTCP, 6 bytes in, 6 bytes out");
        server.wait_exit(LIMIT).expect("serve --count 1 exits");
    }
}

#[test]
fn a_tcp_client_to_an_mptcp_listener_falls_back_and_echoes_exactly() {
    if !available("a_tcp_client_to_an_mptcp_listener_falls_back_and_echoes_exactly") {
        return;
    }
    for host in loopbacks() {
        let mut server = Server::start(&["-v", "--count", "1", &format!("mptcp:{host}:0")], 1);
        let tcp = server.addr(0).replacen("mptcp:", "tcp:", 1);
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let run = echokit(&["send", "-v", &tcp], &payload);
        assert_eq!(run.code, 0, "{run}");
        assert!(run.stdout == payload, "the echo differs\n{run}");
        assert!(!run.stderr.contains(" over "), "{run}");
        server.expect_stderr(": TCP after fallback, 300000 bytes in, 300000 bytes out");
        server.wait_exit(LIMIT).expect("serve --count 1 exits");
    }
}

#[test]
fn an_mptcp_client_to_a_tcp_listener_falls_back_and_echoes_exactly() {
    if !available("an_mptcp_client_to_a_tcp_listener_falls_back_and_echoes_exactly") {
        return;
    }
    for host in loopbacks() {
        let mut server = Server::start(&["-v", "--count", "1", &format!("tcp:{host}:0")], 1);
        let mptcp = server.addr(0).replacen("tcp:", "mptcp:", 1);
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 251) as u8).collect();
        let run = echokit(&["send", "-v", &mptcp], &payload);
        assert_eq!(run.code, 0, "{run}");
        assert!(run.stdout == payload, "the echo differs\n{run}");
        assert!(
            run.stderr.contains(&format!(
                "echokit: connected to {mptcp} over TCP after fallback\n"
            )),
            "{run}"
        );
        server.expect_stderr(": 300000 bytes in, 300000 bytes out");
        server.wait_exit(LIMIT).expect("serve --count 1 exits");
    }
}

/// The row of `transport` in check's table.
fn row<'a>(stdout: &'a str, transport: &str) -> Option<&'a str> {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(transport))
}

#[test]
fn check_passes_the_mptcp_rows_only_over_mptcp_and_require_mptcp_accepts_them() {
    if !available("check_passes_the_mptcp_rows_only_over_mptcp_and_require_mptcp_accepts_them") {
        return;
    }
    let run = echokit_within(&["check", "-4", "--require", "mptcp"], b"", LIMIT);
    assert_eq!(run.code, 0, "{run}");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let mptcp4 = row(&stdout, "mptcp4").unwrap_or_else(|| panic!("no mptcp4 row\n{run}"));
    assert!(mptcp4.contains("mptcp:127.0.0.1:"), "{mptcp4}");
    assert!(mptcp4.contains(" PASS "), "{mptcp4}");
    if have_ipv6() {
        let run = echokit_within(&["check", "-6", "--require", "mptcp6"], b"", LIMIT);
        let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
        let mptcp6 = row(&stdout, "mptcp6").unwrap_or_else(|| panic!("no mptcp6 row\n{run}"));
        assert!(mptcp6.contains(" PASS "), "{mptcp6}");
    }
}

/// An mptcp row passes only when the connection is MPTCP on both ends: an
/// MPTCP client to a plain TCP echo server falls back, echoes every byte,
/// and still fails the row, naming the fallback (SPEC §4 check).
#[test]
fn check_fails_an_mptcp_row_whose_connection_fell_back_to_tcp() {
    if !available("check_fails_an_mptcp_row_whose_connection_fell_back_to_tcp") {
        return;
    }
    for host in loopbacks() {
        let server = Server::start(&[&format!("tcp:{host}:0")], 1);
        let tcp = server.addr(0);
        let mptcp = tcp.replacen("tcp:", "mptcp:", 1);
        // The same server passes as what it is.
        let plain = echokit_within(&["check", &tcp], b"", LIMIT);
        assert_eq!(plain.code, 0, "{plain}");
        let run = echokit_within(&["check", &mptcp], b"", LIMIT);
        assert_eq!(run.code, 1, "{run}");
        let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
        let name = if host.starts_with('[') {
            "mptcp6"
        } else {
            "mptcp4"
        };
        let line = row(&stdout, name).unwrap_or_else(|| panic!("no {name} row\n{run}"));
        assert!(
            line.contains(" FAIL ")
                && line.ends_with(&format!(
                    "the connection runs over TCP after fallback, not {name}"
                )),
            "{line}\n{run}"
        );
    }
}

const MPTCP_OFF: &str = "ip link set lo up && sysctl -qw net.mptcp.enabled=0";

#[test]
fn mptcp_turned_off_is_a_check_skip_that_names_the_sysctl() {
    let test = "mptcp_turned_off_is_a_check_skip_that_names_the_sysctl";
    if !available(test) {
        return;
    }
    let Some(run) = in_netns(test, None, MPTCP_OFF, &["check", "-4"], LIMIT) else {
        return;
    };
    assert_eq!(run.code, 0, "{run}");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let mptcp4 = row(&stdout, "mptcp4").unwrap_or_else(|| panic!("no mptcp4 row\n{run}"));
    assert!(mptcp4.contains(" SKIP "), "{mptcp4}");
    assert!(
        mptcp4.ends_with(
            "MPTCP is turned off in this kernel (net.mptcp.enabled=0: socket(IPPROTO_MPTCP) says protocol not available); `sysctl net.mptcp.enabled=1` turns it on"
        ),
        "{mptcp4}"
    );
    let tcp4 = row(&stdout, "tcp4").unwrap_or_else(|| panic!("no tcp4 row\n{run}"));
    assert!(tcp4.contains(" PASS "), "{tcp4}");
}

#[test]
fn mptcp_turned_off_fails_to_listen_naming_the_sysctl() {
    let test = "mptcp_turned_off_fails_to_listen_naming_the_sysctl";
    if !available(test) {
        return;
    }
    let Some(run) = in_netns(
        test,
        None,
        MPTCP_OFF,
        &["serve", "mptcp:127.0.0.1:0"],
        LIMIT,
    ) else {
        return;
    };
    assert_eq!(run.code, 5, "{run}");
    assert_eq!(
        run.stderr,
        "echokit: cannot listen on 127.0.0.1:0: MPTCP is turned off in this kernel (net.mptcp.enabled=0: socket(IPPROTO_MPTCP) says protocol not available); `sysctl net.mptcp.enabled=1` turns it on\n",
        "{run}"
    );
}

/// Python: an MPTCP listener (IPPROTO_MPTCP, 262) passed as fd 3 with
/// LISTEN_PID = the child's pid to `echokit serve -v`; prints its ready line
/// and what `send -v` says through it, then SIGTERMs it.
const ACTIVATE_MPTCP: &str = r#"
import os, socket, subprocess, sys, signal, select
binary = sys.argv[1]
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262); l.bind(("127.0.0.1", 0)); l.listen(16)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.dup2(w, 1)
    os.dup2(l.fileno(), 3)
    os.set_inheritable(3, True)
    env = dict(os.environ, LISTEN_PID=str(os.getpid()), LISTEN_FDS="1")
    os.execve(binary, ["echokit", "serve", "-v"], env)
os.close(w)
buf = b""
while b"\n" not in buf:
    ready, _, _ = select.select([r], [], [], 10)
    if not ready:
        break
    chunk = os.read(r, 4096)
    if not chunk:
        break
    buf += chunk
line = buf.decode().split("\n")[0]
print("ready", line, flush=True)
res = subprocess.run([binary, "send", "-v", "-t", "5s", line, "hello"], capture_output=True, timeout=20)
print("send", res.returncode, res.stdout.decode().strip(), flush=True)
print(res.stderr.decode(), end="", flush=True)
os.kill(pid, signal.SIGTERM)
print("exit", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"#;

/// An inherited socket's transport is read from the socket (SO_PROTOCOL):
/// an MPTCP listener passed by socket activation is `mptcp:`, not `tcp:`.
#[test]
fn an_activated_mptcp_listener_is_served_as_mptcp() {
    if !available("an_activated_mptcp_listener_is_served_as_mptcp") {
        return;
    }
    let Some(python) = python() else { return };
    let run = run_cmd(
        {
            let mut cmd = std::process::Command::new(python);
            cmd.args(["-c", ACTIVATE_MPTCP, BIN]);
            cmd
        },
        b"",
        LIMIT,
    );
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    let ready = text
        .lines()
        .find_map(|l| l.strip_prefix("ready "))
        .unwrap_or_else(|| panic!("no ready line\n{run}"));
    assert!(ready.starts_with("mptcp:127.0.0.1:"), "{text}\n{run}");
    assert!(text.contains("send 0 hello"), "{text}");
    assert!(
        text.contains(&format!("echokit: connected to {ready} over MPTCP")),
        "{text}"
    );
    assert!(text.contains("exit 0"), "{text}");
}

/// `bench mptcp:ADDR` loads an MPTCP server over MPTCP connections (the
/// server's `-v` says so of each connection), with no error or mismatch.
#[test]
fn bench_over_mptcp_runs_mptcp_connections_without_errors() {
    if !available("bench_over_mptcp_runs_mptcp_connections_without_errors") {
        return;
    }
    let mut server = Server::start(&["-v", "mptcp:127.0.0.1:0"], 1);
    let run = echokit_within(
        &[
            "bench",
            "--duration",
            "300ms",
            "--connections",
            "2",
            &server.addr(0),
        ],
        b"",
        LIMIT,
    );
    assert_eq!(run.code, 0, "{run}");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        stdout.starts_with(&format!("bench {}: 2 connections", server.addr(0))),
        "{run}"
    );
    assert!(stdout.contains("errors:     0  mismatches: 0"), "{run}");
    server.expect_stderr(": MPTCP, ");
    assert!(
        !server.stderr().contains("TCP after fallback"),
        "{}",
        server.stderr()
    );
}
