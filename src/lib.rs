//! echokit: a dual-stack TCP/UDP/Unix echo toolkit (see SPEC.md and README.md).
//!
//! The rooms: [`cli`] (the command line and the man-page prose), [`addr`]
//! (the address grammar), [`transport`] (the transport table and the only
//! place sockets are made), [`engine`] (the event loop and the echo itself,
//! mechanism only), [`commands`] (one per subcommand, the only place the
//! rooms meet), [`output`] (the only writer to stdout/stderr), [`error`]
//! (exit codes and the errno wording), and [`sys`], the only file allowed
//! unsafe code.
#![deny(unsafe_code)]

pub mod addr;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod error;
pub mod output;
pub mod sys;
pub mod transport;

use clap::Parser;
use cli::{Cli, Command};
use error::{Error, ExitCode};

/// Parses a whole command line (`argv[0]` first) and validates every value
/// clap can: the flags, their ranges (durations up to 100y, sizes up to
/// 16MiB, counts), conflicts. Nothing is bound, connected or resolved, so
/// a fuzzer may call it with any arguments (`fuzz/fuzz_targets/argv.rs`).
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(args)
}

/// Runs the parsed command line and returns its exit code.
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Send(args) => commands::send::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Resolve(args) => commands::resolve::run(args),
        Command::Generate(args) => commands::generate::run(args),
    }
}
