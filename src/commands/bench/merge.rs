//! `echokit bench merge FILE...` (SPEC §4 bench): one report over the
//! `bench --json` reports of several shards or machines, in the same text
//! and `--json` forms as a run's. The arithmetic is `summary.rs`'s; here the
//! files are read, and reports that measured different things are refused
//! (exit 2, naming both files) rather than averaged into a number that
//! means nothing.

use std::path::{Path, PathBuf};

use super::summary::Summary;
use crate::cli::MergeArgs;
use crate::error::{Error, ExitCode};
use crate::output::Output;

/// Runs `echokit bench merge`.
pub fn run(args: MergeArgs) -> Result<ExitCode, Error> {
    let out = Output::new(args.output);
    let mut parts: Vec<(PathBuf, Summary)> = Vec::new();
    for path in &args.files {
        for summary in read(path)? {
            parts.push((path.clone(), summary));
        }
    }
    let (first_path, first) = &parts[0];
    for (path, part) in &parts[1..] {
        if let Some(what) = differs(first, part) {
            return Err(Error::Usage(format!(
                "cannot merge {} ({}) with {} ({}): {what}",
                first_path.display(),
                kind(first),
                path.display(),
                kind(part)
            )));
        }
    }
    let summaries: Vec<Summary> = parts.into_iter().map(|(_, s)| s).collect();
    let merged = Summary::merge(&summaries);
    Ok(super::verdict(&out, &merged))
}

/// Every report in `path`: each line that is a JSON object (a file may
/// collect the lines of several runs). None at all is an error naming it.
fn read(path: &Path) -> Result<Vec<Summary>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read {}: {}",
            path.display(),
            crate::error::describe(&e)
        ))
    })?;
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            Error::Usage(format!(
                "{} line {}: not a JSON line ({e})",
                path.display(),
                n + 1
            ))
        })?;
        let summary = Summary::from_json(&value).map_err(|why| {
            Error::Usage(format!(
                "{} line {}: not an `echokit bench --json` report: {why}",
                path.display(),
                n + 1
            ))
        })?;
        found.push(summary);
    }
    if found.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no `echokit bench --json` report in it",
            path.display()
        )));
    }
    Ok(found)
}

/// A report's workload in words, for the refusal.
fn kind(s: &Summary) -> String {
    format!("{}, {} loop, {} bytes", s.workload_name(), s.mode(), s.size)
}

/// What makes `b` a different measurement from `a`, if anything.
fn differs(a: &Summary, b: &Summary) -> Option<&'static str> {
    if a.workload != b.workload {
        return Some("different workloads");
    }
    if a.mode() != b.mode() {
        return Some("one is open loop (--rate), the other closed loop");
    }
    if a.size != b.size {
        return Some("different sizes (--size)");
    }
    None
}
