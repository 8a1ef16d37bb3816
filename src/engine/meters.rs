//! What the loops have done, per listener, readable while they run: the
//! one set of counters behind both the stop summary ([`super::Stats`]) and
//! `serve --metrics`, so the two always agree.
//!
//! Each worker writes only its own [`WorkerMeters`] (a single writer, so a
//! plain load and store per update, no locked instruction and no cache line
//! shared between workers on the echo path); a reader sums the workers'
//! values with relaxed loads. Counters only grow; `open` goes both ways.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::dgram::DropReason;

/// One counter with a single writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n` (only the owning worker calls this).
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Takes `n` away (for gauges).
    #[inline]
    pub fn sub(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_sub(n),
            Ordering::Relaxed,
        );
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One worker's counters for one listener.
#[derive(Debug, Default)]
pub struct ListenerMeters {
    pub accepted: Counter,
    pub open: Counter,
    pub rejected: Counter,
    /// Connections that half-closed and got every byte back.
    pub completed: Counter,
    /// Connections closed for a message larger than the buffer (SOCK_SEQPACKET).
    pub closed_cut: Counter,
    pub closed_idle: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub datagrams_received: Counter,
    pub datagrams_echoed: Counter,
    /// Per [`DropReason`], in the order of [`DropReason::ALL`].
    pub dropped: [Counter; DropReason::ALL.len()],
}

impl ListenerMeters {
    /// Counts one datagram dropped for `reason`.
    pub fn drop_for(&self, reason: DropReason) {
        if let Some(i) = DropReason::ALL.iter().position(|&r| r == reason) {
            self.dropped[i].add(1);
        }
    }
}

/// One worker's counters, one entry per listener of the process (by
/// [`super::ServedSocket::id`]).
#[derive(Debug)]
pub struct WorkerMeters {
    listeners: Vec<ListenerMeters>,
    /// Writes to a listener this worker does not know land here, unread.
    spare: ListenerMeters,
}

impl WorkerMeters {
    fn new(listeners: usize) -> WorkerMeters {
        WorkerMeters {
            listeners: (0..listeners).map(|_| ListenerMeters::default()).collect(),
            spare: ListenerMeters::default(),
        }
    }

    /// The counters of listener `id`.
    #[inline]
    pub fn listener(&self, id: usize) -> &ListenerMeters {
        self.listeners.get(id).unwrap_or(&self.spare)
    }
}

/// What a listener is, for labels.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    /// Its ready line.
    pub name: String,
    /// Its transport's name in SPEC §1 (`tcp4`, `unixgram`…).
    pub transport: &'static str,
}

/// A listener's counters summed over every worker at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub accepted: u64,
    pub open: u64,
    pub rejected: u64,
    pub completed: u64,
    pub closed_cut: u64,
    pub closed_idle: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub datagrams_received: u64,
    pub datagrams_echoed: u64,
    /// Per [`DropReason`], in the order of [`DropReason::ALL`].
    pub dropped: [u64; DropReason::ALL.len()],
}

impl Totals {
    fn add(&mut self, m: &ListenerMeters) {
        self.accepted += m.accepted.get();
        self.open = self.open.wrapping_add(m.open.get());
        self.rejected += m.rejected.get();
        self.completed += m.completed.get();
        self.closed_cut += m.closed_cut.get();
        self.closed_idle += m.closed_idle.get();
        self.bytes_in += m.bytes_in.get();
        self.bytes_out += m.bytes_out.get();
        self.datagrams_received += m.datagrams_received.get();
        self.datagrams_echoed += m.datagrams_echoed.get();
        for (sum, c) in self.dropped.iter_mut().zip(&m.dropped) {
            *sum += c.get();
        }
    }

    /// Datagrams dropped for every reason.
    pub fn datagrams_dropped(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// Every worker's counters, and what each listener is.
#[derive(Debug)]
pub struct Meters {
    listeners: Vec<ListenerInfo>,
    workers: Vec<Arc<WorkerMeters>>,
}

impl Meters {
    /// Counters for `workers` loops over `listeners`.
    pub(super) fn new(listeners: Vec<ListenerInfo>, workers: usize) -> Meters {
        let n = listeners.len();
        Meters {
            listeners,
            workers: (0..workers.max(1))
                .map(|_| Arc::new(WorkerMeters::new(n)))
                .collect(),
        }
    }

    /// Worker `i`'s own counters.
    pub(super) fn worker(&self, i: usize) -> Arc<WorkerMeters> {
        Arc::clone(&self.workers[i.min(self.workers.len() - 1)])
    }

    /// Every listener with its counters summed over the workers, now.
    pub fn snapshot(&self) -> Vec<(ListenerInfo, Totals)> {
        self.listeners
            .iter()
            .enumerate()
            .map(|(id, info)| {
                let mut totals = Totals::default();
                for worker in &self.workers {
                    totals.add(worker.listener(id));
                }
                (info.clone(), totals)
            })
            .collect()
    }

    /// The stop summary's numbers: every listener summed.
    pub fn stats(&self) -> super::Stats {
        let mut stats = super::Stats::default();
        for (_, t) in self.snapshot() {
            stats.accepted += t.accepted;
            stats.completed += t.completed;
            stats.rejected += t.rejected;
            stats.datagrams_echoed += t.datagrams_echoed;
            stats.datagrams_dropped += t.datagrams_dropped();
            stats.messages_truncated += t.closed_cut;
            stats.bytes_in += t.bytes_in;
            stats.bytes_out += t.bytes_out;
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_every_worker_and_open_goes_both_ways() {
        let meters = Meters::new(
            vec![ListenerInfo {
                name: "tcp:127.0.0.1:1".into(),
                transport: "tcp4",
            }],
            2,
        );
        let (a, b) = (meters.worker(0), meters.worker(1));
        a.listener(0).accepted.add(2);
        a.listener(0).open.add(2);
        b.listener(0).accepted.add(1);
        b.listener(0).open.add(1);
        a.listener(0).open.sub(1);
        b.listener(0).drop_for(DropReason::OwnAddress);
        // A listener no worker knows: counted nowhere, never a panic.
        a.listener(7).accepted.add(1);
        let (_, t) = &meters.snapshot()[0];
        assert_eq!(t.accepted, 3);
        assert_eq!(t.open, 2);
        assert_eq!(t.datagrams_dropped(), 1);
        assert_eq!(meters.stats().accepted, 3);
    }
}
