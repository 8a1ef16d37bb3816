//! `man/` and `completions/` are exactly what `echokit generate` prints
//! (SPEC §4, issue 9): these tests run the real binary, generate into a
//! temporary directory, and compare byte for byte with the committed files.
//!
//! Regenerate them after a CLI change (and commit the result with it):
//!
//! ```sh
//! ECHOKIT_REGENERATE=1 cargo test --test tests generated_docs
//! ```
//!
//! which runs the same commands into `man/` and `completions/` instead, and
//! removes files no command generates any more. By hand, the same is
//! `echokit generate man man/` and one `echokit generate completions SHELL`
//! per shell (see the README).
//!
//! Also here: `generate`'s own errors (exact stderr line, exit 2, nothing
//! written), the parts every page must have, and groff's warnings.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{BIN, Run, STEP, echokit, run_cmd};

/// The one command that brings `man/` and `completions/` up to date.
const REGENERATE: &str = "ECHOKIT_REGENERATE=1 cargo test --test tests generated_docs";

/// Each shell `generate completions` takes, and the file name that shell looks for.
const SHELLS: [(&str, &str); 5] = [
    ("bash", "echokit.bash"),
    ("zsh", "_echokit"),
    ("fish", "echokit.fish"),
    ("elvish", "echokit.elv"),
    ("powershell", "_echokit.ps1"),
];

