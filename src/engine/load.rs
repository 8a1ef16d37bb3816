//! The load generator behind `bench`: many connections on one `mio` loop,
//! each sending a request, reading every byte of it back, checking it, and
//! sending again.
//!
//! Closed loop: the next request leaves as soon as the last one is back.
//! Open loop (`rate`): requests are due on a fixed schedule and latency counts
//! from when a request was *due*, not when it could be sent, so a server that
//! stalls cannot hide the wait behind a client that waited with it
//! (coordinated omission). It uses the same non-blocking moves as the echo
//! server ([`super::stream`]) and never prints: progress goes to a callback.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::Socket;

use super::stream::{ReadOutcome, read_some, write_some};
use crate::addr::{Kind, SockTarget};
use crate::transport;

/// How often progress is reported and request timeouts are looked for.
const TICK: Duration = Duration::from_millis(100);

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub kind: Kind,
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
    /// Bytes of the current request written / read back.
    written: usize,
    read: usize,
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
    target: &SockTarget,
    config: &LoadConfig,
    progress: &mut dyn FnMut(Progress),
) -> io::Result<LoadReport> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let payload: Vec<u8> = (0..config.size).map(|i| b'A' + (i % 58) as u8).collect();
    let mut buf = vec![0u8; config.buffer_size.max(config.size + 1)];
    let mut latency =
        Histogram::<u64>::new_with_bounds(1_000, 3_600_000_000_000, 3).map_err(io::Error::other)?;
    let mut report = Progress::default();
    let mut first_error: Option<String> = None;

    let start = Instant::now();
    // Open loop: each connection's share of the rate, starts spread over one interval.
    let interval = config
        .rate
        .map(|rate| Duration::from_secs_f64(f64::from(config.connections) / rate.max(1) as f64));
    let mut conns: Vec<LoadConn> = Vec::with_capacity(config.connections as usize);
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    for i in 0..config.connections as usize {
        let offset = interval.map_or(Duration::ZERO, |iv| {
            iv.mul_f64(i as f64 / f64::from(config.connections))
        });
        conns.push(LoadConn {
            socket: None,
            written: 0,
            read: 0,
            in_flight: false,
            started: start,
            sent: start,
            next_due: start + offset,
        });
    }
    let mut connect_error = None;
    for (i, conn) in conns.iter_mut().enumerate() {
        if let Err(e) = open(&poll, target, config, conn, i) {
            report.errors += 1;
            first_error.get_or_insert_with(|| crate::error::describe(&e));
            connect_error.get_or_insert(e);
        }
    }
    if conns.iter().all(|c| c.socket.is_none()) {
        // Not one connection: the system's reason is the answer (exit 3 or 4).
        return Err(
            connect_error.unwrap_or_else(|| io::Error::other("no connection could be made"))
        );
    }
    let start = Instant::now();
    let end = start + config.duration;
    for (i, conn) in conns.iter_mut().enumerate() {
        conn.next_due = start + (conn.next_due - conn.started);
        match interval {
            Some(_) => due.push(Reverse((conn.next_due, i))),
            None => {
                if conn.socket.is_some() {
                    begin(
                        conn,
                        start,
                        &payload,
                        config.kind,
                        &mut report,
                        &mut first_error,
                    );
                }
            }
        }
    }
    let mut next_tick = start + TICK;
    let done = |r: &Progress| config.max_requests.is_some_and(|m| r.requests >= m);

    loop {
        let now = Instant::now();
        if now >= end || done(&report) {
            break;
        }
        // Start every open-loop request that is due on an idle connection.
        while let Some(Reverse((at, i))) = due.peek().copied() {
            if at > now {
                break;
            }
            due.pop();
            let conn = &mut conns[i];
            if conn.socket.is_none() {
                continue;
            }
            if conn.in_flight {
                // Still waiting on the last one: it goes as soon as that is back.
                continue;
            }
            let scheduled = conn.next_due;
            begin(
                conn,
                scheduled,
                &payload,
                config.kind,
                &mut report,
                &mut first_error,
            );
            conn.next_due = scheduled + interval.unwrap_or_default();
            due.push(Reverse((conn.next_due, i)));
        }
        let mut wake = end.min(next_tick);
        if let Some(Reverse((at, _))) = due.peek() {
            wake = wake.min(*at);
        }
        // epoll_wait sleeps in whole milliseconds: for an open-loop schedule
        // that would add up to 1ms of lateness to every request, so the last
        // millisecond before a due request is spent polling without sleeping.
        let mut wait = wake.saturating_duration_since(now);
        if interval.is_some() {
            wait = wait.saturating_sub(Duration::from_millis(1));
        }
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            let i = event.token().0;
            let Some(conn) = conns.get_mut(i) else {
                continue;
            };
            let outcome = drive(
                conn,
                &payload,
                &mut buf,
                config,
                &mut latency,
                &mut report,
                &mut first_error,
            );
            if let Some(next) = outcome {
                if let (Some(iv), true) = (interval, next) {
                    // Open loop: the reply came back; is the next request already due?
                    let now = Instant::now();
                    if conn.next_due <= now {
                        let scheduled = conn.next_due;
                        begin(
                            conn,
                            scheduled,
                            &payload,
                            config.kind,
                            &mut report,
                            &mut first_error,
                        );
                        conn.next_due = scheduled + iv;
                        due.push(Reverse((conn.next_due, i)));
                    }
                }
            } else {
                // The connection broke: replace it.
                close(&poll, conn);
                if Instant::now() < end && open(&poll, target, config, conn, i).is_ok() {
                    if interval.is_none() {
                        begin(
                            conn,
                            Instant::now(),
                            &payload,
                            config.kind,
                            &mut report,
                            &mut first_error,
                        );
                    } else {
                        due.push(Reverse((conn.next_due.max(Instant::now()), i)));
                    }
                }
            }
        }
        let now = Instant::now();
        if now >= next_tick {
            next_tick = now + TICK;
            report.elapsed = now - start;
            progress(report);
            // Requests with no answer for --timeout are errors; their connection is replaced.
            for (i, conn) in conns.iter_mut().enumerate() {
                if conn.in_flight && now.duration_since(conn.sent) >= config.timeout {
                    report.errors += 1;
                    first_error.get_or_insert_with(|| "a request timed out".to_string());
                    close(&poll, conn);
                    if open(&poll, target, config, conn, i).is_ok() && interval.is_none() {
                        begin(
                            conn,
                            now,
                            &payload,
                            config.kind,
                            &mut report,
                            &mut first_error,
                        );
                    }
                }
            }
        }
    }
    let elapsed = start.elapsed();
    for conn in conns.iter_mut() {
        close(&poll, conn);
    }
    let _ = &mut poll;
    report.elapsed = elapsed;
    progress(report);
    Ok(LoadReport {
        requests: report.requests,
        bytes: report.requests * config.size as u64,
        errors: report.errors,
        mismatches: report.mismatches,
        elapsed,
        latency,
        first_error,
    })
}

