//! The twin of `batch.rs` for systems without recvmmsg(2) (macOS), and for
//! Linux builds with `--cfg echokit_force_portable`: the same items, one
//! recvmsg and one sendmsg per datagram.

use std::io;

use socket2::Socket;

use super::dgram::{self, OwnAddresses, Received};

/// Datagrams taken per call: one, without recvmmsg.
pub const SLOTS: usize = 1;

/// The buffer of one worker's "batches" of one.
pub struct Batch {
    buf: Vec<u8>,
    received: Option<Received>,
}

impl Batch {
    /// Room for one datagram of `buffer_size` bytes.
    pub fn new(buffer_size: usize) -> Batch {
        Batch {
            buf: vec![0; buffer_size.max(1)],
            received: None,
        }
    }

    /// Takes one datagram waiting on `socket` (non-blocking); 0 means EAGAIN.
    pub fn receive(&mut self, socket: &Socket, own: &OwnAddresses) -> io::Result<usize> {
        self.received = match dgram::receive(socket, &mut self.buf, own)? {
            Received::Empty => None,
            other => Some(other),
        };
        Ok(usize::from(self.received.is_some()))
    }

    /// What the slot received (`i` is 0).
    pub fn received(&self, _i: usize) -> &Received {
        self.received.as_ref().unwrap_or(&Received::Empty)
    }

    /// Sends the slot's echo to its sender, if `echo` names it; `sent[0]` says whether it went.
    pub fn reply(&self, socket: &Socket, echo: &[usize], sent: &mut [bool; SLOTS]) {
        if let (Some(Received::Echo(len, from)), false) = (&self.received, echo.is_empty()) {
            sent[0] = dgram::reply(socket, &self.buf[..*len], from).is_ok();
        }
    }
}
