//! `echokit resolve HOST [SERVICE]`: what getaddrinfo(3) answers, one row per
//! result, in the order it gave them (SPEC §4 resolve).
//!
//! That order is the order a client tries the addresses in (RFC 6724 sorting
//! happens inside getaddrinfo), so the rows are never filtered, merged or
//! reordered here: `-4`/`-6`/`-u`/`--tcp` become hints, exactly as a client
//! would pass them. A second lookup with AI_ADDRCONFIG only feeds a note on
//! stderr; it never changes the rows. The lookups go through [`sys`], the
//! printing through [`Output`].

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::addr;
use crate::cli::ResolveArgs;
use crate::error::{Error, ExitCode};
use crate::output::{Human, Output, Report, Table};
use crate::sys::{self, AddrInfo, Hints, LookupError, LookupErrorKind};
use crate::transport::SocketAddress;

/// The column headings of the table, in order.
const HEADER: [&str; 5] = ["FAMILY", "TYPE", "PROTOCOL", "CANONNAME", "ADDRESS"];

/// Runs `echokit resolve`.
pub fn run(args: ResolveArgs) -> Result<ExitCode, Error> {
    let out = Output::new(args.output);
    let service = args.service.as_deref();
    if let Some(service) = service {
        check_numeric_service(service)?;
    }
    let hints = hints(&args);
    out.verbose(1, &format!("asking {}", describe_call(&args, hints)));
    let found = sys::getaddrinfo(Some(&args.host), service, hints)
        .map_err(|e| lookup_failure(&args, hints, e))?;
    if found.is_empty() {
        // getaddrinfo answered, but with no IPv4/IPv6 socket address we can show.
        return Err(Error::Usage(format!(
            "cannot resolve {:?}: no IPv4 or IPv6 address",
            args.host
        )));
    }
    let plural = if found.len() == 1 { "" } else { "s" };
    out.verbose(1, &format!("{} result{plural}", found.len()));

    let rows: Vec<Row> = found.iter().map(Row::from).collect();
    let table = layout(&rows);
    if out.human() {
        out.line(&table.header());
    }
    for row in &rows {
        out.report(&RowReport { table: &table, row });
    }

    // A second lookup, only to tell whether a client that passes
    // AI_ADDRCONFIG (as many do by default) would lose a family here.
    let with_addrconfig = Hints {
        flags: hints.flags | libc::AI_ADDRCONFIG,
        ..hints
    };
    let kept = match sys::getaddrinfo(Some(&args.host), service, with_addrconfig) {
        Ok(kept) => Some(kept),
        // Every family dropped: getaddrinfo then reports "not found".
        Err(e) if e.kind == LookupErrorKind::NotFound => Some(Vec::new()),
        // The resolver failed the second time: we cannot tell, so say nothing.
        Err(_) => None,
    };
    if let Some(kept) = kept {
        for family in dropped_families(&found, &kept) {
            out.note(&addrconfig_note(family));
        }
    }
    Ok(ExitCode::Success)
}

/// The getaddrinfo hints the flags ask for. No AI_ADDRCONFIG: we show every
/// answer, and say separately what that flag would drop.
fn hints(args: &ResolveArgs) -> Hints {
    Hints {
        family: if args.ipv4 {
            libc::AF_INET
        } else if args.ipv6 {
            libc::AF_INET6
        } else {
            libc::AF_UNSPEC
        },
        socktype: if args.udp {
            libc::SOCK_DGRAM
        } else if args.tcp {
            libc::SOCK_STREAM
        } else {
            0
        },
        flags: if args.canonname {
            libc::AI_CANONNAME
        } else {
            0
        },
    }
}

/// Refuses a numeric port above 65535 up front: glibc would silently take
/// it modulo 65536 (99999 becomes 34463), which is never what was meant.
fn check_numeric_service(service: &str) -> Result<(), Error> {
    if !service.is_empty() && service.bytes().all(|b| b.is_ascii_digit()) {
        match service.parse::<u32>() {
            Ok(port) if port <= 65_535 => {}
            _ => {
                return Err(Error::Usage(format!(
                    "port {service} out of range (0-65535)"
                )));
            }
        }
    }
    Ok(())
}

