//! `action.yml` (issue 9): the composite GitHub Action at the top of the
//! repository, read and run here as a runner would run it.
//!
//! Each step's `run:` script goes to `bash --noprofile --norc -eo pipefail
//! FILE` (what `shell: bash` means on a runner) with the step's `env:`, where
//! `${{ inputs.NAME }}` is the only expression evaluated, and with
//! `GITHUB_ACTION_PATH` (this repository), `GITHUB_OUTPUT` and
//! `GITHUB_STEP_SUMMARY` (temporary files) set as the runner sets them.
//!
//! One substitution: the `cargo install --locked --path "$GITHUB_ACTION_PATH"`
//! step is not run (it would build echokit a second time, into ~/.cargo);
//! instead the binary cargo already built for these tests is put first on
//! PATH, which is where that step leaves `echokit` on a runner.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{BIN, Run, run_cmd};
use serde_norway::Value;

/// One `echokit check` on a busy 2-core machine, with its 8 MiB payloads.
const STEP_LIMIT: Duration = Duration::from_secs(90);

/// The install step, exactly as action.yml must say it.
const INSTALL: &str = r#"cargo install --locked --path "$GITHUB_ACTION_PATH""#;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn action() -> Value {
    let text = std::fs::read_to_string(repo().join("action.yml")).expect("action.yml at the top");
    serde_norway::from_str(&text).expect("action.yml is YAML")
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value:?}"))
}

