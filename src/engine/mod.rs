//! The echo engine: one `mio` event loop (epoll on Linux, kqueue on macOS/BSD)
//! that owns every listener, connection and datagram socket of every transport.
//!
//! It sees bytes, readiness and deadlines — partial writes, chunked reads,
//! half-close, backpressure, whole datagrams — and nothing else: it never
//! parses flags, prints, or knows which command runs it. What happens is told
//! to an [`Observer`]; what was done comes back as [`Stats`]. Who may be
//! served (connection caps, datagram rates, when enough is enough) is the
//! command's [`Policy`], asked, never decided here. There is no thread per
//! connection and no per-transport loop: [`spawn`] starts one loop
//! (`server.rs`) per worker thread over shared (dup'ed) listening sockets and
//! returns a [`Handle`] to stop and join them. This file is the interface;
//! the loop itself is `server.rs`. The client side of an exchange lives in [`client`];
//! both sit on the moves in [`stream`].

pub mod client;
pub mod dgram;
mod http;
pub mod meters;
mod server;

/// recvmmsg(2) batches where the system has them (Linux), one datagram at a
/// time elsewhere: the same items either way (`Batch`, `SLOTS`).
#[cfg(all(target_os = "linux", not(echokit_force_portable)))]
#[path = "batch.rs"]
mod batch;
#[cfg(not(all(target_os = "linux", not(echokit_force_portable))))]
#[path = "batch_portable.rs"]
mod batch;
pub mod stream;

/// A listener shared by workers wakes one of them (EPOLLEXCLUSIVE, Linux), or
/// every one of them (mio's registration, elsewhere).
#[cfg(all(target_os = "linux", not(echokit_force_portable)))]
#[path = "acceptor.rs"]
mod acceptor;
#[cfg(not(all(target_os = "linux", not(echokit_force_portable))))]
#[path = "acceptor_portable.rs"]
mod acceptor;

/// splice(2) through a pipe for bulk streams where the system has it (Linux);
/// elsewhere a connection never gets a pipe and keeps copying.
#[cfg(all(target_os = "linux", not(echokit_force_portable)))]
#[path = "splice.rs"]
mod splice;
#[cfg(not(all(target_os = "linux", not(echokit_force_portable))))]
#[path = "splice_portable.rs"]
mod splice;

use std::io;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::Waker;
use socket2::Socket;

use crate::transport::{self, SocketType};
use dgram::{DropReason, Sender};
use stream::EndReason;

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
    /// `serve --metrics`: served by the first worker's loop.
    pub metrics: Option<MetricsEndpoint>,
}

/// What renders the metrics page from every listener's counters.
pub trait MetricsPage: Send + Sync {
    /// The page's body for `listeners`, as they are now.
    fn render(&self, listeners: &[(meters::ListenerInfo, meters::Totals)]) -> String;
}

/// The listening sockets of the metrics page and what renders it. Never
/// echoed on: a request gets the page (`GET /metrics`) or an HTTP error.
#[derive(Clone)]
pub struct MetricsEndpoint {
    pub sockets: Vec<Arc<Socket>>,
    pub page: Arc<dyn MetricsPage>,
}

impl std::fmt::Debug for MetricsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsEndpoint")
            .field("sockets", &self.sockets)
            .finish_non_exhaustive()
    }
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
            metrics: None,
        }
    }
}

/// A socket the server serves on, with the text of its ready line.
#[derive(Debug)]
pub struct ServedSocket {
    /// Its place among every socket the process serves (set by [`spawn`]):
    /// the key of its counters in [`meters::Meters`].
    pub id: usize,
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
    /// Draining began in one worker: its listeners are closed, `open`
    /// connections (across every worker) may finish. Every worker tells it.
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
    /// Listeners, counted once per worker, out of descriptors right now: an
    /// episode is reported by the worker that starts it, not by every
    /// worker that meets it (they share one descriptor table).
    starved: AtomicUsize,
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

/// Running event loops, each on its own thread: what [`spawn`] returns.
pub struct Handle {
    control: Arc<Control>,
    threads: Vec<JoinHandle<io::Result<()>>>,
    meters: Arc<meters::Meters>,
}

impl Handle {
    /// Every listener's counters, readable while the loops run.
    pub fn meters(&self) -> Arc<meters::Meters> {
        Arc::clone(&self.meters)
    }

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
        let mut failure = None;
        for thread in self.threads {
            match thread.join() {
                Ok(Ok(())) => {}
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
            None => Ok(self.meters.stats()),
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
    let mut sockets = sockets;
    let mut infos = Vec::with_capacity(sockets.len());
    for (id, s) in sockets.iter_mut().enumerate() {
        s.id = id;
        infos.push(meters::ListenerInfo {
            name: s.name.clone(),
            transport: transport_name(s),
        });
    }
    let meters = Arc::new(meters::Meters::new(infos, workers.max(1)));
    let mut sets = vec![sockets];
    for _ in 1..workers.max(1) {
        let mut copy = Vec::new();
        for s in sets[0]
            .iter()
            .filter(|s| s.socket_type.accepts_connections() && !s.connected)
        {
            copy.push(ServedSocket {
                id: s.id,
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
        let worker_config = ServerConfig {
            // One heartbeat per process, from the first loop (it also owns the
            // datagram sockets and the metrics page).
            tick_every: config.tick_every.filter(|_| i == 0),
            metrics: None,
            ..config.clone()
        };
        let metrics = config_metrics(&config, i).map(|m| (m, Arc::clone(&meters)));
        servers.push(server::Server::new(
            set,
            worker_config,
            Arc::clone(&policy),
            Arc::clone(&observer),
            Arc::clone(&control),
            meters.worker(i),
            metrics,
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
    Ok(Handle {
        control,
        threads,
        meters,
    })
}

/// The metrics endpoint for worker `i`: the first worker's alone.
fn config_metrics(config: &ServerConfig, i: usize) -> Option<MetricsEndpoint> {
    config.metrics.clone().filter(|_| i == 0)
}

/// The SPEC §1 name of what `socket` serves (`tcp4`, `unixgram`…), from its
/// family and type; `unknown` for a socket without a local address.
fn transport_name(socket: &ServedSocket) -> &'static str {
    let family = match socket.socket.local_addr().map(|a| a.family() as i32) {
        Ok(libc::AF_INET) => transport::Family::Inet4,
        Ok(libc::AF_INET6) => transport::Family::Inet6,
        Ok(libc::AF_UNIX) => transport::Family::Unix,
        _ => return "unknown",
    };
    transport::Transport::with(socket.socket_type, family).map_or("unknown", |t| t.name())
}

/// A socket handed over already made (inetd, socket activation), ready to serve.
pub fn inherited_socket(inherited: transport::Inherited) -> ServedSocket {
    ServedSocket {
        id: 0,
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
            id: 0,
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
            id: 0,
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
