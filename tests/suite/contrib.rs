//! The examples in `contrib/` for the engines users already run, read by
//! those engines' own validators: `kubernetes-validate` (PyPI, with its
//! bundled schemas, pinned to one Kubernetes version) for
//! `contrib/kubernetes/`, and `check-jsonschema` with its vendored GitHub
//! workflow schema for `contrib/github/`. Each test also feeds the validator
//! a broken copy, so a validator that passes everything fails the test.
//! Where a validator is missing the test says it skips (`.ci/run` installs
//! both with pip).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::*;

/// The Kubernetes version the manifests are checked against.
const KUBERNETES: &str = "1.33.0";

fn contrib(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(dir)
}

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(contrib(dir))
        .unwrap_or_else(|e| panic!("contrib/{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no *.{ext} in contrib/{dir}");
    found
}

fn validate(program: &str, args: &[&str], files: &[PathBuf]) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args).args(files);
    run_cmd(cmd, b"", Duration::from_secs(60))
}

#[test]
fn the_kubernetes_examples_validate_against_a_pinned_kubernetes() {
    let program = "kubernetes-validate";
    if !have_program(program, &["--version"]) {
        return skip(
            "the_kubernetes_examples_validate",
            "kubernetes-validate is not installed (pip install kubernetes-validate)",
        );
    }
    let manifests = files("kubernetes", "yaml");
    let args = ["--strict", "-k", KUBERNETES];
    let run = validate(program, &args, &manifests);
    assert_eq!(run.code, 0, "{}", run.describe());
    let job =
        std::fs::read_to_string(contrib("kubernetes").join("echokit-bench-job.yaml")).unwrap();
    for needle in [
        "completionMode: Indexed",
        "--shard \"$((JOB_COMPLETION_INDEX + 1))/$SHARDS\" --start-at \"$START_AT\"",
    ] {
        assert!(job.contains(needle), "the bench Job lacks {needle:?}");
    }
    let server =
        std::fs::read_to_string(contrib("kubernetes").join("echokit-server.yaml")).unwrap();
    for needle in [
        "prometheus.io/scrape: \"true\"",
        "\"--metrics\", \"0.0.0.0:9862\"",
        "\"echokit\", \"send\"",
    ] {
        assert!(server.contains(needle), "the server lacks {needle:?}");
    }
    // A broken copy fails: the validator really reads the files.
    let dir = temp_dir();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        job.replace("completionMode: Indexed", "completionMode: 4"),
    )
    .unwrap();
    let run = validate(program, &args, &[broken]);
    assert_ne!(
        run.code,
        0,
        "a Job with completionMode: 4 passed:\n{}",
        run.describe()
    );
}

#[test]
fn the_github_workflow_validates_against_the_workflow_schema() {
    let program = "check-jsonschema";
    if !have_program(program, &["--version"]) {
        return skip(
            "the_github_workflow_validates",
            "check-jsonschema is not installed (pip install check-jsonschema)",
        );
    }
    let workflows = files("github", "yml");
    let args = ["--builtin-schema", "vendor.github-workflows"];
    let run = validate(program, &args, &workflows);
    assert_eq!(run.code, 0, "{}", run.describe());
    let text = std::fs::read_to_string(&workflows[0]).unwrap();
    for needle in [
        "uses: ./",
        "echokit bench merge shard-*.json",
        "--shard \"$SHARD/$SHARDS\"",
    ] {
        assert!(text.contains(needle), "the workflow lacks {needle:?}");
    }
    let dir = temp_dir();
    let broken = dir.path().join("broken.yml");
    std::fs::write(&broken, text.replace("\njobs:", "\njobz:")).unwrap();
    let run = validate(program, &args, &[broken]);
    assert_ne!(
        run.code,
        0,
        "a workflow without jobs: passed:\n{}",
        run.describe()
    );
}
