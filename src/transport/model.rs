//! SPEC §1: the one transport model. A transport is the triple (family,
//! type, protocol) handed to socket(2), and it is the key: every other room
//! asks this table — never its own copy — what a transport is called, which
//! prefix names it in the address grammar and the ready lines, its family,
//! socket type and protocol, the largest message it carries, and which
//! `--require` names cover it.
//!
//! Before a name is resolved, only half the triple is known: a [`Kind`]
//! (type and protocol, what a prefix or `-u` says); the address then picks
//! the family, and [`Transport::of`] the row.
//!
//! Adding a transport: a row in [`TABLE`] and [`Transport::ALL`], and the
//! match arms the compiler then points to in this file. Code elsewhere asks
//! the predicates ([`SocketType::accepts_connections`],
//! [`SocketType::keeps_boundaries`]), never "is it a stream?".

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::platform;

/// The socket type of SPEC §1: the second part of `socket(family, type, protocol)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketType {
    /// SOCK_STREAM: a connection carrying a byte stream.
    Stream,
    /// SOCK_DGRAM: no connection, each datagram whole.
    Datagram,
    /// SOCK_SEQPACKET: a connection carrying whole messages (AF_UNIX only here).
    SeqPacket,
}

impl SocketType {
    /// Whether a server `listen`s and `accept`s connections of this type.
    pub fn accepts_connections(self) -> bool {
        matches!(self, SocketType::Stream | SocketType::SeqPacket)
    }

    /// Whether each read returns one whole message, so a cut one must be detected (MSG_TRUNC).
    pub fn keeps_boundaries(self) -> bool {
        matches!(self, SocketType::Datagram | SocketType::SeqPacket)
    }

    /// The type for socket2's `Socket::new`.
    pub fn to_socket2(self) -> socket2::Type {
        match self {
            SocketType::Stream => socket2::Type::STREAM,
            SocketType::Datagram => socket2::Type::DGRAM,
            SocketType::SeqPacket => socket2::Type::SEQPACKET,
        }
    }

    /// The type of an existing socket (inetd's stdin, systemd's fds), if echokit serves it.
    pub fn from_socket2(ty: socket2::Type) -> Option<SocketType> {
        [
            SocketType::Stream,
            SocketType::Datagram,
            SocketType::SeqPacket,
        ]
        .into_iter()
        .find(|t| t.to_socket2() == ty)
    }

    /// A word for it in JSON and prose (`stream`, `datagram`, `seqpacket`).
    pub fn short_name(self) -> &'static str {
        match self {
            SocketType::Stream => "stream",
            SocketType::Datagram => "datagram",
            SocketType::SeqPacket => "seqpacket",
        }
    }

    /// What one unit of it is called in messages (`datagram`, `message`).
    pub fn message_noun(self) -> &'static str {
        match self {
            SocketType::Stream => "stream",
            SocketType::Datagram => "datagram",
            SocketType::SeqPacket => "message",
        }
    }

    /// The constant's name, as `resolve` prints it.
    pub fn constant_name(self) -> &'static str {
        match self {
            SocketType::Stream => "SOCK_STREAM",
            SocketType::Datagram => "SOCK_DGRAM",
            SocketType::SeqPacket => "SOCK_SEQPACKET",
        }
    }
}

/// The protocol of SPEC §1: the third part of `socket(family, type, protocol)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// 0: the family's own protocol for the type (TCP, UDP; none for AF_UNIX).
    Default,
    /// IPPROTO_MPTCP: Multipath TCP (Linux), a stream that falls back to
    /// plain TCP on the same connection when the peer does not speak it.
    Mptcp,
}

/// IPPROTO_MPTCP's number (Linux; the libc crate defines it there only).
pub const IPPROTO_MPTCP: i32 = 262;

impl Protocol {
    /// The protocol for socket2's `Socket::new` (`None` is 0).
    pub fn to_socket2(self) -> Option<socket2::Protocol> {
        match self {
            Protocol::Default => None,
            Protocol::Mptcp => Some(socket2::Protocol::from(IPPROTO_MPTCP)),
        }
    }

