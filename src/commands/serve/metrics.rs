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
//! characters and lives, tested, in `commands/prometheus.rs`.

use crate::commands::prometheus::Family;
use crate::engine::MetricsPage;
use crate::engine::dgram::DropReason;
use crate::engine::meters::{ListenerInfo, Totals};

/// Renders the page from the engine's counters.
pub struct Page;

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

/// Whether a listener takes connections (by its transport's name).
fn connected(info: &ListenerInfo) -> bool {
    !matches!(info.transport, "udp4" | "udp6" | "unixgram")
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

/// The `listener` and `transport` labels, and one more when given.
fn labels<'a>(info: &'a ListenerInfo, extra: Option<(&'static str, &'a str)>) -> Labels<'a> {
    let mut l = vec![
        ("listener", info.name.as_str()),
        ("transport", info.transport),
    ];
    l.extend(extra);
    l
}

/// One sample per listener of `set`, valued by `f`.
fn per<'a>(set: &[&'a (ListenerInfo, Totals)], f: fn(&Totals) -> u64) -> Vec<(Labels<'a>, String)> {
    set.iter()
        .map(|(i, t)| (labels(i, None), f(t).to_string()))
        .collect()
}

impl MetricsPage for Page {
    fn render(&self, listeners: &[(ListenerInfo, Totals)]) -> String {
        let all: Vec<&(ListenerInfo, Totals)> = listeners.iter().collect();
        let streams: Vec<&(ListenerInfo, Totals)> =
            listeners.iter().filter(|(i, _)| connected(i)).collect();
        let dgrams: Vec<&(ListenerInfo, Totals)> =
            listeners.iter().filter(|(i, _)| !connected(i)).collect();
        let families = [
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
                    .map(|(i, t)| {
                        (
                            labels(i, Some(("reason", "max_conns"))),
                            t.rejected.to_string(),
                        )
                    })
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
                            (
                                labels(i, Some(("reason", "cut_message"))),
                                t.closed_cut.to_string(),
                            ),
                            (
                                labels(i, Some(("reason", "idle_timeout"))),
                                t.closed_idle.to_string(),
                            ),
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
                        DropReason::ALL.iter().zip(t.dropped).map(move |(&r, n)| {
                            (labels(i, Some(("reason", drop_label(r)))), n.to_string())
                        })
                    })
                    .collect(),
            },
            Family {
                name: "echokit_build_info",
                kind: "gauge",
                help: "echokit's version; always 1.",
                samples: vec![(vec![("version", env!("CARGO_PKG_VERSION"))], "1".into())],
            },
        ];
        crate::commands::prometheus::render(&families)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::prometheus::label_value;

    fn info(name: &str, transport: &'static str) -> ListenerInfo {
        ListenerInfo {
            name: name.into(),
            transport,
        }
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
            label_value(env!("CARGO_PKG_VERSION"))
        )));
    }
}
