//! The client side of an echo exchange.
//!
//! Streams: write and read at the same time on one non-blocking socket driven
//! by a `mio` poll, so a payload larger than both socket buffers cannot
//! deadlock (SPEC §3); read until every byte sent has come back — never "a
//! short read means done", which hangs on a message whose length is a
//! multiple of the buffer size. At most [`MAX_UNECHOED`] bytes are under way,
//! and the write side is shut only once every byte is back, or after
//! [`QUIET`] silence for a server that answers only after EOF (SPEC §3).
//! Input that comes from a file or stdin is read
//! on a helper thread into a bounded channel, so a slow or interactive source
//! never stops the echo from being read.
//!
//! Datagrams: one datagram out, one back, compared whole; resent on silence.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::Socket;

use super::stream::{ExchangeError, ReadOutcome, Verifier, read_some, recv_message, write_some};

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
    /// No byte moved either way for `idle` (`send --idle-timeout`).
    Idle {
        idle: Duration,
        received: u64,
        sent: u64,
    },
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

/// At most this many bytes written and not yet echoed, while the server
/// echoes (SPEC §3). Some servers stall with more in flight: `ncat --exec
/// /bin/cat` blocks writing into cat's full pipe while cat blocks writing
/// into ncat's, once about 56 KiB is under way. Lifted by [`QUIET`].
pub const MAX_UNECHOED: u64 = 32 << 10;

/// Silence that tells a server that answers only after EOF (a buffering
/// pipe, a server that reads to EOF first) from one that echoes as it reads:
/// with nothing back for this long, the client stops pacing and sends the
/// rest, and once all is sent it half-closes without waiting for the echo.
pub const QUIET: Duration = Duration::from_millis(200);

/// Where a client exchange stands, as `send -v` would tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Input is still coming: writing it and reading the echo at once.
    Sending,
    /// Input ended and every byte is written: reading the rest of the echo.
    /// With half-close, our write side is shut once it is all back (or after
    /// [`QUIET`], for a server that answers only after EOF).
    Draining,
    /// Every byte sent has come back.
    Done,
}

impl std::fmt::Display for ClientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientState::Sending => "sending",
            ClientState::Draining => "draining",
            ClientState::Done => "done",
        })
    }
}

/// What the caller should do after driving a [`ClientConn`].
#[derive(Debug, PartialEq, Eq)]
pub enum ClientStep {
    /// The outbound buffer is empty: give it the next input chunk ([`ClientConn::offer`]) or say the input ended ([`ClientConn::finish_input`]).
    NeedInput,
    /// Wait for the socket's next readiness event (or [`ClientConn::wake_at`]).
    Wait,
    /// The exchange is complete.
    Done,
}

/// The client's side of one stream exchange, as a state machine (OpenBSD
/// nc's `readwrite()` model): one buffer per direction — the input chunk on
/// its way to the server, and the read buffer for the echo — so memory is
/// bounded whatever the payload. It writes and reads in the same turn, so a
/// payload larger than both socket buffers cannot deadlock (SPEC §3), and it
/// reads until every byte sent has come back, never trusting a short read.
///
/// It keeps at most [`MAX_UNECHOED`] bytes unechoed, and shuts its write side
/// only once every byte is back, so a server that stops echoing at EOF
/// (`ncat --exec /bin/cat`, `socat … EXEC:cat`) still returns everything.
/// A server that answers only after EOF is told by [`QUIET`] silence: then
/// the pace is lifted and, once all is sent, the write side is shut.
pub struct ClientConn {
    socket: Socket,
    state: ClientState,
    half_close: bool,
    input_ended: bool,
    /// Whether [`MAX_UNECHOED`] still holds (lifted by [`QUIET`] silence).
    paced: bool,
    /// Whether our write side is shut already.
    shut: bool,
    outbound: Vec<u8>,
    outbound_from: usize,
    inbound: Vec<u8>,
    verifier: Verifier,
    /// When a byte last moved either way (for `--idle-timeout` and [`QUIET`]).
    pub last_progress: Instant,
}

