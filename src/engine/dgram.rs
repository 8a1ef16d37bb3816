//! Datagram echo: every datagram goes back to its sender whole, byte for byte
//! (SPEC §3), or is counted and dropped with a reason.
//!
//! Reads use recvmsg(2) so MSG_TRUNC tells a datagram larger than the buffer
//! apart from one that fits: it is never echoed cut. Replies never go to
//! source port 0 or to the inetd internal services (echo, discard, daytime,
//! chargen, time), which is how two echo services would loop forever.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, SockaddrLike, SockaddrStorage, UnixAddr, recvmsg, sendto};
use socket2::Socket;

/// Ports of the inetd internal services a reply must never go to: echo 7,
/// discard 9, daytime 13, chargen 19, time 37.
pub const LOOP_PORTS: [u16; 5] = [7, 9, 13, 19, 37];

/// Why a datagram was not echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Larger than the buffer (MSG_TRUNC).
    Oversize,
    /// From source port 0 or an inetd internal service port: answering could loop.
    LoopPort,
    /// From an unbound Unix datagram socket: there is no address to answer.
    Unanswerable,
    /// Over `--udp-rate` for its source.
    RateLimited,
    /// The reply could not be sent (socket buffer full, peer gone).
    SendFailed,
}

impl DropReason {
    /// Every reason, for summaries.
    pub const ALL: [DropReason; 5] = [
        DropReason::Oversize,
        DropReason::LoopPort,
        DropReason::Unanswerable,
        DropReason::RateLimited,
        DropReason::SendFailed,
    ];
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::Oversize => "larger than the buffer (--buffer-size), not echoed cut",
            DropReason::LoopPort => {
                "from port 0 or an inetd service port (7, 9, 13, 19, 37), not answered to avoid a loop"
            }
            DropReason::Unanswerable => "from an unbound Unix socket, no address to answer",
            DropReason::RateLimited => "over --udp-rate for its source",
            DropReason::SendFailed => "reply could not be sent",
        })
    }
}

/// The sender of a datagram. Unix addresses are kept as [`UnixAddr`], the
/// one type that records their variable length (an abstract or autobound
/// name is only right with its exact length).
#[derive(Debug, Clone)]
pub enum Sender {
    Inet(SockaddrStorage),
    Unix(UnixAddr),
}

impl Sender {
    /// The address as nix and libc take it.
    pub fn as_dyn(&self) -> &dyn SockaddrLike {
        match self {
            Sender::Inet(a) => a,
            Sender::Unix(a) => a,
        }
    }
}

/// What one receive produced.
#[derive(Debug)]
pub enum Received {
    /// A datagram to echo: its length and sender.
    Echo(usize, Sender),
    /// A datagram not to echo.
    Dropped(DropReason, Option<Sender>),
    /// Nothing waiting (EAGAIN).
    Empty,
}

fn recv_from<S: SockaddrLike>(
    socket: &Socket,
    buf: &mut [u8],
) -> io::Result<Option<(usize, MsgFlags, Option<S>)>> {
    loop {
        let mut iov = [IoSliceMut::new(buf)];
        return match recvmsg::<S>(socket.as_raw_fd(), &mut iov, None, MsgFlags::empty()) {
            Ok(msg) => Ok(Some((msg.bytes, msg.flags, msg.address))),
            Err(nix::errno::Errno::EAGAIN) => Ok(None),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => Err(e.into()),
        };
    }
}

/// Receives one datagram into `buf` and decides whether it may be echoed.
/// `unix` says the socket is AF_UNIX (known from how it was bound).
pub fn receive(socket: &Socket, buf: &mut [u8], unix: bool) -> io::Result<Received> {
    let received = if unix {
        recv_from::<UnixAddr>(socket, buf)?.map(|(n, f, a)| (n, f, a.map(Sender::Unix)))
    } else {
        recv_from::<SockaddrStorage>(socket, buf)?.map(|(n, f, a)| (n, f, a.map(Sender::Inet)))
    };
    Ok(match received {
        None => Received::Empty,
        Some((len, flags, from)) => classify(len, flags, from),
    })
}

/// Decides what to do with one datagram of `len` bytes from `from`, received
/// with `flags`: echo it, or drop it with the reason (SPEC §3).
pub fn classify(len: usize, flags: MsgFlags, from: Option<Sender>) -> Received {
    if flags.contains(MsgFlags::MSG_TRUNC) {
        return Received::Dropped(DropReason::Oversize, from);
    }
    let Some(from) = from else {
        return Received::Dropped(DropReason::Unanswerable, None);
    };
    match answerable(&from) {
        Some(reason) => Received::Dropped(reason, Some(from)),
        None => Received::Echo(len, from),
    }
}

