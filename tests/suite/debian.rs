//! The Debian package (issue 9): `cargo deb --locked`, the README's command,
//! builds it, and `dpkg-deb` shows what it holds: exactly the documented
//! files with their modes, the committed man pages (gzipped), completions and
//! README byte for byte, a binary that runs and has no debug info left in it,
//! and control fields with `Depends` computed by `dpkg-shlibdeps`.
//!
//! The package is built once per test run (a `OnceLock`) into
//! `CARGO_TARGET_TMPDIR/debian`, and every test here reads that one build.
//! `cargo deb` builds the release binary first (into the usual
//! `target/release`, so a developer's own release build is reused). On a
//! clean 2-core machine that build is the cost of these tests: 81 s measured
//! with little else running, 160 s beside other builds; it runs beside the
//! rest of the suite. With the release binary already built, packaging takes
//! 5 to 10 s. The whole suite on a cold target directory: 103 s with
//! cargo-deb installed, 27 s without (measured on 2 busy cores). `--no-build` would not save the build (something must make the
//! release binary) and would test a command the README does not give;
//! `--fast` only lowers the xz level (13 s to 5 s here), which no check
//! looks at.
//!
//! `lintian` (issue 16) reads the .deb and must report no error and no
//! warning; each override in contrib/debian/lintian-overrides must be one
//! lintian used, so none outlives its reason. The Debian changelog shipped is
//! contrib/debian/changelog, its top entry this version.
//!
//! Without cargo-deb (or dpkg-deb) the tests say that they skip, so a
//! developer without them still passes; `.ci/run` installs cargo-deb.
//! The systemd units of contrib/systemd/ are installed in
//! /usr/lib/systemd/system/ as plain files: no maintainer script enables or
//! starts them (an echo service is not for a package to open by itself).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::util::{Run, program_succeeds, run_cmd, skip};

/// A cold release build plus packaging, on a busy 2-core machine, with margin.
const BUILD_LIMIT: Duration = Duration::from_secs(15 * 60);

/// `dpkg-deb`, `gzip`, `readelf` and the packaged binary: quick, bounded anyway.
const TOOL_LIMIT: Duration = Duration::from_secs(60);

/// lintian on a 2-core machine busy with other builds (about 11 s idle).
const LINTIAN_LIMIT: Duration = Duration::from_secs(5 * 60);

/// The package's version: Cargo's, with cargo-deb's default Debian revision.
const DEB_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "-1");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What one `cargo deb` left in the output directory.
struct Built {
    deb: PathBuf,
    dbgsym: PathBuf,
    /// The package unpacked with `dpkg-deb -x`.
    root: PathBuf,
}

