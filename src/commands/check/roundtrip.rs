//! One row's round trips: the payload set of SPEC §4 check through one
//! address, with the client code `send` uses, under one deadline.
//!
//! Streams get 1 byte, exact multiples of the buffer size (1× and 3×: the
//! lengths that hang a client relying on "a short read means done"), and more
//! than the socket buffers of both ends hold (what deadlocks a client that
//! writes everything before reading), each on its own connection, with the
//! client `send` uses: paced, half-closed once every byte is back. Datagrams
//! get 1 byte and the largest datagram the transport carries, on one socket. The payload bytes follow a
//! 251-byte cycle, so a chunk echoed twice, dropped or out of order shows.

use std::time::{Duration, Instant};

use socket2::Socket;

use crate::commands::client_failure::ClientFailure;
use crate::engine::client::{
    DatagramError, Source, StreamClient, datagram_exchange, message_exchange,
};
use crate::error::describe;
use crate::output::Output;
use crate::transport::{self, Connection};
use crate::transport::{Kind, SocketAddress, SocketType};

use super::table::{self, Verdict};

/// How long to wait for each datagram try; the row's deadline cuts them short.
const DATAGRAM_WAITS: [Duration; 6] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

/// What to round-trip through one address.
pub struct Trip<'a> {
    pub kind: Kind,
    pub target: &'a SocketAddress,
    /// Read size of the client; the stream payloads are built around it.
    pub buffer_size: usize,
    /// The largest datagram to send (datagram rows).
    pub max_datagram: usize,
    /// The whole row's budget (`--timeout`).
    pub timeout: Duration,
    /// For `-v` lines: the row's transport and address.
    pub label: &'a str,
    /// The row's address as shown, for the failure words (rows print them without it).
    pub shown: &'a str,
}

