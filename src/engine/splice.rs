//! Bulk stream echo without copying (Linux): splice(2) moves what a socket
//! received into a pipe and from the pipe back out to the same socket, page
//! references instead of two copies through user memory. Measured against
//! the copying path in `benches/README.md`.
//!
//! Its twin `splice_portable.rs` never makes a pipe, so the connection keeps
//! copying through the loop's scratch buffer (the same bytes, the same order).

use std::io;
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use socket2::Socket;

use crate::engine::stream::ReadOutcome;

/// A connection's pipe and how many bytes wait in it.
#[derive(Debug)]
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    held: usize,
    /// The most one splice into the pipe asks for: the connection's read size.
    chunk: usize,
}

const FLAGS: SpliceFFlags = SpliceFFlags::SPLICE_F_MOVE.union(SpliceFFlags::SPLICE_F_NONBLOCK);

impl Pipe {
    /// Makes `socket`'s connection bulk: a pipe of `chunk` bytes (see
    /// [`Pipe::new`]), and over TCP at most `chunk` unsent bytes queued in the
    /// kernel behind it (TCP_NOTSENT_LOWAT: the socket is writable again
    /// only below that). With the unsent queue short, loopback sends fewer
    /// segments from the ACK path on the peer's CPU, out of order with ours:
    /// a third of the retransmits or less, and about 1.2x the bulk rate
    /// (`benches/README.md`). A Unix socket has no such option: ignored.
    pub fn for_bulk(socket: &Socket, chunk: usize) -> Option<Pipe> {
        let pipe = Pipe::new(chunk)?;
        let _ = socket.set_tcp_notsent_lowat(u32::try_from(pipe.chunk).unwrap_or(u32::MAX));
        Some(pipe)
    }

    /// A non-blocking pipe that holds about `chunk` bytes (F_SETPIPE_SZ; the
    /// default 64 KiB when the system refuses more), or `None` when no pipe
    /// can be made (out of descriptors): the connection then keeps copying.
    fn new(chunk: usize) -> Option<Pipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).ok()?;
        let size = i32::try_from(chunk).unwrap_or(i32::MAX);
        let capacity = fcntl(&write, FcntlArg::F_SETPIPE_SZ(size)).unwrap_or(65_536);
        Some(Pipe {
            read,
            write,
            held: 0,
            chunk: chunk.min(usize::try_from(capacity).unwrap_or(65_536)),
        })
    }

    /// Bytes received and not yet sent back.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Moves what `socket` has received into the pipe (only called with the
    /// pipe empty, so EAGAIN means the socket has nothing). `Err` with
    /// EINVAL: this socket cannot be spliced; nothing was moved.
    pub fn fill(&mut self, socket: &Socket) -> io::Result<ReadOutcome> {
        loop {
            return match splice(socket, None, &self.write, None, self.chunk, FLAGS) {
                Ok(0) => Ok(ReadOutcome::Eof),
                Ok(n) => {
                    self.held += n;
                    Ok(ReadOutcome::Data(n))
                }
                Err(Errno::EAGAIN) => Ok(ReadOutcome::WouldBlock),
                Err(Errno::EINTR) => continue,
                Err(e) => Err(e.into()),
            };
        }
    }

    /// Moves what the pipe holds out to `socket`, as much as it takes now.
    pub fn drain(&mut self, socket: &Socket) -> io::Result<usize> {
        let mut sent = 0;
        while self.held > 0 {
            match splice(&self.read, None, socket, None, self.held, FLAGS) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.held -= n;
                    sent += n;
                }
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(sent)
    }
}
