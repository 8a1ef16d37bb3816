//! The check table: aligned human rows and their `--json` twins.
//!
//! Pure formatting, no I/O: the [`layout`] is fixed before the first round
//! trip (every address is known once the plan is built), so each row can be
//! printed the moment it finishes and the columns still line up. The REASON
//! column comes last and is never padded. Output applies `-q` and `--json`.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

use crate::output::{Human, Report, Table};

use crate::transport::SocketType;

/// The result of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every payload came back byte for byte.
    Pass,
    /// Something that should work did not (or a required transport is missing).
    Fail,
    /// This machine lacks what the row needs; not an error unless `--require`d.
    Skip,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        })
    }
}

/// What one row found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: Status,
    /// Round-trip time of the 1-byte payload.
    pub rtt: Option<Duration>,
    /// Sizes of the payloads that came back in full, in bytes.
    pub payloads: Vec<usize>,
    /// Why, in words a stranger can act on (for PASS: what was echoed).
    pub reason: String,
}

impl Verdict {
    /// A SKIP with its reason.
    pub fn skip(reason: impl Into<String>) -> Verdict {
        Verdict {
            status: Status::Skip,
            rtt: None,
            payloads: Vec::new(),
            reason: reason.into(),
        }
    }

    /// A FAIL with its reason.
    pub fn fail(reason: impl Into<String>) -> Verdict {
        Verdict {
            status: Status::Fail,
            rtt: None,
            payloads: Vec::new(),
            reason: reason.into(),
        }
    }

    /// A PASS with what it found.
    pub fn pass(reason: impl Into<String>) -> Verdict {
        Verdict {
            status: Status::Pass,
            rtt: None,
            payloads: Vec::new(),
            reason: reason.into(),
        }
    }
}

const HEADER: [&str; 5] = ["TRANSPORT", "ADDRESS", "STATUS", "RTT", "REASON"];
/// Wide enough for every [`rtt`] below 10 minutes (`999.9ms`, `59.99s`).
const RTT_WIDTH: usize = 11;

/// The table, fitted to every row's TRANSPORT and ADDRESS before the first
/// round trip; STATUS and RTT have fixed widths, REASON is never padded.
pub fn layout<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> Table {
    let mut table = Table::new(&HEADER).at_least(3, RTT_WIDTH);
    for (transport, address) in rows {
        table.fit(&[transport, address]);
    }
    table
}

/// One finished row, as the table line or the `--json` object.
pub struct RowReport<'a> {
    pub table: &'a Table,
    pub transport: &'a str,
    pub socket_type: Option<SocketType>,
    pub address: &'a str,
    /// The ADDR as typed, for external servers.
    pub input: Option<&'a str>,
    /// Whether `--require` names this row.
    pub required: bool,
    pub verdict: &'a Verdict,
}

impl Report for RowReport<'_> {
    fn human(&self) -> Human {
        let rtt_text = self.verdict.rtt.map_or_else(|| "-".to_string(), rtt);
        let status = self.verdict.status.to_string();
        Human::Stdout(self.table.line(&[
            self.transport,
            self.address,
            &status,
            &rtt_text,
            &self.verdict.reason,
        ]))
    }

    /// Its fields are documented in `echokit check --help` (the man page).
    fn json(&self) -> Option<Value> {
        let verdict = self.verdict;
        Some(json!({
            "transport": self.transport,
            "type": self.socket_type.map(SocketType::short_name),
            "address": self.address,
            "input": self.input,
            "status": verdict.status.to_string(),
            "required": self.required,
            "rtt_ms": verdict.rtt.map(|d| d.as_secs_f64() * 1000.0),
            "payloads": verdict.payloads,
            "reason": verdict.reason,
        }))
    }
}