impl Trip<'_> {
    /// Runs every payload; PASS only when each came back byte for byte.
    pub fn run(&self, out: &Output) -> Verdict {
        let deadline = Instant::now() + self.timeout;
        let result = match self.kind.socket_type {
            SocketType::Stream => self.streams(deadline, out),
            SocketType::Datagram => self.datagrams(deadline, out),
            SocketType::SeqPacket => self.messages(deadline, out),
        };
        match result {
            Ok((rtt, payloads)) => {
                let what = match self.kind.socket_type {
                    SocketType::Stream => "",
                    SocketType::Datagram => " datagrams",
                    SocketType::SeqPacket => " messages",
                };
                let mut verdict =
                    Verdict::pass(format!("echoed {}{what}", table::sizes(&payloads)));
                verdict.rtt = Some(rtt);
                verdict.payloads = payloads;
                verdict
            }
            Err((reason, payloads)) => {
                let mut verdict = Verdict::fail(reason);
                verdict.payloads = payloads;
                verdict
            }
        }
    }

    /// How the row's failures are worded: `send`'s words, without the address.
    fn failure(&self) -> ClientFailure<'_> {
        ClientFailure {
            addr: self.shown,
            kind: self.kind,
            idle: None,
        }
    }

    fn note(&self, out: &Output, size: usize, took: Duration) {
        out.verbose(
            1,
            &format!(
                "{}: {} echoed in {}",
                self.label,
                table::size(size),
                table::rtt(took)
            ),
        );
    }

    /// The stream payloads, one connection each.
    fn streams(
        &self,
        deadline: Instant,
        out: &Output,
    ) -> Result<(Duration, Vec<usize>), (String, Vec<usize>)> {
        let mut done = Vec::new();
        let first = self.connect(deadline).map_err(|r| (r, Vec::new()))?;
        let mut sizes = vec![
            1,
            self.buffer_size,
            3 * self.buffer_size,
            large_payload(&first.socket, self.buffer_size),
        ];
        sizes.dedup();
        let mut first = Some(first);
        let mut rtt = Duration::ZERO;
        for &size in &sizes {
            let conn = match first.take() {
                Some(conn) => conn,
                None => self.connect(deadline).map_err(|r| (r, done.clone()))?,
            };
            let took = self
                .stream_once(conn, size, deadline)
                .map_err(|r| (format!("{} payload: {r}", table::size(size)), done.clone()))?;
            self.note(out, size, took);
            if size == 1 {
                rtt = took;
            }
            done.push(size);
        }
        Ok((rtt, done))
    }

    fn stream_once(
        &self,
        conn: Connection,
        size: usize,
        deadline: Instant,
    ) -> Result<Duration, String> {
        // A row passes only when the connection is what its transport
        // promises, as the kernel says of this end once the handshake is
        // done (an MPTCP row: MP_CAPABLE both ways, so both ends are MPTCP).
        if let Some(over) = conn.transport.in_use(&conn.socket) {
            if !over.as_promised {
                return Err(format!(
                    "the connection runs over {}, not {}",
                    over.words,
                    conn.transport.name()
                ));
            }
        }
        let mut client = StreamClient::new(conn.socket, self.buffer_size, true)
            .map_err(|e| format!("cannot start the event loop: {}", describe(&e)))?;
        let started = Instant::now();
        let mut discard = |_: &[u8]| Ok(());
        match client.exchange(
            Source::Bytes(pattern(size)),
            &mut discard,
            Some(deadline),
            None,
        ) {
            Ok(_) => Ok(started.elapsed()),
            Err(e) => Err(self.failure().stream(e).brief()),
        }
    }

    /// Connects for one stream payload, within what is left of the deadline.
    fn connect(&self, deadline: Instant) -> Result<Connection, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.failure().connect_timeout().brief());
        }
        transport::connect(self.kind, self.target, Some(left))
            .map_err(|e| self.failure().connect(self.target, e).brief())
    }

    /// The datagram payloads, on one socket.
    fn datagrams(
        &self,
        deadline: Instant,
        out: &Output,
    ) -> Result<(Duration, Vec<usize>), (String, Vec<usize>)> {
        let conn = transport::connect(Kind::DATAGRAM, self.target, None)
            .map_err(|e| (self.failure().connect(self.target, e).brief(), Vec::new()))?;
        self.whole_messages(out, "datagram", |payload| {
            datagram_exchange(&conn.socket, payload, &DATAGRAM_WAITS, Some(deadline))
                .map(|(_, took)| took)
                .map_err(Failure::Exchange)
        })
    }

    /// The message payloads (SOCK_SEQPACKET), each on its own connection, as `send` sends them.
    fn messages(
        &self,
        deadline: Instant,
        out: &Output,
    ) -> Result<(Duration, Vec<usize>), (String, Vec<usize>)> {
        self.whole_messages(out, "message", |payload| {
            let conn = self.connect(deadline).map_err(Failure::Connect)?;
            let left = deadline.saturating_duration_since(Instant::now());
            message_exchange(&conn.socket, payload, left, Some(deadline))
                .map(|(_, took)| took)
                .map_err(Failure::Exchange)
        })
    }

    /// 1 byte and the largest message the transport carries, each sent whole
    /// by `exchange` and checked whole; `noun` names them in reasons.
    fn whole_messages(
        &self,
        out: &Output,
        noun: &str,
        mut exchange: impl FnMut(&[u8]) -> Result<Duration, Failure>,
    ) -> Result<(Duration, Vec<usize>), (String, Vec<usize>)> {
        let mut sizes = vec![1, self.max_datagram];
        sizes.dedup();
        let mut done = Vec::new();
        let mut rtt = Duration::ZERO;
        for &size in &sizes {
            match exchange(&pattern(size)) {
                Ok(took) => {
                    self.note(out, size, took);
                    if size == 1 {
                        rtt = took;
                    }
                    done.push(size);
                }
                Err(Failure::Connect(why)) => return Err((why, done)),
                Err(Failure::Exchange(e)) => {
                    let why = self.failure().message(e, size, self.target, self.shown);
                    let why = why.brief();
                    return Err((format!("{} {noun}: {why}", table::size(size)), done));
                }
            }
        }
        Ok((rtt, done))
    }
}

/// Why one whole-message payload failed: before it was sent, or in the exchange.
enum Failure {
    Connect(String),
    Exchange(DatagramError),
}

/// More than the socket buffers of both ends hold: twice what the client's
/// own send and receive buffers hold (the server's are alike), at least 4×
/// the buffer size and 1 MiB, rounded up to whole MiB.
fn large_payload(socket: &Socket, buffer_size: usize) -> usize {
    const MIB: usize = 1 << 20;
    let held = socket.send_buffer_size().unwrap_or(0) + socket.recv_buffer_size().unwrap_or(0);
    let at_least = (2 * held + 1).max(4 * buffer_size).max(MIB);
    at_least.div_ceil(MIB) * MIB
}

/// `len` bytes of a 251-byte cycle shifted each turn: no power-of-two period.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add((i / 251) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_has_no_power_of_two_period() {
        let p = pattern(70_000);
        for period in [8usize, 256, 4096, 65_536] {
            assert!(
                p[..p.len() - period]
                    .iter()
                    .zip(&p[period..])
                    .any(|(a, b)| a != b),
                "period {period}"
            );
        }
    }

    #[test]
    fn large_payload_exceeds_the_buffers() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let socket = Socket::from(std::os::fd::OwnedFd::from(a));
        let held = socket.send_buffer_size().unwrap() + socket.recv_buffer_size().unwrap();
        let large = large_payload(&socket, 65_536);
        assert!(large > 2 * held, "{large} vs {held}");
        assert_eq!(large % (1 << 20), 0);
        assert!(large_payload(&socket, 4 << 20) >= 16 << 20);
    }
}
