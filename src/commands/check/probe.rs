//! Why this machine lacks an address family or an address, in the system's
//! own words (SPEC §4 check, issue 3).
//!
//! The answer is the errno of socket(2) or bind(2) — EAFNOSUPPORT: the kernel
//! has no such family; EADDRNOTAVAIL: no interface holds that address — made
//! actionable by what Linux shows under /proc/sys: the `disable_ipv6`
//! sysctls. Elsewhere those files are absent and the errno speaks alone.
//! Nothing here prints.

use std::fs;
use std::io;
use std::net::IpAddr;

use nix::errno::Errno;

use crate::addr::{self, FamilyFilter, Role};
use crate::error::describe;
use crate::transport;
use crate::transport::{Kind, SocketAddress};

use super::table::Verdict;

/// If `err` (from probing `ip`) means this machine lacks `ip`'s family or
/// `ip` itself, the reason; `None` for any other failure (which is a FAIL).
pub fn missing(ip: IpAddr, err: &io::Error) -> Option<String> {
    let errno = err.raw_os_error().map(Errno::from_raw)?;
    let said = describe(err);
    let (family, af) = match ip {
        IpAddr::V4(_) => ("IPv4", "AF_INET"),
        IpAddr::V6(_) => ("IPv6", "AF_INET6"),
    };
    match errno {
        Errno::EAFNOSUPPORT | Errno::EPROTONOSUPPORT => {
            let hint = if ip.is_ipv6() {
                " (booted with ipv6.disable=1, or built without IPv6)"
            } else {
                ""
            };
            Some(format!(
                "{family} is disabled in this kernel: socket({af}) says {said}{hint}"
            ))
        }
        Errno::EADDRNOTAVAIL => {
            let shown = literal(ip);
            let why = match ip {
                IpAddr::V6(_) => ipv6_cause(),
                IpAddr::V4(_) => None,
            };
            Some(
                why.unwrap_or_else(|| {
                    let typical = if ip.is_ipv6() {
                        " (typical of containers)"
                    } else {
                        ""
                    };
                    format!("no {ip} on the loopback interface{typical}")
                }) + &format!(": bind {shown} says {said}"),
            )
        }
        _ => None,
    }
}

/// What Linux says about why ::1 cannot be bound, if it says anything.
fn ipv6_cause() -> Option<String> {
    for scope in ["all", "lo"] {
        let key = format!("net.ipv6.conf.{scope}.disable_ipv6");
        if sysctl(&key).as_deref() == Some("1") {
            let place = match scope {
                "lo" => "on the loopback interface ",
                _ => "",
            };
            return Some(format!(
                "IPv6 is disabled {place}by sysctl {key}=1 (sysctl -w {key}=0 enables it)"
            ));
        }
    }
    None
}

/// Reads a sysctl through /proc/sys (Linux); `None` where there is no such file.
fn sysctl(key: &str) -> Option<String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// An address as the grammar writes it: IPv6 in brackets.
fn literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// The `--require` names a family carries.
fn family_tag(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "ipv4" } else { "ipv6" }
}

/// Checks that `localhost` resolves only to addresses this machine has: a
/// hosts file naming `::1` on a machine without it (containers) makes every
/// client that tries `::1` first fail. Returns the verdict and the extra
/// `--require` names it concerns (the families of missing addresses).
pub fn localhost(family: FamilyFilter) -> (Verdict, Vec<&'static str>) {
    let endpoint = match addr::parse("localhost:0", Kind::DATAGRAM) {
        Ok(e) => e,
        Err(e) => return (Verdict::fail(e.to_string()), Vec::new()),
    };
    let targets = match addr::resolve(&endpoint, family, Role::Connect) {
        Ok(t) => t,
        Err(e) => {
            let reason = e.reason();
            let text = match family {
                FamilyFilter::Any => format!("localhost does not resolve: {reason}"),
                FamilyFilter::V4 => format!("localhost has no IPv4 address (-4): {reason}"),
                FamilyFilter::V6 => format!("localhost has no IPv6 address (-6): {reason}"),
            };
            return (Verdict::skip(text), Vec::new());
        }
    };
    let ips: Vec<IpAddr> = targets
        .iter()
        .filter_map(|t| match t {
            SocketAddress::Inet(a) => Some(a.ip()),
            _ => None,
        })
        .collect();
    let mut absent: Vec<(IpAddr, String)> = Vec::new();
    for (target, ip) in targets.iter().zip(&ips) {
        if let Err(e) = transport::probe_bind(Kind::DATAGRAM, target) {
            let why = missing(*ip, &e).unwrap_or_else(|| describe(&e));
            absent.push((*ip, why));
        }
    }
    let all = join(ips.iter().map(|ip| ip.to_string()));
    if absent.is_empty() {
        return (
            Verdict::pass(format!(
                "resolves to {all}; this machine has {}",
                if ips.len() == 1 { "it" } else { "them all" }
            )),
            Vec::new(),
        );
    }
    let mut tags: Vec<&'static str> = absent.iter().map(|(ip, _)| family_tag(*ip)).collect();
    tags.dedup();
    let gone = join(absent.iter().map(|(ip, _)| ip.to_string()));
    let (_, first_why) = &absent[0];
    (
        Verdict::skip(format!(
            "resolves to {all}, but this machine has no {gone}: {first_why}; \
             clients that try {gone} fail (remove it from the hosts file, /etc/hosts, \
             or give the machine that address)"
        )),
        tags,
    )
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn no_family_in_the_kernel() {
        let why = missing("::1".parse().unwrap(), &os(Errno::EAFNOSUPPORT as i32)).unwrap();
        assert!(
            why.starts_with("IPv6 is disabled in this kernel: socket(AF_INET6) says"),
            "{why}"
        );
        let why = missing(
            "127.0.0.1".parse().unwrap(),
            &os(Errno::EAFNOSUPPORT as i32),
        )
        .unwrap();
        assert!(why.starts_with("IPv4 is disabled in this kernel"), "{why}");
    }

    #[test]
    fn no_address_names_the_address_and_the_errno() {
        let why = missing(
            "127.0.0.1".parse().unwrap(),
            &os(Errno::EADDRNOTAVAIL as i32),
        )
        .unwrap();
        assert_eq!(
            why,
            "no 127.0.0.1 on the loopback interface: bind 127.0.0.1 says cannot assign requested address"
        );
        let why = missing("::1".parse().unwrap(), &os(Errno::EADDRNOTAVAIL as i32)).unwrap();
        assert!(
            why.ends_with(": bind [::1] says cannot assign requested address"),
            "{why}"
        );
        assert!(why.contains("IPv6") || why.contains("::1"), "{why}");
    }

    #[test]
    fn other_errors_are_not_a_missing_family() {
        assert_eq!(
            missing("::1".parse().unwrap(), &os(Errno::EADDRINUSE as i32)),
            None
        );
        assert_eq!(
            missing("::1".parse().unwrap(), &io::Error::other("x")),
            None
        );
    }

    #[test]
    fn localhost_resolves_to_loopback_here() {
        let (verdict, _) = localhost(FamilyFilter::V4);
        // Every machine that runs these tests maps localhost to 127.0.0.1.
        assert!(verdict.reason.contains("127.0.0.1"), "{verdict:?}");
    }
}