/// One generated file: its name inside its directory, and its bytes.
struct Generated {
    name: String,
    bytes: Vec<u8>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn regenerating() -> bool {
    std::env::var("ECHOKIT_REGENERATE").is_ok_and(|v| v == "1")
}

/// The files in `dir` (sorted by name) whose names `ours` accepts.
fn files_in(dir: &Path, ours: impl Fn(&str) -> bool) -> Vec<Generated> {
    let mut files: Vec<Generated> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| ours(name))
            .map(|name| Generated {
                bytes: std::fs::read(dir.join(&name))
                    .unwrap_or_else(|e| panic!("cannot read {}/{name}: {e}", dir.display())),
                name,
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

fn is_page(name: &str) -> bool {
    name.starts_with("echokit") && name.ends_with(".1")
}

fn is_completion(name: &str) -> bool {
    name.starts_with("echokit") || name.starts_with("_echokit")
}

/// What `echokit generate man TMP` writes.
fn man_pages() -> Vec<Generated> {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().to_str().expect("utf-8 temp path");
    let run = echokit(&["generate", "man", dir], b"");
    run.assert_code(0);
    assert!(
        run.stdout.is_empty() && run.stderr.is_empty(),
        "generate man prints nothing\n{}",
        run.describe()
    );
    // Everything it wrote is a page: nothing else lands in a packager's man1/.
    let pages = files_in(tmp.path(), |_| true);
    for page in &pages {
        assert!(is_page(&page.name), "generate man wrote {}", page.name);
    }
    pages
}

/// What `echokit generate completions SHELL` prints, for every shell.
fn completions() -> Vec<Generated> {
    SHELLS
        .iter()
        .map(|(shell, name)| {
            let run = echokit(&["generate", "completions", shell], b"");
            run.assert_code(0);
            assert!(run.stderr.is_empty(), "{}", run.describe());
            assert!(!run.stdout.is_empty(), "{}", run.describe());
            Generated {
                name: name.to_string(),
                bytes: run.stdout.clone(),
            }
        })
        .collect()
}

/// Compares `expected` with the committed `dir`, or writes it there when regenerating.
fn sync(dir: &str, expected: &[Generated], ours: impl Fn(&str) -> bool) {
    let path = repo().join(dir);
    let present = files_in(&path, ours);
    let extra: Vec<&Generated> = present
        .iter()
        .filter(|f| !expected.iter().any(|g| g.name == f.name))
        .collect();

    if regenerating() {
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {dir}/: {e}"));
        for file in expected {
            let target = path.join(&file.name);
            if std::fs::read(&target).ok().as_deref() != Some(&file.bytes[..]) {
                std::fs::write(&target, &file.bytes)
                    .unwrap_or_else(|e| panic!("cannot write {dir}/{}: {e}", file.name));
                eprintln!("wrote {dir}/{}", file.name);
            }
        }
        for file in extra {
            std::fs::remove_file(path.join(&file.name))
                .unwrap_or_else(|e| panic!("cannot remove {dir}/{}: {e}", file.name));
            eprintln!("removed {dir}/{} (no longer generated)", file.name);
        }
        return;
    }

    let mut problems = Vec::new();
    for file in expected {
        match present.iter().find(|f| f.name == file.name) {
            None => problems.push(format!("{dir}/{} is missing", file.name)),
            Some(found) if found.bytes != file.bytes => problems.push(format!(
                "{dir}/{} is stale: {}",
                file.name,
                first_difference(&file.bytes, &found.bytes)
            )),
            Some(_) => {}
        }
    }
    for file in extra {
        problems.push(format!("{dir}/{} is no longer generated", file.name));
    }
    assert!(
        problems.is_empty(),
        "{dir}/ is not what `echokit generate` prints:\n  {}\nRegenerate with:\n  {REGENERATE}\nand commit the result with the CLI change.",
        problems.join("\n  ")
    );
}

/// Where two texts first part, as the line number and both lines.
fn first_difference(expected: &[u8], found: &[u8]) -> String {
    let expected = String::from_utf8_lossy(expected);
    let found = String::from_utf8_lossy(found);
    let mut e = expected.lines();
    let mut f = found.lines();
    for line in 1.. {
        match (e.next(), f.next()) {
            (Some(a), Some(b)) if a == b => continue,
            (a, b) => {
                return format!(
                    "line {line} should be {:?}, is {:?}",
                    a.unwrap_or("<end of file>"),
                    b.unwrap_or("<end of file>")
                );
            }
        }
    }
    unreachable!("the loop returns at the first difference")
}

#[test]
fn committed_man_pages_are_what_generate_man_writes() {
    sync("man", &man_pages(), is_page);
}

#[test]
fn committed_completions_are_what_generate_completions_prints() {
    sync("completions", &completions(), is_completion);
}

#[test]
fn generating_twice_gives_the_same_bytes() {
    let (a, b) = (man_pages(), man_pages());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!(x.name == y.name && x.bytes == y.bytes, "{} differs", x.name);
    }
}

#[test]
fn every_subcommand_has_a_page_with_exit_status_examples_and_see_also() {
    let pages = man_pages();
    let cmd = echokit::cli::man::built_command();
    let subcommands = echokit::cli::man::subcommand_names(&cmd);
    assert!(subcommands.iter().any(|s| s == "generate"));
    for sub in &subcommands {
        assert!(
            pages.iter().any(|p| p.name == format!("echokit-{sub}.1")),
            "no page for {sub}"
        );
    }
    for page in &pages {
        let text = String::from_utf8_lossy(&page.bytes);
        for heading in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH \"EXIT STATUS\"",
            ".SH \"SEE ALSO\"",
            ".SH EXAMPLES",
        ] {
            assert!(
                text.contains(heading),
                "{} lacks {heading}: write it in src/cli/man.rs",
                page.name
            );
        }
        // SPEC §5: every code, 6 (internal error) included.
        assert!(
            text.contains(".TP\n6\nInternal error"),
            "{} lacks exit status 6",
            page.name
        );
        for see in ["nc", "socat", "ip", "unix", "getaddrinfo"] {
            assert!(
                text.contains(&format!("\\fB{see}\\fR(")),
                "{} does not refer to {see}",
                page.name
            );
        }
    }
    let top = pages
        .iter()
        .find(|p| p.name == "echokit.1")
        .expect("echokit.1");
    let top = String::from_utf8_lossy(&top.bytes);
    for heading in [".SH ADDRESSES", ".SH ENVIRONMENT", ".SH \"JSON OUTPUT\""] {
        assert!(top.contains(heading), "echokit.1 lacks {heading}");
    }
    assert!(
        top.contains("echokit\\-generate(1)"),
        "echokit.1 does not list generate"
    );
}

/// `man -l man/echokit.1` must render cleanly: groff with every warning on
/// (`-ww`) must print nothing on stderr for any page.
#[test]
fn man_pages_render_without_groff_warnings() {
    let probe = Command::new("groff").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: groff is not installed (apt-get install groff-base)");
        return;
    }
    for page in man_pages() {
        let mut cmd = Command::new("groff");
        cmd.args(["-man", "-Tutf8", "-ww", "-z"]);
        let run = run_cmd(cmd, &page.bytes, STEP);
        assert!(
            run.code == 0 && run.stderr.is_empty(),
            "groff warns about {}:\n{}",
            page.name,
            run.stderr
        );
    }
}

