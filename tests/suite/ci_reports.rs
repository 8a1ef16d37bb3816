//! `check --junit FILE` and `check --github` on real sockets (issue 9): the
//! JUnit report parsed back, the workflow commands after the table, the job
//! summary and the step outputs, and the errors that stop a run before any
//! row runs.
//!
//! The JUnit report is also checked by strangers (issue 16): `xmllint
//! --schema` with tests/data/junit-10-rules.xsd (junit-10.xsd's rules, which
//! Jenkins' xUnit plugin and pytest apply), and Debian's python3-junitparser,
//! a real report reader, reading back counts, names and messages with control
//! characters in them. Each says it skips when its tool is missing. A full
//! disk (a tiny tmpfs in a private mount namespace, as root) shows the report
//! is replaced atomically: exit 6, one line, the old file intact.
//!
//! Every run clears the GitHub Actions variables it did not set, so these
//! tests behave the same when `cargo test` itself runs inside a workflow.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{BIN, Run, Server, program_succeeds, run_cmd, skip};
use quick_xml::Reader;
use quick_xml::events::Event;

/// A whole `check` (8 MiB stream payloads on every transport) on a busy 2-core machine.
const CHECK_LIMIT: Duration = Duration::from_secs(90);

/// `sizeof(sun_path)` here.
const SUN_PATH: usize = if cfg!(target_os = "linux") { 108 } else { 104 };

/// `echokit check ARGS…` with `env` set and every other GitHub variable cleared.
fn check(args: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("check").args(args);
    for var in ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"] {
        cmd.env_remove(var);
    }
    for (var, value) in env {
        cmd.env(var, value);
    }
    run_cmd(cmd, b"", CHECK_LIMIT)
}

/// A directory under `tmp` too long for a socket path inside it: the
/// in-process Unix rows become SKIP when TMPDIR points there.
fn long_dir(tmp: &Path) -> PathBuf {
    let mut dir = tmp.to_path_buf();
    while dir.as_os_str().len() < SUN_PATH + 10 {
        dir.push("d".repeat(40));
    }
    std::fs::create_dir_all(&dir).expect("create a long directory");
    dir
}

/// A TCP port on 127.0.0.1 nothing listens on (bound, then closed).
fn refused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    listener.local_addr().expect("local address").port()
}

/// The table's rows as (transport, address, status), from the human output.
fn table_rows(run: &Run) -> Vec<(String, String, String)> {
    let out = run.out();
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("TRANSPORT"), "{}", run.describe());
    lines
        .take_while(|l| !l.starts_with("::"))
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (
                cells[0].to_string(),
                cells[1].to_string(),
                cells[2].to_string(),
            )
        })
        .collect()
}

/// One `<testcase>` as a report reader sees it.
#[derive(Debug, Default)]
struct Case {
    name: String,
    classname: String,
    time: f64,
    /// `failure` or `skipped`, with its `message`; `None` for a PASS.
    outcome: Option<(String, String)>,
}

/// The `<testsuite>` attributes and its cases, parsed with an XML reader.
fn parse_junit(xml: &str) -> (Vec<(String, String)>, Vec<Case>) {
    let mut reader = Reader::from_str(xml);
    let mut suite = Vec::new();
    let mut suites = 0;
    let mut cases: Vec<Case> = Vec::new();
    let attrs = |e: &quick_xml::events::BytesStart| -> Vec<(String, String)> {
        e.attributes()
            .map(|a| {
                let a = a.expect("a well-formed attribute");
                (
                    String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                    a.unescape_value().expect("an escaped value").into_owned(),
                )
            })
            .collect()
    };
    let get = |list: &[(String, String)], key: &str| {
        list.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {key} in {list:?}"))
    };
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let a = attrs(&e);
                match e.name().as_ref() {
                    b"testsuite" => {
                        suites += 1;
                        suite = a;
                    }
                    b"testcase" => cases.push(Case {
                        name: get(&a, "name"),
                        classname: get(&a, "classname"),
                        time: get(&a, "time").parse().expect("time in seconds"),
                        outcome: None,
                    }),
                    kind @ (b"failure" | b"skipped") => {
                        let case = cases.last_mut().expect("inside a testcase");
                        case.outcome = Some((
                            String::from_utf8_lossy(kind).into_owned(),
                            get(&a, "message"),
                        ));
                    }
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(e) => panic!(
                "not well-formed XML at {}: {e}\n{xml}",
                reader.buffer_position()
            ),
        }
    }
    assert_eq!(suites, 1, "one <testsuite>\n{xml}");
    (suite, cases)
}

