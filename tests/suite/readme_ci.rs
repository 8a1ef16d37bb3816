//! The README's "Use it in CI" examples (issue 9), read from README.md and
//! run, so the README cannot rot unseen: the Docker HEALTHCHECK (exec and
//! shell form) and the Kubernetes exec probe against a real `echokit serve`,
//! the blackbox_exporter module's `query_response` spoken over TCP to a real
//! server as blackbox_exporter speaks it, and the GitLab job's and the plain
//! GitHub step's commands with the files their CI systems read.
//!
//! The examples probe `127.0.0.1:7`, where a container's echo service
//! listens; a test cannot bind port 7 without privileges, so it serves on
//! port 0 and puts the real port in that one place. A command named
//! `echokit` runs the binary under test (first on PATH for shell lines).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::{
    BIN, IO_TIMEOUT, Run, STEP, Server, free_tcp_port, ipv6_unavailable, run_cmd, temp_dir,
};
use serde_norway::Value;

/// Where the README's container examples expect the echo service.
const README_ADDR: &str = "127.0.0.1:7";

/// One `echokit check` on a busy 2-core machine, with its 8 MiB payloads.
const CHECK_LIMIT: Duration = Duration::from_secs(90);

pub(super) fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md")
}

/// The text under the heading `### title` (or `## title`), up to the next
/// heading; `#` lines inside fenced blocks are not headings.
pub(super) fn section(readme: &str, title: &str) -> String {
    let mut inside = false;
    let mut fenced = false;
    let mut text = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        let heading = !fenced && (line.starts_with("## ") || line.starts_with("### "));
        if heading {
            inside = line.trim_start_matches('#').trim() == title;
            continue;
        }
        if inside {
            text.push_str(line);
            text.push('\n');
        }
    }
    assert!(!text.is_empty(), "no section {title:?} in README.md");
    text
}

/// The fenced blocks of `section` whose info string is `lang`.
fn blocks(section: &str, lang: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) if info.trim() == lang => current = Some(String::new()),
            (Some(block), Some(_)) => {
                found.push(std::mem::take(block));
                current = None;
            }
            (Some(block), None) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(!found.is_empty(), "no ```{lang} block in\n{section}");
    found
}

/// The one fenced `lang` block of the section `title`.
pub(super) fn only_block(title: &str, lang: &str) -> String {
    let found = blocks(&section(&readme(), title), lang);
    assert_eq!(found.len(), 1, "one ```{lang} block under {title:?}");
    found.into_iter().next().expect("one block")
}

/// `text` with the README's `127.0.0.1:7` (exactly one) replaced by `addr`.
fn aimed_at(text: &str, addr: &str) -> String {
    assert_eq!(
        text.matches(README_ADDR).count(),
        1,
        "one {README_ADDR} in {text:?}"
    );
    text.replace(README_ADDR, addr)
}

/// An exec-form command (`["echokit", …]`) aimed at `addr`, run within [`STEP`].
fn run_exec_form(argv: &[String], addr: &str) -> Run {
    assert_eq!(argv[0], "echokit", "{argv:?}");
    let mut cmd = Command::new(BIN);
    for arg in &argv[1..] {
        cmd.arg(if arg == README_ADDR { addr } else { arg });
    }
    assert!(argv.iter().any(|a| a == README_ADDR), "{argv:?}");
    run_cmd(cmd, b"", STEP)
}