/// `${{ inputs.NAME }}` replaced by `inputs[NAME]`; any other expression is a failure.
fn evaluate(value: &str, inputs: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .unwrap_or_else(|| panic!("unclosed expression in {value:?}"))
            + start;
        let expr = rest[start + 3..end].trim();
        let name = expr
            .strip_prefix("inputs.")
            .unwrap_or_else(|| panic!("this test evaluates only inputs.NAME, not {expr:?}"));
        out.push_str(
            inputs
                .get(name)
                .unwrap_or_else(|| panic!("no input {name:?} declared")),
        );
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The action's inputs: the declared defaults, overridden by `given`.
fn inputs(action: &Value, given: &[(&str, &str)]) -> BTreeMap<String, String> {
    let declared = action["inputs"].as_mapping().expect("inputs is a mapping");
    let mut values = BTreeMap::new();
    for (name, spec) in declared {
        let default = spec["default"].as_str().unwrap_or("").to_string();
        values.insert(text(name, "an input name").to_string(), default);
    }
    for (name, value) in given {
        assert!(values.contains_key(*name), "action.yml has no input {name}");
        values.insert(name.to_string(), value.to_string());
    }
    values
}

/// What one run of the action left behind.
struct Ran {
    /// The last step that ran (the first one that failed, or the last one).
    last: Run,
    outputs: String,
    summary: String,
}

/// Runs every step of the action in order, stopping at the first that fails.
fn run_action(given: &[(&str, &str)], work: &Path) -> Ran {
    let action = action();
    let inputs = inputs(&action, given);
    let outputs = work.join("github_output");
    let summary = work.join("github_step_summary");
    std::fs::write(&outputs, "").expect("create GITHUB_OUTPUT");
    std::fs::write(&summary, "").expect("create GITHUB_STEP_SUMMARY");
    let bin_dir = Path::new(BIN).parent().expect("the binary's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let steps = action["runs"]["steps"]
        .as_sequence()
        .expect("runs.steps is a list");
    let mut last = None;
    for (i, step) in steps.iter().enumerate() {
        let script = text(&step["run"], "run");
        if script.trim() == INSTALL {
            // Stands in for `cargo install`: the test binary is first on PATH (see the top).
            continue;
        }
        let file = work.join(format!("step{i}.sh"));
        std::fs::write(&file, script).expect("write the step's script");
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&file)
            .current_dir(work)
            .env("PATH", &path)
            .env("GITHUB_ACTION_PATH", repo())
            .env("GITHUB_OUTPUT", &outputs)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_ACTIONS", "true");
        if let Some(env) = step["env"].as_mapping() {
            for (name, value) in env {
                cmd.env(
                    text(name, "an env name"),
                    evaluate(text(value, "an env value"), &inputs),
                );
            }
        }
        let run = run_cmd(cmd, b"", STEP_LIMIT);
        let failed = run.code != 0;
        last = Some(run);
        if failed {
            break;
        }
    }
    Ran {
        last: last.expect("at least one step ran"),
        outputs: std::fs::read_to_string(&outputs).expect("read GITHUB_OUTPUT"),
        summary: std::fs::read_to_string(&summary).expect("read GITHUB_STEP_SUMMARY"),
    }
}

#[test]
fn action_is_composite_installs_from_its_own_path_and_keeps_expressions_out_of_scripts() {
    let action = action();
    assert_eq!(action["runs"]["using"], "composite");
    for input in ["require", "unix-dir"] {
        assert!(action["inputs"].get(input).is_some(), "no input {input}");
    }
    let steps = action["runs"]["steps"].as_sequence().expect("steps");
    assert!(
        steps
            .iter()
            .any(|s| s["run"].as_str().map(str::trim) == Some(INSTALL)),
        "no step runs {INSTALL}"
    );
    for step in steps {
        let script = text(&step["run"], "run");
        assert_eq!(step["shell"], "bash", "{script}");
        assert!(
            !script.contains("${{"),
            "an expression inside run: is pasted into the script as code; pass it through env:\n{script}"
        );
    }
    let check = steps
        .iter()
        .find(|s| s["id"] == "check")
        .expect("a step with id: check");
    assert_eq!(check["env"]["INPUT_REQUIRE"], "${{ inputs.require }}");
    assert_eq!(check["env"]["INPUT_UNIX_DIR"], "${{ inputs.unix-dir }}");
    // Every declared output reads that step's output of the same name.
    for (name, spec) in action["outputs"].as_mapping().expect("outputs") {
        let name = text(name, "an output name");
        assert_eq!(
            spec["value"].as_str(),
            Some(format!("${{{{ steps.check.outputs.{name} }}}}").as_str())
        );
    }
}

#[test]
fn action_runs_check_and_sets_one_output_per_transport() {
    let work = tempfile::tempdir().expect("a temporary directory");
    let sockets = work.path().join("sockets");
    std::fs::create_dir(&sockets).expect("a socket directory");
    let ran = run_action(
        &[
            ("require", "ipv4,unix"),
            ("unix-dir", sockets.to_str().expect("utf-8")),
        ],
        work.path(),
    );
    ran.last.assert_code(0);
    let lines: Vec<&str> = ran.outputs.lines().collect();
    for want in ["tcp4=pass", "udp4=pass", "unix=pass", "unixgram=pass"] {
        assert!(lines.contains(&want), "{want} in {:?}", ran.outputs);
    }
    // --unix-dir reached echokit: the Unix rows used that directory.
    let table = ran.last.out();
    assert!(
        table.contains(&format!("unix:{}/", sockets.display())),
        "{}",
        ran.last.describe()
    );
    assert!(ran.summary.contains("### echokit check"), "{}", ran.summary);
    // Every output the action declares was set.
    for (name, _) in action()["outputs"].as_mapping().expect("outputs") {
        let name = text(name, "an output name");
        if name == "abstract" && !cfg!(target_os = "linux") {
            continue;
        }
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{name}="))),
            "no {name}= in {:?}",
            ran.outputs
        );
    }
}

#[test]
fn action_inputs_are_arguments_never_shell_code() {
    let work = tempfile::tempdir().expect("a temporary directory");
    let marker = work.path().join("injected");
    let hostile = format!("ipv4$(touch {})\"; touch {0}; \"", marker.display());
    let ran = run_action(&[("require", &hostile)], work.path());
    // The whole input is one --require value: an unknown name, exit 2.
    ran.last.assert_code(2);
    assert!(
        ran.last
            .stderr
            .starts_with("echokit: unknown --require name"),
        "{}",
        ran.last.describe()
    );
    assert!(!marker.exists(), "an input ran as shell code");
    assert_eq!(ran.outputs, "");
}