fn attr<'a>(list: &'a [(String, String)], key: &str) -> &'a str {
    list.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {list:?}"))
}

#[test]
fn junit_has_one_case_per_row_with_skipped_reasons() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let long = long_dir(tmp.path());
    let report = tmp.path().join("report.xml");
    let report_arg = report.to_str().expect("utf-8 path");
    let run = check(&["--junit", report_arg], &[("TMPDIR", &long)]);
    run.assert_code(0);
    let rows = table_rows(&run);
    let xml = std::fs::read_to_string(&report).expect("the report was written");
    let (suite, cases) = parse_junit(&xml);
    assert_schema_valid("junit_has_one_case_per_row_with_skipped_reasons", &report);

    assert_eq!(attr(&suite, "name"), "echokit check");
    assert_eq!(attr(&suite, "tests"), rows.len().to_string());
    assert_eq!(attr(&suite, "failures"), "0");
    let skips = rows.iter().filter(|r| r.2 == "SKIP").count();
    assert!(skips >= 2, "the Unix rows skip\n{}", run.describe());
    assert_eq!(attr(&suite, "skipped"), skips.to_string());
    let total: f64 = attr(&suite, "time").parse().expect("seconds");
    assert!(total > 0.0 && total < CHECK_LIMIT.as_secs_f64());

    assert_eq!(cases.len(), rows.len());
    for (case, (transport, address, status)) in cases.iter().zip(&rows) {
        assert_eq!(case.name, format!("{transport} {address}"));
        assert_eq!(case.classname, "echokit.check");
        assert!(case.time >= 0.0 && case.time < 10.0, "{case:?}");
        match status.as_str() {
            "PASS" => assert!(case.outcome.is_none(), "{case:?}"),
            "SKIP" => {
                let (kind, message) = case.outcome.as_ref().expect("a skipped element");
                assert_eq!(kind, "skipped");
                assert!(!message.is_empty(), "{case:?}");
            }
            other => panic!("unexpected {other}\n{}", run.describe()),
        }
    }
    let unix = cases
        .iter()
        .find(|c| c.name.starts_with("unix "))
        .expect("a unix row");
    let (_, message) = unix.outcome.as_ref().expect("unix is skipped");
    assert!(
        message.starts_with(&format!(
            "the temporary directory {} is too long for Unix sockets",
            long.display()
        )),
        "{message}"
    );
}

#[test]
fn junit_failure_carries_the_reason_and_a_pass_its_round_trip_time() {
    let server = Server::start(&["127.0.0.1:0"], 1);
    let live = server.addr(0);
    let dead = format!("127.0.0.1:{}", refused_port());
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let report = tmp.path().join("report.xml");
    std::fs::write(&report, "stale content that must go").expect("pre-existing file");
    let run = check(
        &["--junit", report.to_str().expect("utf-8"), &live, &dead],
        &[],
    );
    run.assert_code(1);
    let xml = std::fs::read_to_string(&report).expect("the report was written");
    assert!(!xml.contains("stale content"), "truncated first\n{xml}");
    let (suite, cases) = parse_junit(&xml);
    assert_eq!(attr(&suite, "tests"), "2");
    assert_eq!(attr(&suite, "failures"), "1");
    assert_eq!(attr(&suite, "skipped"), "0");
    assert_schema_valid(
        "junit_failure_carries_the_reason_and_a_pass_its_round_trip_time",
        &report,
    );
    assert_eq!(cases[0].name, format!("tcp4 {live}"));
    assert!(cases[0].outcome.is_none());
    // The 1-byte round trip, in milliseconds (often 0.000 on loopback).
    assert!(
        cases[0].time >= 0.0 && cases[0].time < 10.0,
        "{:?}",
        cases[0]
    );
    assert_eq!(cases[1].name, format!("tcp4 tcp:{dead}"));
    let (kind, message) = cases[1].outcome.as_ref().expect("a failure");
    assert_eq!(kind, "failure");
    assert!(message.contains("refused"), "{message}");
}

