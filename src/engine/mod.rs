//! The echo engine: one `mio` event loop (epoll on Linux, kqueue on macOS/BSD)
//! that owns every listener, connection and datagram socket of every transport.
//!
//! It sees bytes, readiness and deadlines — partial writes, chunked reads,
//! half-close, backpressure, whole datagrams — and nothing else: it never
//! parses flags, prints, or knows which command runs it. What happens is told
//! to an [`Observer`]; what was done comes back as [`Stats`]. Who may be
//! served (connection caps, datagram rates, when enough is enough) is the
//! command's [`Policy`], asked, never decided here. There is no thread per
//! connection and no per-transport loop: [`spawn`] starts one loop per worker
//! thread over shared (dup'ed) listening sockets and returns a [`Handle`] to
//! stop and join them. The client side of an exchange lives in [`client`];
//! both sit on the moves in [`stream`].

pub mod client;
pub mod dgram;
pub mod stream;

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::Socket;

use crate::transport::{self, SocketType, platform};
use dgram::{DropReason, Received, Sender};
use stream::{EndReason, Step, StreamConn};

/// Reads one connection may do per readiness event before others get a turn.
const READS_PER_TURN: u32 = 16;
/// Accepts per readiness event before connections get a turn.
const ACCEPTS_PER_TURN: u32 = 128;
/// Datagrams per readiness event before others get a turn.
const DATAGRAMS_PER_TURN: u32 = 64;
const WAKER: Token = Token(0);

/// The mechanism's settings: sizes and times, nothing about who is served.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Read size per call; also the largest datagram or message echoed whole.
    pub buffer_size: usize,
    /// Close a connection after this long without a byte either way.
    pub idle_timeout: Option<Duration>,
    /// How long open connections may finish once draining begins.
    pub drain: Duration,
    /// Dropped datagrams are reported at most this often (the first at once).
    pub drop_report_every: Duration,
    /// The first worker tells the observer [`Event::Tick`] this often, from
    /// its loop: a heartbeat that stops when that loop is stuck.
    pub tick_every: Option<Duration>,
}

impl ServerConfig {
    /// A server with `buffer_size` that stops at once and reports drops once a second.
    pub fn new(buffer_size: usize) -> ServerConfig {
        ServerConfig {
            buffer_size,
            idle_timeout: None,
            drain: Duration::ZERO,
            drop_report_every: Duration::from_secs(1),
            tick_every: None,
        }
    }
}

/// A socket the server serves on, with the text of its ready line.
#[derive(Debug)]
pub struct ServedSocket {
    pub socket: Socket,
    pub socket_type: SocketType,
    /// AF_UNIX (paths and abstract names), as opposed to AF_INET/AF_INET6.
    pub unix: bool,
    /// An already connected socket (`--inetd`): echoed as one connection, never accepted on.
    pub connected: bool,
    pub name: String,
}

/// Who gets served: the command's policy, which the engine asks and never
/// second-guesses. Every method has the answer of a server with no limits.
pub trait Policy: Send + Sync {
    /// One more connection may open; `false` closes it at once (counted as rejected).
    fn admit_connection(&self) -> bool {
        true
    }
    /// A connection that was admitted has ended.
    fn connection_ended(&self) {}
    /// The datagram gate of one worker (a rate limit, say), made once per
    /// worker so the per-datagram path takes no lock; `None` lets every
    /// answerable datagram through.
    fn datagram_gate(&self) -> Option<Box<dyn DatagramGate>> {
        None
    }
    /// One exchange was echoed in full (a connection that half-closed and got
    /// every byte back, or a datagram); `false` asks every worker to drain.
    fn completed(&self) -> bool {
        true
    }
}

/// A per-worker filter on datagrams that may be echoed.
pub trait DatagramGate: Send {
    /// Whether one more datagram from `from` may be echoed at `now`.
    fn allow(&mut self, from: &Sender, now: Instant) -> bool;
    /// Forgets what is too old to matter (called about once a second).
    fn sweep(&mut self, now: Instant);
}

/// The policy of a server with no limits (check's and bench's own servers).
pub struct Unlimited;

impl Policy for Unlimited {}

/// Who is at the other end of a connection, for logs that want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// An IPv4 or IPv6 peer.
    Inet(std::net::SocketAddr),
    /// A Unix peer, with its credentials where the platform gives them (SO_PEERCRED).
    Unix(Option<(i32, u32, u32)>),
    /// A connection handed over already made (`--inetd`), by its ready-line name.
    Named(String),
}

