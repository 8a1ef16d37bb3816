//! `man/` and `completions/` are generated from the clap definition
//! (`echokit::cli::Cli`), and this test fails when the committed files differ
//! from what the current command line generates (issue 3, items 6 and 7).
//!
//! Regenerate them with:
//!
//! ```sh
//! ECHOKIT_REGENERATE=1 cargo test --test generated_docs
//! ```
//!
//! Everything is built in memory and compared byte for byte; with
//! `ECHOKIT_REGENERATE=1` the same bytes are written instead, and files that
//! no subcommand generates any more are removed. The man pages are
//! clap_mangen's sections plus the hand-written ones in `tests/docs/`.

mod docs;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use clap::CommandFactory;
use clap_complete::{Generator, Shell};
use clap_mangen::Man;
use echokit::cli::Cli;

/// The one command that brings `man/` and `completions/` up to date.
const REGENERATE: &str = "ECHOKIT_REGENERATE=1 cargo test --test generated_docs";

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

/// The command line as the man pages show it: built, so that each subcommand
/// knows its full name (`echokit-serve`, `echokit serve`), and without clap's
/// `help` subcommand, which is not a page of its own.
fn built_command() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The names of the subcommands that get a page.
fn subcommand_names(cmd: &clap::Command) -> Vec<String> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect()
}

/// `echokit.1` and one `echokit-NAME.1` per subcommand.
fn man_pages() -> Vec<Generated> {
    let cmd = built_command();
    let all = subcommand_names(&cmd);
    let mut pages = vec![Generated {
        name: "echokit.1".into(),
        bytes: man_page(&cmd, None, &all),
    }];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push(Generated {
            name: format!("echokit-{}.1", sub.get_name()),
            bytes: man_page(sub, Some(sub.get_name()), &all),
        });
    }
    pages
}

/// One page: clap_mangen's sections, with the hand-written ones placed as
/// man-pages(7) orders them.
fn man_page(cmd: &clap::Command, subcommand: Option<&str>, all: &[String]) -> Vec<u8> {
    let title = cmd
        .get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_uppercase();
    // `.TH` takes the date as its third argument. An empty one would vanish
    // and shift the source into its place, so it is an explicit `""`; a real
    // date would make the output differ from day to day.
    let man = Man::new(cmd.clone())
        .title(title)
        .date("\"\"")
        .manual("General Commands Manual")
        .source(format!("echokit {}", env!("CARGO_PKG_VERSION")));
    let mut page = docs::preamble();
    let part = |render: &dyn Fn(&Man, &mut dyn Write) -> std::io::Result<()>| {
        let mut buf = Vec::new();
        render(&man, &mut buf).expect("rendering into memory cannot fail");
        let text = String::from_utf8(buf).expect("clap_mangen writes UTF-8");
        docs::strip_preamble(&text)
    };
    page.push_str(&part(&|m, w| m.render_title(w)));
    // Ragged right and no hyphenation: names such as getaddrinfo and
    // unixgram:/tmp/e.sock must stay whole to be found and copied.
    // (`.nh` alone is undone by every paragraph macro; the man macros
    // re-apply the HY register instead.)
    page.push_str(".ad l\n.nh\n.nr HY 0\n");
    page.push_str(&part(&|m, w| m.render_name_section(w)));
    // clap_mangen's synopsis lists every flag without its value
    // (`[--backlog]`); clap's own usage line is both shorter and right.
    page.push_str(&docs::synopsis(&cmd.clone().render_usage().to_string()));
    page.push_str(&part(&|m, w| m.render_description_section(w)));
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        page.push_str(&part(&|m, w| m.render_options_section(w)));
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        page.push_str(&part(&|m, w| m.render_subcommands_section(w)));
    }
    // clap_mangen would render `after_help` as "EXTRA"; its one-line exit
    // status summary is EXIT STATUS here, in full.
    let hand = docs::page(subcommand, all);
    for section in &hand.before {
        page.push_str(&docs::to_roff(section.title, &section.text));
    }
    if cmd.get_version().is_some() {
        page.push_str(&part(&|m, w| m.render_version_section(w)));
    }
    for section in &hand.after {
        page.push_str(&docs::to_roff(section.title, &section.text));
    }
    page.into_bytes()
}

/// The completion scripts, under the names each shell looks for.
fn completions() -> Vec<Generated> {
    [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ]
    .into_iter()
    .map(|shell| {
        let mut cmd = Cli::command();
        let mut bytes = Vec::new();
        clap_complete::generate(shell, &mut cmd, "echokit", &mut bytes);
        Generated {
            name: shell.file_name("echokit"),
            bytes,
        }
    })
    .collect()
}

