//! `serve --metrics ADDR`: the page, in the Prometheus text exposition
//! format 0.0.4 (SPEC §4 serve). The engine serves it from its own loop and
//! hands over every listener's counters; this file only says them in
//! Prometheus' words: one series per listener (labels `listener`, its ready
//! line, and `transport`, its SPEC §1 name), counters ending in `_total`,
//! plus `echokit_build_info`.
//!
//! Hand-written rather than with `prometheus-client`: the page is a dozen
//! families of plain counters that already exist as atomics in the engine,
//! so an encoder crate would add a registry to keep in step with them for
//! the one thing it does that we need — label escaping, which is three
//! characters (`\`, `"`, newline) and is tested below.

use std::fmt::Write;

use crate::engine::MetricsPage;
use crate::engine::dgram::DropReason;
use crate::engine::meters::{ListenerInfo, Totals};

/// Renders the page from the engine's counters.
pub struct Page;

/// A label value as the text format wants it: backslash, double quote and
/// line feed escaped.
fn label_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The `reason` label of a dropped datagram.
fn drop_label(reason: DropReason) -> &'static str {
    match reason {
        DropReason::Oversize => "oversize",
        DropReason::LoopPort => "loop_port",
        DropReason::OwnAddress => "own_address",
        DropReason::Unanswerable => "unbound_sender",
        DropReason::RateLimited => "rate_limit",
        DropReason::SendFailed => "reply_failed",
    }
}

/// One metric family: its name, type, help, and a value per listener
/// (with extra labels), for the listeners it applies to.
/// Values with their listener and an optional extra label.
type Samples<'a> = Vec<(&'a ListenerInfo, Option<(&'static str, &'static str)>, u64)>;

struct Family<'a> {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Samples<'a>,
}

impl Family<'_> {
    fn write(&self, out: &mut String) {
        if self.samples.is_empty() {
            return;
        }
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (info, extra, value) in &self.samples {
            let _ = write!(
                out,
                "{}{{listener=\"{}\",transport=\"{}\"",
                self.name,
                label_value(&info.name),
                label_value(info.transport)
            );
            if let Some((key, val)) = extra {
                let _ = write!(out, ",{key}=\"{}\"", label_value(val));
            }
            let _ = writeln!(out, "}} {value}");
        }
    }
}

/// Whether a listener takes connections (by its transport's name).
fn connected(info: &ListenerInfo) -> bool {
    !matches!(info.transport, "udp4" | "udp6" | "unixgram")
}