/// What the engine reports as it runs. Words are the observer's business.
#[derive(Debug)]
pub enum Event<'a> {
    /// A connection was accepted on `listener` (only with details on).
    Accepted { listener: &'a str, peer: &'a Peer },
    /// A connection ended.
    Closed(Closed<'a>),
    /// A connection the policy did not admit was closed at once (`peer` only with details on).
    Rejected {
        listener: &'a str,
        peer: Option<&'a Peer>,
    },
    /// Datagrams not echoed since the last report, and the last sender.
    Dropped {
        listener: &'a str,
        reason: DropReason,
        count: u64,
        last_sender: Option<&'a Sender>,
    },
    /// A listener failed in a way that is not one connection's problem.
    ListenerError {
        listener: &'a str,
        error: &'a io::Error,
    },
    /// Draining began in one worker: its listeners are closed, `open` connections may finish.
    Draining { open: usize },
    /// The first worker's loop went round at [`ServerConfig::tick_every`];
    /// `open` connections are open across every worker.
    Tick { open: usize },
}

/// The summary of a connection that ended.
#[derive(Debug)]
pub struct Closed<'a> {
    pub listener: &'a str,
    /// Only with details on.
    pub peer: Option<&'a Peer>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration: Duration,
    pub reason: EndReason,
}

/// Receives the engine's events. Implementations must be cheap: they run on the loop.
pub trait Observer: Send + Sync {
    /// Whether per-connection peer details are wanted (costs an allocation per connection).
    fn details(&self) -> bool;
    /// One event.
    fn event(&self, event: &Event<'_>);
}

/// An observer that wants nothing.
pub struct Silent;

impl Observer for Silent {
    fn details(&self) -> bool {
        false
    }
    fn event(&self, _event: &Event<'_>) {}
}

/// Counts of what was done.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub accepted: u64,
    /// Connections echoed in full (stream and seqpacket).
    pub completed: u64,
    pub rejected: u64,
    pub datagrams_echoed: u64,
    pub datagrams_dropped: u64,
    /// Connections closed for a message larger than the buffer (SOCK_SEQPACKET).
    pub messages_truncated: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.accepted += other.accepted;
        self.completed += other.completed;
        self.rejected += other.rejected;
        self.datagrams_echoed += other.datagrams_echoed;
        self.datagrams_dropped += other.datagrams_dropped;
        self.messages_truncated += other.messages_truncated;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
    }
}

/// Where a server is in its life; it only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Shutdown {
    /// Serving.
    Running = 0,
    /// Listeners closed; open connections may finish up to the drain time.
    Draining = 1,
    /// Everything closes now.
    Stopping = 2,
}

impl Shutdown {
    fn from_u8(level: u8) -> Shutdown {
        match level {
            0 => Shutdown::Running,
            1 => Shutdown::Draining,
            _ => Shutdown::Stopping,
        }
    }
}

impl std::fmt::Display for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shutdown::Running => "running",
            Shutdown::Draining => "draining",
            Shutdown::Stopping => "stopping",
        })
    }
}

/// The run state every worker shares, and the wakers to tell them it changed.
#[derive(Debug, Default)]
pub struct Control {
    state: AtomicU8,
    /// Connections open across every worker (for [`Event::Tick`]).
    open: AtomicUsize,
    wakers: Mutex<Vec<Arc<Waker>>>,
}

impl Control {
    fn new() -> Arc<Control> {
        Arc::new(Control::default())
    }

    /// A signal (SIGINT/SIGTERM): the first drains, the second stops at once.
    pub fn signal(&self) {
        let _ = self
            .state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                Some((l + 1).min(Shutdown::Stopping as u8))
            });
        self.wake_all();
    }

    /// Starts draining, if nothing stronger was asked already.
    pub fn drain(&self) {
        self.advance(Shutdown::Draining);
    }

    /// Stops at once.
    pub fn stop(&self) {
        self.advance(Shutdown::Stopping);
    }

    fn advance(&self, to: Shutdown) {
        self.state.fetch_max(to as u8, Ordering::SeqCst);
        self.wake_all();
    }

    /// Where the server is now.
    pub fn state(&self) -> Shutdown {
        Shutdown::from_u8(self.state.load(Ordering::SeqCst))
    }

    fn wake_all(&self) {
        if let Ok(wakers) = self.wakers.lock() {
            for waker in wakers.iter() {
                let _ = waker.wake();
            }
        }
    }
}

