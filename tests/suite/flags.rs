//! Issue 8: every flag that takes a number, a size, a duration or a mode,
//! given a negative one, names itself: one `echokit: invalid value '-1' for
//! '--FLAG <N>': …` line and exit 2, never clap's "unexpected argument '-1'",
//! which hides the flag (SPEC §5, §6).

use crate::util::*;

/// (command and the arguments it needs before the flag, flag, its value name).
const NUMERIC_FLAGS: &[(&[&str], &str, &str)] = &[
    (&["serve"], "--backlog", "N"),
    (&["serve"], "--max-conns", "N"),
    (&["serve"], "--idle-timeout", "DURATION"),
    (&["serve"], "--drain", "DURATION"),
    (&["serve"], "--udp-rate", "N"),
    (&["serve"], "--buffer-size", "SIZE"),
    (&["serve"], "--count", "N"),
    (&["serve"], "--mode", "MODE"),
    (&["serve"], "--workers", "N"),
    (&["send", "127.0.0.1:1"], "--timeout", "DURATION"),
    (&["send", "127.0.0.1:1"], "--connect-timeout", "DURATION"),
    (&["send", "127.0.0.1:1"], "--idle-timeout", "DURATION"),
    (&["send", "127.0.0.1:1"], "--retries", "N"),
    (&["send", "127.0.0.1:1"], "--count", "N"),
    (&["send", "127.0.0.1:1"], "--interval", "DURATION"),
    (&["send", "127.0.0.1:1"], "--buffer-size", "SIZE"),
    (&["check"], "--timeout", "DURATION"),
    (&["check"], "--buffer-size", "SIZE"),
    (&["bench"], "--connections", "N"),
    (&["bench"], "--duration", "DURATION"),
    (&["bench"], "--size", "SIZE"),
    (&["bench"], "--rate", "N"),
    (&["bench"], "--timeout", "DURATION"),
    (&["bench"], "--requests", "N"),
    (&["bench"], "--buffer-size", "SIZE"),
    (&["bench"], "--threads", "N"),
];

#[test]
fn issue8_a_negative_number_names_its_flag() {
    for (before, flag, value_name) in NUMERIC_FLAGS {
        for value in ["-1", "-5s"] {
            let mut args = before.to_vec();
            args.extend([*flag, value]);
            let run = echokit(&args, b"");
            let want = format!("echokit: invalid value '{value}' for '{flag} <{value_name}>': ");
            run.assert_code(2);
            let first = run.stderr.lines().next().unwrap_or_default();
            assert!(
                first.starts_with(&want),
                "{args:?}: the first line should start with {want:?}\n{}",
                run.describe()
            );
            assert!(run.stdout.is_empty(), "{}", run.describe());
        }
    }
}

/// The whole line, for the flags of each kind: a whole number names its range.
#[test]
fn issue8_negative_values_are_refused_with_the_accepted_range() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["serve", "--count", "-1"],
            "echokit: invalid value '-1' for '--count <N>': must be a whole number from 1 to 18446744073709551615",
        ),
        (
            &["serve", "--workers", "-1"],
            "echokit: invalid value '-1' for '--workers <N>': must be a whole number from 1 to 256",
        ),
        (
            &["send", "127.0.0.1:1", "--retries", "-1"],
            "echokit: invalid value '-1' for '--retries <N>': must be a whole number from 0 to 4294967295",
        ),
        (
            &["bench", "-r", "-1"],
            "echokit: invalid value '-1' for '--rate <N>': must be a whole number from 1 to 18446744073709551615",
        ),
        (
            &["check", "-t", "-1s"],
            "echokit: invalid value '-1s' for '--timeout <DURATION>': must not be negative (durations look like 500ms, 2s, 1m30s)",
        ),
    ];
    for (args, line) in cases {
        echokit(args, b"").assert_first_line(2, line);
    }
}

/// The table above is every such flag: a new numeric flag must join it.
#[test]
fn issue8_the_table_holds_every_numeric_flag() {
    let mut found: Vec<_> = value_flags()
        .into_iter()
        .filter(|(_, _, name)| ["N", "SIZE", "DURATION", "MODE"].contains(&name.as_str()))
        .collect();
    let mut table: Vec<_> = NUMERIC_FLAGS
        .iter()
        .map(|(before, flag, name)| (before[0].to_string(), flag.to_string(), name.to_string()))
        .collect();
    found.sort();
    table.sort();
    assert_eq!(
        table, found,
        "NUMERIC_FLAGS (left) and the flags with a numeric value in the CLI (right) differ"
    );
}