#[test]
fn junit_path_that_cannot_be_written_stops_before_any_row() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let bad = tmp.path().join("no-such-dir").join("report.xml");
    let shown = bad.to_str().expect("utf-8");
    let run = check(&["--junit", shown], &[]);
    run.assert_error(
        2,
        &format!("echokit: cannot write the JUnit report {shown}: no such file or directory"),
    );
    let dir = tmp.path().to_str().expect("utf-8");
    check(&["--junit", dir], &[]).assert_error(
        2,
        &format!("echokit: cannot write the JUnit report {dir}: is a directory"),
    );
}

#[test]
fn github_prints_commands_after_the_table_and_fills_summary_and_outputs() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let long = long_dir(tmp.path());
    let outputs = tmp.path().join("output");
    let summary = tmp.path().join("summary");
    // The runner's files may already hold earlier steps' lines: we append.
    std::fs::write(&outputs, "earlier=1\n").expect("write");
    std::fs::write(&summary, "# Earlier step\n").expect("write");
    let run = check(
        &["--github", "--require", "ipv4"],
        &[
            ("TMPDIR", &long),
            ("GITHUB_OUTPUT", &outputs),
            ("GITHUB_STEP_SUMMARY", &summary),
        ],
    );
    run.assert_code(0);
    let rows = table_rows(&run);
    let out = run.out();
    let commands: Vec<&str> = out.lines().filter(|l| l.starts_with("::")).collect();
    // After the table, one ::warning per SKIP row (no FAIL here), in row order.
    let table_len = 1 + rows.len();
    assert_eq!(out.lines().count(), table_len + commands.len());
    let skipped: Vec<_> = rows.iter().filter(|r| r.2 == "SKIP").collect();
    assert_eq!(commands.len(), skipped.len(), "{}", run.describe());
    for (line, (transport, address, _)) in commands.iter().zip(&skipped) {
        let prefix = format!("::warning title=echokit check::{transport} {address}: ");
        assert!(line.starts_with(&prefix), "{line:?}");
    }
    assert!(commands.iter().any(|l| l.contains("unix unix:")));

    let written = std::fs::read_to_string(&outputs).expect("GITHUB_OUTPUT");
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines[0], "earlier=1");
    for want in ["tcp4=pass", "udp4=pass", "unix=skip", "unixgram=skip"] {
        assert!(lines.contains(&want), "{want} in {written:?}");
    }
    if cfg!(target_os = "linux") {
        // Two abstract rows (stream and datagram), one line.
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("abstract=")).count(),
            1
        );
        assert!(lines.contains(&"abstract=pass"), "{written:?}");
    }

    let text = std::fs::read_to_string(&summary).expect("GITHUB_STEP_SUMMARY");
    assert!(
        text.starts_with("# Earlier step\n### echokit check\n"),
        "{text}"
    );
    assert!(text.contains("| Transport | Address | Status | RTT | Reason |"));
    let table: Vec<&str> = text.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(table.len(), 1 + rows.len(), "{text}");
    assert!(
        table
            .iter()
            .any(|l| l.starts_with("| tcp4 | tcp:127.0.0.1:"))
    );
}

#[test]
fn github_error_per_fail_and_nothing_written_without_the_variables() {
    let dead = format!("127.0.0.1:{}", refused_port());
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let outputs = tmp.path().join("output");
    // Only GITHUB_OUTPUT is set: no summary file is written anywhere.
    let run = check(&["--github", &dead], &[("GITHUB_OUTPUT", &outputs)]);
    run.assert_code(1);
    let out = run.out();
    let last = out.lines().last().expect("output");
    assert!(
        last.starts_with(&format!(
            "::error title=echokit check::tcp4 tcp:{dead}: connection refused"
        )),
        "{}",
        run.describe()
    );
    assert_eq!(
        std::fs::read_to_string(&outputs).expect("GITHUB_OUTPUT"),
        "tcp4=fail\n"
    );
    let files: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(files, ["output"]);

    // Neither variable set: the commands still print; no file is touched.
    let run = check(&["--github", &dead], &[]);
    run.assert_code(1);
    assert!(run.out().contains("::error title=echokit check::"));
}

#[test]
fn github_output_that_cannot_be_opened_stops_before_any_row() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let bad = tmp.path().join("missing").join("output");
    let run = check(&["--github"], &[("GITHUB_OUTPUT", &bad)]);
    run.assert_error(
        2,
        &format!(
            "echokit: cannot write GITHUB_OUTPUT {}: no such file or directory",
            bad.display()
        ),
    );
}

