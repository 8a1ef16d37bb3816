//! `check --junit FILE`: the rows as a JUnit XML report, in the shape GitLab
//! (`artifacts: reports: junit:`), Jenkins and the GitHub test-report actions
//! read: `<testsuites>` around one `<testsuite name="echokit check">`, one
//! `<testcase>` per row, `<failure message=…>` for FAIL and
//! `<skipped message=…>` for SKIP, both carrying the reason.
//!
//! It validates against `junit-10.xsd`, the schema Jenkins' xUnit plugin and
//! pytest check reports with (tests/data/junit-10-rules.xsd restates its
//! rules): `<testsuites>` takes only `name`, `tests`, `failures`, `errors` and
//! `time` (no `skipped`: that count lives on `<testsuite>`), and every `time`
//! has at most 3 fraction digits (its `SUREFIRE_TIME` pattern).
//!
//! Text from outside (an address, a reason) is escaped here ([`escape`]):
//! `<>&"'` as entities, and every control character XML 1.0 can carry as a
//! character reference (`&#10;`), so a newline in a name survives a parser's
//! attribute normalization instead of becoming a space. The C0 controls XML
//! 1.0 forbids even as references (all but tab, LF and CR), and U+FFFE/U+FFFF,
//! are written as the text `\0`, `\u{1}` … `\u{fffe}`, as echokit's one-line
//! diagnostics show them (SPEC §6).

use std::time::{Duration, SystemTime};

use quick_xml::Writer;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::Finished;
use crate::commands::check::table::Status;

/// The suite's name, and the class name of every test case.
const SUITE: &str = "echokit check";
const CLASS: &str = "echokit.check";

/// The report for `rows`, which took `elapsed` from `started`.
pub fn render(rows: &[Finished], elapsed: Duration, started: SystemTime) -> Vec<u8> {
    let count = |status| rows.iter().filter(|r| r.verdict.status == status).count();
    let (tests, failures, skipped) = (
        rows.len().to_string(),
        count(Status::Fail).to_string(),
        count(Status::Skip).to_string(),
    );
    let time = seconds(elapsed);
    let timestamp = humantime::format_rfc3339_seconds(started).to_string();
    let counts = [
        ("tests", tests.as_str()),
        ("failures", failures.as_str()),
        ("errors", "0"),
    ];

    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail: every `?` below is on an infallible sink.
    let result: std::io::Result<()> = (|| {
        writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        writer
            .create_element("testsuites")
            .with_attribute(("name", SUITE))
            .with_attributes(counts)
            .with_attribute(("time", time.as_str()))
            .write_inner_content(|w| {
                w.create_element("testsuite")
                    .with_attribute(("name", SUITE))
                    .with_attributes(counts)
                    .with_attribute(("skipped", skipped.as_str()))
                    .with_attribute(("time", time.as_str()))
                    .with_attribute(("timestamp", timestamp.as_str()))
                    .write_inner_content(|w| {
                        for row in rows {
                            testcase(w, row)?;
                        }
                        Ok(())
                    })?;
                Ok(())
            })?;
        Ok(())
    })();
    result.expect("writing XML into memory cannot fail");
    let mut xml = writer.into_inner();
    xml.push(b'\n');
    xml
}

/// An attribute whose value [`escape`] has already escaped (quick-xml's
/// `(&str, &str)` form would escape the `&` of `&#10;` again).
fn escaped_attribute<'a>(key: &'a str, escaped: &'a str) -> Attribute<'a> {
    Attribute::from((key.as_bytes(), escaped.as_bytes()))
}

