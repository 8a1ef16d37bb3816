//! SPEC §1: the only place sockets are created.
//!
//! Every transport is a (family, type, protocol) triple made through one
//! code path, the way the BSD API does it: `socket(family, type, protocol)`
//! ([`new_socket`]), then `bind`/`listen` or `connect` ([`listen`],
//! [`connect`]). What each transport *is* (prefix, family, type, protocol,
//! largest message, `--require` names) is the one table in `model.rs`, and
//! every socket made or handed over here carries its [`Transport`]. The
//! grammar's written form of an address is `display.rs`. Family specifics
//! live beside this file: `inet.rs` (v6only, the dual-stack fallback),
//! `unix.rs` (socket files: stale replacement, cleanup), and the platform
//! twin `linux.rs` / `portable.rs` (below). Nothing here echoes or prints.

mod display;
mod inet;
mod model;
mod unix;

/// The platform twin, chosen here once. `linux.rs` and `portable.rs` (macOS,
/// the BSDs, and Linux built with `--cfg echokit_force_portable` so CI
/// compiles it) each provide, with the same signatures:
///
/// - `SUPPORTS_ABSTRACT`, `SUPPORTS_SEQPACKET`, `SUPPORTS_MPTCP`: whether the
///   abstract namespace, SOCK_SEQPACKET over AF_UNIX and IPPROTO_MPTCP exist;
/// - `mptcp_in_use(socket)`: whether a connection on an MPTCP socket is MPTCP
///   or fell back to TCP, read from the kernel;
/// - `SUN_PATH_CAPACITY`, `MAX_UNIX_DATAGRAM`: the sizes of `sun_path` and of
///   the largest Unix datagram or message tried;
/// - `abstract_addr(name)`: the socket address of an abstract name;
/// - `bind_path_with_mode(socket, path, mode)`: bind(2) to a new socket file
///   that is never more permissive than `mode` (fchmod before bind, or a
///   private directory and link(2)), leaving the process umask alone;
/// - `bind_reply_address(socket)`: an address a Unix datagram client can be
///   answered at (autobind, or a temporary 0600 path and its guard);
/// - `set_no_sigpipe(socket)`: whatever keeps a write to a vanished peer from
///   raising SIGPIPE;
/// - `peer_credentials(socket)`: pid, uid and gid of a Unix peer, if known;
/// - `activated_sockets()`: systemd's LISTEN_FDS sockets, when LISTEN_PID is us;
/// - `LOOPBACK_SOURCES`, `bind_source(socket, ip)`: how many 127.0.0.x source
///   addresses a load generator may spread its connections over, and binding
///   to one without taking a port until connect(2) (IP_BIND_ADDRESS_NO_PORT);
/// - `socket_protocol(socket)`: SO_PROTOCOL's number for an inherited socket
///   (0 where the system cannot say, which is the default protocol).
///
/// Where a platform lacks something, its twin answers "not supported on this
/// platform" rather than panicking (mio's `sys/shell` idea).
#[cfg(echokit_linux)]
#[path = "linux.rs"]
pub mod platform;
#[cfg(not(echokit_linux))]
#[path = "portable.rs"]
pub mod platform;

use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use socket2::{SockAddr, Socket};

use crate::error::Error;

pub use display::{display, display_target, escape_controls};
pub use model::{
    Family, Kind, Protocol, REQUIRE_ABSTRACT, REQUIRE_LOCALHOST, SocketAddress, SocketType,
    Transport, require_names,
};
pub use unix::SocketFileGuard;

/// How to set up a listening socket.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// listen(2) backlog.
    pub backlog: i32,
    /// IPV6_V6ONLY for IPv6 sockets.
    pub v6only: bool,
    /// chmod of a created socket file.
    pub mode: Option<u32>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 1024,
            v6only: false,
            mode: None,
        }
    }
}