    /// The protocol of an existing socket from SO_PROTOCOL's number, given
    /// its family; `None` for one echokit does not serve.
    pub fn from_raw(family: Family, raw: i32) -> Option<Protocol> {
        match (family, raw) {
            (_, 0)
            | (Family::Inet4 | Family::Inet6, libc::IPPROTO_TCP)
            | (Family::Inet4 | Family::Inet6, libc::IPPROTO_UDP) => Some(Protocol::Default),
            (Family::Inet4 | Family::Inet6, IPPROTO_MPTCP) => Some(Protocol::Mptcp),
            _ => None,
        }
    }
}

/// The half of a transport a prefix or `-u` names before the address picks
/// the family: (type, protocol). `tcp:` and a plain `-u`-less path are both
/// [`Kind::STREAM`]; the family then makes it tcp4, tcp6 or unix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kind {
    pub socket_type: SocketType,
    pub protocol: Protocol,
}

impl Kind {
    /// SOCK_STREAM, protocol 0.
    pub const STREAM: Kind = Kind::new(SocketType::Stream);
    /// SOCK_DGRAM, protocol 0.
    pub const DATAGRAM: Kind = Kind::new(SocketType::Datagram);
    /// SOCK_SEQPACKET, protocol 0.
    pub const SEQPACKET: Kind = Kind::new(SocketType::SeqPacket);

    const fn new(socket_type: SocketType) -> Kind {
        Kind {
            socket_type,
            protocol: Protocol::Default,
        }
    }

    /// Whether a server `listen`s and `accept`s connections of this kind.
    pub fn accepts_connections(self) -> bool {
        self.socket_type.accepts_connections()
    }

    /// Whether each read returns one whole message.
    pub fn keeps_boundaries(self) -> bool {
        self.socket_type.keeps_boundaries()
    }
}

/// The address family of SPEC §1: the first part of `socket(family, type, protocol)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// AF_INET.
    Inet4,
    /// AF_INET6.
    Inet6,
    /// AF_UNIX: a path, or (Linux) an abstract name.
    Unix,
}

impl Family {
    /// The family of a socket2 domain, if echokit serves it.
    pub fn from_socket2(domain: socket2::Domain) -> Option<Family> {
        [
            (socket2::Domain::IPV4, Family::Inet4),
            (socket2::Domain::IPV6, Family::Inet6),
            (socket2::Domain::UNIX, Family::Unix),
        ]
        .into_iter()
        .find(|(d, _)| *d == domain)
        .map(|(_, f)| f)
    }

    /// The domain for socket2's `Socket::new`.
    pub fn to_socket2(self) -> socket2::Domain {
        match self {
            Family::Inet4 => socket2::Domain::IPV4,
            Family::Inet6 => socket2::Domain::IPV6,
            Family::Unix => socket2::Domain::UNIX,
        }
    }
}

/// A concrete socket address, resolved and ready for socket(2): what the
/// grammar's text ([`crate::addr::Endpoint`]) becomes once names are looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SocketAddress {
    /// An IPv4 or IPv6 address and port.
    Inet(SocketAddr),
    /// A Unix socket path.
    Path(PathBuf),
    /// A Linux abstract-namespace name, without the leading `@`.
    Abstract(Vec<u8>),
}

impl SocketAddress {
    /// The family this address belongs to.
    pub fn family(&self) -> Family {
        match self {
            SocketAddress::Inet(SocketAddr::V4(_)) => Family::Inet4,
            SocketAddress::Inet(SocketAddr::V6(_)) => Family::Inet6,
            SocketAddress::Path(_) | SocketAddress::Abstract(_) => Family::Unix,
        }
    }
}

/// The transports of SPEC §1 (an abstract name is a Unix transport at another kind of address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp4,
    Tcp6,
    Udp4,
    Udp6,
    Unix,
    Unixgram,
    SeqPacket,
    Mptcp4,
    Mptcp6,
}

/// What the table says of one transport.
struct Row {
    transport: Transport,
    name: &'static str,
    prefix: &'static str,
    family: Family,
    socket_type: SocketType,
    protocol: Protocol,
    /// The largest message it carries whole (SPEC §3), or `None` for byte streams.
    max_message: Option<usize>,
    /// The `--require` names that cover it, its own name first.
    require: &'static [&'static str],
}

