//! How a worker's loop waits on a listening socket (Linux): with
//! EPOLLEXCLUSIVE, so that a new connection on a listener that every worker
//! shares wakes one worker, not all of them (the thundering herd), through
//! `sys::epoll_add_exclusive` since mio has no such flag.
//!
//! Its twin `acceptor_portable.rs` registers through mio (kqueue): every
//! worker wakes, and all but one find nothing to accept.

use std::io;
use std::os::fd::AsRawFd;

use mio::{Poll, Token};
use socket2::Socket;

/// Registers `listener` on `poll` for new connections under `token`.
pub fn register(poll: &Poll, listener: &Socket, token: Token) -> io::Result<()> {
    crate::sys::epoll_add_exclusive(poll.as_raw_fd(), listener.as_raw_fd(), token.0 as u64)
}
