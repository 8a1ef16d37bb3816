//! SPEC §2: the one address grammar, text → [`Endpoint`], and its resolution
//! to concrete socket addresses.
//!
//! Parsing needs no network and no services database, so every form and
//! error is unit-tested; names and service names are looked up only in
//! [`resolve`], through getaddrinfo. The one system call parsing makes is
//! if_nametoindex(3), for a scope id given by interface name
//! (`[fe80::1%eth0]:7`). This module knows strings and `std::net`, never
//! sockets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;

use crate::error::Error;
use crate::sys::{self, Hints, LookupErrorKind};
use crate::transport::platform;
use crate::transport::{Family, Kind, SocketAddress, Transport};

/// The grammar's written form of concrete addresses lives beside the model
/// (`transport/display.rs`), which the transport room needs too.
pub use crate::transport::{display, display_target, escape_controls};

/// Which address families name resolution may return (`-4`, `-6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FamilyFilter {
    #[default]
    Any,
    V4,
    V6,
}

/// The host part of an inet address, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `:PORT` — every local address (serve) or localhost (send).
    Unspecified,
    /// A literal; for IPv6, with its scope id (0 when none).
    Ip(IpAddr, u32),
    /// A name for getaddrinfo.
    Name(String),
}

/// The port part, as typed: a number or a services-database name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Port {
    Number(u16),
    Service(String),
}

/// Where an endpoint points, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An IPv4/IPv6 host and port.
    Inet { host: Host, port: Port },
    /// A Unix socket path.
    Path(PathBuf),
    /// A Linux abstract-namespace name (without the leading `@`).
    Abstract(Vec<u8>),
}

/// A parsed address: its kind (type and protocol: the family comes with the
/// address), its target, and the text the user typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub kind: Kind,
    pub target: Target,
    pub text: String,
}

/// Parses `text` by SPEC §2; `default_kind` comes from `-u` and applies when no prefix says otherwise.
pub fn parse(text: &str, default_kind: Kind) -> Result<Endpoint, Error> {
    let bad = |reason: String| Error::address(text, reason);
    let (prefix, rest) = split_prefix(text);
    let kind = prefix.map_or(default_kind, |p| p.kind);
    if rest.is_empty() {
        return Err(bad("empty address (try HOST:PORT, /path or @name)".into()));
    }
    let family = prefix.map(|p| p.family);
    let (unix_prefix, inet_prefix) = (
        family == Some(Family::Unix),
        family.is_some_and(|f| f != Family::Unix),
    );
    let target = if let Some(name) = rest.strip_prefix('@') {
        if inet_prefix {
            return Err(bad(format!(
                "{} take HOST:PORT, not @name",
                inet_prefixes()
            )));
        }
        parse_abstract(name).map_err(bad)?
    } else if unix_prefix || rest.contains('/') {
        if inet_prefix {
            return Err(bad(format!(
                "{} take HOST:PORT, not a path",
                inet_prefixes()
            )));
        }
        parse_path(rest).map_err(bad)?
    } else if Transport::with(kind, Family::Inet4).is_none() {
        // Only SOCK_SEQPACKET has no inet row.
        let (constant, prefix) = Transport::with(kind, Family::Unix).map_or(("?", "?"), |t| {
            (t.socket_type().constant_name(), t.prefix())
        });
        return Err(bad(format!(
            "{constant} is a Unix socket type: give {prefix}: a path or @name"
        )));
    } else {
        parse_inet(rest).map_err(bad)?
    };
    let family = match target {
        Target::Inet { .. } => Family::Inet4,
        Target::Path(_) | Target::Abstract(_) => Family::Unix,
    };
    if let Some(Err(what)) = Transport::with(kind, family).map(Transport::supported) {
        return Err(Error::Unsupported(what.to_string()));
    }
    Ok(Endpoint {
        kind,
        target,
        text: text.to_string(),
    })
}