enum Entry {
    Acceptor(usize),
    Datagram(usize),
    Stream(Box<Served>),
}

struct Served {
    conn: StreamConn,
    listener: usize,
    /// Only when the observer wants details: boxed, so an idle connection pays one pointer.
    peer: Option<Box<Peer>>,
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
struct Server {
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
    stats: Stats,
    open_conns: usize,
    drops: Vec<PendingDrop>,
    last_drop_report: Option<Instant>,
    drain_deadline: Option<Instant>,
    next_sweep: Option<Instant>,
    next_tick: Option<Instant>,
}

impl Server {
    /// Registers `sockets` on a new poll; nothing runs until [`Server::run`].
    fn new(
        sockets: Vec<ServedSocket>,
        config: ServerConfig,
        policy: Arc<dyn Policy>,
        observer: Arc<dyn Observer>,
        control: Arc<Control>,
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
            stats: Stats::default(),
            open_conns: 0,
            drops: Vec::new(),
            last_drop_report: None,
            drain_deadline: None,
            next_sweep: None,
            next_tick: None,
        };
        for (i, served) in sockets.into_iter().enumerate() {
            if served.connected && served.socket_type.accepts_connections() {
                // `--inetd`: the connection itself, echoed as if just accepted.
                let peer = Peer::Named(served.name.clone());
                server.add_connection(served.socket, served.socket_type, i, Some(peer))?;
                server.sockets.push(None);
                continue;
            }
            let entry = if served.socket_type.accepts_connections() {
                Entry::Acceptor(i)
            } else {
                Entry::Datagram(i)
            };
            let index = server.slab.insert(entry);
            register(&server.poll, &served.socket, index, Interest::READABLE)?;
            server.sockets.push(Some(served));
        }
        Ok(server)
    }

    /// Runs until shutdown completes; returns what was done.
    fn run(mut self) -> io::Result<Stats> {
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
                if event.token() != WAKER {
                    self.handle(event.token().0 - 1, now);
                }
            }
            for index in std::mem::take(&mut self.deferred) {
                self.handle(index, now);
            }
            self.periodic(now);
            self.tick(now);