/// The call as a learner would write it, for `-v`.
fn describe_call(args: &ResolveArgs, hints: Hints) -> String {
    let quoted = |s: Option<&str>| s.map_or("NULL".to_string(), |s| format!("{s:?}"));
    let socktype = match hints.socktype {
        0 => "0".to_string(),
        t => socktype_name(t),
    };
    let flags = if hints.flags & libc::AI_CANONNAME != 0 {
        "AI_CANONNAME"
    } else {
        "0"
    };
    format!(
        "getaddrinfo({}, {}, {{ai_family={}, ai_socktype={socktype}, ai_flags={flags}}})",
        quoted(Some(&args.host)),
        quoted(args.service.as_deref()),
        family_name(hints.family),
    )
}

/// Turns a failed lookup into one line that names the part at fault.
///
/// getaddrinfo's error codes do not say whether the host or the service was
/// unknown (EAI_NONAME covers both), so on "not found" we ask again for the
/// service alone, and, when `-4`/`-6` was given, for the host in any family.
fn lookup_failure(args: &ResolveArgs, hints: Hints, err: LookupError) -> Error {
    if err.kind == LookupErrorKind::Unavailable {
        // SPEC §5: an unavailable resolver is a connection failure (exit 3).
        return Error::Resolver {
            addr: format!("the resolver for {:?}", args.host),
            message: err.message,
        };
    }
    if let Some(service) = args.service.as_deref() {
        let service_only = Hints {
            flags: libc::AI_PASSIVE,
            ..hints
        };
        if let Err(service_err) = sys::getaddrinfo(None, Some(service), service_only) {
            let any_type = Hints {
                socktype: 0,
                ..service_only
            };
            let why =
                if hints.socktype != 0 && sys::getaddrinfo(None, Some(service), any_type).is_ok() {
                    format!(
                        "not defined for {} in the services database",
                        if hints.socktype == libc::SOCK_DGRAM {
                            "udp"
                        } else {
                            "tcp"
                        }
                    )
                } else {
                    "not in the services database".to_string()
                };
            return Error::Usage(format!(
                "cannot resolve service {service:?}: {} ({why})",
                service_err.message
            ));
        }
    }
    let mut line = format!("cannot resolve {:?}: {}", args.host, err.message);
    if hints.family != libc::AF_UNSPEC {
        let any_family = Hints {
            family: libc::AF_UNSPEC,
            ..hints
        };
        if sys::getaddrinfo(Some(&args.host), args.service.as_deref(), any_family).is_ok() {
            let (has, flag) = if hints.family == libc::AF_INET {
                ("IPv4", "-4")
            } else {
                ("IPv6", "-6")
            };
            line.push_str(&format!(" (it has no {has} address; try without {flag})"));
        }
    }
    Error::Usage(line)
}

/// The families present in `all` but missing from `kept`, in first-seen order.
fn dropped_families(all: &[AddrInfo], kept: &[AddrInfo]) -> Vec<i32> {
    let mut dropped = Vec::new();
    for info in all {
        let family = info.family;
        if !dropped.contains(&family) && !kept.iter().any(|k| k.family == family) {
            dropped.push(family);
        }
    }
    dropped
}

/// The note for a family AI_ADDRCONFIG drops. glibc's rule (and RFC 3493's
/// intent): a family counts only when a non-loopback address of it is configured.
fn addrconfig_note(family: i32) -> String {
    let version = match family {
        libc::AF_INET => "IPv4",
        libc::AF_INET6 => "IPv6",
        _ => "such",
    };
    format!(
        "note: AI_ADDRCONFIG would drop {} here: no non-loopback {version} address is configured",
        family_name(family)
    )
}

/// One result, with every field already named.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    family: String,
    socktype: String,
    protocol: String,
    canonname: Option<String>,
    addr: SocketAddr,
}

