//! `echokit bench` over real sockets: its own in-process server, an external
//! `echokit serve`, a server that corrupts the echo, and bad input.
//! Runs are short (a few hundred milliseconds) and bounded by --duration.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::{Run, Server, Transport, echokit_within, free_tcp_port};
use serde_json::Value;

fn json_report(args: &[&str]) -> (Run, Value) {
    let out = echokit_within(args, b"", Duration::from_secs(20));
    let line = out.out().lines().last().unwrap_or_default().to_string();
    let value: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", out.describe()));
    (out, value)
}

#[test]
fn closed_loop_tcp_against_its_own_server() {
    let args = ["bench", "-d", "300ms", "-c", "2", "--json"];
    let (out, r) = json_report(&args);
    out.assert_code(0);
    assert!(r["requests"].as_u64().unwrap() > 10, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["mismatches"], 0, "{r}");
    assert_eq!(r["mode"], "closed");
    assert!(r["address"].as_str().unwrap().starts_with("tcp:127.0.0.1:"));
    for key in ["p50", "p90", "p99", "p99_9", "max"] {
        assert!(r["latency_us"][key].as_f64().unwrap() > 0.0, "{key}: {r}");
    }
    assert!(r["latency_us"]["p50"].as_f64() <= r["latency_us"]["max"].as_f64());
}

#[test]
fn closed_loop_udp_against_its_own_server() {
    let args = ["bench", "-u", "-d", "300ms", "-c", "2", "--json"];
    let (out, r) = json_report(&args);
    out.assert_code(0);
    assert!(r["address"].as_str().unwrap().starts_with("udp:127.0.0.1:"));
    assert!(r["requests"].as_u64().unwrap() > 10, "{r}");
    assert_eq!(r["mismatches"], 0, "{r}");
}

#[test]
fn request_limit_stops_the_run() {
    let args = [
        "bench",
        "-d",
        "10s",
        "-c",
        "1",
        "--requests",
        "100",
        "--json",
    ];
    let started = Instant::now();
    let (out, r) = json_report(&args);
    out.assert_code(0);
    assert_eq!(r["requests"], 100, "{r}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "did not stop at 100 requests"
    );
}

#[test]
fn open_loop_keeps_its_schedule() {
    // 200 requests/s for 1s: about 200 requests, whatever the server could do.
    let args = ["bench", "--rate", "200", "-d", "1s", "-c", "2", "--json"];
    let (out, r) = json_report(&args);
    out.assert_code(0);
    assert_eq!(r["mode"], "open");
    let n = r["requests"].as_u64().unwrap();
    assert!(
        (150..=210).contains(&n),
        "expected about 200 requests, got {n}: {r}"
    );
}

#[test]
fn human_report_has_every_line() {
    let args = ["bench", "-d", "200ms", "-c", "1", "-s", "1KiB"];
    let out = echokit_within(&args, b"", Duration::from_secs(20));
    out.assert_code(0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 connection, 1024 bytes per request, closed loop"),
        "{text}"
    );
    assert!(text.contains("requests:"), "{text}");
    assert!(text.contains("/s each way"), "{text}");
    assert!(
        text.contains("p50 ") && text.contains("p99.9 ") && text.contains("max "),
        "{text}"
    );
    assert!(text.contains("errors:     0  mismatches: 0"), "{text}");
    if cfg!(target_os = "linux") {
        assert!(
            text.contains("client:     busiest thread on CPU "),
            "{text}"
        );
    }
}

#[test]
fn against_an_external_echokit_server() {
    let server = Server::start(&["127.0.0.1:0"], 1);
    let addr = server.addr(0);
    let args = ["bench", addr.as_str(), "-d", "300ms", "-c", "4", "--json"];
    let (out, r) = json_report(&args);
    out.assert_code(0);
    assert_eq!(r["address"], addr.as_str());
    assert!(r["requests"].as_u64().unwrap() > 10, "{r}");
}

#[test]
fn a_corrupting_server_shows_mismatches_and_exit_1() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // Echo with the first byte of every read changed; bounded by the test's life.
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    buf[0] ^= 0xff;
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let addr = format!("127.0.0.1:{port}");
    let args = ["bench", addr.as_str(), "-d", "300ms", "-c", "1", "--json"];
    let (out, r) = json_report(&args);
    out.assert_code(1);
    assert!(r["mismatches"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["requests"], 0, "{r}");
}

#[test]
fn refused_server_is_exit_3() {
    let port = free_tcp_port("127.0.0.1");
    // Nothing listens there now (the listener is closed); connect must be refused.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    let addr = format!("127.0.0.1:{port}");
    let args = ["bench", addr.as_str(), "-d", "300ms", "-c", "1"];
    let out = echokit_within(&args, b"", Duration::from_secs(20));
    out.assert_code(3);
    assert_eq!(
        out.stderr.trim_end(),
        format!(
            "echokit: cannot connect to {addr}: connection refused (nothing is listening there)"
        )
    );
}

