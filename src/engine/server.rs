//! One event loop: the slab of listeners, connections and datagram sockets
//! it owns, and what it does on each readiness event — accept, echo,
//! close, report — until the shared [`Control`] says to drain or stop.
//!
//! Everything it decides about *who* is served it asks the [`Policy`];
//! everything it has to say goes to the [`Observer`]. [`super::spawn`] makes
//! one per worker thread.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::Socket;

use super::batch::{Batch, SLOTS};
use super::dgram::{DropReason, OwnAddresses, Received, Sender};
use super::http::{HttpConn, HttpStep};
use super::meters::{ListenerMeters, Meters, WorkerMeters};
use super::stream::{EndReason, PeerSide, Step, StreamConn};
use super::{
    Closed, Control, DatagramGate, Event, MetricsEndpoint, Observer, Peer, Policy, ServedSocket,
    ServerConfig, Shutdown,
};
use crate::transport::{Transport, platform};

/// Reads one connection may do per readiness event before others get a turn.
const READS_PER_TURN: u32 = 16;
/// Accepts per readiness event before connections get a turn.
const ACCEPTS_PER_TURN: u32 = 128;
/// How often a listener that ran out of descriptors (EMFILE and the like)
/// tries accept(2) again. Its queued connections raise no new edge, so
/// without a retry they would wait for the next one to arrive.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// Datagrams per readiness event before others get a turn.
const DATAGRAMS_PER_TURN: u32 = 64;
const WAKER: Token = Token(0);

/// What one readiness event asks of an entry.
#[derive(Clone, Copy)]
struct Turn {
    /// Only room to write, no data, no FIN, no error: a connection holding
    /// nothing back has nothing to do (a new connection's first event is one),
    /// so the read that could only say EAGAIN is skipped.
    writable_only: bool,
    /// Whether a short read may end the turn ([`PeerSide`]).
    peer: PeerSide,
}

impl Turn {
    /// What `event` asks of its entry.
    fn of(event: &mio::event::Event) -> Turn {
        let closing = event.is_read_closed() || event.is_error();
        Turn {
            writable_only: !(event.is_readable() || closing),
            peer: if closing {
                PeerSide::Closing
            } else {
                PeerSide::Open
            },
        }
    }

    /// A turn with no event behind it (its last one was cut short by the
    /// budget): read until EAGAIN.
    const DEFERRED: Turn = Turn {
        writable_only: false,
        peer: PeerSide::Closing,
    };
}

enum Entry {
    Acceptor(usize),
    Datagram(usize),
    Stream(Box<Served>),
    /// A listening socket of the metrics page (its index in the endpoint).
    MetricsListener(usize),
    /// One request to the metrics page.
    Http(Box<HttpConn>),
}

struct Served {
    conn: StreamConn,
    listener: usize,
    /// Bytes of `conn` already added to the listener's meters.
    metered_in: u64,
    metered_out: u64,
    /// Only when the observer wants details: boxed, so an idle connection pays one pointer.
    peer: Option<Box<Peer>>,
    /// With details: MPTCP or TCP after fallback, for an MPTCP listener's connection.
    over: Option<&'static str>,
}

impl Served {
    /// Adds the bytes moved since the last call to its listener's meters.
    fn meter(&mut self, meters: &ListenerMeters) {
        meters.bytes_in.add(self.conn.bytes_in - self.metered_in);
        meters.bytes_out.add(self.conn.bytes_out - self.metered_out);
        self.metered_in = self.conn.bytes_in;
        self.metered_out = self.conn.bytes_out;
    }
}

/// A minimal slab: tokens are indices, freed slots are reused.
#[derive(Default)]
struct Slab {
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
}

impl Slab {
    fn insert(&mut self, entry: Entry) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.entries[i] = Some(entry);
                i
            }
            None => {
                self.entries.push(Some(entry));
                self.entries.len() - 1
            }
        }
    }

    fn remove(&mut self, i: usize) -> Option<Entry> {
        let entry = self.entries.get_mut(i)?.take();
        if entry.is_some() {
            self.free.push(i);
        }
        entry
    }

    fn streams(&self) -> impl Iterator<Item = (usize, &Served)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Some(Entry::Stream(s)) => Some((i, &**s)),
                _ => None,
            })
    }
}

