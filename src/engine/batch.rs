//! Datagrams in batches (Linux): recvmmsg(2) takes up to [`SLOTS`] waiting
//! datagrams in one call and sendmmsg(2) sends their echoes in one more, so
//! a busy UDP or Unix datagram socket costs two system calls per batch
//! instead of two per datagram. Each echo carries its sender's whole address
//! and the local address its datagram came to (`sys::datagram`). No
//! allocation per datagram: buffers and headers are made once per worker,
//! and every length in them is set afresh on every call.
//!
//! Its twin `batch_portable.rs` has the same items for systems without
//! recvmmsg (macOS): one recvmsg per datagram.

use std::io;
use std::os::fd::AsFd;

use socket2::Socket;

use super::dgram::{OwnAddresses, Received, classify};
use crate::sys::datagram::{self, BATCH, BatchBuffers, Datagram};

/// Datagrams taken (and echoes sent) per call.
pub const SLOTS: usize = BATCH;

/// The buffers and headers of one worker's batches.
pub struct Batch {
    /// One buffer per slot, each as large as the largest datagram echoed.
    bufs: Vec<Vec<u8>>,
    /// The sender addresses and control messages of the slots.
    space: BatchBuffers,
    /// What the last call took, before it is classified.
    taken: Vec<Datagram>,
    /// What each slot received in the last call.
    received: Vec<Received>,
}

impl Batch {
    /// Room for [`SLOTS`] datagrams of `buffer_size` bytes.
    pub fn new(buffer_size: usize) -> Batch {
        Batch {
            bufs: (0..SLOTS).map(|_| vec![0; buffer_size.max(1)]).collect(),
            space: BatchBuffers::default(),
            taken: Vec::with_capacity(SLOTS),
            received: Vec::with_capacity(SLOTS),
        }
    }

    /// Takes what is waiting on `socket` (non-blocking); 0 means EAGAIN.
    pub fn receive(&mut self, socket: &Socket, own: &OwnAddresses) -> io::Result<usize> {
        self.received.clear();
        datagram::receive_batch(
            socket.as_fd(),
            &mut self.space,
            &mut self.bufs,
            &mut self.taken,
        )?;
        self.received
            .extend(self.taken.drain(..).map(|d| classify(d, own)));
        Ok(self.received.len())
    }

    /// What slot `i` received (valid for `i` below what [`Batch::receive`] returned).
    pub fn received(&self, i: usize) -> &Received {
        &self.received[i]
    }

    /// Sends the echoes of the slots in `echo` (each to its sender, from the
    /// address its datagram came to) in as few sendmmsg(2) calls as the
    /// socket takes; returns, per entry of `echo`, whether its echo went. An
    /// echo the kernel refuses (a full buffer, a sender gone) is a drop; the
    /// ones after it are still tried.
    pub fn reply(&self, socket: &Socket, echo: &[usize], sent: &mut [bool; SLOTS]) {
        let echoes = echo.iter().filter_map(|&i| match &self.received[i] {
            Received::Echo(len, from) => {
                Some((&self.bufs[i][..*len], &from.addr, from.arrival.as_ref()))
            }
            _ => None,
        });
        // On the stack, no allocation: unused entries hold the first echo and are never sent.
        let Some(first) = echoes.clone().next() else {
            return;
        };
        let mut messages = [first; SLOTS];
        let mut count = 0;
        for (slot, message) in messages.iter_mut().zip(echoes) {
            *slot = message;
            count += 1;
        }
        let mut next = 0;
        while next < count {
            match datagram::send_batch(socket.as_fd(), &messages[next..count]) {
                Ok(0) => break,
                Ok(n) => {
                    sent[next..next + n].fill(true);
                    next += n;
                }
                // The first of the rest failed: a full buffer fails them
                // all (stop), anything else is that one echo's problem.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => next += 1,
            }
        }
    }
}