#[test]
fn oversize_datagram_request_is_a_usage_error() {
    let args = ["bench", "-u", "-s", "70000", "-d", "100ms"];
    let out = echokit_within(&args, b"", Duration::from_secs(20));
    out.assert_code(2);
    assert_eq!(
        out.stderr.trim_end(),
        "echokit: --size 70000 is larger than a udp4 datagram carries (65507 bytes)"
    );
}

/// A TCP echo server of the test's own that reports the peer address of
/// every connection it accepts (at most `limit`, each bounded by a timeout),
/// and flips the first byte of every read when `corrupt`.
fn counting_echo(limit: usize, corrupt: bool) -> (String, mpsc::Receiver<IpAddr>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(limit) {
            let Ok(mut stream) = stream else { return };
            if let Ok(peer) = stream.peer_addr() {
                let _ = tx.send(peer.ip());
            }
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = [0u8; 65536];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    if corrupt {
                        buf[0] ^= 0xff;
                    }
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, rx)
}

#[test]
fn churn_opens_a_new_connection_for_every_request() {
    let (addr, accepted) = counting_echo(1000, false);
    let args = [
        "bench",
        &addr,
        "--churn",
        "-c",
        "4",
        "--requests",
        "40",
        "-d",
        "10s",
        "--json",
    ];
    let (out, r) = json_report(&args);
    out.assert_code(0);
    assert_eq!(r["workload"], "churn", "{r}");
    assert_eq!(r["requests"], 40, "{r}");
    assert_eq!(r["mismatches"], 0, "{r}");
    let peers: Vec<IpAddr> = accepted.try_iter().collect();
    // One connection per request, and none left over past the limit.
    assert_eq!(peers.len(), 40, "connections accepted: {peers:?}");
    if cfg!(target_os = "linux") {
        // Spread over 127.0.0.1-127.0.0.16 so ephemeral ports last (IP_BIND_ADDRESS_NO_PORT).
        let sources: BTreeSet<_> = peers.iter().collect();
        assert_eq!(sources.len(), 16, "source addresses: {sources:?}");
        assert!(peers.iter().all(|ip| ip.is_loopback()), "{peers:?}");
    }
}

#[test]
fn churn_human_report_counts_connections() {
    let args = ["bench", "--churn", "-c", "2", "-d", "200ms"];
    let out = echokit_within(&args, b"", Duration::from_secs(20));
    out.assert_code(0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "2 connections, 64 bytes per request, a new connection per request, closed loop"
        ),
        "{text}"
    );
    assert!(text.contains("connections: "), "{text}");
    assert!(text.contains("latency:    p50 "), "{text}");
}

#[test]
fn bulk_streams_and_checks_every_byte() {
    let args = ["bench", "--bulk", "-d", "300ms", "--json"];
    let (out, r) = json_report(&args);
    out.assert_code(0);
    assert_eq!(r["workload"], "bulk", "{r}");
    assert_eq!(r["connections"], 1, "{r}");
    assert_eq!(r["size"], 65536, "{r}");
    assert!(r["bytes"].as_u64().unwrap() > 1 << 20, "{r}");
    assert!(r["latency_us"].is_null(), "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["mismatches"], 0, "{r}");
}

#[test]
fn bulk_over_a_unix_socket_with_threads() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::on(Transport::UNIX, dir.path(), &[]);
    let addr = server.addr(0);
    let args = [
        "bench",
        &addr,
        "--bulk",
        "-c",
        "3",
        "--threads",
        "2",
        "-s",
        "100000",
        "-d",
        "300ms",
        "--json",
    ];
    let (out, r) = json_report(&args);
    out.assert_code(0);
    assert_eq!(r["address"], addr.as_str(), "{r}");
    assert_eq!(r["threads"], 2, "{r}");
    assert!(r["bytes"].as_u64().unwrap() > 1 << 20, "{r}");
    assert_eq!(r["mismatches"], 0, "{r}");
}

#[test]
fn bulk_sees_a_corrupted_byte() {
    let (addr, _accepted) = counting_echo(64, true);
    let args = ["bench", &addr, "--bulk", "-d", "300ms", "--json"];
    let (out, r) = json_report(&args);
    out.assert_code(1);
    assert!(r["mismatches"].as_u64().unwrap() > 0, "{r}");
    assert!(
        out.stderr.contains(
            "echokit: first error: the echo differed from what was sent, at or after byte 0"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn threads_share_the_connections_and_the_request_limit() {
    let args = [
        "bench",
        "-c",
        "6",
        "--threads",
        "3",
        "--requests",
        "301",
        "-d",
        "10s",
        "--json",
    ];
    let (out, r) = json_report(&args);
    out.assert_code(0);
    assert_eq!(r["threads"], 3, "{r}");
    assert_eq!(r["requests"], 301, "{r}");
    assert_eq!(r["mismatches"], 0, "{r}");
    if cfg!(target_os = "linux") {
        // The busiest client thread's share of the run, and whether that is saturation.
        let cpu = r["client_cpu"].as_f64().expect("client_cpu on Linux");
        assert!((0.0..=1.5).contains(&cpu), "{r}");
        assert_eq!(r["client_saturated"], cpu >= 0.9, "{r}");
    }
}

#[test]
fn workloads_that_do_not_fit_the_address_are_usage_errors() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["bench", "--churn", "udp:127.0.0.1:9"],
            "echokit: --churn opens a connection per request: udp4 has no connections (use tcp:, unix: or seqpacket:)",
        ),
        (
            &["bench", "--bulk", "unixgram:/tmp/x"],
            "echokit: --bulk streams bytes: unixgram is not a byte stream (use tcp: or unix:)",
        ),
        (&["bench", "--bulk", "-u"], "cannot be used with"),
        (&["bench", "--bulk", "--rate", "10"], "cannot be used with"),
    ];
    for (args, want) in cases {
        let out = echokit_within(args, b"", Duration::from_secs(20));
        out.assert_code(2);
        assert!(out.stderr.contains(want), "{args:?}: {}", out.stderr);
    }
}

