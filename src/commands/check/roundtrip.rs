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

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use socket2::Socket;

use crate::engine::client::{
    ClientError, DatagramError, Source, StreamClient, datagram_exchange, message_exchange,
};
use crate::engine::stream::ExchangeError;
use crate::error::{Error, describe};
use crate::output::{self, Output};
use crate::transport::{self, Connection};
use crate::transport::{SocketAddress, SocketType};

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
    pub socket_type: SocketType,
    pub target: &'a SocketAddress,
    /// Read size of the client; the stream payloads are built around it.
    pub buffer_size: usize,
    /// The largest datagram to send (datagram rows).
    pub max_datagram: usize,
    /// The whole row's budget (`--timeout`).
    pub timeout: Duration,
    /// For `-v` lines: the row's transport and address.
    pub label: &'a str,
}

impl Trip<'_> {
    /// Runs every payload; PASS only when each came back byte for byte.
    pub fn run(&self, out: &Output) -> Verdict {
        let deadline = Instant::now() + self.timeout;
        let result = match self.socket_type {
            SocketType::Stream => self.streams(deadline, out),
            SocketType::Datagram => self.datagrams(deadline, out),
            SocketType::SeqPacket => self.messages(deadline, out),
        };
        match result {
            Ok((rtt, payloads)) => {
                let what = match self.socket_type {
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
            Err(e) => Err(self.client_failure(e)),
        }
    }

    fn client_failure(&self, e: ClientError) -> String {
        match e {
            ClientError::Exchange(e) => exchange_failure(e),
            ClientError::TimedOut { received, sent } => format!(
                "timed out after {} (--timeout): {received} of {sent} bytes came back",
                table::duration(self.timeout)
            ),
            ClientError::Idle {
                idle,
                received,
                sent,
            } => format!(
                "no byte moved either way for {}: {received} of {sent} bytes came back",
                table::duration(idle)
            ),
            ClientError::Input(e) => format!("cannot read the payload: {}", describe(&e)),
            ClientError::Poll(e) => format!("event loop failed: {}", describe(&e)),
        }
    }

    /// Connects for one stream payload, within what is left of the deadline.
    fn connect(&self, deadline: Instant) -> Result<Connection, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "timed out after {} (--timeout) before connecting",
                table::duration(self.timeout)
            ));
        }
        transport::connect(self.socket_type, self.target, Some(left))
            .map_err(|e| connect_failure(self.target, e))
    }

    /// The datagram payloads, on one socket.
    fn datagrams(
        &self,
        deadline: Instant,
        out: &Output,
    ) -> Result<(Duration, Vec<usize>), (String, Vec<usize>)> {
        let conn = transport::connect(SocketType::Datagram, self.target, None)
            .map_err(|e| (connect_failure(self.target, e), Vec::new()))?;
        self.whole_messages(deadline, out, "datagram", |payload| {
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
        self.whole_messages(deadline, out, "message", |payload| {
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
        deadline: Instant,
        out: &Output,
        noun: &str,
        mut exchange: impl FnMut(&[u8]) -> Result<Duration, Failure>,
    ) -> Result<(Duration, Vec<usize>), (String, Vec<usize>)> {
        let mut sizes = vec![1, self.max_datagram];
        sizes.dedup();
        let mut done = Vec::new();
        let mut rtt = Duration::ZERO;
        for &size in &sizes {
            let started = Instant::now();
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
                    let why = self.datagram_failure(e, started.elapsed(), deadline);
                    return Err((format!("{} {noun}: {why}", table::size(size)), done));
                }
            }
        }
        Ok((rtt, done))
    }

    fn datagram_failure(&self, e: DatagramError, waited: Duration, deadline: Instant) -> String {
        let noun = self.socket_type.message_noun();
        match e {
            DatagramError::TimedOut { tries } => {
                let tries = format!("{tries} tr{}", if tries == 1 { "y" } else { "ies" });
                if Instant::now() >= deadline {
                    format!(
                        "no reply to {tries} before --timeout {} ran out",
                        table::duration(self.timeout)
                    )
                } else {
                    format!("no reply to {tries} in {}", table::duration(waited))
                }
            }
            DatagramError::Mismatch {
                error: ExchangeError::EndedEarly { received, sent, .. },
                ..
            } => format!("the reply is a short {noun}: {received} of {sent} bytes came back"),
            DatagramError::Mismatch {
                error: ExchangeError::Longer { offset },
                ..
            } => format!(
                "the reply is a {noun} longer than what was sent: an extra byte at offset {offset}"
            ),
            DatagramError::Mismatch { error, .. } => exchange_failure(error),
            DatagramError::Io(e) if e.raw_os_error() == Some(Errno::EMSGSIZE as i32) => format!(
                "{} (this system carries smaller datagrams here; for Unix sockets the limit is SO_SNDBUF, net.core.wmem_default)",
                describe(&e)
            ),
            DatagramError::Io(e) => connect_failure(self.target, e),
        }
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

fn exchange_failure(e: ExchangeError) -> String {
    match e {
        ExchangeError::Mismatch {
            offset,
            sent,
            received,
        } => format!(
            "echo differs at byte {offset}: sent {}, received {}",
            output::byte(sent),
            output::byte(received)
        ),
        ExchangeError::Longer { offset } => {
            format!("echo is longer than what was sent: an extra byte at offset {offset}")
        }
        ExchangeError::EndedEarly {
            received,
            sent,
            cause,
        } => {
            let why = cause.map_or_else(|| "closed by the peer".to_string(), |e| describe(&e));
            format!("echo ended early: {received} of {sent} bytes came back ({why})")
        }
        ExchangeError::Send(e) => format!("send failed: {}", describe(&e)),
        ExchangeError::Output(e) => describe(&e),
    }
}

/// A connect (or send) failure in the words `send` uses, plus a hint where
/// loopback itself is the problem.
fn connect_failure(target: &SocketAddress, e: io::Error) -> String {
    let loopback = matches!(target, SocketAddress::Inet(a) if is_loopback(a));
    let err = if loopback && e.raw_os_error() == Some(Errno::ENETUNREACH as i32) {
        Error::connect("", e).with_hint("is the loopback interface up? ip link set lo up")
    } else {
        Error::connect("", e)
    };
    match err {
        Error::Timeout { .. } => "timed out connecting".to_string(),
        other => other.reason(),
    }
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
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