#[test]
fn github_and_json_together_are_a_usage_error() {
    let run = check(&["--github", "--json"], &[]);
    run.assert_code(2);
    assert!(
        run.stderr
            .starts_with("echokit: the argument '--github' cannot be used with '--json'"),
        "{}",
        run.describe()
    );
}

/// junit-10.xsd's rules, restated (see the file's own comment).
fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit-10-rules.xsd")
}

/// `xmllint --noout --schema` on `report`; says it skips without xmllint.
fn assert_schema_valid(test: &str, report: &Path) {
    if !program_succeeds("xmllint", &["--version"]) {
        skip(test, "xmllint is not installed (Debian: libxml2-utils)");
        return;
    }
    let mut cmd = Command::new("xmllint");
    cmd.args(["--noout", "--schema"]).arg(schema()).arg(report);
    let run = run_cmd(cmd, b"", Duration::from_secs(30));
    assert_eq!(
        run.code,
        0,
        "the report breaks junit-10.xsd's rules\n{}\n{}",
        run.describe(),
        std::fs::read_to_string(report).unwrap_or_default()
    );
}

/// The Python that has Debian's modules (a pyenv shim may come first on PATH).
const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// Reads a report with junitparser and prints what it understood, as JSON.
const JUNITPARSER_READ: &str = r#"
import json, sys
from junitparser import JUnitXml, TestSuite
xml = JUnitXml.fromfile(sys.argv[1])
suites = [xml] if isinstance(xml, TestSuite) else list(xml)
print(json.dumps([{
    "name": s.name, "tests": s.tests, "failures": s.failures,
    "errors": s.errors, "skipped": s.skipped,
    "cases": [{"name": c.name, "classname": c.classname,
               "results": [[r._tag, r.message] for r in c.result]} for c in s],
} for s in suites]))
"#;

/// What junitparser reads from `report`: its suites, as JSON; `None` (said)
/// when /usr/bin/python3 has no junitparser.
fn junitparser_read(test: &str, report: &Path) -> Option<serde_json::Value> {
    if !program_succeeds(DEBIAN_PYTHON, &["-c", "import junitparser"]) {
        skip(
            test,
            "/usr/bin/python3 has no junitparser (Debian: python3-junitparser)",
        );
        return None;
    }
    let mut cmd = Command::new(DEBIAN_PYTHON);
    cmd.args(["-c", JUNITPARSER_READ]).arg(report);
    let run = run_cmd(cmd, b"", Duration::from_secs(30));
    run.assert_code(0);
    Some(serde_json::from_str(&run.out()).expect("junitparser's reading as JSON"))
}

/// A long temporary directory whose name holds a newline, a tab, a C0
/// control XML cannot carry (U+0001) and DEL: its Unix rows skip with a
/// reason that names it, and their names hold it too.
fn odd_long_dir(tmp: &Path) -> PathBuf {
    let odd = tmp.join("line\nbreak\ttab\u{1}ctl\u{7f}del");
    long_dir(&odd)
}

/// What a reader must see for `text` that had the odd characters: the ones
/// XML 1.0 carries as references come back as they were; U+0001 is text.
fn as_read(text: &str) -> String {
    text.replace('\u{1}', "\\u{1}")
}