/// The build, shared by the tests here: `None` when a tool is missing (the
/// reason already said), `Err` with the failure when the build failed (kept,
/// so a second test fails with the same message instead of building again).
fn built(test: &str) -> Option<&'static Built> {
    static BUILT: OnceLock<Result<Option<Built>, String>> = OnceLock::new();
    match BUILT.get_or_init(build) {
        Ok(Some(built)) => Some(built),
        Ok(None) => {
            skip(test, &missing_tools().unwrap_or_default());
            None
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// Why the package cannot be built and read here, if it cannot.
fn missing_tools() -> Option<String> {
    if !program_succeeds(&cargo(), &["deb", "--version"]) {
        return Some(format!(
            "cargo-deb is not installed ({}; .ci/run installs it)",
            pinned_install_command()
        ));
    }
    if !program_succeeds("dpkg-deb", &["--version"]) {
        return Some("dpkg-deb is not installed (not a Debian system)".to_string());
    }
    None
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

fn build() -> Result<Option<Built>, String> {
    if missing_tools().is_some() {
        return Ok(None);
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| format!("mkdir {}: {e}", out.display()))?;

    let mut cmd = Command::new(cargo());
    cmd.args(["deb", "--locked", "--fast", "--output"])
        .arg(&out)
        .current_dir(repo());
    let run = run_cmd(cmd, b"", BUILD_LIMIT);
    if run.code != 0 {
        return Err(format!("cargo deb failed\n{}", run.describe()));
    }
    // Said even when the harness captures output: this is the suite's largest cost.
    let _ = writeln!(
        std::io::stderr(),
        "note: cargo deb --locked --fast took {:.1?}",
        run.elapsed
    );

    let arch = tool(&["dpkg", "--print-architecture"]).out();
    let arch = arch.trim();
    let deb = out.join(format!("echokit_{DEB_VERSION}_{arch}.deb"));
    let dbgsym = out.join(format!("echokit-dbgsym_{DEB_VERSION}_{arch}.ddeb"));
    for file in [&deb, &dbgsym] {
        if !file.is_file() {
            return Err(format!(
                "cargo deb made no {}\n{}",
                file.display(),
                run.describe()
            ));
        }
    }
    let root = out.join("root");
    let mut unpack = Command::new("dpkg-deb");
    unpack.arg("-x").arg(&deb).arg(&root);
    let run = run_cmd(unpack, b"", TOOL_LIMIT);
    if run.code != 0 {
        return Err(format!("dpkg-deb -x failed\n{}", run.describe()));
    }
    Ok(Some(Built { deb, dbgsym, root }))
}

/// Runs `program ARGS…`, failing unless it exits 0.
fn tool(argv: &[&str]) -> Run {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    let run = run_cmd(cmd, b"", TOOL_LIMIT);
    run.assert_code(0);
    run
}

fn tool_on(argv: &[&str], file: &Path) -> Run {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]).arg(file);
    let run = run_cmd(cmd, b"", TOOL_LIMIT);
    run.assert_code(0);
    run
}

/// `dpkg-deb -c`: every regular file's path (without the leading `.`) and mode;
/// fails on anything not owned by root or that is neither a file nor a directory.
fn file_list(deb: &Path) -> BTreeMap<String, String> {
    let listing = tool_on(&["dpkg-deb", "-c"], deb).out();
    let mut files = BTreeMap::new();
    for line in listing.lines() {
        // -rw-r--r-- 0/0   19910 2026-12-02 00:00 ./usr/share/bash-completion/completions/echokit
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 6, "unexpected dpkg-deb -c line {line:?}");
        let (mode, owner, path) = (fields[0], fields[1], fields[5]);
        assert_eq!(owner, "0/0", "not owned by root: {line:?}");
        let path = path.strip_prefix('.').unwrap_or(path);
        match mode.as_bytes()[0] {
            b'd' => {}
            b'-' => {
                files.insert(path.to_string(), mode.to_string());
            }
            _ => panic!("neither a file nor a directory: {line:?}"),
        }
    }
    files
}

/// The committed man pages: `man/*.1`, sorted by name.
fn man_pages() -> Vec<String> {
    let mut pages: Vec<String> = std::fs::read_dir(repo().join("man"))
        .expect("read man/")
        .map(|e| {
            e.expect("a man/ entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .filter(|name| name.ends_with(".1"))
        .collect();
    pages.sort();
    assert!(pages.contains(&"echokit.1".to_string()), "{pages:?}");
    pages
}

/// Packaged path → the committed file it must equal byte for byte.
fn copied_docs() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "usr/share/bash-completion/completions/echokit",
            "completions/echokit.bash",
        ),
        (
            "usr/share/zsh/vendor-completions/_echokit",
            "completions/_echokit",
        ),
        (
            "usr/share/fish/vendor_completions.d/echokit.fish",
            "completions/echokit.fish",
        ),
        ("usr/share/doc/echokit/README.md", "README.md"),
        (
            "usr/share/lintian/overrides/echokit",
            "contrib/debian/lintian-overrides",
        ),
        // The systemd units: installed, never enabled or started by the package.
        (
            "usr/lib/systemd/system/echokit.socket",
            "contrib/systemd/echokit.socket",
        ),
        (
            "usr/lib/systemd/system/echokit.service",
            "contrib/systemd/echokit.service",
        ),
        (
            "usr/lib/systemd/system/echokit-inetd.socket",
            "contrib/systemd/echokit-inetd.socket",
        ),
        (
            "usr/lib/systemd/system/echokit-inetd@.service",
            "contrib/systemd/echokit-inetd@.service",
        ),
        (
            "usr/lib/systemd/system/echokit-check.service",
            "contrib/systemd/echokit-check.service",
        ),
        (
            "usr/lib/systemd/system/echokit-check.timer",
            "contrib/systemd/echokit-check.timer",
        ),
    ]
}

