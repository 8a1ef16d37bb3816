//! `echokit resolve` (SPEC §4 resolve).

use crate::cli::ResolveArgs;
use crate::error::{Error, ExitCode};

/// Runs `echokit resolve`.
pub fn run(_args: ResolveArgs) -> Result<ExitCode, Error> {
    Err(Error::Usage("echokit resolve is not built yet".to_string()))
}
