//! Stream echo: the server's per-connection state machine ([`StreamConn`],
//! streams and sequenced packets alike), and the [`Verifier`] a client
//! checks what comes back with (the client's exchange itself is
//! `client.rs`).
//!
//! Both sit on the same two moves, [`write_some`] and [`read_some`], which
//! turn EAGAIN into "not now" rather than an error and resume short writes
//! where they stopped (SPEC §3). Sockets are non-blocking and edge-triggered:
//! whoever stops before EAGAIN must remember to come back ([`Step::Yield`]),
//! unless a short read has just emptied the queue ([`PeerSide::Open`]).

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSliceMut, Read, Write};
use std::os::fd::AsRawFd;
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, recvmsg};
use socket2::Socket;

use super::splice::Pipe;
use crate::transport::SocketType;

/// What a read returned, with EAGAIN and EINTR folded in.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// `n` bytes arrived.
    Data(usize),
    /// The peer shut down its write side (`read` returned 0): half-close.
    Eof,
    /// Nothing more until the next readable event (EAGAIN).
    WouldBlock,
}

/// Reads once into `buf`, retrying on EINTR.
pub fn read_some(mut socket: &Socket, buf: &mut [u8]) -> io::Result<ReadOutcome> {
    loop {
        return match socket.read(buf) {
            Ok(0) => Ok(ReadOutcome::Eof),
            Ok(n) => Ok(ReadOutcome::Data(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
    }
}

/// Reads one whole message into `buf` (SOCK_SEQPACKET), retrying on EINTR.
///
/// The kernel cuts a message larger than `buf` and says so in the message
/// flags (recvmsg(2) MSG_TRUNC): that is the error EMSGSIZE ("message too
/// long"), never data. A zero-length read is EOF, as for streams: a
/// zero-length message cannot be told from it (SPEC §3).
pub fn read_message(socket: &Socket, buf: &mut [u8]) -> io::Result<ReadOutcome> {
    Ok(match recv_message(socket, buf)? {
        None => ReadOutcome::WouldBlock,
        Some((_, true)) => return Err(io::Error::from_raw_os_error(libc::EMSGSIZE)),
        Some((0, false)) => ReadOutcome::Eof,
        Some((n, false)) => ReadOutcome::Data(n),
    })
}

/// One non-blocking receive of a whole message or datagram: `None` on
/// EAGAIN, else its length and whether the kernel cut it (MSG_TRUNC).
pub fn recv_message(socket: &Socket, buf: &mut [u8]) -> io::Result<Option<(usize, bool)>> {
    loop {
        let mut iov = [IoSliceMut::new(buf)];
        return match recvmsg::<()>(socket.as_raw_fd(), &mut iov, None, MsgFlags::empty()) {
            Ok(msg) => Ok(Some((msg.bytes, msg.flags.contains(MsgFlags::MSG_TRUNC)))),
            Err(Errno::EAGAIN) => Ok(None),
            Err(Errno::EINTR) => continue,
            Err(e) => Err(e.into()),
        };
    }
}

/// Writes as much of `buf` as the socket takes now; returns how much (0 on EAGAIN).
pub fn write_some(mut socket: &Socket, buf: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < buf.len() {
        match socket.write(&buf[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// The life of a served stream connection, printed by `serve -v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Reading and echoing.
    Echoing,
    /// The peer half-closed; flushing what is left before our own shutdown.
    Flushing,
}

/// How a served connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The peer half-closed and got every byte back: a complete echo.
    Completed,
    /// The peer reset the connection or vanished.
    Reset,
    /// Another socket error.
    Error(i32),
    /// `--idle-timeout` passed without a byte either way.
    IdleTimeout,
    /// `--drain` ran out at shutdown.
    DrainTimeout,
    /// The server stopped at once (second signal, or `--count` reached).
    Stopped,
    /// A message larger than `--buffer-size` arrived (MSG_TRUNC): not echoed cut, the connection closed.
    Truncated,
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::Completed => f.write_str("completed"),
            EndReason::Reset => f.write_str("reset by peer"),
            EndReason::Error(code) => write!(
                f,
                "error: {}",
                crate::error::describe(&io::Error::from_raw_os_error(*code))
            ),
            EndReason::IdleTimeout => f.write_str("idle timeout"),
            EndReason::DrainTimeout => f.write_str("drain timeout"),
            EndReason::Stopped => f.write_str("server stopped"),
            EndReason::Truncated => {
                f.write_str("a message larger than --buffer-size (MSG_TRUNC), not echoed")
            }
        }
    }
}

impl fmt::Display for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnState::Echoing => "echoing",
            ConnState::Flushing => "flushing",
        })
    }
}