impl ClientConn {
    /// Takes a connected, non-blocking stream socket. With `half_close`, our
    /// write side is shut down once every byte is back (see [`QUIET`]).
    pub fn new(socket: Socket, buffer_size: usize, half_close: bool) -> ClientConn {
        ClientConn {
            socket,
            state: ClientState::Sending,
            half_close,
            input_ended: false,
            paced: true,
            shut: false,
            outbound: Vec::new(),
            outbound_from: 0,
            inbound: vec![0; buffer_size.max(1)],
            verifier: Verifier::default(),
            last_progress: Instant::now(),
        }
    }

    /// Where the exchange stands.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// Bytes written and bytes that came back so far.
    pub fn counts(&self) -> Exchanged {
        Exchanged {
            sent: self.verifier.sent,
            received: self.verifier.received,
        }
    }

    fn unechoed(&self) -> u64 {
        self.verifier.sent - self.verifier.received
    }

    /// Whether the pace alone keeps the next bytes from being written.
    fn held_by_pace(&self) -> bool {
        self.paced
            && self.state == ClientState::Sending
            && self.outbound_from < self.outbound.len()
            && self.unechoed() >= MAX_UNECHOED
    }

    /// Whether all is sent, nothing is back yet and our write side is still open.
    fn waiting_to_shut(&self) -> bool {
        self.half_close && !self.shut && self.state == ClientState::Draining
    }

    /// When [`ClientConn::drive`] must run again even without a socket
    /// event: when [`QUIET`] silence would lift the pace or shut our write side.
    pub fn wake_at(&self) -> Option<Instant> {
        (self.held_by_pace() || self.waiting_to_shut()).then(|| self.last_progress + QUIET)
    }

    /// Hands over the next input chunk; only when [`ClientStep::NeedInput`] asked for it.
    pub fn offer(&mut self, chunk: Vec<u8>) {
        debug_assert!(self.outbound_from == self.outbound.len());
        self.outbound = chunk;
        self.outbound_from = 0;
    }

    /// Says the input has ended.
    pub fn finish_input(&mut self) {
        self.input_ended = true;
    }

    /// Starts a new exchange on the same connection (repeated `send --count`).
    pub fn restart(&mut self) {
        self.state = ClientState::Sending;
        self.input_ended = false;
        self.paced = true;
        self.verifier.restart();
    }

    fn shut_write(&mut self) {
        if self.half_close && !self.shut {
            self.shut = true;
            let _ = self.socket.shutdown(std::net::Shutdown::Write);
        }
    }

    /// Writes what the socket (and the pace) takes, reads what has come back
    /// (handing each checked chunk to `sink`), and says what is needed next.
    pub fn drive(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
        now: Instant,
    ) -> Result<ClientStep, ClientError> {
        let quiet = now.saturating_duration_since(self.last_progress) >= QUIET;
        if self.held_by_pace() && quiet {
            // Nothing back for a while with bytes under way: a server that
            // answers only after EOF. It gets the rest at once.
            self.paced = false;
        }
        let mut need_input;
        // Write, then read; again while the echo read opens room under the
        // pace: nothing else would wake us for it (no EAGAIN was hit, so no
        // writable edge comes).
        loop {
            need_input = self.write_phase(now)?;
            let echoed = self.read_phase(sink, now)?;
            if !(echoed && self.paced && self.state == ClientState::Sending && !need_input) {
                break;
            }
        }
        if self.state == ClientState::Draining {
            if self.verifier.complete() {
                // Like `nc -N`, and later than it: after input EOF, an empty
                // buffer *and* every byte back, so a server that stops
                // echoing at EOF has nothing left to drop.
                self.shut_write();
                self.state = ClientState::Done;
                return Ok(ClientStep::Done);
            }
            if now.saturating_duration_since(self.last_progress) >= QUIET {
                // All sent and nothing back for a while: the server may be
                // waiting for EOF before it answers.
                self.shut_write();
            }
        }
        Ok(if need_input {
            ClientStep::NeedInput
        } else {
            ClientStep::Wait
        })
    }

