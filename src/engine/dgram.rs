//! Datagram echo: every datagram goes back to its sender whole, byte for byte
//! (SPEC §3), or is counted and dropped with a reason.
//!
//! The system calls live in `sys::datagram`, which hands over each sender's
//! address at the exact length the kernel gave (a Unix name of any length,
//! abstract, autobound) and the local address the datagram came to; this
//! file decides. MSG_TRUNC tells a datagram larger than the buffer apart
//! from one that fits: it is never echoed cut. Replies never go to source
//! port 0 or to the inetd internal services (echo, discard, daytime,
//! chargen, time), nor to one of this server's own addresses: that is how
//! two echo services, or one echo service and itself, would loop forever.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;

use socket2::{SockAddr, Socket};

use crate::sys::datagram::{self, Arrival, Datagram};

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
    /// From one of this server's own listening addresses: answering would loop inside the process.
    OwnAddress,
    /// From an unbound Unix datagram socket: there is no address to answer.
    Unanswerable,
    /// Over `--udp-rate` for its source.
    RateLimited,
    /// The reply could not be sent (socket buffer full, peer gone).
    SendFailed,
}

impl DropReason {
    /// Every reason, for summaries.
    pub const ALL: [DropReason; 6] = [
        DropReason::Oversize,
        DropReason::LoopPort,
        DropReason::OwnAddress,
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
            DropReason::OwnAddress => {
                "from one of this server's own addresses, not answered to avoid a loop"
            }
            DropReason::Unanswerable => "from an unbound Unix socket, no address to answer",
            DropReason::RateLimited => "over --udp-rate for its source",
            DropReason::SendFailed => "reply could not be sent",
        })
    }
}

/// The sender of a datagram: its whole address, exactly as the kernel gave
/// it (the echo goes there and nowhere else), and the local address the
/// datagram came to (the echo leaves from there).
#[derive(Debug, Clone)]
pub struct Sender {
    pub addr: SockAddr,
    pub arrival: Option<Arrival>,
}

impl Sender {
    /// An IP sender (for tests and the rate limiter's unit tests).
    pub fn inet(addr: SocketAddr) -> Sender {
        Sender {
            addr: addr.into(),
            arrival: None,
        }
    }

    /// The IP address and port, with an IPv4-mapped IPv6 address as IPv4.
    fn socket_addr(&self) -> Option<SocketAddr> {
        let addr = self.addr.as_socket()?;
        Some(SocketAddr::new(canonical(addr.ip()), addr.port()))
    }
}

/// An IPv4-mapped IPv6 address (a dual-stack socket's IPv4 peer) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
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

/// The addresses this process serves datagrams on: a datagram from one of
/// them would be echoed to ourselves, forever (SPEC §3).
#[derive(Debug, Clone, Default)]
pub struct OwnAddresses {
    /// IP listeners: the bound address (unspecified for a wildcard) and port.
    inet: Vec<SocketAddr>,
    /// Unix listeners: the raw address bytes (family and name).
    unix: Vec<Vec<u8>>,
}

impl OwnAddresses {
    /// The local addresses of `sockets` (those that have one).
    pub fn of<'a>(sockets: impl IntoIterator<Item = &'a Socket>) -> OwnAddresses {
        let mut own = OwnAddresses::default();
        for socket in sockets {
            let Ok(local) = socket.local_addr() else {
                continue;
            };
            match local.as_socket() {
                Some(inet) => own
                    .inet
                    .push(SocketAddr::new(canonical(inet.ip()), inet.port())),
                None if !local.is_unnamed() => {
                    own.unix.push(datagram::address_bytes(&local).to_vec())
                }
                None => {}
            }
        }
        own
    }

    /// Whether `from` is one of our own addresses. For a wildcard listener
    /// that is its port from the very address the datagram was sent to, or
    /// from a loopback address (always ours).
    fn contains(&self, from: &Sender) -> bool {
        if let Some(source) = from.socket_addr() {
            return self.inet.iter().any(|own| {
                own.port() == source.port()
                    && (own.ip() == source.ip()
                        || (own.ip().is_unspecified()
                            && (source.ip().is_loopback()
                                || from.arrival.is_some_and(|a| a.ip() == source.ip()))))
            });
        }
        !self.unix.is_empty()
            && self
                .unix
                .iter()
                .any(|own| own == datagram::address_bytes(&from.addr))
    }
}

/// Receives one datagram into `buf` and decides whether it may be echoed.
pub fn receive(socket: &Socket, buf: &mut [u8], own: &OwnAddresses) -> io::Result<Received> {
    Ok(match datagram::receive_one(socket.as_fd(), buf)? {
        None => Received::Empty,
        Some(d) => classify(d, own),
    })
}

