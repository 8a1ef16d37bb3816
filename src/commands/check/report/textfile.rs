//! `check --metrics-file FILE`: the rows for node_exporter's textfile
//! collector, in blackbox_exporter's words, so a dashboard or alert written
//! for blackbox probes reads them unchanged:
//!
//! - `probe_success{transport,address}`: 1 for PASS, 0 for FAIL;
//! - `probe_duration_seconds{transport,address}`: the 1-byte round trip, for
//!   rows that have one;
//! - `echokit_check_skipped{transport,address}`: 1 for a SKIP row (this
//!   machine lacks what it needs, and it was not `--require`d): not a failed
//!   probe, so it gets no `probe_success` to alert on.
//!
//! No timestamps (the collector refuses them); the file is replaced whole
//! (`atomic.rs`), so the collector never reads half of it.
//!
//! Without ADDRs, every row is an in-process server on port 0 or in a fresh
//! temporary directory: its address changes at every run, and a timer that
//! runs `check` every minute would make a new series each time. Such rows
//! are labelled by their prefix alone (`address="tcp:in-process"`), one
//! series per row for good.

use super::Finished;
use crate::commands::check::table::Status;
use crate::commands::prometheus::Family;

/// The address label of an in-process row: its prefix, which stays.
fn in_process(address: &str) -> String {
    match address.split_once(':') {
        Some((prefix, _)) => format!("{prefix}:in-process"),
        None => address.to_string(),
    }
}

/// The text of the file for `rows`; `local`: they are in-process servers.
pub fn render(rows: &[Finished], local: bool) -> String {
    let rows: Vec<Finished> = rows
        .iter()
        .map(|r| Finished {
            address: if local {
                in_process(&r.address)
            } else {
                r.address.clone()
            },
            ..r.clone()
        })
        .collect();
    let rows = rows.as_slice();
    fn labels(r: &Finished) -> Vec<(&'static str, &str)> {
        vec![
            ("transport", r.transport.as_str()),
            ("address", r.address.as_str()),
        ]
    }
    let probed = || rows.iter().filter(|r| r.verdict.status != Status::Skip);
    let families = [
        Family {
            name: "probe_success",
            kind: "gauge",
            help: "Whether the echo round trip succeeded (echokit check; 1 PASS, 0 FAIL).",
            samples: probed()
                .map(|r| {
                    let ok = u8::from(r.verdict.status == Status::Pass);
                    (labels(r), ok.to_string())
                })
                .collect(),
        },
        Family {
            name: "probe_duration_seconds",
            kind: "gauge",
            help: "The 1-byte echo round trip in seconds (echokit check).",
            samples: probed()
                .filter_map(|r| {
                    let rtt = r.verdict.rtt?;
                    Some((labels(r), format!("{:.6}", rtt.as_secs_f64())))
                })
                .collect(),
        },
        Family {
            name: "echokit_check_skipped",
            kind: "gauge",
            help: "1 for a row this machine cannot run (echokit check SKIP; not a failure).",
            samples: rows
                .iter()
                .filter(|r| r.verdict.status == Status::Skip)
                .map(|r| (labels(r), "1".to_string()))
                .collect(),
        },
    ];
    crate::commands::prometheus::render(&families)
}

#[cfg(test)]
mod tests {
    use super::super::row;
    use super::*;
    use crate::commands::check::table::Verdict;
    use std::time::Duration;

    #[test]
    fn pass_fail_and_skip_rows_in_blackbox_words() {
        let mut pass = Verdict::skip("");
        pass.status = Status::Pass;
        pass.rtt = Some(Duration::from_micros(401));
        let text = render(
            &[
                row("udp4", "udp:127.0.0.1:40241", pass),
                row("tcp6", "tcp:[::1]:1", Verdict::fail("refused")),
                row("seqpacket", "-", Verdict::skip("no \"seqpacket\"")),
            ],
            false,
        );
        assert_eq!(
            text,
            "# HELP probe_success Whether the echo round trip succeeded (echokit check; 1 PASS, 0 FAIL).\n\
             # TYPE probe_success gauge\n\
             probe_success{transport=\"udp4\",address=\"udp:127.0.0.1:40241\"} 1\n\
             probe_success{transport=\"tcp6\",address=\"tcp:[::1]:1\"} 0\n\
             # HELP probe_duration_seconds The 1-byte echo round trip in seconds (echokit check).\n\
             # TYPE probe_duration_seconds gauge\n\
             probe_duration_seconds{transport=\"udp4\",address=\"udp:127.0.0.1:40241\"} 0.000401\n\
             # HELP echokit_check_skipped 1 for a row this machine cannot run (echokit check SKIP; not a failure).\n\
             # TYPE echokit_check_skipped gauge\n\
             echokit_check_skipped{transport=\"seqpacket\",address=\"-\"} 1\n"
        );
    }

    #[test]
    fn in_process_rows_keep_one_address_label_from_run_to_run() {
        let text = render(
            &[
                row(
                    "unix",
                    "unix:/tmp/echokit-check-1/stream.sock",
                    Verdict::fail("x"),
                ),
                row("abstract", "unix:@echokit-check-1-0", Verdict::fail("x")),
                row("localhost", "localhost", Verdict::fail("x")),
            ],
            true,
        );
        assert!(
            text.contains("probe_success{transport=\"unix\",address=\"unix:in-process\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("probe_success{transport=\"abstract\",address=\"unix:in-process\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("probe_success{transport=\"localhost\",address=\"localhost\"} 0\n"),
            "{text}"
        );
    }
}
