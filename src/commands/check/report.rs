//! The CI reports of `echokit check` (SPEC §4 check): `--junit FILE` and
//! `--github`. They read the finished rows as data, after the table.
//!
//! Every file is opened before the first row runs ([`Reports::open`]), so a
//! path that cannot be written is a usage error (exit 2) naming it, and a run
//! never ends with its report lost. The renderers ([`junit`], [`github`]) are
//! pure: rows in, text out, unit-tested on odd reason text.

mod github;
mod junit;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::table::Verdict;
use crate::cli::CheckArgs;
use crate::error::{self, Error};
use crate::output::Output;

/// One finished row, as the reports see it.
#[derive(Debug, Clone)]
pub struct Finished {
    /// `tcp4` … `abstract`, `localhost`, or a `--require` name no ADDR covers.
    pub transport: String,
    /// In the grammar, with its prefix (`tcp:127.0.0.1:40123`), or `-`.
    pub address: String,
    pub verdict: Verdict,
}

/// A report file, opened up front, and the name it was given by.
struct Target {
    path: PathBuf,
    file: File,
}

impl Target {
    /// Opens `path` to write from the start (`--junit`) or to append (GitHub's files).
    fn open(path: &Path, append: bool, what: &str) -> Result<Target, Error> {
        let mut options = OpenOptions::new();
        if append {
            options.append(true).create(true);
        } else {
            options.write(true).create(true).truncate(true);
        }
        match options.open(path) {
            Ok(file) => Ok(Target {
                path: path.to_path_buf(),
                file,
            }),
            Err(e) => Err(Error::Usage(format!(
                "cannot write {what} {}: {}",
                path.display(),
                error::describe(&e)
            ))),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.flush())
            .map_err(|e| Error::internal(format!("cannot write {}", self.path.display()), e))
    }
}

/// The reports this run was asked for, their files already open.
pub struct Reports {
    junit: Option<Target>,
    github: bool,
    summary: Option<Target>,
    outputs: Option<Target>,
    started: SystemTime,
}

/// The file a GitHub Actions variable names, when it is set and not empty.
fn github_file(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl Reports {
    /// Opens every report file `args` asks for; nothing has run yet.
    pub fn open(args: &CheckArgs) -> Result<Reports, Error> {
        let junit = match &args.junit {
            Some(path) => Some(Target::open(path, false, "the JUnit report")?),
            None => None,
        };
        let (mut summary, mut outputs) = (None, None);
        if args.github {
            if let Some(path) = github_file("GITHUB_STEP_SUMMARY") {
                summary = Some(Target::open(&path, true, "GITHUB_STEP_SUMMARY")?);
            }
            if let Some(path) = github_file("GITHUB_OUTPUT") {
                outputs = Some(Target::open(&path, true, "GITHUB_OUTPUT")?);
            }
        }
        Ok(Reports {
            junit,
            github: args.github,
            summary,
            outputs,
            started: SystemTime::now(),
        })
    }

    /// Writes every report once all `rows` have run in `elapsed`; the
    /// workflow commands go to stdout after the table.
    pub fn finish(
        &mut self,
        rows: &[Finished],
        elapsed: Duration,
        out: &Output,
    ) -> Result<(), Error> {
        if let Some(target) = &mut self.junit {
            let xml = junit::render(rows, elapsed, self.started);
            target.write(&xml)?;
        }
        if self.github {
            for line in github::commands(rows) {
                out.line(&line);
            }
        }
        if let Some(target) = &mut self.summary {
            target.write(github::summary(rows).as_bytes())?;
        }
        if let Some(target) = &mut self.outputs {
            target.write(github::outputs(rows).as_bytes())?;
        }
        Ok(())
    }
}

/// A finished row, for the renderers' tests.
#[cfg(test)]
pub(crate) fn row(transport: &str, address: &str, verdict: super::table::Verdict) -> Finished {
    Finished {
        transport: transport.into(),
        address: address.into(),
        verdict,
    }
}