impl From<&AddrInfo> for Row {
    fn from(info: &AddrInfo) -> Row {
        Row {
            family: family_name(info.family),
            socktype: socktype_name(info.socktype),
            protocol: protocol_name(info.protocol),
            canonname: info.canonname.clone(),
            addr: info.addr,
        }
    }
}

impl Row {
    /// The ADDRESS column: the grammar's form (`127.0.0.1:80`, `[fe80::1%eth0]:80`),
    /// plus flow info and the numeric scope id for IPv6.
    fn address(&self) -> String {
        let text = addr::display_target(&SocketAddress::Inet(self.addr));
        match self.addr {
            SocketAddr::V4(_) => text,
            SocketAddr::V6(a) => format!("{text} flowinfo={} scope={}", a.flowinfo(), a.scope_id()),
        }
    }

    fn cells(&self) -> [String; 5] {
        [
            self.family.clone(),
            self.socktype.clone(),
            self.protocol.clone(),
            self.canonname.clone().unwrap_or_else(|| "-".to_string()),
            self.address(),
        ]
    }

    /// The `--json` object; flowinfo and scope_id are null for IPv4.
    fn to_json(&self) -> Value {
        let (flowinfo, scope_id) = match self.addr {
            SocketAddr::V4(_) => (Value::Null, Value::Null),
            SocketAddr::V6(a) => (json!(a.flowinfo()), json!(a.scope_id())),
        };
        json!({
            "family": self.family,
            "type": self.socktype,
            "protocol": self.protocol,
            "canonname": self.canonname,
            "address": self.addr.ip().to_string(),
            "port": self.addr.port(),
            "flowinfo": flowinfo,
            "scope_id": scope_id,
        })
    }
}

/// The table, fitted to every row.
fn layout(rows: &[Row]) -> Table {
    let mut table = Table::new(&HEADER);
    for row in rows {
        table.fit(&row.cells());
    }
    table
}

/// One result, as its table line or its `--json` object.
struct RowReport<'a> {
    table: &'a Table,
    row: &'a Row,
}

impl Report for RowReport<'_> {
    fn human(&self) -> Human {
        Human::Stdout(self.table.line(&self.row.cells()))
    }

    fn json(&self) -> Option<Value> {
        Some(self.row.to_json())
    }
}

/// `AF_INET`, `AF_INET6`…, or the number for a family we have no name for.
fn family_name(family: i32) -> String {
    match family {
        libc::AF_UNSPEC => "AF_UNSPEC".into(),
        libc::AF_INET => "AF_INET".into(),
        libc::AF_INET6 => "AF_INET6".into(),
        libc::AF_UNIX => "AF_UNIX".into(),
        other => other.to_string(),
    }
}

/// `SOCK_STREAM`, `SOCK_DGRAM`…, or the number.
fn socktype_name(socktype: i32) -> String {
    match socktype {
        libc::SOCK_STREAM => "SOCK_STREAM".into(),
        libc::SOCK_DGRAM => "SOCK_DGRAM".into(),
        libc::SOCK_RAW => "SOCK_RAW".into(),
        libc::SOCK_SEQPACKET => "SOCK_SEQPACKET".into(),
        other => other.to_string(),
    }
}