    /// Writes what the socket and the pace take; `true` when the chunk is
    /// all written and the next is needed.
    fn write_phase(&mut self, now: Instant) -> Result<bool, ClientError> {
        if self.state != ClientState::Sending {
            return Ok(false);
        }
        while self.outbound_from < self.outbound.len() {
            let mut end = self.outbound.len();
            if self.paced {
                let room = MAX_UNECHOED.saturating_sub(self.unechoed());
                if room == 0 {
                    break; // the echo makes room; [`QUIET`] lifts the pace
                }
                end = end.min(self.outbound_from.saturating_add(room as usize));
            }
            match write_some(&self.socket, &self.outbound[self.outbound_from..end]) {
                // EAGAIN: the server is not reading; wait for writable.
                Ok(0) => break,
                Ok(n) => {
                    let end = self.outbound_from + n;
                    self.verifier.sent(&self.outbound[self.outbound_from..end]);
                    self.outbound_from = end;
                    self.last_progress = now;
                }
                Err(e) => return Err(self.verifier.ended_early(Some(e)).into()),
            }
        }
        if self.outbound_from < self.outbound.len() {
            return Ok(false);
        }
        if self.input_ended {
            self.state = ClientState::Draining;
            return Ok(false);
        }
        Ok(true)
    }

    /// Reads and checks every echoed byte the socket holds, handing each
    /// chunk to `sink`; `true` when any came.
    fn read_phase(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
        now: Instant,
    ) -> Result<bool, ClientError> {
        let mut echoed = false;
        loop {
            match read_some(&self.socket, &mut self.inbound) {
                Ok(ReadOutcome::Data(n)) => {
                    self.verifier.received(&self.inbound[..n])?;
                    self.last_progress = now;
                    echoed = true;
                    sink(&self.inbound[..n]).map_err(ExchangeError::Output)?;
                }
                // EOF is the end only once everything sent came back.
                Ok(ReadOutcome::Eof)
                    if self.state == ClientState::Draining && self.verifier.complete() =>
                {
                    return Ok(echoed);
                }
                Ok(ReadOutcome::Eof) => return Err(self.verifier.ended_early(None).into()),
                Ok(ReadOutcome::WouldBlock) => return Ok(echoed),
                Err(e) => return Err(self.verifier.ended_early(Some(e)).into()),
            }
        }
    }

    /// The socket, e.g. to shut it down after repeated exchanges.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }
}

enum Input {
    Bytes(Vec<u8>),
    Channel(Receiver<io::Result<Vec<u8>>>),
}

/// A [`ClientConn`] and the poll that drives it.
pub struct StreamClient {
    conn: ClientConn,
    poll: Poll,
    waker: Arc<Waker>,
    events: Events,
    buffer_size: usize,
}

impl StreamClient {
    /// Takes a connected, non-blocking stream socket.
    pub fn new(socket: Socket, buffer_size: usize, half_close: bool) -> io::Result<StreamClient> {
        let poll = Poll::new()?;
        poll.registry().register(
            &mut SourceFd(&socket.as_raw_fd()),
            SOCKET,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let waker = Arc::new(Waker::new(poll.registry(), SOURCE)?);
        Ok(StreamClient {
            conn: ClientConn::new(socket, buffer_size, half_close),
            poll,
            waker,
            events: Events::with_capacity(16),
            buffer_size,
        })
    }

    /// Sends all of `source`, hands every echoed chunk to `sink` as it arrives
    /// (after checking it), and returns once every byte is back. It gives up
    /// at `deadline`, or when no byte moved either way for `idle`.
    pub fn exchange(
        &mut self,
        source: Source,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
        deadline: Option<Instant>,
        idle: Option<Duration>,
    ) -> Result<Exchanged, ClientError> {
        let mut input = match source {
            Source::Bytes(bytes) => Input::Bytes(bytes),
            Source::Reader(reader) => Input::Channel(spawn_reader(
                reader,
                self.buffer_size,
                Arc::clone(&self.waker),
            )),
        };
        self.conn.restart();
        self.conn.last_progress = Instant::now();
        loop {
            let now = Instant::now();
            match self.conn.drive(sink, now)? {
                ClientStep::Done => return Ok(self.conn.counts()),
                ClientStep::NeedInput => match next_chunk(&mut input) {
                    Next::Chunk(chunk) => {
                        self.conn.offer(chunk);
                        continue;
                    }
                    Next::Done => {
                        self.conn.finish_input();
                        continue;
                    }
                    Next::Failed(e) => return Err(ClientError::Input(e)),
                    Next::Pending => {}
                },
                ClientStep::Wait => {}
            }
            let counts = self.conn.counts();
            let mut wake = match (deadline, self.conn.wake_at()) {
                (Some(d), Some(w)) => Some(d.min(w)),
                (d, w) => d.or(w),
            };
            if let Some(idle) = idle {
                let at = self.conn.last_progress + idle;
                if now >= at {
                    return Err(ClientError::Idle {
                        idle,
                        received: counts.received,
                        sent: counts.sent,
                    });
                }
                wake = Some(wake.map_or(at, |d| d.min(at)));
            }
            if deadline.is_some_and(|d| now >= d) {
                return Err(ClientError::TimedOut {
                    received: counts.received,
                    sent: counts.sent,
                });
            }
            let timeout = wake.map(|at| at.saturating_duration_since(now));
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ClientError::Poll(e)),
            }
        }
    }

    /// The socket, e.g. to shut it down after repeated exchanges.
    pub fn socket(&self) -> &Socket {
        self.conn.socket()
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
    /// The reply differs from what was sent, is shorter or longer; `reply`
    /// is what came back (cut to [`REPLY_ROOM`] when longer still).
    Mismatch {
        error: ExchangeError,
        reply: Vec<u8>,
    },
    /// Sending or receiving failed (refused: ICMP port unreachable; no such socket file…).
    Io(io::Error),
}

