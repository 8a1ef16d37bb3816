//! `echokit check` on real sockets (issue 3): the table on this machine,
//! `--require`, `--unix-dir`, ADDR mode against an `echokit serve` child,
//! `--json`, `-q`, and the IPv6-missing paths inside network namespaces
//! (root only; otherwise skipped with a reason written straight to the
//! terminal, past the test harness's capture).
//!
//! Every wait has a deadline; children are killed by their pid when a test
//! ends; all traffic stays on loopback or in private temporary directories.

use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{
    BIN, LO_UP, LOCALHOST_BOTH_WAYS, NO_IPV6, Run, Server, echokit_command, free_tcp_port,
    in_netns, ipv6_unavailable, is_root, program_succeeds, run_cmd, skip, temp_dir,
};

/// No single run may take longer (each row has its own --timeout, 5s by default).
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// `sizeof(sun_path)` here, and the bytes a path may use.
const SUN_PATH: usize = if cfg!(target_os = "linux") { 108 } else { 104 };

/// What `check` prints: the table, or `--json` lines.
trait CheckOutput {
    /// The table's rows, checking that every cell starts under its header.
    fn rows(&self) -> Vec<Row>;
    /// The `--json` lines, each parsed.
    fn json(&self) -> Vec<serde_json::Value>;
}

impl CheckOutput for Run {
    fn rows(&self) -> Vec<Row> {
        let out = self.out();
        let mut lines = out.lines();
        let header = lines
            .next()
            .unwrap_or_else(|| panic!("no header line\n{self}"));
        assert!(header.starts_with("TRANSPORT  "), "{self}");
        let at = |word: &str| {
            header
                .find(word)
                .unwrap_or_else(|| panic!("no {word} column\n{self}"))
        };
        let starts = [0, at("ADDRESS"), at("STATUS"), at("RTT"), at("REASON")];
        lines
            .map(|line| {
                for &start in &starts[1..] {
                    let aligned = line.as_bytes().get(start - 1) == Some(&b' ')
                        && line.as_bytes().get(start).is_some_and(|b| *b != b' ');
                    assert!(
                        aligned,
                        "cell not under its header at {start}: {line:?}\n{self}"
                    );
                }
                let cell = |i: usize| line[starts[i]..starts[i + 1]].trim().to_string();
                Row {
                    transport: cell(0),
                    address: cell(1),
                    status: cell(2),
                    rtt: cell(3),
                    reason: line[starts[4]..].to_string(),
                }
            })
            .collect()
    }

    fn json(&self) -> Vec<serde_json::Value> {
        self.out()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}\n{self}")))
            .collect()
    }
}

#[derive(Debug, Clone)]
struct Row {
    transport: String,
    address: String,
    status: String,
    rtt: String,
    reason: String,
}

fn find<'a>(rows: &'a [Row], transport: &str, prefix: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.transport == transport && r.address.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {transport} row with {prefix}: {rows:#?}"))
}

/// Runs `cmd` to its end, failing (having killed it) if it outlives [`RUN_LIMIT`].
fn run(cmd: Command) -> Run {
    run_cmd(cmd, b"", RUN_LIMIT)
}

/// `echokit ARGS`, with no NO_COLOR from the environment.
fn echokit(args: &[&str]) -> Command {
    let mut cmd = echokit_command(args);
    cmd.env_remove("NO_COLOR");
    cmd
}

fn check(args: &[&str]) -> Run {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    run(echokit(&all))
}

// ---------------------------------------------------------------- local check

