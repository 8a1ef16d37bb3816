//! The echo engine: one `mio` event loop (epoll on Linux, kqueue on macOS/BSD)
//! that owns every listener, connection and datagram socket of every transport.
//!
//! It sees bytes, readiness and deadlines — partial writes, chunked reads,
//! half-close, backpressure, whole datagrams — and nothing else: it never
//! parses flags, prints, or knows which command runs it. What happens is told
//! to an [`Observer`]; what was done comes back as [`Stats`]. There is no
//! thread per connection and no per-transport loop: one [`Server`] per worker
//! thread, over shared (dup'ed) listening sockets. The client side of an
//! exchange lives in [`client`]; both sit on the moves in [`stream`].

pub mod client;
pub mod dgram;
pub mod load;
pub mod stream;

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::Socket;

use crate::transport::{self, SocketFileGuard, platform};
use crate::transport::{SocketAddress, SocketType};
use dgram::{DropReason, RateLimiter, Received};
use stream::{EndReason, Step, StreamConn};

/// Reads one connection may do per readiness event before others get a turn.
const READS_PER_TURN: u32 = 16;
/// Accepts per readiness event before connections get a turn.
const ACCEPTS_PER_TURN: u32 = 128;
/// Datagrams per readiness event before others get a turn.
const DATAGRAMS_PER_TURN: u32 = 64;
/// How often dropped-datagram counts are logged at most.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(1);
const WAKER: Token = Token(0);

/// How the server behaves (SPEC §4 serve options).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub buffer_size: usize,
    pub max_conns: Option<usize>,
    pub idle_timeout: Option<Duration>,
    pub drain: Duration,
    pub udp_rate: Option<u32>,
    pub count: Option<u64>,
}

/// A socket the server serves on, with the text of its ready line.
#[derive(Debug)]
pub struct ServedSocket {
    pub socket: Socket,
    pub socket_type: SocketType,
    /// AF_UNIX (paths and abstract names), as opposed to AF_INET/AF_INET6.
    pub unix: bool,
    /// An already connected stream (`--inetd`): echoed as one connection, never accepted on.
    pub connected: bool,
    pub name: String,
}

/// What the engine reports as it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// A connection was accepted on `listener` (only with details on).
    Accepted { listener: &'a str, peer: &'a str },
    /// A connection ended.
    Closed {
        listener: &'a str,
        peer: &'a str,
        bytes_in: u64,
        bytes_out: u64,
        duration: Duration,
        reason: EndReason,
    },
    /// A connection over `--max-conns` was closed at once.
    Rejected { listener: &'a str, peer: &'a str },
    /// Datagrams not echoed since the last report, and the last sender.
    Dropped {
        listener: &'a str,
        reason: DropReason,
        count: u64,
        last_sender: &'a str,
    },
    /// A listener failed in a way that is not one connection's problem.
    ListenerError {
        listener: &'a str,
        error: &'a io::Error,
    },
    /// Shutdown began: listeners closed, `open` connections may finish.
    Draining { open: usize },
}

/// Receives the engine's events. Implementations must be cheap: they run on the loop.
pub trait Observer: Sync {
    /// Whether per-connection peer details are wanted (costs a string per connection).
    fn details(&self) -> bool;
    /// One event.
    fn event(&self, event: &Event<'_>);
}

/// Counts of what was done.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub accepted: u64,
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

/// Run state shared by every worker and the signal thread.
#[derive(Debug, Default)]
pub struct Control {
    /// 0 running, 1 draining, 2 stop now.
    level: AtomicU8,
    completed: AtomicU64,
    /// Open connections across every worker, for `--max-conns`.
    open_conns: AtomicUsize,
    /// `--udp-rate` windows, shared so the limit is per process, not per worker.
    limiter: Mutex<Option<RateLimiter>>,
    wakers: Mutex<Vec<Arc<Waker>>>,
    socket_files: Mutex<Vec<SocketFileGuard>>,
}

impl Control {
    /// A fresh control block; `socket_files` are removed when shutdown begins.
    pub fn new(socket_files: Vec<SocketFileGuard>) -> Arc<Control> {
        Arc::new(Control {
            socket_files: Mutex::new(socket_files),
            ..Control::default()
        })
    }