/// The least room for a reply: any UDP datagram fits whole.
pub const REPLY_ROOM: usize = 64 << 10;

/// Sends `payload` as one datagram and waits for the same datagram back,
/// resending after each silent wait in `waits` (the deadline caps them all).
pub fn datagram_exchange(
    socket: &Socket,
    payload: &[u8],
    waits: &[Duration],
    deadline: Option<Instant>,
) -> Result<(Vec<u8>, Duration), DatagramError> {
    // Room for more than was sent, so a longer reply is seen as such and
    // can be shown whole (a UDP datagram always fits).
    let mut buf = vec![0u8; (payload.len() + 1).max(REPLY_ROOM)];
    // Leftovers from an earlier, late exchange are not this one's reply. A
    // zero-length read ends the sweep: on a message connection it is EOF,
    // which stays readable for ever.
    while let Ok(Some((n, _))) = recv_message(socket, &mut buf) {
        if n == 0 {
            break;
        }
    }
    let mut tries = 0;
    for wait in waits {
        tries += 1;
        let started = Instant::now();
        let mut until = later(started, *wait);
        if let Some(d) = deadline {
            until = until.min(d);
        }
        send_datagram(socket, payload, until)?;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if !wait_readable(socket, left).map_err(DatagramError::Io)? {
                if Instant::now() < until {
                    continue; // poll(2) waits at most ~65s at a time
                }
                break;
            }
            match recv_message(socket, &mut buf).map_err(DatagramError::Io)? {
                None => continue,
                // Cut by the kernel: longer than the buffer, so longer than sent.
                Some((n, _)) => {
                    let reply = buf[..n].to_vec();
                    if let Err(error) = compare_datagram(payload, &reply) {
                        return Err(DatagramError::Mismatch { error, reply });
                    }
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

/// `from + wait`; a wait no `Instant` can hold (`Duration::MAX`: for ever) is a century.
fn later(from: Instant, wait: Duration) -> Instant {
    from.checked_add(wait)
        .or_else(|| from.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(from)
}

/// One exchange on a SOCK_SEQPACKET connection (SPEC §3): the input as one
/// message, the same message back, then our half-close and the server's EOF.
/// Empty input sends no message (a zero-length message reads as EOF) and is
/// a valid exchange. A message is never resent: on a connection it arrives.
pub fn message_exchange(
    socket: &Socket,
    payload: &[u8],
    wait: Duration,
    deadline: Option<Instant>,
) -> Result<(Vec<u8>, Duration), DatagramError> {
    let started = Instant::now();
    let reply = if payload.is_empty() {
        Vec::new()
    } else {
        datagram_exchange(socket, payload, &[wait], deadline)?.0
    };
    // Like `send` over a stream: our write side closes after the last message.
    let _ = socket.shutdown(std::net::Shutdown::Write);
    let mut until = later(Instant::now(), wait);
    if let Some(d) = deadline {
        until = until.min(d);
    }
    let mut buf = [0u8; 1];
    loop {
        match recv_message(socket, &mut buf).map_err(DatagramError::Io)? {
            Some((0, false)) => return Ok((reply, started.elapsed())),
            Some(_) => {
                return Err(DatagramError::Mismatch {
                    error: ExchangeError::Longer {
                        offset: payload.len() as u64,
                    },
                    reply,
                });
            }
            None => {}
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DatagramError::TimedOut { tries: 1 });
        }
        wait_readable(socket, left).map_err(DatagramError::Io)?;
    }
}

/// How `reply` differs from `sent`: the first differing byte first, then a
/// longer or a shorter reply.
fn compare_datagram(sent: &[u8], reply: &[u8]) -> Result<(), ExchangeError> {
    if let Some(offset) = sent.iter().zip(reply).position(|(a, b)| a != b) {
        return Err(ExchangeError::Mismatch {
            offset: offset as u64,
            sent: sent[offset],
            received: reply[offset],
        });
    }
    if reply.len() > sent.len() {
        return Err(ExchangeError::Longer {
            offset: sent.len() as u64,
        });
    }
    if reply.len() < sent.len() {
        return Err(ExchangeError::EndedEarly {
            received: reply.len() as u64,
            sent: sent.len() as u64,
            cause: None,
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stream::{PeerSide, Step, StreamConn};
    use crate::transport::SocketType;
    use socket2::{Domain, Type};

    fn pair() -> (Socket, Socket) {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None).unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    /// Drives a client against an in-memory echo server (the server's own
    /// connection state machine) until the client is done or stuck.
    fn run_against_echo(
        payload: &[u8],
        chunk: usize,
        client_buffer: usize,
    ) -> Result<Exchanged, ClientError> {
        let (client_end, server_end) = pair();
        let mut client = ClientConn::new(client_end, client_buffer, true);
        let mut server = StreamConn::new(server_end, SocketType::Stream, Instant::now());
        let mut scratch = vec![0u8; 7];
        let mut chunks = payload.chunks(chunk);
        let mut echoed = Vec::new();
        for _ in 0..1_000_000 {
            let mut sink = |b: &[u8]| {
                echoed.extend_from_slice(b);
                Ok(())
            };
            match client.drive(&mut sink, Instant::now())? {
                ClientStep::Done => {
                    assert_eq!(echoed, payload);
                    return Ok(client.counts());
                }
                ClientStep::NeedInput => match chunks.next() {
                    Some(c) => client.offer(c.to_vec()),
                    None => client.finish_input(),
                },
                ClientStep::Wait => {}
            }
            if let Step::Close(_) = server.drive(&mut scratch, 4, PeerSide::Closing, Instant::now())
            {
                // The server finished its side; the client reads the rest.
            }
        }
        panic!("the exchange never completed: {:?}", client.state());
    }

    #[test]
    fn test_sending_one_byte_chunks_completes() {
        let done = run_against_echo(b"hello, echo", 1, 3).unwrap();
        assert_eq!((done.sent, done.received), (11, 11));
    }

    #[test]
    fn test_sending_a_multiple_of_the_buffer_size_completes() {
        // The length that hangs a client trusting "a short read means done".
        let payload = vec![b'x'; 64];
        let done = run_against_echo(&payload, 16, 16).unwrap();
        assert_eq!(done.received, 64);
    }

    #[test]
    fn test_sending_more_than_the_socket_buffers_hold_does_not_deadlock() {
        let payload: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
        let done = run_against_echo(&payload, 64 << 10, 64 << 10).unwrap();
        assert_eq!(done.received, payload.len() as u64);
    }

    #[test]
    fn test_sending_empty_input_is_a_valid_exchange() {
        let done = run_against_echo(b"", 1, 8).unwrap();
        assert_eq!((done.sent, done.received), (0, 0));
    }

    #[test]
    fn test_draining_a_wrong_echo_names_the_first_differing_byte() {
        let (client_end, peer) = pair();
        let mut client = ClientConn::new(client_end, 16, true);
        let mut discard = |_: &[u8]| Ok(());
        assert_eq!(
            client.drive(&mut discard, Instant::now()).unwrap(),
            ClientStep::NeedInput
        );
        client.offer(b"abc".to_vec());
        client.finish_input();
        client.drive(&mut discard, Instant::now()).unwrap();
        assert_eq!(client.state(), ClientState::Draining);
        let mut got = [0u8; 3];
        (&peer).read_exact(&mut got).unwrap();
        std::io::Write::write_all(&mut &peer, b"abX").unwrap();
        match client.drive(&mut discard, Instant::now()) {
            Err(ClientError::Exchange(ExchangeError::Mismatch { offset, .. })) => {
                assert_eq!(offset, 2)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn test_draining_a_peer_that_closes_early_is_ended_early() {
        let (client_end, peer) = pair();
        let mut client = ClientConn::new(client_end, 16, true);
        let mut discard = |_: &[u8]| Ok(());
        client.drive(&mut discard, Instant::now()).unwrap();
        client.offer(b"abcd".to_vec());
        client.finish_input();
        client.drive(&mut discard, Instant::now()).unwrap();
        std::io::Write::write_all(&mut &peer, b"ab").unwrap();
        drop(peer);
        match client.drive(&mut discard, Instant::now()) {
            Err(ClientError::Exchange(ExchangeError::EndedEarly { received, sent, .. })) => {
                assert_eq!((received, sent), (2, 4))
            }
            other => panic!("{other:?}"),
        }
    }

    /// A peer on its own thread, blocking, like the foreign servers SPEC §3 names.
    fn peer_thread(behave: impl FnOnce(std::os::unix::net::UnixStream) + Send + 'static) -> Socket {
        let (client_end, peer) = std::os::unix::net::UnixStream::pair().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        std::thread::spawn(move || behave(peer));
        let socket = Socket::from(std::os::fd::OwnedFd::from(client_end));
        socket.set_nonblocking(true).unwrap();
        socket
    }

    fn exchange_with(socket: Socket, payload: &[u8]) -> Result<Vec<u8>, ClientError> {
        let mut client = StreamClient::new(socket, 64 << 10, true).unwrap();
        let mut echoed = Vec::new();
        let mut sink = |b: &[u8]| {
            echoed.extend_from_slice(b);
            Ok(())
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        client.exchange(
            Source::Bytes(payload.to_vec()),
            &mut sink,
            Some(deadline),
            None,
        )?;
        Ok(echoed)
    }

    #[test]
    fn test_a_peer_that_drops_its_pending_echo_at_eof_gets_eof_only_after_the_echo() {
        // `ncat --exec /bin/cat`: once it reads EOF, what cat has not yet
        // written back is lost. This peer looks for EOF before each echo.
        let socket = peer_thread(|mut peer| {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = match peer.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                std::thread::sleep(Duration::from_millis(20));
                let mut probe = [0u8; 1];
                let flags =
                    nix::sys::socket::MsgFlags::MSG_PEEK | nix::sys::socket::MsgFlags::MSG_DONTWAIT;
                let eof = matches!(
                    nix::sys::socket::recv(peer.as_raw_fd(), &mut probe, flags),
                    Ok(0)
                );
                if eof {
                    return;
                }
                std::io::Write::write_all(&mut peer, &buf[..n]).unwrap();
            }
        });
        assert_eq!(exchange_with(socket, b"hello\n").unwrap(), b"hello\n");
    }

    #[test]
    fn test_a_peer_that_answers_only_after_eof_gets_it_after_a_quiet_while() {
        // A buffering pipe: nothing comes back before our EOF. More than
        // the pace lets through, so the pace must be lifted too.
        let payload: Vec<u8> = (0..(3 * MAX_UNECHOED as usize)).map(|i| i as u8).collect();
        let socket = peer_thread(|mut peer| {
            let mut all = Vec::new();
            peer.read_to_end(&mut all).unwrap();
            std::io::Write::write_all(&mut peer, &all).unwrap();
        });
        let started = Instant::now();
        assert_eq!(exchange_with(socket, &payload).unwrap(), payload);
        assert!(started.elapsed() >= QUIET, "{:?}", started.elapsed());
    }

    #[test]
    fn idle_timeout_names_the_bytes_moved() {
        let (client_end, _silent_peer) = pair();
        let mut client = StreamClient::new(client_end, 16, true).unwrap();
        let mut discard = |_: &[u8]| Ok(());
        let started = Instant::now();
        let idle = Duration::from_millis(100);
        match client.exchange(
            Source::Bytes(b"ping".to_vec()),
            &mut discard,
            Some(started + Duration::from_secs(10)),
            Some(idle),
        ) {
            Err(ClientError::Idle { sent, received, .. }) => assert_eq!((sent, received), (4, 0)),
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() >= idle && started.elapsed() < Duration::from_secs(5));
    }
}