fn token(index: usize) -> Token {
    Token(index + 1)
}

fn register(poll: &Poll, socket: &Socket, index: usize, interest: Interest) -> io::Result<()> {
    poll.registry()
        .register(&mut SourceFd(&socket.as_raw_fd()), token(index), interest)
}

/// Drops not yet reported, per listener and reason. The sender is kept as
/// an address and turned into words only by the observer, never per datagram.
struct PendingDrop {
    listener: usize,
    reason: DropReason,
    count: u64,
    last_sender: Option<Sender>,
}

/// One event loop over its own handles on the served sockets.
pub(super) struct Server {
    poll: Poll,
    slab: Slab,
    sockets: Vec<Option<ServedSocket>>,
    /// Ready-line names of the served sockets, kept after they close for logs.
    names: Vec<String>,
    config: ServerConfig,
    policy: Arc<dyn Policy>,
    gate: Option<Box<dyn DatagramGate>>,
    observer: Arc<dyn Observer>,
    control: Arc<Control>,
    scratch: Vec<u8>,
    deferred: Vec<usize>,
    /// Listeners (slab indices) whose accept(2) found no descriptor or
    /// memory and whose queue has not been seen empty since: tried again
    /// every [`ACCEPT_RETRY`], and at once when one of our connections
    /// closes. Reported once per episode (until the queue is drained), not
    /// per retry, nor again each time a close lets one more in.
    starved: Vec<usize>,
    next_accept_retry: Option<Instant>,
    /// This worker's counters (the stop summary and `--metrics` read them).
    meters: Arc<WorkerMeters>,
    /// Each served socket's listener id in the process (its index in [`Meters`]).
    ids: Vec<usize>,
    /// `serve --metrics`: the page's listeners and what renders it (first worker only).
    metrics: Option<(MetricsEndpoint, Arc<Meters>)>,
    open_conns: usize,
    drops: Vec<PendingDrop>,
    last_drop_report: Option<Instant>,
    /// The addresses of this loop's datagram sockets (the first loop has
    /// them all): a datagram from one of them is never echoed.
    own: OwnAddresses,
    drain_deadline: Option<Instant>,
    /// Metrics requests open on this loop.
    http_open: usize,
    next_sweep: Option<Instant>,
    next_tick: Option<Instant>,
}

