//! The only unsafe code: libc calls that std, socket2 and nix do not wrap.
//!
//! Today that is getaddrinfo(3), which every name lookup in echokit goes
//! through (address grammar, service names, `resolve`), so all of them see the
//! same answers the system resolver gives any other program; taking
//! ownership of file descriptors inherited through socket activation (and of
//! the one that sizes the descriptor table); datagrams with their whole
//! addresses and the local address each came to (`datagram.rs`:
//! recvmsg/sendmsg with IP_PKTINFO/IPV6_PKTINFO, recvmmsg/sendmmsg on Linux);
//! and a listener's epoll registration with EPOLLEXCLUSIVE, which mio does
//! not offer.
#![allow(unsafe_code)]

pub mod datagram;

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

use std::ffi::{CStr, CString};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

/// One getaddrinfo result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    /// `AF_INET` or `AF_INET6`.
    pub family: i32,
    /// `SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_RAW`…
    pub socktype: i32,
    /// `IPPROTO_TCP`, `IPPROTO_UDP`…
    pub protocol: i32,
    /// The canonical name, when asked for with `AI_CANONNAME` (first result only).
    pub canonname: Option<String>,
    /// The socket address, with flow info and scope id for IPv6.
    pub addr: SocketAddr,
}

/// What to ask getaddrinfo for.
#[derive(Debug, Clone, Copy)]
pub struct Hints {
    /// `AF_UNSPEC`, `AF_INET` or `AF_INET6`.
    pub family: i32,
    /// 0 for any, or `SOCK_STREAM` / `SOCK_DGRAM`.
    pub socktype: i32,
    /// `AI_*` flags.
    pub flags: i32,
}

impl Default for Hints {
    fn default() -> Self {
        Hints {
            family: libc::AF_UNSPEC,
            socktype: 0,
            flags: 0,
        }
    }
}

/// How a lookup failed, sorted the way SPEC §5 needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupErrorKind {
    /// The name or service does not exist (exit 2).
    NotFound,
    /// The resolver could not be asked or did not answer (exit 3).
    Unavailable,
}

/// A failed getaddrinfo call: its kind and gai_strerror's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupError {
    pub kind: LookupErrorKind,
    pub message: String,
}

/// Calls getaddrinfo(3) and returns its results in the order it gave them.
pub fn getaddrinfo(
    host: Option<&str>,
    service: Option<&str>,
    hints: Hints,
) -> Result<Vec<AddrInfo>, LookupError> {
    let nul = |what: &str| LookupError {
        kind: LookupErrorKind::NotFound,
        message: format!("{what} contains a NUL byte"),
    };
    let host = host
        .map(CString::new)
        .transpose()
        .map_err(|_| nul("name"))?;
    let service = service
        .map(CString::new)
        .transpose()
        .map_err(|_| nul("service"))?;

    // SAFETY: an all-zero addrinfo is the documented way to start hints
    // (pointers null, lengths zero); we then set the four fields we use.
    let mut raw_hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    raw_hints.ai_family = hints.family;
    raw_hints.ai_socktype = hints.socktype;
    raw_hints.ai_flags = hints.flags;

    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: host and service are NUL-terminated CStrings or null, hints is a
    // valid addrinfo, and `list` receives a list we free below with freeaddrinfo.
    let rc = unsafe {
        libc::getaddrinfo(
            host.as_ref().map_or(std::ptr::null(), |h| h.as_ptr()),
            service.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            &raw_hints,
            &mut list,
        )
    };
    if rc != 0 {
        return Err(lookup_error(rc));
    }

    let mut results = Vec::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getaddrinfo returned, not yet freed.
        let node = unsafe { &*cursor };
        if let Some(addr) = socket_addr(node) {
            let canonname = if node.ai_canonname.is_null() {
                None
            } else {
                // SAFETY: ai_canonname, when set, is a NUL-terminated string owned by the list.
                Some(
                    unsafe { CStr::from_ptr(node.ai_canonname) }
                        .to_string_lossy()
                        .into_owned(),
                )
            };
            results.push(AddrInfo {
                family: node.ai_family,
                socktype: node.ai_socktype,
                protocol: node.ai_protocol,
                canonname,
                addr,
            });
        }
        cursor = node.ai_next;
    }
    // SAFETY: `list` came from a successful getaddrinfo and is freed exactly once.
    unsafe { libc::freeaddrinfo(list) };
    Ok(results)
}