/// The table: one row per transport, in the order `check` lists them.
const TABLE: [Row; 9] = [
    Row {
        transport: Transport::Tcp4,
        name: "tcp4",
        prefix: "tcp",
        family: Family::Inet4,
        socket_type: SocketType::Stream,
        protocol: Protocol::Default,
        max_message: None,
        require: &["tcp4", "tcp", "ipv4"],
    },
    Row {
        transport: Transport::Tcp6,
        name: "tcp6",
        prefix: "tcp",
        family: Family::Inet6,
        socket_type: SocketType::Stream,
        protocol: Protocol::Default,
        max_message: None,
        require: &["tcp6", "tcp", "ipv6"],
    },
    Row {
        transport: Transport::Udp4,
        name: "udp4",
        prefix: "udp",
        family: Family::Inet4,
        socket_type: SocketType::Datagram,
        protocol: Protocol::Default,
        max_message: Some(65_507),
        require: &["udp4", "udp", "ipv4"],
    },
    Row {
        transport: Transport::Udp6,
        name: "udp6",
        prefix: "udp",
        family: Family::Inet6,
        socket_type: SocketType::Datagram,
        protocol: Protocol::Default,
        max_message: Some(65_527),
        require: &["udp6", "udp", "ipv6"],
    },
    Row {
        transport: Transport::Unix,
        name: "unix",
        prefix: "unix",
        family: Family::Unix,
        socket_type: SocketType::Stream,
        protocol: Protocol::Default,
        max_message: None,
        require: &["unix"],
    },
    Row {
        transport: Transport::Unixgram,
        name: "unixgram",
        prefix: "unixgram",
        family: Family::Unix,
        socket_type: SocketType::Datagram,
        protocol: Protocol::Default,
        // Bounded in practice by SO_SNDBUF; the send path reports EMSGSIZE beyond it.
        max_message: Some(platform::MAX_UNIX_DATAGRAM),
        // Both Unix path transports depend on the same socket directory.
        require: &["unixgram", "unix"],
    },
    Row {
        transport: Transport::SeqPacket,
        name: "seqpacket",
        prefix: "seqpacket",
        family: Family::Unix,
        socket_type: SocketType::SeqPacket,
        protocol: Protocol::Default,
        max_message: Some(platform::MAX_UNIX_DATAGRAM),
        require: &["seqpacket", "unix"],
    },
    Row {
        transport: Transport::Mptcp4,
        name: "mptcp4",
        prefix: "mptcp",
        family: Family::Inet4,
        socket_type: SocketType::Stream,
        protocol: Protocol::Mptcp,
        max_message: None,
        // Not `ipv4`: a kernel without MPTCP still has IPv4.
        require: &["mptcp4", "mptcp"],
    },
    Row {
        transport: Transport::Mptcp6,
        name: "mptcp6",
        prefix: "mptcp",
        family: Family::Inet6,
        socket_type: SocketType::Stream,
        protocol: Protocol::Mptcp,
        max_message: None,
        require: &["mptcp6", "mptcp"],
    },
];

/// The `--require` name of the rows on abstract addresses (Linux).
pub const REQUIRE_ABSTRACT: &str = "abstract";
/// The `--require` name of check's "localhost resolves to addresses this machine has" row.
pub const REQUIRE_LOCALHOST: &str = "localhost";

impl Transport {
    /// Every transport, in table order.
    pub const ALL: [Transport; 9] = [
        Transport::Tcp4,
        Transport::Tcp6,
        Transport::Udp4,
        Transport::Udp6,
        Transport::Unix,
        Transport::Unixgram,
        Transport::SeqPacket,
        Transport::Mptcp4,
        Transport::Mptcp6,
    ];