            match self.control.state() {
                Shutdown::Running => {}
                Shutdown::Draining if !draining => {
                    draining = true;
                    self.stop_listening();
                    self.drain_deadline = Some(now + self.config.drain);
                    self.observer.event(&Event::Draining {
                        open: self.open_conns,
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
        Ok(self.stats)
    }

    fn poll_timeout(&mut self, now: Instant) -> Option<Duration> {
        if !self.deferred.is_empty() {
            return Some(Duration::ZERO);
        }
        let mut next: Option<Instant> = self.drain_deadline;
        if let Some(every) = self.sweep_interval() {
            let at = *self.next_sweep.get_or_insert(now + every);
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        if let Some(every) = self.config.tick_every {
            let at = *self.next_tick.get_or_insert(now + every);
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

    fn handle(&mut self, index: usize, now: Instant) {
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
                self.echo_datagrams(index, listener, now);
            }
            Entry::Stream(served) => {
                match served.conn.drive(&mut self.scratch, READS_PER_TURN, now) {
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
            let socket_type = served.socket_type;
            let (socket, peer_addr) = match served.socket.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The peer gave up between SYN and accept: its problem, not ours.
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                Err(e) => {
                    // EMFILE/ENFILE and the like: report, and try again next event.
                    self.observer.event(&Event::ListenerError {
                        listener: self.listener_name(listener),
                        error: &e,
                    });
                    return;
                }
            };
            self.stats.accepted += 1;
            let peer = self
                .observer
                .details()
                .then(|| peer_of(&socket, &peer_addr));
            if !self.policy.admit_connection() {
                self.stats.rejected += 1;
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
                .add_connection(socket, socket_type, listener, peer)
                .is_err()
            {
                self.policy.connection_ended();
            }
        }
        // Budget spent with connections possibly still queued: come back soon.
        self.deferred.push(index);
    }

    /// Registers an accepted (or inherited) connection and tells the observer.
    fn add_connection(
        &mut self,
        socket: Socket,
        socket_type: SocketType,
        listener: usize,
        peer: Option<Peer>,
    ) -> io::Result<()> {
        socket.set_nonblocking(true)?;
        let fd = socket.as_raw_fd();
        if let Some(peer) = &peer {
            self.observer.event(&Event::Accepted {
                listener: self.listener_name(listener),
                peer,
            });
        }
        let index = self.slab.insert(Entry::Stream(Box::new(Served {
            conn: StreamConn::new(socket, socket_type, Instant::now()),
            listener,
            peer: peer.map(Box::new),
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
        Ok(())
    }

    fn close(&mut self, index: usize, reason: EndReason) {
        let Some(Entry::Stream(served)) = self.slab.remove(index) else {
            return;
        };
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&served.conn.socket.as_raw_fd()));
        self.open_conns -= 1;
        self.control.open.fetch_sub(1, Ordering::Relaxed);
        self.policy.connection_ended();
        self.stats.bytes_in += served.conn.bytes_in;
        self.stats.bytes_out += served.conn.bytes_out;
        match reason {
            EndReason::Truncated => self.stats.messages_truncated += 1,
            EndReason::Completed => {
                self.stats.completed += 1;
                if !self.policy.completed() {
                    self.control.drain();
                }
            }
            _ => {}
        }
        self.observer.event(&Event::Closed(Closed {
            listener: self.listener_name(served.listener),
            peer: served.peer.as_deref(),
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

    fn stop_listening(&mut self) {
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

    fn echo_datagrams(&mut self, index: usize, listener: usize, now: Instant) {
        for _ in 0..DATAGRAMS_PER_TURN {
            let Some(served) = self.sockets.get(listener).and_then(|s| s.as_ref()) else {
                return;
            };
            let received = match dgram::receive(&served.socket, &mut self.scratch, served.unix) {
                Ok(r) => r,
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
                    continue;
                }
                Err(e) => {
                    self.observer.event(&Event::ListenerError {
                        listener: self.listener_name(listener),
                        error: &e,
                    });
                    return;
                }
            };
            match received {
                Received::Empty => return,
                Received::Dropped(reason, from) => self.note_drop(listener, reason, from, now),
                Received::Echo(len, from) => {
                    if let Some(gate) = self.gate.as_mut() {
                        if !gate.allow(&from, now) {
                            self.note_drop(listener, DropReason::RateLimited, Some(from), now);
                            continue;
                        }
                    }
                    match dgram::reply(&served.socket, &self.scratch[..len], &from) {
                        Ok(()) => {
                            self.stats.datagrams_echoed += 1;
                            self.stats.bytes_in += len as u64;
                            self.stats.bytes_out += len as u64;
                            if !self.policy.completed() {
                                self.control.drain();
                            }
                        }
                        Err(reason) => self.note_drop(listener, reason, Some(from), now),
                    }
                }
            }
        }
        self.deferred.push(index);
    }

    fn note_drop(
        &mut self,
        listener: usize,
        reason: DropReason,
        from: Option<Sender>,
        now: Instant,
    ) {
        self.stats.datagrams_dropped += 1;
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

/// Who is at the other end: the address, or for Unix sockets the peer's
/// pid/uid/gid where the platform tells it (SPEC §4).
fn peer_of(socket: &Socket, addr: &socket2::SockAddr) -> Peer {
    match addr.as_socket() {
        Some(inet) => Peer::Inet(inet),
        None => Peer::Unix(platform::peer_credentials(socket)),
    }
}

/// Running event loops, each on its own thread: what [`spawn`] returns.
pub struct Handle {
    control: Arc<Control>,
    threads: Vec<JoinHandle<io::Result<Stats>>>,
}

impl Handle {
    /// The run state, for a signal thread to act on.
    pub fn control(&self) -> Arc<Control> {
        Arc::clone(&self.control)
    }

    /// Stops every loop at once.
    pub fn stop(&self) {
        self.control.stop();
    }

    /// Whether every loop has ended.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Waits for every loop and sums what they did; the first failure wins.
    pub fn join(self) -> io::Result<Stats> {
        let mut total = Stats::default();
        let mut failure = None;
        for thread in self.threads {
            match thread.join() {
                Ok(Ok(stats)) => total.add(&stats),
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                }
                Err(_) => {
                    failure.get_or_insert(io::Error::other("an event loop thread panicked"));
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }
}

/// Starts `workers` event loops over `sockets` and returns at once. Every
/// worker accepts on every listener (dup'ed handles); datagram sockets and
/// inherited connections belong to the first worker alone, so a datagram
/// gate sees every datagram of its socket and needs no lock.
pub fn spawn(
    sockets: Vec<ServedSocket>,
    config: ServerConfig,
    workers: usize,
    policy: Arc<dyn Policy>,
    observer: Arc<dyn Observer>,
) -> io::Result<Handle> {
    let control = Control::new();
    let mut sets = vec![sockets];
    for _ in 1..workers.max(1) {
        let mut copy = Vec::new();
        for s in sets[0]
            .iter()
            .filter(|s| s.socket_type.accepts_connections() && !s.connected)
        {
            copy.push(ServedSocket {
                socket: s.socket.try_clone()?,
                socket_type: s.socket_type,
                unix: s.unix,
                connected: false,
                name: s.name.clone(),
            });
        }
        sets.push(copy);
    }
    // Every loop is registered before any runs: a stop asked at once reaches them all.
    let mut servers = Vec::with_capacity(sets.len());
    for (i, set) in sets.into_iter().enumerate() {
        let config = ServerConfig {
            // One heartbeat per process, from the first loop (it also owns the datagram sockets).
            tick_every: config.tick_every.filter(|_| i == 0),
            ..config.clone()
        };
        servers.push(Server::new(
            set,
            config,
            Arc::clone(&policy),
            Arc::clone(&observer),
            Arc::clone(&control),
        )?);
    }
    let mut threads = Vec::with_capacity(servers.len());
    for (i, server) in servers.into_iter().enumerate() {
        let thread = std::thread::Builder::new()
            .name(format!("echo loop {i}"))
            .spawn(move || server.run());
        match thread {
            Ok(t) => threads.push(t),
            Err(e) => {
                control.stop();
                return Err(e);
            }
        }
    }
    Ok(Handle { control, threads })
}

/// A socket handed over already made (inetd, socket activation), ready to serve.
pub fn inherited_socket(inherited: transport::Inherited) -> ServedSocket {
    ServedSocket {
        socket: inherited.socket,
        socket_type: inherited.socket_type,
        unix: inherited.unix,
        connected: inherited.connected,
        name: inherited.name,
    }
}

/// A bound listener, ready to serve, and the guard of its socket file.
pub fn served_socket(
    listener: transport::Listener,
) -> (ServedSocket, Option<transport::SocketFileGuard>) {
    let name = listener.display();
    (
        ServedSocket {
            unix: listener.local.family() == transport::Family::Unix,
            connected: false,
            socket: listener.socket,
            socket_type: listener.socket_type,
            name,
        },
        listener.guard,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Sends the name of the thread each tick came from.
    struct Ticks(Mutex<mpsc::Sender<String>>);

    impl Observer for Ticks {
        fn details(&self) -> bool {
            false
        }
        fn event(&self, event: &Event<'_>) {
            if let Event::Tick { open } = event {
                assert_eq!(*open, 0);
                let name = std::thread::current().name().unwrap_or("").to_string();
                let _ = self.0.lock().unwrap().send(name);
            }
        }
    }

    fn tcp_listener() -> ServedSocket {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        ServedSocket {
            socket: Socket::from(std::os::fd::OwnedFd::from(listener)),
            socket_type: SocketType::Stream,
            unix: false,
            connected: false,
            name: "tcp:test".into(),
        }
    }

    #[test]
    fn ticks_come_from_the_first_loop_alone_at_the_interval() {
        let (tx, rx) = mpsc::channel();
        let config = ServerConfig {
            tick_every: Some(Duration::from_millis(20)),
            ..ServerConfig::new(1024)
        };
        let started = Instant::now();
        let handle = spawn(
            vec![tcp_listener()],
            config,
            3,
            Arc::new(Unlimited),
            Arc::new(Ticks(Mutex::new(tx))),
        )
        .unwrap();
        for _ in 0..5 {
            let from = rx.recv_timeout(Duration::from_secs(10)).expect("a tick");
            assert_eq!(from, "echo loop 0");
        }
        // Five ticks 20 ms apart: no burst, no tick before its time.
        assert!(started.elapsed() >= Duration::from_millis(100));
        handle.stop();
        handle.join().unwrap();
    }

    #[test]
    fn no_ticks_unless_asked() {
        let (tx, rx) = mpsc::channel();
        let handle = spawn(
            vec![tcp_listener()],
            ServerConfig::new(1024),
            1,
            Arc::new(Unlimited),
            Arc::new(Ticks(Mutex::new(tx))),
        )
        .unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        handle.stop();
        handle.join().unwrap();
    }
}