#[test]
fn every_transport_passes_on_this_machine() {
    let ran = check(&[]);
    ran.assert_code(0);
    let rows = ran.rows();
    assert_eq!(rows.len(), 13, "{ran}");
    for (transport, prefix, payloads) in [
        ("tcp4", "tcp:127.0.0.1:", "echoed 1B, 64KiB, 192KiB, "),
        ("udp4", "udp:127.0.0.1:", "echoed 1B, 65507B datagrams"),
        ("unix", "unix:/", "echoed 1B, 64KiB, 192KiB, "),
        ("unixgram", "unixgram:/", "echoed 1B, "),
        ("abstract", "unix:@", "echoed 1B, 64KiB, 192KiB, "),
        ("abstract", "unixgram:@", "echoed 1B, "),
        ("seqpacket", "seqpacket:/", SEQPACKET_PAYLOADS),
        ("abstract", "seqpacket:@", SEQPACKET_PAYLOADS),
    ] {
        let row = find(&rows, transport, prefix);
        assert_eq!(row.status, "PASS", "{row:?}\n{ran}");
        assert!(row.rtt.ends_with("ms") || row.rtt.ends_with('s'), "{row:?}");
        assert!(row.reason.starts_with(payloads), "{row:?}");
    }
    for (transport, prefix, largest) in [
        ("tcp6", "tcp:[::1]:", "echoed 1B, 64KiB, 192KiB, "),
        ("udp6", "udp:[::1]:", "echoed 1B, 65527B datagrams"),
    ] {
        let row = find(&rows, transport, prefix);
        if ipv6_unavailable().is_none() {
            assert_eq!(row.status, "PASS", "{row:?}\n{ran}");
            assert!(row.reason.starts_with(largest), "{row:?}");
        } else {
            skip(
                "every_transport_passes_on_this_machine (IPv6 part)",
                "no ::1 here",
            );
            assert_eq!(row.status, "SKIP", "{row:?}\n{ran}");
            assert!(
                row.reason.contains("IPv6") || row.reason.contains("::1"),
                "{row:?}"
            );
        }
    }
    let localhost = find(&rows, "localhost", "localhost");
    assert!(localhost.reason.contains("127.0.0.1"), "{localhost:?}");
    // The temporary socket directory is gone.
    let unix = find(&rows, "unix", "unix:/");
    let socket = Path::new(unix.address.trim_start_matches("unix:"));
    let dir = socket.parent().expect("a socket directory");
    assert!(!dir.exists(), "{} left behind\n{ran}", dir.display());
}

/// What the seqpacket rows echo: 1 byte and the largest message (208,896
/// bytes on Linux, shown as 204KiB).
const SEQPACKET_PAYLOADS: &str = if cfg!(target_os = "linux") {
    "echoed 1B, 204KiB messages"
} else {
    "echoed 1B, "
};

