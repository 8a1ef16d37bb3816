//! One failure vocabulary for the clients: what the client engine reports
//! ([`ClientError`], [`DatagramError`], [`ExchangeError`]) and a failed
//! connect become one [`Error`], worded here once. `send` prints it whole,
//! `check` prints [`Error::brief`] in its row (the row names the address),
//! `bench` uses the connect words. A new failure of the engine is worded here,
//! and the compiler points every client at it.

use std::io;
use std::time::Duration;

use crate::engine::client::{ClientError, DatagramError};
use crate::engine::stream::ExchangeError;
use crate::error::{Error, Waiting, describe};
use crate::output;
use crate::transport::{Family, Kind, SocketAddress, SocketType, Transport};

/// What a client was doing when it failed: everything the words need.
pub struct ClientFailure<'a> {
    /// The address as the user typed it: what `cannot connect to …` and
    /// `timed out … from …` name.
    pub addr: &'a str,
    /// The transport kind: the message noun, and whether a reply is a
    /// datagram named by its sender.
    pub kind: Kind,
    /// The `--idle-timeout` the exchange ran under, if any: a message that
    /// never came back is said in its terms.
    pub idle: Option<Duration>,
}

impl ClientFailure<'_> {
    /// connect(2) to `target` failed: the errno's words, with what a stranger
    /// can do where we know it (a file that is not a socket, a stale socket
    /// file, loopback down).
    pub fn connect(&self, target: &SocketAddress, e: io::Error) -> Error {
        let refused = e.raw_os_error() == Some(libc::ECONNREFUSED);
        let unreachable = e.raw_os_error() == Some(libc::ENETUNREACH);
        let err = Error::connect(self.addr, e);
        match target {
            SocketAddress::Path(path) if refused => unix_refusal(err, self.addr, path),
            SocketAddress::Inet(a) if unreachable && a.ip().is_loopback() => {
                err.with_hint("is the loopback interface up? ip link set lo up")
            }
            _ => err,
        }
    }

    /// Connecting was given no time at all (the `--timeout` ran out before it).
    pub fn connect_timeout(&self) -> Error {
        Error::timeout(self.addr, Waiting::Connect)
    }

    /// A byte stream's exchange failed.
    pub fn stream(&self, e: ClientError) -> Error {
        match e {
            ClientError::Exchange(e) => self.verify(e),
            ClientError::TimedOut { received, sent } => self.echo_timeout(format!(
                "{received} of {sent} bytes came back"
            )),
            ClientError::Idle {
                idle,
                received,
                sent,
            } => self.echo_timeout(format!(
                "no byte moved either way for {} (--idle-timeout): {sent} bytes sent, {received} received",
                output::duration(idle)
            )),
            ClientError::Input(e) => Error::input("cannot read the input", e),
            ClientError::Poll(e) => Error::internal("event loop failed", e),
        }
    }

    /// The echo is not what was sent.
    pub fn verify(&self, e: ExchangeError) -> Error {
        let reason = match e {
            ExchangeError::Mismatch {
                offset,
                sent,
                received,
            } => differs(offset, sent, received),
            ExchangeError::Longer { offset } => format!("is longer {}", extra_byte(offset)),
            ExchangeError::EndedEarly {
                received,
                sent,
                cause,
            } => {
                let why = cause.map_or_else(
                    || "connection closed by the peer".to_string(),
                    |e| describe(&e),
                );
                format!("ended early: {received} of {sent} bytes came back ({why})")
            }
            ExchangeError::Output(e) => return Error::stdout(e),
        };
        Error::Verify {
            addr: self.addr.to_string(),
            reason,
        }
    }

    /// A reply that is not what was sent. A datagram is named by the
    /// address it came from, with its prefix (`udp:…`): there is no
    /// connection to speak of; a message is one more echo of its connection.
    pub fn mismatch(&self, e: ExchangeError, peer: &str) -> Error {
        if self.kind.socket_type != SocketType::Datagram {
            return self.verify(e);
        }
        let noun = self.kind.socket_type.message_noun();
        let reason = match e {
            ExchangeError::Mismatch {
                offset,
                sent,
                received,
            } => format!("is a {noun} that {}", differs(offset, sent, received)),
            ExchangeError::Longer { offset } => {
                format!("is a {noun} longer {}", extra_byte(offset))
            }
            ExchangeError::EndedEarly { received, sent, .. } => {
                format!("is a short {noun}: {received} of {sent} bytes came back")
            }
            other => return self.verify(other),
        };
        Error::Verify {
            addr: peer.to_string(),
            reason,
        }
    }

    /// A whole-message exchange (a datagram, a seqpacket message of `sent`
    /// bytes) failed; `target` is where it went, `peer` the reply's sender.
    pub fn message(
        &self,
        e: DatagramError,
        sent: usize,
        target: &SocketAddress,
        peer: &str,
    ) -> Error {
        match e {
            DatagramError::Mismatch { error, .. } => self.mismatch(error, peer),
            DatagramError::TimedOut { .. } if self.kind.socket_type == SocketType::SeqPacket => {
                self.echo_timeout(match self.idle {
                    Some(idle) => format!(
                        "no byte moved either way for {}: {sent} bytes sent, 0 received",
                        output::duration(idle)
                    ),
                    None => format!("{sent} bytes sent, 0 received"),
                })
            }
            DatagramError::TimedOut { tries: 1 } => {
                self.echo_timeout("no reply to 1 datagram".to_string())
            }
            DatagramError::TimedOut { tries } => {
                self.echo_timeout(format!("no reply to {tries} datagrams"))
            }
            // The system carries smaller messages here than the transport
            // could: the input is too big for it, as for a size over the
            // transport's limit (exit 2).
            DatagramError::Io(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                let transport = Transport::of(self.kind, target);
                let limit = match target.family() {
                    Family::Unix => {
                        "; for Unix sockets the limit is SO_SNDBUF, net.core.wmem_default"
                    }
                    Family::Inet4 | Family::Inet6 => "",
                };
                Error::Usage(format!(
                    "message is {sent} bytes; larger than this {transport} socket carries ({}{limit})",
                    describe(&e)
                ))
            }
            DatagramError::Io(e) => self.connect(target, e),
        }
    }

    fn echo_timeout(&self, detail: String) -> Error {
        Error::timeout_detail(self.addr, Waiting::Echo, detail)
    }
}

/// `differs at byte 3: sent 'a', received 'b'`.
fn differs(offset: u64, sent: u8, received: u8) -> String {
    format!(
        "differs at byte {offset}: sent {}, received {}",
        output::byte(sent),
        output::byte(received)
    )
}

/// What follows "is longer" / "is a datagram longer".
fn extra_byte(offset: u64) -> String {
    format!("than what was sent: an extra byte at offset {offset}")
}

/// A refused connect to a socket *path* has two common causes a stranger can
/// act on: a file that is not a socket, or a socket file nobody serves any more.
fn unix_refusal(err: Error, addr: &str, path: &std::path::Path) -> Error {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            Error::connect(addr, io::Error::other("not a socket"))
                .with_hint("something else is at that path")
        }
        Ok(_) => err.with_hint("a stale socket file: no process accepts on it"),
        Err(_) => err,
    }
}
