//! The twin of `linux.rs` for macOS and the BSDs (and for Linux builds with
//! `--cfg echokit_force_portable`, so CI compiles it): same items, no abstract
//! namespace, a temporary path instead of autobind, socket files made in a
//! private directory instead of narrowed by fchmod.

use std::fs::Permissions;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use socket2::{SockAddr, Socket};

use crate::transport::SocketFileGuard;

/// No abstract namespace outside Linux.
pub const SUPPORTS_ABSTRACT: bool = false;

/// SOCK_SEQPACKET over AF_UNIX exists on the BSDs, not on macOS.
pub const SUPPORTS_SEQPACKET: bool = !cfg!(target_os = "macos");
/// Multipath TCP sockets (IPPROTO_MPTCP) are Linux's: not supported here.
pub const SUPPORTS_MPTCP: bool = false;

/// `sizeof(sun_path)` on macOS and the BSDs (104); Linux builds forced here keep 108.
#[cfg(target_os = "linux")]
pub const SUN_PATH_CAPACITY: usize = 108;
#[cfg(not(target_os = "linux"))]
pub const SUN_PATH_CAPACITY: usize = 104;

/// The largest Unix datagram we try to carry (macOS's net.local.dgram.maxdgram is 2048 by default,
/// raised with SO_SNDBUF; sends report EMSGSIZE beyond what the system takes).
pub const MAX_UNIX_DATAGRAM: usize = 65_536;

/// Abstract names are Linux-only.
pub fn abstract_addr(_name: &[u8]) -> io::Result<SockAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract Unix sockets are not supported on this platform",
    ))
}

/// A fresh directory only this user can enter, beside `near` (mkdir(2) with
/// mode 0700 is not widened by any umask), for a socket file to be made in.
fn private_dir(near: &Path) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = near.join(format!(
        ".echokit-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

/// Binds `socket` to the new socket file `path` with exactly `mode`. These
/// systems take the file's mode from the umask alone (fchmod(2) on a socket
/// is EINVAL on the BSDs) and the umask is process-wide, so the socket is
/// made in a private directory beside `path` and linked into place
/// (`unix.rs`): the file appears with `mode` already set, and nothing is
/// chmod'ed by a name another user could swap.
pub fn bind_path_with_mode(socket: &Socket, path: &Path, mode: u32) -> io::Result<()> {
    super::unix::bind_in_private_dir(socket, path, mode)
}

/// Binds a temporary path so replies can reach us: a socket file of mode
/// 0600 in a fresh 0700 directory, both removed by the returned guard. The
/// directory keeps every other user out from the file's first instant,
/// whatever the umask (the server must run as the same user to answer, as a
/// 0600 socket demands anyway); the name is never moved, because the server
/// answers the name the socket was bound to.
pub fn bind_reply_address(socket: &Socket) -> io::Result<Option<SocketFileGuard>> {
    let dir = private_dir(&std::env::temp_dir())?;
    let path = dir.join("reply.sock");
    let bound = SockAddr::unix(&path)
        .and_then(|addr| socket.bind(&addr))
        .and_then(|()| std::fs::set_permissions(&path, Permissions::from_mode(0o600)))
        .and_then(|()| SocketFileGuard::new(&path));
    match bound {
        Ok(guard) => Ok(Some(guard.with_private_dir(&dir))),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_dir(&dir);
            Err(e)
        }
    }
}

/// macOS/BSD raise SIGPIPE per socket unless SO_NOSIGPIPE is set.
pub fn set_no_sigpipe(socket: &Socket) -> io::Result<()> {
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    socket.set_nosigpipe(true)?;
    let _ = socket;
    Ok(())
}

/// macOS and the BSDs answer only on 127.0.0.1 unless an alias is added, so
/// a load generator connects from the one address.
pub const LOOPBACK_SOURCES: u8 = 1;

/// Binds a client socket to `ip` (port 0: one is taken at once, as there is
/// no IP_BIND_ADDRESS_NO_PORT here).
pub fn bind_source(socket: &Socket, ip: std::net::IpAddr) -> io::Result<()> {
    socket.bind(&SockAddr::from(std::net::SocketAddr::new(ip, 0)))
}

/// Peer credentials are read only on Linux.
pub fn peer_credentials(_socket: &Socket) -> Option<(i32, u32, u32)> {
    None
}

/// systemd socket activation is Linux-only: when `LISTEN_PID` names us, say so
/// rather than silently binding something else.
pub fn activated_sockets() -> Result<Vec<(Socket, Option<String>)>, crate::error::Error> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id());
    if ours {
        return Err(crate::error::Error::Unsupported(
            "socket activation is".into(),
        ));
    }
    Ok(Vec::new())
}

/// SO_PROTOCOL is not everywhere (macOS lacks it): every socket echokit
/// serves here has its family's default protocol.
pub fn socket_protocol(_socket: &Socket) -> io::Result<i32> {
    Ok(0)
}

/// Never asked: MPTCP transports are refused before a socket is made.
pub fn mptcp_in_use(_socket: &Socket) -> io::Result<bool> {
    Ok(false)
}
