//! Datagrams with their whole addresses: recvmsg(2)/sendmsg(2) and, on Linux,
//! recvmmsg(2)/sendmmsg(2), with the sender's address kept at the exact
//! length the kernel gave and the local address each datagram was sent to
//! (IP_PKTINFO, IPV6_PKTINFO) carried back on its echo (SPEC §3).
//!
//! Why our own headers and not nix's `MultiHeaders`: `msg_namelen` is an
//! in-out field of recvmsg(2). A header reused without setting it back to
//! the size of its buffer keeps the length of the last address it saw, so a
//! longer Unix name is cut (its echo goes to another socket) and a shorter
//! one is padded. Here every call sets every length afresh.
//!
//! What this file must not do: decide what to echo. It moves bytes and
//! addresses; `engine::dgram` decides.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use socket2::{SockAddr, SockAddrStorage};

/// Where a datagram arrived: the local address it was sent to, as the
/// kernel reports it, so the echo can leave from that same address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// IP_PKTINFO on an AF_INET socket: the local address (`ipi_spec_dst`).
    V4(Ipv4Addr),
    /// IPV6_PKTINFO on an AF_INET6 socket (an IPv4 datagram on a dual-stack
    /// socket arrives as `::ffff:a.b.c.d`), with the interface it came in on.
    V6(Ipv6Addr, u32),
}

impl Arrival {
    /// The local address the datagram was sent to.
    pub fn ip(&self) -> IpAddr {
        match *self {
            Arrival::V4(ip) => IpAddr::V4(ip),
            Arrival::V6(ip, _) => match ip.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(ip),
            },
        }
    }
}

/// One datagram received.
#[derive(Debug)]
pub struct Datagram {
    /// Bytes in the buffer (at most its size).
    pub len: usize,
    /// MSG_TRUNC: the datagram was larger than the buffer.
    pub truncated: bool,
    /// The sender's address exactly as the kernel gave it (an unbound Unix
    /// sender's is the unnamed address); `None` only where no address can be.
    pub from: Option<SockAddr>,
    /// The local address it was sent to, where the socket reports it.
    pub to: Option<Arrival>,
}

/// Room for one control message holding an `in6_pktinfo` (the larger of
/// the two), aligned as `cmsghdr` must be.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct ControlBuf([u8; 64]);

const NAME_SIZE: libc::socklen_t = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;