#[test]
fn top_level_help_lists_generate() {
    let run = echokit(&["--help"], b"");
    run.assert_code(0);
    assert!(
        run.out()
            .lines()
            .any(|l| l.trim_start().starts_with("generate ")),
        "{}",
        run.describe()
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error_naming_the_choices() {
    let run = echokit(&["generate", "completions", "tcsh"], b"");
    run.assert_first_line(2, "echokit: invalid value 'tcsh' for '<SHELL>'");
    assert!(
        run.stderr
            .contains("[possible values: bash, elvish, fish, powershell, zsh]"),
        "{}",
        run.describe()
    );
    assert!(run.stdout.is_empty(), "{}", run.describe());
}

#[test]
fn generate_man_into_a_missing_directory_is_a_usage_error() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let missing = tmp.path().join("no").join("man1");
    let shown = missing.to_str().expect("utf-8 temp path");
    echokit(&["generate", "man", shown], b"").assert_error(
        2,
        &format!("echokit: cannot write man pages to {shown}: no such directory"),
    );
    assert!(!tmp.path().join("no").exists());
}

#[test]
fn generate_man_into_a_file_is_a_usage_error() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let file = tmp.path().join("man1");
    std::fs::write(&file, "not a directory").expect("write a file");
    let shown = file.to_str().expect("utf-8 temp path");
    echokit(&["generate", "man", shown], b"").assert_error(
        2,
        &format!("echokit: cannot write man pages to {shown}: not a directory"),
    );
    assert_eq!(
        std::fs::read(&file).expect("the file is still there"),
        b"not a directory"
    );
}

#[test]
fn generate_man_into_an_unwritable_directory_writes_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("a temporary directory");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o555))
        .expect("chmod 555");
    let dir = tmp.path().to_str().expect("utf-8 temp path");
    let mut cmd = if nix::unistd::Uid::effective().is_root() {
        // Root passes permission checks through CAP_DAC_OVERRIDE: drop it from
        // the bounding set, so uid 0 is held to the mode bits (as tests/check.rs does).
        let drop = ["--bounding-set", "-dac_override,-dac_read_search", "--"];
        let probe = Command::new("setpriv")
            .args(drop)
            .arg("true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            let _ = writeln!(
                std::io::stderr(),
                "SKIP generate_man_into_an_unwritable_directory_writes_nothing: root, and setpriv cannot drop CAP_DAC_OVERRIDE here"
            );
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod back");
            return;
        }
        let mut cmd = Command::new("setpriv");
        cmd.args(drop).arg(BIN);
        cmd
    } else {
        Command::new(BIN)
    };
    cmd.args(["generate", "man", dir]);
    let run: Run = run_cmd(cmd, b"", STEP);
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod back");
    run.assert_error(
        2,
        &format!("echokit: cannot write man pages to {dir}: permission denied"),
    );
    let left = std::fs::read_dir(tmp.path()).expect("list").count();
    assert_eq!(left, 0, "something was written\n{}", run.describe());
}
