//! `echokit bench` over real sockets: its own in-process server, an external
//! `echokit serve`, a server that corrupts the echo, and bad input.
//! Runs are short (a few hundred milliseconds) and bounded by --duration.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::util::{Run, Server, echokit_within, free_tcp_port};
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
        text.contains("1 connections, 1024 bytes per request, closed loop"),
        "{text}"
    );
    assert!(text.contains("requests:"), "{text}");
    assert!(text.contains("/s each way"), "{text}");
    assert!(
        text.contains("p50 ") && text.contains("p99.9 ") && text.contains("max "),
        "{text}"
    );
    assert!(text.contains("errors:     0  mismatches: 0"), "{text}");
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
