//! `echokit resolve` end to end (issue 3, item 5): rows, filters, JSON, and
//! the exact error lines and exit codes of SPEC §5.
//!
//! The lookups here touch only the hosts file, the services database and
//! numeric literals, plus one `.invalid` name that RFC 6761 guarantees never
//! resolves, so the tests need no network and answer in milliseconds.

use std::time::{Duration, Instant};

use crate::util::{LO_UP, LOCALHOST_BOTH_WAYS, Run, echokit_within, in_netns};

/// The longest a lookup may take: `.invalid` must answer well within it.
const LIMIT: Duration = Duration::from_secs(20);

/// Runs `echokit ARGS`, failing if it takes longer than [`LIMIT`].
fn echokit(args: &[&str]) -> Run {
    echokit_within(args, b"", LIMIT)
}

/// The table rows of a run that must have exited 0, without the header line.
fn rows(run: &Run) -> Vec<String> {
    run.assert_code(0);
    let out = run.out();
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("FAMILY") && header.ends_with("ADDRESS"),
        "no table header\n{run}"
    );
    lines.map(str::to_string).collect()
}

/// Runs `echokit ARGS`, which must exit 0 with exactly the table rows `want`.
fn assert_rows(args: &[&str], want: &[&str]) {
    let run = echokit(args);
    assert_eq!(rows(&run), want, "{run}");
}

fn columns(row: &str) -> Vec<&str> {
    row.split_whitespace().collect()
}

#[test]
fn localhost_http_gives_port_80_tcp_rows() {
    let run = echokit(&["resolve", "localhost", "http"]);
    let rows = rows(&run);
    assert!(!rows.is_empty(), "no rows\n{run}");
    for row in rows {
        let cols = columns(&row);
        assert!(
            cols[0] == "AF_INET" || cols[0] == "AF_INET6",
            "{row}\n{run}"
        );
        // The services database names http for tcp only on most systems;
        // where it also lists udp, the UDP row carries port 80 as well.
        assert!(cols[1] == "SOCK_STREAM" || cols[1] == "SOCK_DGRAM", "{row}");
        assert_eq!(cols[3], "-", "no canonical name unless asked: {row}");
        assert!(
            cols[4] == "127.0.0.1:80" || cols[4] == "[::1]:80",
            "{row}\n{run}"
        );
    }
    assert!(run.out().contains("SOCK_STREAM  IPPROTO_TCP"), "{run}");
}

#[test]
fn ipv6_literal_udp_is_one_dgram_row_with_flowinfo_and_scope() {
    assert_rows(
        &["resolve", "::1", "7", "-u"],
        &["AF_INET6  SOCK_DGRAM  IPPROTO_UDP  -          [::1]:7 flowinfo=0 scope=0"],
    );
}

#[test]
fn numeric_host_with_service_name_echo_is_port_7() {
    assert_rows(
        &["resolve", "127.0.0.1", "echo", "--tcp"],
        &["AF_INET  SOCK_STREAM  IPPROTO_TCP  -          127.0.0.1:7"],
    );
    // Without --tcp, every socket type the services database lists echo for.
    let run = echokit(&["resolve", "127.0.0.1", "echo"]);
    for row in rows(&run) {
        assert!(row.ends_with(" 127.0.0.1:7"), "{row}\n{run}");
    }
}

#[test]
fn without_service_the_port_is_zero() {
    assert_rows(
        &["resolve", "127.0.0.1", "--udp"],
        &["AF_INET  SOCK_DGRAM  IPPROTO_UDP  -          127.0.0.1:0"],
    );
}

#[test]
fn dash_4_keeps_only_ipv4_rows_and_dash_6_only_ipv6() {
    let run = echokit(&["resolve", "-4", "localhost", "echo"]);
    for row in rows(&run) {
        assert!(row.starts_with("AF_INET "), "{row}\n{run}");
    }
    let run = echokit(&["resolve", "-6", "::1", "echo"]);
    for row in rows(&run) {
        assert!(row.starts_with("AF_INET6 "), "{row}\n{run}");
    }
}

