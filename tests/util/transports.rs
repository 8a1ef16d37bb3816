//! The transports of SPEC §1 as the tests iterate over them ([`Transport`],
//! [`transports`]), and where to serve them: fresh temp dirs for socket
//! files, fresh abstract names, free ports, whether this machine has IPv6,
//! and how a test says that it skips what the machine lacks.
//!
//! The list is derived from the library's own model
//! (`echokit::transport::Transport::ALL`): a transport added there is served,
//! sent to and checked by every test that loops over [`transports`], and a
//! test keeps out what makes no sense for it by the model's predicates
//! (`accepts_connections`, `keeps_boundaries`, the family), not by name.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub use echokit::transport::Family;
use echokit::transport::Protocol;
use echokit::transport::Transport as Model;

use super::port_of;

/// What kind of address a transport is served at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// An IP address and port (the inet families).
    Inet,
    /// A socket file in a temp dir.
    Path,
    /// A Linux abstract name (`@name`), no file.
    Abstract,
}

/// One transport of SPEC §1 (the library's model) at one kind of address: the
/// Unix transports come twice, at a path and at an abstract name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport {
    /// The library's transport: name, prefix, family, socket type, largest message.
    pub model: Model,
    /// Where it is served.
    pub place: Place,
}

impl Transport {
    pub const TCP4: Transport = Transport::at(Model::Tcp4, Place::Inet);
    pub const TCP6: Transport = Transport::at(Model::Tcp6, Place::Inet);
    pub const UDP4: Transport = Transport::at(Model::Udp4, Place::Inet);
    pub const UDP6: Transport = Transport::at(Model::Udp6, Place::Inet);
    pub const UNIX: Transport = Transport::at(Model::Unix, Place::Path);
    pub const UNIXGRAM: Transport = Transport::at(Model::Unixgram, Place::Path);
    pub const SEQPACKET: Transport = Transport::at(Model::SeqPacket, Place::Path);
    pub const ABSTRACT: Transport = Transport::at(Model::Unix, Place::Abstract);
    pub const ABSTRACT_GRAM: Transport = Transport::at(Model::Unixgram, Place::Abstract);
    pub const ABSTRACT_SEQPACKET: Transport = Transport::at(Model::SeqPacket, Place::Abstract);

    const fn at(model: Model, place: Place) -> Transport {
        Transport { model, place }
    }

    /// Every transport of the library's model, in its order, each Unix one at
    /// a path; then the Unix ones again at abstract names.
    pub fn all() -> Vec<Transport> {
        let unix = || {
            Model::ALL
                .into_iter()
                .filter(|m| m.family() == Family::Unix)
        };
        Model::ALL
            .into_iter()
            .map(|m| match m.family() {
                Family::Unix => Transport::at(m, Place::Path),
                Family::Inet4 | Family::Inet6 => Transport::at(m, Place::Inet),
            })
            .chain(unix().map(|m| Transport::at(m, Place::Abstract)))
            .collect()
    }

    /// A short name for messages (`tcp4`, `seqpacket`, `abstract unixgram`).
    pub fn name(self) -> String {
        match self.place {
            Place::Abstract => format!("abstract {}", self.model.name()),
            Place::Inet | Place::Path => self.model.name().to_string(),
        }
    }

    /// A connection to accept and serve (SOCK_STREAM, SOCK_SEQPACKET).
    pub fn accepts_connections(self) -> bool {
        self.model.socket_type().accepts_connections()
    }

    /// Each read is one whole message (SOCK_DGRAM, SOCK_SEQPACKET).
    pub fn keeps_boundaries(self) -> bool {
        self.model.socket_type().keeps_boundaries()
    }

    /// A byte stream: connections, no message boundaries (TCP, Unix streams).
    pub fn is_byte_stream(self) -> bool {
        self.accepts_connections() && !self.keeps_boundaries()
    }

    /// AF_INET or AF_INET6.
    pub fn is_inet(self) -> bool {
        self.model.family() != Family::Unix
    }

    /// The largest message it carries whole, per the library (`None` for byte streams).
    pub fn max_message(self) -> Option<usize> {
        self.model.max_message()
    }

    /// The loopback address of its family (`127.0.0.1`, `[::1]`), for inet transports.
    fn loopback(self) -> &'static str {
        match self.model.family() {
            Family::Inet4 => "127.0.0.1",
            Family::Inet6 => "[::1]",
            Family::Unix => panic!("{} has no IP address", self.name()),
        }
    }

    /// The grammar prefix an address of it needs: none for streams of the
    /// default protocol (the default, so the bare forms stay covered), else
    /// its own (`mptcp:` too: without it, a plain TCP socket).
    fn arg_prefix(self) -> String {
        if self.is_byte_stream() && self.model.protocol() == Protocol::Default {
            String::new()
        } else {
            format!("{}:", self.model.prefix())
        }
    }

    /// A fresh address to serve this transport on: port 0, or a new name in `dir`
    /// or in the abstract namespace.
    pub fn listen_arg(self, dir: &Path) -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let prefix = self.arg_prefix();
        match self.place {
            Place::Inet => format!("{prefix}{}:0", self.loopback()),
            Place::Path => {
                let file = format!("{}{n}.sock", self.model.name());
                format!("{prefix}{}", dir.join(file).display())
            }
            Place::Abstract => format!("{prefix}{}", abstract_name()),
        }
    }

    /// `path` (or `@name`) as an address of this transport, behind its prefix
    /// (`seqpacket:/tmp/x.sock`): the form a test types for a given place.
    pub fn address_at(self, path: &str) -> String {
        format!("{}:{path}", self.model.prefix())
    }

    /// How this transport's ready line starts (`tcp:127.0.0.1:`, `unixgram:/`, `seqpacket:@`).
    pub fn ready_prefix(self) -> String {
        let prefix = self.model.prefix();
        match self.place {
            Place::Inet => format!("{prefix}:{}:", self.loopback()),
            Place::Path => format!("{prefix}:/"),
            Place::Abstract => format!("{prefix}:@"),
        }
    }

    /// Fails unless `line` is a ready line of this transport (with a real port for inet).
    pub fn check_ready(self, line: &str) {
        assert!(
            line.starts_with(&self.ready_prefix()),
            "{}: ready line {line:?} should start with {:?}",
            self.name(),
            self.ready_prefix()
        );
        if self.is_inet() {
            assert_ne!(port_of(line), 0, "ready line {line:?} names port 0");
        }
    }

    /// Why this machine cannot run this transport, if it cannot.
    pub fn unavailable(self) -> Option<String> {
        if let Err(what) = self.model.supported() {
            return Some(format!("{what} not supported on this platform"));
        }
        if self.place == Place::Abstract && !cfg!(target_os = "linux") {
            return Some("abstract Unix sockets exist only on Linux".to_string());
        }
        if self.model.protocol() == Protocol::Mptcp {
            match std::fs::read_to_string("/proc/sys/net/mptcp/enabled") {
                Ok(v) if v.trim() == "1" => {}
                Ok(_) => return Some("net.mptcp.enabled is 0 on this machine".to_string()),
                Err(_) => return Some("this kernel has no MPTCP".to_string()),
            }
        }
        match self.model.family() {
            Family::Inet6 => ipv6_unavailable(),
            Family::Inet4 | Family::Unix => None,
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

/// The transports of [`Transport::all`] that `keep` selects and this machine has;
/// each one skipped is named on stderr with the reason.
pub fn transports(keep: impl Fn(Transport) -> bool) -> Vec<Transport> {
    Transport::all()
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