/// `benches/many_connections.py` (the 100,000-connection run) works: a small
/// N, two server processes, every connection echoed. Its figures are for
/// people; this only proves the script measures what it says.
#[test]
fn many_connections_script_holds_and_echoes_every_connection() {
    let Some(python) = crate::util::python() else {
        eprintln!("skipped: no python3");
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/many_connections.py");
    let mut cmd = std::process::Command::new(python);
    cmd.args([
        script,
        "-n",
        "300",
        "--servers",
        "2",
        "--timeout",
        "10",
        "--echokit",
    ])
    .arg(crate::util::BIN);
    let mut proc = crate::util::Proc::spawn(cmd);
    let status = proc.wait_exit(Duration::from_secs(60));
    let text = proc.describe();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{text}");
    assert!(
        text.contains("held:      300 connections at once in 2 echokit serve process(es)"),
        "{text}"
    );
    assert!(text.contains("echoed:    300 of 300 connections"), "{text}");
    assert!(text.contains("bytes per connection"), "{text}");
}

/// Open-loop send times are not skewed by timer slack: every client thread
/// runs with 1ns (PR_SET_TIMERSLACK), read back from /proc while it runs.
#[cfg(target_os = "linux")]
#[test]
fn client_threads_run_with_one_nanosecond_of_timer_slack() {
    let mut cmd = std::process::Command::new(crate::util::BIN);
    cmd.args([
        "bench",
        "--threads",
        "2",
        "-c",
        "2",
        "--rate",
        "100",
        "-d",
        "3s",
        "-q",
    ]);
    let mut proc = crate::util::Proc::spawn(cmd);
    let tasks = format!("/proc/{}/task", proc.pid());
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut slack = Vec::new();
    while Instant::now() < deadline && slack.len() < 2 {
        slack = std::fs::read_dir(&tasks)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.trim() == "echokit-bench")
            })
            // Per thread only at /proc/TID (task/TID has no timerslack_ns).
            .filter_map(|t| {
                std::fs::read_to_string(format!(
                    "/proc/{}/timerslack_ns",
                    t.file_name().to_string_lossy()
                ))
                .ok()
            })
            .map(|s| s.trim().to_string())
            .collect();
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = proc.wait_exit(Duration::from_secs(20));
    assert_eq!(slack, ["1", "1"], "{}", proc.describe());
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        proc.describe()
    );
}

/// Out of descriptors, the first error says which connection, the limit,
/// and what to do; the run goes on with the connections it has (exit 1).
#[test]
fn running_out_of_descriptors_names_the_limit() {
    let script = format!(
        "ulimit -n 64 && exec '{}' bench -c 100 -d 200ms",
        crate::util::BIN
    );
    let mut cmd = std::process::Command::new("bash");
    cmd.args(["-c", &script]);
    let mut proc = crate::util::Proc::spawn(cmd);
    let status = proc.wait_exit(Duration::from_secs(20));
    let text = proc.describe();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{text}");
    assert!(
        proc.stderr().contains(
            "could not be opened: too many open files (each connection is a descriptor, and the open-files limit is 64: raise it with `ulimit -n`, or ask for fewer --connections)"
        ),
        "{text}"
    );
}

/// Issue 16.2: nothing can complete in no time.
#[test]
fn issue16_duration_0_is_a_usage_error() {
    echokit_within(&["bench", "-d", "0"], b"", Duration::from_secs(10)).assert_error(
        2,
        "echokit: --duration must be longer than 0 (e.g. 500ms, 3s, 1m)",
    );
}

/// Issue 16.3: bulk with 1-byte writes once ran for minutes past -d 1s; every
/// workload ends within --duration plus --timeout.
#[test]
fn issue16_bulk_with_one_byte_writes_ends_within_duration_plus_timeout() {
    let server = Server::start(&["127.0.0.1:0"], 1);
    let addr = server.addr(0);
    for size in ["1", "64"] {
        let started = Instant::now();
        let args = [
            "bench", "--bulk", "-s", size, "-d", "500ms", "-t", "1s", &addr,
        ];
        let run = echokit_within(&args, b"", Duration::from_secs(20));
        run.assert_code(0);
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "-s {size}: {:?}\n{}",
            started.elapsed(),
            run.describe()
        );
    }
}
