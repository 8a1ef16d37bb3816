//! The transports of SPEC §1 as the tests iterate over them ([`Transport`],
//! [`transports`]), and where to serve them: fresh temp dirs for socket
//! files, fresh abstract names, free ports, whether this machine has IPv6,
//! and how a test says that it skips what the machine lacks.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::port_of;

/// The transports of SPEC §1, each with an address to serve it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp4,
    Tcp6,
    Udp4,
    Udp6,
    Unix,
    Unixgram,
    Abstract,
    AbstractGram,
}

impl Transport {
    /// Every transport, in a fixed order.
    pub const ALL: [Transport; 8] = [
        Transport::Tcp4,
        Transport::Tcp6,
        Transport::Udp4,
        Transport::Udp6,
        Transport::Unix,
        Transport::Unixgram,
        Transport::Abstract,
        Transport::AbstractGram,
    ];

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp4 => "tcp4",
            Transport::Tcp6 => "tcp6",
            Transport::Udp4 => "udp4",
            Transport::Udp6 => "udp6",
            Transport::Unix => "unix",
            Transport::Unixgram => "unixgram",
            Transport::Abstract => "abstract",
            Transport::AbstractGram => "abstract unixgram",
        }
    }

    /// SOCK_STREAM (as opposed to SOCK_DGRAM).
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            Transport::Tcp4 | Transport::Tcp6 | Transport::Unix | Transport::Abstract
        )
    }

    /// AF_INET or AF_INET6.
    pub fn is_inet(self) -> bool {
        matches!(
            self,
            Transport::Tcp4 | Transport::Tcp6 | Transport::Udp4 | Transport::Udp6
        )
    }

    /// A fresh address to serve this transport on: port 0, or a new name in `dir`
    /// or in the abstract namespace.
    pub fn listen_arg(self, dir: &Path) -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        match self {
            Transport::Tcp4 => "127.0.0.1:0".to_string(),
            Transport::Tcp6 => "[::1]:0".to_string(),
            Transport::Udp4 => "udp:127.0.0.1:0".to_string(),
            Transport::Udp6 => "udp:[::1]:0".to_string(),
            Transport::Unix => dir.join(format!("s{n}.sock")).display().to_string(),
            Transport::Unixgram => {
                format!("unixgram:{}", dir.join(format!("g{n}.sock")).display())
            }
            Transport::Abstract => abstract_name(),
            Transport::AbstractGram => format!("unixgram:{}", abstract_name()),
        }
    }

    /// How this transport's ready line starts.
    pub fn ready_prefix(self) -> &'static str {
        match self {
            Transport::Tcp4 => "tcp:127.0.0.1:",
            Transport::Tcp6 => "tcp:[::1]:",
            Transport::Udp4 => "udp:127.0.0.1:",
            Transport::Udp6 => "udp:[::1]:",
            Transport::Unix => "unix:/",
            Transport::Unixgram => "unixgram:/",
            Transport::Abstract => "unix:@",
            Transport::AbstractGram => "unixgram:@",
        }
    }

    /// Fails unless `line` is a ready line of this transport (with a real port for inet).
    pub fn check_ready(self, line: &str) {
        assert!(
            line.starts_with(self.ready_prefix()),
            "{}: ready line {line:?} should start with {:?}",
            self.name(),
            self.ready_prefix()
        );
        if self.is_inet() {
            assert_ne!(port_of(line), 0, "ready line {line:?} names port 0");
        }
    }

    /// The largest datagram UDP carries over this family (SPEC §3: 65,507 bytes
    /// over IPv4, 65,527 over IPv6); `None` for the other transports.
    pub fn max_udp_datagram(self) -> Option<usize> {
        match self {
            Transport::Udp4 => Some(65_507),
            Transport::Udp6 => Some(65_527),
            _ => None,
        }
    }

    /// Why this machine cannot run this transport, if it cannot.
    pub fn unavailable(self) -> Option<String> {
        match self {
            Transport::Tcp6 | Transport::Udp6 => ipv6_unavailable(),
            Transport::Abstract | Transport::AbstractGram if !cfg!(target_os = "linux") => {
                Some("abstract Unix sockets exist only on Linux".to_string())
            }
            _ => None,
        }
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh abstract socket name, unique to this process and call: `@echokit-test-PID-N`.
pub fn abstract_name() -> String {
    format!(
        "@echokit-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The transports of [`Transport::ALL`] that `keep` selects and this machine has;
/// each one skipped is named on stderr with the reason.
pub fn transports(keep: impl Fn(Transport) -> bool) -> Vec<Transport> {
    Transport::ALL
        .into_iter()
        .filter(|&t| keep(t))
        .filter(|&t| match t.unavailable() {
            Some(why) => {
                eprintln!("skipping {}: {why}", t.name());
                false
            }
            None => true,
        })
        .collect()
}

/// Says why a test (or part of one) did not run, on the terminal even when the
/// test harness captures output (a direct write to stderr, not `eprintln!`).
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
}

/// Why IPv6 loopback cannot be used here, if it cannot (tried by binding `[::1]:0`).
pub fn ipv6_unavailable() -> Option<String> {
    if let Err(e) = TcpListener::bind("[::1]:0") {
        return Some(format!(
            "this machine has no IPv6 loopback (bind [::1]:0: {e})"
        ));
    }
    if let Err(e) = UdpSocket::bind("[::1]:0") {
        return Some(format!(
            "this machine has no IPv6 loopback (bind udp [::1]:0: {e})"
        ));
    }
    None
}

/// A fresh temp dir for socket files, under a short base so paths stay well below
/// the 107 usable bytes of `sun_path`.
pub fn temp_dir() -> tempfile::TempDir {
    let base = std::env::temp_dir();
    let base = if base.as_os_str().len() <= 40 {
        base
    } else {
        PathBuf::from("/tmp")
    };
    tempfile::Builder::new()
        .prefix("ek")
        .tempdir_in(base)
        .expect("create a temp dir")
}

/// A port nothing listens on right now (bound, then closed).
pub fn free_tcp_port(ip: &str) -> u16 {
    let listener = TcpListener::bind((ip, 0)).expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// A UDP port nothing is bound to right now (bound, then closed).
pub fn free_udp_port(ip: &str) -> u16 {
    let socket = UdpSocket::bind((ip, 0)).expect("bind udp port 0");
    socket.local_addr().expect("local addr").port()
}
