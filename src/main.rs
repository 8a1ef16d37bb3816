//! `echokit`: parse, dispatch, print one error line, return the exit code.
#![deny(unsafe_code)]

use clap::Parser;
use echokit::cli::Cli;

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap's text on stdout, success.
            let _ = e.print();
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            // A usage error: one `echokit: ` line (SPEC §6), then clap's usage hint; exit 2.
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            eprint!("echokit: {text}");
            return std::process::ExitCode::from(2);
        }
    };
    match echokit::run(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            echokit::output::error(&err);
            err.exit_code().into()
        }
    }
}
