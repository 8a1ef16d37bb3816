//! `serve`'s log: every engine event as a report — a line on stderr at its
//! verbosity, or a JSON line on stdout — in serve's own words (peer
//! addresses, pid/uid/gid of Unix peers, datagram senders). It also removes
//! the socket files once the listeners close (SPEC §4: at once on the first
//! signal, not after the drain), and tells a service manager what happens
//! ([`Readiness`]: sd_notify(3) through `notify.rs`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::engine::dgram::Sender;
use crate::engine::stream::EndReason;
use crate::engine::{Event, Observer, Peer, Stats};
use crate::output::{self, Human, Output, Report};
use crate::transport::{self, SocketAddress, SocketFileGuard};

use super::notify::Notifier;

/// The observer `serve` runs the engine with.
pub struct ServeLog {
    out: Output,
    socket_files: Mutex<Vec<SocketFileGuard>>,
    /// The service manager to tell, when NOTIFY_SOCKET names one.
    readiness: Option<Readiness>,
    /// Every worker says it drains; the log says it once.
    draining_told: AtomicBool,
    /// Lines of one kind that repeat (cut messages, refused connections).
    repeats: Mutex<Repeats>,
}

impl ServeLog {
    /// A log to `out` that removes `socket_files` when draining begins and
    /// tells `readiness`, if any, what happens.
    /// Repeated lines of one kind are told at most once per `repeat_every`.
    pub fn new(
        out: Output,
        socket_files: Vec<SocketFileGuard>,
        readiness: Option<Readiness>,
        repeat_every: Duration,
    ) -> ServeLog {
        ServeLog {
            out,
            socket_files: Mutex::new(socket_files),
            readiness,
            draining_told: AtomicBool::new(false),
            repeats: Mutex::new(Repeats::new(repeat_every)),
        }
    }

    /// Tells the counts of repeated lines not told yet: at the end, so none is lost.
    pub fn flush_repeats(&self) {
        let lines = self
            .repeats
            .lock()
            .map(|mut r| r.flush(None))
            .unwrap_or_default();
        for line in lines {
            self.out.note(&line);
        }
    }

    /// Whether the human line of `event` is one of a repeating kind held
    /// back now; the count of those held back before is told first when due.
    fn held_back(&self, event: &Event<'_>) -> bool {
        let Some((listener, kind)) = Repeat::of(event) else {
            return false;
        };
        if self.out.json || self.out.quiet || self.out.verbose < kind.level() {
            return false;
        }
        let (hold, told) = match self.repeats.lock() {
            Ok(mut r) => r.arrived(listener, kind, Instant::now()),
            Err(_) => return false,
        };
        if let Some(line) = told {
            self.out.note(&line);
        }
        hold
    }

    /// Tells the service manager, if any, that every listener is bound and
    /// its ready line printed (`READY=1`).
    pub fn ready(&self, out: &Output) {
        if let Some(readiness) = &self.readiness {
            readiness.ready(out);
        }
    }

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
        match event {
            Event::Draining { .. } => {
                self.remove_socket_files();
                if self.draining_told.swap(true, Ordering::Relaxed) {
                    return;
                }
                if let Some(readiness) = &self.readiness {
                    readiness.stopping();
                }
            }
            // A heartbeat, not news: nothing is logged but the counts of
            // repeated lines now due.
            Event::Tick { open } => {
                let now = Instant::now();
                if let Some(readiness) = &self.readiness {
                    readiness.tick(*open, now);
                }
                let due = self
                    .repeats
                    .lock()
                    .map(|mut r| r.flush(Some(now)))
                    .unwrap_or_default();
                for line in due {
                    self.out.note(&line);
                }
                return;
            }
            _ => {}
        }
        if self.held_back(event) {
            return;
        }
        self.out.report(&ServeEvent(event));
    }
}

/// A kind of log line that may come once per connection, thousands of times
/// (SPEC §4 serve: throttled like datagram drops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// A connection closed for a message larger than --buffer-size.
    CutMessage,
    /// A connection closed at once by --max-conns.
    Refused,
}

