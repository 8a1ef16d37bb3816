//! SPEC §1: the only place sockets are created.
//!
//! Every transport is a (family, type) pair made through one code path, the
//! way the BSD API does it: `socket(family, type, 0)`, then `bind`/`listen` or
//! `connect` ([`listen`], [`connect`]). What each transport *is* (prefix,
//! family, type, largest message, `--require` names) is the one table in
//! `model.rs`. Family specifics live beside this file: `inet.rs` (v6only, the
//! dual-stack fallback), `unix.rs` (socket files: stale replacement,
//! cleanup), and the platform twin `linux.rs` / `portable.rs` (below).
//! Nothing here echoes or prints.

mod inet;
mod model;
mod unix;

/// The platform twin, chosen here once. `linux.rs` and `portable.rs` (macOS,
/// the BSDs, and Linux built with `--cfg echokit_force_portable` so CI
/// compiles it) each provide, with the same signatures:
///
/// - `SUPPORTS_ABSTRACT`, `SUPPORTS_SEQPACKET`: whether the abstract namespace
///   and SOCK_SEQPACKET over AF_UNIX exist;
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
///   to one without taking a port until connect(2) (IP_BIND_ADDRESS_NO_PORT).
///
/// Where a platform lacks something, its twin answers "not supported on this
/// platform" rather than panicking (mio's `sys/shell` idea).
#[cfg(all(target_os = "linux", not(echokit_force_portable)))]
#[path = "linux.rs"]
pub mod platform;
#[cfg(not(all(target_os = "linux", not(echokit_force_portable))))]
#[path = "portable.rs"]
pub mod platform;

use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket};

use crate::addr;
use crate::error::Error;

pub use model::{
    Family, REQUIRE_ABSTRACT, REQUIRE_LOCALHOST, SocketAddress, SocketType, Transport,
    require_names,
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
    pub socket_type: SocketType,
    /// The address it is really bound to (port 0 replaced by the kernel's choice).
    pub local: SocketAddress,
    /// Removes the socket file this process created, when dropped.
    pub guard: Option<SocketFileGuard>,
}

