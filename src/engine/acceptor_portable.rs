//! How a worker's loop waits on a listening socket elsewhere than Linux:
//! through mio (kqueue). When several workers share a listener, each wakes
//! for a new connection and all but one find nothing to accept. The same
//! items as `acceptor.rs`.

use std::io;
use std::os::fd::AsRawFd;

use mio::unix::SourceFd;
use mio::{Interest, Poll, Token};
use socket2::Socket;

/// Registers `listener` on `poll` for new connections under `token`.
pub fn register(poll: &Poll, listener: &Socket, token: Token) -> io::Result<()> {
    poll.registry().register(
        &mut SourceFd(&listener.as_raw_fd()),
        token,
        Interest::READABLE,
    )
}
