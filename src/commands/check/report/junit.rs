//! `check --junit FILE`: the rows as a JUnit XML report, in the shape GitLab
//! (`artifacts: reports: junit:`), Jenkins and the GitHub test-report actions
//! read: `<testsuites>` around one `<testsuite name="echokit check">`, one
//! `<testcase>` per row, `<failure message=…>` for FAIL and
//! `<skipped message=…>` for SKIP, both carrying the reason.
//!
//! Every attribute and text node goes through quick-xml's writer, which
//! escapes `<>&"'`; characters XML 1.0 cannot carry at all (most C0 controls)
//! are replaced first, so any reason a system gives still parses.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use quick_xml::Writer;
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
        ("skipped", skipped.as_str()),
        ("time", time.as_str()),
    ];

    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail: every `?` below is on an infallible sink.
    let result: std::io::Result<()> = (|| {
        writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        writer
            .create_element("testsuites")
            .with_attribute(("name", SUITE))
            .with_attributes(counts)
            .write_inner_content(|w| {
                w.create_element("testsuite")
                    .with_attribute(("name", SUITE))
                    .with_attributes(counts)
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

/// One `<testcase>`: named by transport and address, timed by the 1-byte round trip.
fn testcase(w: &mut Writer<Vec<u8>>, row: &Finished) -> std::io::Result<()> {
    let name = xml_text(&format!("{} {}", row.transport, row.address)).into_owned();
    let time = seconds(row.verdict.rtt.unwrap_or_default());
    let reason = xml_text(&row.verdict.reason);
    let case = w.create_element("testcase").with_attributes([
        ("name", name.as_str()),
        ("classname", CLASS),
        ("time", time.as_str()),
    ]);
    let (child, status) = match row.verdict.status {
        Status::Fail => ("failure", "FAIL"),
        Status::Skip => ("skipped", "SKIP"),
        Status::Pass => {
            // A PASS says what was echoed: kept where the reports show a case's output.
            case.write_inner_content(|w| {
                w.create_element("system-out")
                    .write_text_content(BytesText::new(&reason))?;
                Ok(())
            })?;
            return Ok(());
        }
    };
    case.write_inner_content(|w| {
        let element = w
            .create_element(child)
            .with_attribute(("message", reason.as_ref()));
        if child == "failure" {
            element
                .with_attribute(("type", status))
                .write_text_content(BytesText::new(&reason))?;
        } else {
            element.write_empty()?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Seconds with microseconds, as JUnit's `time` attributes are written.
fn seconds(d: Duration) -> String {
    format!("{:.6}", d.as_secs_f64())
}

/// `text` without the characters XML 1.0 forbids even escaped (C0 controls
/// other than tab, LF and CR, and U+FFFE/U+FFFF): each becomes U+FFFD.
fn xml_text(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| {
        !(c.is_control() && c < ' ' && !matches!(c, '\t' | '\n' | '\r'))
            && c != '\u{FFFE}'
            && c != '\u{FFFF}'
    };
    if text.chars().all(allowed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(
            text.chars()
                .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::check::table::Verdict;

    use crate::commands::check::report::row;

    fn sample() -> Vec<Finished> {
        let mut pass = Verdict::pass("echoed 1B, 64KiB");
        pass.rtt = Some(Duration::from_micros(120));
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
    fn one_suite_with_the_counts_and_the_total_time() {
        let xml = xml();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
        assert!(
            xml.contains(
                "<testsuite name=\"echokit check\" tests=\"3\" failures=\"1\" errors=\"0\" \
                 skipped=\"1\" time=\"1.500000\" timestamp=\"2023-11-14T22:13:20Z\">"
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
                "<testcase name=\"tcp4 tcp:127.0.0.1:40123\" classname=\"echokit.check\" time=\"0.000120\">"
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
    fn odd_reason_text_is_escaped_and_control_characters_replaced() {
        let xml = xml();
        assert!(
            xml.contains("name=\"unix unix:/tmp/a&amp;b/e.sock\""),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<failure message=\"odd &lt;reason&gt; &amp; &quot;quotes&quot; &apos;too&apos;\nsecond line\u{FFFD}\" type=\"FAIL\">"
            ),
            "{xml}"
        );
        assert!(!xml.contains('\u{1}'));
        assert!(!xml.contains("<reason>"));
    }
}