    fn row(self) -> &'static Row {
        TABLE
            .iter()
            .find(|row| row.transport == self)
            .expect("every transport has a row in TABLE")
    }

    /// The transport of a socket of `kind` at `address`.
    pub fn of(kind: Kind, address: &SocketAddress) -> Transport {
        Transport::with(kind, address.family())
            .expect("every (family, kind) pair echokit creates has a transport")
    }

    /// The transport of this kind and family, if there is one (no SOCK_SEQPACKET over inet).
    pub fn with(kind: Kind, family: Family) -> Option<Transport> {
        Transport::find(family, kind.socket_type, kind.protocol)
    }

    /// The transport of the triple (family, type, protocol), if echokit serves it.
    pub fn find(family: Family, socket_type: SocketType, protocol: Protocol) -> Option<Transport> {
        TABLE
            .iter()
            .find(|row| {
                row.family == family && row.socket_type == socket_type && row.protocol == protocol
            })
            .map(|row| row.transport)
    }

    /// The transports a grammar prefix (`tcp`, `unixgram`…) names, without the colon.
    pub fn for_prefix(prefix: &str) -> impl Iterator<Item = Transport> + '_ {
        TABLE
            .iter()
            .filter(move |row| row.prefix == prefix)
            .map(|row| row.transport)
    }

    /// Every grammar prefix, each once, in the model's order (`tcp`, `udp`,
    /// …): what help texts list.
    pub fn prefixes_in_order() -> Vec<&'static str> {
        let mut prefixes: Vec<&'static str> = Vec::new();
        for row in &TABLE {
            if !prefixes.contains(&row.prefix) {
                prefixes.push(row.prefix);
            }
        }
        prefixes
    }

    /// Every grammar prefix, each once, longest first so `unixgram:` wins over `unix:`.
    pub fn prefixes() -> Vec<&'static str> {
        let mut prefixes = Transport::prefixes_in_order();
        prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
        prefixes
    }

    /// Its name in tables and messages (`tcp4`, `unixgram`).
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// The grammar prefix that names it in addresses and ready lines (`tcp`, `udp`…).
    pub fn prefix(self) -> &'static str {
        self.row().prefix
    }

    /// Its address family.
    pub fn family(self) -> Family {
        self.row().family
    }

    /// Its socket type.
    pub fn socket_type(self) -> SocketType {
        self.row().socket_type
    }

    /// Its protocol.
    pub fn protocol(self) -> Protocol {
        self.row().protocol
    }

    /// Its (type, protocol) half.
    pub fn kind(self) -> Kind {
        Kind {
            socket_type: self.socket_type(),
            protocol: self.protocol(),
        }
    }

    /// The largest message it carries whole (SPEC §3), or `None` for byte streams.
    pub fn max_message(self) -> Option<usize> {
        self.row().max_message
    }

    /// The `--require` names that cover it (its own name, its socket type, its family).
    pub fn require_names(self) -> &'static [&'static str] {
        self.row().require
    }

    /// Whether this platform has it at all (SOCK_SEQPACKET is missing on
    /// macOS, MPTCP everywhere but Linux).
    pub fn supported(self) -> Result<(), &'static str> {
        match self {
            Transport::SeqPacket if !platform::SUPPORTS_SEQPACKET => {
                Err("SOCK_SEQPACKET Unix sockets are")
            }
            Transport::Mptcp4 | Transport::Mptcp6 if !platform::SUPPORTS_MPTCP => {
                Err("MPTCP sockets are")
            }
            _ => Ok(()),
        }
    }
}