/// What the event loop should do after driving a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Wait for the next readiness event.
    Wait,
    /// The read budget ran out before EAGAIN: call again soon (fairness).
    Yield,
    /// Close the connection.
    Close(EndReason),
}

/// What the readiness event that calls [`StreamConn::drive`] said of the
/// peer's side, which decides whether a short read ends the turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerSide {
    /// Data or room to write, and no FIN or error reported: a byte-stream
    /// read shorter than the buffer took everything queued, and bytes that
    /// come later raise a new edge. So the turn ends there, without the
    /// read that could only return EAGAIN.
    Open,
    /// The event reported the peer's FIN (EPOLLRDHUP) or an error, or there
    /// was no event (a turn cut short by its budget): a short read may leave
    /// the end of the stream unread, with no edge to come, so read on until
    /// EAGAIN or the end.
    Closing,
}

/// The smallest `--buffer-size` whose full reads move a connection to a pipe:
/// below it a splice moves too little to save anything over a copy, and the
/// pipe's two descriptors would be spent for nothing (`--buffer-size 8`).
const SPLICE_FROM: usize = 16 * 1024;

/// One served stream connection.
///
/// It holds no buffer while its peer keeps up: bytes are read into the loop's
/// shared scratch buffer and written straight back. Only what the peer has not
/// yet taken is kept, and while anything is there we stop reading, so a peer
/// that sends without reading is throttled by TCP flow control
/// (backpressure) and costs at most one buffer. A byte stream whose read
/// fills the whole buffer (of 16 KiB or more) is bulk: from then on (Linux)
/// its bytes go through a pipe with splice(2) instead, in the same order,
/// never through user memory, and a TCP socket queues at most one buffer of
/// unsent bytes in the kernel (`splice.rs`).
#[derive(Debug)]
pub struct StreamConn {
    pub socket: Socket,
    pub state: ConnState,
    /// SOCK_SEQPACKET: read whole messages and refuse cut ones; each write is one message.
    keeps_boundaries: bool,
    /// Whether this connection may still move to a pipe (a byte stream, and
    /// the system has not refused to splice this socket).
    may_splice: bool,
    /// What is kept between events; `None` (one pointer) on every idle, copying connection.
    held: Option<Box<Held>>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub started: Instant,
    pub last_active: Instant,
}

/// What a connection keeps between events.
#[derive(Debug)]
enum Held {
    /// Bytes read but not yet taken by the peer, and how far they have gone.
    Bytes { bytes: Vec<u8>, from: usize },
    /// A bulk connection's pipe, kept for the rest of its life.
    Pipe(Pipe),
}

impl StreamConn {
    /// Wraps an accepted, non-blocking socket of a connection type (stream or seqpacket).
    pub fn new(socket: Socket, socket_type: SocketType, now: Instant) -> StreamConn {
        StreamConn {
            socket,
            state: ConnState::Echoing,
            keeps_boundaries: socket_type.keeps_boundaries(),
            may_splice: !socket_type.keeps_boundaries(),
            held: None,
            bytes_in: 0,
            bytes_out: 0,
            started: now,
            last_active: now,
        }
    }