/// A bound (and, for streams, listening) non-blocking socket.
#[derive(Debug)]
pub struct Listener {
    pub socket: Socket,
    pub transport: Transport,
    /// The address it is really bound to (port 0 replaced by the kernel's choice).
    pub local: SocketAddress,
    /// Removes the socket file this process created, when dropped.
    pub guard: Option<SocketFileGuard>,
}

impl Listener {
    /// The ready-line form of the bound address (`tcp:127.0.0.1:40123`).
    pub fn display(&self) -> String {
        self.transport.display(&self.local)
    }

    /// Another handle on the same socket, for a second event loop.
    pub fn try_clone(&self) -> io::Result<Socket> {
        self.socket.try_clone()
    }
}

/// A connected non-blocking client socket (stream or datagram).
#[derive(Debug)]
pub struct Connection {
    pub socket: Socket,
    pub transport: Transport,
    pub peer: SocketAddress,
    /// The temporary path a Unix datagram client bound to get replies, where autobind is missing.
    pub guard: Option<SocketFileGuard>,
}

/// Raises the soft limit on open files to the hard limit, as servers do: every
/// connection is a file descriptor, and the usual soft limit (1024) is far
/// below ten thousand connections. Where the system refuses (macOS caps it
/// below an infinite hard limit), the limit stays as it was.
///
/// Then it sizes the descriptor table for up to [`RESERVED_DESCRIPTORS`] of
/// them at once, and must be called while the process has one thread: Linux
/// grows a table that several threads share only after an RCU grace period
/// (`expand_fdtable`, `synchronize_rcu`), and meanwhile accept(2) waits and
/// the listen queue overflows. Measured before this: a client opening 10,000
/// connections as fast as it could lost a SYN (a one-second retransmit) each
/// time the table grew, at 1,536, 3,072, 5,120 and 9,216 descriptors, and
/// took 3.2 s instead of 0.16 s. The table costs the kernel 8 bytes per
/// descriptor (512 KiB at 65,536) and never shrinks.
pub fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
    if let Some(soft) = open_files_limit() {
        let count = soft.min(RESERVED_DESCRIPTORS);
        // Best effort: without it, serving only waits once in a while.
        let _ = crate::sys::reserve_descriptors(i32::try_from(count).unwrap_or(i32::MAX));
    }
}

/// The open-files limit (soft RLIMIT_NOFILE) this process runs under: what
/// an error for running out of descriptors names.
pub fn open_files_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit};
    getrlimit(Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// How many descriptors [`raise_fd_limit`] makes room for up front.
pub const RESERVED_DESCRIPTORS: u64 = 65_536;

/// Creates an unbound socket of `transport` for `target`: the one `socket(2)`
/// call, with the row's family, type and protocol (0 for the family's own).
pub fn new_socket(transport: Transport, target: &SocketAddress) -> io::Result<Socket> {
    debug_assert_eq!(transport.family(), target.family());
    let socket = Socket::new(
        transport.family().to_socket2(),
        transport.socket_type().to_socket2(),
        transport.protocol().to_socket2(),
    )
    .map_err(|e| protocol_missing(transport.protocol(), e))?;
    platform::set_no_sigpipe(&socket)?;
    Ok(socket)
}

/// socket(2)'s refusal of a protocol in words that name the fix: a kernel
/// without MPTCP says EPROTONOSUPPORT (or EINVAL, before 5.6), one with it
/// turned off (`net.mptcp.enabled=0`) ENOPROTOOPT. Other errors stay as they are.
fn protocol_missing(protocol: Protocol, err: io::Error) -> io::Error {
    let said = crate::error::describe(&err);
    let text = match (protocol, err.raw_os_error()) {
        (Protocol::Mptcp, Some(libc::ENOPROTOOPT)) => format!(
            "MPTCP is turned off in this kernel (net.mptcp.enabled=0: socket(IPPROTO_MPTCP) says {said}); `sysctl net.mptcp.enabled=1` turns it on"
        ),
        (Protocol::Mptcp, Some(libc::EPROTONOSUPPORT | libc::EINVAL)) => format!(
            "this kernel has no MPTCP (socket(IPPROTO_MPTCP) says {said}): it needs Linux 5.6 or later built with CONFIG_MPTCP, and `sysctl net.mptcp.enabled=1`"
        ),
        _ => return err,
    };
    io::Error::new(io::ErrorKind::Unsupported, text)
}

/// Whether `err` is [`new_socket`]'s word that this kernel lacks the
/// transport's protocol or has it turned off (a SKIP in `check`, not a FAIL).
pub fn protocol_unavailable(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Unsupported && err.raw_os_error().is_none()
}

/// What a connection really runs over, read from the kernel, for a
/// transport whose peer can make it something else (MPTCP falls back to TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InUse {
    /// In `-v`'s words: `MPTCP`, `TCP after fallback`.
    pub words: &'static str,
    /// Whether it is what the transport promises (no fallback, and the
    /// kernel said so: never assumed).
    pub as_promised: bool,
}

