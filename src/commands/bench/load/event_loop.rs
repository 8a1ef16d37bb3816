//! One client thread's event loop for `bench`: its connections, their
//! schedule (closed loop, or open loop from the intended send times), the
//! request moves of ping-pong and churn, source addresses, timeouts, and its
//! counts. Bulk's moves are `bulk.rs`; the threads and the report, `load.rs`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::Socket;

use super::bulk::{PATTERN_PERIOD, bulk_pattern};
use super::{LoadConfig, LoadReport, Progress, Share, Shared, TICK, Tally, Workload};
use crate::engine::stream::{ReadOutcome, Verifier, read_message, read_some, write_some};
use crate::transport;
use crate::transport::SocketAddress;

/// One connection of the load and where its current request (or stream) is.
pub(super) struct LoadConn {
    pub(super) socket: Option<Socket>,
    /// Bytes of the current request written.
    written: usize,
    /// What was written and has not come back yet: the verifier `send` uses.
    verifier: Verifier,
    in_flight: bool,
    /// When the current request was due (open loop) or sent (closed loop).
    started: Instant,
    /// When it really left (bulk: when a byte last came back), for the timeout.
    pub(super) sent: Instant,
    /// Open loop: when the next request is due.
    next_due: Instant,
    /// Bulk: bytes of the pattern written and read back on this connection.
    pub(super) bulk_written: u64,
    pub(super) bulk_read: u64,
}

/// The state of one thread's run: its connections, their schedule, and the counts.
pub(super) struct Load<'a> {
    poll: Poll,
    target: &'a SocketAddress,
    pub(super) config: &'a LoadConfig,
    share: Share,
    shared: &'a Shared,
    /// Counts already added to `shared`.
    published: Progress,
    payload: Vec<u8>,
    /// Bulk: the pattern, one period plus enough to slice any read or write from.
    pub(super) pattern: Vec<u8>,
    pub(super) buf: Vec<u8>,
    latency: Histogram<u64>,
    pub(super) report: Progress,
    pub(super) first_error: Option<String>,
    pub(super) conns: Vec<LoadConn>,
    /// Open loop: (when due, connection), earliest first.
    due: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Open loop: each connection's share of the rate.
    interval: Option<Duration>,
    /// Bulk: connections whose turn was cut short, to come back to at once.
    pub(super) deferred: Vec<usize>,
    /// Connections opened so far, for picking each one's source address.
    opened: usize,
    /// Requests begun (`--requests` counts these, so none is sent past it).
    issued: u64,
}

