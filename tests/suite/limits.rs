//! Issue 15, hostile values: no duration, size or count on any command makes
//! echokit panic or abort (SPEC §5). A value too large to handle is exit 2
//! naming the flag and its largest value; anything else runs and ends with a
//! documented exit code (0-6).
//!
//! The flags come from the clap definition itself (`Cli::command()`): every
//! option of every subcommand whose value is a DURATION, SIZE or N is tried,
//! so a new flag is covered without touching this file (and a value name this
//! file does not know fails [`every_value_name_is_classified`]). Each is given
//! fixed extremes (0, 1, the largest accepted, one past it, u64::MAX and past
//! it, 1e19, 1e20, 300000000000y, sizes in GiB, negative, garbage) and values
//! proptest generates, and run as the real binary:
//!
//! - `serve 127.0.0.1:0 FLAG VALUE`: once its ready line is read, one echo
//!   over a connection, SIGTERM, then the connection closes (so `--drain`
//!   ends), and the exit is awaited;
//! - `send`, `check` against one echokit server this test starts, `bench`
//!   against its in-process server for 100ms over 2 connections.
//!
//! A valid but long value (`send -i 100y`, `bench -c 1000000`) may still be
//! running after [`LIMIT`]: it is then ended (by its pid) and counts as
//! surviving, as long as stderr shows no panic. The cases run on four threads,
//! so the whole module takes well under a minute.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use clap::CommandFactory;
use nix::sys::signal::Signal;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

use crate::util::*;

/// How long one case may run before it is ended and counted as still running.
const LIMIT: Duration = Duration::from_secs(3);

/// Cases run at once.
const THREADS: usize = 4;

/// Values proptest generates per kind of flag.
const GENERATED: usize = 12;

/// What a flag's value means, from its value name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Duration,
    Size,
    Count,
}

/// Value names that are neither a duration, a size nor a count.
const OTHER_VALUES: &[&str] = &[
    "ADDR", "MESSAGE", "PATH", "LIST", "DIR", "FILE", "MODE", "HOST", "SERVICE", "SHELL",
    // bench --shard and --start-at: their extremes are in
    // bench_merge.rs (a shard with nothing, a start more than a day ahead).
    "I/N", "TIME",
];

fn kind(value_name: &str) -> Option<Kind> {
    match value_name {
        "DURATION" => Some(Kind::Duration),
        "SIZE" => Some(Kind::Size),
        "N" => Some(Kind::Count),
        _ => None,
    }
}

/// One option: its subcommand, `--long`, value name and kind.
#[derive(Debug, Clone)]
struct Flag {
    command: String,
    long: String,
    value_name: String,
    kind: Kind,
}

/// Every DURATION, SIZE and N option of every subcommand, from clap.
fn flags() -> Vec<Flag> {
    value_flags()
        .into_iter()
        .filter_map(|(command, long, value_name)| {
            kind(&value_name).map(|kind| Flag {
                command,
                long,
                value_name,
                kind,
            })
        })
        .collect()
}

/// The extremes every flag of a kind gets.
fn extremes(kind: Kind) -> Vec<&'static str> {
    let mut values = vec![
        "0",
        "1",
        "18446744073709551615",
        "18446744073709551616",
        "340282366920938463463374607431768211456",
        "1e19",
        "1e20",
        "300000000000y",
        "-1",
        "-0",
        "",
        "garbage",
        "1.5",
        "NaN",
        "inf",
    ];
    values.extend(match kind {
        Kind::Duration => vec![
            "100y",
            "3155760000",
            "101y",
            "1000000000000000000000ns",
            "1ns",
        ],
        Kind::Size => vec![
            "16MiB",
            "17MiB",
            "30GiB",
            "1000000GiB",
            "18446744073709551615GiB",
        ],
        Kind::Count => vec![
            "4294967295",
            "4294967296",
            "2147483647",
            "9223372036854775807",
        ],
    });
    values
}