/// `--require seqpacket` is accepted, and the seqpacket row at a path is
/// then required; both seqpacket rows (path and abstract) pass, the path
/// one at `…/seqpacket.sock`.
#[test]
fn require_seqpacket_marks_its_rows_required() {
    let ran = check(&["--require", "seqpacket", "--json"]);
    ran.assert_code(0);
    let rows: Vec<serde_json::Value> = ran
        .json()
        .into_iter()
        .filter(|r| r["type"] == "seqpacket")
        .collect();
    assert_eq!(rows.len(), 2, "{ran}");
    for row in &rows {
        assert_eq!(row["status"], "PASS", "{row}");
    }
    // The abstract-name row is what `--require abstract` covers, as for the
    // other Unix transports.
    assert_eq!(rows[0]["required"], true, "{ran}");
    assert_eq!(rows[1]["required"], false, "{ran}");
    assert_eq!(rows[0]["transport"], "seqpacket", "{ran}");
    assert!(
        rows[0]["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("seqpacket:/") && a.ends_with("/seqpacket.sock")),
        "{ran}"
    );
    assert_eq!(rows[1]["transport"], "abstract", "{ran}");
    assert!(
        rows[1]["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("seqpacket:@")),
        "{ran}"
    );
}

#[test]
fn stream_payloads_include_exact_multiples_of_the_buffer_size() {
    let ran = check(&["--json", "--buffer-size", "1000", "-4"]);
    ran.assert_code(0);
    for row in ran.json() {
        if row["type"] != "stream" {
            continue;
        }
        let payloads: Vec<u64> = row["payloads"]
            .as_array()
            .expect("payloads")
            .iter()
            .map(|n| n.as_u64().expect("a size"))
            .collect();
        assert_eq!(payloads[..3], [1, 1000, 3000], "{row}");
        // And one larger than both ends' socket buffers (at least 1 MiB).
        assert!(payloads[3] >= 1 << 20, "{row}");
    }
}

#[test]
fn json_rows_carry_the_documented_fields() {
    let ran = check(&["--json"]);
    ran.assert_code(0);
    let rows = ran.json();
    assert_eq!(rows.len(), 13, "{ran}");
    for row in &rows {
        for field in [
            "transport",
            "type",
            "address",
            "input",
            "status",
            "required",
            "rtt_ms",
            "payloads",
            "reason",
        ] {
            assert!(row.get(field).is_some(), "no {field} in {row}");
        }
        assert!(
            ["PASS", "SKIP"].contains(&row["status"].as_str().unwrap_or("")),
            "{row}"
        );
        assert_eq!(row["required"], false);
        assert!(row["input"].is_null());
    }
    let udp4 = rows
        .iter()
        .find(|r| r["transport"] == "udp4")
        .expect("udp4");
    assert_eq!(udp4["type"], "datagram");
    assert_eq!(udp4["payloads"], serde_json::json!([1, 65507]));
    assert!(udp4["rtt_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{udp4}");
}

#[test]
fn quiet_prints_nothing_and_only_sets_the_exit_code() {
    let ran = check(&["-q"]);
    ran.assert_code(0);
    assert_eq!((ran.out().as_str(), ran.stderr.as_str()), ("", ""), "{ran}");
    let refused = free_tcp_port("127.0.0.1");
    let ran = check(&["-q", &format!("tcp:127.0.0.1:{refused}")]);
    ran.assert_code(1);
    assert_eq!((ran.out().as_str(), ran.stderr.as_str()), ("", ""), "{ran}");
}

#[test]
fn unknown_require_name_is_a_usage_error() {
    check(&["--require", "ipv6,ipv7"]).assert_error(
        2,
        "echokit: unknown --require name \"ipv7\" (expected: abstract, ipv4, ipv6, localhost, mptcp, mptcp4, mptcp6, seqpacket, tcp, tcp4, tcp6, udp, udp4, udp6, unix, unixgram)",
    );
}

#[test]
fn require_that_flags_leave_out_is_a_usage_error() {
    check(&["-4", "--require", "ipv6"]).assert_stderr_line(
        2,
        "echokit: --require ipv6: -4, -6 or -u leave nothing of it to check",
    );
}

#[test]
fn family_and_type_flags_narrow_the_rows() {
    let ran = check(&["-4", "-u"]);
    ran.assert_code(0);
    let names: Vec<String> = ran
        .rows()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.transport,
                r.address.split(':').next().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "udp4 udp",
            "unixgram unixgram",
            "abstract unixgram",
            "localhost localhost"
        ],
        "{ran}"
    );
}

// ---------------------------------------------------------------- --unix-dir

fn unix_rows(ran: &Run) -> Vec<Row> {
    let rows = ran.rows();
    let unix: Vec<Row> = rows
        .into_iter()
        .filter(|r| ["unix", "unixgram", "seqpacket"].contains(&r.transport.as_str()))
        .collect();
    assert_eq!(unix.len(), 3, "{ran}");
    unix
}

#[test]
fn unix_dir_that_does_not_exist_fails() {
    let tmp = temp_dir();
    let missing = tmp.path().join("no-such-dir");
    let missing = missing.to_str().expect("utf-8 path");
    let ran = check(&["--unix-dir", missing]);
    ran.assert_code(1);
    for row in unix_rows(&ran) {
        assert_eq!(row.status, "FAIL", "{ran}");
        assert_eq!(
            row.reason,
            format!("--unix-dir {missing}: no such directory")
        );
    }
    assert!(
        ran.stderr.starts_with("echokit: 3 checks failed: unix ("),
        "{ran}"
    );
}

#[test]
fn unix_dir_that_is_a_file_fails() {
    let tmp = temp_dir();
    let file = tmp.path().join("plain");
    std::fs::write(&file, b"x").expect("write a file");
    let file = file.to_str().expect("utf-8 path");
    let ran = check(&["--unix-dir", file]);
    ran.assert_code(1);
    for row in unix_rows(&ran) {
        assert_eq!(row.status, "FAIL", "{ran}");
    }
    let row = find(&ran.rows(), "unixgram", "unixgram:").clone();
    assert_eq!(row.reason, format!("--unix-dir {file} is not a directory"));
}

#[test]
fn unix_dir_without_write_permission_fails() {
    let tmp = temp_dir();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o555))
        .expect("chmod 555");
    let dir = tmp.path().to_str().expect("utf-8 path");
    let cmd = if is_root() {
        // Root passes permission checks through CAP_DAC_OVERRIDE: drop it (and
        // its reading twin) from the bounding set, so uid 0 is held to the mode bits.
        let probe = [
            "--bounding-set",
            "-dac_override,-dac_read_search",
            "--",
            "true",
        ];
        if !program_succeeds("setpriv", &probe) {
            skip(
                "unix_dir_without_write_permission_fails",
                "running as root and setpriv cannot drop CAP_DAC_OVERRIDE here, so a chmod 555 directory is writable",
            );
            return;
        }
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--bounding-set",
            "-dac_override,-dac_read_search",
            "--",
            BIN,
        ]);
        cmd
    } else {
        echokit_command(&[])
    };
    let mut cmd = cmd;
    cmd.args(["check", "--unix-dir", dir]);
    let ran = run(cmd);
    ran.assert_code(1);
    for row in unix_rows(&ran) {
        assert_eq!(row.status, "FAIL", "{ran}");
        assert_eq!(
            row.reason,
            format!("cannot listen: permission denied (cannot create a socket in {dir})"),
            "{ran}"
        );
    }
    // Everything else still passes.
    assert!(
        ran.rows()
            .iter()
            .filter(|r| r.transport.starts_with("tcp4") || r.transport == "abstract")
            .all(|r| r.status == "PASS"),
        "{ran}"
    );
}

