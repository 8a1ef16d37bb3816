//! What every command shares on its command line (SPEC §6).

use crate::util::*;

/// SPEC §6: `-q` (print nothing but errors) and `--json` together are a
/// usage error, exit 2, on every command; nothing runs, nothing is printed
/// on stdout.
#[test]
fn quiet_with_json_is_a_usage_error_on_every_command() {
    let dir = temp_dir();
    let path = dir.path().join("never.sock").display().to_string();
    let commands: [&[&str]; 5] = [
        &["serve", &path],
        &["send", "127.0.0.1:9", "hello"],
        &["check"],
        &["bench", "--duration", "100ms"],
        &["resolve", "localhost"],
    ];
    for command in commands {
        // clap names the flags in the order given.
        for (flags, line) in [
            (
                ["-q", "--json"],
                "echokit: the argument '--quiet' cannot be used with '--json'",
            ),
            (
                ["--json", "--quiet"],
                "echokit: the argument '--json' cannot be used with '--quiet'",
            ),
        ] {
            let mut args = command.to_vec();
            args.extend(flags);
            let run = echokit(&args, b"");
            run.assert_first_line(2, line);
            assert!(run.stdout.is_empty(), "{run}");
        }
    }
    assert!(
        !std::path::Path::new(&path).exists(),
        "serve made {path} despite the usage error"
    );
}
