//! The load generator behind `bench`: many connections on `mio` event loops
//! (one per `--threads`), each connection sending a request, reading every
//! byte of it back, checking it, and sending again.
//!
//! Closed loop: the next request leaves as soon as the last one is back.
//! Open loop (`rate`): requests are due on a fixed schedule and latency counts
//! from when a request was *due*, not when it could be sent, so a server that
//! stalls cannot hide the wait behind a client that waited with it
//! (coordinated omission). Churn: every request on a new connection, so the
//! figure is connections per second. Bulk: no requests, each connection
//! writes a position-dependent pattern as fast as the server takes it and
//! checks what comes back against the same pattern.
//!
//! This file runs the threads and adds up their reports; each thread's event
//! loop is `load/event_loop.rs` (ping-pong and churn), its bulk moves
//! `load/bulk.rs`. It uses the same non-blocking moves as the echo server and the same
//! `Verifier` as `send` (`crate::engine::stream`), gets its sockets from
//! the transport layer, spreads TCP connections to a 127.x server over the
//! loopback source addresses the platform has, and never prints: progress
//! goes to a callback, and the report says how busy the client's own busiest
//! thread was, so a reader knows when a figure is the client's limit.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::transport::{Kind, SocketAddress};

mod bulk;
mod event_loop;

use event_loop::Load;

/// How often progress is reported and request timeouts are looked for.
const TICK: Duration = Duration::from_millis(100);

/// A client thread using at least this share of the run's time on CPU is
/// said to have been saturated.
pub const SATURATED: f64 = 0.9;

/// What each connection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Requests on long-lived connections.
    PingPong,
    /// Every request on a new connection.
    Churn,
    /// A continuous stream each way per connection.
    Bulk,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub workload: Workload,
    pub kind: Kind,
    pub connections: u32,
    /// Bytes per request; bulk: bytes per write.
    pub size: usize,
    pub duration: Duration,
    /// Open loop: requests per second in total.
    pub rate: Option<u64>,
    pub timeout: Duration,
    pub max_requests: Option<u64>,
    pub buffer_size: usize,
    /// Client threads, each with its own event loop and share of the connections.
    pub threads: u16,
}

/// Counters as the run goes, for a progress line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub requests: u64,
    /// Bytes echoed back and checked.
    pub bytes: u64,
    pub errors: u64,
    pub mismatches: u64,
    pub elapsed: Duration,
}

/// The result of a run.
/// What a run counted: the part of a report that adds up across threads,
/// runs and shards (`bench merge`).
#[derive(Debug, Clone)]
pub struct Tally {
    pub requests: u64,
    /// Bytes echoed back and checked (ping-pong and churn: `requests × size`).
    pub bytes: u64,
    pub errors: u64,
    pub mismatches: u64,
    /// Requests sent less than `--timeout` before the end and not back yet
    /// (bulk: bytes written and not back yet): neither done nor failed.
    pub in_flight: u64,
    /// Round-trip latency in nanoseconds (empty for bulk).
    pub latency: Histogram<u64>,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
}

