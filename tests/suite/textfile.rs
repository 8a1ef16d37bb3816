//! `check --metrics-file FILE` (SPEC §4 check) read by its real consumer:
//! Debian's `prometheus-node-exporter` with its textfile collector on a
//! temporary directory, and `promtool check metrics`. Where either is
//! missing the test says it skips (CI's `.ci/run` installs them).

use std::process::Command;
use std::time::Duration;

use crate::util::*;

/// `check` on this machine (in-process servers), the file in `dir`.
fn check_into(dir: &std::path::Path) -> (Run, String) {
    let file = dir.join("echokit.prom");
    let run = echokit_within(
        &["check", "-q", "--metrics-file", &file.display().to_string()],
        b"",
        Duration::from_secs(60),
    );
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    (run, text)
}

#[test]
fn the_metrics_file_has_a_probe_success_row_per_transport_and_nothing_else_stays() {
    let dir = temp_dir();
    let (run, text) = check_into(dir.path());
    run.assert_code(0);
    assert!(
        text.contains("probe_success{transport=\"tcp4\",address=\"tcp:in-process\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("probe_success{transport=\"unixgram\",address=\"unixgram:in-process\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE probe_duration_seconds gauge\n"),
        "{text}"
    );
    // Replaced whole: no temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["echokit.prom"]);
    // A second run gives the same series (in-process addresses change; labels do not).
    let (_, again) = check_into(dir.path());
    let series = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with("probe_success"))
            .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(series(&text), series(&again));
    if have_program("promtool", &["--version"]) {
        let mut cmd = Command::new("promtool");
        cmd.args(["check", "metrics"]);
        let lint = run_cmd(cmd, text.as_bytes(), STEP);
        assert!(
            lint.code == 0 && lint.stdout.is_empty() && lint.stderr.is_empty(),
            "{}",
            lint.describe()
        );
    } else {
        skip("promtool on the metrics file", "promtool is not installed");
    }
}

#[test]
fn a_metrics_file_that_cannot_be_written_is_refused_before_any_row_runs() {
    let dir = temp_dir();
    let file = dir.path().join("missing").join("echokit.prom");
    let run = echokit(
        &["check", "--metrics-file", &file.display().to_string()],
        b"",
    );
    run.assert_code(2);
    assert_eq!(
        run.stderr,
        format!(
            "echokit: cannot write the metrics file {}: no such file or directory\n",
            file.display()
        )
    );
}

#[test]
fn node_exporter_reads_the_metrics_file_without_a_textfile_error() {
    let program = "prometheus-node-exporter";
    if !have_program(program, &["--version"]) {
        return skip(
            "node_exporter_reads_the_metrics_file",
            "prometheus-node-exporter is not installed",
        );
    }
    let dir = temp_dir();
    let (run, _) = check_into(dir.path());
    run.assert_code(0);
    let page = ask_until(
        "node_exporter",
        |web| {
            let mut cmd = Command::new(program);
            cmd.args([
                "--collector.disable-defaults",
                "--collector.textfile",
                &format!("--collector.textfile.directory={}", dir.path().display()),
                &format!("--web.listen-address={web}"),
            ]);
            cmd
        },
        "/metrics",
        Duration::from_secs(20),
        |page| page.contains("node_textfile_scrape_error"),
    );
    // node_exporter sorts labels by name.
    assert!(
        page.contains("probe_success{address=\"tcp:in-process\",transport=\"tcp4\"} 1"),
        "{page}"
    );
    assert!(page.contains("node_textfile_scrape_error 0"), "{page}");
}