/// Asks the kernel to report, with each datagram, the local address it was
/// sent to (IP_PKTINFO for AF_INET, IPV6_RECVPKTINFO for AF_INET6, which
/// covers IPv4 on a dual-stack socket too). Other families: nothing to do.
pub fn report_arrival(fd: BorrowedFd<'_>, family: i32) -> io::Result<()> {
    let (level, name) = match family {
        libc::AF_INET => match ipv4_pktinfo_option() {
            Some(name) => (libc::IPPROTO_IP, name),
            None => return Ok(()),
        },
        libc::AF_INET6 => (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
        _ => return Ok(()),
    };
    let on: libc::c_int = 1;
    // SAFETY: `fd` is open for the call; `on` is a live c_int whose size we pass.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// IP_PKTINFO where the system has it (Linux, Android, macOS); elsewhere an
/// IPv4 echo leaves from the address the kernel picks.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn ipv4_pktinfo_option() -> Option<libc::c_int> {
    Some(libc::IP_PKTINFO)
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn ipv4_pktinfo_option() -> Option<libc::c_int> {
    None
}

/// Sets up `header` to receive into `iov`, `name` and `control`, every
/// length at the full size of its buffer.
fn prepare_receive(
    header: &mut libc::msghdr,
    iov: &mut libc::iovec,
    name: &mut SockAddrStorage,
    control: &mut ControlBuf,
) {
    header.msg_name = (name as *mut SockAddrStorage).cast();
    header.msg_namelen = NAME_SIZE;
    header.msg_iov = iov;
    header.msg_iovlen = 1;
    header.msg_control = control.0.as_mut_ptr().cast();
    header.msg_controllen = std::mem::size_of::<ControlBuf>() as _;
    header.msg_flags = 0;
}

/// What `header` (filled by the kernel) says of the datagram it received.
fn received(header: &libc::msghdr, len: usize, name: &SockAddrStorage) -> Datagram {
    let namelen = header.msg_namelen.min(NAME_SIZE);
    // An AF_UNIX sender that is not bound comes with no address (length 0,
    // or just the family): kept as the unnamed Unix address it is, which
    // nobody can answer.
    let header_only = std::mem::offset_of!(libc::sockaddr_un, sun_path) as libc::socklen_t;
    let from = if namelen > header_only {
        // SAFETY: the kernel initialised the first `namelen` bytes of `name`
        // (the rest is zero from before the call); a bitwise copy of plain
        // data with that length is a valid SockAddr.
        unsafe { SockAddr::new(std::ptr::read(name), namelen) }
    } else {
        let mut unnamed = SockAddrStorage::zeroed();
        // SAFETY: a sockaddr_un view of zeroed storage large enough for it;
        // setting its family and a length of just the family is the unnamed
        // address, as getsockname(2) gives for an unbound socket.
        unsafe {
            (*(&mut unnamed as *mut SockAddrStorage).cast::<libc::sockaddr_un>()).sun_family =
                libc::AF_UNIX as libc::sa_family_t;
            SockAddr::new(unnamed, header_only)
        }
    };
    let from = Some(from);
    Datagram {
        len,
        truncated: header.msg_flags & libc::MSG_TRUNC != 0,
        from,
        to: arrival(header),
    }
}

/// The IP_PKTINFO or IPV6_PKTINFO control message of `header`, if any.
fn arrival(header: &libc::msghdr) -> Option<Arrival> {
    if header.msg_controllen == 0 {
        return None;
    }
    // SAFETY: `header` was filled by the kernel with msg_control pointing at
    // a live ControlBuf and msg_controllen at most its size; the CMSG macros
    // walk only within that length. Each payload is read unaligned, as the
    // type the (level, type) pair names.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(header);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::IPPROTO_IPV6 && c.cmsg_type == libc::IPV6_PKTINFO {
                let info: libc::in6_pktinfo =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                return Some(Arrival::V6(
                    Ipv6Addr::from(info.ipi6_addr.s6_addr),
                    info.ipi6_ifindex as u32,
                ));
            }
            if let Some(found) = ipv4_arrival(c, libc::CMSG_DATA(cmsg)) {
                return Some(found);
            }
            cmsg = libc::CMSG_NXTHDR(header, cmsg);
        }
    }
    None
}

/// IP_PKTINFO's `ipi_spec_dst`: the local address the datagram came to (for
/// a broadcast, the address of the interface, which is where an answer
/// should come from).
///
/// # Safety
/// `data` points at the payload of `cmsg`, inside a buffer the kernel filled.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
unsafe fn ipv4_arrival(cmsg: &libc::cmsghdr, data: *const u8) -> Option<Arrival> {
    if cmsg.cmsg_level != libc::IPPROTO_IP || cmsg.cmsg_type != libc::IP_PKTINFO {
        return None;
    }
    // SAFETY: the caller's promise, and the (level, type) pair says the payload is an in_pktinfo.
    let info: libc::in_pktinfo = unsafe { std::ptr::read_unaligned(data.cast()) };
    Some(Arrival::V4(Ipv4Addr::from(u32::from_be(
        info.ipi_spec_dst.s_addr,
    ))))
}

/// # Safety
/// Nothing to uphold: this system reports no IPv4 arrival address.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
unsafe fn ipv4_arrival(_cmsg: &libc::cmsghdr, _data: *const u8) -> Option<Arrival> {
    None
}