    /// Bytes held because the peer is not reading.
    pub fn held(&self) -> usize {
        match self.held.as_deref() {
            None => 0,
            Some(Held::Bytes { bytes, from }) => bytes.len() - from,
            Some(Held::Pipe(pipe)) => pipe.held(),
        }
    }

    /// Drives the connection after any readiness event: flush what is held,
    /// then read and echo until EAGAIN, the budget, the end, or (when the
    /// event said the peer is [`PeerSide::Open`]) a byte-stream read shorter
    /// than the buffer.
    pub fn drive(
        &mut self,
        scratch: &mut [u8],
        mut reads_left: u32,
        peer: PeerSide,
        now: Instant,
    ) -> Step {
        loop {
            let flushed = match self.held.as_deref_mut() {
                None => Ok(0),
                Some(Held::Bytes { bytes, from }) => {
                    write_some(&self.socket, &bytes[*from..]).inspect(|n| *from += n)
                }
                Some(Held::Pipe(pipe)) => pipe.drain(&self.socket),
            };
            match flushed {
                Ok(n) => {
                    self.bytes_out += n as u64;
                    if n > 0 {
                        self.last_active = now;
                    }
                }
                Err(e) => return Step::Close(reason_of(&e)),
            }
            if self.held() > 0 {
                // The peer is not reading: stop reading too until it does.
                return Step::Wait;
            }
            if matches!(self.held.as_deref(), Some(Held::Bytes { .. })) {
                // Everything went: give the memory back, an idle connection holds none.
                self.held = None;
            }
            if self.state == ConnState::Flushing {
                // SPEC §3 half-close: all echoed, now close our write side too.
                let _ = self.socket.shutdown(std::net::Shutdown::Write);
                return Step::Close(EndReason::Completed);
            }
            if reads_left == 0 {
                return Step::Yield;
            }
            reads_left -= 1;
            if let Some(Held::Pipe(pipe)) = self.held.as_deref_mut() {
                // Bulk: into the pipe (empty now), and round again to send it back.
                match pipe.fill(&self.socket) {
                    Ok(ReadOutcome::Data(n)) => {
                        self.bytes_in += n as u64;
                        self.last_active = now;
                    }
                    Ok(ReadOutcome::Eof) => self.state = ConnState::Flushing,
                    Ok(ReadOutcome::WouldBlock) => return Step::Wait,
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                        // This socket cannot be spliced; nothing moved: copy instead.
                        self.may_splice = false;
                        self.held = None;
                    }
                    Err(e) => return Step::Close(reason_of(&e)),
                }
                continue;
            }
            let read = if self.keeps_boundaries {
                read_message(&self.socket, scratch)
            } else {
                read_some(&self.socket, scratch)
            };
            let n = match read {
                Ok(ReadOutcome::Data(n)) => n,
                Ok(ReadOutcome::Eof) => {
                    self.state = ConnState::Flushing;
                    continue;
                }
                Ok(ReadOutcome::WouldBlock) => return Step::Wait,
                Err(e) => return Step::Close(reason_of(&e)),
            };
            self.bytes_in += n as u64;
            self.last_active = now;
            let sent = match write_some(&self.socket, &scratch[..n]) {
                Ok(sent) => sent,
                Err(e) => return Step::Close(reason_of(&e)),
            };
            self.bytes_out += sent as u64;
            // A message socket takes a message whole or not at all (EAGAIN),
            // so what is held is always whole messages.
            if sent < n {
                // Nothing was held (we only read with nothing held), so this starts afresh.
                self.held = Some(Box::new(Held::Bytes {
                    bytes: scratch[sent..n].to_vec(),
                    from: 0,
                }));
            } else if n == scratch.len() && n >= SPLICE_FROM && self.may_splice {
                // A full buffer: bulk. The rest goes through a pipe, if one can be made.
                self.held = Pipe::for_bulk(&self.socket, n).map(|pipe| Box::new(Held::Pipe(pipe)));
                self.may_splice = self.held.is_some();
            } else if n < scratch.len() && !self.keeps_boundaries && peer == PeerSide::Open {
                // A short read of a byte stream emptied the receive queue: the
                // next read could only return EAGAIN. (A message socket
                // returns one message per read, short or not.)
                return Step::Wait;
            }
        }
    }
}

