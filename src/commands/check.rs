//! `echokit check` (SPEC §4 check).

use crate::cli::CheckArgs;
use crate::error::{Error, ExitCode};

/// Runs `echokit check`.
pub fn run(_args: CheckArgs) -> Result<ExitCode, Error> {
    Err(Error::Usage("echokit check is not built yet".to_string()))
}