fn open(
    poll: &Poll,
    target: &SockTarget,
    config: &LoadConfig,
    conn: &mut LoadConn,
    index: usize,
) -> io::Result<()> {
    let c = transport::connect(config.kind, target, Some(config.timeout))?;
    if matches!(target, SockTarget::Inet(_)) && config.kind == Kind::Stream {
        c.socket.set_tcp_nodelay(true)?;
    }
    poll.registry().register(
        &mut SourceFd(&c.socket.as_raw_fd()),
        Token(index),
        Interest::READABLE | Interest::WRITABLE,
    )?;
    conn.socket = Some(c.socket);
    conn.in_flight = false;
    conn.written = 0;
    conn.read = 0;
    Ok(())
}

fn close(poll: &Poll, conn: &mut LoadConn) {
    if let Some(socket) = conn.socket.take() {
        let _ = poll
            .registry()
            .deregister(&mut SourceFd(&socket.as_raw_fd()));
    }
    conn.in_flight = false;
}

/// Starts a request that counts from `started`, and writes what the socket takes.
fn begin(
    conn: &mut LoadConn,
    started: Instant,
    payload: &[u8],
    kind: Kind,
    report: &mut Progress,
    first_error: &mut Option<String>,
) {
    conn.in_flight = true;
    conn.started = started;
    conn.sent = Instant::now();
    conn.written = 0;
    conn.read = 0;
    if let Err(e) = push(conn, payload, kind) {
        report.errors += 1;
        first_error.get_or_insert_with(|| crate::error::describe(&e));
    }
}

/// Writes the rest of the current request.
fn push(conn: &mut LoadConn, payload: &[u8], kind: Kind) -> io::Result<()> {
    let Some(socket) = &conn.socket else {
        return Ok(());
    };
    if conn.written < payload.len() {
        match kind {
            Kind::Stream => conn.written += write_some(socket, &payload[conn.written..])?,
            Kind::Datagram => match socket.send(payload) {
                Ok(_) => conn.written = payload.len(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            },
        }
    }
    Ok(())
}

/// Handles readiness on one connection. `Some(true)`: a request completed;
/// `Some(false)`: nothing completed; `None`: the connection broke.
fn drive(
    conn: &mut LoadConn,
    payload: &[u8],
    buf: &mut [u8],
    config: &LoadConfig,
    latency: &mut Histogram<u64>,
    report: &mut Progress,
    first_error: &mut Option<String>,
) -> Option<bool> {
    let mut completed = false;
    let closed_loop = config.rate.is_none();
    if conn.in_flight {
        if let Err(e) = push(conn, payload, config.kind) {
            fail(report, first_error, crate::error::describe(&e));
            return None;
        }
    }
    loop {
        let socket = conn.socket.as_ref()?;
        // A connected datagram socket reads one whole datagram per read (cut to
        // the buffer, which is larger than a request so a longer reply shows).
        let n = match read_some(socket, buf) {
            Ok(ReadOutcome::Data(n)) => n,
            Ok(ReadOutcome::WouldBlock) => return Some(completed),
            Ok(ReadOutcome::Eof) if config.kind == Kind::Datagram => 0,
            Ok(ReadOutcome::Eof) => {
                fail(report, first_error, "the server closed a connection".into());
                return None;
            }
            Err(e) => {
                fail(report, first_error, crate::error::describe(&e));
                return None;
            }
        };
        let expected = &payload[conn.read.min(payload.len())..];
        let whole_datagram = config.kind == Kind::Datagram && n != payload.len();
        if !conn.in_flight || n > expected.len() || whole_datagram || buf[..n] != expected[..n] {
            report.mismatches += 1;
            first_error.get_or_insert_with(|| "an echo differed from the request".to_string());
            if config.kind == Kind::Stream {
                return None;
            }
            continue;
        }
        conn.read += n;
        if conn.read == payload.len() {
            let now = Instant::now();
            let _ = latency.record(
                now.duration_since(conn.started)
                    .as_nanos()
                    .clamp(1_000, 3_600_000_000_000) as u64,
            );
            report.requests += 1;
            conn.in_flight = false;
            completed = true;
            if closed_loop && config.max_requests.is_none_or(|m| report.requests < m) {
                begin(conn, now, payload, config.kind, report, first_error);
            }
        }
    }
}

fn fail(report: &mut Progress, first_error: &mut Option<String>, e: String) {
    report.errors += 1;
    first_error.get_or_insert(e);
}