fn reason_of(err: &io::Error) -> EndReason {
    match err.raw_os_error() {
        Some(libc::ECONNRESET) | Some(libc::EPIPE) | Some(libc::ECONNABORTED) => EndReason::Reset,
        // SPEC §3: a cut message (read_message) is never echoed; that connection ends.
        Some(libc::EMSGSIZE) => EndReason::Truncated,
        Some(code) => EndReason::Error(code),
        None => EndReason::Error(libc::EIO),
    }
}

/// Why a client exchange failed.
#[derive(Debug)]
pub enum ExchangeError {
    /// The echo differs from what was sent at `offset` (counted from 0).
    Mismatch { offset: u64, sent: u8, received: u8 },
    /// More came back than was sent.
    Longer { offset: u64 },
    /// The connection ended (EOF or error) with `received` of `sent` bytes back.
    EndedEarly {
        received: u64,
        sent: u64,
        cause: Option<io::Error>,
    },
    /// Writing the echo to our own output failed.
    Output(io::Error),
}

/// The client's bookkeeping: bytes sent but not yet seen again, compared byte
/// for byte as they return. Memory is bounded by what is in flight.
#[derive(Debug, Default)]
pub struct Verifier {
    in_flight: VecDeque<u8>,
    pub sent: u64,
    pub received: u64,
}

impl Verifier {
    /// Starts over for a new exchange, keeping the memory it has (a load
    /// generator restarts one per request).
    pub fn restart(&mut self) {
        self.in_flight.clear();
        self.sent = 0;
        self.received = 0;
    }

    /// Records bytes just written to the server.
    pub fn sent(&mut self, bytes: &[u8]) {
        self.in_flight.extend(bytes);
        self.sent += bytes.len() as u64;
    }

    /// Checks bytes just read from the server against what was sent,
    /// comparing slices rather than byte by byte (this runs on every chunk).
    pub fn received(&mut self, bytes: &[u8]) -> Result<(), ExchangeError> {
        let mut checked = 0;
        while checked < bytes.len() {
            let (front, _) = self.in_flight.as_slices();
            if front.is_empty() {
                return Err(ExchangeError::Longer {
                    offset: self.received,
                });
            }
            let n = front.len().min(bytes.len() - checked);
            let got = &bytes[checked..checked + n];
            if let Some(i) = front[..n].iter().zip(got).position(|(a, b)| a != b) {
                return Err(ExchangeError::Mismatch {
                    offset: self.received + i as u64,
                    sent: front[i],
                    received: got[i],
                });
            }
            self.in_flight.drain(..n);
            self.received += n as u64;
            checked += n;
        }
        Ok(())
    }

    /// The connection ended (EOF, or `cause`) before every byte came back.
    pub fn ended_early(&self, cause: Option<io::Error>) -> ExchangeError {
        ExchangeError::EndedEarly {
            received: self.received,
            sent: self.sent,
            cause,
        }
    }

    /// Whether every byte sent has come back.
    pub fn complete(&self) -> bool {
        self.in_flight.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Type};

    fn pair() -> (Socket, Socket) {
        pair_of(Type::STREAM)
    }

    /// A connected pair: the server end non-blocking, the client end with a read timeout.
    fn pair_of(ty: Type) -> (Socket, Socket) {
        let (a, b) = Socket::pair(Domain::UNIX, ty, None).unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        (a, b)
    }

    fn read_exact_blocking(mut s: &Socket, n: usize) -> Vec<u8> {
        let mut out = vec![0; n];
        s.read_exact(&mut out).unwrap();
        out
    }

