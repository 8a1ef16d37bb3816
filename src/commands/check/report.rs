//! The CI reports of `echokit check` (SPEC §4 check): `--junit FILE`,
//! `--metrics-file FILE` (node_exporter's textfile collector) and `--github`. They read the finished rows as data, after the table.
//!
//! Every file is checked before the first row runs ([`Reports::open`]), so a
//! path that cannot be written is a usage error (exit 2) naming it, and a run
//! rarely ends with its report lost. What still fails at the end (a full
//! disk) is exit 6 (SPEC §5), one line naming the file. The JUnit report
//! replaces its file atomically ([`atomic`]): never an empty or partial
//! report. GitHub's files are appended to, as the runner asks (other steps'
//! lines are already there). The renderers ([`junit`], [`github`]) are
//! pure: rows in, text out, unit-tested on odd reason text.

mod atomic;
mod github;
mod junit;
mod textfile;

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

/// A file appended to (GitHub's), opened up front, and the name it was given by.
struct Target {
    path: PathBuf,
    file: File,
}

impl Target {
    /// Opens `path` to append to, creating it if needed.
    fn open(path: &Path, what: &str) -> Result<Target, Error> {
        match OpenOptions::new().append(true).create(true).open(path) {
            Ok(file) => Ok(Target {
                path: path.to_path_buf(),
                file,
            }),
            Err(e) => Err(cannot_write_early(what, path, &e)),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.flush())
            .map_err(|e| Error::internal(format!("cannot write {}", self.path.display()), e))
    }
}

/// A report file that cannot be written, found before any row ran (exit 2).
fn cannot_write_early(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Usage(format!(
        "cannot write {what} {}: {}",
        path.display(),
        error::describe(e)
    ))
}

/// A report file (`--junit`, `--metrics-file`): checked up front, replaced
/// whole at the end.
struct ReplacedFile {
    path: PathBuf,
    what: &'static str,
}

impl ReplacedFile {
    fn check(path: &Path, what: &'static str) -> Result<ReplacedFile, Error> {
        atomic::probe(path).map_err(|e| cannot_write_early(what, path, &e))?;
        Ok(ReplacedFile {
            path: path.to_path_buf(),
            what,
        })
    }

    fn write(&self, bytes: &[u8]) -> Result<(), Error> {
        atomic::replace(&self.path, bytes).map_err(|e| {
            Error::internal(
                format!("cannot write {} {}", self.what, self.path.display()),
                e,
            )
        })
    }
}

/// The reports this run was asked for, their files already open.
pub struct Reports {
    junit: Option<ReplacedFile>,
    metrics: Option<ReplacedFile>,
    /// No ADDR: the rows are in-process servers (their addresses change every run).
    local: bool,
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
            Some(path) => Some(ReplacedFile::check(path, "the JUnit report")?),
            None => None,
        };
        let metrics = match &args.metrics_file {
            Some(path) => Some(ReplacedFile::check(path, "the metrics file")?),
            None => None,
        };
        let (mut summary, mut outputs) = (None, None);
        if args.github {
            if let Some(path) = github_file("GITHUB_STEP_SUMMARY") {
                summary = Some(Target::open(&path, "GITHUB_STEP_SUMMARY")?);
            }
            if let Some(path) = github_file("GITHUB_OUTPUT") {
                outputs = Some(Target::open(&path, "GITHUB_OUTPUT")?);
            }
        }
        Ok(Reports {
            junit,
            metrics,
            local: args.addrs.is_empty(),
            github: args.github,
            summary,
            outputs,
            started: SystemTime::now(),
        })
    }

    /// Writes every report once all `rows` have run in `elapsed`; the
    /// workflow commands go to stdout after the table. One report that
    /// cannot be written does not keep the others from being written; the
    /// first failure is the error.
    pub fn finish(
        &mut self,
        rows: &[Finished],
        elapsed: Duration,
        out: &Output,
    ) -> Result<(), Error> {
        let mut first_error = None;
        let mut keep = |result: Result<(), Error>| {
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        };
        if let Some(junit_file) = &self.junit {
            keep(junit_file.write(&junit::render(rows, elapsed, self.started)));
        }
        if let Some(metrics_file) = &self.metrics {
            keep(metrics_file.write(textfile::render(rows, self.local).as_bytes()));
        }
        if self.github {
            for line in github::commands(rows) {
                out.line(&line);
            }
        }
        if let Some(target) = &mut self.summary {
            keep(target.write(github::summary(rows).as_bytes()));
        }
        if let Some(target) = &mut self.outputs {
            keep(target.write(github::outputs(rows).as_bytes()));
        }
        first_error.map_or(Ok(()), Err)
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