#[test]
fn junit_control_characters_survive_the_schema_and_a_real_reader() {
    let test = "junit_control_characters_survive_the_schema_and_a_real_reader";
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let long = odd_long_dir(tmp.path());
    let shown = long.to_str().expect("utf-8").to_string();
    // -u: the datagram rows only (no 8 MiB stream payloads); unixgram skips,
    // then, under --require unix, fails: both outcome elements, same reason.
    for (extra, code, tag) in [(None, 0, "skipped"), (Some("unix"), 1, "failure")] {
        let report = tmp.path().join(format!("{tag}.xml"));
        let mut args = vec!["-u", "--junit", report.to_str().expect("utf-8")];
        if let Some(name) = extra {
            args.extend(["--require", name]);
        }
        let run = check(&args, &[("TMPDIR", &long)]);
        run.assert_code(code);
        let xml = std::fs::read_to_string(&report).expect("the report was written");
        // Nothing raw below U+0020 but the indentation's newlines.
        assert!(
            !xml.chars().any(|c| c < ' ' && c != '\n') && !xml.contains("\n\n"),
            "{xml:?}"
        );
        assert!(
            xml.contains("line&#10;break&#9;tab\\u{1}ctl&#127;del"),
            "{xml}"
        );
        assert_schema_valid(test, &report);

        let Some(suites) = junitparser_read(test, &report) else {
            continue;
        };
        let suites = suites.as_array().expect("a list of suites");
        assert_eq!(suites.len(), 1, "{suites:?}");
        let suite = &suites[0];
        let cases = suite["cases"].as_array().expect("cases");
        assert_eq!(suite["name"], "echokit check");
        assert_eq!(suite["tests"], cases.len());
        assert_eq!(suite["errors"], 0);
        let (failures, skipped) = if code == 0 { (0, 1) } else { (1, 0) };
        assert_eq!(suite["failures"], failures, "{suite}");
        assert_eq!(suite["skipped"], skipped, "{suite}");
        let odd: Vec<&serde_json::Value> = cases
            .iter()
            .filter(|c| {
                c["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("unixgram "))
            })
            .collect();
        assert_eq!(odd.len(), 1, "{cases:?}");
        let name = odd[0]["name"].as_str().expect("a name");
        assert!(
            name.starts_with(&format!("unixgram unixgram:{}/", as_read(&shown))),
            "{name:?}"
        );
        let results = odd[0]["results"].as_array().expect("results");
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(results[0][0], tag);
        let message = results[0][1].as_str().expect("a message");
        assert!(
            message.starts_with(&format!(
                "the temporary directory {} is too long for Unix sockets",
                as_read(&shown)
            )),
            "{message:?}"
        );
        for case in cases {
            assert_eq!(case["classname"], "echokit.check");
        }
    }
}

#[test]
fn junit_on_a_full_disk_is_exit_6_and_the_old_report_stays_whole() {
    let test = "junit_on_a_full_disk_is_exit_6_and_the_old_report_stays_whole";
    // A tmpfs of two pages in a mount namespace of its own (only root may
    // make one): one page holds the old report, a filler takes the other.
    if !program_succeeds("unshare", &["-m", "true"]) {
        skip(
            test,
            "cannot make a mount namespace here (unshare -m needs root)",
        );
        return;
    }
    let server = Server::start(&["127.0.0.1:0"], 1);
    let live = server.addr(0);
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mount = tmp.path().join("full");
    std::fs::create_dir(&mount).expect("mkdir");
    let script = r#"
        mount -t tmpfs -o size=8k echokit-full "$1" || exit 99
        printf 'old report\n' > "$1/report.xml"
        head -c 1048576 /dev/zero > "$1/filler" 2>/dev/null
        "$2" check --junit "$1/report.xml" "$3" > /dev/null
        echo "exit $?"
        ls -A "$1"
        cat "$1/report.xml"
    "#;
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c", script, "sh"])
        .arg(&mount)
        .arg(BIN)
        .arg(&live);
    let run = run_cmd(cmd, b"", Duration::from_secs(60));
    if run.code == 99 {
        skip(
            test,
            &format!("cannot mount a tmpfs: {}", run.stderr.trim()),
        );
        return;
    }
    let report = mount.join("report.xml");
    assert_eq!(
        run.stderr,
        format!(
            "echokit: cannot write the JUnit report {}: no space left on device\n",
            report.display()
        ),
        "{}",
        run.describe()
    );
    // Exit 6 (SPEC §5), no temporary file left, the old report untouched.
    assert_eq!(
        run.out(),
        "exit 6\nfiller\nreport.xml\nold report\n",
        "{}",
        run.describe()
    );
}

#[test]
fn junit_into_a_device_writes_in_place_and_a_full_one_is_exit_6() {
    let server = Server::start(&["127.0.0.1:0"], 1);
    let live = server.addr(0);
    // Renaming over /dev/null would replace the device (as root): it is written in place.
    check(&["--junit", "/dev/null", &live], &[]).assert_code(0);
    let meta = std::fs::metadata("/dev/null").expect("/dev/null");
    assert!(!meta.is_file(), "/dev/null became a regular file");
    if Path::new("/dev/full").exists() {
        check(&["--junit", "/dev/full", &live], &[]).assert_stderr_line(
            6,
            "echokit: cannot write the JUnit report /dev/full: no space left on device",
        );
    }
}
