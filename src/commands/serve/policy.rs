//! Who `serve` serves (SPEC §4 serve): `--max-conns` across every worker,
//! `--count` echoes before draining, and `--udp-rate` per source address.
//!
//! The engine asks; this file answers. Connection counts are atomics shared
//! by the workers; the datagram rate limit is one table per worker (each
//! datagram socket belongs to one worker), so the per-datagram path takes no lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::engine::dgram::Sender;
use crate::engine::{DatagramGate, Policy};

/// `serve`'s admission policy.
#[derive(Debug, Default)]
pub struct ServePolicy {
    /// `--max-conns`: open connections at most.
    pub max_conns: Option<usize>,
    /// `--count`: exchanges echoed in full before draining.
    pub count: Option<u64>,
    /// `--udp-rate`: datagrams per second per source address.
    pub udp_rate: Option<u32>,
    open: AtomicUsize,
    completed: AtomicU64,
}

impl ServePolicy {
    /// The policy of these limits.
    pub fn new(max_conns: Option<usize>, count: Option<u64>, udp_rate: Option<u32>) -> Self {
        ServePolicy {
            max_conns,
            count,
            udp_rate,
            ..ServePolicy::default()
        }
    }
}

impl Policy for ServePolicy {
    fn admit_connection(&self) -> bool {
        let Some(max) = self.max_conns else {
            return true;
        };
        // Counted across every worker: the limit is per process.
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    fn connection_ended(&self) {
        if self.max_conns.is_some() {
            self.open.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn datagram_gate(&self) -> Option<Box<dyn DatagramGate>> {
        self.udp_rate
            .map(|limit| Box::new(RateLimiter::new(limit)) as Box<dyn DatagramGate>)
    }

    fn completed(&self) -> bool {
        match self.count {
            None => true,
            Some(limit) => self.completed.fetch_add(1, Ordering::SeqCst) + 1 < limit,
        }
    }
}

/// `--udp-rate`: at most `limit` datagrams per second from one source address,
/// counted in one-second windows. Old windows are swept so the table stays small.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    windows: HashMap<u128, (Instant, u32)>,
}

impl RateLimiter {
    /// A limiter of `limit` datagrams per second per source.
    pub fn new(limit: u32) -> RateLimiter {
        RateLimiter {
            limit,
            windows: HashMap::new(),
        }
    }
}

impl DatagramGate for RateLimiter {
    fn allow(&mut self, from: &Sender, now: Instant) -> bool {
        let entry = self.windows.entry(from.host_key()).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(1) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.limit
    }

    fn sweep(&mut self, now: Instant) {
        self.windows
            .retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(last: u8, port: u16) -> Sender {
        Sender::inet(std::net::SocketAddr::from(([127, 0, 0, last], port)))
    }

    #[test]
    fn rate_limit_per_source_address() {
        let mut limiter = RateLimiter::new(2);
        let now = Instant::now();
        assert!(limiter.allow(&inet(1, 40000), now));
        assert!(limiter.allow(&inet(1, 40001), now));
        assert!(!limiter.allow(&inet(1, 40000), now));
        assert!(limiter.allow(&inet(2, 40000), now));
        assert!(limiter.allow(&inet(1, 40000), now + Duration::from_secs(1)));
    }

    #[test]
    fn max_conns_holds_across_callers_and_frees_slots() {
        let policy = ServePolicy::new(Some(2), None, None);
        assert!(policy.admit_connection());
        assert!(policy.admit_connection());
        assert!(!policy.admit_connection());
        policy.connection_ended();
        assert!(policy.admit_connection());
    }

    #[test]
    fn count_asks_to_drain_at_the_limit() {
        let policy = ServePolicy::new(None, Some(2), None);
        assert!(policy.completed());
        assert!(!policy.completed());
    }
}
