//! The client side of an echo exchange.
//!
//! Streams: write and read at the same time on one non-blocking socket driven
//! by a `mio` poll, so a payload larger than both socket buffers cannot
//! deadlock (SPEC §3); read until every byte sent has come back — never "a
//! short read means done", which hangs on a message whose length is a
//! multiple of the buffer size. Input that comes from a file or stdin is read
//! on a helper thread into a bounded channel, so a slow or interactive source
//! never stops the echo from being read.
//!
//! Datagrams: one datagram out, one back, compared whole; resent on silence.

use std::io::{self, IoSliceMut, Read};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::socket::{MsgFlags, SockaddrStorage, recvmsg};
use socket2::Socket;

use super::stream::{ExchangeError, ReadOutcome, Verifier, read_some, write_some};

const SOCKET: Token = Token(0);
const SOURCE: Token = Token(1);
/// Chunks the reader thread may run ahead of the socket (bounded memory).
const SOURCE_QUEUE: usize = 4;

/// Where the bytes to send come from.
pub enum Source {
    /// Bytes already in memory (MESSAGE).
    Bytes(Vec<u8>),
    /// A file or stdin, read in chunks of the buffer size on a helper thread.
    Reader(Box<dyn Read + Send>),
}

/// Why a stream exchange did not complete.
#[derive(Debug)]
pub enum ClientError {
    /// The echo was wrong or incomplete.
    Exchange(ExchangeError),
    /// The deadline passed with `received` of `sent` bytes back.
    TimedOut { received: u64, sent: u64 },
    /// Reading the input failed.
    Input(io::Error),
    /// The event loop itself failed.
    Poll(io::Error),
}

impl From<ExchangeError> for ClientError {
    fn from(e: ExchangeError) -> Self {
        ClientError::Exchange(e)
    }
}

/// Byte counts of a finished exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchanged {
    pub sent: u64,
    pub received: u64,
}

enum Input {
    Bytes(Vec<u8>),
    Channel(Receiver<io::Result<Vec<u8>>>),
}

/// A connected stream socket and the poll that drives it.
pub struct StreamClient {
    socket: Socket,
    poll: Poll,
    waker: Arc<Waker>,
    events: Events,
    buf: Vec<u8>,
}

impl StreamClient {
    /// Takes a connected, non-blocking stream socket.
    pub fn new(socket: Socket, buffer_size: usize) -> io::Result<StreamClient> {
        let poll = Poll::new()?;
        poll.registry().register(
            &mut SourceFd(&socket.as_raw_fd()),
            SOCKET,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let waker = Arc::new(Waker::new(poll.registry(), SOURCE)?);
        Ok(StreamClient {
            socket,
            poll,
            waker,
            events: Events::with_capacity(16),
            buf: vec![0; buffer_size],
        })
    }

    /// Sends all of `source`, hands every echoed chunk to `sink` as it arrives
    /// (after checking it), and returns once every byte is back. With
    /// `half_close`, our write side is shut down after the last byte (SPEC §3).
    pub fn exchange(
        &mut self,
        source: Source,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
        deadline: Option<Instant>,
        half_close: bool,
    ) -> Result<Exchanged, ClientError> {
        let mut input = match source {
            Source::Bytes(bytes) => Input::Bytes(bytes),
            Source::Reader(reader) => Input::Channel(spawn_reader(
                reader,
                self.buf.len(),
                Arc::clone(&self.waker),
            )),
        };
        let mut verifier = Verifier::default();
        let mut current: Vec<u8> = Vec::new();
        let mut pos = 0usize;
        let mut input_done = false;
        let mut shut = false;
        loop {
            // Write whatever the socket takes now.
            loop {
                if pos == current.len() && !input_done {
                    match next_chunk(&mut input) {
                        Next::Chunk(chunk) => {
                            current = chunk;
                            pos = 0;
                        }
                        Next::Pending => break,
                        Next::Done => input_done = true,
                        Next::Failed(e) => return Err(ClientError::Input(e)),
                    }
                    continue;
                }
                if pos == current.len() {
                    if half_close && !shut {
                        shut = true;
                        // Like `nc -N`: only after input EOF *and* an empty buffer.
                        let _ = self.socket.shutdown(std::net::Shutdown::Write);
                    }
                    break;
                }
                match write_some(&self.socket, &current[pos..]) {
                    Ok(0) => break, // EAGAIN: wait for writable
                    Ok(n) => {
                        verifier.sent(&current[pos..pos + n]);
                        pos += n;
                    }
                    Err(e) => {
                        return Err(verifier.ended_early(Some(e)).into());
                    }
                }
            }
            // Read whatever has come back.
            loop {
                match read_some(&self.socket, &mut self.buf) {
                    Ok(ReadOutcome::Data(n)) => {
                        verifier.received(&self.buf[..n])?;
                        sink(&self.buf[..n])
                            .map_err(|e| ClientError::Exchange(ExchangeError::Output(e)))?;
                    }
                    Ok(ReadOutcome::Eof) => {
                        if input_done && pos == current.len() && verifier.complete() {
                            break;
                        }
                        return Err(verifier.ended_early(None).into());
                    }
                    Ok(ReadOutcome::WouldBlock) => break,
                    Err(e) => {
                        return Err(verifier.ended_early(Some(e)).into());
                    }
                }
            }
            if input_done && pos == current.len() && verifier.complete() {
                return Ok(Exchanged {
                    sent: verifier.sent,
                    received: verifier.received,
                });
            }
            let timeout = match deadline {
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(ClientError::TimedOut {
                            received: verifier.received,
                            sent: verifier.sent,
                        });
                    }
                    Some(left)
                }
                None => None,
            };
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ClientError::Poll(e)),
            }
        }
    }

    /// The socket, e.g. to shut it down after repeated exchanges.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }
}