/// A size with a binary suffix (SPEC §6): `1B`, `64KiB`, `8MiB`; sizes that
/// are not whole KiB stay exact (`65507B`), larger odd ones get one decimal.
pub fn size(bytes: usize) -> String {
    const KIB: usize = 1 << 10;
    const MIB: usize = 1 << 20;
    if bytes >= MIB && bytes % MIB == 0 {
        format!("{}MiB", bytes / MIB)
    } else if bytes >= KIB && bytes % KIB == 0 {
        format!("{}KiB", bytes / KIB)
    } else if bytes >= MIB {
        format!("{:.1}MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{bytes}B")
    }
}

/// A round-trip time in humantime syntax (SPEC §6): microseconds below one
/// second (`42us`, `1ms 234us`), milliseconds from there (`1s 520ms`).
pub fn rtt(d: Duration) -> String {
    crate::output::duration(d)
}

/// Sizes joined for a PASS reason: `1B, 64KiB, 192KiB, 8MiB`.
pub fn sizes(list: &[usize]) -> String {
    list.iter().map(|&n| size(n)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_suffixes() {
        assert_eq!(size(1), "1B");
        assert_eq!(size(8), "8B");
        assert_eq!(size(65_536), "64KiB");
        assert_eq!(size(196_608), "192KiB");
        assert_eq!(size(65_507), "65507B");
        assert_eq!(size(8 << 20), "8MiB");
        assert_eq!(size((8 << 20) + 5), "8.0MiB");
        assert_eq!(sizes(&[1, 65_536]), "1B, 64KiB");
    }

    #[test]
    fn rtts_fit_their_column() {
        for (d, text) in [
            (Duration::from_micros(42), "42us"),
            (Duration::from_micros(1_234), "1ms 234us"),
            (Duration::from_micros(15_240), "15ms 240us"),
            (Duration::from_micros(152_400), "152ms 400us"),
            (Duration::from_millis(1_520), "1s 520ms"),
            (Duration::from_millis(59_990), "59s 990ms"),
        ] {
            assert_eq!(rtt(d), text);
            assert!(text.len() <= RTT_WIDTH, "{text}");
        }
    }

    #[test]
    fn rows_line_up_under_the_header() {
        let table = layout([("tcp4", "tcp:127.0.0.1:40123"), ("localhost", "localhost")]);
        let mut pass = Verdict::pass("echoed 1B");
        pass.rtt = Some(Duration::from_micros(80));
        let line = |transport, address, verdict| match (RowReport {
            table: &table,
            transport,
            socket_type: None,
            address,
            input: None,
            required: false,
            verdict,
        })
        .human()
        {
            Human::Stdout(text) => text,
            other => panic!("{other:?}"),
        };
        let lines = [
            table.header(),
            line("tcp4", "tcp:127.0.0.1:40123", &pass),
            line("tcp6", "tcp:[::1]:0", &Verdict::skip("no ::1")),
        ];
        assert_eq!(
            lines[0],
            "TRANSPORT  ADDRESS              STATUS  RTT          REASON"
        );
        assert_eq!(
            lines[1],
            "tcp4       tcp:127.0.0.1:40123  PASS    80us         echoed 1B"
        );
        assert_eq!(
            lines[2],
            "tcp6       tcp:[::1]:0          SKIP    -            no ::1"
        );
        let column = |line: &str, word: &str| line.find(word).unwrap();
        assert_eq!(column(&lines[0], "STATUS"), column(&lines[1], "PASS"));
        assert_eq!(column(&lines[0], "REASON"), column(&lines[2], "no ::1"));
    }

    #[test]
    fn json_rows_carry_every_field() {
        let table = layout([]);
        let v = RowReport {
            table: &table,
            transport: "udp4",
            socket_type: Some(SocketType::Datagram),
            address: "udp:127.0.0.1:5",
            input: Some("udp:127.0.0.1:5"),
            required: true,
            verdict: &Verdict::fail("refused"),
        }
        .json()
        .expect("a check row has a JSON form");
        assert_eq!(v["transport"], "udp4");
        assert_eq!(v["type"], "datagram");
        assert_eq!(v["status"], "FAIL");
        assert_eq!(v["required"], true);
        assert!(v["rtt_ms"].is_null());
        assert_eq!(v["payloads"], json!([]));
        assert_eq!(v["reason"], "refused");
    }
}