/// A directory whose socket paths exceed sun_path: nested inside `tmp`.
fn long_dir(tmp: &tempfile::TempDir) -> PathBuf {
    let mut dir = tmp.path().to_path_buf();
    while dir.as_os_str().len() < SUN_PATH + 10 {
        dir.push("d".repeat(40));
    }
    std::fs::create_dir_all(&dir).expect("create a long directory");
    dir
}

#[test]
fn unix_dir_too_long_for_sun_path_fails_with_both_lengths() {
    let tmp = temp_dir();
    let dir = long_dir(&tmp);
    let dir = dir.to_str().expect("utf-8 path");
    let ran = check(&["--unix-dir", dir]);
    ran.assert_code(1);
    for row in unix_rows(&ran) {
        assert_eq!(row.status, "FAIL", "{ran}");
        let path = row.address.split_once(':').expect("a prefix").1;
        assert_eq!(
            row.reason,
            format!(
                "--unix-dir {dir} is too long for Unix sockets: a socket path there is {} bytes, but sun_path holds at most {} ({SUN_PATH} with the terminating NUL); use a shorter directory",
                path.len(),
                SUN_PATH - 1
            ),
            "{ran}"
        );
    }
}

#[test]
fn long_temporary_directory_is_skip_unless_unix_is_required() {
    let tmp = temp_dir();
    let dir = long_dir(&tmp);
    let mut cmd = echokit(&["check"]);
    cmd.env("TMPDIR", &dir);
    let ran = run(cmd);
    ran.assert_code(0);
    for row in unix_rows(&ran) {
        assert_eq!(row.status, "SKIP", "{ran}");
        assert!(
            row.reason.starts_with(&format!(
                "the temporary directory {} is too long for Unix sockets: a socket path there is ",
                dir.display()
            )),
            "{ran}"
        );
        assert!(
            row.reason
                .contains(&format!("sun_path holds at most {}", SUN_PATH - 1)),
            "{ran}"
        );
        assert!(
            row.reason
                .ends_with("set TMPDIR to a shorter directory or pass --unix-dir")
        );
    }
    // Nothing was created there.
    let left: Vec<_> = std::fs::read_dir(&dir).expect("read_dir").collect();
    assert!(left.is_empty(), "{left:?}");

    let mut cmd = echokit(&["check", "--require", "unix"]);
    cmd.env("TMPDIR", &dir);
    let ran = run(cmd);
    ran.assert_code(1);
    for row in unix_rows(&ran) {
        assert_eq!(row.status, "FAIL", "{ran}");
        assert!(
            row.reason.ends_with(" (required by --require unix)"),
            "{ran}"
        );
    }
}