/// One `<testcase>`: named by transport and address, timed by the 1-byte round trip.
fn testcase(w: &mut Writer<Vec<u8>>, row: &Finished) -> std::io::Result<()> {
    let name = escape(&format!("{} {}", row.transport, row.address));
    let time = seconds(row.verdict.rtt.unwrap_or_default());
    let reason = escape(&row.verdict.reason);
    let case = w
        .create_element("testcase")
        .with_attribute(escaped_attribute("name", &name))
        .with_attribute(("classname", CLASS))
        .with_attribute(("time", time.as_str()));
    let (child, status) = match row.verdict.status {
        Status::Fail => ("failure", "FAIL"),
        Status::Skip => ("skipped", "SKIP"),
        Status::Pass => {
            // A PASS says what was echoed: kept where the reports show a case's output.
            case.write_inner_content(|w| {
                w.create_element("system-out")
                    .write_text_content(BytesText::from_escaped(reason.as_str()))?;
                Ok(())
            })?;
            return Ok(());
        }
    };
    case.write_inner_content(|w| {
        let element = w
            .create_element(child)
            .with_attribute(escaped_attribute("message", &reason));
        if child == "failure" {
            element
                .with_attribute(("type", status))
                .write_text_content(BytesText::from_escaped(reason.as_str()))?;
        } else {
            element.write_empty()?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Seconds with milliseconds: `junit-10.xsd`'s `SUREFIRE_TIME` allows at most
/// 3 fraction digits, and a report reader needs no finer clock.
fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// `text` escaped for an attribute value or a text node (see the module doc):
/// entities for `<>&"'`, character references for the controls XML 1.0
/// allows (tab, LF, CR, DEL and C1), `\u{…}` text for the ones it forbids.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0's Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | …
            '\t' | '\n' | '\r' | '\u{7f}'..='\u{9f}' => {
                out.push_str(&format!("&#{};", u32::from(c)));
            }
            '\0' => out.push_str("\\0"),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                out.extend(c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::check::table::Verdict;

    use crate::commands::check::report::row;

    fn sample() -> Vec<Finished> {
        let mut pass = Verdict::pass("echoed 1B, 64KiB");
        pass.rtt = Some(Duration::from_micros(12_345));
        vec![
            row("tcp4", "tcp:127.0.0.1:40123", pass),
            row(
                "tcp6",
                "tcp:[::1]:0",
                Verdict::skip("no ::1 on the loopback interface"),
            ),
            row(
                "unix",
                "unix:/tmp/a&b/e.sock",
                Verdict::fail("odd <reason> & \"quotes\" 'too'\nsecond line\u{1}"),
            ),
        ]
    }

    fn xml() -> String {
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        String::from_utf8(render(&sample(), Duration::from_millis(1500), started)).unwrap()
    }

    #[test]
    fn one_suite_with_the_counts_and_the_total_time_in_milliseconds() {
        let xml = xml();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
        // junit-10.xsd: no `skipped` on <testsuites>; at most 3 fraction digits in `time`.
        assert!(
            xml.contains(
                "<testsuites name=\"echokit check\" tests=\"3\" failures=\"1\" errors=\"0\" \
                 time=\"1.500\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<testsuite name=\"echokit check\" tests=\"3\" failures=\"1\" errors=\"0\" \
                 skipped=\"1\" time=\"1.500\" timestamp=\"2023-11-14T22:13:20Z\">"
            ),
            "{xml}"
        );
        assert_eq!(xml.matches("<testsuite ").count(), 1);
        assert_eq!(xml.matches("<testcase ").count(), 3);
    }

    #[test]
    fn cases_are_named_by_transport_and_address_and_timed_by_the_rtt() {
        let xml = xml();
        assert!(
            xml.contains(
                "<testcase name=\"tcp4 tcp:127.0.0.1:40123\" classname=\"echokit.check\" time=\"0.012\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<system-out>echoed 1B, 64KiB</system-out>"),
            "{xml}"
        );
        assert!(
            xml.contains("<skipped message=\"no ::1 on the loopback interface\"/>"),
            "{xml}"
        );
    }

    #[test]
    fn times_have_at_most_three_fraction_digits() {
        assert_eq!(seconds(Duration::from_nanos(36_889_000)), "0.037");
        assert_eq!(seconds(Duration::from_micros(120)), "0.000");
        assert_eq!(seconds(Duration::from_secs(90)), "90.000");
    }

    #[test]
    fn odd_reason_text_is_escaped_and_control_characters_are_references() {
        let xml = xml();
        assert!(
            xml.contains("name=\"unix unix:/tmp/a&amp;b/e.sock\""),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<failure message=\"odd &lt;reason&gt; &amp; &quot;quotes&quot; &apos;too&apos;&#10;second line\\u{1}\" type=\"FAIL\">"
            ),
            "{xml}"
        );
        assert!(!xml.contains('\u{1}'));
        assert!(!xml.contains("<reason>"));
    }

    #[test]
    fn every_control_character_is_a_reference_or_escaped_text() {
        assert_eq!(escape("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
        assert_eq!(escape("\u{7f}\u{85}\u{9f}"), "&#127;&#133;&#159;");
        assert_eq!(escape("\0\u{1}\u{1b}\u{1f}"), "\\0\\u{1}\\u{1b}\\u{1f}");
        assert_eq!(escape("\u{FFFE}\u{FFFF}"), "\\u{fffe}\\u{ffff}");
        assert_eq!(escape("é ok"), "é ok");
        // Nothing raw below U+0020 is left for a parser to normalize or reject.
        let all: String = (0u8..0x20).map(char::from).collect();
        assert!(!escape(&all).chars().any(|c| c < ' '));
    }
}
