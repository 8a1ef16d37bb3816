//! The README's blackbox_exporter recipe, run by the real
//! `prometheus-blackbox-exporter` against a real `echokit serve` (issue 16):
//! the README's module, read from README.md, probes a server and reports
//! what the README says it reports, in each case the README names:
//!
//! - the echo comes back: `probe_success 1`;
//! - nothing listens: `probe_success 0` at once, `probe_failed_due_to_regex 0`;
//! - a peer answers another line and closes: `probe_failed_due_to_regex 1`;
//! - an `expect` that does not match the echo (a typo in the module): the
//!   echo server keeps the connection open, so blackbox_exporter reads until
//!   the module's `timeout`: `probe_success 0` after the whole timeout, with
//!   `probe_failed_due_to_regex 0` (not 1, as the README once said).
//!
//! blackbox_exporter listens on a port of ours (bound to 0 and released,
//! retried if someone takes it first); the probes are plain HTTP GETs over a
//! std `TcpStream`. Without the tool the tests say they skip.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_norway::Value;

use super::readme_ci::{only_block, readme, section};
use crate::util::{
    FakePeer, IO_TIMEOUT, Proc, STEP, Server, free_tcp_port, program_succeeds, skip,
};

/// Debian's name for blackbox_exporter.
const EXPORTER: &str = "prometheus-blackbox-exporter";

/// The timeout of the mismatching module: short, so the test waits little.
const SHORT_TIMEOUT: Duration = Duration::from_secs(1);

/// A running blackbox_exporter with the README's module (as `echokit`) and
/// the same module with a wrong `expect` and [`SHORT_TIMEOUT`] (as `typo`).
struct Exporter {
    _proc: Proc,
    port: u16,
    /// The README module's `timeout`.
    timeout: Duration,
    _dir: tempfile::TempDir,
}

/// The README's one module, its name, and its `timeout`.
fn readme_module() -> (String, Value, Duration) {
    let yaml = only_block("Prometheus blackbox_exporter", "yaml");
    let doc: Value = serde_norway::from_str(&yaml).expect("the module is YAML");
    let modules = doc["modules"].as_mapping().expect("modules: is a mapping");
    assert_eq!(modules.len(), 1, "{yaml}");
    let (name, module) = modules.iter().next().expect("one module");
    let timeout = module["timeout"].as_str().expect("a timeout");
    let timeout = humantime::parse_duration(timeout).expect("a duration");
    (
        name.as_str().expect("a name").to_string(),
        module.clone(),
        timeout,
    )
}

impl Exporter {
    /// Starts it, or `None` (said) when the tool is missing.
    fn start(test: &str) -> Option<Exporter> {
        if !program_succeeds(EXPORTER, &["--version"]) {
            skip(
                test,
                &format!("{EXPORTER} is not installed (.ci/run installs it)"),
            );
            return None;
        }
        let (name, module, timeout) = readme_module();
        assert_eq!(name, "echokit", "the README's module name");
        let mut typo = module.clone();
        typo["timeout"] = Value::from(format!("{}s", SHORT_TIMEOUT.as_secs()));
        let steps = typo["tcp"]["query_response"]
            .as_sequence_mut()
            .expect("tcp.query_response is a list");
        let mut changed = 0;
        for step in steps {
            if step.get("expect").is_some() {
                step["expect"] = Value::from("^not the echo$");
                changed += 1;
            }
        }
        assert_eq!(changed, 1, "one expect in the README's module");
        let mut modules = serde_norway::Mapping::new();
        modules.insert(Value::from("echokit"), module);
        modules.insert(Value::from("typo"), typo);
        let mut doc = serde_norway::Mapping::new();
        doc.insert(Value::from("modules"), Value::Mapping(modules));
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = dir.path().join("blackbox.yml");
        let text = serde_norway::to_string(&doc).expect("YAML");
        std::fs::write(&config, text).expect("write the config");

        // A free port can be taken between our release and its bind: try again then.
        for _ in 0..5 {
            let port = free_tcp_port("127.0.0.1");
            let mut cmd = Command::new(EXPORTER);
            cmd.arg(format!("--config.file={}", config.display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"));
            let mut proc = Proc::spawn(cmd);
            proc.wait_stderr_any(
                &["Listening on", "address already in use", "level=error"],
                STEP,
            );
            let log = proc.stderr();
            if log.contains("address already in use") {
                continue;
            }
            assert!(
                log.contains("Listening on") && proc.running(),
                "{EXPORTER} did not start\n{}",
                proc.describe()
            );
            return Some(Exporter {
                _proc: proc,
                port,
                timeout,
                _dir: dir,
            });
        }
        panic!("{EXPORTER}: every port tried was taken");
    }

    /// `/probe?module=MODULE&target=TARGET`: the metrics it returned, and how long it took.
    fn probe(&self, module: &str, target: &str) -> (Vec<(String, f64)>, Duration) {
        let started = Instant::now();
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).expect("connect to blackbox_exporter");
        let limit = self.timeout + IO_TIMEOUT;
        stream.set_read_timeout(Some(limit)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        write!(
            stream,
            "GET /probe?module={module}&target={target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
        )
        .expect("send the request");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read the response");
        let elapsed = started.elapsed();
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{response}"
        );
        let metrics = body
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                Some((name.to_string(), value.parse().ok()?))
            })
            .collect();
        (metrics, elapsed)
    }
}

