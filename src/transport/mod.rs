//! SPEC §1: the only place sockets are created.
//!
//! Every transport is a (family, type) pair made through one code path, the
//! way the BSD API does it: `socket(family, type, 0)`, then `bind`/`listen` or
//! `connect` ([`listen`], [`connect`]). Family specifics live beside this file:
//! `inet.rs` (v6only, the dual-stack fallback), `unix.rs` (socket files: stale
//! replacement, cleanup), and `linux.rs` / `portable.rs` (abstract names,
//! autobind, peer credentials). Nothing here echoes or prints.

mod inet;
mod unix;

#[cfg(all(target_os = "linux", not(echokit_force_portable)))]
#[path = "linux.rs"]
pub mod platform;
#[cfg(not(all(target_os = "linux", not(echokit_force_portable))))]
#[path = "portable.rs"]
pub mod platform;

use std::io;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::addr::{self, Kind, SockTarget};
use crate::error::Error;

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
    pub kind: Kind,
    /// The address it is really bound to (port 0 replaced by the kernel's choice).
    pub local: SockTarget,
    /// Removes the socket file this process created, when dropped.
    pub guard: Option<SocketFileGuard>,
}

impl Listener {
    /// The ready-line form of the bound address (`tcp:127.0.0.1:40123`).
    pub fn display(&self) -> String {
        addr::display(self.kind, &self.local)
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
    pub kind: Kind,
    pub peer: SockTarget,
    /// The temporary path a Unix datagram client bound to get replies, where autobind is missing.
    pub guard: Option<SocketFileGuard>,
}

fn socket_type(kind: Kind) -> Type {
    match kind {
        Kind::Stream => Type::STREAM,
        Kind::Datagram => Type::DGRAM,
    }
}

/// Raises the soft limit on open files to the hard limit, as servers do: every
/// connection is a file descriptor, and the usual soft limit (1024) is far
/// below ten thousand connections. Where the system refuses (macOS caps it
/// below an infinite hard limit), the limit stays as it was.
pub fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// Creates an unbound socket for `target` with type `kind`: the one `socket(2)` call.
pub fn new_socket(kind: Kind, target: &SockTarget) -> io::Result<Socket> {
    let domain = match target {
        SockTarget::Inet(a) => Domain::for_address(*a),
        _ => Domain::UNIX,
    };
    // Protocol 0: the kernel picks TCP/UDP for inet; Unix sockets have no protocol.
    let socket = Socket::new(domain, socket_type(kind), None)?;
    platform::set_no_sigpipe(&socket)?;
    Ok(socket)
}

/// The socket address for `target`.
pub fn sock_addr(target: &SockTarget) -> io::Result<SockAddr> {
    match target {
        SockTarget::Inet(a) => Ok(SockAddr::from(*a)),
        SockTarget::Path(p) => SockAddr::unix(p),
        SockTarget::Abstract(name) => platform::abstract_addr(name),
    }
}

/// Converts an address the kernel reported back into the grammar's terms.
pub fn sock_target(addr: &SockAddr) -> Option<SockTarget> {
    if let Some(inet) = addr.as_socket() {
        return Some(SockTarget::Inet(inet));
    }
    if let Some(path) = addr.as_pathname() {
        return Some(SockTarget::Path(path.to_path_buf()));
    }
    addr.as_abstract_namespace()
        .map(|name| SockTarget::Abstract(name.to_vec()))
}

/// Binds `target` (and listens, for streams), non-blocking, ready for the event loop.
pub fn listen(kind: Kind, target: &SockTarget, options: ListenOptions) -> Result<Listener, Error> {
    match target {
        SockTarget::Inet(a) => inet::listen(kind, *a, options),
        SockTarget::Path(path) => unix::listen_path(kind, path, options),
        SockTarget::Abstract(_) => unix::listen_abstract(kind, target, options),
    }
}

/// A socket handed to us already made (inetd's stdin, systemd's fds), with
/// what was read from the socket itself.
#[derive(Debug)]
pub struct Inherited {
    pub socket: Socket,
    pub kind: Kind,
    /// AF_UNIX rather than AF_INET/AF_INET6.
    pub unix: bool,
    /// A connected stream (to echo as one connection) rather than a listener.
    pub connected: bool,
    /// The ready-line form of its local address (the peer's, for a connected stream).
    pub name: String,
}

/// Reads family, type and state from an inherited socket.
pub fn inherited(socket: Socket) -> io::Result<Inherited> {
    let kind = match socket.r#type()? {
        t if t == Type::STREAM => Kind::Stream,
        t if t == Type::DGRAM => Kind::Datagram,
        _ => return Err(io::Error::other("a socket of an unsupported type")),
    };
    let local = socket.local_addr()?;
    let unix = local.is_unix();
    // A stream socket that is not listening is a connection (inetd, Accept=yes).
    let connected = kind == Kind::Stream && socket.peer_addr().is_ok();
    let peer = socket.peer_addr().ok().and_then(|a| sock_target(&a));
    let name = match (&peer, connected) {
        (Some(p), true) => addr::display(kind, p),
        _ => sock_target(&local).map_or_else(
            || addr::display(kind, &SockTarget::Path("(unnamed)".into())),
            |t| addr::display(kind, &t),
        ),
    };
    socket.set_nonblocking(true)?;
    Ok(Inherited {
        socket,
        kind,
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

/// Sockets passed by systemd socket activation, if `LISTEN_PID` is ours.
pub fn activated() -> io::Result<Vec<(Inherited, Option<String>)>> {
    platform::activated_sockets()?
        .into_iter()
        .map(|(socket, name)| inherited(socket).map(|i| (i, name)))
        .collect()
}

/// Connects to `target`: for streams, the handshake (bounded by `timeout`); for
/// datagrams, binds a local address so replies can come back, then fixes the peer.
pub fn connect(
    kind: Kind,
    target: &SockTarget,
    timeout: Option<Duration>,
) -> Result<Connection, io::Error> {
    let socket = new_socket(kind, target)?;
    let guard = match (kind, target) {
        (Kind::Datagram, SockTarget::Path(_) | SockTarget::Abstract(_)) => {
            // SPEC §3: a Unix datagram sender with no address cannot be answered.
            platform::bind_reply_address(&socket)?
        }
        _ => None,
    };
    let addr = sock_addr(target)?;
    match timeout {
        Some(limit) if kind == Kind::Stream => socket.connect_timeout(&addr, limit)?,
        _ => socket.connect(&addr)?,
    }
    socket.set_nonblocking(true)?;
    Ok(Connection {
        socket,
        kind,
        peer: target.clone(),
        guard,
    })
}

/// Creates a socket for `target`, binds it and closes it at once, keeping the
/// system's own errno: how `check` asks whether this machine has an address
/// family or address (EAFNOSUPPORT from socket(2), EADDRNOTAVAIL from bind(2)).
pub fn probe_bind(kind: Kind, target: &SockTarget) -> io::Result<()> {
    let socket = new_socket(kind, target)?;
    socket.bind(&sock_addr(target)?)
}
