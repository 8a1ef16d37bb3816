//! `check --github`: what a GitHub Actions runner reads from a step.
//!
//! - workflow commands on stdout, one `::error` per FAIL and one `::warning`
//!   per SKIP, which the runner turns into annotations;
//! - a Markdown table of every row, appended to `$GITHUB_STEP_SUMMARY`;
//! - one `TRANSPORT=pass|fail|skip` line per transport, appended to
//!   `$GITHUB_OUTPUT`, so later steps can read `steps.ID.outputs.tcp6`.
//!
//! Escaping follows the runner's own toolkit (`@actions/core`, command.ts):
//! in a message `%`, CR and LF become `%25`, `%0D`, `%0A`; in a property
//! value `:` and `,` also become `%3A` and `%2C`. Without it a reason with a
//! newline would end the command early and the rest would print as a log line.

use super::Finished;
use crate::commands::check::table::{self, Status};

/// The title of every annotation.
const TITLE: &str = "echokit check";

/// One workflow command per FAIL (`::error`) and SKIP (`::warning`) row, in row order.
pub fn commands(rows: &[Finished]) -> Vec<String> {
    rows.iter()
        .filter_map(|row| {
            let command = match row.verdict.status {
                Status::Fail => "error",
                Status::Skip => "warning",
                Status::Pass => return None,
            };
            let message = format!("{} {}: {}", row.transport, row.address, row.verdict.reason);
            Some(format!(
                "::{command} title={}::{}",
                escape_property(TITLE),
                escape_data(&message)
            ))
        })
        .collect()
}

/// A workflow command's message: `%`, CR and LF escaped.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as a message, plus `:` and `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The job summary: a heading, the counts, and a Markdown table of every row.
pub fn summary(rows: &[Finished]) -> String {
    let count = |status| rows.iter().filter(|r| r.verdict.status == status).count();
    let mut text = format!(
        "### echokit check\n\n{} passed, {} failed, {} skipped\n\n\
         | Transport | Address | Status | RTT | Reason |\n\
         |---|---|---|---|---|\n",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip)
    );
    for row in rows {
        let rtt = row.verdict.rtt.map_or_else(|| "-".to_string(), table::rtt);
        let status = match row.verdict.status {
            Status::Pass => "✅ PASS",
            Status::Fail => "❌ FAIL",
            Status::Skip => "⚠️ SKIP",
        };
        text.push_str(&format!(
            "| {} | {} | {status} | {} | {} |\n",
            markdown_cell(&row.transport),
            markdown_cell(&row.address),
            markdown_cell(&rtt),
            markdown_cell(&row.verdict.reason)
        ));
    }
    text.push('\n');
    text
}

/// Text made safe for one Markdown table cell: HTML and Markdown
/// punctuation escaped, `|` kept from ending the cell, line breaks as `<br>`.
fn markdown_cell(text: &str) -> String {
    let mut cell = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => cell.push_str("&amp;"),
            '<' => cell.push_str("&lt;"),
            '>' => cell.push_str("&gt;"),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\n' => cell.push_str("<br>"),
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                cell.push('\\');
                cell.push(c);
            }
            c => cell.push(c),
        }
    }
    cell
}

/// One `TRANSPORT=pass|fail|skip` line per transport, in the order they
/// first appear; of several rows of one transport, fail wins over pass and
/// pass over skip.
pub fn outputs(rows: &[Finished]) -> String {
    let rank = |status| match status {
        Status::Fail => 2,
        Status::Pass => 1,
        Status::Skip => 0,
    };
    let mut merged: Vec<(&str, Status)> = Vec::new();
    for row in rows {
        match merged.iter_mut().find(|(t, _)| *t == row.transport) {
            Some((_, status)) if rank(row.verdict.status) > rank(*status) => {
                *status = row.verdict.status;
            }
            Some(_) => {}
            None => merged.push((&row.transport, row.verdict.status)),
        }
    }
    merged
        .into_iter()
        .map(|(transport, status)| {
            let word = match status {
                Status::Pass => "pass",
                Status::Fail => "fail",
                Status::Skip => "skip",
            };
            format!("{transport}={word}\n")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::check::table::Verdict;
    use std::time::Duration;

    use crate::commands::check::report::row;

    #[test]
    fn one_error_per_fail_and_one_warning_per_skip() {
        let rows = [
            row("tcp4", "tcp:127.0.0.1:1", Verdict::pass("echoed 1B")),
            row("tcp6", "tcp:[::1]:0", Verdict::skip("no ::1")),
            row("unix", "unix:/tmp/e.sock", Verdict::fail("refused")),
        ];
        assert_eq!(
            commands(&rows),
            [
                "::warning title=echokit check::tcp6 tcp:[::1]:0: no ::1",
                "::error title=echokit check::unix unix:/tmp/e.sock: refused",
            ]
        );
    }

    #[test]
    fn messages_escape_percent_and_line_breaks() {
        let rows = [row(
            "udp4",
            "udp:127.0.0.1:7",
            Verdict::fail("100% lost\r\nthen <>&\"' and :, too"),
        )];
        assert_eq!(
            commands(&rows),
            [
                "::error title=echokit check::udp4 udp:127.0.0.1:7: 100%25 lost%0D%0Athen <>&\"' and :, too"
            ]
        );
        assert_eq!(escape_property("a:b,c%d\ne"), "a%3Ab%2Cc%25d%0Ae");
    }

    #[test]
    fn summary_is_a_markdown_table_whose_cells_cannot_break_it() {
        let mut pass = Verdict::pass("echoed 1B");
        pass.rtt = Some(Duration::from_micros(80));
        let rows = [
            row("tcp4", "tcp:127.0.0.1:1", pass),
            row(
                "unix",
                "unix:/tmp/a|b",
                Verdict::fail("<b>x</b> & y\nz | w"),
            ),
        ];
        let text = summary(&rows);
        assert!(text.starts_with("### echokit check\n\n1 passed, 1 failed, 0 skipped\n\n"));
        assert!(text.contains("| tcp4 | tcp:127.0.0.1:1 | ✅ PASS | 80us | echoed 1B |\n"));
        assert!(
            text.contains(
                "| unix | unix:/tmp/a\\|b | ❌ FAIL | - | &lt;b&gt;x&lt;/b&gt; &amp; y<br>z \\| w |\n"
            ),
            "{text}"
        );
        // Every table line has the same number of unescaped cell separators.
        for line in text.lines().filter(|l| l.starts_with('|')) {
            let bars = line.replace("\\|", "").matches('|').count();
            assert_eq!(bars, 6, "{line}");
        }
    }

    #[test]
    fn outputs_merge_rows_of_one_transport_fail_over_pass_over_skip() {
        let rows = [
            row("tcp4", "tcp:127.0.0.1:1", Verdict::pass("ok")),
            row("abstract", "unix:@a", Verdict::pass("ok")),
            row("abstract", "unixgram:@a", Verdict::fail("no")),
            row("tcp6", "tcp:[::1]:0", Verdict::skip("no ::1")),
            row("unix", "unix:/a", Verdict::skip("long")),
            row("unix", "unix:/b", Verdict::pass("ok")),
        ];
        assert_eq!(
            outputs(&rows),
            "tcp4=pass\nabstract=fail\ntcp6=skip\nunix=pass\n"
        );
    }
}