/// Sets up `header` to send `payload` to `to`, from `from` when given:
/// the control message that names the source goes into `control`.
fn prepare_send(
    header: &mut libc::msghdr,
    iov: &mut libc::iovec,
    payload: &[u8],
    to: &SockAddr,
    from: Option<&Arrival>,
    control: &mut ControlBuf,
) {
    *iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    header.msg_name = to.as_ptr() as *mut libc::c_void;
    header.msg_namelen = to.len();
    header.msg_iov = iov;
    header.msg_iovlen = 1;
    header.msg_flags = 0;
    header.msg_control = std::ptr::null_mut();
    header.msg_controllen = 0;
    let Some(from) = from else { return };
    header.msg_control = control.0.as_mut_ptr().cast();
    header.msg_controllen = std::mem::size_of::<ControlBuf>() as _;
    // SAFETY: msg_control points at a live, aligned ControlBuf of the length
    // given, large enough for one cmsghdr with an in6_pktinfo (the CMSG_SPACE
    // of either payload is at most 40 bytes on every platform we build for);
    // CMSG_FIRSTHDR is not null for a buffer that size.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(header);
        let space = match *from {
            Arrival::V6(ip, ifindex) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: ip.octets(),
                    },
                    // An IPv4 datagram on a dual-stack socket: let the route
                    // pick the interface, as for AF_INET. Link-local IPv6
                    // needs the interface it came in on.
                    ipi6_ifindex: if ip.to_ipv4_mapped().is_some() {
                        0
                    } else {
                        ifindex as _
                    },
                };
                (*cmsg).cmsg_level = libc::IPPROTO_IPV6;
                (*cmsg).cmsg_type = libc::IPV6_PKTINFO;
                (*cmsg).cmsg_len =
                    libc::CMSG_LEN(std::mem::size_of::<libc::in6_pktinfo>() as _) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), info);
                libc::CMSG_SPACE(std::mem::size_of::<libc::in6_pktinfo>() as _)
            }
            Arrival::V4(ip) => match ipv4_source(cmsg, ip) {
                Some(space) => space,
                None => {
                    header.msg_control = std::ptr::null_mut();
                    header.msg_controllen = 0;
                    return;
                }
            },
        };
        header.msg_controllen = space as _;
    }
}

/// Writes an IP_PKTINFO naming `ip` as the source into `cmsg`; returns the
/// space it takes.
///
/// # Safety
/// `cmsg` points at a cmsghdr with room for an in_pktinfo after it.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
unsafe fn ipv4_source(cmsg: *mut libc::cmsghdr, ip: Ipv4Addr) -> Option<libc::c_uint> {
    let info = libc::in_pktinfo {
        // 0: the route picks the interface; the source is ipi_spec_dst.
        ipi_ifindex: 0,
        ipi_spec_dst: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        ipi_addr: libc::in_addr { s_addr: 0 },
    };
    // SAFETY: the caller's promise.
    unsafe {
        (*cmsg).cmsg_level = libc::IPPROTO_IP;
        (*cmsg).cmsg_type = libc::IP_PKTINFO;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::in_pktinfo>() as _) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), info);
        Some(libc::CMSG_SPACE(
            std::mem::size_of::<libc::in_pktinfo>() as _
        ))
    }
}

/// # Safety
/// Nothing to uphold: nothing is written on this system.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
unsafe fn ipv4_source(_cmsg: *mut libc::cmsghdr, _ip: Ipv4Addr) -> Option<libc::c_uint> {
    None
}

/// The address as the bytes the kernel gave (family, then name), to
/// compare two Unix addresses whole.
pub fn address_bytes(addr: &SockAddr) -> &[u8] {
    // SAFETY: a SockAddr owns its storage, initialised up to `len()`, which
    // never exceeds the storage's size; the slice borrows `addr`.
    unsafe { std::slice::from_raw_parts(addr.as_ptr().cast::<u8>(), addr.len() as usize) }
}