/// The prefixes that take HOST:PORT, in the model's order: `tcp: and udp:`.
fn inet_prefixes() -> String {
    let names: Vec<String> = Transport::ALL
        .iter()
        .filter(|t| t.family() == Family::Inet4)
        .map(|t| format!("{}:", t.prefix()))
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// What a transport prefix (`tcp:`, `seqpacket:`…) says: a kind and a family class.
#[derive(Debug, Clone, Copy)]
struct Prefix {
    kind: Kind,
    /// `Unix`, or one of the inet families (the prefix names both).
    family: Family,
}

fn split_prefix(text: &str) -> (Option<Prefix>, &str) {
    for name in Transport::prefixes() {
        let Some(rest) = text.strip_prefix(name).and_then(|r| r.strip_prefix(':')) else {
            continue;
        };
        let transport = Transport::for_prefix(name)
            .next()
            .expect("every listed prefix names a transport");
        let prefix = Prefix {
            kind: transport.kind(),
            family: transport.family(),
        };
        return (Some(prefix), rest);
    }
    (None, text)
}

/// The bytes a Unix socket path or abstract name may use: `sun_path` less one
/// (the terminating NUL for a path, the leading NUL for an abstract name).
pub fn max_unix_path_len() -> usize {
    platform::SUN_PATH_CAPACITY - 1
}

fn parse_path(path: &str) -> Result<Target, String> {
    if path.len() > max_unix_path_len() {
        return Err(format!(
            "Unix socket path is {} bytes; sun_path holds at most {} usable bytes (use a shorter directory)",
            path.len(),
            max_unix_path_len()
        ));
    }
    if let Some(bad) = control_character(path) {
        return Err(format!("a Unix socket path cannot contain {bad}"));
    }
    Ok(Target::Path(PathBuf::from(path)))
}

fn parse_abstract(name: &str) -> Result<Target, String> {
    if !platform::SUPPORTS_ABSTRACT {
        return Err(
            "abstract Unix sockets (@name) are not supported on this platform (use a path)".into(),
        );
    }
    if name.is_empty() {
        return Err("an abstract socket needs a name after @".into());
    }
    if name.len() > max_unix_path_len() {
        return Err(format!(
            "abstract name is {} bytes; at most {} fit",
            name.len(),
            max_unix_path_len()
        ));
    }
    if let Some(bad) = control_character(name) {
        return Err(format!("an abstract socket name cannot contain {bad}"));
    }
    Ok(Target::Abstract(name.as_bytes().to_vec()))
}

/// The first control character (bytes 0x00–0x1f and 0x7f) in `text`, in
/// words: SPEC §2 refuses them in a path or abstract name, so that every
/// ready line and log line naming the address stays one line.
fn control_character(text: &str) -> Option<String> {
    let (at, c) = text.char_indices().find(|(_, c)| c.is_ascii_control())?;
    Some(format!(
        "a control character ({}, byte {at})",
        escape_controls(&c.to_string())
    ))
}

fn parse_inet(text: &str) -> Result<Target, String> {
    let (host, port_text) = if let Some(rest) = text.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err("missing ']' after the IPv6 address".into());
        };
        let Some(port) = after.strip_prefix(':') else {
            return Err("missing :PORT after ']' (e.g. [::1]:5000)".into());
        };
        (parse_ipv6(inside)?, port)
    } else {
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(
                "expected HOST:PORT, :PORT, a path containing '/', or @name (e.g. localhost:5000)"
                    .into(),
            );
        };
        if host.contains(':') {
            return Err(format!("IPv6 addresses need brackets: [{host}]:{port}"));
        }
        let host = if host.is_empty() {
            Host::Unspecified
        } else if let Ok(ip) = host.parse::<Ipv4Addr>() {
            Host::Ip(IpAddr::V4(ip), 0)
        } else if looks_like_ipv4(host) {
            return Err(format!("bad IPv4 address {host:?}"));
        } else {
            Host::Name(host.to_string())
        };
        (host, port)
    };
    Ok(Target::Inet {
        host,
        port: parse_port(port_text)?,
    })
}

fn looks_like_ipv4(host: &str) -> bool {
    host.chars().all(|c| c.is_ascii_digit() || c == '.') && host.contains('.')
}

fn parse_ipv6(inside: &str) -> Result<Host, String> {
    let (ip_text, scope) = match inside.split_once('%') {
        Some((ip, scope)) => (ip, Some(scope)),
        None => (inside, None),
    };
    let ip: Ipv6Addr = ip_text
        .parse()
        .map_err(|_| format!("bad IPv6 address {ip_text:?}"))?;
    let scope_id = match scope {
        None => 0,
        Some("") => return Err("empty scope id after '%'".into()),
        Some(s) => match s.parse::<u32>() {
            Ok(n) => n,
            Err(_) => nix::net::if_::if_nametoindex(s)
                .map_err(|_| format!("unknown scope {s:?} (no such network interface)"))?,
        },
    };
    Ok(Host::Ip(IpAddr::V6(ip), scope_id))
}