/// Every name `--require` accepts, each once, in alphabetical order.
pub fn require_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for row in &TABLE {
        for name in row.require {
            if !names.contains(name) {
                names.push(name);
            }
        }
    }
    names.push(REQUIRE_ABSTRACT);
    names.push(REQUIRE_LOCALHOST);
    names.sort_unstable();
    names
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transport_has_one_row_and_round_trips_through_type_and_family() {
        for t in Transport::ALL {
            assert_eq!(TABLE.iter().filter(|r| r.transport == t).count(), 1, "{t}");
            assert_eq!(Transport::with(t.kind(), t.family()), Some(t));
            assert_eq!(
                Transport::find(t.family(), t.socket_type(), t.protocol()),
                Some(t)
            );
            assert!(Transport::for_prefix(t.prefix()).any(|p| p == t));
            assert_eq!(t.require_names()[0], t.name());
        }
    }

    /// SO_PROTOCOL's numbers of inherited sockets: an MPTCP socket is an
    /// MPTCP transport, not TCP (the key is the triple).
    #[test]
    fn inherited_protocol_numbers_pick_the_row() {
        let mptcp = Protocol::from_raw(Family::Inet6, IPPROTO_MPTCP).unwrap();
        assert_eq!(
            Transport::find(Family::Inet6, SocketType::Stream, mptcp),
            Some(Transport::Mptcp6)
        );
        let tcp = Protocol::from_raw(Family::Inet4, libc::IPPROTO_TCP).unwrap();
        assert_eq!(
            Transport::find(Family::Inet4, SocketType::Stream, tcp),
            Some(Transport::Tcp4)
        );
        assert_eq!(Protocol::from_raw(Family::Unix, IPPROTO_MPTCP), None);
        assert_eq!(Transport::Mptcp4.prefix(), "mptcp");
        assert!(!Transport::Mptcp4.require_names().contains(&"ipv4"));
    }

    #[test]
    fn predicates_follow_the_socket_type() {
        assert!(SocketType::Stream.accepts_connections());
        assert!(!SocketType::Stream.keeps_boundaries());
        assert!(!SocketType::Datagram.accepts_connections());
        assert!(SocketType::Datagram.keeps_boundaries());
        assert!(SocketType::SeqPacket.accepts_connections());
        assert!(SocketType::SeqPacket.keeps_boundaries());
        assert_eq!(Transport::with(Kind::SEQPACKET, Family::Inet4), None);
    }

    #[test]
    fn largest_messages_follow_spec_section_3() {
        assert_eq!(Transport::Udp4.max_message(), Some(65_507));
        assert_eq!(Transport::Udp6.max_message(), Some(65_527));
        assert_eq!(Transport::Tcp4.max_message(), None);
        assert!(Transport::SeqPacket.max_message().unwrap() > 65_527);
    }

    #[test]
    fn prefixes_are_listed_longest_first_and_once() {
        let p = Transport::prefixes();
        assert_eq!(p.len(), 6);
        let unixgram = p.iter().position(|x| *x == "unixgram").unwrap();
        let unix = p.iter().position(|x| *x == "unix").unwrap();
        assert!(unixgram < unix);
    }

    /// The help texts name every prefix and `--require` name of the model
    /// (`cli::model_list` builds them; this keeps a hand-typed list out).
    #[test]
    fn help_texts_list_every_prefix_and_require_name_of_the_model() {
        let cmd = crate::cli::man::built_command();
        let help = |sub: &str, arg: &str| {
            cmd.find_subcommand(sub)
                .and_then(|c| c.get_arguments().find(|a| a.get_id() == arg))
                .and_then(|a| a.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default()
        };
        for sub in ["serve"] {
            let addrs = help(sub, "addrs");
            for prefix in Transport::prefixes() {
                assert!(
                    addrs.contains(&format!("{prefix}:")),
                    "{sub} ADDR help lacks {prefix}:"
                );
            }
        }
        let require = help("check", "require");
        for name in require_names() {
            assert!(
                require.split([' ', ',', ':']).any(|w| w == name),
                "--require help lacks {name}"
            );
        }
    }

    /// The README's tables are written by hand: its transport table has a
    /// row for every transport, and its grammar table names every prefix.
    #[test]
    fn the_readme_names_every_transport_and_prefix() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        let first_cells: Vec<&str> = readme
            .lines()
            .filter_map(|l| l.strip_prefix("| "))
            .filter_map(|l| l.split(" |").next())
            .collect();
        for t in Transport::ALL {
            assert!(
                first_cells
                    .iter()
                    .any(|cell| cell.split([',', ' ']).any(|w| w == t.name())),
                "README's transport table has no row for {}",
                t.name()
            );
        }
        let prefix_row = first_cells
            .iter()
            .find(|cell| cell.starts_with("`tcp:`"))
            .expect("README's grammar table has a row of prefixes");
        for prefix in Transport::prefixes() {
            assert!(
                prefix_row.contains(&format!("`{prefix}:`")),
                "README's prefix row lacks {prefix}:"
            );
        }
    }

    #[test]
    fn require_names_cover_every_transport_and_the_extras() {
        let names = require_names();
        for want in [
            "ipv4",
            "ipv6",
            "tcp",
            "udp",
            "unix",
            "seqpacket",
            "abstract",
            "localhost",
        ] {
            assert!(names.contains(&want), "{want}");
        }
    }
}