// ---------------------------------------------------------------- ADDR mode

#[test]
fn external_servers_of_every_transport_pass() {
    let tmp = temp_dir();
    let stream = format!("unix:{}/s.sock", tmp.path().display());
    let dgram = format!("unixgram:{}/g.sock", tmp.path().display());
    let name = format!("@ekt-check-{}", std::process::id());
    let dgram_name = format!("unixgram:@ekt-check-g-{}", std::process::id());
    let mut addrs = vec![
        "tcp:127.0.0.1:0",
        "udp:127.0.0.1:0",
        &stream,
        &dgram,
        &name,
        &dgram_name,
    ];
    if ipv6_unavailable().is_none() {
        addrs.extend(["tcp:[::1]:0", "udp:[::1]:0"]);
    } else {
        skip(
            "external_servers_of_every_transport_pass (IPv6 part)",
            "no ::1 here",
        );
    }
    let server = Server::start(&addrs, addrs.len());
    let ready: Vec<&str> = server.ready.iter().map(String::as_str).collect();
    let ran = check(&ready);
    ran.assert_code(0);
    let rows = ran.rows();
    assert_eq!(rows.len(), ready.len(), "{ran}");
    for (row, addr) in rows.iter().zip(&ready) {
        assert_eq!(row.status, "PASS", "{ran}");
        assert_eq!(&row.address, addr, "{ran}");
    }

    // --json: the ADDR as typed comes back in "input".
    let ran = check(&["--json", ready[0], ready[1]]);
    ran.assert_code(0);
    let rows = ran.json();
    assert_eq!(rows[0]["input"], ready[0]);
    assert_eq!(rows[0]["transport"], "tcp4");
    assert_eq!(rows[1]["transport"], "udp4");
    assert_eq!(rows[1]["payloads"], serde_json::json!([1, 65507]));

    // A required family no ADDR covers is an unmet requirement: FAIL, exit 1.
    let ran = check(&["--require", "abstract", ready[0]]);
    ran.assert_code(1);
    let rows = ran.rows();
    assert_eq!(rows[0].status, "PASS", "{ran}");
    assert_eq!(
        (
            rows[1].transport.as_str(),
            rows[1].status.as_str(),
            rows[1].reason.as_str()
        ),
        (
            "abstract",
            "FAIL",
            "required by --require abstract, but no ADDR is abstract"
        ),
        "{ran}"
    );
}

#[test]
fn refused_servers_fail() {
    let tmp = temp_dir();
    let port = free_tcp_port("127.0.0.1");
    let tcp = format!("tcp:127.0.0.1:{port}");
    let udp = format!("udp:127.0.0.1:{port}");
    let path = format!("{}/nothing.sock", tmp.path().display());
    let ran = check(&[&tcp, &udp, &path]);
    ran.assert_code(1);
    let rows = ran.rows();
    assert_eq!(
        rows.iter()
            .map(|r| (r.status.as_str(), r.reason.as_str()))
            .collect::<Vec<_>>(),
        [
            ("FAIL", "connection refused (nothing is listening there)"),
            (
                "FAIL",
                "1B datagram: connection refused (nothing is listening there)"
            ),
            ("FAIL", "no such socket file"),
        ],
        "{ran}"
    );
    assert_eq!(
        ran.stderr,
        format!("echokit: 3 checks failed: tcp4 ({tcp}), udp4 ({udp}), unix (unix:{path})\n"),
        "{ran}"
    );
}

