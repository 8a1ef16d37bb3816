//! Linux-only pieces: abstract socket names, autobind, SO_PEERCRED, a socket
//! file's mode set before bind.
//!
//! Its twin `portable.rs` has the same items for every other platform and
//! answers "not supported on this platform" where Linux is needed.

use std::io;
use std::path::Path;

use socket2::{SockAddr, Socket};

use crate::error::Error;
use crate::transport::SocketFileGuard;

/// The Linux abstract namespace exists here.
pub const SUPPORTS_ABSTRACT: bool = true;

/// SOCK_SEQPACKET over AF_UNIX exists here.
pub const SUPPORTS_SEQPACKET: bool = true;
/// Multipath TCP (IPPROTO_MPTCP): in Linux since 5.6, where the kernel has it built in.
pub const SUPPORTS_MPTCP: bool = true;

/// `sizeof(sun_path)` on Linux.
pub const SUN_PATH_CAPACITY: usize = 108;

/// The largest Unix datagram we try to carry (the default `net.core.wmem_default` is 212992).
pub const MAX_UNIX_DATAGRAM: usize = 212_992 - 4096;

/// The socket address of abstract name `name` (a leading NUL, no terminating one).
pub fn abstract_addr(name: &[u8]) -> io::Result<SockAddr> {
    let mut bytes = Vec::with_capacity(name.len() + 1);
    bytes.push(0);
    bytes.extend_from_slice(name);
    let path: &std::ffi::OsStr = std::os::unix::ffi::OsStrExt::from_bytes(&bytes);
    SockAddr::unix(path)
}

/// Binds `socket` to the new socket file `path`, created with exactly `mode`
/// at its first instant, without ever naming the path again: bind(2) creates
/// the file with the socket inode's mode less the umask (`unix_bind_bsd` in
/// net/unix/af_unix.c), so fchmod(2) on the unbound socket sets the mode, and
/// a thread of our own with its own umask of 0 (unshare(2) CLONE_FS, which
/// leaves the process umask alone) binds. Nothing is chmod'ed by name after
/// bind, so a path another user swaps for a symlink (the directory may be
/// world-writable and not sticky) never gets its target's mode changed.
/// Where unshare is refused (a container's seccomp filter), the socket is
/// made in a private directory and linked into place instead.
pub fn bind_path_with_mode(socket: &Socket, path: &Path, mode: u32) -> io::Result<()> {
    use nix::sched::{CloneFlags, unshare};
    use nix::sys::stat::{Mode, fchmod, umask};
    let addr = SockAddr::unix(path)?;
    let own_umask = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .spawn_scoped(scope, || -> io::Result<Option<()>> {
                if unshare(CloneFlags::CLONE_FS).is_err() {
                    return Ok(None);
                }
                // This thread's umask only: its fs_struct is its own now.
                umask(Mode::empty());
                fchmod(socket, Mode::from_bits_truncate(mode)).map_err(io::Error::from)?;
                socket.bind(&addr).map(Some)
            })?
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the binding thread panicked")))
    })?;
    match own_umask {
        Some(()) => Ok(()),
        None => super::unix::bind_in_private_dir(socket, path, mode),
    }
}

/// Gives a Unix datagram client an address the server can answer: Linux
/// autobind (bind with only the family) picks a unique abstract name, so there
/// is no file to clean up.
pub fn bind_reply_address(socket: &Socket) -> io::Result<Option<SocketFileGuard>> {
    socket.bind(&SockAddr::unix("")?)?;
    Ok(None)
}

/// Every address in 127.0.0.0/8 is this machine's on Linux: a client may
/// connect from 127.0.0.1 to 127.0.0.16, sixteen times the ephemeral ports
/// one source address has (the C load generator benches/compare.sh runs
/// against echokit spreads its connections the same way).
pub const LOOPBACK_SOURCES: u8 = 16;

/// Binds a client socket to `ip` with IP_BIND_ADDRESS_NO_PORT: the port is
/// chosen at connect(2), per destination, so a source address is not limited
/// to one set of ephemeral ports shared by every destination.
pub fn bind_source(socket: &Socket, ip: std::net::IpAddr) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt::IpBindAddressNoPort};
    if ip.is_ipv4() {
        setsockopt(socket, IpBindAddressNoPort, &true).map_err(io::Error::from)?;
    }
    socket.bind(&SockAddr::from(std::net::SocketAddr::new(ip, 0)))
}

/// Nothing to set on Linux: every Rust binary starts with SIGPIPE ignored, so a
/// write to a vanished peer returns EPIPE instead of killing the process (SPEC §3).
pub fn set_no_sigpipe(_socket: &Socket) -> io::Result<()> {
    Ok(())
}

/// The peer's pid, uid and gid on a Unix stream socket (SO_PEERCRED).
pub fn peer_credentials(socket: &Socket) -> Option<(i32, u32, u32)> {
    let creds =
        nix::sys::socket::getsockopt(socket, nix::sys::socket::sockopt::PeerCredentials).ok()?;
    Some((creds.pid(), creds.uid(), creds.gid()))
}