impl Listener {
    /// The ready-line form of the bound address (`tcp:127.0.0.1:40123`).
    pub fn display(&self) -> String {
        addr::display(self.socket_type, &self.local)
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
    pub socket_type: SocketType,
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

/// Creates an unbound socket for `target` with type `socket_type`: the one `socket(2)` call.
pub fn new_socket(socket_type: SocketType, target: &SocketAddress) -> io::Result<Socket> {
    let domain = match target {
        SocketAddress::Inet(a) => Domain::for_address(*a),
        _ => Domain::UNIX,
    };
    // Protocol 0: the kernel picks TCP/UDP for inet; Unix sockets have no protocol.
    let socket = Socket::new(domain, socket_type.to_socket2(), None)?;
    platform::set_no_sigpipe(&socket)?;
    Ok(socket)
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
fn start_listening(
    socket: &Socket,
    socket_type: SocketType,
    options: ListenOptions,
) -> io::Result<()> {
    if socket_type.accepts_connections() {
        socket.listen(options.backlog)?;
    }
    socket.set_nonblocking(true)
}

/// Binds `target` (and listens, for streams), non-blocking, ready for the event loop.
pub fn listen(
    socket_type: SocketType,
    target: &SocketAddress,
    options: ListenOptions,
) -> Result<Listener, Error> {
    match target {
        SocketAddress::Inet(a) => inet::listen(socket_type, *a, options),
        SocketAddress::Path(path) => unix::listen_path(socket_type, path, options),
        SocketAddress::Abstract(_) => unix::listen_abstract(socket_type, target, options),
    }
}

/// A socket handed to us already made (inetd's stdin, systemd's fds), with
/// what was read from the socket itself.
#[derive(Debug)]
pub struct Inherited {
    pub socket: Socket,
    pub socket_type: SocketType,
    /// AF_UNIX rather than AF_INET/AF_INET6.
    pub unix: bool,
    /// A connected stream (to echo as one connection) rather than a listener.
    pub connected: bool,
    /// The ready-line form of its local address (the peer's, for a connected stream).
    pub name: String,
}

/// Reads family, type and state from an inherited socket.
pub fn inherited(socket: Socket) -> io::Result<Inherited> {
    let socket_type = SocketType::from_socket2(socket.r#type()?)
        .ok_or_else(|| io::Error::other("a socket of an unsupported type"))?;
    let local = socket.local_addr()?;
    let unix = local.is_unix();
    // A stream socket that is not listening is a connection (inetd, Accept=yes).
    let connected = socket_type.accepts_connections() && socket.peer_addr().is_ok();
    let peer = socket.peer_addr().ok().and_then(|a| sock_target(&a));
    let name = match (&peer, connected) {
        (Some(p), true) => addr::display(socket_type, p),
        _ => sock_target(&local).map_or_else(
            || addr::display(socket_type, &SocketAddress::Path("(unnamed)".into())),
            |t| addr::display(socket_type, &t),
        ),
    };
    socket.set_nonblocking(true)?;
    Ok(Inherited {
        socket,
        socket_type,
        unix,
        connected,
        name,
    })
}

/// The socket inetd passed as stdin (a dup of fd 0): a connected stream, or a datagram socket.
pub fn from_stdin() -> io::Result<Inherited> {
    use std::os::fd::AsFd;
    let fd = io::stdin().as_fd().try_clone_to_owned()?;
    inherited(Socket::from(fd))
}

/// Sockets passed by systemd socket activation, if `LISTEN_PID` is ours,
/// each checked to be one echokit serves (see [`platform::activated_sockets`]).
pub fn activated() -> Result<Vec<(Inherited, Option<String>)>, Error> {
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
    socket_type: SocketType,
    target: &SocketAddress,
    timeout: Option<Duration>,
) -> Result<Connection, io::Error> {
    connect_from(socket_type, target, timeout, None)
}

/// [`connect`] from local address `source` (an IP, its port left to the
/// kernel at connect time, see [`platform::bind_source`]): how a load
/// generator spreads many connections over 127.0.0.1–127.0.0.16 so that
/// ephemeral ports do not run out.
pub fn connect_from(
    socket_type: SocketType,
    target: &SocketAddress,
    timeout: Option<Duration>,
    source: Option<IpAddr>,
) -> Result<Connection, io::Error> {
    let (socket, guard) = client_socket(socket_type, target, source)?;
    let addr = sock_addr(target)?;
    socket.set_nonblocking(true)?;
    if socket_type.accepts_connections() {
        let limit = timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        connect_within(&socket, &addr, Instant::now() + limit, limit)?;
    } else {
        // A datagram connect only fixes the peer: it never waits.
        socket.connect(&addr)?;
    }
    Ok(Connection {
        socket,
        socket_type,
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
    socket_type: SocketType,
    target: &SocketAddress,
    source: Option<IpAddr>,
) -> Result<Connection, io::Error> {
    let (socket, guard) = client_socket(socket_type, target, source)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&sock_addr(target)?) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(Connection {
        socket,
        socket_type,
        peer: target.clone(),
        guard,
    })
}

/// A client's socket, bound where it must be: to `source` when given, and a
/// Unix datagram client to an address the server can answer (SPEC §3).
fn client_socket(
    socket_type: SocketType,
    target: &SocketAddress,
    source: Option<IpAddr>,
) -> io::Result<(Socket, Option<SocketFileGuard>)> {
    let socket = new_socket(socket_type, target)?;
    let guard = match (socket_type, target) {
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
pub fn probe_bind(socket_type: SocketType, target: &SocketAddress) -> io::Result<()> {
    let socket = new_socket(socket_type, target)?;
    socket.bind(&sock_addr(target)?)
}