impl Transport {
    /// What a connected socket of this transport really runs over, when
    /// that can differ from the transport itself; `None` when it cannot.
    pub fn in_use(self, socket: &Socket) -> Option<InUse> {
        let (words, as_promised) = match self.protocol() {
            Protocol::Default => return None,
            Protocol::Mptcp => match platform::mptcp_in_use(socket) {
                Ok(true) => ("MPTCP", true),
                Ok(false) => ("TCP after fallback", false),
                Err(_) => ("MPTCP or TCP (the kernel does not say)", false),
            },
        };
        Some(InUse { words, as_promised })
    }
}

/// The socket address for `target`.
pub fn sock_addr(target: &SocketAddress) -> io::Result<SockAddr> {
    match target {
        SocketAddress::Inet(a) => Ok(SockAddr::from(*a)),
        SocketAddress::Path(p) => SockAddr::unix(p),
        SocketAddress::Abstract(name) => platform::abstract_addr(name),
    }
}

/// Converts an address the kernel reported back into the grammar's terms.
pub fn sock_target(addr: &SockAddr) -> Option<SocketAddress> {
    if let Some(inet) = addr.as_socket() {
        return Some(SocketAddress::Inet(inet));
    }
    if let Some(path) = addr.as_pathname() {
        return Some(SocketAddress::Path(path.to_path_buf()));
    }
    addr.as_abstract_namespace()
        .map(|name| SocketAddress::Abstract(name.to_vec()))
}

/// The last steps of every listener once bound: listen(2) for the types that
/// accept connections, then non-blocking for the event loop.
fn start_listening(socket: &Socket, kind: Kind, options: ListenOptions) -> io::Result<()> {
    if kind.accepts_connections() {
        socket.listen(options.backlog)?;
    }
    socket.set_nonblocking(true)
}

/// Binds `target` (and listens, for streams), non-blocking, ready for the event loop.
pub fn listen(
    kind: Kind,
    target: &SocketAddress,
    options: ListenOptions,
) -> Result<Listener, Error> {
    match target {
        SocketAddress::Inet(a) => inet::listen(kind, *a, options),
        SocketAddress::Path(path) => unix::listen_path(kind, path, options),
        SocketAddress::Abstract(_) => unix::listen_abstract(kind, target, options),
    }
}

/// A socket a server serves on: one it bound ([`Listener::served`]) or one
/// handed to it already made ([`inherited`]: inetd's stdin, systemd's fds),
/// with its transport and the text of its ready line.
#[derive(Debug)]
pub struct ServedSocket {
    /// Its place among every socket the process serves (set by the engine's
    /// `spawn`): the key of its counters.
    pub id: usize,
    pub socket: Socket,
    pub transport: Transport,
    /// An already connected socket (`--inetd`, Accept=yes): echoed as one
    /// connection, never accepted on.
    pub connected: bool,
    /// The ready-line form of its local address (the peer's, for a connected stream).
    pub name: String,
}

impl Listener {
    /// The listener as a socket to serve, and the guard of its socket file.
    pub fn served(self) -> (ServedSocket, Option<SocketFileGuard>) {
        let name = self.display();
        (
            ServedSocket {
                id: 0,
                socket: self.socket,
                transport: self.transport,
                connected: false,
                name,
            },
            self.guard,
        )
    }
}