fn socket_addr(node: &libc::addrinfo) -> Option<SocketAddr> {
    if node.ai_addr.is_null() {
        return None;
    }
    match node.ai_family {
        libc::AF_INET if node.ai_addrlen as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: family AF_INET and a length of at least sockaddr_in mean
            // ai_addr points at a sockaddr_in; read_unaligned copes with any alignment.
            let sin = unsafe { std::ptr::read_unaligned(node.ai_addr as *const libc::sockaddr_in) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if node.ai_addrlen as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for AF_INET6 and sockaddr_in6.
            let sin6 =
                unsafe { std::ptr::read_unaligned(node.ai_addr as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn lookup_error(rc: i32) -> LookupError {
    // SAFETY: gai_strerror returns a pointer to a static NUL-terminated string.
    let text = unsafe { CStr::from_ptr(libc::gai_strerror(rc)) }
        .to_string_lossy()
        .into_owned();
    let mut message = text.clone();
    if let Some(first) = text.get(..1) {
        message = first.to_lowercase() + &text[1..];
    }
    let kind = match rc {
        libc::EAI_AGAIN | libc::EAI_FAIL | libc::EAI_MEMORY | libc::EAI_SYSTEM => {
            LookupErrorKind::Unavailable
        }
        _ => LookupErrorKind::NotFound,
    };
    LookupError { kind, message }
}

/// Takes ownership of file descriptor `fd`, inherited from the process that
/// started us (systemd socket activation: fds 3, 4, … per sd_listen_fds(3)).
/// Returns `None` when `fd` is not open. Marks it close-on-exec.
pub fn take_inherited_fd(fd: RawFd) -> Option<OwnedFd> {
    if fd < 0 {
        return None;
    }
    // SAFETY: the borrow lives only for this fcntl(F_GETFD) call, which merely
    // asks whether `fd` is open; an fd that is not open gives EBADF.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    nix::fcntl::fcntl(borrowed, nix::fcntl::FcntlArg::F_GETFD).ok()?;
    let _ = nix::fcntl::fcntl(
        borrowed,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    // SAFETY: `fd` is open (checked above) and was handed to this process by
    // its parent under the socket-activation protocol, so nothing else in the
    // process owns it; the caller calls this once per fd.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Grows this process's descriptor table to hold `count` descriptors: a
/// duplicate of /dev/null at descriptor `count - 1` (F_DUPFD_CLOEXEC takes
/// the lowest free one from there), closed at once. The table keeps its size.
pub fn reserve_descriptors(count: i32) -> std::io::Result<()> {
    use nix::fcntl::{FcntlArg, fcntl};
    if count < 2 {
        return Ok(());
    }
    let null = std::fs::File::open("/dev/null")?;
    let high = fcntl(&null, FcntlArg::F_DUPFD_CLOEXEC(count - 1))?;
    // SAFETY: `high` was just returned by fcntl(2) as a new descriptor that
    // nothing else in this process knows; owning it here closes it once.
    drop(unsafe { OwnedFd::from_raw_fd(high) });
    Ok(())
}

/// Adds listening socket `fd` to epoll instance `epfd` (a `mio::Poll`'s)
/// with EPOLLEXCLUSIVE, edge-triggered, under `token` as mio encodes it
/// (the event's u64): when several workers' loops wait on one shared
/// listener, a new connection wakes one of them rather than all (mio has no
/// such flag). The descriptors are borrowed for the call only.
#[cfg(target_os = "linux")]
pub fn epoll_add_exclusive(epfd: RawFd, fd: RawFd, token: u64) -> std::io::Result<()> {
    let mut event = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLET | libc::EPOLLEXCLUSIVE) as u32,
        u64: token,
    };
    // SAFETY: both descriptors are open for the duration of the call (the
    // caller owns the poll and the socket), and `event` is a valid, live
    // epoll_event the kernel only reads.
    let rc = unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut event) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_host_and_port_need_no_resolver() {
        let hints = Hints {
            socktype: libc::SOCK_STREAM,
            flags: libc::AI_NUMERICHOST | libc::AI_NUMERICSERV,
            ..Hints::default()
        };
        let found = getaddrinfo(Some("::1"), Some("7"), hints).unwrap();
        assert_eq!(found[0].addr, "[::1]:7".parse().unwrap());
        assert_eq!(found[0].family, libc::AF_INET6);
        assert_eq!(found[0].protocol, libc::IPPROTO_TCP);
    }

    #[test]
    fn a_bad_literal_is_not_found() {
        let hints = Hints {
            flags: libc::AI_NUMERICHOST,
            ..Hints::default()
        };
        let err = getaddrinfo(Some("1.2.3.4.5"), None, hints).unwrap_err();
        assert_eq!(err.kind, LookupErrorKind::NotFound);
    }
}
