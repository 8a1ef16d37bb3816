//! The twin of `linux.rs` for macOS and the BSDs (and for Linux builds with
//! `--cfg echokit_force_portable`, so CI compiles it): same items, no abstract
//! namespace, a temporary path instead of autobind.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use socket2::{SockAddr, Socket};

use crate::transport::SocketFileGuard;

/// No abstract namespace outside Linux.
pub const SUPPORTS_ABSTRACT: bool = false;

/// SOCK_SEQPACKET over AF_UNIX exists on the BSDs, not on macOS.
pub const SUPPORTS_SEQPACKET: bool = !cfg!(target_os = "macos");

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

/// Binds a temporary path (removed by the returned guard) so replies can reach us.
pub fn bind_reply_address(socket: &Socket) -> io::Result<Option<SocketFileGuard>> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "echokit-{}-{}.sock",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&path);
    socket.bind(&SockAddr::unix(&path)?)?;
    SocketFileGuard::new(&path).map(Some)
}

/// macOS/BSD raise SIGPIPE per socket unless SO_NOSIGPIPE is set.
pub fn set_no_sigpipe(socket: &Socket) -> io::Result<()> {
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    socket.set_nosigpipe(true)?;
    let _ = socket;
    Ok(())
}

/// Peer credentials are read only on Linux.
pub fn peer_credentials(_socket: &Socket) -> Option<(i32, u32, u32)> {
    None
}

/// systemd socket activation is Linux-only: when `LISTEN_PID` names us, say so
/// rather than silently binding something else.
pub fn activated_sockets() -> io::Result<Vec<(Socket, Option<String>)>> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id());
    if ours {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "socket activation (LISTEN_FDS) is not supported on this platform",
        ));
    }
    Ok(Vec::new())
}