#[test]
fn dash_4_on_an_ipv6_literal_names_the_flag() {
    echokit(&["resolve", "-4", "::1"]).assert_error(
        2,
        "echokit: cannot resolve \"::1\": address family for hostname not supported (it has no IPv4 address; try without -4)",
    );
}

#[test]
fn canonname_fills_the_column_of_the_first_row() {
    assert_rows(
        &["resolve", "--canonname", "127.0.0.1", "7", "--tcp"],
        &["AF_INET  SOCK_STREAM  IPPROTO_TCP  127.0.0.1  127.0.0.1:7"],
    );
}

#[test]
fn json_is_one_object_per_row() {
    let run = echokit(&["resolve", "--json", "::1", "echo", "--tcp"]);
    run.assert_code(0);
    let out = run.out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{run}");
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
    run.assert_code(0);
    for line in run.out().lines() {
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
    run.assert_code(0);
    assert_eq!(run.out(), "", "{run}");
    let run = echokit(&["resolve", "-q", "127.0.0.1", "no-such-service-x"]);
    assert_eq!(run.code, 2, "{run}");
    assert_eq!(run.out(), "", "{run}");
}

#[test]
fn unknown_service_exits_2_naming_it() {
    echokit(&["resolve", "localhost", "no-such-service-x"]).assert_error(
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
    echokit(&["resolve", "-u", "127.0.0.1", "http"]).assert_error(
        2,
        "echokit: cannot resolve service \"http\": servname not supported for ai_socktype (not defined for udp in the services database)",
    );
}

#[test]
fn port_above_65535_is_refused() {
    let run = echokit(&["resolve", "localhost", "99999"]);
    run.assert_error(2, "echokit: port 99999 out of range (0-65535)");
}

#[test]
fn a_name_under_dot_invalid_exits_2_quickly() {
    // RFC 6761 §6.4: .invalid never resolves, so a resolver answers at once
    // (or, with no DNS at all, the lookup fails; either way, not exit 0).
    let started = Instant::now();
    let run = echokit(&["resolve", "echokit-test.invalid"]);
    let took = started.elapsed();
    match run.code {
        2 => {
            run.assert_error(
                2,
                "echokit: cannot resolve \"echokit-test.invalid\": name or service not known",
            );
        }
        // A machine whose resolver cannot be reached at all says so (exit 3).
        3 => assert!(
            run.stderr.starts_with(
                "echokit: cannot connect to the resolver for \"echokit-test.invalid\": "
            ),
            "{run}"
        ),
        _ => panic!("expected exit 2\n{run}"),
    }
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn usage_errors_exit_2() {
    let run = echokit(&["resolve"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.starts_with("echokit: "), "{run}");
    let run = echokit(&["resolve", "-4", "-6", "localhost"]);
    assert_eq!(run.code, 2, "{run}");
    let run = echokit(&["resolve", "-u", "--tcp", "localhost"]);
    assert_eq!(run.code, 2, "{run}");
}

/// The AI_ADDRCONFIG note needs a machine with IPv4 but no non-loopback
/// IPv6. We make one: a fresh network namespace (where only `lo` exists)
/// with one extra IPv4 address, and a hosts file that names `localhost`
/// both ways. That takes root and iproute2; without them the test says so
/// and passes.
#[test]
fn addrconfig_note_when_ipv6_is_loopback_only() {
    let test = "addrconfig_note_when_ipv6_is_loopback_only";
    let setup = format!("{LO_UP} && ip addr add 192.0.2.77/24 dev lo");
    let args = ["resolve", "localhost", "echo", "--tcp"];
    let Some(run) = in_netns(test, Some(LOCALHOST_BOTH_WAYS), &setup, &args, LIMIT) else {
        return;
    };
    let rows = rows(&run);
    let families: Vec<&str> = rows.iter().map(|r| columns(r)[0]).collect();
    assert!(families.contains(&"AF_INET6"), "{run}");
    assert_eq!(
        run.stderr,
        "echokit: note: AI_ADDRCONFIG would drop AF_INET6 here: no non-loopback IPv6 address is configured\n",
        "{run}"
    );
}