fn parse_port(text: &str) -> Result<Port, String> {
    if text.is_empty() {
        return Err("missing port after ':'".into());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u32>() {
            Ok(n) if n <= 65_535 => Ok(Port::Number(n as u16)),
            _ => Err(format!("port {text} out of range (0-65535)")),
        };
    }
    if text.starts_with('-') {
        return Err(format!("port {text} out of range (0-65535)"));
    }
    Ok(Port::Service(text.to_string()))
}

/// An IPv6 literal's scope, checked before connecting (SPEC §2: an unknown
/// scope is exit 2): a numeric scope no interface has, or a link-local
/// address with no scope at all, which connect(2) refuses with only "invalid
/// argument". Listening keeps any scope, so that every ready line, whatever
/// the kernel printed, resolves back (tests/suite/properties.rs).
fn check_scope(endpoint: &Endpoint, ip: &IpAddr, scope: u32) -> Result<(), Error> {
    let IpAddr::V6(v6) = ip else { return Ok(()) };
    let link_local = v6.segments()[0] & 0xffc0 == 0xfe80;
    if scope == 0 && link_local {
        return Err(Error::address(
            &endpoint.text,
            format!("a link-local address needs a scope id, the interface to use: [{v6}%eth0]"),
        ));
    }
    let known = nix::net::if_::if_indextoname(scope).is_ok_and(|name| !name.as_bytes().is_empty());
    if scope != 0 && !known {
        return Err(Error::address(
            &endpoint.text,
            format!("unknown scope {scope} (no network interface has that index)"),
        ));
    }
    Ok(())
}

/// Whether the caller listens (`:PORT` means every address) or connects (`:PORT` means localhost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Listen,
    Connect,
}

/// Resolves `endpoint` to the addresses to bind or try, in getaddrinfo's order, without duplicates.
pub fn resolve(
    endpoint: &Endpoint,
    family: FamilyFilter,
    role: Role,
) -> Result<Vec<SocketAddress>, Error> {
    let (host, port) = match &endpoint.target {
        Target::Path(p) => return Ok(vec![SocketAddress::Path(p.clone())]),
        Target::Abstract(n) => return Ok(vec![SocketAddress::Abstract(n.clone())]),
        Target::Inet { host, port } => (host, port),
    };
    let port = lookup_port(endpoint, port)?;
    let filter_ok = |ip: &IpAddr| match family {
        FamilyFilter::Any => true,
        FamilyFilter::V4 => ip.is_ipv4(),
        FamilyFilter::V6 => ip.is_ipv6(),
    };
    let addrs: Vec<SocketAddr> = match host {
        Host::Ip(ip, scope) => {
            if !filter_ok(ip) {
                return Err(Error::address(
                    &endpoint.text,
                    format!(
                        "{} is an {} address but -{} was given",
                        ip,
                        if ip.is_ipv4() { "IPv4" } else { "IPv6" },
                        if ip.is_ipv4() { '6' } else { '4' }
                    ),
                ));
            }
            if role == Role::Connect {
                check_scope(endpoint, ip, *scope)?;
            }
            vec![match ip {
                IpAddr::V4(v4) => SocketAddr::new(IpAddr::V4(*v4), port),
                IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(*v6, port, 0, *scope)),
            }]
        }
        Host::Unspecified if role == Role::Listen => match family {
            FamilyFilter::V4 => vec![SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port)],
            _ => vec![SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port)],
        },
        Host::Unspecified => lookup_host(endpoint, "localhost", port, family)?,
        Host::Name(name) => lookup_host(endpoint, name, port, family)?,
    };
    let mut unique: Vec<SocketAddress> = Vec::new();
    for addr in addrs {
        let target = SocketAddress::Inet(addr);
        if !unique.contains(&target) {
            unique.push(target);
        }
    }
    Ok(unique)
}

fn socktype(kind: Kind) -> i32 {
    kind.socket_type.to_socket2().into()
}

