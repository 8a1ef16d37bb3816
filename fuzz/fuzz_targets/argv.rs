//! Fuzzes the whole command line (issue 15): arbitrary argv for every
//! subcommand goes through `echokit::parse`, the parser and value checks the
//! binary itself runs first (clap, durations up to 100y, sizes up to 16MiB,
//! whole-number ranges, modes, conflicts), and every ADDR it accepts through
//! SPEC §2's `addr::parse` under the socket type its flags select. It must
//! give a command line or a usage error (exit 2), never a panic. Nothing is
//! run: no socket is bound or connected, no name resolved, no file written.
//!
//! Input: the arguments separated by NUL bytes (any bytes, so non-UTF-8
//! arguments are tried too); a first byte below 7 picks the subcommand to
//! put first, so each one gets its share. `fuzz/argv.dict` holds the flags
//! and edge values libFuzzer splices in.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use echokit::addr;
use echokit::cli::Command;
use echokit::commands::default_type;
use libfuzzer_sys::fuzz_target;

const SUBCOMMANDS: [&str; 6] = ["serve", "send", "check", "bench", "resolve", "generate"];

fuzz_target!(|data: &[u8]| {
    let mut argv = vec![OsString::from("echokit")];
    let rest = match data.split_first() {
        Some((&pick, rest)) if usize::from(pick) < SUBCOMMANDS.len() => {
            argv.push(SUBCOMMANDS[usize::from(pick)].into());
            rest
        }
        _ => data,
    };
    if !rest.is_empty() {
        argv.extend(
            rest.split(|&b| b == 0)
                .map(|a| OsString::from_vec(a.to_vec())),
        );
    }
    let cli = match echokit::parse(argv) {
        Ok(cli) => cli,
        Err(e) => {
            // What main prints: the rendered message (or the help text).
            std::hint::black_box(e.render().to_string());
            return;
        }
    };
    let (addrs, flags): (Vec<&String>, _) = match &cli.command {
        Command::Serve(a) => (a.addrs.iter().collect(), a.addr_flags),
        Command::Send(a) => (vec![&a.addr], a.addr_flags),
        Command::Check(a) => (a.addrs.iter().collect(), a.addr_flags),
        Command::Bench(a) => (a.addr.iter().collect(), a.addr_flags),
        Command::Resolve(_) | Command::Generate(_) => (Vec::new(), Default::default()),
    };
    for text in addrs {
        match addr::parse(text, default_type(&flags)) {
            Ok(endpoint) => std::hint::black_box(format!("{endpoint:?}")),
            Err(e) => {
                assert_eq!(e.exit_code() as u8, 2, "{e}");
                std::hint::black_box(e.to_string())
            }
        };
    }
});