    /// Takes a connection slot under `max` (shared by every worker); `false` when full.
    fn take_slot(&self, max: Option<usize>) -> bool {
        let Some(max) = max else {
            self.open_conns.fetch_add(1, Ordering::Relaxed);
            return true;
        };
        self.open_conns
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    fn release_slot(&self) {
        self.open_conns.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether one more datagram from `from` is within `--udp-rate`.
    fn allow_datagram(&self, limit: u32, from: &dgram::Sender, now: Instant) -> bool {
        let Ok(mut limiter) = self.limiter.lock() else {
            return true;
        };
        limiter
            .get_or_insert_with(|| RateLimiter::new(limit))
            .allow(from, now)
    }

    fn sweep_limiter(&self, now: Instant) {
        if let Ok(mut limiter) = self.limiter.lock() {
            if let Some(l) = limiter.as_mut() {
                l.sweep(now);
            }
        }
    }

    /// Asks every worker to drain (first call) or to stop at once (second).
    pub fn signal(&self) {
        let _ = self
            .level
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| Some((l + 1).min(2)));
        self.wake_all();
    }

    /// Starts draining, if nothing stronger was asked already.
    pub fn drain(&self) {
        let _ = self
            .level
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst);
        self.wake_all();
    }

    fn level(&self) -> u8 {
        self.level.load(Ordering::SeqCst)
    }

    fn wake_all(&self) {
        if let Ok(wakers) = self.wakers.lock() {
            for waker in wakers.iter() {
                let _ = waker.wake();
            }
        }
    }

    fn remove_socket_files(&self) {
        if let Ok(mut files) = self.socket_files.lock() {
            files.clear();
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
    peer: Option<Box<str>>,
}

/// A minimal slab: tokens are indices, freed slots are reused.
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
}

fn token(index: usize) -> Token {
    Token(index + 1)
}

fn register(poll: &Poll, socket: &Socket, index: usize, interest: Interest) -> io::Result<()> {
    poll.registry()
        .register(&mut SourceFd(&socket.as_raw_fd()), token(index), interest)
}

/// One event loop over its own handles on the served sockets.
pub struct Server<'o> {
    poll: Poll,
    slab: Slab,
    sockets: Vec<Option<ServedSocket>>,
    /// Ready-line names of the served sockets, kept after they close for logs.
    names: Vec<String>,
    config: ServerConfig,
    observer: &'o dyn Observer,
    control: Arc<Control>,
    scratch: Vec<u8>,
    deferred: Vec<usize>,
    stats: Stats,
    open_conns: usize,
    /// Drops not yet reported: (listener, reason, count, last sender). The
    /// sender is turned into text only when reported, never per datagram.
    drops: Vec<(usize, DropReason, u64, Option<dgram::Sender>)>,
    last_drop_report: Option<Instant>,
    drain_deadline: Option<Instant>,
    next_sweep: Option<Instant>,
}

impl<'o> Server<'o> {
    /// Registers `sockets` on a new poll; nothing runs until [`Server::run`].
    pub fn new(
        sockets: Vec<ServedSocket>,
        config: ServerConfig,
        observer: &'o dyn Observer,
        control: Arc<Control>,
    ) -> io::Result<Server<'o>> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        control
            .wakers
            .lock()
            .map_err(|_| io::Error::other("control lock poisoned"))?
            .push(waker);
        let mut slab = Slab {
            entries: Vec::new(),
            free: Vec::new(),
        };
        let names: Vec<String> = sockets.iter().map(|s| s.name.clone()).collect();
        let mut listening = Vec::with_capacity(sockets.len());
        let mut open_conns = 0;
        for (i, served) in sockets.into_iter().enumerate() {
            if served.connected && served.socket_type.accepts_connections() {
                served.socket.set_nonblocking(true)?;
                let index = slab.insert(Entry::Stream(Box::new(Served {
                    conn: StreamConn::new(served.socket, served.socket_type, Instant::now()),
                    listener: i,
                    peer: observer
                        .details()
                        .then(|| served.name.clone().into_boxed_str()),
                })));
                if let Some(Entry::Stream(s)) = &slab.entries[index] {
                    register(
                        &poll,
                        &s.conn.socket,
                        index,
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                }
                open_conns += 1;
                control.take_slot(None);
                listening.push(None);
                continue;
            }
            let entry = if served.socket_type.accepts_connections() {
                Entry::Acceptor(i)
            } else {
                Entry::Datagram(i)
            };
            let index = slab.insert(entry);
            register(&poll, &served.socket, index, Interest::READABLE)?;
            listening.push(Some(served));
        }
        Ok(Server {
            poll,
            slab,
            names,
            sockets: listening,
            scratch: vec![0; config.buffer_size],
            config,
            observer,
            control,
            deferred: Vec::new(),
            stats: Stats::default(),
            open_conns,
            drops: Vec::new(),
            last_drop_report: None,
            drain_deadline: None,
            next_sweep: None,
        })
    }