/// Reads family, type, protocol (SO_PROTOCOL) and state from an inherited socket.
pub fn inherited(socket: Socket) -> io::Result<ServedSocket> {
    let unsupported = || io::Error::other("a socket of an unsupported family, type or protocol");
    let socket_type = SocketType::from_socket2(socket.r#type()?).ok_or_else(unsupported)?;
    let family = Family::from_socket2(socket.domain()?).ok_or_else(unsupported)?;
    let protocol =
        Protocol::from_raw(family, platform::socket_protocol(&socket)?).ok_or_else(unsupported)?;
    let transport = Transport::find(family, socket_type, protocol).ok_or_else(unsupported)?;
    let local = socket.local_addr()?;
    // A stream socket that is not listening is a connection (inetd, Accept=yes).
    let connected = socket_type.accepts_connections() && socket.peer_addr().is_ok();
    let peer = socket.peer_addr().ok().and_then(|a| sock_target(&a));
    let name = match (&peer, connected) {
        (Some(p), true) => transport.display(p),
        _ => sock_target(&local).map_or_else(
            || transport.display(&SocketAddress::Path("(unnamed)".into())),
            |t| transport.display(&t),
        ),
    };
    socket.set_nonblocking(true)?;
    Ok(ServedSocket {
        id: 0,
        socket,
        transport,
        connected,
        name,
    })
}

/// The socket inetd passed as stdin (a dup of fd 0): a connected stream, or a datagram socket.
pub fn from_stdin() -> io::Result<ServedSocket> {
    use std::os::fd::AsFd;
    let fd = io::stdin().as_fd().try_clone_to_owned()?;
    inherited(Socket::from(fd))
}

/// Sockets passed by systemd socket activation, if `LISTEN_PID` is ours,
/// each checked to be one echokit serves (see [`platform::activated_sockets`]).
pub fn activated() -> Result<Vec<(ServedSocket, Option<String>)>, Error> {
    platform::activated_sockets()?
        .into_iter()
        .map(|(socket, name)| {
            inherited(socket)
                .map(|i| (i, name))
                .map_err(|e| Error::listen("LISTEN_FDS", e))
        })
        .collect()
}

/// How long a connect may wait when the caller gives no limit (SPEC §4 send:
/// `--connect-timeout`, default `--timeout`, else 10s).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `target`: for streams, the handshake (bounded by `timeout`,
/// [`DEFAULT_CONNECT_TIMEOUT`] when `None`); for datagrams, binds a local
/// address so replies can come back, then fixes the peer.
pub fn connect(
    kind: Kind,
    target: &SocketAddress,
    timeout: Option<Duration>,
) -> Result<Connection, io::Error> {
    connect_from(kind, target, timeout, None)
}

/// [`connect`] from local address `source` (an IP, its port left to the
/// kernel at connect time, see [`platform::bind_source`]): how a load
/// generator spreads many connections over 127.0.0.1–127.0.0.16 so that
/// ephemeral ports do not run out.
pub fn connect_from(
    kind: Kind,
    target: &SocketAddress,
    timeout: Option<Duration>,
    source: Option<IpAddr>,
) -> Result<Connection, io::Error> {
    let transport = Transport::of(kind, target);
    let (socket, guard) = client_socket(transport, target, source)?;
    let addr = sock_addr(target)?;
    socket.set_nonblocking(true)?;
    if kind.accepts_connections() {
        let limit = timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        connect_within(&socket, &addr, Instant::now() + limit, limit)?;
    } else {
        // A datagram connect only fixes the peer: it never waits.
        socket.connect(&addr)?;
    }
    Ok(Connection {
        socket,
        transport,
        peer: target.clone(),
        guard,
    })
}

/// The one connect of every client that waits (send, check, bench), on a
/// non-blocking socket, never past `deadline`:
///
/// - EINPROGRESS (TCP): the handshake is under way; poll(2) for writable,
///   then SO_ERROR says how it ended. No answer by the deadline (a full TCP
///   backlog drops the SYN, a firewall drops it silently) is a timeout.
/// - EAGAIN on AF_UNIX is not "in progress": the server's listen queue is
///   full (`unix_stream_connect` in net/unix/af_unix.c) and nothing will
///   signal when it has room, so the connect is tried again, a little later
///   each time, until the deadline, then a timeout naming the full queue.
///
/// `limit` is only for the words of the full-queue timeout.
fn connect_within(
    socket: &Socket,
    addr: &SockAddr,
    deadline: Instant,
    limit: Duration,
) -> io::Result<()> {
    let mut pause = Duration::from_millis(1);
    loop {
        let err = match socket.connect(addr) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        match err.raw_os_error() {
            Some(libc::EINPROGRESS) => return wait_connected(socket, deadline),
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) if addr.is_unix() => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "its listen queue stayed full for {}: the server accepts no more connections",
                            shown(limit)
                        ),
                    ));
                }
                std::thread::sleep(pause.min(left));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            _ => return Err(err),
        }
    }
}

