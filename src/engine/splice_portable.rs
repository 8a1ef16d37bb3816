//! No splice(2) here: a connection never gets a pipe and keeps copying
//! through the loop's scratch buffer. The same items as `splice.rs`.

use std::io;

use socket2::Socket;

use crate::engine::stream::ReadOutcome;

/// Never made on this platform.
#[derive(Debug)]
pub enum Pipe {}

impl Pipe {
    /// There is no pipe to splice through.
    pub fn for_bulk(_socket: &Socket, _chunk: usize) -> Option<Pipe> {
        None
    }

    pub fn held(&self) -> usize {
        match *self {}
    }

    pub fn fill(&mut self, _socket: &Socket) -> io::Result<ReadOutcome> {
        match *self {}
    }

    pub fn drain(&mut self, _socket: &Socket) -> io::Result<usize> {
        match *self {}
    }
}