/// Compares `expected` with `dir`, or writes it there when regenerating.
/// `ours` tells which files in `dir` this test owns (and may remove).
fn sync(dir: &str, expected: &[Generated], ours: impl Fn(&str) -> bool) {
    let path = repo().join(dir);
    let present: Vec<String> = match std::fs::read_dir(&path) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| ours(name))
            .collect(),
        Err(_) => Vec::new(),
    };
    let extra: Vec<&String> = present
        .iter()
        .filter(|name| !expected.iter().any(|g| &g.name == *name))
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
        for name in extra {
            std::fs::remove_file(path.join(name))
                .unwrap_or_else(|e| panic!("cannot remove {dir}/{name}: {e}"));
            eprintln!("removed {dir}/{name} (no longer generated)");
        }
        return;
    }

    let mut problems = Vec::new();
    for file in expected {
        match std::fs::read(path.join(&file.name)) {
            Err(_) => problems.push(format!("{dir}/{} is missing", file.name)),
            Ok(found) if found != file.bytes => problems.push(format!(
                "{dir}/{} is stale: {}",
                file.name,
                first_difference(&file.bytes, &found)
            )),
            Ok(_) => {}
        }
    }
    for name in extra {
        problems.push(format!(
            "{dir}/{name} is no longer generated by the command line"
        ));
    }
    assert!(
        problems.is_empty(),
        "{dir}/ does not match what the current command line (src/cli.rs) generates:\n  {}\nRegenerate with:\n  {REGENERATE}\nand commit the result with the CLI change.",
        problems.join("\n  ")
    );
}

/// Where two texts first part, as the line numbers and both lines.
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
fn man_pages_match_the_command_line() {
    sync("man", &man_pages(), |name| {
        name.starts_with("echokit") && name.ends_with(".1")
    });
}

#[test]
fn completions_match_the_command_line() {
    sync("completions", &completions(), |name| {
        name.starts_with("echokit") || name.starts_with("_echokit")
    });
}

#[test]
fn every_subcommand_has_a_page_with_exit_status_examples_and_see_also() {
    let pages = man_pages();
    let cmd = built_command();
    for sub in subcommand_names(&cmd) {
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
        ] {
            assert!(text.contains(heading), "{} lacks {heading}", page.name);
        }
        assert!(
            text.contains(".SH EXAMPLES"),
            "{} lacks EXAMPLES: write them in tests/docs/mod.rs",
            page.name
        );
    }
    let top = String::from_utf8_lossy(&pages[0].bytes).into_owned();
    for heading in [".SH ADDRESSES", ".SH ENVIRONMENT", ".SH \"JSON OUTPUT\""] {
        assert!(top.contains(heading), "echokit.1 lacks {heading}");
    }
    for see in ["nc", "socat", "ip", "unix", "getaddrinfo"] {
        assert!(
            pages
                .iter()
                .all(|p| String::from_utf8_lossy(&p.bytes).contains(&format!("\\fB{see}\\fR("))),
            "a page does not refer to {see}"
        );
    }
}

/// The hand-written text may only name options the command line has, so a
/// renamed flag cannot leave a man page describing the old one.
#[test]
fn hand_written_sections_name_only_real_options() {
    let cmd = built_command();
    let mut longs: Vec<String> = Vec::new();
    let mut stack = vec![&cmd];
    while let Some(c) = stack.pop() {
        longs.extend(
            c.get_arguments()
                .filter_map(|a| a.get_long())
                .map(String::from),
        );
        stack.extend(c.get_subcommands());
    }
    let all = subcommand_names(&cmd);
    for text in docs::all_text(&all) {
        for (i, _) in text.match_indices("--") {
            let rest = &text[i + 2..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            // "--" alone (e.g. the ping summary's "---") is not an option.
            let name = name.trim_end_matches('-');
            if name.is_empty() || text[..i].ends_with('-') {
                continue;
            }
            assert!(
                longs.iter().any(|l| l == name),
                "the man pages mention --{name}, which no command has"
            );
        }
    }
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
        let mut child = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("groff starts");
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(&page.bytes)
            .expect("groff reads the page");
        let out = child.wait_with_output().expect("groff finishes");
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && warnings.is_empty(),
            "groff warns about {}:\n{warnings}",
            page.name
        );
    }
}