#[test]
fn silent_servers_fail_within_the_timeout() {
    let tmp = temp_dir();
    // Each accepts (the kernel's backlog) or queues, and never answers.
    let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let path = tmp.path().join("silent.sock");
    let _gram = UnixDatagram::bind(&path).expect("bind unixgram");
    let tcp_addr = format!("tcp:127.0.0.1:{}", tcp.local_addr().expect("addr").port());
    let udp_addr = format!("udp:127.0.0.1:{}", udp.local_addr().expect("addr").port());
    let gram_addr = format!("unixgram:{}", path.display());
    let ran = check(&["--timeout", "1s", &tcp_addr, &udp_addr, &gram_addr]);
    ran.assert_code(1);
    let rows = ran.rows();
    assert_eq!(rows.len(), 3, "{ran}");
    assert!(rows.iter().all(|r| r.status == "FAIL"), "{ran}");
    assert_eq!(
        rows[0].reason,
        "1B payload: timed out waiting for the echo (0 of 1 bytes came back)"
    );
    // send's words for the same failure, without the address the row names.
    for row in &rows[1..] {
        let reason = &row.reason;
        let tries = reason
            .strip_prefix("1B datagram: timed out waiting for the echo (no reply to ")
            .and_then(|r| r.strip_suffix(" datagrams)"))
            .unwrap_or_else(|| panic!("{reason:?}\n{ran}"));
        // 250ms, 500ms, then what is left of the second: at least two tries.
        assert!(tries.parse::<u32>().is_ok_and(|n| n >= 2), "{ran}");
    }
    // Three rows of one second each, not the default 5s nor a hang.
    assert!(ran.elapsed < Duration::from_secs(30), "{ran}");
}

#[test]
fn bad_addr_is_a_usage_error_before_any_check() {
    check(&["tcp:127.0.0.1:1", "127.0.0.1:99999"]).assert_error(
        2,
        "echokit: invalid address \"127.0.0.1:99999\": port 99999 out of range (0-65535)",
    );
}

#[test]
fn unix_dir_with_addrs_is_a_usage_error() {
    let ran = check(&["--unix-dir", "/tmp", "tcp:127.0.0.1:1"]);
    ran.assert_code(2);
    assert!(
        ran.stderr.starts_with(
            "echokit: the argument '--unix-dir <DIR>' cannot be used with '[ADDR]...'"
        ),
        "{ran}"
    );
}

// ------------------------------------------------ network namespaces (root)

