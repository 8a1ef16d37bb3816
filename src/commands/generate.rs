//! `echokit generate man DIR` / `echokit generate completions SHELL` (SPEC §4):
//! what a packager or a `cargo install` user needs, made from the clap
//! definition itself, so it cannot drift from the binary that ships with it.
//!
//! The pages are rendered in memory by [`crate::cli::man`]; this module only
//! checks the directory and writes them, or prints a completion script. The
//! files committed under `man/` and `completions/` are exactly this output
//! (tests/generated_docs.rs runs this command and compares).

use std::io;
use std::path::Path;

use clap::CommandFactory;
use nix::unistd::{AccessFlags, access};

use crate::cli::{Cli, Generate, GenerateArgs, OutputFlags, man};
use crate::error::{self, Error, ExitCode};
use crate::output::Output;

/// Runs `echokit generate`.
pub fn run(args: GenerateArgs) -> Result<ExitCode, Error> {
    match args.what {
        Generate::Man { dir } => write_pages(&dir),
        Generate::Completions { shell } => {
            let mut bytes = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "echokit", &mut bytes);
            Output::new(OutputFlags::default())
                .data(&bytes)
                .map_err(|e| Error::internal("cannot write the completion script", e))?;
            Ok(ExitCode::Success)
        }
    }
}

/// Writes every page into `dir`, after checking that it can: a missing or
/// unwritable directory is bad input (exit 2) and nothing is written then.
fn write_pages(dir: &Path) -> Result<ExitCode, Error> {
    usable_dir(dir).map_err(|reason| {
        Error::Usage(format!(
            "cannot write man pages to {}: {reason}",
            dir.display()
        ))
    })?;
    for page in man::pages() {
        let path = dir.join(&page.name);
        std::fs::write(&path, &page.bytes)
            .map_err(|e| Error::internal(format!("cannot write {}", path.display()), e))?;
    }
    Ok(ExitCode::Success)
}

/// Why `dir` cannot take the pages, in the system's words, or `Ok`.
fn usable_dir(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err("no such directory".to_string());
        }
        Err(e) => return Err(error::describe(&e)),
        Ok(meta) if !meta.is_dir() => return Err("not a directory".to_string()),
        Ok(_) => {}
    }
    // access(2) answers for this process's permissions (and a read-only
    // file system), so the check holds before the first byte is written.
    access(dir, AccessFlags::W_OK | AccessFlags::X_OK)
        .map_err(|errno| error::describe(&io::Error::from(errno)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_or_a_file_is_refused_with_the_reason() {
        let tmp = std::env::temp_dir();
        assert_eq!(usable_dir(&tmp), Ok(()));
        let missing = tmp.join("echokit-no-such-dir-for-generate");
        assert_eq!(usable_dir(&missing), Err("no such directory".to_string()));
        assert_eq!(
            usable_dir(Path::new("/proc/self/status")),
            Err("not a directory".to_string())
        );
    }
}
