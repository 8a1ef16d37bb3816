//! `serve --metrics ADDR` (SPEC §4 serve): the page read by the real
//! consumers — Debian's `prometheus` scraping it and `promtool check
//! metrics` — and by hand: the values agree with the stop summary, a slow or
//! huge request does not stall echoing, other paths and methods are refused.
//! Where prometheus or promtool is missing the test says it skips (CI's
//! `.ci/run` installs them).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::*;

/// The `http://ADDR/metrics` address serve logs on stderr.
fn metrics_url(server: &Server) -> String {
    assert!(
        server.wait_stderr("echokit: metrics on http://", STEP),
        "no metrics line:\n{}",
        server.stderr()
    );
    let stderr = server.stderr();
    let line = stderr
        .lines()
        .find(|l| l.starts_with("echokit: metrics on http://"))
        .expect("the metrics line");
    line.trim_start_matches("echokit: metrics on ").to_string()
}

/// `host:port` of an `http://host:port/metrics` URL.
fn authority(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string()
}

/// One raw HTTP exchange: `request` sent whole, the response read to EOF.
fn http(addr: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics listener");
    s.set_read_timeout(Some(STEP)).unwrap();
    s.set_write_timeout(Some(STEP)).unwrap();
    s.write_all(request).expect("send the request");
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

fn get(addr: &str) -> String {
    let response = http(
        addr,
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    );
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

/// The value of the series whose line starts with `prefix` (name and labels).
fn value(page: &str, prefix: &str) -> Option<u64> {
    page.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_count_what_was_echoed_and_agree_with_the_stop_summary() {
    let dir = temp_dir();
    let unix = dir.path().join("m.sock");
    let mut server = Server::start(
        &[
            "-v",
            "--metrics",
            "127.0.0.1:0",
            "udp:127.0.0.1:0",
            "tcp:127.0.0.1:0",
            &format!("unix:{}", unix.display()),
        ],
        3,
    );
    let url = metrics_url(&server);
    let addr = authority(&url);
    let udp = server.ready[0].clone();
    let tcp = server.ready[1].clone();
    for i in 0..7 {
        send(&[&udp, &format!("datagram {i}")], b"", STEP).assert_code(0);
    }
    send(&[&tcp, "over tcp"], b"", STEP).assert_code(0);
    send(&[&server.ready[2].clone(), "over unix"], b"", STEP).assert_code(0);
    let page = get(&addr);
    let udp_labels = format!("{{listener=\"{udp}\",transport=\"udp4\"}}");
    let tcp_labels = format!("{{listener=\"{tcp}\",transport=\"tcp4\"}}");
    assert_eq!(
        value(
            &page,
            &format!("echokit_datagrams_echoed_total{udp_labels}")
        ),
        Some(7),
        "{page}"
    );
    assert_eq!(
        value(
            &page,
            &format!("echokit_datagrams_received_total{udp_labels}")
        ),
        Some(7),
        "{page}"
    );
    assert_eq!(
        value(
            &page,
            &format!("echokit_connections_accepted_total{tcp_labels}")
        ),
        Some(1),
        "{page}"
    );
    assert_eq!(
        value(&page, &format!("echokit_bytes_echoed_total{tcp_labels}")),
        Some(9),
        "{page}"
    );
    assert!(page.contains("transport=\"unix\""), "{page}");
    assert!(page.contains("echokit_build_info{version=\""), "{page}");
    // The metrics listener is not echoed on and has no ready line.
    assert_eq!(server.ready.len(), 3);
    server.proc.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(server.proc.expect_exit(), 0, "{}", server.stderr());
    let sum = |name: &str| -> u64 {
        page.lines()
            .filter(|l| l.starts_with(name) && l.contains('{'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let summary = format!(
        "stopped: {} connections accepted, {} echoed in full, {} rejected, {} closed for a cut message; {} datagrams echoed, {} dropped; {} bytes in, {} bytes out",
        sum("echokit_connections_accepted_total"),
        sum("echokit_connections_completed_total"),
        sum("echokit_connections_rejected_total"),
        page.lines()
            .filter(
                |l| l.starts_with("echokit_connections_closed_total") && l.contains("cut_message")
            )
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>(),
        sum("echokit_datagrams_echoed_total"),
        sum("echokit_datagrams_dropped_total"),
        sum("echokit_bytes_received_total"),
        sum("echokit_bytes_echoed_total"),
    );
    assert!(
        server.stderr().contains(&summary),
        "the stop summary disagrees with the last scrape {summary:?}:\n{}",
        server.stderr()
    );
}

#[test]
fn a_slow_or_huge_metrics_request_does_not_stall_echoing() {
    let server = Server::start(&["--metrics", "127.0.0.1:0", "tcp:127.0.0.1:0"], 1);
    let addr = authority(&metrics_url(&server));
    // Half a request line, then nothing: the loop must not wait for the rest.
    let mut slow = TcpStream::connect(&addr).expect("connect");
    slow.write_all(b"GET /met").expect("write");
    let started = Instant::now();
    send(&[&server.ready[0], "still echoing"], b"", STEP).assert_echo(b"still echoing\n");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "echo waited for the slow request"
    );
    // 64 KiB with no end of headers: refused once the 8 KiB limit is read.
    let huge = http(&addr, &vec![b'A'; 64 * 1024]);
    assert!(
        huge.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{huge}"
    );
    send(&[&server.ready[0], "after"], b"", STEP).assert_echo(b"after\n");
    // Other paths and methods.
    let not_found = http(&addr, b"GET / HTTP/1.1\r\n\r\n");
    assert!(
        not_found.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{not_found}"
    );
    let post = http(
        &addr,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(
        post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{post}"
    );
    assert!(post.contains("Allow: GET, HEAD\r\n"), "{post}");
    drop(slow);
}

#[test]
fn metrics_needs_a_tcp_address() {
    let dir = temp_dir();
    let path = dir.path().join("m.sock").display().to_string();
    let run = echokit(&["serve", "--metrics", &path, "tcp:127.0.0.1:0"], b"");
    run.assert_code(2);
    assert_eq!(
        run.stderr,
        format!(
            "echokit: --metrics {path}: needs a TCP address (HOST:PORT, e.g. 127.0.0.1:9862)\n"
        )
    );
}

#[test]
fn promtool_accepts_the_metrics_page() {
    if !have_program("promtool", &["--version"]) {
        return skip(
            "promtool_accepts_the_metrics_page",
            "promtool is not installed",
        );
    }
    let dir = temp_dir();
    let server = Server::start(
        &[
            "--metrics",
            "127.0.0.1:0",
            "udp:127.0.0.1:0",
            "tcp:127.0.0.1:0",
            &format!("seqpacket:{}", dir.path().join("q\"uote\\.sock").display()),
        ],
        3,
    );
    send(&[&server.ready[0], "x"], b"", STEP).assert_code(0);
    let page = get(&authority(&metrics_url(&server)));
    let mut cmd = Command::new("promtool");
    cmd.args(["check", "metrics"]);
    let run = run_cmd(cmd, page.as_bytes(), STEP);
    assert_eq!(run.code, 0, "{}\n{page}", run.describe());
    assert!(
        run.stdout.is_empty() && run.stderr.is_empty(),
        "promtool has remarks: {}",
        run.describe()
    );
}

/// A Prometheus server started here scrapes `serve --metrics` once a second;
/// its HTTP API must show the datagrams echoed.
#[test]
fn prometheus_scrapes_the_datagrams_echoed() {
    if !have_program("prometheus", &["--version"]) {
        return skip(
            "prometheus_scrapes_the_datagrams_echoed",
            "prometheus is not installed",
        );
    }
    let server = Server::start(&["--metrics", "127.0.0.1:0", "udp:127.0.0.1:0"], 1);
    let target = authority(&metrics_url(&server));
    for i in 0..5 {
        send(&[&server.ready[0], &format!("echo {i}")], b"", STEP).assert_code(0);
    }
    let dir = temp_dir();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: echokit\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("write the scrape config");
    let data = dir.path().join("data");
    let answer = ask_until(
        "prometheus",
        |web| {
            let mut cmd = Command::new("prometheus");
            cmd.args([
                &format!("--config.file={}", config.display()),
                &format!("--storage.tsdb.path={}", data.display()),
                &format!("--web.listen-address={web}"),
            ]);
            cmd
        },
        "/api/v1/query?query=echokit_datagrams_echoed_total",
        Duration::from_secs(60),
        |r| r.contains("\"echokit_datagrams_echoed_total\"") && r.contains(",\"5\"]"),
    );
    assert!(
        answer.contains(&format!("\"listener\":\"{}\"", server.ready[0])),
        "{answer}"
    );
    assert!(answer.contains("\"transport\":\"udp4\""), "{answer}");
}