impl Repeat {
    /// The listener and kind of `event`, when it is of a repeating kind.
    fn of<'a>(event: &Event<'a>) -> Option<(&'a str, Repeat)> {
        match event {
            Event::Closed(c) if c.reason == EndReason::Truncated => {
                Some((c.listener, Repeat::CutMessage))
            }
            Event::Rejected { listener, .. } => Some((listener, Repeat::Refused)),
            _ => None,
        }
    }

    /// The verbosity its line shows at (as in [`ServeEvent::human`]).
    fn level(self) -> u8 {
        match self {
            Repeat::CutMessage => 0,
            Repeat::Refused => 1,
        }
    }

    /// The line counting `n` of them held back.
    fn count_line(self, listener: &str, n: u64) -> String {
        let s = if n == 1 { "" } else { "s" };
        match self {
            Repeat::CutMessage => format!(
                "{listener}: {n} more connection{s} closed for a message larger than --buffer-size"
            ),
            Repeat::Refused => {
                format!("{listener}: {n} more connection{s} closed at once (--max-conns reached)")
            }
        }
    }
}

/// The throttle of repeated lines: the first of a kind (per listener) at
/// once, then a count at most once per interval.
#[derive(Debug)]
struct Repeats {
    every: Duration,
    /// (listener, kind, when last told, how many held back since).
    seen: Vec<(String, Repeat, Instant, u64)>,
}

impl Repeats {
    fn new(every: Duration) -> Repeats {
        Repeats {
            every,
            seen: Vec::new(),
        }
    }

    /// One more line of `kind` on `listener` at `now`: whether to hold it
    /// back, and the count line to tell first when one is due.
    fn arrived(&mut self, listener: &str, kind: Repeat, now: Instant) -> (bool, Option<String>) {
        let every = self.every;
        match self
            .seen
            .iter_mut()
            .find(|(l, k, _, _)| l == listener && *k == kind)
        {
            None => {
                self.seen.push((listener.to_string(), kind, now, 0));
                (false, None)
            }
            Some((_, _, told, held)) if now.duration_since(*told) < every => {
                *held += 1;
                (true, None)
            }
            Some((_, _, told, held)) => {
                // Due again: the count of those held back, and this one told in full.
                let line = (*held > 0).then(|| kind.count_line(listener, *held));
                *told = now;
                *held = 0;
                (false, line)
            }
        }
    }

    /// The count lines due at `now` (every one still held, with `None`).
    fn flush(&mut self, now: Option<Instant>) -> Vec<String> {
        let every = self.every;
        let mut lines = Vec::new();
        for (listener, kind, told, held) in &mut self.seen {
            let due = now.is_none_or(|now| now.duration_since(*told) >= every);
            if *held > 0 && due {
                lines.push(kind.count_line(listener, *held));
                *held = 0;
                if let Some(now) = now {
                    *told = now;
                }
            }
        }
        lines
    }
}

/// `WATCHDOG=1` (a tick) goes out at most this often, however small
/// WATCHDOG_USEC is (SPEC §4 serve: at most 100 a second). `WATCHDOG_USEC=1`
/// made the loop spin, sending 188,196 pings in 2 s (issue 15).
pub const FASTEST_TICK: Duration = Duration::from_millis(10);

/// `STATUS=` is sent at most this often (and only when the count changed):
/// `systemctl status` stays current without a datagram per connection.
pub const STATUS_EVERY: Duration = Duration::from_secs(2);

/// What `serve` tells a service manager (SPEC §4 serve, Readiness), and when:
/// `READY=1` once the ready lines are out, `STOPPING=1` when draining begins,
/// `STATUS=` with the open connections now and then, `WATCHDOG=1` on every
/// tick of the first event loop when a watchdog is set.
pub struct Readiness {
    notifier: Notifier,
    stopping: AtomicBool,
    status: Mutex<StatusGate>,
}

impl Readiness {
    /// Readiness through `notifier`.
    pub fn new(notifier: Notifier) -> Readiness {
        Readiness {
            notifier,
            stopping: AtomicBool::new(false),
            status: Mutex::new(StatusGate::default()),
        }
    }

    /// How often the engine should tick: at half the watchdog interval, and
    /// twice as often as `STATUS=` may go out, so a change waits at most one
    /// and a half [`STATUS_EVERY`] to be told.
    pub fn tick_every(&self) -> Duration {
        let status = STATUS_EVERY / 2;
        self.notifier
            .watchdog_every()
            .map_or(status, |w| w.min(status))
            .max(FASTEST_TICK)
    }