impl Server {
    /// Registers `sockets` on a new poll; nothing runs until [`Server::run`].
    pub(super) fn new(
        sockets: Vec<ServedSocket>,
        config: ServerConfig,
        policy: Arc<dyn Policy>,
        observer: Arc<dyn Observer>,
        control: Arc<Control>,
        meters: Arc<WorkerMeters>,
        metrics: Option<(MetricsEndpoint, Arc<Meters>)>,
    ) -> io::Result<Server> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        control
            .wakers
            .lock()
            .map_err(|_| io::Error::other("control lock poisoned"))?
            .push(waker);
        let mut server = Server {
            poll,
            slab: Slab::default(),
            names: sockets.iter().map(|s| s.name.clone()).collect(),
            sockets: Vec::with_capacity(sockets.len()),
            scratch: vec![0; config.buffer_size],
            gate: policy.datagram_gate(),
            config,
            policy,
            observer,
            control,
            deferred: Vec::new(),
            starved: Vec::new(),
            next_accept_retry: None,
            meters,
            ids: sockets.iter().map(|s| s.id).collect(),
            metrics,
            open_conns: 0,
            drops: Vec::new(),
            last_drop_report: None,
            own: OwnAddresses::of(
                sockets
                    .iter()
                    .filter(|s| !s.transport.socket_type().accepts_connections() && !s.connected)
                    .map(|s| &s.socket),
            ),
            drain_deadline: None,
            http_open: 0,
            next_sweep: None,
            next_tick: None,
        };
        for (i, served) in sockets.into_iter().enumerate() {
            if served.connected && served.transport.socket_type().accepts_connections() {
                // `--inetd`: the connection itself, echoed as if just accepted.
                let peer = Peer::Named(served.name.clone());
                server.add_connection(served.socket, served.transport, i, Some(peer))?;
                server.sockets.push(None);
                continue;
            }
            if served.transport.socket_type().accepts_connections() {
                let index = server.slab.insert(Entry::Acceptor(i));
                super::acceptor::register(&server.poll, &served.socket, token(index))?;
            } else {
                // The echo leaves from the address its datagram came to (SPEC §3).
                if let Ok(local) = served.socket.local_addr() {
                    crate::sys::datagram::report_arrival(
                        served.socket.as_fd(),
                        i32::from(local.family()),
                    )?;
                }
                let index = server.slab.insert(Entry::Datagram(i));
                register(&server.poll, &served.socket, index, Interest::READABLE)?;
            }
            server.sockets.push(Some(served));
        }
        let metrics_sockets = server
            .metrics
            .as_ref()
            .map(|(m, _)| m.sockets.clone())
            .unwrap_or_default();
        for (k, socket) in metrics_sockets.iter().enumerate() {
            socket.set_nonblocking(true)?;
            let index = server.slab.insert(Entry::MetricsListener(k));
            register(&server.poll, socket, index, Interest::READABLE)?;
        }
        Ok(server)
    }

    /// Runs until shutdown completes; returns what was done.
    pub(super) fn run(mut self) -> io::Result<()> {
        let mut batch: Option<Batch> = None;
        let mut events = Events::with_capacity(1024);
        let mut draining = false;
        loop {
            let now = Instant::now();
            let mut timeout = self.poll_timeout(now);
            // A signal may have come before this loop's waker was registered:
            // then nothing would wake the poll, so look instead of sleeping.
            let asked = self.control.state();
            if (asked == Shutdown::Draining && !draining) || asked == Shutdown::Stopping {
                timeout = Some(Duration::ZERO);
            }
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                self.handle(event.token().0 - 1, now, Turn::of(event), &mut batch);
            }
            if self.next_accept_retry.is_some_and(|at| now >= at) {
                self.next_accept_retry = None;
                self.deferred.extend_from_slice(&self.starved);
            }
            for index in std::mem::take(&mut self.deferred) {
                // A turn cut short by its budget: come back to read, to EAGAIN.
                self.handle(index, now, Turn::DEFERRED, &mut batch);
            }
            self.periodic(now);
            self.expire_http(now);
            self.tick(now);

            match self.control.state() {
                Shutdown::Running => {}
                Shutdown::Draining if !draining => {
                    draining = true;
                    self.stop_listening();
                    self.drain_deadline = Some(now + self.config.drain);
                    self.observer.event(&Event::Draining {
                        open: self.control.open.load(Ordering::Relaxed),
                    });
                }
                Shutdown::Draining => {}
                Shutdown::Stopping => {
                    self.stop_listening();
                    self.close_all(EndReason::Stopped);
                    break;
                }
            }
            if self.open_conns == 0 && self.sockets.iter().all(Option::is_none) {
                // Nothing left to serve: an `--inetd` connection ended, or drained.
                break;
            }
            if draining && self.drain_deadline.is_some_and(|d| now >= d) {
                self.close_all(EndReason::DrainTimeout);
                break;
            }
        }
        self.report_drops();
        Ok(())
    }

    fn poll_timeout(&mut self, now: Instant) -> Option<Duration> {
        if !self.deferred.is_empty() {
            return Some(Duration::ZERO);
        }
        let mut next: Option<Instant> = self.drain_deadline;
        if let Some(at) = self.next_accept_retry {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        if let Some(every) = self.sweep_interval() {
            let at = *self.next_sweep.get_or_insert(now + every);
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        if let Some(every) = self.config.tick_every {
            let at = *self.next_tick.get_or_insert(now + every);
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        if self.http_open > 0 {
            // A metrics request's deadline is at most this late to be seen.
            let at = now + Duration::from_millis(250);
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        next.map(|at| at.saturating_duration_since(now))
    }

    fn sweep_interval(&self) -> Option<Duration> {
        let idle = self
            .config
            .idle_timeout
            .map(|t| (t / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)));
        let periodic = (!self.drops.is_empty() || self.gate.is_some())
            .then_some(self.config.drop_report_every);
        match (idle, periodic) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn periodic(&mut self, now: Instant) {
        let Some(at) = self.next_sweep else { return };
        if now < at {
            return;
        }
        self.next_sweep = None;
        if let Some(idle) = self.config.idle_timeout {
            let expired: Vec<usize> = self
                .slab
                .streams()
                .filter(|(_, s)| now.duration_since(s.conn.last_active) >= idle)
                .map(|(i, _)| i)
                .collect();
            for i in expired {
                self.close(i, EndReason::IdleTimeout);
            }
        }
        if let Some(gate) = self.gate.as_mut() {
            gate.sweep(now);
        }
        self.report_drops();
    }

    /// Tells the observer the loop is alive once `tick_every` has passed.
    /// Measured from the last tick, not from a fixed grid: a loop stalled
    /// longer than the interval shows up as a late tick, never as a burst.
    fn tick(&mut self, now: Instant) {
        let Some(every) = self.config.tick_every else {
            return;
        };
        if self.next_tick.is_some_and(|at| now < at) {
            return;
        }
        self.next_tick = Some(now + every);
        self.observer.event(&Event::Tick {
            open: self.control.open.load(Ordering::Relaxed),
        });
    }

    fn handle(&mut self, index: usize, now: Instant, turn: Turn, batch: &mut Option<Batch>) {
        let Some(entry) = self.slab.entries.get_mut(index).and_then(|e| e.as_mut()) else {
            return;
        };
        match entry {
            Entry::Acceptor(listener) => {
                let listener = *listener;
                self.accept(index, listener);
            }
            Entry::Datagram(listener) => {
                let listener = *listener;
                self.echo_datagrams(index, listener, now, batch);
            }
            Entry::MetricsListener(k) => {
                let k = *k;
                self.accept_http(k, now);
            }
            Entry::Http(conn) => {
                let Some((endpoint, meters)) = &self.metrics else {
                    return;
                };
                let page = &endpoint.page;
                if conn.drive(|| page.render(&meters.snapshot())) == HttpStep::Done {
                    self.close_http(index);
                }
            }
            Entry::Stream(served) => {
                if turn.writable_only && served.conn.held() == 0 {
                    return;
                }
                let step = served
                    .conn
                    .drive(&mut self.scratch, READS_PER_TURN, turn.peer, now);
                // Bytes count as they move, so `--metrics` sees long connections too.
                served.meter(self.meters.listener(self.ids[served.listener]));
                match step {
                    Step::Wait => {}
                    Step::Yield => self.deferred.push(index),
                    Step::Close(reason) => self.close(index, reason),
                }
            }
        }
    }

    fn listener_name(&self, listener: usize) -> &str {
        self.names.get(listener).map_or("", |s| s.as_str())
    }

    fn accept(&mut self, index: usize, listener: usize) {
        for _ in 0..ACCEPTS_PER_TURN {
            let Some(served) = self.sockets.get(listener).and_then(|s| s.as_ref()) else {
                return;
            };
            let transport = served.transport;
            let (socket, peer_addr) = match served.socket.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The queue is empty: any starvation episode is over.
                    self.end_starvation(index);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The peer gave up between SYN and accept: its problem, not ours.
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                Err(e) if is_starvation(&e) => {
                    // Out of descriptors or memory: the queue keeps its
                    // connections; try again soon (and report it once).
                    if !self.starved.contains(&index) {
                        self.starved.push(index);
                        // Reported by the first worker of the process to meet it.
                        if self.control.starved.fetch_add(1, Ordering::Relaxed) == 0 {
                            self.observer.event(&Event::ListenerError {
                                listener: self.listener_name(listener),
                                error: &e,
                            });
                        }
                    }
                    self.next_accept_retry
                        .get_or_insert_with(|| Instant::now() + ACCEPT_RETRY);
                    return;
                }
                Err(e) => {
                    self.observer.event(&Event::ListenerError {
                        listener: self.listener_name(listener),
                        error: &e,
                    });
                    return;
                }
            };
            let meters = self.meters.listener(self.ids[listener]);
            meters.accepted.add(1);
            let peer = self
                .observer
                .details()
                .then(|| peer_of(&socket, &peer_addr));
            if !self.policy.admit_connection() {
                meters.rejected.add(1);
                self.observer.event(&Event::Rejected {
                    listener: self.listener_name(listener),
                    peer: peer.as_ref(),
                });
                continue; // dropping `socket` closes it at once
            }
            if peer_addr.is_ipv4() || peer_addr.is_ipv6() {
                // Echo is latency-bound: never hold a small echo back for Nagle.
                let _ = socket.set_tcp_nodelay(true);
            }
            if self
                .add_connection(socket, transport, listener, peer)
                .is_err()
            {
                self.policy.connection_ended();
            }
        }
        // Budget spent with connections possibly still queued: come back soon.
        self.deferred.push(index);
    }

    /// Accepts what waits on metrics listener `k`: each request is one
    /// connection on this loop, answered and closed (`http.rs`).
    fn accept_http(&mut self, k: usize, now: Instant) {
        for _ in 0..ACCEPTS_PER_TURN {
            let Some(listener) = self.metrics.as_ref().and_then(|(m, _)| m.sockets.get(k)) else {
                return;
            };
            let socket = match listener.accept() {
                Ok((socket, _)) => socket,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // EAGAIN, or a failure that is the scraper's problem (or
                // a lack of descriptors, which the next scrape retries).
                Err(_) => return,
            };
            if socket.set_nonblocking(true).is_err() {
                continue;
            }
            let fd = socket.as_raw_fd();
            let index = self
                .slab
                .insert(Entry::Http(Box::new(HttpConn::new(socket, now))));
            let interest = Interest::READABLE | Interest::WRITABLE;
            if self
                .poll
                .registry()
                .register(&mut SourceFd(&fd), token(index), interest)
                .is_err()
            {
                self.slab.remove(index);
                continue;
            }
            self.http_open += 1;
        }
    }

    fn close_http(&mut self, index: usize) {
        if let Some(Entry::Http(conn)) = self.slab.remove(index) {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&conn.socket.as_raw_fd()));
            self.http_open -= 1;
        }
    }

    /// Closes metrics requests past their deadline (a slow or silent scraper).
    fn expire_http(&mut self, now: Instant) {
        if self.http_open == 0 {
            return;
        }
        let expired: Vec<usize> = self
            .slab
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Some(Entry::Http(c)) if now >= c.deadline => Some(i),
                _ => None,
            })
            .collect();
        for i in expired {
            self.close_http(i);
        }
    }

    /// Registers an accepted (or inherited) connection and tells the observer.
    fn add_connection(
        &mut self,
        socket: Socket,
        transport: Transport,
        listener: usize,
        peer: Option<Peer>,
    ) -> io::Result<()> {
        socket.set_nonblocking(true)?;
        let over = peer
            .as_ref()
            .and_then(|_| transport.in_use(&socket))
            .map(|u| u.words);
        let fd = socket.as_raw_fd();
        if let Some(peer) = &peer {
            self.observer.event(&Event::Accepted {
                listener: self.listener_name(listener),
                peer,
            });
        }
        let index = self.slab.insert(Entry::Stream(Box::new(Served {
            conn: StreamConn::new(socket, transport.socket_type(), Instant::now()),
            listener,
            metered_in: 0,
            metered_out: 0,
            peer: peer.map(Box::new),
            over,
        })));
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut SourceFd(&fd), token(index), interest)
        {
            self.slab.remove(index);
            return Err(e);
        }
        self.open_conns += 1;
        self.control.open.fetch_add(1, Ordering::Relaxed);
        self.meters.listener(self.ids[listener]).open.add(1);
        Ok(())
    }

    fn close(&mut self, index: usize, reason: EndReason) {
        let Some(Entry::Stream(mut served)) = self.slab.remove(index) else {
            return;
        };
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&served.conn.socket.as_raw_fd()));
        self.open_conns -= 1;
        self.control.open.fetch_sub(1, Ordering::Relaxed);
        self.policy.connection_ended();
        if !self.starved.is_empty() {
            // A descriptor is free again: a starved listener tries at once.
            self.next_accept_retry = Some(Instant::now());
        }
        let meters = self.meters.listener(self.ids[served.listener]);
        meters.open.sub(1);
        served.meter(meters);
        match reason {
            EndReason::Truncated => meters.closed_cut.add(1),
            EndReason::IdleTimeout => meters.closed_idle.add(1),
            EndReason::Completed => {
                meters.completed.add(1);
                if !self.policy.completed() {
                    self.control.drain();
                }
            }
            _ => {}
        }
        self.observer.event(&Event::Closed(Closed {
            listener: self.listener_name(served.listener),
            peer: served.peer.as_deref(),
            over: served.over,
            bytes_in: served.conn.bytes_in,
            bytes_out: served.conn.bytes_out,
            duration: served.conn.started.elapsed(),
            reason,
        }));
    }

    fn close_all(&mut self, reason: EndReason) {
        let open: Vec<usize> = self.slab.streams().map(|(i, _)| i).collect();
        for i in open {
            self.close(i, reason);
        }
    }

    /// Listener `index` is no longer out of descriptors (its queue was seen empty).
    fn end_starvation(&mut self, index: usize) {
        if let Some(k) = self.starved.iter().position(|&s| s == index) {
            self.starved.swap_remove(k);
            self.control.starved.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn stop_listening(&mut self) {
        for _ in self.starved.drain(..) {
            self.control.starved.fetch_sub(1, Ordering::Relaxed);
        }
        self.next_accept_retry = None;
        for i in 0..self.slab.entries.len() {
            if matches!(
                self.slab.entries[i],
                Some(Entry::Acceptor(_)) | Some(Entry::Datagram(_))
            ) {
                self.slab.remove(i);
            }
        }
        for served in self.sockets.iter_mut() {
            if let Some(s) = served.take() {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&s.socket.as_raw_fd()));
            }
        }
    }

    fn echo_datagrams(
        &mut self,
        index: usize,
        listener: usize,
        now: Instant,
        batch: &mut Option<Batch>,
    ) {
        // Made on first use, so a worker without datagram sockets never pays
        // for it; it lives on the loop's own stack (its headers hold raw
        // pointers and never leave the thread).
        let batch = batch.get_or_insert_with(|| Batch::new(self.config.buffer_size));
        let drained = self.echo_batches(batch, listener, now);
        if !drained {
            // Budget spent with datagrams possibly still queued: come back soon.
            self.deferred.push(index);
        }
    }

    /// Echoes what waits on datagram socket `listener`, a batch at a time,
    /// until it is empty (true) or the turn's budget is spent (false).
    fn echo_batches(&mut self, batch: &mut Batch, listener: usize, now: Instant) -> bool {
        let mut budget = DATAGRAMS_PER_TURN as usize;
        while budget > 0 {
            let Some(served) = self.sockets.get(listener).and_then(|s| s.as_ref()) else {
                return true;
            };
            let count = match batch.receive(&served.socket, &self.own) {
                Ok(count) => count,
                // ICMP errors from earlier replies (Linux reports them on some
                // sockets): one sender's problem; keep serving the others.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ECONNREFUSED)
                            | Some(libc::EHOSTUNREACH)
                            | Some(libc::ENETUNREACH)
                    ) =>
                {
                    budget -= 1;
                    continue;
                }
                Err(e) => {
                    self.observer.event(&Event::ListenerError {
                        listener: self.listener_name(listener),
                        error: &e,
                    });
                    return true;
                }
            };
            self.meters
                .listener(self.ids[listener])
                .datagrams_received
                .add(count as u64);
            let mut echo = [0usize; SLOTS];
            let mut admitted = 0;
            for i in 0..count {
                if self.admit(batch, i, listener, now) {
                    echo[admitted] = i;
                    admitted += 1;
                }
            }
            if admitted > 0 {
                let Some(served) = self.sockets.get(listener).and_then(|s| s.as_ref()) else {
                    return true;
                };
                let mut sent = [false; SLOTS];
                batch.reply(&served.socket, &echo[..admitted], &mut sent);
                for (k, &i) in echo[..admitted].iter().enumerate() {
                    self.echoed(batch, i, sent[k], listener, now);
                }
            }
            // Fewer than a full batch: the queue was empty a moment ago, and
            // a datagram that comes later raises a new edge.
            if count < SLOTS {
                return true;
            }
            budget = budget.saturating_sub(count);
        }
        false
    }

    /// Whether slot `i` of `batch` may be echoed; if not, it is counted as dropped.
    fn admit(&mut self, batch: &Batch, i: usize, listener: usize, now: Instant) -> bool {
        let from = match batch.received(i) {
            Received::Empty => return false,
            Received::Dropped(reason, from) => {
                self.note_drop(listener, *reason, from.clone(), now);
                return false;
            }
            Received::Echo(_, from) => from,
        };
        if let Some(gate) = self.gate.as_mut() {
            if !gate.allow(from, now) {
                self.note_drop(listener, DropReason::RateLimited, Some(from.clone()), now);
                return false;
            }
        }
        true
    }

    /// Counts slot `i`'s echo: sent, or dropped because the reply could not go.
    fn echoed(&mut self, batch: &Batch, i: usize, sent: bool, listener: usize, now: Instant) {
        let Received::Echo(len, from) = batch.received(i) else {
            return;
        };
        if !sent {
            return self.note_drop(listener, DropReason::SendFailed, Some(from.clone()), now);
        }
        let meters = self.meters.listener(self.ids[listener]);
        meters.datagrams_echoed.add(1);
        meters.bytes_in.add(*len as u64);
        meters.bytes_out.add(*len as u64);
        if !self.policy.completed() {
            self.control.drain();
        }
    }

    fn note_drop(
        &mut self,
        listener: usize,
        reason: DropReason,
        from: Option<Sender>,
        now: Instant,
    ) {
        self.meters.listener(self.ids[listener]).drop_for(reason);
        match self
            .drops
            .iter_mut()
            .find(|d| d.listener == listener && d.reason == reason)
        {
            Some(pending) => {
                pending.count += 1;
                pending.last_sender = from;
            }
            None => self.drops.push(PendingDrop {
                listener,
                reason,
                count: 1,
                last_sender: from,
            }),
        }
        // The first drop is told at once; later ones at most once per interval.
        if self
            .last_drop_report
            .is_none_or(|at| now.duration_since(at) >= self.config.drop_report_every)
        {
            self.last_drop_report = Some(now);
            self.report_drops();
        }
    }

    fn report_drops(&mut self) {
        for pending in std::mem::take(&mut self.drops) {
            self.observer.event(&Event::Dropped {
                listener: self.listener_name(pending.listener),
                reason: pending.reason,
                count: pending.count,
                last_sender: pending.last_sender.as_ref(),
            });
        }
    }
}

/// accept(2) failed for want of a descriptor or memory, not because of the
/// connection: the listener must try again later.
fn is_starvation(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

/// Who is at the other end: the address, or for Unix sockets the peer's
/// pid/uid/gid where the platform tells it (SPEC §4).
fn peer_of(socket: &Socket, addr: &socket2::SockAddr) -> Peer {
    match addr.as_socket() {
        Some(inet) => Peer::Inet(inet),
        None => Peer::Unix(platform::peer_credentials(socket)),
    }
}