    #[test]
    fn test_echoing_one_byte_writes() {
        let (server, mut client) = pair();
        let mut conn = StreamConn::new(server, SocketType::Stream, Instant::now());
        let mut scratch = [0u8; 8];
        for byte in b"hello" {
            client.write_all(&[*byte]).unwrap();
            assert_eq!(
                conn.drive(&mut scratch, 64, PeerSide::Closing, Instant::now()),
                Step::Wait
            );
        }
        assert_eq!(read_exact_blocking(&client, 5), b"hello");
        assert_eq!((conn.bytes_in, conn.bytes_out), (5, 5));
    }

    /// Echoes five buffers and a bit through a connection with a `buffer`-byte
    /// scratch buffer, then a half-close; checks every byte came back in
    /// order, and says whether the connection moved to a pipe on the way.
    fn bulk_echo(buffer: usize) -> bool {
        let (server, client) = pair();
        bulk_echo_on(server, client, buffer).0
    }

    /// Echoes 5 buffers and a bit from `client` through `server` to the end;
    /// says whether the connection moved to a pipe, and gives it back.
    fn bulk_echo_on(server: Socket, client: Socket, buffer: usize) -> (bool, StreamConn) {
        let mut conn = StreamConn::new(server, SocketType::Stream, Instant::now());
        let mut scratch = vec![0u8; buffer];
        let sent: Vec<u8> = (0..5 * buffer + 17).map(|i| (i * 7 % 251) as u8).collect();
        let writer = {
            let (mut client, sent) = (client.try_clone().unwrap(), sent.clone());
            std::thread::spawn(move || {
                client.write_all(&sent).unwrap();
                client.shutdown(std::net::Shutdown::Write).unwrap();
            })
        };
        let mut echoed = Vec::new();
        let mut piped = false;
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        client.set_nonblocking(true).unwrap();
        loop {
            let step = conn.drive(&mut scratch, 64, PeerSide::Closing, Instant::now());
            piped |= matches!(conn.held.as_deref(), Some(Held::Pipe(_)));
            let mut buf = [0u8; 8192];
            while let Ok(ReadOutcome::Data(n)) = read_some(&client, &mut buf) {
                echoed.extend_from_slice(&buf[..n]);
            }
            if step == Step::Close(EndReason::Completed) || Instant::now() > deadline {
                break;
            }
        }
        writer.join().unwrap();
        client.set_nonblocking(false).unwrap();
        let mut rest = Vec::new();
        let _ = (&client).read_to_end(&mut rest);
        echoed.extend(rest);
        assert_eq!(echoed.len(), sent.len());
        assert!(echoed == sent, "the echo differs from what was sent");
        assert_eq!(
            (conn.bytes_in, conn.bytes_out),
            (sent.len() as u64, sent.len() as u64)
        );
        (piped, conn)
    }