    /// `READY=1`: every listener is bound and its ready line printed. A
    /// failure is worth a line: a `Type=notify` unit would wait for it, then
    /// kill us, with nothing in the log to say why.
    pub fn ready(&self, out: &Output) {
        if let Ok(mut gate) = self.status.lock() {
            gate.sent(Instant::now(), 0);
        }
        if let Err(e) = self.notifier.ready(&status_text("serving", 0)) {
            out.note(&format!(
                "cannot tell the service manager we are ready (NOTIFY_SOCKET): {}",
                crate::error::describe(&e)
            ));
        }
    }

    /// `STOPPING=1`, once, however many workers begin draining.
    fn stopping(&self) {
        if !self.stopping.swap(true, Ordering::AcqRel) {
            // Nothing to do about a manager that cannot hear us: we stop anyway.
            let _ = self.notifier.stopping("draining open connections");
        }
    }

    /// One tick of the first loop: `WATCHDOG=1`, and `STATUS=` when due.
    fn tick(&self, open: usize, now: Instant) {
        // A ping that cannot be sent is what the watchdog itself then notices.
        if self.notifier.watchdog_every().is_some() {
            let _ = self.notifier.watchdog();
        }
        let due = self.status.lock().is_ok_and(|mut g| g.due(now, open));
        if due {
            let state = if self.stopping.load(Ordering::Acquire) {
                "draining"
            } else {
                "serving"
            };
            let _ = self.notifier.status(&status_text(state, open));
        }
    }
}

/// `serving, 1 connection open`.
fn status_text(state: &str, open: usize) -> String {
    let plural = if open == 1 { "" } else { "s" };
    format!("{state}, {open} connection{plural} open")
}

/// When the last `STATUS=` went out and the count it said.
#[derive(Debug, Default)]
struct StatusGate {
    last: Option<(Instant, usize)>,
}

impl StatusGate {
    fn sent(&mut self, now: Instant, open: usize) {
        self.last = Some((now, open));
    }

    /// Whether a `STATUS=` saying `open` should go out now (and if so, notes it as sent).
    fn due(&mut self, now: Instant, open: usize) -> bool {
        let due = self
            .last
            .is_none_or(|(at, said)| said != open && now.duration_since(at) >= STATUS_EVERY);
        if due {
            self.sent(now, open);
        }
        due
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
                    "{}: {}{}{} bytes in, {} bytes out, {}, {}",
                    c.listener,
                    c.peer
                        .map_or(String::new(), |p| format!("{}: ", peer_text(Some(p)))),
                    c.over.map_or(String::new(), |over| format!("{over}, ")),
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
            Event::ListenerError { listener, error } => (0, listener_error(listener, error)),
            Event::Draining { open } => (
                1,
                format!("shutting down: listeners closed, {open} connections open"),
            ),
            Event::Tick { open } => (3, format!("{open} connections open")),
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
            // Never reported (see `ServeLog::event`); the words are here for completeness.
            Event::Tick { open } => json!({"event": "tick", "open": open}),
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

/// A listener's error in words; out of descriptors, with the limit, what
/// happens to the queued connections, and what to do.
fn listener_error(listener: &str, error: &std::io::Error) -> String {
    let reason = crate::error::describe(error);
    match error.raw_os_error() {
        Some(libc::EMFILE) | Some(libc::ENFILE) => {
            let limit = transport::open_files_limit().map_or("?".into(), |n| n.to_string());
            format!(
                "{listener}: cannot accept: {reason} (the open-files limit is {limit}); new \
                 connections wait in the listen queue until one closes (raise the limit with \
                 `ulimit -n` or LimitNOFILE=)"
            )
        }
        _ => format!("{listener}: {reason}"),
    }
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
    fn status_goes_out_when_the_count_changed_and_not_more_often_than_status_every() {
        let start = Instant::now();
        let mut gate = StatusGate::default();
        assert!(gate.due(start, 0), "the first is always due");
        assert!(!gate.due(start + STATUS_EVERY, 0), "same count: not again");
        assert!(
            !gate.due(start + STATUS_EVERY / 2, 3),
            "too soon after the last"
        );
        assert!(gate.due(start + STATUS_EVERY, 3));
        assert!(!gate.due(start + STATUS_EVERY + STATUS_EVERY / 2, 4));
        assert!(gate.due(start + STATUS_EVERY * 2, 4));
        assert_eq!(status_text("serving", 1), "serving, 1 connection open");
        assert_eq!(status_text("draining", 0), "draining, 0 connections open");
    }

    #[test]
    fn a_cut_message_is_logged_at_every_verbosity() {
        let event = Event::Closed(crate::engine::Closed {
            listener: "seqpacket:@x",
            peer: None,
            over: None,
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
