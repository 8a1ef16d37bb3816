//! `serve`'s log: every engine event as a report — a line on stderr at its
//! verbosity, or a JSON line on stdout — in serve's own words (peer
//! addresses, pid/uid/gid of Unix peers, datagram senders). It also removes
//! the socket files once the listeners close (SPEC §4: at once on the first
//! signal, not after the drain).

use std::sync::Mutex;

use serde_json::{Value, json};

use crate::engine::dgram::Sender;
use crate::engine::stream::EndReason;
use crate::engine::{Event, Observer, Peer, Stats};
use crate::output::{self, Human, Output, Report};
use crate::transport::{SocketAddress, SocketFileGuard};

/// The observer `serve` runs the engine with.
pub struct ServeLog {
    pub out: Output,
    pub socket_files: Mutex<Vec<SocketFileGuard>>,
}

impl ServeLog {
    /// Removes the socket files this process created (again is harmless).
    pub fn remove_socket_files(&self) {
        if let Ok(mut files) = self.socket_files.lock() {
            files.clear();
        }
    }
}

impl Observer for ServeLog {
    fn details(&self) -> bool {
        self.out.json || self.out.verbose > 0
    }

    fn event(&self, event: &Event<'_>) {
        if let Event::Draining { .. } = event {
            self.remove_socket_files();
        }
        self.out.report(&ServeEvent(event));
    }
}

/// One engine event in serve's words.
struct ServeEvent<'e, 'a>(&'e Event<'a>);

impl Report for ServeEvent<'_, '_> {
    fn human(&self) -> Human {
        let (level, text) = match self.0 {
            Event::Accepted { listener, peer } => {
                (2, format!("{listener}: accepted {}", peer_text(Some(peer))))
            }
            Event::Closed(c) => (
                // SPEC §3: a cut message is logged whatever the verbosity.
                if c.reason == EndReason::Truncated {
                    0
                } else {
                    1
                },
                format!(
                    "{}: {}{} bytes in, {} bytes out, {}, {}",
                    c.listener,
                    c.peer
                        .map_or(String::new(), |p| format!("{}: ", peer_text(Some(p)))),
                    c.bytes_in,
                    c.bytes_out,
                    output::duration(c.duration),
                    c.reason
                ),
            ),
            Event::Rejected { listener, peer } => (
                1,
                format!(
                    "{listener}: {}: closed at once (--max-conns reached)",
                    peer_text(*peer)
                ),
            ),
            Event::Dropped {
                listener,
                reason,
                count,
                last_sender,
            } => {
                let plural = if *count == 1 { "" } else { "s" };
                (
                    0,
                    format!(
                        "{listener}: dropped {count} datagram{plural} (last from {}): {reason}",
                        sender_text(*last_sender)
                    ),
                )
            }
            Event::ListenerError { listener, error } => {
                (0, format!("{listener}: {}", crate::error::describe(error)))
            }
            Event::Draining { open } => (
                1,
                format!("shutting down: listeners closed, {open} connections open"),
            ),
        };
        Human::Log { level, text }
    }

    fn json(&self) -> Option<Value> {
        Some(match self.0 {
            Event::Accepted { listener, peer } => {
                json!({"event": "accepted", "listener": listener, "peer": peer_text(Some(peer))})
            }
            Event::Closed(c) => json!({
                "event": "closed",
                "listener": c.listener,
                "peer": peer_text(c.peer),
                "bytes_in": c.bytes_in,
                "bytes_out": c.bytes_out,
                "duration_ms": c.duration.as_secs_f64() * 1000.0,
                "end": c.reason.to_string(),
            }),
            Event::Rejected { listener, peer } => json!({
                "event": "rejected",
                "listener": listener,
                "peer": peer_text(*peer),
                "why": "max-conns",
            }),
            Event::Dropped {
                listener,
                reason,
                count,
                last_sender,
            } => json!({
                "event": "dropped",
                "listener": listener,
                "count": count,
                "why": reason.to_string(),
                "last_sender": sender_text(*last_sender),
            }),
            Event::ListenerError { listener, error } => json!({
                "event": "error",
                "listener": listener,
                "error": crate::error::describe(error),
            }),
            Event::Draining { open } => json!({"event": "draining", "open": open}),
        })
    }
}

/// The totals when serve has stopped.
pub struct Stopped<'a>(pub &'a Stats);

impl Report for Stopped<'_> {
    fn human(&self) -> Human {
        let s = self.0;
        Human::Log {
            level: 1,
            text: format!(
                "stopped: {} connections accepted, {} echoed in full, {} rejected, {} closed for a cut message; {} datagrams echoed, {} dropped; {} bytes in, {} bytes out",
                s.accepted,
                s.completed,
                s.rejected,
                s.messages_truncated,
                s.datagrams_echoed,
                s.datagrams_dropped,
                s.bytes_in,
                s.bytes_out
            ),
        }
    }

    fn json(&self) -> Option<Value> {
        let s = self.0;
        Some(json!({
            "event": "stopped",
            "accepted": s.accepted,
            "completed": s.completed,
            "rejected": s.rejected,
            "datagrams_echoed": s.datagrams_echoed,
            "datagrams_dropped": s.datagrams_dropped,
            "messages_truncated": s.messages_truncated,
            "bytes_in": s.bytes_in,
            "bytes_out": s.bytes_out,
        }))
    }
}

/// A peer in `serve -v` words: the address, or for Unix sockets pid/uid/gid.
fn peer_text(peer: Option<&Peer>) -> String {
    match peer {
        Some(Peer::Inet(addr)) => crate::addr::display_target(&SocketAddress::Inet(*addr)),
        Some(Peer::Unix(Some((pid, uid, gid)))) => format!("pid={pid} uid={uid} gid={gid}"),
        Some(Peer::Unix(None)) => "unix peer".to_string(),
        Some(Peer::Named(name)) => name.clone(),
        None => String::new(),
    }
}

fn sender_text(sender: Option<&Sender>) -> String {
    sender.map_or_else(|| "unknown sender".to_string(), Sender::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_peers_are_named_by_their_credentials() {
        assert_eq!(
            peer_text(Some(&Peer::Unix(Some((42, 1000, 100))))),
            "pid=42 uid=1000 gid=100"
        );
        assert_eq!(
            peer_text(Some(&Peer::Inet("[::1]:7".parse().unwrap()))),
            "[::1]:7"
        );
    }

    #[test]
    fn a_cut_message_is_logged_at_every_verbosity() {
        let event = Event::Closed(crate::engine::Closed {
            listener: "seqpacket:@x",
            peer: None,
            bytes_in: 0,
            bytes_out: 0,
            duration: std::time::Duration::ZERO,
            reason: EndReason::Truncated,
        });
        assert!(matches!(
            ServeEvent(&event).human(),
            Human::Log { level: 0, .. }
        ));
    }
}