/// `IPPROTO_TCP`, `IPPROTO_UDP`…, or the number. 0 is `IPPROTO_IP`, "the
/// default protocol for this socket type", which glibc gives SOCK_RAW rows.
fn protocol_name(protocol: i32) -> String {
    match protocol {
        libc::IPPROTO_IP => "IPPROTO_IP".into(),
        libc::IPPROTO_TCP => "IPPROTO_TCP".into(),
        libc::IPPROTO_UDP => "IPPROTO_UDP".into(),
        libc::IPPROTO_ICMP => "IPPROTO_ICMP".into(),
        libc::IPPROTO_ICMPV6 => "IPPROTO_ICMPV6".into(),
        libc::IPPROTO_IPV6 => "IPPROTO_IPV6".into(),
        libc::IPPROTO_RAW => "IPPROTO_RAW".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(family: i32, addr: &str) -> AddrInfo {
        AddrInfo {
            family,
            socktype: libc::SOCK_STREAM,
            protocol: libc::IPPROTO_TCP,
            canonname: None,
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn constants_have_their_c_names_and_unknown_ones_their_number() {
        assert_eq!(family_name(libc::AF_INET6), "AF_INET6");
        assert_eq!(socktype_name(libc::SOCK_RAW), "SOCK_RAW");
        assert_eq!(protocol_name(0), "IPPROTO_IP");
        assert_eq!(protocol_name(libc::IPPROTO_UDP), "IPPROTO_UDP");
        assert_eq!(protocol_name(4242), "4242");
        assert_eq!(family_name(-1), "-1");
    }

    #[test]
    fn ipv6_address_shows_flowinfo_and_scope() {
        let row = Row::from(&info(libc::AF_INET6, "[::1]:7"));
        assert_eq!(row.address(), "[::1]:7 flowinfo=0 scope=0");
        let mut v6 = info(libc::AF_INET6, "[fe80::1]:80");
        if let SocketAddr::V6(a) = &mut v6.addr {
            a.set_flowinfo(5);
            a.set_scope_id(1);
        }
        // Index 1 is loopback on Linux; its name may differ elsewhere.
        assert!(
            Row::from(&v6)
                .address()
                .ends_with("]:80 flowinfo=5 scope=1")
        );
        assert_eq!(
            Row::from(&info(libc::AF_INET, "127.0.0.1:80")).address(),
            "127.0.0.1:80"
        );
    }

    #[test]
    fn table_columns_line_up_without_trailing_spaces() {
        let rows = [
            Row::from(&info(libc::AF_INET6, "[::1]:80")),
            Row::from(&info(libc::AF_INET, "127.0.0.1:80")),
        ];
        let table = layout(&rows);
        let mut lines = vec![table.header()];
        lines.extend(rows.iter().map(|r| table.line(&r.cells())));
        assert_eq!(
            lines,
            [
                "FAMILY    TYPE         PROTOCOL     CANONNAME  ADDRESS",
                "AF_INET6  SOCK_STREAM  IPPROTO_TCP  -          [::1]:80 flowinfo=0 scope=0",
                "AF_INET   SOCK_STREAM  IPPROTO_TCP  -          127.0.0.1:80",
            ]
        );
    }

    #[test]
    fn json_has_null_flowinfo_for_ipv4() {
        let row = Row::from(&info(libc::AF_INET, "127.0.0.1:80"));
        assert_eq!(
            row.to_json(),
            json!({"family": "AF_INET", "type": "SOCK_STREAM", "protocol": "IPPROTO_TCP",
                   "canonname": null, "address": "127.0.0.1", "port": 80,
                   "flowinfo": null, "scope_id": null})
        );
    }

    #[test]
    fn addrconfig_drops_are_found_per_family() {
        let all = [
            info(libc::AF_INET6, "[::1]:80"),
            info(libc::AF_INET, "127.0.0.1:80"),
            info(libc::AF_INET6, "[::1]:81"),
        ];
        assert_eq!(dropped_families(&all, &all), Vec::<i32>::new());
        assert_eq!(dropped_families(&all, &all[1..2]), vec![libc::AF_INET6]);
        assert_eq!(
            dropped_families(&all, &[]),
            vec![libc::AF_INET6, libc::AF_INET]
        );
        assert_eq!(
            addrconfig_note(libc::AF_INET6),
            "note: AI_ADDRCONFIG would drop AF_INET6 here: no non-loopback IPv6 address is configured"
        );
    }

    #[test]
    fn numeric_ports_above_65535_are_refused() {
        assert!(check_numeric_service("65535").is_ok());
        assert!(check_numeric_service("http").is_ok());
        let err = check_numeric_service("99999").unwrap_err();
        assert_eq!(err.to_string(), "port 99999 out of range (0-65535)");
        assert_eq!(err.exit_code() as u8, 2);
    }
}