/// Sockets passed by systemd socket activation (sd_listen_fds(3)): when
/// `LISTEN_PID` is this process, fds 3 .. 3+`LISTEN_FDS`, with their names
/// from `LISTEN_FDNAMES`. When it names another process the fds are not ours.
///
/// What is passed is checked before anything is served (SPEC §4 serve): a
/// `LISTEN_FDS` that is not a count is exit 2 naming the variable; an fd
/// that is not open, not a socket, of a family or type echokit does not
/// serve, a stream or seqpacket socket that is not listening (a connection,
/// or bound and never listen(2)ed: it would print a ready line and serve
/// nothing), or an unbound datagram socket is exit 5 naming the fd and its
/// name. `serve --inetd` is the way to serve one connection (`Accept=yes`).
pub fn activated_sockets() -> Result<Vec<(Socket, Option<String>)>, Error> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id());
    if !ours {
        return Ok(Vec::new());
    }
    let count = match std::env::var_os("LISTEN_FDS") {
        None => 0,
        Some(text) => listen_fds_count(&text.to_string_lossy())?,
    };
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|n| n.split(':').map(str::to_string).collect())
        .unwrap_or_default();
    let mut sockets = Vec::new();
    for i in 0..count {
        let fd = SD_LISTEN_FDS_START + i;
        let name = names.get(i as usize).cloned();
        let which = match &name {
            Some(name) => format!("fd {fd} (LISTEN_FDNAMES {name:?})"),
            None => format!("fd {fd}"),
        };
        let refuse = |why: String| Error::listen(&which, io::Error::other(why));
        let owned = crate::sys::take_inherited_fd(fd).ok_or_else(|| {
            refuse(format!(
                "LISTEN_FDS={count} says it is passed, but it is not open"
            ))
        })?;
        let socket = Socket::from(owned);
        check_passed(&socket).map_err(refuse)?;
        sockets.push((socket, name));
    }
    Ok(sockets)
}

/// sd_listen_fds(3): the first passed fd.
const SD_LISTEN_FDS_START: i32 = 3;

/// `LISTEN_FDS` as a count: digits only, and fds that can exist.
fn listen_fds_count(text: &str) -> Result<i32, Error> {
    text.parse::<u32>()
        .ok()
        .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| n.checked_add(SD_LISTEN_FDS_START).is_some())
        .ok_or_else(|| {
            Error::Usage(format!(
                "LISTEN_FDS is not a count of file descriptors: {:?}",
                crate::addr::escape_controls(text)
            ))
        })
}

/// Why a passed socket cannot be served, if it cannot.
fn check_passed(socket: &Socket) -> Result<(), String> {
    let socket_type = match socket.r#type() {
        Ok(t) => t,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSOCK) => return Err("not a socket".into()),
        Err(e) => return Err(crate::error::describe(&e)),
    };
    let family = socket.domain().map_err(|e| crate::error::describe(&e))?;
    let family_name = match i32::from(family) {
        libc::AF_INET | libc::AF_INET6 | libc::AF_UNIX => None,
        libc::AF_PACKET => Some("AF_PACKET".to_string()),
        libc::AF_NETLINK => Some("AF_NETLINK".to_string()),
        other => Some(format!("family {other}")),
    };
    if let Some(name) = family_name {
        return Err(format!(
            "an {name} socket; echokit serves AF_INET, AF_INET6 and AF_UNIX"
        ));
    }
    let Some(kind) = crate::transport::SocketType::from_socket2(socket_type) else {
        return Err(format!(
            "a socket of type {}; echokit serves SOCK_STREAM, SOCK_DGRAM and SOCK_SEQPACKET",
            i32::from(socket_type)
        ));
    };
    if kind.accepts_connections() {
        if !socket
            .is_listener()
            .map_err(|e| crate::error::describe(&e))?
        {
            let what = if socket.peer_addr().is_ok() {
                "a connected"
            } else {
                "a"
            };
            return Err(format!(
                "{what} {} socket that is not listening (listen(2) was never called; for one connection use serve --inetd)",
                if kind == crate::transport::SocketType::SeqPacket {
                    "seqpacket"
                } else {
                    "stream"
                }
            ));
        }
        return Ok(());
    }
    let unbound = socket.local_addr().is_ok_and(|a| {
        a.as_socket().is_some_and(|inet| inet.port() == 0)
            || (a.is_unix() && a.as_pathname().is_none() && a.as_abstract_namespace().is_none())
    });
    if unbound {
        return Err("a datagram socket that is not bound to an address".into());
    }
    Ok(())
}

/// SO_PROTOCOL: the protocol an inherited socket was made with (IPPROTO_TCP,
/// IPPROTO_UDP, 0 for AF_UNIX…).
pub fn socket_protocol(socket: &Socket) -> io::Result<i32> {
    Ok(socket.protocol()?.map_or(0, i32::from))
}

/// Whether the connection on MPTCP socket `socket` really is MPTCP, or fell
/// back to plain TCP (a peer without MPTCP), as the kernel says:
/// TCP_IS_MPTCP (SOL_TCP, 43; Linux 5.16), else MPTCP_INFO (SOL_MPTCP,
/// 284), which an MPTCP connection answers and a fallen-back one refuses
/// (EOPNOTSUPP).
pub fn mptcp_in_use(socket: &Socket) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    const TCP_IS_MPTCP: libc::c_int = 43;
    const SOL_MPTCP: libc::c_int = 284;
    const MPTCP_INFO: libc::c_int = 1;
    let fd = socket.as_raw_fd();
    let mut flag = [0u8; 4];
    match crate::sys::getsockopt_raw(fd, libc::SOL_TCP, TCP_IS_MPTCP, &mut flag) {
        Ok(_) => Ok(i32::from_ne_bytes(flag) != 0),
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => {
            let mut info = [0u8; 256];
            match crate::sys::getsockopt_raw(fd, SOL_MPTCP, MPTCP_INFO, &mut info) {
                Ok(_) => Ok(true),
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(false),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