/// A limit in a timeout's words, rounded up to 10 ms: a caller's deadline
/// already under way (`--timeout 1s`) says 1s, not 999ms 993us 660ns.
fn shown(limit: Duration) -> humantime::FormattedDuration {
    let millis = limit.as_millis().div_ceil(10) * 10;
    humantime::format_duration(Duration::from_millis(
        u64::try_from(millis).unwrap_or(u64::MAX),
    ))
}

/// Waits for a TCP handshake under way to end, never past `deadline`.
fn wait_connected(socket: &Socket, deadline: Instant) -> io::Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // Rounded up: a deadline 0.4 ms away still waits, and never for ever.
        let millis = u32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u32::MAX);
        if millis == 0 {
            // "timed out connecting to ADDR" says it all.
            return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
        }
        let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLOUT)];
        match poll(
            &mut fds,
            PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => continue,
            Ok(_) => {
                if let Some(e) = socket.take_error()? {
                    return Err(e);
                }
                // Writable without an error: connected, unless the kernel says otherwise.
                return socket.peer_addr().map(drop);
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Starts connecting without waiting for the handshake: the socket is
/// non-blocking from the start, a write says EAGAIN until it is connected,
/// and readiness (writable, or an error) tells when. For many connections
/// opened at once from one event loop (`bench --churn`).
pub fn start_connect(
    kind: Kind,
    target: &SocketAddress,
    source: Option<IpAddr>,
) -> Result<Connection, io::Error> {
    let transport = Transport::of(kind, target);
    let (socket, guard) = client_socket(transport, target, source)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&sock_addr(target)?) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(Connection {
        socket,
        transport,
        peer: target.clone(),
        guard,
    })
}

/// A client's socket, bound where it must be: to `source` when given, and a
/// Unix datagram client to an address the server can answer (SPEC §3).
fn client_socket(
    transport: Transport,
    target: &SocketAddress,
    source: Option<IpAddr>,
) -> io::Result<(Socket, Option<SocketFileGuard>)> {
    let socket = new_socket(transport, target)?;
    let guard = match (transport.socket_type(), target) {
        (SocketType::Datagram, SocketAddress::Path(_) | SocketAddress::Abstract(_)) => {
            platform::bind_reply_address(&socket)?
        }
        _ => None,
    };
    if let (Some(ip), SocketAddress::Inet(_)) = (source, target) {
        platform::bind_source(&socket, ip)?;
    }
    Ok((socket, guard))
}

/// Creates a socket for `target`, binds it and closes it at once, keeping the
/// system's own errno: how `check` asks whether this machine has an address
/// family or address (EAFNOSUPPORT from socket(2), EADDRNOTAVAIL from bind(2)).
pub fn probe_bind(kind: Kind, target: &SocketAddress) -> io::Result<()> {
    let socket = new_socket(Transport::of(kind, target), target)?;
    socket.bind(&sock_addr(target)?)
}
