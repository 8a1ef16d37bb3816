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
//! It uses the same non-blocking moves as the echo server and the same
//! [`Verifier`] as `send` (`crate::engine::stream`), gets its sockets from
//! the transport layer, spreads TCP connections to a 127.x server over the
//! loopback source addresses the platform has, and never prints: progress
//! goes to a callback, and the report says how busy the client's own busiest
//! thread was, so a reader knows when a figure is the client's limit.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::Socket;

use crate::engine::stream::{ReadOutcome, Verifier, read_message, read_some, write_some};
use crate::transport;
use crate::transport::{SocketAddress, SocketType};

/// How often progress is reported and request timeouts are looked for.
const TICK: Duration = Duration::from_millis(100);

/// Bulk: at most this many bytes written and not yet back, per connection.
const BULK_WINDOW: u64 = 64 << 20;

/// Bulk: the pattern repeats every this many bytes (a prime, so it never
/// lines up with a write or read size).
const PATTERN_PERIOD: usize = 65_521;

/// Bulk: write-and-read rounds on one connection before the others get a turn.
const BULK_ROUNDS: usize = 4;

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
    pub socket_type: SocketType,
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
#[derive(Debug)]
pub struct LoadReport {
    pub requests: u64,
    /// Bytes echoed back and checked (ping-pong and churn: `requests × size`).
    pub bytes: u64,
    pub errors: u64,
    pub mismatches: u64,
    pub elapsed: Duration,
    /// Round-trip latency in nanoseconds (empty for bulk).
    pub latency: Histogram<u64>,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
    /// The busiest client thread's CPU time as a share of the run, where the
    /// platform can tell a thread's CPU time (Linux).
    pub busiest_thread_cpu: Option<f64>,
}

struct LoadConn {
    socket: Option<Socket>,
    /// Bytes of the current request written.
    written: usize,
    /// What was written and has not come back yet: the verifier `send` uses.
    verifier: Verifier,
    in_flight: bool,
    /// When the current request was due (open loop) or sent (closed loop).
    started: Instant,
    /// When it really left (bulk: when a byte last came back), for the timeout.
    sent: Instant,
    /// Open loop: when the next request is due.
    next_due: Instant,
    /// Bulk: bytes of the pattern written and read back on this connection.
    bulk_written: u64,
    bulk_read: u64,
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
                m.requests += r.requests;
                m.bytes += r.bytes;
                m.errors += r.errors;
                m.mismatches += r.mismatches;
                m.elapsed = m.elapsed.max(r.elapsed);
                let _ = m.latency.add(&r.latency);
                if m.first_error.is_none() {
                    m.first_error = r.first_error;
                }
                m.busiest_thread_cpu = match (m.busiest_thread_cpu, r.busiest_thread_cpu) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
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
                m.errors += 1;
                m.first_error
                    .get_or_insert_with(|| crate::error::describe(&e));
            }
            Ok(m)
        }
    }
}

/// Linux lets a sleeping thread wake up to 50us late by default (timer
/// slack), which would skew an open-loop schedule: this thread's is 1ns
/// (PR_SET_TIMERSLACK), as `../shared/peers/loadgen.c` does.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_timer_slack_to_one_nanosecond() {
    let _ = nix::sys::prctl::set_timerslack(1);
}

/// No timer slack to set elsewhere.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_timer_slack_to_one_nanosecond() {}

/// This thread's CPU time (user + system), where the platform says.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn thread_cpu_time() -> Option<Duration> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_THREAD).ok()?;
    let micros = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    Some(micros(usage.user_time()) + micros(usage.system_time()))
}

/// macOS and the BSDs have no RUSAGE_THREAD: the report leaves the client's CPU out.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

/// The state of one thread's run: its connections, their schedule, and the counts.
struct Load<'a> {
    poll: Poll,
    target: &'a SocketAddress,
    config: &'a LoadConfig,
    share: Share,
    shared: &'a Shared,
    /// Counts already added to `shared`.
    published: Progress,
    payload: Vec<u8>,
    /// Bulk: the pattern, one period plus enough to slice any read or write from.
    pattern: Vec<u8>,
    buf: Vec<u8>,
    latency: Histogram<u64>,
    report: Progress,
    first_error: Option<String>,
    conns: Vec<LoadConn>,
    /// Open loop: (when due, connection), earliest first.
    due: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Open loop: each connection's share of the rate.
    interval: Option<Duration>,
    /// Bulk: connections whose turn was cut short, to come back to at once.
    deferred: Vec<usize>,
    /// Connections opened so far, for picking each one's source address.
    opened: usize,
    /// Requests begun (`--requests` counts these, so none is sent past it).
    issued: u64,
}

