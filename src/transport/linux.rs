//! Linux-only pieces: abstract socket names, autobind, SO_PEERCRED, a socket
//! file's mode set before bind.
//!
//! Its twin `portable.rs` has the same items for every other platform and
//! answers "not supported on this platform" where Linux is needed.

use std::io;
use std::path::Path;

use socket2::{SockAddr, Socket};

use crate::transport::SocketFileGuard;

/// The Linux abstract namespace exists here.
pub const SUPPORTS_ABSTRACT: bool = true;

/// SOCK_SEQPACKET over AF_UNIX exists here.
pub const SUPPORTS_SEQPACKET: bool = true;

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
        scope
            .spawn(|| -> io::Result<Option<()>> {
                if unshare(CloneFlags::CLONE_FS).is_err() {
                    return Ok(None);
                }
                // This thread's umask only: its fs_struct is its own now.
                umask(Mode::empty());
                fchmod(socket, Mode::from_bits_truncate(mode)).map_err(io::Error::from)?;
                socket.bind(&addr).map(Some)
            })
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
/// one source address has (what `../shared/peers/loadgen.c -B 16` does).
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
pub fn activated_sockets() -> io::Result<Vec<(Socket, Option<String>)>> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id());
    if !ours {
        return Ok(Vec::new());
    }
    let count: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|n| n.split(':').map(str::to_string).collect())
        .unwrap_or_default();
    let mut sockets = Vec::new();
    for i in 0..count.clamp(0, 1024) {
        let fd = crate::sys::take_inherited_fd(3 + i).ok_or_else(|| {
            io::Error::other(format!(
                "LISTEN_FDS says fd {} is passed, but it is not open",
                3 + i
            ))
        })?;
        sockets.push((Socket::from(fd), names.get(i as usize).cloned()));
    }
    Ok(sockets)
}