    /// A connected TCP pair on loopback: the server end non-blocking, the
    /// client end with a read timeout.
    #[cfg(target_os = "linux")]
    fn tcp_pair() -> (Socket, Socket) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        (Socket::from(server), Socket::from(client))
    }

    /// Over TCP a bulk connection also keeps at most one buffer of unsent
    /// bytes queued in the kernel (TCP_NOTSENT_LOWAT), which a connection
    /// that never filled its buffer leaves at the system's default.
    #[cfg(target_os = "linux")]
    #[test]
    fn test_echoing_bulk_over_tcp_queues_at_most_one_buffer_unsent() {
        let buffer = 2 * SPLICE_FROM;
        let (server, client) = tcp_pair();
        let default = server.tcp_notsent_lowat().unwrap();
        assert_ne!(default as usize, buffer);
        let (piped, conn) = bulk_echo_on(server, client, buffer);
        let lowat = conn.socket.tcp_notsent_lowat().unwrap() as usize;
        if cfg!(echokit_force_portable) {
            assert!(!piped);
            assert_eq!(lowat, default as usize);
        } else {
            assert!(piped, "a full read of {buffer} bytes is bulk");
            assert_eq!(lowat, buffer);
        }
    }

    /// A read that fills a buffer of 16 KiB or more is bulk: on Linux the
    /// connection moves to a pipe (splice), and the bytes still come back
    /// whole and in order, through a half-close at the end.
    #[test]
    fn test_echoing_bulk_goes_through_a_pipe_in_order() {
        let linux = cfg!(echokit_linux);
        assert_eq!(bulk_echo(SPLICE_FROM), linux);
    }

    /// Full reads of a small buffer (`--buffer-size 8` and the like) keep copying.
    #[test]
    fn test_echoing_small_buffers_never_take_a_pipe() {
        assert!(!bulk_echo(4096));
        assert!(!bulk_echo(8));
    }

    #[test]
    fn test_echoing_half_close_flushes_then_completes() {
        let (server, mut client) = pair();
        let mut conn = StreamConn::new(server, SocketType::Stream, Instant::now());
        let mut scratch = [0u8; 3];
        client.write_all(b"abcdefgh").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(
            conn.drive(&mut scratch, 64, PeerSide::Closing, Instant::now()),
            Step::Close(EndReason::Completed)
        );
        let mut all = Vec::new();
        client.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"abcdefgh");
    }

    /// A short read of a byte stream ends the turn when the event said the
    /// peer is open: the read after it could only return EAGAIN. When the
    /// event said the peer closed, the turn reads on to the end, which a
    /// short read can leave behind with no edge to come.
    #[test]
    fn test_echoing_short_read_ends_the_turn_unless_the_peer_closed() {
        let (server, mut client) = pair();
        let mut conn = StreamConn::new(server, SocketType::Stream, Instant::now());
        let mut scratch = [0u8; 64];
        client.write_all(b"hello").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(
            conn.drive(&mut scratch, 64, PeerSide::Open, Instant::now()),
            Step::Wait
        );
        assert_eq!(read_exact_blocking(&client, 5), b"hello");
        assert_eq!(conn.state, ConnState::Echoing, "the FIN is not read yet");
        assert_eq!(
            conn.drive(&mut scratch, 64, PeerSide::Closing, Instant::now()),
            Step::Close(EndReason::Completed)
        );
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn test_echoing_peer_not_reading_stops_reading() {
        peer_not_reading_is_held_to_one_buffer(4096);
    }

    /// The same through a pipe (a buffer large enough to splice, on Linux):
    /// what waits in the pipe is at most one buffer too.
    #[test]
    fn test_echoing_peer_not_reading_stops_reading_through_a_pipe() {
        peer_not_reading_is_held_to_one_buffer(SPLICE_FROM);
    }

    fn peer_not_reading_is_held_to_one_buffer(buffer: usize) {
        let (server, client) = pair();
        client.set_nonblocking(true).unwrap();
        let mut conn = StreamConn::new(server, SocketType::Stream, Instant::now());
        let mut scratch = vec![0u8; buffer];
        let chunk = vec![7u8; buffer];
        // The client floods without reading: the server must end up holding at
        // most one scratch buffer, and stop reading (Wait) rather than buffer more.
        let mut sent_total = 0usize;
        for _ in 0..10_000 {
            match write_some(&client, &chunk) {
                Ok(0) => {
                    let step = conn.drive(&mut scratch, 64, PeerSide::Closing, Instant::now());
                    if step == Step::Wait && conn.held() > 0 {
                        break;
                    }
                }
                Ok(n) => sent_total += n,
                Err(e) => panic!("{e}"),
            }
            conn.drive(&mut scratch, 64, PeerSide::Closing, Instant::now());
        }
        assert!(conn.held() > 0, "server should be holding unsent bytes");
        assert!(
            conn.held() <= scratch.len(),
            "held {} > one buffer",
            conn.held()
        );
        assert!(sent_total > 0);
        let linux = cfg!(echokit_linux);
        assert_eq!(
            matches!(conn.held.as_deref(), Some(Held::Pipe(_))),
            linux && buffer >= SPLICE_FROM,
            "held in a pipe exactly when bulk on Linux"
        );
        // A further drive without the peer reading reads nothing more.
        let before = conn.bytes_in;
        assert_eq!(
            conn.drive(&mut scratch, 64, PeerSide::Closing, Instant::now()),
            Step::Wait
        );
        assert_eq!(conn.bytes_in, before);
    }

    #[test]
    fn test_echoing_budget_yields() {
        let (server, mut client) = pair();
        let mut conn = StreamConn::new(server, SocketType::Stream, Instant::now());
        let mut scratch = [0u8; 2];
        client.write_all(b"abcdef").unwrap();
        assert_eq!(
            conn.drive(&mut scratch, 1, PeerSide::Closing, Instant::now()),
            Step::Yield
        );
        assert_eq!(conn.bytes_in, 2);
    }

    #[test]
    fn test_echoing_reset_closes() {
        let (server, client) = pair();
        let mut conn = StreamConn::new(server, SocketType::Stream, Instant::now());
        drop(client);
        let mut scratch = [0u8; 8];
        // A vanished Unix peer reads as EOF; our shutdown then completes.
        assert!(matches!(
            conn.drive(&mut scratch, 4, PeerSide::Closing, Instant::now()),
            Step::Close(_)
        ));
    }

    fn seqpacket_pair() -> (Socket, Socket) {
        pair_of(Type::SEQPACKET)
    }

    #[test]
    fn test_echoing_seqpacket_keeps_each_message_whole() {
        let (server, client) = seqpacket_pair();
        let mut conn = StreamConn::new(server, SocketType::SeqPacket, Instant::now());
        let mut scratch = [0u8; 16];
        client.send(b"one").unwrap();
        client.send(b"second").unwrap();
        // Each message is a short read, and still the second one is read in
        // the same turn: a short read ends a turn only on a byte stream.
        assert_eq!(
            conn.drive(&mut scratch, 64, PeerSide::Open, Instant::now()),
            Step::Wait
        );
        let mut buf = [0u8; 16];
        assert_eq!((&client).read(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"one");
        assert_eq!((&client).read(&mut buf).unwrap(), 6);
        assert_eq!(&buf[..6], b"second");
    }

    #[test]
    fn test_echoing_seqpacket_message_larger_than_the_buffer_closes_unechoed() {
        let (server, client) = seqpacket_pair();
        let mut conn = StreamConn::new(server, SocketType::SeqPacket, Instant::now());
        let mut scratch = [0u8; 4];
        client.send(b"too long").unwrap();
        assert_eq!(
            conn.drive(&mut scratch, 64, PeerSide::Closing, Instant::now()),
            Step::Close(EndReason::Truncated)
        );
        assert_eq!(conn.bytes_out, 0, "a cut message is never echoed");
    }

    #[test]
    fn test_echoing_seqpacket_half_close_completes() {
        let (server, client) = seqpacket_pair();
        let mut conn = StreamConn::new(server, SocketType::SeqPacket, Instant::now());
        let mut scratch = [0u8; 16];
        client.send(b"last").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(
            conn.drive(&mut scratch, 64, PeerSide::Closing, Instant::now()),
            Step::Close(EndReason::Completed)
        );
        let mut buf = [0u8; 16];
        assert_eq!((&client).read(&mut buf).unwrap(), 4);
        assert_eq!((&client).read(&mut buf).unwrap(), 0, "then EOF");
    }

    #[test]
    fn verifier_finds_first_difference() {
        let mut v = Verifier::default();
        v.sent(b"hello");
        v.received(b"he").unwrap();
        match v.received(b"lp") {
            Err(ExchangeError::Mismatch {
                offset,
                sent,
                received,
            }) => assert_eq!((offset, sent, received), (3, b'l', b'p')),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn verifier_reports_longer_echo() {
        let mut v = Verifier::default();
        v.sent(b"ab");
        assert!(matches!(
            v.received(b"abc"),
            Err(ExchangeError::Longer { offset: 2 })
        ));
    }
}