/// The one `cargo install` line that pins cargo-deb, as the README gives it.
fn pinned_install_command() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    readme
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("cargo install --locked cargo-deb@"))
        .expect("the README pins cargo-deb: cargo install --locked cargo-deb@VERSION")
        .split('#')
        .next()
        .expect("split yields at least one part")
        .trim_end()
        .to_string()
}

#[test]
fn cargo_deb_is_pinned_to_one_version_in_ci_and_the_readme() {
    let pinned = pinned_install_command();
    let ci = std::fs::read_to_string(repo().join(".ci/run")).expect(".ci/run");
    assert!(
        ci.contains(&pinned),
        ".ci/run does not run the README's {pinned:?}"
    );
}

#[test]
fn debian_package_holds_exactly_the_documented_files() {
    let Some(built) = built("debian_package_holds_exactly_the_documented_files") else {
        return;
    };
    let (exe, doc) = ("-rwxr-xr-x", "-rw-r--r--");
    let mut want = BTreeMap::new();
    want.insert("/usr/bin/echokit".to_string(), exe.to_string());
    for page in man_pages() {
        want.insert(format!("/usr/share/man/man1/{page}.gz"), doc.to_string());
    }
    for (packaged, _) in copied_docs() {
        want.insert(format!("/{packaged}"), doc.to_string());
    }
    for generated in ["copyright", "changelog.Debian.gz"] {
        want.insert(
            format!("/usr/share/doc/echokit/{generated}"),
            doc.to_string(),
        );
    }
    assert_eq!(file_list(&built.deb), want, "{}", built.deb.display());

    // The debug info went to the -dbgsym package, keyed by build id.
    let symbols = file_list(&built.dbgsym);
    assert_eq!(symbols.len(), 1, "{symbols:?}");
    let (path, _) = symbols.iter().next().expect("one file");
    assert!(
        path.starts_with("/usr/lib/debug/.build-id/") && path.ends_with(".debug"),
        "{path}"
    );
}

#[test]
fn debian_package_files_are_the_committed_docs_and_a_working_stripped_binary() {
    let Some(built) =
        built("debian_package_files_are_the_committed_docs_and_a_working_stripped_binary")
    else {
        return;
    };
    for page in man_pages() {
        let packaged = built.root.join(format!("usr/share/man/man1/{page}.gz"));
        let unzipped = tool_on(&["gzip", "-dc"], &packaged).stdout;
        let committed = std::fs::read(repo().join("man").join(&page)).expect("read a man page");
        assert!(
            unzipped == committed,
            "{} is not man/{page}",
            packaged.display()
        );
    }
    for (packaged, committed) in copied_docs() {
        let got = std::fs::read(built.root.join(packaged)).expect("read a packaged file");
        let want = std::fs::read(repo().join(committed)).expect("read a committed file");
        assert!(got == want, "/{packaged} is not {committed}");
    }
    let copyright = std::fs::read_to_string(built.root.join("usr/share/doc/echokit/copyright"))
        .expect("read copyright");
    let licence = std::fs::read_to_string(repo().join("LICENSE")).expect("LICENSE");
    assert!(copyright.contains("License: MIT"), "{copyright}");
    assert!(copyright.contains(licence.trim()), "{copyright}");
    let changelog = built.root.join("usr/share/doc/echokit/changelog.Debian.gz");
    let changelog = tool_on(&["gzip", "-dc"], &changelog).stdout;
    let committed = std::fs::read(repo().join("contrib/debian/changelog")).expect("changelog");
    assert!(
        changelog == committed,
        "changelog.Debian.gz is not contrib/debian/changelog"
    );

    let bin = built.root.join("usr/bin/echokit");
    let mut cmd = Command::new(&bin);
    cmd.arg("--version");
    let run = run_cmd(cmd, b"", TOOL_LIMIT);
    run.assert_code(0);
    assert_eq!(
        run.out(),
        concat!("echokit ", env!("CARGO_PKG_VERSION"), "\n"),
        "{run}"
    );
    let sections = tool_on(&["readelf", "-S", "--wide"], &bin).out();
    assert!(
        !sections.contains(".debug_info"),
        "/usr/bin/echokit still carries its debug info\n{sections}"
    );
}

