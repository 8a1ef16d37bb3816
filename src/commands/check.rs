//! `echokit check` (SPEC §4 check): round-trip payloads through every
//! transport on this machine — or through the echo servers named as ADDRs —
//! and report one row each: PASS, FAIL or SKIP, with a reason a stranger can
//! act on. Exit 1 when any row fails (SPEC §5), 0 otherwise.
//!
//! The plan comes first: servers bound, families probed, names resolved, so
//! the table's columns are fixed before the first round trip. Then each row
//! runs in turn under its own deadline (`--timeout`) and is printed as soon
//! as it finishes. The in-process servers are the engine `serve` runs
//! ([`server`]), the clients the code `send` runs ([`roundtrip`]); why a
//! family is missing comes from the system's own answers ([`probe`]).

mod local;
mod probe;
mod report;
mod roundtrip;
mod server;
mod table;

use crate::addr::{self, Role};
use crate::cli::CheckArgs;
use crate::error::{Error, ExitCode};
use crate::output::Output;
use crate::transport::{self, Kind, REQUIRE_ABSTRACT, SocketAddress, SocketType, Transport};

use server::LocalServer;
use table::{RowReport, Status, Verdict};

/// What a row does when its turn comes.
enum Job {
    /// Round-trip the payloads through `target`, served in-process by `server` when local.
    Echo {
        kind: Kind,
        target: SocketAddress,
        max_datagram: usize,
        server: Option<LocalServer>,
    },
    /// Decided while planning: a missing family, an unusable socket directory, the localhost check.
    Decided(Verdict),
}

/// One row of the table.
struct Row {
    /// `tcp4` … `abstract`, or `localhost`.
    transport: String,
    socket_type: Option<SocketType>,
    /// In the grammar, with its prefix (`tcp:127.0.0.1:40123`).
    address: String,
    /// The ADDR as typed, when checking an external server.
    input: Option<String>,
    /// The `--require` names that cover this row.
    tags: Vec<&'static str>,
    job: Job,
}

impl Row {
    fn run(self, args: &CheckArgs, out: &Output) -> Verdict {
        match self.job {
            Job::Decided(verdict) => verdict,
            Job::Echo {
                kind,
                target,
                max_datagram,
                server,
            } => {
                let label = format!("{} {}", self.transport, self.address);
                let trip = roundtrip::Trip {
                    kind,
                    target: &target,
                    buffer_size: args.buffer_size,
                    max_datagram,
                    timeout: args.timeout,
                    label: &label,
                    shown: &self.address,
                };
                let mut verdict = trip.run(out);
                if let Some(mut server) = server {
                    let notes = server.stop();
                    if verdict.status == Status::Fail && !notes.is_empty() {
                        verdict.reason = format!("{}; {}", verdict.reason, notes.join("; "));
                    }
                }
                verdict
            }
        }
    }
}

/// Runs `echokit check`.
pub fn run(args: CheckArgs) -> Result<ExitCode, Error> {
    let out = Output::new(args.output);
    let required = parse_require(&args.require)?;
    // --junit and --github files are checked now: one that cannot be written stops us before any row runs.
    let mut reports = report::Reports::open(&args)?;
    // `_cleanup` lives until every row has run: it removes the temporary socket directory.
    let (rows, _cleanup) = if args.addrs.is_empty() {
        let specs = local::specs(&args);
        for name in &required {
            if !specs.iter().any(|s| s.tags().contains(name)) {
                return Err(Error::Usage(format!(
                    "--require {name}: -4, -6 or -u leave nothing of it to check"
                )));
            }
        }
        let (rows, cleanup) = local::plan(&args, specs);
        (rows, Some(cleanup))
    } else {
        (remote_plan(&args, &required)?, None)
    };

    let layout = table::layout(
        rows.iter()
            .map(|r| (r.transport.as_str(), r.address.as_str())),
    );
    if out.human() {
        out.line(&layout.header());
    }
    let mut failed = Vec::new();
    let started = std::time::Instant::now();
    let mut finished = Vec::new();
    for row in rows {
        let (transport, socket_type, address, input) = (
            row.transport.clone(),
            row.socket_type,
            row.address.clone(),
            row.input.clone(),
        );
        let covering = required.iter().find(|n| row.tags.contains(n)).copied();
        let mut verdict = row.run(&args, &out);
        if let (Status::Skip, Some(name)) = (verdict.status, covering) {
            verdict.status = Status::Fail;
            verdict.reason = format!("{} (required by --require {name})", verdict.reason);
        }
        out.report(&RowReport {
            table: &layout,
            transport: &transport,
            socket_type,
            address: &address,
            input: input.as_deref(),
            required: covering.is_some(),
            verdict: &verdict,
        });
        if verdict.status == Status::Fail {
            failed.push(format!("{transport} ({address})"));
        }
        finished.push(report::Finished {
            transport,
            address,
            verdict,
        });
    }
    reports.finish(&finished, started.elapsed(), &out)?;
    if failed.is_empty() {
        return Ok(ExitCode::Success);
    }
    let plural = if failed.len() == 1 { "" } else { "s" };
    out.note(&format!(
        "{} check{plural} failed: {}",
        failed.len(),
        failed.join(", ")
    ));
    Ok(ExitCode::VerifyFailed)
}