/// A shell line run by `program ARGS… LINE` with the binary under test first
/// on PATH, in `dir`, with `env`.
fn run_shell(
    shell: &[&str],
    line: &str,
    dir: &Path,
    env: &[(&str, &Path)],
    limit: Duration,
) -> Run {
    let bin_dir = Path::new(BIN).parent().expect("the binary's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(shell[0]);
    cmd.args(&shell[1..])
        .arg(line)
        .current_dir(dir)
        .env("PATH", path);
    for (name, value) in env {
        cmd.env(name, value);
    }
    run_cmd(cmd, b"", limit)
}

/// The seconds in `--timeout 2s` among `argv`.
fn echokit_timeout(argv: &[String]) -> u64 {
    let at = argv
        .iter()
        .position(|a| a == "--timeout")
        .unwrap_or_else(|| panic!("no --timeout in {argv:?}: a probe must not hang"));
    let value = argv[at + 1]
        .strip_suffix('s')
        .expect("--timeout in seconds");
    value.parse().expect("a whole number of seconds")
}

/// A healthy echo server on 127.0.0.1, and a port where nothing listens.
fn live_and_dead() -> (Server, String, String) {
    let server = Server::start(&["127.0.0.1:0"], 1);
    let live = server.addr(0).trim_start_matches("tcp:").to_string();
    let dead = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"));
    (server, live, dead)
}

#[test]
fn readme_docker_healthcheck_is_healthy_with_a_server_and_unhealthy_without() {
    let dockerfile = only_block("Docker health check", "dockerfile");
    let line = dockerfile
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK "))
        .expect("a HEALTHCHECK line");
    let (options, exec) = line
        .split_once(" CMD ")
        .expect("HEALTHCHECK [OPTIONS] CMD [\"echokit\", …]");
    let argv: Vec<String> = serde_json::from_str(exec)
        .unwrap_or_else(|e| panic!("the exec form is a JSON array: {e}\n{line}"));
    // Docker's --timeout must leave echokit time to say what went wrong itself.
    let docker_timeout: u64 = options
        .split_whitespace()
        .find_map(|o| o.strip_prefix("--timeout="))
        .and_then(|t| t.strip_suffix('s'))
        .and_then(|t| t.parse().ok())
        .expect("HEALTHCHECK --timeout=Ns");
    assert!(echokit_timeout(&argv) < docker_timeout, "{line}");

    let (_server, live, dead) = live_and_dead();
    let run = run_exec_form(&argv, &live);
    run.assert_code(0);
    assert!(run.stdout.is_empty(), "-q prints nothing\n{run}");
    let run = run_exec_form(&argv, &dead);
    assert_ne!(run.code, 0, "healthy without a server\n{run}");

    // The shell form in the prose maps every failure to Docker's 1.
    let prose = section(&readme(), "Docker health check");
    let shell_form = prose
        .split('`')
        .find_map(|s| s.strip_prefix("HEALTHCHECK CMD "))
        .expect("`HEALTHCHECK CMD …` (the shell form) in the text");
    let dir = temp_dir();
    let sh = ["/bin/sh", "-c"];
    run_shell(&sh, &aimed_at(shell_form, &live), dir.path(), &[], STEP).assert_code(0);
    run_shell(&sh, &aimed_at(shell_form, &dead), dir.path(), &[], STEP).assert_code(1);
}

#[test]
fn readme_kubernetes_probe_passes_with_a_server_and_fails_without() {
    let yaml = only_block("Kubernetes probe", "yaml");
    let doc: Value = serde_norway::from_str(&yaml).expect("the probe is YAML");
    let probe = &doc["livenessProbe"];
    let argv: Vec<String> = probe["exec"]["command"]
        .as_sequence()
        .expect("livenessProbe.exec.command is a list")
        .iter()
        .map(|a| a.as_str().expect("a string argument").to_string())
        .collect();
    let kubelet_timeout = probe["timeoutSeconds"].as_u64().expect("timeoutSeconds");
    assert!(echokit_timeout(&argv) < kubelet_timeout, "{yaml}");

    let (_server, live, dead) = live_and_dead();
    run_exec_form(&argv, &live).assert_code(0);
    let run = run_exec_form(&argv, &dead);
    assert_ne!(run.code, 0, "the probe passed without a server\n{run}");
}

/// The text a blackbox `expect` regular expression matches, for the form the
/// README uses: `^LITERAL$` with no other regex syntax inside (so no regex
/// crate is needed to check it).
fn whole_line_literal(expect: &str) -> &str {
    let literal = expect
        .strip_prefix('^')
        .and_then(|e| e.strip_suffix('$'))
        .unwrap_or_else(|| panic!("expect {expect:?} is not anchored as ^…$"));
    assert!(
        !literal.contains([
            '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$'
        ]),
        "this test understands only ^literal$, not {expect:?}"
    );
    literal
}

#[test]
fn readme_blackbox_module_round_trips_through_a_real_server() {
    let yaml = only_block("Prometheus blackbox_exporter", "yaml");
    let doc: Value = serde_norway::from_str(&yaml).expect("the module is YAML");
    let modules = doc["modules"].as_mapping().expect("modules: is a mapping");
    assert_eq!(modules.len(), 1, "{yaml}");
    let (_, module) = modules.iter().next().expect("one module");
    assert_eq!(module["prober"], "tcp", "{yaml}");
    let steps = module["tcp"]["query_response"]
        .as_sequence()
        .expect("tcp.query_response is a list");

    let server = Server::start(&["127.0.0.1:0"], 1);
    let addr: SocketAddr = server
        .addr(0)
        .trim_start_matches("tcp:")
        .parse()
        .expect("addr");
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let mut lines = BufReader::new(stream.try_clone().expect("clone"));
    let (mut sent, mut matched) = (0, 0);
    // As blackbox_exporter's prober_tcp.go does it: per entry, first read lines
    // until one matches `expect`, then write `send` and a newline.
    for step in steps {
        if let Some(expect) = step["expect"].as_str() {
            let want = whole_line_literal(expect);
            let mut seen = Vec::new();
            loop {
                let mut line = String::new();
                let n = lines.read_line(&mut line).unwrap_or_else(|e| {
                    panic!("no line matched {expect:?} (read {seen:?}, then: {e})")
                });
                assert!(n > 0, "the server closed before a line matched {expect:?}");
                let line = line.trim_end_matches(['\n', '\r']).to_string();
                if line == want {
                    break;
                }
                seen.push(line);
            }
            matched += 1;
        }
        if let Some(send) = step["send"].as_str() {
            stream
                .write_all(format!("{send}\n").as_bytes())
                .expect("send the probe line");
            sent += 1;
        }
    }
    assert!(
        sent > 0 && matched > 0,
        "the module sends and expects\n{yaml}"
    );
}

/// Whether `--require ipv6` may fail here: only where the machine has no IPv6.
fn check_exit_ok(run: &Run) {
    match ipv6_unavailable() {
        None => {
            run.assert_code(0);
        }
        Some(_) => assert!(run.code == 0 || run.code == 1, "{run}"),
    }
}

#[test]
fn readme_gitlab_job_writes_the_junit_report_it_uploads() {
    let yaml = only_block("GitLab CI", "yaml");
    let doc: Value = serde_norway::from_str(&yaml).expect("the job is YAML");
    let job = &doc["sockets"];
    let script = job["script"].as_sequence().expect("script: is a list");
    assert_eq!(script.len(), 1, "{yaml}");
    let line = script[0].as_str().expect("a script line");
    let report = job["artifacts"]["reports"]["junit"]
        .as_str()
        .expect("artifacts.reports.junit");
    assert!(line.contains(&format!("--junit {report}")), "{yaml}");

    let dir = temp_dir();
    let run = run_shell(&["/bin/sh", "-c"], line, dir.path(), &[], CHECK_LIMIT);
    check_exit_ok(&run);
    let xml = std::fs::read_to_string(dir.path().join(report)).expect("the JUnit report");
    assert!(xml.contains("<testsuite name=\"echokit check\""), "{xml}");
}

#[test]
fn readme_plain_github_step_reports_to_the_runner_files() {
    let section = section(&readme(), "GitHub Actions");
    let step = blocks(&section, "yaml")
        .into_iter()
        .find(|b| b.contains("run: echokit check"))
        .expect("a plain step running echokit check");
    let doc: Value = serde_norway::from_str(&step).expect("the step is YAML");
    let line = doc[0]["run"].as_str().expect("run: of the step");

    let dir = temp_dir();
    let outputs = dir.path().join("github_output");
    let summary = dir.path().join("github_step_summary");
    let runner_temp = dir.path().join("runner_temp");
    std::fs::write(&outputs, "").expect("GITHUB_OUTPUT");
    std::fs::write(&summary, "").expect("GITHUB_STEP_SUMMARY");
    std::fs::create_dir(&runner_temp).expect("RUNNER_TEMP");
    let env = [
        ("GITHUB_OUTPUT", outputs.as_path()),
        ("GITHUB_STEP_SUMMARY", summary.as_path()),
        ("RUNNER_TEMP", runner_temp.as_path()),
    ];
    // `run:` on a Linux runner: bash --noprofile --norc -eo pipefail.
    let bash = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"];
    let run = run_shell(&bash, line, dir.path(), &env, CHECK_LIMIT);
    check_exit_ok(&run);
    let outputs = std::fs::read_to_string(&outputs).expect("read GITHUB_OUTPUT");
    assert!(
        outputs.lines().any(|l| l == "unix=pass"),
        "{outputs}\n{run}"
    );
    assert!(
        run.out()
            .contains(&format!("unix:{}/", runner_temp.display())),
        "--unix-dir \"$RUNNER_TEMP\" reached echokit\n{run}"
    );
    assert!(
        dir.path().join("echokit-check.xml").is_file(),
        "no JUnit report\n{run}"
    );
}