/// Retries `call` while it fails with EINTR.
fn retrying(mut call: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let rc = call();
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Receives one datagram into `buf` without blocking; `None` when nothing
/// is waiting (EAGAIN).
pub fn receive_one(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<Datagram>> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut name = SockAddrStorage::zeroed();
    let mut control = ControlBuf([0; 64]);
    // SAFETY: an all-zero msghdr is a valid empty one; prepare_receive sets
    // every pointer and length we use.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    prepare_receive(&mut header, &mut iov, &mut name, &mut control);
    // SAFETY: header points at `iov` (over `buf`), `name` and `control`, all
    // alive and exclusively ours until the call returns.
    let got = retrying(|| unsafe {
        libc::recvmsg(fd.as_raw_fd(), &mut header, libc::MSG_DONTWAIT) as isize
    });
    match got {
        Ok(len) => Ok(Some(received(&header, len, &name))),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sends `payload` to `to` as one datagram, from `from` when given, without blocking.
pub fn send_one(
    fd: BorrowedFd<'_>,
    payload: &[u8],
    to: &SockAddr,
    from: Option<&Arrival>,
) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let mut control = ControlBuf([0; 64]);
    // SAFETY: as in receive_one.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    prepare_send(&mut header, &mut iov, payload, to, from, &mut control);
    // SAFETY: header points at `iov` (over `payload`), `to` and `control`,
    // all alive until the call returns; the kernel only reads them.
    retrying(|| unsafe { libc::sendmsg(fd.as_raw_fd(), &header, libc::MSG_DONTWAIT) as isize })
        .map(|_| ())
}

pub use batch::*;

/// recvmmsg(2)/sendmmsg(2): Linux only (the engine's portable batch sends
/// one at a time through [`receive_one`] and [`send_one`]).
#[cfg(all(target_os = "linux", not(echokit_force_portable)))]
mod batch {
    use super::*;

    /// Datagrams one batch call takes or sends at most.
    pub const BATCH: usize = 32;

    /// The address and control buffers of one batch, made once and reused:
    /// every call sets every length in them afresh.
    pub struct BatchBuffers {
        names: Box<[SockAddrStorage; BATCH]>,
        controls: Box<[ControlBuf; BATCH]>,
    }

    impl Default for BatchBuffers {
        fn default() -> Self {
            BatchBuffers {
                names: Box::new(std::array::from_fn(|_| SockAddrStorage::zeroed())),
                controls: Box::new([ControlBuf([0; 64]); BATCH]),
            }
        }
    }

    /// Receives up to one datagram per buffer of `bufs` (at most [`BATCH`])
    /// in one recvmmsg(2) call without blocking, appending each to `out`;
    /// nothing appended means nothing was waiting.
    pub fn receive_batch(
        fd: BorrowedFd<'_>,
        space: &mut BatchBuffers,
        bufs: &mut [Vec<u8>],
        out: &mut Vec<Datagram>,
    ) -> io::Result<()> {
        let count = bufs.len().min(BATCH);
        let mut iovs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; BATCH];
        // SAFETY: an all-zero mmsghdr is a valid empty one; the first `count`
        // are set up below.
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (k, buf) in bufs.iter_mut().take(count).enumerate() {
            iovs[k] = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            prepare_receive(
                &mut headers[k].msg_hdr,
                &mut iovs[k],
                &mut space.names[k],
                &mut space.controls[k],
            );
        }
        // SAFETY: the first `count` headers point at iovecs over `bufs` and at
        // `space`'s names and controls, all alive and exclusively ours until
        // the call returns; the kernel writes within the lengths given.
        let got = retrying(|| unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                headers.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            ) as isize
        });
        let got = match got {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        };
        for (header, name) in headers.iter().zip(space.names.iter()).take(got) {
            out.push(received(&header.msg_hdr, header.msg_len as usize, name));
        }
        Ok(())
    }

    /// Sends each `(payload, to, from)` as one datagram in one sendmmsg(2)
    /// call without blocking; returns how many went (always the first ones;
    /// at most [`BATCH`]).
    pub fn send_batch(
        fd: BorrowedFd<'_>,
        messages: &[(&[u8], &SockAddr, Option<&Arrival>)],
    ) -> io::Result<usize> {
        let messages = &messages[..messages.len().min(BATCH)];
        let mut iovs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; BATCH];
        let mut controls = [ControlBuf([0; 64]); BATCH];
        // SAFETY: as in receive_batch.
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (k, (payload, to, from)) in messages.iter().enumerate() {
            prepare_send(
                &mut headers[k].msg_hdr,
                &mut iovs[k],
                payload,
                to,
                *from,
                &mut controls[k],
            );
        }
        // SAFETY: the first `messages.len()` headers point at iovecs,
        // payloads, addresses and control buffers alive until the call
        // returns; the kernel reads them and writes only `msg_len`.
        retrying(|| unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                headers.as_mut_ptr(),
                messages.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            ) as isize
        })
    }
}

#[cfg(not(all(target_os = "linux", not(echokit_force_portable))))]
mod batch {}