/// Values proptest makes up: numbers of any length with any unit, or any
/// text without NUL (which no argument can hold).
fn generated(kind: Kind, runner: &mut TestRunner) -> Vec<String> {
    let number = "[0-9]{1,24}(\\.[0-9]{1,3})?(e[0-9]{1,3})?";
    let unit = match kind {
        Kind::Duration => "(|ns|us|ms|s|m|h|d|w|M|y|years)",
        Kind::Size => "(|B|K|KiB|M|MiB|G|GiB|XB)",
        Kind::Count => "",
    };
    let strategy = proptest::prop_oneof![
        3 => proptest::string::string_regex(&format!("-?{number}{unit}")).expect("regex"),
        1 => proptest::string::string_regex("[^\\x00]{0,8}").expect("regex"),
    ];
    (0..GENERATED)
        .map(|_| strategy.new_tree(runner).expect("a value").current())
        .collect()
}

/// The largest value of a flag that is "too large", and the line it must give.
fn too_large_line(flag: &Flag, value: &str) -> Option<String> {
    let reason = match (flag.kind, value) {
        (Kind::Duration, "1e19" | "1e20" | "300000000000y" | "101y" | "18446744073709551616") => {
            "too large (at most 100y)"
        }
        (Kind::Size, "17MiB" | "30GiB" | "1000000GiB" | "18446744073709551616") => {
            "too large (at most 16MiB)"
        }
        _ => return None,
    };
    Some(format!(
        "echokit: invalid value '{value}' for '{} <{}>': {reason}",
        flag.long, flag.value_name
    ))
}

/// One case: the arguments, and the line its first stderr line must be (if known).
#[derive(Debug, Clone)]
struct Case {
    args: Vec<String>,
    serve: bool,
    first_line: Option<String>,
}

/// The bounded command line for `flag VALUE`, against `target` (a TCP echo server).
fn case(flag: &Flag, value: &str, target: &str) -> Case {
    let mut args = vec![flag.command.clone()];
    let pairs: &[(&str, &str)] = match flag.command.as_str() {
        "serve" => &[],
        "bench" => &[("--duration", "100ms"), ("--connections", "2")],
        _ => &[],
    };
    match flag.command.as_str() {
        "serve" => args.push("127.0.0.1:0".into()),
        "send" | "check" => args.push(target.into()),
        _ => {}
    }
    for (base, base_value) in pairs {
        if *base != flag.long {
            args.extend([base.to_string(), base_value.to_string()]);
        }
    }
    args.extend([flag.long.clone(), value.to_string()]);
    if flag.command == "send" {
        args.push("hi".into());
    }
    let mut first_line = too_large_line(flag, value);
    // u64::MAX + 1 is too large for every count, with its range named.
    if flag.kind == Kind::Count && value == "18446744073709551616" {
        first_line = Some(format!(
            "echokit: invalid value '{value}' for '{} <N>': must be a whole number from ",
            flag.long
        ));
    }
    Case {
        args,
        serve: flag.command == "serve",
        first_line,
    }
}

/// Runs `case`; `Err` says what went wrong.
fn run(case: &Case) -> Result<(), String> {
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let mut proc = Proc::spawn(echokit_command(&args));
    if case.serve {
        if let Some(ready) = proc.next_line(LIMIT) {
            // One echo over a connection held open across SIGTERM: idle
            // timeouts, drain and counts all see a connection.
            let mut conn = TcpStream::connect(ready.trim_start_matches("tcp:"))
                .map_err(|e| format!("cannot connect to {ready}: {e}"))?;
            let _ = conn.set_read_timeout(Some(LIMIT));
            let _ = conn.write_all(b"x");
            let _ = conn.read(&mut [0u8; 1]);
            if proc.running() {
                proc.signal(Signal::SIGTERM);
            }
            drop(conn);
        }
    }
    let status = proc.wait_exit(LIMIT);
    let stderr = proc.stderr();
    if stderr.contains("panicked") || stderr.contains("memory allocation") {
        return Err(format!("panicked or aborted\n{}", proc.describe()));
    }
    let Some(status) = status else {
        // Still running after LIMIT: a valid, long value. Proc's drop ends it by pid.
        return match &case.first_line {
            Some(_) => Err(format!(
                "should have been refused at once\n{}",
                proc.describe()
            )),
            None => Ok(()),
        };
    };
    match status.code() {
        Some(0..=6) => {}
        _ => return Err(format!("not a documented exit\n{}", proc.describe())),
    }
    if let Some(want) = &case.first_line {
        let first = stderr.lines().next().unwrap_or_default();
        if status.code() != Some(2) || !first.starts_with(want.as_str()) {
            return Err(format!(
                "want exit 2 and a first line starting {want:?}\n{}",
                proc.describe()
            ));
        }
    }
    Ok(())
}

