//! `echokit resolve` end to end (issue 3, item 5): rows, filters, JSON, and
//! the exact error lines and exit codes of SPEC §5.
//!
//! The lookups here touch only the hosts file, the services database and
//! numeric literals, plus one `.invalid` name that RFC 6761 guarantees never
//! resolves, so the tests need no network and answer in milliseconds.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run of the binary left behind.
struct Run {
    command: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Everything a failing assertion should show.
    fn context(&self) -> String {
        format!(
            "command: {}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }

    fn success(&self) -> &Run {
        assert_eq!(self.code, Some(0), "expected success\n{}", self.context());
        self
    }

    /// The table rows, without the header line.
    fn rows(&self) -> Vec<&str> {
        let mut lines = self.stdout.lines();
        let header = lines.next().unwrap_or_default();
        assert!(
            header.starts_with("FAMILY") && header.ends_with("ADDRESS"),
            "no table header\n{}",
            self.context()
        );
        lines.collect()
    }
}

/// Runs `echokit ARGS` and waits at most 20 seconds for it.
fn echokit(args: &[&str]) -> Run {
    run(Command::new(env!("CARGO_BIN_EXE_echokit")).args(args))
}

fn run(command: &mut Command) -> Run {
    let text = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {text}: {e}"));
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        match child.try_wait().expect("waiting for echokit") {
            Some(status) => break status,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{text} still running after 20s");
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    Run {
        command: text,
        code: status.code(),
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

/// Asserts an exit code and the exact stderr line, with nothing on stdout.
fn assert_error(run: &Run, code: i32, line: &str) {
    assert_eq!(run.code, Some(code), "exit code\n{}", run.context());
    assert_eq!(run.stderr, format!("{line}\n"), "stderr\n{}", run.context());
    assert_eq!(run.stdout, "", "stdout\n{}", run.context());
}

fn columns(row: &str) -> Vec<&str> {
    row.split_whitespace().collect()
}

#[test]
fn localhost_http_gives_port_80_tcp_rows() {
    let run = echokit(&["resolve", "localhost", "http"]);
    let rows = run.success().rows();
    assert!(!rows.is_empty(), "no rows\n{}", run.context());
    for row in rows {
        let cols = columns(row);
        assert!(
            cols[0] == "AF_INET" || cols[0] == "AF_INET6",
            "{row}\n{}",
            run.context()
        );
        // The services database names http for tcp only on most systems;
        // where it also lists udp, the UDP row carries port 80 as well.
        assert!(cols[1] == "SOCK_STREAM" || cols[1] == "SOCK_DGRAM", "{row}");
        assert_eq!(cols[3], "-", "no canonical name unless asked: {row}");
        assert!(
            cols[4] == "127.0.0.1:80" || cols[4] == "[::1]:80",
            "{row}\n{}",
            run.context()
        );
    }
    assert!(
        run.stdout.contains("SOCK_STREAM  IPPROTO_TCP"),
        "{}",
        run.context()
    );
}

#[test]
fn ipv6_literal_udp_is_one_dgram_row_with_flowinfo_and_scope() {
    let run = echokit(&["resolve", "::1", "7", "-u"]);
    assert_eq!(
        run.success().rows(),
        ["AF_INET6  SOCK_DGRAM  IPPROTO_UDP  -          [::1]:7 flowinfo=0 scope=0"],
        "{}",
        run.context()
    );
}

#[test]
fn numeric_host_with_service_name_echo_is_port_7() {
    let run = echokit(&["resolve", "127.0.0.1", "echo", "--tcp"]);
    assert_eq!(
        run.success().rows(),
        ["AF_INET  SOCK_STREAM  IPPROTO_TCP  -          127.0.0.1:7"],
        "{}",
        run.context()
    );
    // Without --tcp, every socket type the services database lists echo for.
    let run = echokit(&["resolve", "127.0.0.1", "echo"]);
    for row in run.success().rows() {
        assert!(row.ends_with(" 127.0.0.1:7"), "{row}\n{}", run.context());
    }
}

#[test]
fn without_service_the_port_is_zero() {
    let run = echokit(&["resolve", "127.0.0.1", "--udp"]);
    assert_eq!(
        run.success().rows(),
        ["AF_INET  SOCK_DGRAM  IPPROTO_UDP  -          127.0.0.1:0"]
    );
}

#[test]
fn dash_4_keeps_only_ipv4_rows_and_dash_6_only_ipv6() {
    let run = echokit(&["resolve", "-4", "localhost", "echo"]);
    for row in run.success().rows() {
        assert!(row.starts_with("AF_INET "), "{row}\n{}", run.context());
    }
    let run = echokit(&["resolve", "-6", "::1", "echo"]);
    for row in run.success().rows() {
        assert!(row.starts_with("AF_INET6 "), "{row}\n{}", run.context());
    }
}

#[test]
fn dash_4_on_an_ipv6_literal_names_the_flag() {
    let run = echokit(&["resolve", "-4", "::1"]);
    assert_error(
        &run,
        2,
        "echokit: cannot resolve \"::1\": address family for hostname not supported (it has no IPv4 address; try without -4)",
    );
}

#[test]
fn canonname_fills_the_column_of_the_first_row() {
    let run = echokit(&["resolve", "--canonname", "127.0.0.1", "7", "--tcp"]);
    assert_eq!(
        run.success().rows(),
        ["AF_INET  SOCK_STREAM  IPPROTO_TCP  127.0.0.1  127.0.0.1:7"],
        "{}",
        run.context()
    );
}

#[test]
fn json_is_one_object_per_row() {
    let run = echokit(&["resolve", "--json", "::1", "echo", "--tcp"]);
    run.success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.context());
    let row: serde_json::Value = serde_json::from_str(lines[0]).expect("a JSON line");
    assert_eq!(
        row,
        serde_json::json!({
            "family": "AF_INET6",
            "type": "SOCK_STREAM",
            "protocol": "IPPROTO_TCP",
            "canonname": null,
            "address": "::1",
            "port": 7,
            "flowinfo": 0,
            "scope_id": 0,
        })
    );

    let run = echokit(&["resolve", "--json", "127.0.0.1", "7"]);
    run.success();
    for line in run.stdout.lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(row["family"], "AF_INET", "{line}");
        assert_eq!(row["port"], 7, "{line}");
        assert!(
            row["flowinfo"].is_null() && row["scope_id"].is_null(),
            "{line}"
        );
    }
}

#[test]
fn quiet_prints_nothing_and_keeps_the_exit_code() {
    let run = echokit(&["resolve", "-q", "127.0.0.1", "echo"]);
    run.success();
    assert_eq!(run.stdout, "", "{}", run.context());
    let run = echokit(&["resolve", "-q", "127.0.0.1", "no-such-service-x"]);
    assert_eq!(run.code, Some(2), "{}", run.context());
    assert_eq!(run.stdout, "", "{}", run.context());
}

#[test]
fn unknown_service_exits_2_naming_it() {
    let run = echokit(&["resolve", "localhost", "no-such-service-x"]);
    assert_error(
        &run,
        2,
        "echokit: cannot resolve service \"no-such-service-x\": servname not supported for ai_socktype (not in the services database)",
    );
}

#[test]
fn service_known_only_for_tcp_says_so_with_udp() {
    // Debian's /etc/services lists http for tcp only; elsewhere it may name udp too.
    let services = std::fs::read_to_string("/etc/services").unwrap_or_default();
    let http_udp = services.lines().any(|l| {
        let mut f = l.split_whitespace();
        f.next() == Some("http") && f.next() == Some("80/udp")
    });
    if http_udp {
        eprintln!("skipped: /etc/services lists http for udp too");
        return;
    }
    let run = echokit(&["resolve", "-u", "127.0.0.1", "http"]);
    assert_error(
        &run,
        2,
        "echokit: cannot resolve service \"http\": servname not supported for ai_socktype (not defined for udp in the services database)",
    );
}

#[test]
fn port_above_65535_is_refused() {
    let run = echokit(&["resolve", "localhost", "99999"]);
    assert_error(&run, 2, "echokit: port 99999 out of range (0-65535)");
}

#[test]
fn a_name_under_dot_invalid_exits_2_quickly() {
    // RFC 6761 §6.4: .invalid never resolves, so a resolver answers at once
    // (or, with no DNS at all, the lookup fails; either way, not exit 0).
    let started = Instant::now();
    let run = echokit(&["resolve", "echokit-test.invalid"]);
    let took = started.elapsed();
    match run.code {
        Some(2) => assert_error(
            &run,
            2,
            "echokit: cannot resolve \"echokit-test.invalid\": name or service not known",
        ),
        // A machine whose resolver cannot be reached at all says so (exit 3).
        Some(3) => assert!(
            run.stderr.starts_with(
                "echokit: cannot connect to the resolver for \"echokit-test.invalid\": "
            ),
            "{}",
            run.context()
        ),
        _ => panic!("expected exit 2\n{}", run.context()),
    }
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn usage_errors_exit_2() {
    let run = echokit(&["resolve"]);
    assert_eq!(run.code, Some(2), "{}", run.context());
    assert!(run.stderr.starts_with("echokit: "), "{}", run.context());
    let run = echokit(&["resolve", "-4", "-6", "localhost"]);
    assert_eq!(run.code, Some(2), "{}", run.context());
    let run = echokit(&["resolve", "-u", "--tcp", "localhost"]);
    assert_eq!(run.code, Some(2), "{}", run.context());
}

/// The AI_ADDRCONFIG note needs a machine with IPv4 but no non-loopback
/// IPv6. We make one: a fresh network namespace (where only `lo` exists)
/// with one extra IPv4 address, and a hosts file that names `localhost`
/// both ways. That takes root (or user namespaces) and iproute2; without
/// them the test says so and passes.
#[test]
fn addrconfig_note_when_ipv6_is_loopback_only() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost\n::1 localhost\n").expect("write hosts");
    let script = format!(
        "mount --bind {hosts} /etc/hosts && ip link set lo up && ip addr add 192.0.2.77/24 dev lo && exec {bin} resolve localhost echo --tcp",
        hosts = hosts.display(),
        bin = env!("CARGO_BIN_EXE_echokit"),
    );
    let probe = run(Command::new("unshare").args(["-n", "-m", "true"]));
    if probe.code != Some(0) {
        eprintln!(
            "skipped: cannot make a network namespace here ({})",
            probe.stderr.trim()
        );
        return;
    }
    let run = run(Command::new("unshare").args(["-n", "-m", "sh", "-c", &script]));
    if run.code != Some(0) && !run.stderr.contains("echokit") {
        eprintln!("skipped: namespace setup failed\n{}", run.context());
        return;
    }
    run.success();
    let families: Vec<&str> = run.rows().iter().map(|r| columns(r)[0]).collect();
    assert!(families.contains(&"AF_INET6"), "{}", run.context());
    assert_eq!(
        run.stderr,
        "echokit: note: AI_ADDRCONFIG would drop AF_INET6 here: no non-loopback IPv6 address is configured\n",
        "{}",
        run.context()
    );
}