impl<'a> Load<'a> {
    /// Opens every connection of `share`; fails only when not one could be made.
    fn new(
        target: &'a SocketAddress,
        config: &'a LoadConfig,
        share: Share,
        shared: &'a Shared,
    ) -> io::Result<Load<'a>> {
        let now = Instant::now();
        let interval = config.rate.map(|rate| {
            Duration::from_secs_f64(f64::from(config.connections) / rate.max(1) as f64)
        });
        let bulk = config.workload == Workload::Bulk;
        let read_size = config.buffer_size.max(config.size + 1);
        let mut load = Load {
            poll: Poll::new()?,
            target,
            config,
            share,
            shared,
            published: Progress::default(),
            payload: if bulk {
                Vec::new()
            } else {
                pattern(config.size)
            },
            pattern: if bulk {
                bulk_pattern(PATTERN_PERIOD + read_size.max(config.size))
            } else {
                Vec::new()
            },
            buf: vec![0u8; read_size],
            latency: Histogram::<u64>::new_with_bounds(1_000, 3_600_000_000_000, 3)
                .map_err(io::Error::other)?,
            report: Progress::default(),
            first_error: None,
            conns: Vec::with_capacity(share.count),
            due: BinaryHeap::new(),
            interval,
            deferred: Vec::new(),
            opened: share.first,
            issued: 0,
        };
        let mut connect_error = None;
        for i in 0..share.count {
            load.conns.push(LoadConn {
                socket: None,
                written: 0,
                verifier: Verifier::default(),
                in_flight: false,
                started: now,
                sent: now,
                next_due: now,
                bulk_written: 0,
                bulk_read: 0,
            });
            // The first connections wait for their handshake, so that a server
            // that is not there is an answer (exit 3 or 4), not a stream of errors.
            if let Err(e) = load.open(i, true) {
                load.fail(crate::error::describe(&e));
                connect_error.get_or_insert(e);
            }
        }
        if load.conns.iter().all(|c| c.socket.is_none()) {
            // Not one connection: the system's reason is the answer (exit 3 or 4).
            return Err(
                connect_error.unwrap_or_else(|| io::Error::other("no connection could be made"))
            );
        }
        Ok(load)
    }

    /// The event loop, until the duration or this thread's request limit.
    fn run(&mut self, start: Instant) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let end = start + self.config.duration;
        self.start(start);
        let mut next_tick = start + TICK;
        loop {
            let now = Instant::now();
            if now >= end || self.done() {
                break;
            }
            self.start_due(now);
            let mut wake = end.min(next_tick);
            if let Some(Reverse((at, _))) = self.due.peek() {
                wake = wake.min(*at);
            }
            // epoll_wait sleeps in whole milliseconds: for an open-loop schedule
            // that would add up to 1ms of lateness to every request, so the last
            // millisecond before a due request is spent polling without sleeping.
            let mut wait = wake.saturating_duration_since(now);
            if self.interval.is_some() {
                wait = wait.saturating_sub(Duration::from_millis(1));
            }
            if !self.deferred.is_empty() {
                wait = Duration::ZERO;
            }
            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                self.ready(event.token().0, end);
            }
            for i in std::mem::take(&mut self.deferred) {
                self.ready(i, end);
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                self.publish();
                self.expire(now);
            }
        }
        self.publish();
        Ok(())
    }

    /// Adds what this thread counted since the last time to the shared counts.
    fn publish(&mut self) {
        let (now, then, shared) = (self.report, self.published, self.shared);
        shared
            .requests
            .fetch_add(now.requests - then.requests, Ordering::Relaxed);
        shared
            .bytes
            .fetch_add(now.bytes - then.bytes, Ordering::Relaxed);
        shared
            .errors
            .fetch_add(now.errors - then.errors, Ordering::Relaxed);
        shared
            .mismatches
            .fetch_add(now.mismatches - then.mismatches, Ordering::Relaxed);
        self.published = now;
    }

    /// Starts the clock: closed loop sends on every connection, open loop
    /// spreads the first requests over one interval, bulk starts writing.
    fn start(&mut self, start: Instant) {
        let n = self.config.connections as usize;
        for i in 0..self.conns.len() {
            match self.interval {
                Some(iv) => {
                    let global = self.share.first + i;
                    self.conns[i].next_due = start + iv.mul_f64(global as f64 / n as f64);
                    self.due.push(Reverse((self.conns[i].next_due, i)));
                }
                None if self.conns[i].socket.is_some() => self.begin(i, start),
                None => {}
            }
        }
    }

    /// Every request this thread may send has been sent (`--requests`).
    fn enough(&self) -> bool {
        self.share.max_requests.is_some_and(|m| self.issued >= m)
    }

    /// Every request this thread may send has been sent and has come back
    /// (or failed): the run is over before its duration.
    fn done(&self) -> bool {
        self.enough() && self.conns.iter().all(|c| !c.in_flight)
    }

    fn fail(&mut self, reason: String) {
        self.report.errors += 1;
        self.first_error.get_or_insert(reason);
    }

    /// The source address for the next connection: TCP to a 127.x server is
    /// spread over the loopback addresses the platform answers on.
    fn next_source(&mut self) -> Option<IpAddr> {
        let k = self.opened;
        self.opened += 1;
        let sources = transport::platform::LOOPBACK_SOURCES;
        match self.target {
            SocketAddress::Inet(a)
                if sources > 1
                    && self.config.socket_type.accepts_connections()
                    && matches!(a.ip(), IpAddr::V4(ip) if ip.is_loopback()) =>
            {
                let host = 1 + (k % usize::from(sources)) as u8;
                Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)))
            }
            _ => None,
        }
    }

    /// Opens connection `i`: waiting for the handshake, or (`wait` false)
    /// only starting it, the first write waiting for the socket to be writable.
    fn open(&mut self, i: usize, wait: bool) -> io::Result<()> {
        let source = self.next_source();
        let (socket_type, target) = (self.config.socket_type, self.target);
        let c = if wait {
            transport::connect_from(socket_type, target, Some(self.config.timeout), source)?
        } else {
            transport::start_connect(socket_type, target, source)?
        };
        if matches!(self.target, SocketAddress::Inet(_)) && socket_type.accepts_connections() {
            c.socket.set_tcp_nodelay(true)?;
        }
        self.poll.registry().register(
            &mut SourceFd(&c.socket.as_raw_fd()),
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let conn = &mut self.conns[i];
        conn.socket = Some(c.socket);
        conn.in_flight = false;
        conn.written = 0;
        conn.verifier.restart();
        conn.bulk_written = 0;
        conn.bulk_read = 0;
        Ok(())
    }

    fn close(&mut self, i: usize) {
        let conn = &mut self.conns[i];
        if let Some(socket) = conn.socket.take() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&socket.as_raw_fd()));
        }
        conn.in_flight = false;
    }

    /// Closes connection `i` and opens a new one in its place, back on its
    /// schedule. Churn does this after every request, without waiting for
    /// the handshake; a broken connection's replacement waits for it.
    fn replace(&mut self, i: usize, now: Instant) {
        self.close(i);
        let churn = self.config.workload == Workload::Churn;
        if let Err(e) = self.open(i, !churn) {
            self.fail(crate::error::describe(&e));
            return;
        }
        match self.interval {
            None => self.begin(i, now),
            Some(_) => {
                let at = self.conns[i].next_due.max(now);
                self.due.push(Reverse((at, i)));
            }
        }
    }

    /// Starts a request on connection `i` that counts from `started`, unless
    /// the request limit is reached.
    fn begin(&mut self, i: usize, started: Instant) {
        if self.enough() {
            return;
        }
        self.issued += 1;
        let conn = &mut self.conns[i];
        conn.in_flight = true;
        conn.started = started;
        conn.sent = Instant::now();
        conn.written = 0;
        conn.verifier.restart();
        let result = if self.config.workload == Workload::Bulk {
            self.bulk(i).map(|_| ())
        } else {
            self.push(i)
        };
        if let Err(e) = result {
            self.fail(crate::error::describe(&e));
        }
    }

    /// Open loop: sends connection `i`'s due request, counting from when it
    /// was due, and puts its next one on the schedule.
    fn begin_scheduled(&mut self, i: usize) {
        let scheduled = self.conns[i].next_due;
        self.begin(i, scheduled);
        self.conns[i].next_due = scheduled + self.interval.unwrap_or_default();
        self.due.push(Reverse((self.conns[i].next_due, i)));
    }

    /// Open loop: starts every request that is due on an idle connection. One
    /// still waiting on its last reply goes as soon as that is back ([`Load::ready`]).
    fn start_due(&mut self, now: Instant) {
        while let Some(Reverse((at, i))) = self.due.peek().copied() {
            if at > now {
                break;
            }
            self.due.pop();
            let conn = &self.conns[i];
            if conn.socket.is_some() && !conn.in_flight {
                self.begin_scheduled(i);
            }
        }
    }

    /// Handles readiness on connection `i`.
    fn ready(&mut self, i: usize, end: Instant) {
        if i >= self.conns.len() {
            return;
        }
        let outcome = if self.config.workload == Workload::Bulk {
            self.drive_bulk(i)
        } else {
            self.drive(i)
        };
        match outcome {
            Some(true) if self.config.workload == Workload::Churn => {
                // Every request on a new connection: this one is done.
                let now = Instant::now();
                if now < end && !self.enough() {
                    self.replace(i, now);
                } else {
                    self.close(i);
                }
            }
            Some(true) if self.interval.is_some() => {
                // Open loop: the reply came back; is the next request already due?
                if self.conns[i].next_due <= Instant::now() {
                    self.begin_scheduled(i);
                }
            }
            Some(_) => {}
            None => {
                // The connection broke: replace it while the run lasts.
                let now = Instant::now();
                if now < end {
                    self.replace(i, now);
                } else {
                    self.close(i);
                }
            }
        }
    }

    /// Requests with no answer for the timeout (bulk: no byte back for
    /// that long) are errors; their connection is replaced.
    fn expire(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let conn = &self.conns[i];
            if conn.in_flight && now.duration_since(conn.sent) >= self.config.timeout {
                self.fail("a request timed out".to_string());
                self.replace(i, now);
            }
        }
    }

    /// Writes the rest of connection `i`'s current request.
    fn push(&mut self, i: usize) -> io::Result<()> {
        let conn = &mut self.conns[i];
        let Some(socket) = &conn.socket else {
            return Ok(());
        };
        if conn.written < self.payload.len() {
            if self.config.socket_type.keeps_boundaries() {
                // One request is one datagram or message: sent whole or not yet.
                match socket.send(&self.payload) {
                    Ok(_) => {
                        conn.verifier.sent(&self.payload);
                        conn.written = self.payload.len();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.raw_os_error() == Some(nix::libc::ENOTCONN) => {}
                    Err(e) => return Err(e),
                }
            } else {
                let n = write_some(socket, &self.payload[conn.written..])?;
                conn.verifier
                    .sent(&self.payload[conn.written..conn.written + n]);
                conn.written += n;
            }
        }
        Ok(())
    }

    /// Writes what is pending and reads every echo that has come back on
    /// connection `i`. `Some(true)`: a request completed; `Some(false)`:
    /// nothing completed; `None`: the connection broke.
    fn drive(&mut self, i: usize) -> Option<bool> {
        if self.conns[i].in_flight {
            if let Err(e) = self.push(i) {
                self.fail(crate::error::describe(&e));
                return None;
            }
        }
        loop {
            let conn = &mut self.conns[i];
            let socket = conn.socket.as_ref()?;
            // A connected datagram socket reads one whole datagram per read (cut to
            // the buffer, which is larger than a request so a longer reply shows).
            let boundaries = self.config.socket_type.keeps_boundaries();
            let read = if boundaries {
                read_message(socket, &mut self.buf)
            } else {
                read_some(socket, &mut self.buf)
            };
            let n = match read {
                Ok(ReadOutcome::Data(n)) => n,
                Ok(ReadOutcome::WouldBlock) => return Some(false),
                // An empty datagram; on a connection, EOF.
                Ok(ReadOutcome::Eof) if !self.config.socket_type.accepts_connections() => 0,
                Ok(ReadOutcome::Eof) => {
                    self.fail("the server closed a connection".into());
                    return None;
                }
                Err(e) => {
                    self.fail(crate::error::describe(&e));
                    return None;
                }
            };
            // A datagram or message comes back whole or it is wrong; bytes of a
            // stream are checked as they come, as `send` checks them.
            let whole = !boundaries || n == self.payload.len();
            let echoed = conn.in_flight && whole && conn.verifier.received(&self.buf[..n]).is_ok();
            if !echoed {
                self.report.mismatches += 1;
                self.first_error
                    .get_or_insert_with(|| "an echo differed from the request".to_string());
                if self.config.socket_type.accepts_connections() {
                    return None;
                }
                continue;
            }
            if conn.written == self.payload.len() && conn.verifier.complete() {
                let now = Instant::now();
                let nanos = now.duration_since(conn.started).as_nanos();
                let _ = self
                    .latency
                    .record(nanos.clamp(1_000, 3_600_000_000_000) as u64);
                self.report.requests += 1;
                self.report.bytes += self.payload.len() as u64;
                conn.in_flight = false;
                if self.interval.is_none() && self.config.workload == Workload::PingPong {
                    self.begin(i, now);
                }
                // Every byte of the request is back and nothing more was asked
                // for before it: the socket is empty, and the next reply raises
                // a new edge. The read that could only say EAGAIN is skipped.
                return Some(true);
            }
        }
    }

    /// Bulk on connection `i`: writes while the window has room, reads and
    /// checks what came back, until the socket says EAGAIN both ways (or the
    /// turn's rounds are used up: then it comes back next turn).
    fn drive_bulk(&mut self, i: usize) -> Option<bool> {
        match self.bulk(i) {
            Ok(true) => Some(false),
            Ok(false) => None,
            Err(e) => {
                self.fail(crate::error::describe(&e));
                None
            }
        }
    }

    /// The moves of [`Load::drive_bulk`]: `Ok(false)` when the connection
    /// must be replaced (EOF, or bytes that differ).
    fn bulk(&mut self, i: usize) -> io::Result<bool> {
        let size = self.config.size as u64;
        for _ in 0..BULK_ROUNDS {
            let conn = &mut self.conns[i];
            let Some(socket) = &conn.socket else {
                return Ok(true);
            };
            let mut wrote = 0;
            let mut write_blocked = false;
            while conn.bulk_written - conn.bulk_read < BULK_WINDOW {
                let room = BULK_WINDOW - (conn.bulk_written - conn.bulk_read);
                let n = size.min(room) as usize;
                let at = (conn.bulk_written % PATTERN_PERIOD as u64) as usize;
                let done = match write_some(socket, &self.pattern[at..at + n]) {
                    Err(e) if e.raw_os_error() == Some(nix::libc::ENOTCONN) => 0,
                    other => other?,
                };
                conn.bulk_written += done as u64;
                wrote += done;
                if done < n {
                    write_blocked = true;
                    break;
                }
            }
            let mut read = 0;
            loop {
                let n = match read_some(socket, &mut self.buf)? {
                    ReadOutcome::Data(n) => n,
                    ReadOutcome::WouldBlock => break,
                    ReadOutcome::Eof => {
                        self.fail("the server closed a connection".into());
                        return Ok(false);
                    }
                };
                let at = (conn.bulk_read % PATTERN_PERIOD as u64) as usize;
                let expected = &self.pattern[at..at + n];
                if conn.bulk_read + n as u64 > conn.bulk_written || self.buf[..n] != *expected {
                    self.report.mismatches += 1;
                    let offset = conn.bulk_read;
                    self.first_error.get_or_insert_with(|| {
                        format!("the echo differed from what was sent, at or after byte {offset}")
                    });
                    return Ok(false);
                }
                conn.bulk_read += n as u64;
                self.report.bytes += n as u64;
                read += n;
            }
            if read > 0 {
                conn.sent = Instant::now();
            }
            // Both ways said EAGAIN, or nothing moved: wait for the next edge.
            if (write_blocked || wrote == 0) && read == 0 {
                return Ok(true);
            }
            if write_blocked && conn.bulk_written - conn.bulk_read >= BULK_WINDOW {
                return Ok(true);
            }
        }
        self.deferred.push(i);
        Ok(true)
    }

    fn finish(mut self, elapsed: Duration) -> LoadReport {
        for i in 0..self.conns.len() {
            self.close(i);
        }
        LoadReport {
            requests: self.report.requests,
            bytes: self.report.bytes,
            errors: self.report.errors,
            mismatches: self.report.mismatches,
            elapsed,
            latency: self.latency,
            first_error: self.first_error,
            busiest_thread_cpu: None,
        }
    }
}

/// `len` bytes of the request pattern.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'A' + (i % 58) as u8).collect()
}

/// `len` bytes of the bulk pattern: the byte at stream offset `o` is
/// `pattern[o % PATTERN_PERIOD]`, and the bytes past one period repeat its
/// start, so any read or write is one slice. Bytes echoed from the wrong
/// place in the stream differ.
fn bulk_pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % PATTERN_PERIOD) as u32).wrapping_mul(2_654_435_761) >> 13)
        .map(|x| x as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(connections: u32, threads: u16, max_requests: Option<u64>) -> LoadConfig {
        LoadConfig {
            workload: Workload::PingPong,
            socket_type: SocketType::Stream,
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

    #[test]
    fn the_bulk_pattern_repeats_its_period_and_nothing_shorter() {
        let p = bulk_pattern(PATTERN_PERIOD + 70_000);
        assert_eq!(p[..70_000], p[PATTERN_PERIOD..PATTERN_PERIOD + 70_000]);
        for shift in [1, 58, 64, 4096, 65_536] {
            assert_ne!(
                p[..64],
                p[shift..shift + 64],
                "a shift of {shift} bytes would pass"
            );
        }
    }
}