    /// Runs until shutdown completes; returns what was done.
    pub fn run(mut self) -> io::Result<Stats> {
        let mut events = Events::with_capacity(1024);
        let mut draining = false;
        loop {
            let now = Instant::now();
            let mut timeout = self.poll_timeout(now);
            // A signal may have come before this loop's waker was registered:
            // then nothing would wake the poll, so look instead of sleeping.
            let asked = self.control.level();
            if (asked == 1 && !draining) || asked >= 2 {
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

            if let Some(limit) = self.config.count {
                if self.control.completed.load(Ordering::SeqCst) >= limit {
                    self.control.drain();
                }
            }
            match self.control.level() {
                0 => {}
                1 if !draining => {
                    draining = true;
                    self.stop_listening();
                    self.drain_deadline = Some(now + self.config.drain);
                    self.observer.event(&Event::Draining {
                        open: self.open_conns,
                    });
                }
                1 => {}
                _ => {
                    self.stop_listening();
                    self.close_all(EndReason::Stopped);
                    break;
                }
            }
            if self.open_conns == 0 && self.sockets.iter().all(Option::is_none) {
                // Nothing left to serve: an `--inetd` connection ended.
                break;
            }
            if draining {
                if self.open_conns == 0 {
                    break;
                }
                if self.drain_deadline.is_some_and(|d| now >= d) {
                    self.close_all(EndReason::DrainTimeout);
                    break;
                }
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
        let sweep_every = self.sweep_interval();
        if let Some(every) = sweep_every {
            let at = *self.next_sweep.get_or_insert(now + every);
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        next.map(|at| at.saturating_duration_since(now))
    }

    fn sweep_interval(&self) -> Option<Duration> {
        let idle = self
            .config
            .idle_timeout
            .map(|t| (t / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)));
        let periodic = (!self.drops.is_empty() || self.config.udp_rate.is_some())
            .then_some(DROP_REPORT_INTERVAL);
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
                .entries
                .iter()
                .enumerate()
                .filter_map(|(i, e)| match e {
                    Some(Entry::Stream(s)) if now.duration_since(s.conn.last_active) >= idle => {
                        Some(i)
                    }
                    _ => None,
                })
                .collect();
            for i in expired {
                self.close(i, EndReason::IdleTimeout);
            }
        }
        if self.config.udp_rate.is_some() {
            self.control.sweep_limiter(now);
        }
        self.report_drops();
    }

    fn handle(&mut self, index: usize, now: Instant) {
        let Some(entry) = self.slab.entries.get_mut(index).and_then(|e| e.as_mut()) else {
            return;
        };
        match entry {
            Entry::Acceptor(listener) => {
                let listener = *listener;
                self.accept(index, listener, now);
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

    fn accept(&mut self, index: usize, listener: usize, now: Instant) {
        for _ in 0..ACCEPTS_PER_TURN {
            let Some(served) = self.sockets.get(listener).and_then(|s| s.as_ref()) else {
                return;
            };
            let (socket, peer_addr) = match served.socket.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The peer gave up between SYN and accept: its problem, not ours.
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                Err(e) => {
                    // EMFILE/ENFILE and the like: report, and try again next event.
                    let name = served.name.clone();
                    self.observer.event(&Event::ListenerError {
                        listener: &name,
                        error: &e,
                    });
                    return;
                }
            };
            self.stats.accepted += 1;
            let details = self.observer.details();
            let peer = details.then(|| describe_peer(&socket, &peer_addr));
            if !self.control.take_slot(self.config.max_conns) {
                self.stats.rejected += 1;
                if let Some(peer) = &peer {
                    let name = self.listener_name(listener).to_string();
                    self.observer.event(&Event::Rejected {
                        listener: &name,
                        peer,
                    });
                }
                continue; // dropping `socket` closes it at once
            }
            if socket.set_nonblocking(true).is_err() {
                self.control.release_slot();
                continue;
            }
            if peer_addr.is_ipv4() || peer_addr.is_ipv6() {
                // Echo is latency-bound: never hold a small echo back for Nagle.
                let _ = socket.set_tcp_nodelay(true);
            }
            let socket_type = served.socket_type;
            let conn_index = self.slab.insert(Entry::Stream(Box::new(Served {
                conn: StreamConn::new(socket, socket_type, now),
                listener,
                peer: peer.map(String::into_boxed_str),
            })));
            let registered = match &self.slab.entries[conn_index] {
                Some(Entry::Stream(s)) => register(
                    &self.poll,
                    &s.conn.socket,
                    conn_index,
                    Interest::READABLE | Interest::WRITABLE,
                ),
                _ => Ok(()),
            };
            if registered.is_err() {
                self.slab.remove(conn_index);
                self.control.release_slot();
                continue;
            }
            self.open_conns += 1;
            if details {
                if let Some(Some(Entry::Stream(s))) = self.slab.entries.get(conn_index) {
                    let name = self.listener_name(listener);
                    self.observer.event(&Event::Accepted {
                        listener: name,
                        peer: s.peer.as_deref().unwrap_or(""),
                    });
                }
            }
        }
        // Budget spent with connections possibly still queued: come back soon.
        self.deferred.push(index);
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
        self.control.release_slot();
        self.stats.bytes_in += served.conn.bytes_in;
        self.stats.bytes_out += served.conn.bytes_out;
        if reason == EndReason::Truncated {
            self.stats.messages_truncated += 1;
        }
        if reason == EndReason::Completed {
            self.stats.completed += 1;
            self.control.completed.fetch_add(1, Ordering::SeqCst);
        }
        let name = self.listener_name(served.listener);
        self.observer.event(&Event::Closed {
            listener: name,
            peer: served.peer.as_deref().unwrap_or(""),
            bytes_in: served.conn.bytes_in,
            bytes_out: served.conn.bytes_out,
            duration: served.conn.started.elapsed(),
            reason,
        });
    }

    fn close_all(&mut self, reason: EndReason) {
        let open: Vec<usize> = (0..self.slab.entries.len())
            .filter(|&i| matches!(self.slab.entries[i], Some(Entry::Stream(_))))
            .collect();
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
        self.control.remove_socket_files();
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
                    let name = served.name.clone();
                    self.observer.event(&Event::ListenerError {
                        listener: &name,
                        error: &e,
                    });
                    return;
                }
            };
            match received {
                Received::Empty => return,
                Received::Dropped(reason, from) => {
                    self.note_drop(listener, reason, from.as_ref(), now)
                }
                Received::Echo(len, from) => {
                    if let Some(limit) = self.config.udp_rate {
                        if !self.control.allow_datagram(limit, &from, now) {
                            self.note_drop(listener, DropReason::RateLimited, Some(&from), now);
                            continue;
                        }
                    }
                    match dgram::reply(&served.socket, &self.scratch[..len], &from) {
                        Ok(()) => {
                            self.stats.datagrams_echoed += 1;
                            self.stats.bytes_in += len as u64;
                            self.stats.bytes_out += len as u64;
                            self.stats.completed += 1;
                            self.control.completed.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(reason) => self.note_drop(listener, reason, Some(&from), now),
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
        from: Option<&dgram::Sender>,
        now: Instant,
    ) {
        self.stats.datagrams_dropped += 1;
        let sender = from.cloned();
        match self
            .drops
            .iter_mut()
            .find(|(l, r, _, _)| *l == listener && *r == reason)
        {
            Some(entry) => {
                entry.2 += 1;
                entry.3 = sender;
            }
            None => self.drops.push((listener, reason, 1, sender)),
        }
        // The first drop is told at once; later ones at most once per interval.
        if self
            .last_drop_report
            .is_none_or(|at| now.duration_since(at) >= DROP_REPORT_INTERVAL)
        {
            self.last_drop_report = Some(now);
            self.report_drops();
        }
    }

    fn report_drops(&mut self) {
        for (listener, reason, count, sender) in std::mem::take(&mut self.drops) {
            let name = self.listener_name(listener).to_string();
            self.observer.event(&Event::Dropped {
                listener: &name,
                reason,
                count,
                last_sender: &dgram::describe_sender(sender.as_ref()),
            });
        }
    }
}

/// Peer address for logs; for Unix sockets, the peer's pid/uid/gid (SPEC §4).
fn describe_peer(socket: &Socket, addr: &socket2::SockAddr) -> String {
    if let Some(inet) = addr.as_socket() {
        return crate::addr::display_target(&SocketAddress::Inet(inet));
    }
    match platform::peer_credentials(socket) {
        Some((pid, uid, gid)) => format!("pid={pid} uid={uid} gid={gid}"),
        None => "unix peer".to_string(),
    }
}

/// Runs `workers` event loops over `sockets` (each loop gets its own handles)
/// and returns their summed stats once all have stopped.
pub fn serve(
    sockets: Vec<ServedSocket>,
    config: ServerConfig,
    workers: usize,
    observer: &dyn Observer,
    control: Arc<Control>,
) -> io::Result<Stats> {
    let mut sets = Vec::with_capacity(workers);
    for _ in 1..workers {
        let mut copy = Vec::with_capacity(sockets.len());
        for s in &sockets {
            copy.push(ServedSocket {
                socket: s.socket.try_clone()?,
                socket_type: s.socket_type,
                unix: s.unix,
                connected: s.connected,
                name: s.name.clone(),
            });
        }
        sets.push(copy);
    }
    let mut servers = Vec::with_capacity(workers);
    servers.push(Server::new(
        sockets,
        config.clone(),
        observer,
        control.clone(),
    )?);
    for set in sets {
        servers.push(Server::new(set, config.clone(), observer, control.clone())?);
    }
    let mut total = Stats::default();
    std::thread::scope(|scope| -> io::Result<()> {
        let mut servers = servers.into_iter();
        let first = servers.next().expect("at least one worker");
        let handles: Vec<_> = servers.map(|s| scope.spawn(move || s.run())).collect();
        total.add(&first.run()?);
        for handle in handles {
            match handle.join() {
                Ok(result) => total.add(&result?),
                Err(_) => return Err(io::Error::other("an event loop thread panicked")),
            }
        }
        Ok(())
    })?;
    Ok(total)
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
pub fn served_socket(listener: transport::Listener) -> (ServedSocket, Option<SocketFileGuard>) {
    let name = listener.display();
    (
        ServedSocket {
            unix: !matches!(listener.local, SocketAddress::Inet(_)),
            connected: false,
            socket: listener.socket,
            socket_type: listener.socket_type,
            name,
        },
        listener.guard,
    )
}