/// Runs every case on [`THREADS`] threads; returns the failures.
fn run_all(cases: Vec<Case>) -> Vec<String> {
    let queue = Arc::new(Mutex::new(VecDeque::from(cases)));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (queue, failures) = (Arc::clone(&queue), Arc::clone(&failures));
            thread::spawn(move || {
                loop {
                    let next = queue.lock().expect("queue").pop_front();
                    let Some(case) = next else { break };
                    if let Err(why) = run(&case) {
                        failures
                            .lock()
                            .expect("failures")
                            .push(format!("echokit {:?}: {why}", case.args));
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a worker thread");
    }
    Arc::try_unwrap(failures)
        .expect("every worker has ended")
        .into_inner()
        .expect("failures")
}

#[test]
fn issue15_no_duration_size_or_count_makes_any_command_panic() {
    let server = Server::start(&["127.0.0.1:0"], 1);
    let target = server.addr(0);
    let mut runner = TestRunner::deterministic();
    let mut cases = Vec::new();
    let flags = flags();
    assert!(flags.len() >= 20, "too few flags found: {flags:?}");
    for flag in &flags {
        let mut values: Vec<String> = extremes(flag.kind).into_iter().map(String::from).collect();
        values.extend(generated(flag.kind, &mut runner));
        for value in values {
            cases.push(case(flag, &value, &target));
        }
    }
    let count = cases.len();
    let failures = run_all(cases);
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Every option value name is either tried above or known not to be a number.
#[test]
fn every_value_name_is_classified() {
    let cli = echokit::cli::Cli::command();
    for sub in cli.get_subcommands() {
        for arg in sub
            .get_arguments()
            .filter(|a| a.get_action().takes_values())
        {
            for name in arg.get_value_names().unwrap_or_default() {
                assert!(
                    kind(name).is_some() || OTHER_VALUES.contains(&name.as_str()),
                    "echokit {} {:?}: value name {name} is new here; add it to kind() or OTHER_VALUES",
                    sub.get_name(),
                    arg.get_id()
                );
            }
        }
    }
}

/// The largest accepted values work: a deadline that far away is no overflow.
#[test]
fn issue15_the_largest_duration_and_size_are_accepted() {
    let mut server = Server::start(
        &[
            "127.0.0.1:0",
            "--idle-timeout",
            "100y",
            "--drain",
            "100y",
            "--buffer-size",
            "16MiB",
        ],
        1,
    );
    let addr = server.addr(0);
    echokit(
        &[
            "send",
            &addr,
            "--timeout",
            "100y",
            "--connect-timeout",
            "100y",
            "--idle-timeout",
            "100y",
            "--buffer-size",
            "16MiB",
            "hello",
        ],
        b"",
    )
    .assert_code(0)
    .assert_echo(b"hello\n");
    let mut held = TcpStream::connect(addr.trim_start_matches("tcp:")).expect("connect");
    held.set_read_timeout(Some(STEP)).expect("timeout");
    held.write_all(b"x").expect("write");
    let mut byte = [0u8; 1];
    held.read_exact(&mut byte).expect("the echo");
    server.signal(Signal::SIGTERM);
    // Draining for up to 100y: the server waits for this connection, then exits 0.
    drop(held);
    assert_eq!(server.expect_exit(), 0, "{}", server.describe());
}

/// Issue 15: `--idle-timeout 0` is "wait for ever"; over seqpacket it added
/// Duration::MAX to an Instant and panicked on every run.
#[test]
fn issue15_send_idle_timeout_zero_waits_for_ever_over_seqpacket() {
    let Some(dir) = seqpacket_dir() else {
        return;
    };
    let path = dir.path().join("echo.seq");
    let listen = format!("seqpacket:{}", path.display());
    let _server = Server::start(&[&listen], 1);
    echokit(&["send", "--idle-timeout", "0", &listen, "hello"], b"")
        .assert_code(0)
        .assert_echo(b"hello\n");
}

/// A temporary directory for a seqpacket socket, or `None` (saying so) where
/// this platform has none.
fn seqpacket_dir() -> Option<tempfile::TempDir> {
    if !cfg!(target_os = "linux") {
        eprintln!("skipping: SOCK_SEQPACKET is tested on Linux");
        return None;
    }
    Some(tempfile::tempdir().expect("a temp dir"))
}