impl MetricsPage for Page {
    fn render(&self, listeners: &[(ListenerInfo, Totals)]) -> String {
        let streams: Vec<&(ListenerInfo, Totals)> =
            listeners.iter().filter(|(i, _)| connected(i)).collect();
        let dgrams: Vec<&(ListenerInfo, Totals)> =
            listeners.iter().filter(|(i, _)| !connected(i)).collect();
        fn per<'a>(set: &[&'a (ListenerInfo, Totals)], f: fn(&Totals) -> u64) -> Samples<'a> {
            set.iter().map(|(i, t)| (i, None, f(t))).collect()
        }
        let all: Vec<&(ListenerInfo, Totals)> = listeners.iter().collect();
        let mut families = vec![
            Family {
                name: "echokit_connections_accepted_total",
                kind: "counter",
                help: "Connections accepted.",
                samples: per(&streams, |t| t.accepted),
            },
            Family {
                name: "echokit_connections_open",
                kind: "gauge",
                help: "Connections open now.",
                samples: per(&streams, |t| t.open),
            },
            Family {
                name: "echokit_connections_rejected_total",
                kind: "counter",
                help: "Connections closed at once, by reason (max_conns: over --max-conns).",
                samples: streams
                    .iter()
                    .map(|(i, t)| (i, Some(("reason", "max_conns")), t.rejected))
                    .collect(),
            },
            Family {
                name: "echokit_connections_completed_total",
                kind: "counter",
                help: "Connections that half-closed and got every byte back.",
                samples: per(&streams, |t| t.completed),
            },
            Family {
                name: "echokit_connections_closed_total",
                kind: "counter",
                help: "Connections closed by the server, by reason (cut_message: a message larger than --buffer-size; idle_timeout: --idle-timeout).",
                samples: streams
                    .iter()
                    .flat_map(|(i, t)| {
                        [
                            (i, Some(("reason", "cut_message")), t.closed_cut),
                            (i, Some(("reason", "idle_timeout")), t.closed_idle),
                        ]
                    })
                    .collect(),
            },
            Family {
                name: "echokit_bytes_received_total",
                kind: "counter",
                help: "Bytes received.",
                samples: per(&all, |t| t.bytes_in),
            },
            Family {
                name: "echokit_bytes_echoed_total",
                kind: "counter",
                help: "Bytes echoed back.",
                samples: per(&all, |t| t.bytes_out),
            },
            Family {
                name: "echokit_datagrams_received_total",
                kind: "counter",
                help: "Datagrams received.",
                samples: per(&dgrams, |t| t.datagrams_received),
            },
            Family {
                name: "echokit_datagrams_echoed_total",
                kind: "counter",
                help: "Datagrams echoed back whole.",
                samples: per(&dgrams, |t| t.datagrams_echoed),
            },
            Family {
                name: "echokit_datagrams_dropped_total",
                kind: "counter",
                help: "Datagrams not echoed, by reason.",
                samples: dgrams
                    .iter()
                    .flat_map(|(i, t)| {
                        DropReason::ALL
                            .iter()
                            .zip(t.dropped)
                            .map(move |(&r, n)| (i, Some(("reason", drop_label(r))), n))
                    })
                    .collect(),
            },
        ];
        let mut out = String::new();
        for family in families.drain(..) {
            family.write(&mut out);
        }
        let _ = writeln!(
            out,
            "# HELP echokit_build_info echokit's version; always 1."
        );
        let _ = writeln!(out, "# TYPE echokit_build_info gauge");
        let _ = writeln!(
            out,
            "echokit_build_info{{version=\"{}\"}} 1",
            label_value(env!("CARGO_PKG_VERSION"))
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, transport: &'static str) -> ListenerInfo {
        ListenerInfo {
            name: name.into(),
            transport,
        }
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(label_value(r#"unix:/tmp/a\b"c"#), r#"unix:/tmp/a\\b\"c"#);
        assert_eq!(label_value("a\nb"), "a\\nb");
    }

    #[test]
    fn the_page_has_the_series_of_each_kind_of_listener() {
        let udp = Totals {
            datagrams_received: 5,
            datagrams_echoed: 4,
            dropped: {
                let mut d = [0; DropReason::ALL.len()];
                d[0] = 1;
                d
            },
            bytes_in: 40,
            bytes_out: 40,
            ..Totals::default()
        };
        let tcp = Totals {
            accepted: 2,
            open: 1,
            ..Totals::default()
        };
        let page = Page.render(&[
            (info("udp:127.0.0.1:7000", "udp4"), udp),
            (info("unix:/tmp/\"x\".sock", "unix"), tcp),
        ]);
        assert!(page.contains(
            "echokit_datagrams_echoed_total{listener=\"udp:127.0.0.1:7000\",transport=\"udp4\"} 4\n"
        ), "{page}");
        assert!(page.contains(
            "echokit_datagrams_dropped_total{listener=\"udp:127.0.0.1:7000\",transport=\"udp4\",reason=\"oversize\"} 1\n"
        ), "{page}");
        assert!(page.contains(
            "echokit_connections_open{listener=\"unix:/tmp/\\\"x\\\".sock\",transport=\"unix\"} 1\n"
        ), "{page}");
        assert!(
            !page.contains("echokit_connections_accepted_total{listener=\"udp"),
            "{page}"
        );
        assert!(page.contains("# TYPE echokit_bytes_received_total counter\n"));
        assert!(page.ends_with(&format!(
            "echokit_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
    }
}