impl<'a> Load<'a> {
    /// Opens every connection of `share`; fails only when not one could be made.
    pub(super) fn new(
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
            // Once one has timed out (a full listen queue, no answer), the
            // rest only start: waiting for each in turn would outlast --timeout.
            let wait = !connect_error.as_ref().is_some_and(crate::error::is_timeout);
            if let Err(e) = load.open(i, wait) {
                load.fail(open_failure(&e, share.first + i, config.connections));
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
    pub(super) fn run(&mut self, start: Instant) -> io::Result<()> {
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
        for (counter, total, before) in [
            (&shared.requests, now.requests, then.requests),
            (&shared.bytes, now.bytes, then.bytes),
            (&shared.errors, now.errors, then.errors),
            (&shared.mismatches, now.mismatches, then.mismatches),
        ] {
            counter.fetch_add(total - before, Ordering::Relaxed);
        }
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
                None if self.conns[i].socket.is_some() => self.begin(i, start, start),
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

    pub(super) fn fail(&mut self, reason: String) {
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
                    && self.config.kind.accepts_connections()
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
        let (kind, target) = (self.config.kind, self.target);
        let c = if wait {
            transport::connect_from(kind, target, Some(self.config.timeout), source)?
        } else {
            transport::start_connect(kind, target, source)?
        };
        if matches!(self.target, SocketAddress::Inet(_)) && kind.accepts_connections() {
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
            None => self.begin(i, now, now),
            Some(_) => {
                let at = self.conns[i].next_due.max(now);
                self.due.push(Reverse((at, i)));
            }
        }
    }

    /// Starts a request on connection `i` that counts from `started`, unless
    /// the request limit is reached. `now` is the caller's reading of the
    /// clock, for the stall timeout (a second reading per request would cost
    /// the client about 0.5% of its CPU in ping-pong).
    fn begin(&mut self, i: usize, started: Instant, now: Instant) {
        if self.enough() {
            return;
        }
        self.issued += 1;
        let conn = &mut self.conns[i];
        conn.in_flight = true;
        conn.started = started;
        conn.sent = now;
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
    fn begin_scheduled(&mut self, i: usize, now: Instant) {
        let scheduled = self.conns[i].next_due;
        self.begin(i, scheduled, now);
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
                self.begin_scheduled(i, now);
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
                let now = Instant::now();
                if self.conns[i].next_due <= now {
                    self.begin_scheduled(i, now);
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
            if self.config.kind.keeps_boundaries() {
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
            let boundaries = self.config.kind.keeps_boundaries();
            let read = if boundaries {
                read_message(socket, &mut self.buf)
            } else {
                read_some(socket, &mut self.buf)
            };
            let n = match read {
                Ok(ReadOutcome::Data(n)) => n,
                Ok(ReadOutcome::WouldBlock) => return Some(false),
                // An empty datagram; on a connection, EOF.
                Ok(ReadOutcome::Eof) if !self.config.kind.accepts_connections() => 0,
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
                if self.config.kind.accepts_connections() {
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
                    self.begin(i, now, now);
                }
                // Every byte of the request is back and nothing more was asked
                // for before it: the socket is empty, and the next reply raises
                // a new edge. The read that could only say EAGAIN is skipped.
                return Some(true);
            }
        }
    }

    /// At the end: a request still waiting for its echo for the timeout is
    /// an error; one sent less than that long ago is in flight, never
    /// silently dropped (SPEC §4 bench). Bulk: a connection with no byte
    /// back for the timeout is an error; the others' unechoed bytes are in flight.
    fn settle(&mut self, now: Instant) -> u64 {
        let bulk = self.config.workload == Workload::Bulk;
        let mut in_flight = 0;
        for i in 0..self.conns.len() {
            let conn = &self.conns[i];
            if conn.socket.is_none() || !conn.in_flight {
                continue;
            }
            let unechoed = conn.bulk_written - conn.bulk_read;
            if bulk && unechoed == 0 {
                continue;
            }
            if now.duration_since(conn.sent) >= self.config.timeout {
                self.fail("a request timed out".to_string());
            } else if bulk {
                in_flight += unechoed;
            } else {
                in_flight += 1;
            }
        }
        in_flight
    }

    pub(super) fn finish(mut self, elapsed: Duration) -> LoadReport {
        let in_flight = self.settle(Instant::now());
        for i in 0..self.conns.len() {
            self.close(i);
        }
        LoadReport {
            tally: Tally {
                requests: self.report.requests,
                bytes: self.report.bytes,
                errors: self.report.errors,
                mismatches: self.report.mismatches,
                in_flight,
                latency: self.latency,
                first_error: self.first_error,
            },
            elapsed,
            busiest_thread_cpu: None,
        }
    }
}

/// Why connection `index` (of `total`) could not be opened, in words; out of
/// descriptors, with the limit and what to do about it.
fn open_failure(err: &io::Error, index: usize, total: u32) -> String {
    let reason = crate::error::describe(err);
    match err.raw_os_error() {
        Some(nix::libc::EMFILE) | Some(nix::libc::ENFILE) => {
            let limit = transport::open_files_limit().map_or("?".into(), |n| n.to_string());
            format!(
                "connection {} of {total} could not be opened: {reason} (each connection is a \
                 descriptor, and the open-files limit is {limit}: raise it with `ulimit -n`, \
                 or ask for fewer --connections)",
                index + 1
            )
        }
        _ => reason,
    }
}

/// `len` bytes of the request pattern.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'A' + (i % 58) as u8).collect()
}
