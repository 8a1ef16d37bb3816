//! `echokit`: parse, dispatch, print one error line, return the exit code.
//!
//! Nothing here prints with `print!`/`eprint!`: those panic when the stream
//! is closed or full. Stderr goes through [`echokit::output`], which drops
//! what it cannot write; stdout that could not be written is exit 6 (SPEC §5).
#![deny(unsafe_code)]

use echokit::error::{Error, ExitCode};
use echokit::output;

fn main() -> std::process::ExitCode {
    let cli = match echokit::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap's text on stdout, success, unless it
            // could not be written (a reader that left, `| head`, is no failure).
            return match e.print() {
                Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                    fail(Error::stdout(err))
                }
                _ => ExitCode::Success.into(),
            };
        }
        Err(e) => {
            // A usage error: one `echokit: ` line (SPEC §6), then clap's usage hint; exit 2.
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            output::raw_stderr(&format!("echokit: {text}"));
            return ExitCode::Usage.into();
        }
    };
    match echokit::run(cli) {
        // The command is done, but its result may not have reached stdout.
        Ok(code) => output::stdout_failure().map_or(code.into(), fail),
        Err(err) => fail(err),
    }
}

/// Prints `err` as its one line and gives its exit code.
fn fail(err: Error) -> std::process::ExitCode {
    output::error(&err);
    err.exit_code().into()
}
