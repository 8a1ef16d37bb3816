//! AF_INET / AF_INET6 listeners: address reuse, IPV6_V6ONLY and the
//! dual-stack `[::]` → `0.0.0.0` fallback of SPEC §2.

use std::net::{Ipv4Addr, SocketAddr};

use crate::error::{Error, address_unavailable};
use crate::transport::{Kind, SocketAddress, Transport};

use super::{ListenOptions, Listener, new_socket, sock_addr, sock_target, start_listening};

/// Binds an inet address; `[::]` without `--v6only` becomes one dual-stack
/// socket, or `0.0.0.0` where this machine has no IPv6.
pub(super) fn listen(
    kind: Kind,
    addr: SocketAddr,
    options: ListenOptions,
) -> Result<Listener, Error> {
    match bind(kind, addr, options) {
        Err(e)
            if addr.is_ipv6()
                && addr.ip().is_unspecified()
                && !options.v6only
                && address_unavailable(&e) =>
        {
            bind(
                kind,
                SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port()),
                options,
            )
        }
        result => result,
    }
    .map_err(|e| Error::listen(&super::display_target(&SocketAddress::Inet(addr)), e))
}

fn bind(kind: Kind, addr: SocketAddr, options: ListenOptions) -> std::io::Result<Listener> {
    let target = SocketAddress::Inet(addr);
    let transport = Transport::of(kind, &target);
    let socket = new_socket(transport, &target)?;
    if kind.accepts_connections() {
        // Lets a restarted server bind while old connections sit in TIME_WAIT;
        // it does not let two live listeners share the port (that is SO_REUSEPORT).
        socket.set_reuse_address(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(options.v6only)?;
    }
    socket.bind(&sock_addr(&target)?)?;
    start_listening(&socket, kind, options)?;
    let local = socket
        .local_addr()
        .ok()
        .and_then(|a| sock_target(&a))
        .unwrap_or(target);
    Ok(Listener {
        socket,
        transport,
        local,
        guard: None,
    })
}