#[test]
fn ipv6_disabled_by_sysctl_is_skip_in_a_network_namespace() {
    let test = "ipv6_disabled_by_sysctl_is_skip_in_a_network_namespace";
    let Some(ran) = in_netns(test, None, NO_IPV6, &["check"], RUN_LIMIT) else {
        return;
    };
    ran.assert_code(0);
    let rows = ran.rows();
    for (transport, prefix) in [("tcp6", "tcp:[::1]"), ("udp6", "udp:[::1]")] {
        let row = find(&rows, transport, prefix);
        assert_eq!(row.status, "SKIP", "{ran}");
        assert_eq!(
            row.reason,
            "IPv6 is disabled by sysctl net.ipv6.conf.all.disable_ipv6=1 \
             (sysctl -w net.ipv6.conf.all.disable_ipv6=0 enables it): \
             bind [::1] says cannot assign requested address",
            "{ran}"
        );
    }
    for transport in ["tcp4", "udp4", "unix", "unixgram", "abstract"] {
        let row = find(&rows, transport, "");
        assert_eq!(row.status, "PASS", "{ran}");
    }

    let Some(ran) = in_netns(
        test,
        None,
        NO_IPV6,
        &["check", "--require", "ipv6"],
        RUN_LIMIT,
    ) else {
        return;
    };
    ran.assert_code(1);
    let rows = ran.rows();
    for transport in ["tcp6", "udp6"] {
        let row = find(&rows, transport, "");
        assert_eq!(row.status, "FAIL", "{ran}");
        assert!(
            row.reason.starts_with("IPv6 is disabled by sysctl"),
            "{ran}"
        );
        assert!(
            row.reason.ends_with(" (required by --require ipv6)"),
            "{ran}"
        );
    }
    assert!(
        ran.stderr
            .starts_with("echokit: 2 checks failed: tcp6 (tcp:[::1]:0), udp6 (udp:[::1]:0)"),
        "{ran}"
    );

    // --json says the same, with "required".
    let Some(ran) = in_netns(
        test,
        None,
        NO_IPV6,
        &["check", "--json", "--require", "tcp6"],
        RUN_LIMIT,
    ) else {
        return;
    };
    ran.assert_code(1);
    let rows = ran.json();
    let tcp6 = rows
        .iter()
        .find(|r| r["transport"] == "tcp6")
        .expect("tcp6");
    let udp6 = rows
        .iter()
        .find(|r| r["transport"] == "udp6")
        .expect("udp6");
    assert_eq!(
        (tcp6["status"].as_str(), tcp6["required"].as_bool()),
        (Some("FAIL"), Some(true))
    );
    assert_eq!(
        (udp6["status"].as_str(), udp6["required"].as_bool()),
        (Some("SKIP"), Some(false))
    );
}

#[test]
fn no_ipv6_loopback_address_is_skip_in_a_network_namespace() {
    let test = "no_ipv6_loopback_address_is_skip_in_a_network_namespace";
    let setup = format!("{LO_UP} && ip -6 addr del ::1/128 dev lo");
    let Some(ran) = in_netns(test, None, &setup, &["check", "-6"], RUN_LIMIT) else {
        return;
    };
    ran.assert_code(0);
    let rows = ran.rows();
    for transport in ["tcp6", "udp6"] {
        let row = find(&rows, transport, "");
        assert_eq!(row.status, "SKIP", "{ran}");
        assert_eq!(
            row.reason,
            "no ::1 on the loopback interface (typical of containers): \
             bind [::1] says cannot assign requested address",
            "{ran}"
        );
    }
    assert!(
        rows.iter().all(|r| !r.transport.ends_with('4')),
        "-6 leaves IPv4 out\n{ran}"
    );
}

#[test]
fn localhost_naming_a_missing_address_is_skip_in_a_namespace() {
    let test = "localhost_naming_a_missing_address_is_skip_in_a_namespace";
    let hosts = Some(LOCALHOST_BOTH_WAYS);
    let Some(ran) = in_netns(test, hosts, NO_IPV6, &["check", "-u"], RUN_LIMIT) else {
        return;
    };
    ran.assert_code(0);
    let row = find(&ran.rows(), "localhost", "localhost").clone();
    assert_eq!(row.status, "SKIP", "{ran}");
    assert!(
        row.reason.starts_with(
            "resolves to 127.0.0.1, ::1, but this machine has no ::1: IPv6 is disabled by sysctl"
        ),
        "{ran}"
    );
    assert!(
        row.reason.contains("remove it from the hosts file"),
        "{ran}"
    );

    let Some(ran) = in_netns(
        test,
        hosts,
        NO_IPV6,
        &["check", "-u", "--require", "localhost"],
        RUN_LIMIT,
    ) else {
        return;
    };
    ran.assert_code(1);
    let row = find(&ran.rows(), "localhost", "localhost").clone();
    assert_eq!(row.status, "FAIL", "{ran}");
    assert!(
        row.reason.ends_with(" (required by --require localhost)"),
        "{ran}"
    );
}
