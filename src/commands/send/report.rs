//! What `send` reports, each in its human and its JSON form (SPEC §4 send,
//! §6); `output` decides which is printed.

use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, ExitCode};
use crate::output::{self, Human, Report};

/// One exchange done: the echo was written to stdout; this is the note about it.
pub struct Echoed<'a> {
    pub peer: &'a str,
    pub bytes: u64,
    pub rtt: Duration,
}

impl Report for Echoed<'_> {
    fn human(&self) -> Human {
        Human::Log {
            level: 1,
            text: format!(
                "{} bytes echoed by {} in {} ms",
                self.bytes,
                self.peer,
                output::millis(self.rtt)
            ),
        }
    }

    fn json(&self) -> Option<Value> {
        Some(json!({
            "address": self.peer,
            "ok": true,
            "bytes_sent": self.bytes,
            "bytes_received": self.bytes,
            "rtt_ms": ms(self.rtt),
        }))
    }
}

/// One exchange failed: its error line is printed by `main`; this is its
/// `--json` line (SPEC §4 send: every exchange prints one).
pub struct Failed<'a> {
    pub peer: &'a str,
    pub error: &'a Error,
}

impl Report for Failed<'_> {
    fn human(&self) -> Human {
        Human::Nothing
    }

    fn json(&self) -> Option<Value> {
        Some(json!({
            "address": self.peer,
            "ok": false,
            "error_class": class(self.error),
            "error": self.error.to_string(),
        }))
    }
}

/// What kind of failure, as a word a script can match: the exit code's meaning (SPEC §5).
pub fn class(error: &Error) -> &'static str {
    match error.exit_code() {
        ExitCode::Success => "none",
        ExitCode::VerifyFailed => "verify",
        ExitCode::Usage => "usage",
        ExitCode::Connect => "connect",
        ExitCode::Timeout => "timeout",
        ExitCode::Listen => "listen",
        ExitCode::Internal => "internal",
    }
}

/// The first line of a repeated exchange, as ping prints it.
pub struct PingStart<'a> {
    pub peer: &'a str,
    pub bytes: usize,
}

impl Report for PingStart<'_> {
    fn human(&self) -> Human {
        Human::Stdout(format!("ECHO {}: {} bytes", self.peer, self.bytes))
    }

    fn json(&self) -> Option<Value> {
        None
    }
}

/// One repeated exchange: its round-trip time, or why it failed.
pub struct Ping<'a> {
    pub peer: &'a str,
    pub seq: u64,
    pub bytes: usize,
    pub result: Result<Duration, &'a Error>,
}

impl Report for Ping<'_> {
    fn human(&self) -> Human {
        match self.result {
            Ok(rtt) => Human::Stdout(format!(
                "{} bytes from {}: seq={} time={} ms",
                self.bytes,
                self.peer,
                self.seq,
                output::millis(rtt)
            )),
            Err(err) => Human::Log {
                level: 0,
                text: format!("seq={}: {err}", self.seq),
            },
        }
    }

    fn json(&self) -> Option<Value> {
        Some(match self.result {
            Ok(rtt) => {
                json!({"seq": self.seq, "bytes": self.bytes, "rtt_ms": ms(rtt), "ok": true})
            }
            Err(err) => json!({
                "seq": self.seq,
                "ok": false,
                "error_class": class(err),
                "error": err.to_string(),
            }),
        })
    }
}

/// The min/avg/max/mdev/loss summary of a repeated exchange.
pub struct PingSummary<'a> {
    pub peer: &'a str,
    pub sent: u64,
    pub rtts: &'a [Duration],
    pub total: Duration,
}

impl PingSummary<'_> {
    fn loss_percent(&self) -> f64 {
        let received = self.rtts.len() as u64;
        if self.sent == 0 {
            return 0.0;
        }
        100.0 * self.sent.saturating_sub(received) as f64 / self.sent as f64
    }

    /// min, avg, max and mdev in milliseconds (zeros when nothing came back).
    fn stats(&self) -> (f64, f64, f64, f64) {
        let ms: Vec<f64> = self.rtts.iter().map(|d| ms(*d)).collect();
        if ms.is_empty() {
            return (0.0, 0.0, 0.0, 0.0);
        }
        let min = ms.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = ms.iter().cloned().fold(0.0, f64::max);
        let avg = ms.iter().sum::<f64>() / ms.len() as f64;
        let var = ms.iter().map(|x| (x - avg) * (x - avg)).sum::<f64>() / ms.len() as f64;
        (min, avg, max, var.sqrt())
    }
}

impl Report for PingSummary<'_> {
    fn human(&self) -> Human {
        let received = self.rtts.len();
        let mut text = format!(
            "--- {} echo statistics ---\n{} sent, {received} received, {:.0}% loss, time {}ms",
            self.peer,
            self.sent,
            self.loss_percent(),
            self.total.as_millis()
        );
        if received > 0 {
            let (min, avg, max, mdev) = self.stats();
            text.push_str(&format!(
                "\nrtt min/avg/max/mdev = {min:.3}/{avg:.3}/{max:.3}/{mdev:.3} ms"
            ));
        }
        Human::Stdout(text)
    }

    fn json(&self) -> Option<Value> {
        let (min, avg, max, mdev) = self.stats();
        Some(json!({
            "address": self.peer,
            "sent": self.sent,
            "received": self.rtts.len(),
            "loss_percent": self.loss_percent(),
            "rtt_ms": {"min": min, "avg": avg, "max": max, "mdev": mdev},
        }))
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_loss_and_spread() {
        let rtts = [Duration::from_millis(1), Duration::from_millis(3)];
        let summary = PingSummary {
            peer: "tcp:127.0.0.1:7",
            sent: 4,
            rtts: &rtts,
            total: Duration::from_millis(3000),
        };
        let Human::Stdout(text) = summary.human() else {
            panic!("a summary goes to stdout");
        };
        assert_eq!(
            text,
            "--- tcp:127.0.0.1:7 echo statistics ---\n\
             4 sent, 2 received, 50% loss, time 3000ms\n\
             rtt min/avg/max/mdev = 1.000/2.000/3.000/1.000 ms"
        );
        let json = summary.json().unwrap();
        assert_eq!(json["received"], 2);
        assert_eq!(json["loss_percent"], 50.0);
    }

    #[test]
    fn a_failed_ping_is_a_log_line_and_a_json_error() {
        let err = Error::timeout("x", crate::error::Waiting::Echo);
        let ping = Ping {
            peer: "x",
            seq: 3,
            bytes: 56,
            result: Err(&err),
        };
        assert!(matches!(ping.human(), Human::Log { level: 0, .. }));
        assert_eq!(ping.json().unwrap()["ok"], false);
    }
}