/// Decides what to do with one datagram received: echo it, or drop it with
/// the reason (SPEC §3).
pub fn classify(datagram: Datagram, own: &OwnAddresses) -> Received {
    let from = datagram.from.map(|addr| Sender {
        addr,
        arrival: datagram.to,
    });
    if datagram.truncated {
        return Received::Dropped(DropReason::Oversize, from);
    }
    let Some(from) = from else {
        return Received::Dropped(DropReason::Unanswerable, None);
    };
    match answerable(&from, own) {
        Some(reason) => Received::Dropped(reason, Some(from)),
        None => Received::Echo(datagram.len, from),
    }
}

fn answerable(from: &Sender, own: &OwnAddresses) -> Option<DropReason> {
    if from.addr.is_unix() {
        if from.addr.is_unnamed() {
            return Some(DropReason::Unanswerable);
        }
    } else {
        // Another family: nowhere to send it.
        let port = from.addr.as_socket()?.port();
        if port == 0 || LOOP_PORTS.contains(&port) {
            return Some(DropReason::LoopPort);
        }
    }
    own.contains(from).then_some(DropReason::OwnAddress)
}

/// Sends `payload` back to `to`; EAGAIN or a vanished peer is a drop, not an error.
pub fn reply(socket: &Socket, payload: &[u8], to: &Sender) -> Result<(), DropReason> {
    datagram::send_one(socket.as_fd(), payload, &to.addr, to.arrival.as_ref())
        .map_err(|_| DropReason::SendFailed)
}

/// Bytes a peer chose (a path, an abstract name) as text for one log line:
/// control characters escaped (SPEC §6), so no sender can forge a line.
fn escaped(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .flat_map(|c| -> Vec<char> {
            match c {
                '\n' | '\r' | '\t' | '\0' | '\\' => c.escape_default().collect(),
                c if c.is_control() => format!("\\x{:02x}", c as u32).chars().collect(),
                c => vec![c],
            }
        })
        .collect()
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(inet) = self.addr.as_socket() {
            return match inet {
                SocketAddr::V4(a) => write!(f, "{a}"),
                SocketAddr::V6(a) => write!(f, "[{}]:{}", a.ip(), a.port()),
            };
        }
        if self.addr.is_unix() && !self.addr.is_unnamed() {
            if let Some(path) = self.addr.as_pathname() {
                use std::os::unix::ffi::OsStrExt;
                return f.write_str(&escaped(path.as_os_str().as_bytes()));
            }
            if let Some(name) = self.addr.as_abstract_namespace() {
                return write!(f, "@{}", escaped(name));
            }
        }
        if self.addr.is_unix() {
            return f.write_str("an unbound unix socket");
        }
        f.write_str("unknown sender")
    }
}