fn lookup_port(endpoint: &Endpoint, port: &Port) -> Result<u16, Error> {
    let name = match port {
        Port::Number(n) => return Ok(*n),
        Port::Service(name) => name,
    };
    let hints = Hints {
        socktype: socktype(endpoint.kind),
        flags: libc::AI_PASSIVE,
        ..Hints::default()
    };
    // The services database names protocols as the inet prefixes do (tcp, udp).
    let proto = Transport::with(endpoint.kind, Family::Inet4).map_or("?", Transport::prefix);
    match sys::getaddrinfo(None, Some(name), hints) {
        Ok(found) if !found.is_empty() => Ok(found[0].addr.port()),
        _ => Err(Error::address(
            &endpoint.text,
            format!(
                "unknown service {name:?} for {proto} (not in the services database, /etc/services)"
            ),
        )),
    }
}

fn lookup_host(
    endpoint: &Endpoint,
    name: &str,
    port: u16,
    family: FamilyFilter,
) -> Result<Vec<SocketAddr>, Error> {
    let hints = Hints {
        family: match family {
            FamilyFilter::Any => libc::AF_UNSPEC,
            FamilyFilter::V4 => libc::AF_INET,
            FamilyFilter::V6 => libc::AF_INET6,
        },
        socktype: socktype(endpoint.kind),
        flags: 0,
    };
    match sys::getaddrinfo(Some(name), None, hints) {
        Ok(found) if !found.is_empty() => Ok(found
            .into_iter()
            .map(|info| {
                let mut addr = info.addr;
                addr.set_port(port);
                addr
            })
            .collect()),
        Ok(_) => Err(Error::address(
            &endpoint.text,
            format!("{name:?} has no address of the requested family"),
        )),
        Err(e) if e.kind == LookupErrorKind::Unavailable => Err(Error::Resolver {
            addr: endpoint.text.clone(),
            message: format!(
                "cannot resolve {name:?}: {} (resolver unavailable)",
                e.message
            ),
        }),
        Err(e) => Err(Error::address(
            &endpoint.text,
            format!("cannot resolve {name:?}: {}", e.message),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_lines_parse_back_for_odd_paths_and_unknown_scopes() {
        let at_path = SocketAddress::Path(PathBuf::from("@x"));
        assert_eq!(display(Kind::STREAM, &at_path), "unix:./@x");
        let unknown_scope: SocketAddr = "[fe80::1%4000000]:7".parse().unwrap();
        assert_eq!(
            display_target(&SocketAddress::Inet(unknown_scope)),
            "[fe80::1%4000000]:7"
        );
    }

    fn ok(text: &str) -> Endpoint {
        parse(text, Kind::STREAM).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(text: &str) -> String {
        match parse(text, Kind::STREAM) {
            Ok(e) => panic!("{text} parsed as {e:?}"),
            Err(e) => {
                assert_eq!(e.exit_code() as u8, 2, "{e}");
                e.to_string()
            }
        }
    }

    fn inet(host: Host, port: u16) -> Target {
        Target::Inet {
            host,
            port: Port::Number(port),
        }
    }

    #[test]
    fn ipv4_literal() {
        let e = ok("127.0.0.1:5000");
        assert_eq!(e.kind, Kind::STREAM);
        assert_eq!(
            e.target,
            inet(Host::Ip("127.0.0.1".parse().unwrap(), 0), 5000)
        );
    }

    #[test]
    fn ipv6_literal_in_brackets() {
        assert_eq!(
            ok("[::1]:7").target,
            inet(Host::Ip("::1".parse().unwrap(), 0), 7)
        );
    }

    #[test]
    fn a_connect_needs_a_known_scope_for_link_local() {
        let resolve_connect = |text: &str| {
            resolve(&ok(text), FamilyFilter::Any, Role::Connect).map_err(|e| e.to_string())
        };
        assert_eq!(
            resolve_connect("[fe80::1]:7").unwrap_err(),
            "invalid address \"[fe80::1]:7\": a link-local address needs a scope id, the interface to use: [fe80::1%eth0]"
        );
        assert_eq!(
            resolve_connect("[fe80::1%4000000]:7").unwrap_err(),
            "invalid address \"[fe80::1%4000000]:7\": unknown scope 4000000 (no network interface has that index)"
        );
        assert!(resolve_connect("[::1]:7").is_ok());
        assert!(resolve_connect("127.0.0.1:7").is_ok());
        // Listening keeps the scope as given: a ready line always resolves back.
        assert!(resolve(&ok("[fe80::1%4000000]:7"), FamilyFilter::Any, Role::Listen).is_ok());
    }

    #[test]
    fn ipv6_numeric_scope() {
        assert_eq!(
            ok("[fe80::1%3]:5000").target,
            inet(Host::Ip("fe80::1".parse().unwrap(), 3), 5000)
        );
    }

    #[test]
    fn ipv6_named_scope_of_loopback() {
        let index = nix::net::if_::if_nametoindex("lo").unwrap();
        assert_eq!(
            ok("[fe80::1%lo]:5000").target,
            inet(Host::Ip("fe80::1".parse().unwrap(), index), 5000)
        );
    }

    #[test]
    fn unknown_scope() {
        assert!(err("[fe80::1%nosuchif0]:5000").contains("unknown scope \"nosuchif0\""));
    }

    #[test]
    fn bad_ipv6_literal() {
        assert!(err("[::zz]:5000").contains("bad IPv6 address \"::zz\""));
        assert!(err("[::1:5000").contains("missing ']'"));
        assert!(err("[::1]5000").contains("missing :PORT"));
    }

    #[test]
    fn ipv6_without_brackets() {
        assert!(err("::1:5000").contains("IPv6 addresses need brackets: [::1]:5000"));
    }

    #[test]
    fn hostname_and_service() {
        assert_eq!(
            ok("localhost:echo").target,
            Target::Inet {
                host: Host::Name("localhost".into()),
                port: Port::Service("echo".into())
            }
        );
    }

    #[test]
    fn port_only() {
        assert_eq!(ok(":5000").target, inet(Host::Unspecified, 5000));
    }

    #[test]
    fn port_range() {
        assert!(err("127.0.0.1:65536").contains("port 65536 out of range (0-65535)"));
        assert!(err("127.0.0.1:99999999999").contains("out of range"));
        assert!(err("127.0.0.1:").contains("missing port"));
        assert_eq!(
            ok("127.0.0.1:65535").target,
            inet(Host::Ip("127.0.0.1".parse().unwrap(), 0), 65535)
        );
    }

    #[test]
    fn bad_ipv4_literal() {
        assert!(err("127.0.0.300:5").contains("bad IPv4 address"));
    }

    #[test]
    fn missing_port() {
        assert!(err("localhost").contains("expected HOST:PORT"));
        assert!(err("").contains("empty address"));
    }

    #[test]
    fn paths() {
        assert_eq!(
            ok("/tmp/echo.sock").target,
            Target::Path("/tmp/echo.sock".into())
        );
        assert_eq!(ok("./@echo").target, Target::Path("./@echo".into()));
        assert_eq!(
            ok("unix:echo.sock").target,
            Target::Path("echo.sock".into())
        );
        let e = parse("unixgram:echo.sock", Kind::STREAM).unwrap();
        assert_eq!(e.kind, Kind::DATAGRAM);
    }

    #[test]
    fn path_length_limit() {
        let longest = format!("/{}", "a".repeat(max_unix_path_len() - 1));
        assert_eq!(ok(&longest).target, Target::Path(longest.clone().into()));
        let too_long = format!("/{}", "a".repeat(max_unix_path_len()));
        let msg = err(&too_long);
        assert!(
            msg.contains(&format!("{} bytes", max_unix_path_len() + 1)),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("at most {}", max_unix_path_len())),
            "{msg}"
        );
    }

    #[test]
    fn control_characters_in_paths_and_abstract_names_are_refused() {
        assert_eq!(
            err("/tmp/a\ntcp:10.9.9.9:7"),
            "invalid address \"/tmp/a\\ntcp:10.9.9.9:7\": a Unix socket path cannot contain a control character (\\n, byte 6)"
        );
        assert!(err("unix:x\x7f").contains("a control character (\\x7f, byte 1)"));
        assert!(err("/tmp/\0x").contains("a control character (\\0, byte 5)"));
        if platform::SUPPORTS_ABSTRACT {
            assert!(err("@a\x1bb").ends_with(
                "an abstract socket name cannot contain a control character (\\x1b, byte 1)"
            ));
        }
        // Not control characters: ordinary and non-ASCII text.
        ok("/tmp/é ü.sock");
    }

    #[test]
    fn names_from_outside_are_shown_escaped() {
        assert_eq!(
            escape_controls("a\nb\rc\td\0e\x1bf\x7fg\u{85}h"),
            "a\\nb\\rc\\td\\0e\\x1bf\\x7fg\u{85}h"
        );
        assert_eq!(
            display_target(&SocketAddress::Abstract(b"x\ny".to_vec())),
            "@x\\ny"
        );
        assert_eq!(
            display_target(&SocketAddress::Path("/tmp/a\nb".into())),
            "/tmp/a\\nb"
        );
    }

    #[test]
    fn abstract_names() {
        if platform::SUPPORTS_ABSTRACT {
            assert_eq!(ok("@echo").target, Target::Abstract(b"echo".to_vec()));
            assert_eq!(ok("unix:@echo").target, Target::Abstract(b"echo".to_vec()));
            let e = ok("unixgram:@echo");
            assert_eq!(
                (e.kind, e.target),
                (Kind::DATAGRAM, Target::Abstract(b"echo".to_vec()))
            );
            assert!(err("@").contains("needs a name"));
        } else {
            assert!(err("@echo").contains("not supported on this platform"));
        }
    }

    #[test]
    fn prefixes() {
        let e = ok("udp:[::1]:7");
        assert_eq!(e.kind, Kind::DATAGRAM);
        assert_eq!(e.target, inet(Host::Ip("::1".parse().unwrap(), 0), 7));
        let e = parse("tcp:127.0.0.1:7", Kind::DATAGRAM).unwrap();
        assert_eq!(e.kind, Kind::STREAM);
        assert!(err("tcp:/tmp/x").contains("not a path"));
        assert!(err("udp:@x").contains("not @name"));
        assert!(err("tcp:").contains("empty address"));
    }

    #[test]
    fn udp_flag_sets_the_default_type() {
        let e = parse("127.0.0.1:7", Kind::DATAGRAM).unwrap();
        assert_eq!(e.kind, Kind::DATAGRAM);
        let e = parse("/tmp/x", Kind::DATAGRAM).unwrap();
        assert_eq!(e.kind, Kind::DATAGRAM);
    }

    #[test]
    fn ready_line_forms() {
        let t = SocketAddress::Inet("127.0.0.1:40123".parse().unwrap());
        assert_eq!(display(Kind::STREAM, &t), "tcp:127.0.0.1:40123");
        let t = SocketAddress::Inet("[::1]:7".parse().unwrap());
        assert_eq!(display(Kind::DATAGRAM, &t), "udp:[::1]:7");
        let t = SocketAddress::Path("/tmp/e.sock".into());
        assert_eq!(display(Kind::STREAM, &t), "unix:/tmp/e.sock");
        let t = SocketAddress::Abstract(b"echo".to_vec());
        assert_eq!(display(Kind::DATAGRAM, &t), "unixgram:@echo");
    }

    #[test]
    fn resolve_literals_and_listen_any() {
        let e = ok("127.0.0.1:5");
        assert_eq!(
            resolve(&e, FamilyFilter::Any, Role::Connect).unwrap(),
            vec![SocketAddress::Inet("127.0.0.1:5".parse().unwrap())]
        );
        assert_eq!(
            resolve(&e, FamilyFilter::V6, Role::Connect)
                .unwrap_err()
                .exit_code() as u8,
            2
        );
        let any = ok(":5");
        assert_eq!(
            resolve(&any, FamilyFilter::Any, Role::Listen).unwrap(),
            vec![SocketAddress::Inet("[::]:5".parse().unwrap())]
        );
        assert_eq!(
            resolve(&any, FamilyFilter::V4, Role::Listen).unwrap(),
            vec![SocketAddress::Inet("0.0.0.0:5".parse().unwrap())]
        );
    }

    #[test]
    fn resolve_service_name_through_the_services_database() {
        let e = ok("127.0.0.1:echo");
        assert_eq!(
            resolve(&e, FamilyFilter::Any, Role::Connect).unwrap(),
            vec![SocketAddress::Inet("127.0.0.1:7".parse().unwrap())]
        );
        let e = ok("127.0.0.1:no-such-service-here");
        let msg = resolve(&e, FamilyFilter::Any, Role::Connect)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("unknown service \"no-such-service-here\""),
            "{msg}"
        );
    }
}