fn answerable(from: &Sender) -> Option<DropReason> {
    match from {
        Sender::Unix(unix) => unnamed(unix).then_some(DropReason::Unanswerable),
        Sender::Inet(inet) => {
            let port = inet
                .as_sockaddr_in()
                .map(|a| a.port())
                .or_else(|| inet.as_sockaddr_in6().map(|a| a.port()));
            match port {
                Some(port) => {
                    (port == 0 || LOOP_PORTS.contains(&port)).then_some(DropReason::LoopPort)
                }
                // Another family: nowhere to send it.
                None => Some(DropReason::Unanswerable),
            }
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_name(addr: &UnixAddr) -> &[u8] {
    addr.as_abstract().unwrap_or_default()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_name(_addr: &UnixAddr) -> &[u8] {
    &[]
}

fn unix_abstract(addr: &UnixAddr) -> bool {
    !abstract_name(addr).is_empty()
}

/// Whether a Unix sender has no address at all. Linux reports an unbound
/// sender with an address length of 0 (not even the family), which nix's
/// accessors must not see, so this is asked before anything else.
fn unnamed(addr: &UnixAddr) -> bool {
    let header = std::mem::offset_of!(libc::sockaddr_un, sun_path);
    if (SockaddrLike::len(addr) as usize) <= header {
        return true;
    }
    addr.path().is_none() && !unix_abstract(addr)
}

/// Sends `payload` back to `to`; EAGAIN or a vanished peer is a drop, not an error.
pub fn reply(socket: &Socket, payload: &[u8], to: &Sender) -> Result<(), DropReason> {
    loop {
        return match sendto(socket.as_raw_fd(), payload, to.as_dyn(), MsgFlags::empty()) {
            Ok(_) => Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => Err(DropReason::SendFailed),
        };
    }
}

/// A text form of a datagram sender, for logs.
pub fn describe_sender(from: Option<&Sender>) -> String {
    match from {
        Some(Sender::Inet(inet)) => {
            if let Some(a) = inet.as_sockaddr_in() {
                return std::net::SocketAddrV4::from(*a).to_string();
            }
            if let Some(a) = inet.as_sockaddr_in6() {
                return format!("[{}]:{}", a.ip(), a.port());
            }
            "unknown sender".to_string()
        }
        Some(Sender::Unix(u)) => {
            if unnamed(u) {
                return "an unbound unix socket".to_string();
            }
            if let Some(p) = u.path() {
                return p.display().to_string();
            }
            if unix_abstract(u) {
                return format!("@{}", String::from_utf8_lossy(abstract_name(u)));
            }
            "an unbound unix socket".to_string()
        }
        None => "unknown sender".to_string(),
    }
}

impl Sender {
    /// The source *address* (not port) as one number, for per-host limits
    /// (SPEC §4 `--udp-rate`): IPv4 as its IPv6-mapped form, a Unix name
    /// hashed. No allocation: this runs per datagram.
    pub fn host_key(&self) -> u128 {
        match self {
            Sender::Inet(inet) => {
                if let Some(a) = inet.as_sockaddr_in() {
                    return u128::from(a.ip().to_ipv6_mapped());
                }
                inet.as_sockaddr_in6().map_or(0, |a| u128::from(a.ip()))
            }
            Sender::Unix(u) if unnamed(u) => 0,
            Sender::Unix(u) => {
                use std::hash::{Hash, Hasher};
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                match u.path() {
                    Some(p) => p.hash(&mut hasher),
                    None => abstract_name(u).hash(&mut hasher),
                }
                u128::from(hasher.finish())
            }
        }
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe_sender(Some(self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, SockAddr, Type};
    use std::time::Duration;

    fn udp_pair() -> (Socket, Socket) {
        let any: SockAddr = "127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into();
        let a = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        a.bind(&any).unwrap();
        let b = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        b.bind(&any).unwrap();
        b.connect(&a.local_addr().unwrap()).unwrap();
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (a, b)
    }

    #[test]
    fn oversize_datagram_is_detected_not_cut() {
        let (server, client) = udp_pair();
        client.send(&[1u8; 100]).unwrap();
        let mut buf = [0u8; 64];
        assert!(matches!(
            receive(&server, &mut buf, false).unwrap(),
            Received::Dropped(DropReason::Oversize, _)
        ));
    }

    #[test]
    fn fitting_datagram_is_echoed() {
        let (server, client) = udp_pair();
        client.send(b"ping").unwrap();
        let mut buf = [0u8; 64];
        match receive(&server, &mut buf, false).unwrap() {
            Received::Echo(4, from) => {
                reply(&server, &buf[..4], &from).unwrap();
                let mut back = [std::mem::MaybeUninit::new(0u8); 16];
                client
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let n = client.recv(&mut back).unwrap();
                assert_eq!(n, 4);
            }
            other => panic!("{other:?}"),
        }
    }

    fn inet(a: u8, b: u8, c: u8, d: u8, port: u16) -> Sender {
        Sender::Inet(SockaddrStorage::from(std::net::SocketAddr::from((
            [a, b, c, d],
            port,
        ))))
    }

    #[test]
    fn unbound_unix_sender_is_unanswerable() {
        let (server, client) = Socket::pair(Domain::UNIX, Type::DGRAM, None).unwrap();
        client.send(b"x").unwrap();
        let mut buf = [0u8; 8];
        assert!(matches!(
            receive(&server, &mut buf, true).unwrap(),
            Received::Dropped(DropReason::Unanswerable, _)
        ));
    }

    #[test]
    fn loop_ports_are_refused() {
        for port in [0u16, 7, 9, 13, 19, 37] {
            assert_eq!(
                answerable(&inet(127, 0, 0, 1, port)),
                Some(DropReason::LoopPort),
                "port {port}"
            );
        }
        assert_eq!(answerable(&inet(127, 0, 0, 1, 40000)), None);
    }

    #[test]
    fn host_key_ignores_the_port() {
        assert_eq!(
            inet(127, 0, 0, 1, 40000).host_key(),
            inet(127, 0, 0, 1, 40001).host_key()
        );
        assert_ne!(
            inet(127, 0, 0, 1, 40000).host_key(),
            inet(127, 0, 0, 2, 40000).host_key()
        );
    }
}