/// Splits, lowercases and validates `--require` (an unknown name is a usage error).
fn parse_require(names: &[String]) -> Result<Vec<&'static str>, Error> {
    let mut required = Vec::new();
    for name in names {
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        let known_names = transport::require_names();
        match known_names.iter().find(|n| **n == name) {
            Some(known) if !required.contains(known) => required.push(*known),
            Some(_) => {}
            None => {
                return Err(Error::Usage(format!(
                    "unknown --require name {name:?} (expected: {})",
                    known_names.join(", ")
                )));
            }
        }
    }
    Ok(required)
}

/// The transport name of a concrete address and the `--require` names that
/// cover it (abstract names have their own).
fn transport_name(kind: Kind, target: &SocketAddress) -> (String, Vec<&'static str>) {
    match target {
        SocketAddress::Abstract(_) => (REQUIRE_ABSTRACT.to_string(), vec![REQUIRE_ABSTRACT]),
        _ => {
            let transport = Transport::of(kind, target);
            (transport.to_string(), transport.require_names().to_vec())
        }
    }
}

/// With ADDRs: one row per address each resolves to (as `send` would try
/// them). Bad or unresolvable ADDRs stop everything first (exit 2, SPEC §5).
/// A required name no ADDR covers is a FAIL row: the requirement is unmet.
fn remote_plan(args: &CheckArgs, required: &[&'static str]) -> Result<Vec<Row>, Error> {
    let default_kind = super::default_kind(&args.addr_flags);
    let family = super::family(&args.addr_flags);
    let endpoints = args
        .addrs
        .iter()
        .map(|text| addr::parse(text, default_kind))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    for endpoint in &endpoints {
        for target in addr::resolve(endpoint, family, Role::Connect)? {
            let (transport, tags) = transport_name(endpoint.kind, &target);
            // An external server's buffer is unknown: the largest datagram is
            // the transport's, but no more than --buffer-size (SPEC §3).
            let max_datagram = Transport::of(endpoint.kind, &target)
                .max_message()
                .map_or(args.buffer_size, |max| max.min(args.buffer_size));
            rows.push(Row {
                tags,
                transport,
                socket_type: Some(endpoint.kind.socket_type),
                address: addr::display(endpoint.kind, &target),
                input: Some(endpoint.text.clone()),
                job: Job::Echo {
                    kind: endpoint.kind,
                    target,
                    max_datagram,
                    server: None,
                },
            });
        }
    }
    for name in required {
        if !rows.iter().any(|r| r.tags.contains(name)) {
            rows.push(Row {
                transport: name.to_string(),
                socket_type: None,
                address: "-".to_string(),
                input: None,
                tags: vec![name],
                job: Job::Decided(Verdict::fail(format!(
                    "required by --require {name}, but no ADDR is {name}"
                ))),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_names_are_validated_and_folded() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_require(&names(&["IPv6", "unix", "", "ipv6"])).unwrap(),
            vec!["ipv6", "unix"]
        );
        let err = parse_require(&names(&["ipv7"])).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Usage);
        assert!(
            err.to_string()
                .starts_with("unknown --require name \"ipv7\"")
        );
    }

    #[test]
    fn every_require_name_is_accepted() {
        let all: Vec<String> = transport::require_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(parse_require(&all).unwrap().len(), all.len());
        assert!(all.contains(&"seqpacket".to_string()));
    }
}