fn metric(metrics: &[(String, f64)], name: &str) -> f64 {
    metrics
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no {name} in {metrics:?}"))
}

#[test]
fn blackbox_readme_module_succeeds_on_echokit_serve_and_fails_at_once_on_a_closed_port() {
    let test =
        "blackbox_readme_module_succeeds_on_echokit_serve_and_fails_at_once_on_a_closed_port";
    let Some(exporter) = Exporter::start(test) else {
        return;
    };
    let server = Server::start(&["127.0.0.1:0"], 1);
    let target = server.addr(0).trim_start_matches("tcp:").to_string();
    let (metrics, _) = exporter.probe("echokit", &target);
    assert_eq!(metric(&metrics, "probe_success"), 1.0, "{metrics:?}");
    assert_eq!(metric(&metrics, "probe_failed_due_to_regex"), 0.0);

    let closed = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"));
    let (metrics, elapsed) = exporter.probe("echokit", &closed);
    assert_eq!(metric(&metrics, "probe_success"), 0.0, "{metrics:?}");
    assert_eq!(metric(&metrics, "probe_failed_due_to_regex"), 0.0);
    assert!(
        elapsed < exporter.timeout,
        "refused at once, not {elapsed:?}"
    );
}

#[test]
fn blackbox_regex_failure_is_a_peer_that_answers_otherwise_and_closes() {
    let test = "blackbox_regex_failure_is_a_peer_that_answers_otherwise_and_closes";
    let Some(exporter) = Exporter::start(test) else {
        return;
    };
    let peer = FakePeer::tcp(|mut stream| {
        let mut line = [0u8; 64];
        let _ = stream.read(&mut line);
        stream.write_all(b"not an echo\n").expect("answer");
        // Dropped: the connection closes.
    });
    let (metrics, elapsed) = exporter.probe("echokit", &peer.addr_text());
    peer.finish();
    assert_eq!(metric(&metrics, "probe_success"), 0.0, "{metrics:?}");
    assert_eq!(
        metric(&metrics, "probe_failed_due_to_regex"),
        1.0,
        "{metrics:?}"
    );
    assert!(elapsed < exporter.timeout, "{elapsed:?}");
}

#[test]
fn blackbox_expect_that_misses_the_echo_waits_out_the_timeout_without_a_regex_failure() {
    let test = "blackbox_expect_that_misses_the_echo_waits_out_the_timeout_without_a_regex_failure";
    let Some(exporter) = Exporter::start(test) else {
        return;
    };
    let server = Server::start(&["127.0.0.1:0"], 1);
    let target = server.addr(0).trim_start_matches("tcp:").to_string();
    let (metrics, elapsed) = exporter.probe("typo", &target);
    assert_eq!(metric(&metrics, "probe_success"), 0.0, "{metrics:?}");
    assert_eq!(
        metric(&metrics, "probe_failed_due_to_regex"),
        0.0,
        "{metrics:?}"
    );
    assert!(
        metric(&metrics, "probe_duration_seconds") >= SHORT_TIMEOUT.as_secs_f64() * 0.9,
        "the whole timeout: {metrics:?}"
    );
    assert!(elapsed >= SHORT_TIMEOUT.mul_f64(0.9), "{elapsed:?}");
}

#[test]
fn blackbox_readme_says_what_the_exporter_was_seen_to_report() {
    // The cases the tests above run, in the README's words (no tool needed).
    let text = section(&readme(), "Prometheus blackbox_exporter");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for claim in [
        "`probe_success` is 1 when the line came back",
        "nothing listening: the probe fails at once, `probe_failed_due_to_regex 0`",
        "answers another line and closes the connection: `probe_failed_due_to_regex 1`",
        "an `expect` that does not match the echo",
        "waits out the whole `timeout`",
        "`probe_failed_due_to_regex` stays 0",
    ] {
        assert!(
            text.contains(claim),
            "the README no longer says {claim:?}\n{text}"
        );
    }
    assert!(
        !text.contains("something answered, but not with the echo"),
        "{text}"
    );
}