impl Tally {
    /// Adds `other` in: counts sum, histograms add, the first error seen stays.
    pub fn add(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.mismatches += other.mismatches;
        self.in_flight += other.in_flight;
        // Both come from bench (same bounds, 3 significant digits); `add`
        // grows the range if another build recorded more.
        let _ = self.latency.add(&other.latency);
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

/// The busier of two client CPU shares, where either is known.
pub fn busiest(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[derive(Debug)]
pub struct LoadReport {
    pub tally: Tally,
    pub elapsed: Duration,
    /// The busiest client thread's CPU time as a share of the run, where the
    /// platform can tell a thread's CPU time (Linux).
    pub busiest_thread_cpu: Option<f64>,
}

/// One thread's part of the run.
#[derive(Debug, Clone, Copy)]
struct Share {
    /// The global index of its first connection (for the open-loop schedule
    /// and the source addresses).
    first: usize,
    count: usize,
    max_requests: Option<u64>,
}

/// Counts every thread adds to as it goes, for the progress line.
#[derive(Default)]
struct Shared {
    requests: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    mismatches: AtomicU64,
}

/// Runs the load against `target` until the duration or request count is
/// reached, over `config.threads` threads that start their clocks together
/// once every connection is open.
pub fn run(
    target: &SocketAddress,
    config: &LoadConfig,
    progress: &mut dyn FnMut(Progress),
) -> io::Result<LoadReport> {
    let threads = usize::from(config.threads.max(1)).min(config.connections.max(1) as usize);
    let shares = shares(config, threads);
    let shared = Shared::default();
    let gate = StartGate::default();
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let mut spawned = 0;
        let mut results = Vec::with_capacity(threads);
        for share in shares {
            let (thread_tx, shared, gate) = (tx.clone(), &shared, &gate);
            let thread = std::thread::Builder::new()
                .name("echokit-bench".into())
                .spawn_scoped(scope, move || {
                    let result = run_share(target, config, share, shared, gate, &thread_tx);
                    let _ = thread_tx.send(Message::Done(result));
                });
            match thread {
                Ok(_) => spawned += 1,
                Err(e) => results.push(Err(e)),
            }
        }
        drop(tx);
        // Every thread opens its connections first; the clocks start together.
        let mut opened = 0;
        while opened < spawned {
            match rx.recv() {
                Ok(Message::Opened) => opened += 1,
                Ok(Message::Done(result)) => {
                    // It could not open one connection: nothing to wait for.
                    results.push(result);
                    spawned -= 1;
                }
                Err(_) => break,
            }
        }
        gate.open();
        while results.len() < threads {
            match rx.recv_timeout(TICK) {
                Ok(Message::Done(result)) => results.push(result),
                Ok(Message::Opened) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => progress(Progress {
                    requests: shared.requests.load(Ordering::Relaxed),
                    bytes: shared.bytes.load(Ordering::Relaxed),
                    errors: shared.errors.load(Ordering::Relaxed),
                    mismatches: shared.mismatches.load(Ordering::Relaxed),
                    elapsed: started.elapsed(),
                }),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        merge(results)
    })
}

/// What a client thread tells the one that started it.
enum Message {
    /// Its connections are open (or it could open none): it waits at the gate.
    Opened,
    /// Its run is over.
    Done(io::Result<LoadReport>),
}

/// Holds every client thread until all have opened their connections.
#[derive(Default)]
struct StartGate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl StartGate {
    fn open(&self) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.opened.notify_all();
    }

    fn wait(&self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = self.opened.wait(open).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Splits the connections (and a request limit) as evenly as they go.
fn shares(config: &LoadConfig, threads: usize) -> Vec<Share> {
    let n = config.connections as usize;
    let mut first = 0;
    (0..threads)
        .map(|t| {
            let count = n / threads + usize::from(t < n % threads);
            let max_requests = config.max_requests.map(|m| {
                let t = t as u64;
                let threads = threads as u64;
                m / threads + u64::from(t < m % threads)
            });
            let share = Share {
                first,
                count,
                max_requests,
            };
            first += count;
            share
        })
        .collect()
}

/// One thread: opens its connections, says so, waits for the others, runs.
fn run_share(
    target: &SocketAddress,
    config: &LoadConfig,
    share: Share,
    shared: &Shared,
    gate: &StartGate,
    tx: &mpsc::Sender<Message>,
) -> io::Result<LoadReport> {
    set_timer_slack_to_one_nanosecond();
    let load = Load::new(target, config, share, shared);
    let mut load = load?;
    let _ = tx.send(Message::Opened);
    gate.wait();
    let cpu_before = thread_cpu_time();
    let start = Instant::now();
    load.run(start)?;
    let elapsed = start.elapsed();
    let busiest_thread_cpu = match (cpu_before, thread_cpu_time()) {
        (Some(a), Some(b)) => Some((b - a).as_secs_f64() / elapsed.as_secs_f64().max(1e-9)),
        _ => None,
    };
    let mut report = load.finish(elapsed);
    report.busiest_thread_cpu = busiest_thread_cpu;
    Ok(report)
}

/// One report from every thread's: counts add, histograms add, the run
/// lasted as long as the longest thread. Fails only when no thread could
/// open a single connection.
fn merge(results: Vec<io::Result<LoadReport>>) -> io::Result<LoadReport> {
    let mut merged: Option<LoadReport> = None;
    let mut failed = Vec::new();
    for result in results {
        match (result, merged.as_mut()) {
            (Err(e), _) => failed.push(e),
            (Ok(r), None) => merged = Some(r),
            (Ok(r), Some(m)) => {
                m.tally.add(&r.tally);
                m.elapsed = m.elapsed.max(r.elapsed);
                m.busiest_thread_cpu = busiest(m.busiest_thread_cpu, r.busiest_thread_cpu);
            }
        }
    }
    let mut failed = failed.into_iter();
    match merged {
        None => Err(failed
            .next()
            .unwrap_or_else(|| io::Error::other("no client thread could start"))),
        Some(mut m) => {
            // A thread that could not open one connection: its share are errors.
            for e in failed {
                m.tally.errors += 1;
                m.tally
                    .first_error
                    .get_or_insert_with(|| crate::error::describe(&e));
            }
            Ok(m)
        }
    }
}

/// Linux lets a sleeping thread wake up to 50us late by default (timer
/// slack), which would skew an open-loop schedule: this thread's is 1ns
/// (PR_SET_TIMERSLACK), as C load generators that keep an open-loop
/// schedule do (the one benches/compare.sh measures against, for one).
#[cfg(echokit_linux)]
fn set_timer_slack_to_one_nanosecond() {
    let _ = nix::sys::prctl::set_timerslack(1);
}

/// No timer slack to set elsewhere.
#[cfg(not(echokit_linux))]
fn set_timer_slack_to_one_nanosecond() {}

/// This thread's CPU time (user + system), where the platform says.
#[cfg(echokit_linux)]
fn thread_cpu_time() -> Option<Duration> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_THREAD).ok()?;
    let micros = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    Some(micros(usage.user_time()) + micros(usage.system_time()))
}

/// macOS and the BSDs have no RUSAGE_THREAD: the report leaves the client's CPU out.
#[cfg(not(echokit_linux))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(connections: u32, threads: u16, max_requests: Option<u64>) -> LoadConfig {
        LoadConfig {
            workload: Workload::PingPong,
            kind: Kind::STREAM,
            connections,
            size: 64,
            duration: Duration::from_secs(1),
            rate: None,
            timeout: Duration::from_secs(1),
            max_requests,
            buffer_size: 1024,
            threads,
        }
    }

    #[test]
    fn shares_split_connections_and_requests_evenly() {
        let s = shares(&config(10, 3, Some(7)), 3);
        let counts: Vec<_> = s.iter().map(|s| s.count).collect();
        let firsts: Vec<_> = s.iter().map(|s| s.first).collect();
        let limits: Vec<_> = s.iter().map(|s| s.max_requests).collect();
        assert_eq!(counts, [4, 3, 3]);
        assert_eq!(firsts, [0, 4, 7]);
        assert_eq!(limits, [Some(3), Some(2), Some(2)]);
        assert!(
            shares(&config(10, 3, None), 3)
                .iter()
                .all(|s| s.max_requests.is_none())
        );
    }
}
