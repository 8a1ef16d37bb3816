//! The committed bash completion script, run by bash itself (issue 16): after
//! `check --require` it offers the transport names `--require` accepts
//! (`echokit::transport::require_names`, the list `check` validates against),
//! and after `serve --mode` no file names, since a mode is an octal number.
//! Before, both offered the files of the current directory.
//!
//! Each case sources completions/echokit.bash, sets `COMP_WORDS` and
//! `COMP_CWORD` as bash does for a Tab press, calls `_echokit` with the
//! arguments bash passes (command, current word, previous word) and prints
//! `COMPREPLY`, one candidate a line. Without bash it says it skips.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::{program_succeeds, run_cmd, skip};

/// Sources the script ($1), completes the words after it, prints COMPREPLY.
const COMPLETE: &str = r#"
source "$1" || exit 99
shift
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
_echokit echokit "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;

/// What bash offers for the last of `words`, run in `cwd`; `None` (said) without bash.
fn offered(test: &str, cwd: &Path, words: &[&str]) -> Option<Vec<String>> {
    if !program_succeeds("bash", &["-c", "true"]) {
        skip(test, "bash is not installed");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/echokit.bash");
    let mut cmd = Command::new("bash");
    cmd.args(["--norc", "--noprofile", "-c", COMPLETE, "bash"])
        .arg(script)
        .args(words)
        .current_dir(cwd);
    let run = run_cmd(cmd, b"", Duration::from_secs(30));
    run.assert_code(0);
    let mut candidates: Vec<String> = run.out().lines().map(str::to_string).collect();
    candidates.sort();
    Some(candidates)
}

/// A directory with a file in it, which a file-name completion would offer.
fn dir_with_a_file() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("a-file-not-to-offer"), "").expect("write");
    dir
}

#[test]
fn bash_offers_the_transport_names_after_check_require() {
    let test = "bash_offers_the_transport_names_after_check_require";
    let dir = dir_with_a_file();
    let Some(all) = offered(test, dir.path(), &["echokit", "check", "--require", ""]) else {
        return;
    };
    let mut names: Vec<String> = echokit::transport::require_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    names.sort();
    assert_eq!(all, names);
    assert!(all.contains(&"ipv6".to_string()) && all.contains(&"unix".to_string()));

    let some = offered(test, dir.path(), &["echokit", "check", "--require", "ip"])
        .expect("bash ran above");
    assert_eq!(some, ["ipv4", "ipv6"]);
}

#[test]
fn bash_offers_no_file_names_after_serve_mode() {
    let test = "bash_offers_no_file_names_after_serve_mode";
    let dir = dir_with_a_file();
    let Some(got) = offered(test, dir.path(), &["echokit", "serve", "--mode", ""]) else {
        return;
    };
    assert!(
        !got.iter().any(|c| c.contains("a-file-not-to-offer")),
        "{got:?}"
    );
    // What was typed stays as it is.
    let typed =
        offered(test, dir.path(), &["echokit", "serve", "--mode", "06"]).expect("bash ran above");
    assert_eq!(typed, ["06"]);
}
