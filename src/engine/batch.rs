//! Datagrams in batches (Linux): recvmmsg(2) takes up to [`SLOTS`] waiting
//! datagrams in one call and sendmmsg(2) (in `sys.rs`: nix's wrapper reads
//! uninitialised addresses back) sends their echoes in one more, so a busy
//! UDP or Unix datagram socket costs two system calls per batch instead of
//! two per datagram. No allocation per datagram: buffers and headers are
//! made once per worker.
//!
//! Its twin `batch_portable.rs` has the same items for systems without
//! recvmmsg (macOS): one recvmsg per datagram.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrLike, SockaddrStorage, UnixAddr, recvmmsg};
use socket2::Socket;

use super::dgram::{Received, Sender, classify};

/// Datagrams taken (and echoes sent) per call.
pub const SLOTS: usize = crate::sys::SEND_BATCH;

/// The buffers and headers of one worker's batches.
pub struct Batch {
    /// One buffer per slot, each as large as the largest datagram echoed.
    bufs: Vec<Vec<u8>>,
    /// What each slot received in the last call.
    received: Vec<Received>,
    inet: MultiHeaders<SockaddrStorage>,
    unix: MultiHeaders<UnixAddr>,
}

impl Batch {
    /// Room for [`SLOTS`] datagrams of `buffer_size` bytes.
    pub fn new(buffer_size: usize) -> Batch {
        Batch {
            bufs: (0..SLOTS).map(|_| vec![0; buffer_size.max(1)]).collect(),
            received: Vec::with_capacity(SLOTS),
            inet: MultiHeaders::preallocate(SLOTS, None),
            unix: MultiHeaders::preallocate(SLOTS, None),
        }
    }

    /// Takes what is waiting on `socket` (non-blocking); 0 means EAGAIN.
    pub fn receive(&mut self, socket: &Socket, unix: bool) -> io::Result<usize> {
        let fd = socket.as_raw_fd();
        loop {
            self.received.clear();
            let result = if unix {
                take(
                    fd,
                    &mut self.unix,
                    &mut self.bufs,
                    &mut self.received,
                    Sender::Unix,
                )
            } else {
                take(
                    fd,
                    &mut self.inet,
                    &mut self.bufs,
                    &mut self.received,
                    Sender::Inet,
                )
            };
            return match result {
                Ok(()) => Ok(self.received.len()),
                Err(Errno::EAGAIN) => Ok(0),
                Err(Errno::EINTR) => continue,
                Err(e) => Err(e.into()),
            };
        }
    }

    /// What slot `i` received (valid for `i` below what [`Batch::receive`] returned).
    pub fn received(&self, i: usize) -> &Received {
        &self.received[i]
    }

    /// Sends the echoes of the slots in `echo` (each to its sender) in as few
    /// sendmmsg(2) calls as the socket takes; returns how many went, always
    /// the first ones. The rest could not be sent now (a full buffer): drops.
    pub fn reply(&self, socket: &Socket, echo: &[usize]) -> usize {
        let echoes = echo.iter().filter_map(|&i| match &self.received[i] {
            Received::Echo(len, from) => Some((&self.bufs[i][..*len], from.as_dyn())),
            _ => None,
        });
        // On the stack, no allocation: unused entries hold the first echo and are never sent.
        let Some(first) = echoes.clone().next() else {
            return 0;
        };
        let mut messages = [first; SLOTS];
        let mut count = 0;
        for (slot, message) in messages.iter_mut().zip(echoes) {
            *slot = message;
            count += 1;
        }
        let mut sent = 0;
        while sent < count {
            match crate::sys::send_datagrams(socket.as_fd(), &messages[sent..count]) {
                Ok(0) | Err(_) => break,
                Ok(n) => sent += n,
            }
        }
        sent
    }
}

/// One recvmmsg(2) into `bufs`, each datagram classified into `out`.
fn take<S: SockaddrLike + Copy>(
    fd: std::os::fd::RawFd,
    headers: &mut MultiHeaders<S>,
    bufs: &mut [Vec<u8>],
    out: &mut Vec<Received>,
    sender: fn(S) -> Sender,
) -> Result<(), Errno> {
    let mut slots = bufs.iter_mut();
    let mut iovs: [[IoSliceMut<'_>; 1]; SLOTS] = std::array::from_fn(|_| {
        [IoSliceMut::new(
            slots
                .next()
                .expect("one buffer per slot, made in Batch::new"),
        )]
    });
    for m in recvmmsg(fd, headers, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None)? {
        out.push(classify(m.bytes, m.flags, m.address.map(sender)));
    }
    Ok(())
}