#[test]
fn debian_package_metadata_has_computed_depends_and_the_description() {
    let Some(built) = built("debian_package_metadata_has_computed_depends_and_the_description")
    else {
        return;
    };
    let info = tool_on(&["dpkg-deb", "-I"], &built.deb).out();
    let field = |name: &str| -> String {
        info.lines()
            .find_map(|l| l.trim_start().strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name}: in dpkg-deb -I\n{info}"))
            .to_string()
    };
    assert_eq!(field("Package"), "echokit");
    assert_eq!(field("Version"), DEB_VERSION);
    assert_eq!(field("Section"), "net");
    let maintainer = field("Maintainer");
    assert_eq!(
        maintainer,
        "echokit developers <echokit@users.noreply.github.com>"
    );
    // The changelog's newest entry is this version, signed by the maintainer.
    let changelog =
        std::fs::read_to_string(repo().join("contrib/debian/changelog")).expect("changelog");
    let first = changelog.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("echokit ({DEB_VERSION}) ")),
        "contrib/debian/changelog's top entry is not {DEB_VERSION}: {first:?}"
    );
    let signed = changelog
        .lines()
        .find(|l| l.starts_with(" -- "))
        .expect("a trailer line");
    assert!(
        signed.starts_with(&format!(" -- {maintainer}  ")),
        "{signed:?}"
    );
    assert_eq!(field("Priority"), "optional");
    // Computed by dpkg-shlibdeps from the binary ($auto), not written by hand.
    assert!(field("Depends").contains("libc6 (>= "), "{info}");
    assert_eq!(field("Description"), env!("CARGO_PKG_DESCRIPTION"));
    assert!(
        info.contains("echokit serves echo (RFC 862)"),
        "no extended description\n{info}"
    );
    let dbgsym = tool_on(&["dpkg-deb", "-I"], &built.dbgsym).out();
    assert!(
        dbgsym.contains(&format!("Recommends: echokit (= {DEB_VERSION})")),
        "{dbgsym}"
    );
}

#[test]
fn debian_package_lints_clean() {
    let test = "debian_package_lints_clean";
    let Some(built) = built(test) else {
        return;
    };
    if !program_succeeds("lintian", &["--version"]) {
        skip(test, "lintian is not installed (.ci/run installs it)");
        return;
    }
    let mut cmd = Command::new("lintian");
    cmd.arg("--show-overrides").arg(&built.deb);
    let run = run_cmd(cmd, b"", LINTIAN_LIMIT);
    let out = run.out();
    // E: error, W: warning; I:/N: are information, O: a tag overridden.
    let findings: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .collect();
    assert!(
        findings.is_empty() && run.code == 0,
        "lintian reports errors or warnings\n{}",
        run.describe()
    );
    // Every override was needed: a tag overridden that lintian no longer
    // reports would hide the next real one.
    let overrides =
        std::fs::read_to_string(repo().join("contrib/debian/lintian-overrides")).expect("read");
    let tags: Vec<&str> = overrides
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim())
        .collect();
    assert!(!tags.is_empty());
    for tag in tags {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("O: {tag}"))),
            "override {tag:?} was not used\n{}",
            run.describe()
        );
    }
}
