//! The load generator behind `bench`: many connections on one `mio` loop,
//! each sending a request, reading every byte of it back, checking it, and
//! sending again.
//!
//! Closed loop: the next request leaves as soon as the last one is back.
//! Open loop (`rate`): requests are due on a fixed schedule and latency counts
//! from when a request was *due*, not when it could be sent, so a server that
//! stalls cannot hide the wait behind a client that waited with it
//! (coordinated omission). It uses the same non-blocking moves as the echo
//! server and the same [`Verifier`] as `send` (`crate::engine::stream`),
//! gets its sockets from the transport layer, and never prints: progress
//! goes to a callback.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::AsRawFd;
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

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub socket_type: SocketType,
    pub connections: u32,
    pub size: usize,
    pub duration: Duration,
    /// Open loop: requests per second in total.
    pub rate: Option<u64>,
    pub timeout: Duration,
    pub max_requests: Option<u64>,
    pub buffer_size: usize,
}

/// Counters as the run goes, for a progress line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub requests: u64,
    pub errors: u64,
    pub mismatches: u64,
    pub elapsed: Duration,
}

/// The result of a run.
#[derive(Debug)]
pub struct LoadReport {
    pub requests: u64,
    /// Bytes sent (and, for completed requests, received): `requests × size`.
    pub bytes: u64,
    pub errors: u64,
    pub mismatches: u64,
    pub elapsed: Duration,
    /// Round-trip latency in nanoseconds.
    pub latency: Histogram<u64>,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
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
    /// When it really left, for the request timeout.
    sent: Instant,
    /// Open loop: when the next request is due.
    next_due: Instant,
}

/// Runs the load against `target` until the duration or request count is reached.
pub fn run(
    target: &SocketAddress,
    config: &LoadConfig,
    progress: &mut dyn FnMut(Progress),
) -> io::Result<LoadReport> {
    let mut load = Load::new(target, config)?;
    let mut events = Events::with_capacity(1024);
    let start = Instant::now();
    let end = start + config.duration;
    load.start(start);
    let mut next_tick = start + TICK;
    loop {
        let now = Instant::now();
        if now >= end || load.enough() {
            break;
        }
        load.start_due(now);
        let mut wake = end.min(next_tick);
        if let Some(Reverse((at, _))) = load.due.peek() {
            wake = wake.min(*at);
        }
        // epoll_wait sleeps in whole milliseconds: for an open-loop schedule
        // that would add up to 1ms of lateness to every request, so the last
        // millisecond before a due request is spent polling without sleeping.
        let mut wait = wake.saturating_duration_since(now);
        if load.interval.is_some() {
            wait = wait.saturating_sub(Duration::from_millis(1));
        }
        match load.poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            load.ready(event.token().0, end);
        }
        let now = Instant::now();
        if now >= next_tick {
            next_tick = now + TICK;
            load.report.elapsed = now - start;
            progress(load.report);
            load.expire(now);
        }
    }
    let elapsed = start.elapsed();
    load.report.elapsed = elapsed;
    progress(load.report);
    Ok(load.finish(elapsed))
}

/// The state of one run: the connections, their schedule, and the counts.
struct Load<'a> {
    poll: Poll,
    target: &'a SocketAddress,
    config: &'a LoadConfig,
    payload: Vec<u8>,
    buf: Vec<u8>,
    latency: Histogram<u64>,
    report: Progress,
    first_error: Option<String>,
    conns: Vec<LoadConn>,
    /// Open loop: (when due, connection), earliest first.
    due: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Open loop: each connection's share of the rate.
    interval: Option<Duration>,
}

impl<'a> Load<'a> {
    /// Opens every connection; fails only when not one could be made.
    fn new(target: &'a SocketAddress, config: &'a LoadConfig) -> io::Result<Load<'a>> {
        let now = Instant::now();
        let interval = config.rate.map(|rate| {
            Duration::from_secs_f64(f64::from(config.connections) / rate.max(1) as f64)
        });
        let mut load = Load {
            poll: Poll::new()?,
            target,
            config,
            payload: (0..config.size).map(|i| b'A' + (i % 58) as u8).collect(),
            buf: vec![0u8; config.buffer_size.max(config.size + 1)],
            latency: Histogram::<u64>::new_with_bounds(1_000, 3_600_000_000_000, 3)
                .map_err(io::Error::other)?,
            report: Progress::default(),
            first_error: None,
            conns: Vec::with_capacity(config.connections as usize),
            due: BinaryHeap::new(),
            interval,
        };
        let mut connect_error = None;
        for i in 0..config.connections as usize {
            load.conns.push(LoadConn {
                socket: None,
                written: 0,
                verifier: Verifier::default(),
                in_flight: false,
                started: now,
                sent: now,
                next_due: now,
            });
            if let Err(e) = load.open(i) {
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

    /// Starts the clock: closed loop sends on every connection, open loop
    /// spreads the first requests over one interval.
    fn start(&mut self, start: Instant) {
        let n = self.conns.len();
        for i in 0..n {
            match self.interval {
                Some(iv) => {
                    self.conns[i].next_due = start + iv.mul_f64(i as f64 / n as f64);
                    self.due.push(Reverse((self.conns[i].next_due, i)));
                }
                None if self.conns[i].socket.is_some() => self.begin(i, start),
                None => {}
            }
        }
    }

    fn enough(&self) -> bool {
        self.config
            .max_requests
            .is_some_and(|m| self.report.requests >= m)
    }

    fn fail(&mut self, reason: String) {
        self.report.errors += 1;
        self.first_error.get_or_insert(reason);
    }

    fn open(&mut self, i: usize) -> io::Result<()> {
        let c = transport::connect(
            self.config.socket_type,
            self.target,
            Some(self.config.timeout),
        )?;
        if matches!(self.target, SocketAddress::Inet(_))
            && self.config.socket_type.accepts_connections()
        {
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
        conn.verifier = Verifier::default();
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

    /// Closes connection `i` and opens a new one in its place, back on its schedule.
    fn replace(&mut self, i: usize, now: Instant) {
        self.close(i);
        if self.open(i).is_err() {
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

    /// Starts a request on connection `i` that counts from `started`.
    fn begin(&mut self, i: usize, started: Instant) {
        let conn = &mut self.conns[i];
        conn.in_flight = true;
        conn.started = started;
        conn.sent = Instant::now();
        conn.written = 0;
        conn.verifier.restart();
        if let Err(e) = self.push(i) {
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
        match self.drive(i) {
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

    /// Requests with no answer for the timeout are errors; their connection is replaced.
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
                conn.in_flight = false;
                if self.interval.is_none() && !self.enough() {
                    self.begin(i, now);
                }
                // Every byte of the request is back and nothing more was asked
                // for before it: the socket is empty, and the next reply raises
                // a new edge. The read that could only say EAGAIN is skipped.
                return Some(true);
            }
        }
    }

    fn finish(mut self, elapsed: Duration) -> LoadReport {
        for i in 0..self.conns.len() {
            self.close(i);
        }
        LoadReport {
            requests: self.report.requests,
            bytes: self.report.requests * self.config.size as u64,
            errors: self.report.errors,
            mismatches: self.report.mismatches,
            elapsed,
            latency: self.latency,
            first_error: self.first_error,
        }
    }
}