impl Sender {
    /// The source *address* (not port) as one number, for per-host limits
    /// (SPEC §4 `--udp-rate`): IPv4 as its IPv6-mapped form, a Unix name
    /// hashed. No allocation: this runs per datagram.
    pub fn host_key(&self) -> u128 {
        if let Some(inet) = self.socket_addr() {
            return match inet.ip() {
                IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
                IpAddr::V6(v6) => u128::from(v6),
            };
        }
        if self.addr.is_unnamed() {
            return 0;
        }
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        datagram::address_bytes(&self.addr).hash(&mut hasher);
        u128::from(hasher.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Type};
    use std::time::Duration;

    fn udp_pair() -> (Socket, Socket) {
        let any: SockAddr = "127.0.0.1:0".parse::<SocketAddr>().unwrap().into();
        let a = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        a.bind(&any).unwrap();
        let b = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        b.bind(&any).unwrap();
        b.connect(&a.local_addr().unwrap()).unwrap();
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (a, b)
    }

    fn none() -> OwnAddresses {
        OwnAddresses::default()
    }

    #[test]
    fn oversize_datagram_is_detected_not_cut() {
        let (server, client) = udp_pair();
        client.send(&[1u8; 100]).unwrap();
        let mut buf = [0u8; 64];
        assert!(matches!(
            receive(&server, &mut buf, &none()).unwrap(),
            Received::Dropped(DropReason::Oversize, _)
        ));
    }

    #[test]
    fn fitting_datagram_is_echoed() {
        let (server, client) = udp_pair();
        client.send(b"ping").unwrap();
        let mut buf = [0u8; 64];
        match receive(&server, &mut buf, &none()).unwrap() {
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
        Sender::inet(SocketAddr::from(([a, b, c, d], port)))
    }

    #[test]
    fn unbound_unix_sender_is_unanswerable() {
        let (server, client) = Socket::pair(Domain::UNIX, Type::DGRAM, None).unwrap();
        client.send(b"x").unwrap();
        let mut buf = [0u8; 8];
        assert!(matches!(
            receive(&server, &mut buf, &none()).unwrap(),
            Received::Dropped(DropReason::Unanswerable, _)
        ));
    }

    #[test]
    fn loop_ports_are_refused() {
        for port in [0u16, 7, 9, 13, 19, 37] {
            assert_eq!(
                answerable(&inet(127, 0, 0, 1, port), &none()),
                Some(DropReason::LoopPort),
                "port {port}"
            );
        }
        assert_eq!(answerable(&inet(127, 0, 0, 1, 40000), &none()), None);
    }

    #[test]
    fn a_datagram_from_our_own_address_is_refused() {
        let (server, _client) = udp_pair();
        let own = OwnAddresses::of([&server]);
        let port = server.local_addr().unwrap().as_socket().unwrap().port();
        assert_eq!(
            answerable(&inet(127, 0, 0, 1, port), &own),
            Some(DropReason::OwnAddress)
        );
        assert_eq!(answerable(&inet(127, 0, 0, 2, port), &own), None);
        assert_eq!(answerable(&inet(127, 0, 0, 1, port + 1), &own), None);
        // A wildcard listener: its port from loopback, or from the very
        // address the datagram was sent to, is ours.
        let wildcard = Socket::new(Domain::IPV6, Type::DGRAM, None).unwrap();
        wildcard.set_only_v6(false).unwrap();
        wildcard
            .bind(&"[::]:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        let own = OwnAddresses::of([&wildcard]);
        let port = wildcard.local_addr().unwrap().as_socket().unwrap().port();
        let mapped: SocketAddr = format!("[::ffff:127.0.0.9]:{port}").parse().unwrap();
        assert_eq!(
            answerable(&Sender::inet(mapped), &own),
            Some(DropReason::OwnAddress)
        );
        let mut forged = Sender::inet(SocketAddr::from(([192, 0, 2, 1], port)));
        assert_eq!(answerable(&forged, &own), None);
        forged.arrival = Some(Arrival::V4([192, 0, 2, 1].into()));
        assert_eq!(answerable(&forged, &own), Some(DropReason::OwnAddress));
    }

    #[test]
    fn every_unix_sender_is_answered_at_its_own_name_whatever_came_before() {
        // Names of falling and rising lengths through one socket: each reply
        // must reach exactly its sender (the MultiHeaders bug cut or padded them).
        let dir = std::env::temp_dir().join(format!("echokit-dgram-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let server = Socket::new(Domain::UNIX, Type::DGRAM, None).unwrap();
        server
            .bind(&SockAddr::unix(dir.join("s")).unwrap())
            .unwrap();
        server.set_nonblocking(true).unwrap();
        let names = ["a-long-sender-name", "b", "c-middle", "d"];
        let clients: Vec<std::os::unix::net::UnixDatagram> = names
            .iter()
            .map(|n| {
                let c = std::os::unix::net::UnixDatagram::bind(dir.join(n)).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                c
            })
            .collect();
        for (i, c) in clients.iter().enumerate() {
            c.send_to(&[i as u8], dir.join("s")).unwrap();
        }
        let mut buf = [0u8; 8];
        for _ in 0..names.len() {
            match receive(&server, &mut buf, &none()).unwrap() {
                Received::Echo(1, from) => {
                    let expected = dir.join(names[buf[0] as usize]);
                    assert_eq!(from.addr.as_pathname(), Some(expected.as_path()));
                    reply(&server, &buf[..1], &from).unwrap();
                }
                other => panic!("{other:?}"),
            }
        }
        for (i, c) in clients.iter().enumerate() {
            let mut back = [0u8; 4];
            assert_eq!(c.recv(&mut back).unwrap(), 1);
            assert_eq!(back[0], i as u8);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_udp_echo_leaves_from_the_address_it_was_sent_to() {
        let server = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        server
            .bind(&"0.0.0.0:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        datagram::report_arrival(server.as_fd(), libc::AF_INET).unwrap();
        server.set_nonblocking(true).unwrap();
        let port = server.local_addr().unwrap().as_socket().unwrap().port();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.connect(("127.0.0.2", port)).unwrap();
        client.send(b"hi").unwrap();
        let mut buf = [0u8; 8];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let from = loop {
            match receive(&server, &mut buf, &none()).unwrap() {
                Received::Echo(2, from) => break from,
                Received::Empty if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(from.arrival, Some(Arrival::V4([127, 0, 0, 2].into())));
        reply(&server, &buf[..2], &from).unwrap();
        // A connected UDP socket only takes datagrams from 127.0.0.2:port.
        let mut back = [0u8; 8];
        assert_eq!(client.recv(&mut back).unwrap(), 2);
    }

    #[test]
    fn a_sender_name_is_escaped_for_logs() {
        let weird = std::env::temp_dir().join("echokit-x\ntcp:1.2.3.4:7\x1b[31m");
        let sender = Sender {
            addr: SockAddr::unix(&weird).unwrap(),
            arrival: None,
        };
        let text = sender.to_string();
        assert!(!text.contains('\n') && !text.contains('\x1b'), "{text}");
        assert!(
            text.ends_with("echokit-x\\ntcp:1.2.3.4:7\\x1b[31m"),
            "{text}"
        );
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