enum Next {
    Chunk(Vec<u8>),
    Pending,
    Done,
    Failed(io::Error),
}

fn next_chunk(input: &mut Input) -> Next {
    match input {
        Input::Bytes(bytes) if bytes.is_empty() => Next::Done,
        Input::Bytes(bytes) => Next::Chunk(std::mem::take(bytes)),
        Input::Channel(rx) => match rx.try_recv() {
            Ok(Ok(chunk)) => Next::Chunk(chunk),
            Ok(Err(e)) => Next::Failed(e),
            Err(TryRecvError::Empty) => Next::Pending,
            Err(TryRecvError::Disconnected) => Next::Done,
        },
    }
}

fn spawn_reader(
    mut reader: Box<dyn Read + Send>,
    chunk: usize,
    waker: Arc<Waker>,
) -> Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::sync_channel(SOURCE_QUEUE);
    std::thread::spawn(move || {
        loop {
            let mut buf = vec![0; chunk];
            let item = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    Ok(buf)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            if tx.send(item).is_err() || failed {
                break;
            }
            let _ = waker.wake();
        }
        // Dropping `tx` tells the loop the input ended; wake it to see that.
        drop(tx);
        let _ = waker.wake();
    });
    rx
}

/// Why a datagram exchange did not complete.
#[derive(Debug)]
pub enum DatagramError {
    /// No reply after every try.
    TimedOut { tries: u32 },
    /// The reply differs from what was sent.
    Mismatch(ExchangeError),
    /// The reply was larger than the buffer (cut by the kernel).
    Oversize,
    /// Sending or receiving failed (refused: ICMP port unreachable; no such socket file…).
    Io(io::Error),
}

/// Sends `payload` as one datagram and waits for the same datagram back,
/// resending after each silent wait in `waits` (the deadline caps them all).
pub fn datagram_exchange(
    socket: &Socket,
    payload: &[u8],
    waits: &[Duration],
    deadline: Option<Instant>,
) -> Result<(Vec<u8>, Duration), DatagramError> {
    // Room for one byte more than sent, so a longer reply is seen as such.
    let mut buf = vec![0u8; payload.len() + 1];
    // Leftovers from an earlier, late exchange are not this one's reply.
    while let Ok(Some(_)) = try_recv(socket, &mut buf) {}
    let mut tries = 0;
    for wait in waits {
        tries += 1;
        let started = Instant::now();
        let mut until = started + *wait;
        if let Some(d) = deadline {
            until = until.min(d);
        }
        send_datagram(socket, payload, until)?;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if !wait_readable(socket, left).map_err(DatagramError::Io)? {
                break;
            }
            match try_recv(socket, &mut buf).map_err(DatagramError::Io)? {
                None => continue,
                Some((_, true)) => return Err(DatagramError::Oversize),
                Some((n, false)) => {
                    let reply = buf[..n].to_vec();
                    compare_datagram(payload, &reply)?;
                    return Ok((reply, started.elapsed()));
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    Err(DatagramError::TimedOut { tries })
}

fn compare_datagram(sent: &[u8], reply: &[u8]) -> Result<(), DatagramError> {
    if let Some(offset) = sent.iter().zip(reply).position(|(a, b)| a != b) {
        return Err(DatagramError::Mismatch(ExchangeError::Mismatch {
            offset: offset as u64,
            sent: sent[offset],
            received: reply[offset],
        }));
    }
    if reply.len() > sent.len() {
        return Err(DatagramError::Mismatch(ExchangeError::Longer {
            offset: sent.len() as u64,
        }));
    }
    if reply.len() < sent.len() {
        return Err(DatagramError::Mismatch(ExchangeError::EndedEarly {
            received: reply.len() as u64,
            sent: sent.len() as u64,
            cause: None,
        }));
    }
    Ok(())
}

/// Sends one datagram; a full send buffer (a Unix datagram peer whose queue
/// is full) is waited out, but never past `until`: then this try is over.
fn send_datagram(socket: &Socket, payload: &[u8], until: Instant) -> Result<(), DatagramError> {
    loop {
        match socket.send(payload) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(());
                }
                let ms = left.as_millis().clamp(1, u128::from(u16::MAX)) as u16;
                let mut fds = [nix::poll::PollFd::new(
                    std::os::fd::AsFd::as_fd(socket),
                    nix::poll::PollFlags::POLLOUT,
                )];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
            }
            Err(e) => return Err(DatagramError::Io(e)),
        }
    }
}

/// One non-blocking receive: `None` on EAGAIN, else the length and whether it was cut.
fn try_recv(socket: &Socket, buf: &mut [u8]) -> io::Result<Option<(usize, bool)>> {
    loop {
        let mut iov = [IoSliceMut::new(buf)];
        return match recvmsg::<SockaddrStorage>(
            socket.as_raw_fd(),
            &mut iov,
            None,
            MsgFlags::empty(),
        ) {
            Ok(msg) => Ok(Some((msg.bytes, msg.flags.contains(MsgFlags::MSG_TRUNC)))),
            Err(nix::errno::Errno::EAGAIN) => Ok(None),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => Err(e.into()),
        };
    }
}

fn wait_readable(socket: &Socket, timeout: Duration) -> io::Result<bool> {
    let mut fds = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(socket),
        nix::poll::PollFlags::POLLIN,
    )];
    // poll(2) counts whole milliseconds: round up, or we would wake just
    // before the deadline and resend a datagram early.
    let ms = timeout.as_micros().div_ceil(1000).min(u128::from(u16::MAX)) as u16;
    match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
        Ok(n) => Ok(n > 0),
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
