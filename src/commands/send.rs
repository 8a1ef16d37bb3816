//! `echokit send`: send a message, write the echo to stdout byte for byte,
//! and verify it (SPEC §4 send); with `--count`/`--interval`, repeat like ping.

use std::cell::RefCell;
use std::io::{self, IsTerminal, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::addr::{self, Role};
use crate::cli::SendArgs;
use crate::engine::client::{
    DatagramError, Source, StreamClient, datagram_exchange, message_exchange,
};
use crate::error::{Error, ExitCode, describe};
use crate::output::Output;
use crate::transport::{self, Connection};

mod report;
use super::client_failure::ClientFailure;
use crate::transport::{Kind, SocketAddress, SocketType, Transport};

/// Payload of a repeated exchange when there is nothing to send: 56 bytes, as ping.
const DEFAULT_PING_PAYLOAD: usize = 56;
/// The most input held in memory for a datagram or a repeated message.
const MAX_IN_MEMORY: usize = 64 << 20;
/// Per-echo wait in repeat mode when no --timeout is given.
const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `echokit send`.
pub fn run(args: SendArgs) -> Result<ExitCode, Error> {
    let out = Output::new(args.output);
    let endpoint = addr::parse(&args.addr, super::default_kind(&args.addr_flags))?;
    let targets = addr::resolve(&endpoint, super::family(&args.addr_flags), Role::Connect)?;
    let plan = Plan {
        args: &args,
        out: &out,
        kind: endpoint.kind,
        deadline: args.timeout.map(|t| Instant::now() + t),
        peer: RefCell::new(None),
    };
    if args.count.is_some() || args.interval.is_some() {
        return plan.repeat(&targets);
    }
    let result = match endpoint.kind.socket_type {
        SocketType::Stream => plan.stream_once(&targets),
        // The input is read once, before the first address is tried: a
        // second address must get the same bytes, not what is left of stdin.
        SocketType::Datagram => plan.datagram_once(&targets, &plan.payload_in_memory()?),
        SocketType::SeqPacket => plan.message_once(&targets, &plan.payload_in_memory()?),
    };
    if let Err(err) = &result {
        plan.report_failure(err);
    }
    result
}

struct Plan<'a> {
    args: &'a SendArgs,
    out: &'a Output,
    kind: Kind,
    deadline: Option<Instant>,
    /// The address of the server once connected, in the grammar with its prefix.
    peer: RefCell<Option<String>>,
}

/// Failures of the addresses tried so far, for "all failed" reports.
#[derive(Default)]
struct Failures {
    tried: Vec<(String, Error)>,
}

impl Failures {
    fn add(&mut self, target: &SocketAddress, err: Error) {
        self.tried.push((addr::display_target(target), err));
    }

    fn into_error(self, text: &str) -> Error {
        Error::every_address(text, self.tried)
    }
}

impl Plan<'_> {
    fn text(&self) -> &str {
        &self.args.addr
    }

    /// How this run's failures are worded (one vocabulary with `check`).
    fn failure(&self) -> ClientFailure<'_> {
        ClientFailure {
            addr: self.text(),
            kind: self.kind,
            idle: self.idle_timeout(),
        }
    }

    /// Notes the server an exchange is under way with, and gives it back.
    fn connected_to(&self, conn: &Connection) -> String {
        let peer = conn.transport.display(&conn.peer);
        *self.peer.borrow_mut() = Some(peer.clone());
        peer
    }

    /// `--json`: a failed exchange is one JSON line too (SPEC §4 send). Bad
    /// input is no exchange: it has only its error line.
    fn report_failure(&self, err: &Error) {
        if matches!(
            err,
            Error::Usage(_) | Error::Address { .. } | Error::Unsupported(_) | Error::Input { .. }
        ) {
            return;
        }
        let peer = self.peer.borrow().clone();
        self.out.report(&report::Failed {
            peer: peer.as_deref().unwrap_or(self.text()),
            error: err,
        });
    }

    fn connect_timeout(&self) -> Option<Duration> {
        let left = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        match (self.args.connect_timeout, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Connects to the first target that answers, trying each in order.
    fn connect(&self, targets: &[SocketAddress]) -> Result<Connection, Error> {
        let mut failures = Failures::default();
        for target in targets {
            let timeout = self.connect_timeout();
            if timeout.is_some_and(|t| t.is_zero()) {
                failures.add(target, self.failure().connect_timeout());
                continue;
            }
            match transport::connect(self.kind, target, timeout) {
                Ok(conn) => {
                    if let Some(over) = conn.transport.in_use(&conn.socket) {
                        let shown = conn.transport.display(&conn.peer);
                        self.out
                            .verbose(1, &format!("connected to {shown} over {}", over.words));
                    }
                    return Ok(conn);
                }
                Err(e) => {
                    let err = self.failure().connect(target, e);
                    self.out
                        .verbose(1, &format!("{}: {err}", addr::display_target(target)));
                    failures.add(target, err);
                }
            }
        }
        Err(failures.into_error(self.text()))
    }

    /// The bytes to send when they are all needed up front (datagrams, repeats),
    /// at most [`MAX_IN_MEMORY`], so a size error can name the real size.
    fn payload_in_memory(&self) -> Result<Vec<u8>, Error> {
        let source = self.source()?;
        let mut reader: Box<dyn Read> = match source {
            Source::Bytes(bytes) => return Ok(bytes),
            Source::Reader(r) => r,
        };
        let mut bytes = Vec::new();
        reader
            .by_ref()
            .take(MAX_IN_MEMORY as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::input("cannot read the input", e))?;
        if bytes.len() > MAX_IN_MEMORY {
            return Err(Error::Usage(
                "the input is over 64MiB; a datagram or a repeated message is held in memory whole"
                    .to_string(),
            ));
        }
        Ok(bytes)
    }

    fn source(&self) -> Result<Source, Error> {
        if !self.args.message.is_empty() {
            let mut bytes = self.args.message.join(" ").into_bytes();
            if !self.args.no_newline {
                bytes.push(b'\n');
            }
            return Ok(Source::Bytes(bytes));
        }
        if let Some(path) = &self.args.file {
            // A file the user named that cannot be read is bad input (exit 2).
            let file = std::fs::File::open(path).map_err(|e| {
                Error::Usage(format!("cannot read {}: {}", path.display(), describe(&e)))
            })?;
            return Ok(Source::Reader(Box::new(file)));
        }
        Ok(Source::Reader(Box::new(io::stdin())))
    }

    fn sink(&self) -> impl FnMut(&[u8]) -> io::Result<()> + '_ {
        let show_chunks = self.out.verbose > 0;
        let write_data = self.out.human();
        move |chunk: &[u8]| {
            if show_chunks {
                // The classroom demo: every recv() as it arrives.
                self.out.verbose(
                    1,
                    &format!(
                        "received {} bytes: {:?}",
                        chunk.len(),
                        String::from_utf8_lossy(chunk)
                    ),
                );
            }
            if write_data {
                self.out.data(chunk)?;
            }
            Ok(())
        }
    }

    fn stream_once(&self, targets: &[SocketAddress]) -> Result<ExitCode, Error> {
        // Open the input first: a bad --file is reported as such, whatever the server.
        let source = self.source()?;
        let conn = self.connect(targets)?;
        let peer = self.connected_to(&conn);
        let started = Instant::now();
        let mut client = StreamClient::new(conn.socket, self.args.buffer_size, true)
            .map_err(|e| Error::internal("cannot start the event loop", e))?;
        let mut sink = self.sink();
        let done = client
            .exchange(source, &mut sink, self.deadline, self.idle_timeout())
            .map_err(|e| self.failure().stream(e))?;
        self.report_once(&peer, done.sent, started.elapsed());
        Ok(ExitCode::Success)
    }

    /// `--idle-timeout`: `0` waits for ever.
    fn idle_timeout(&self) -> Option<Duration> {
        Some(self.args.idle_timeout).filter(|t| !t.is_zero())
    }

    /// SOCK_SEQPACKET: the input as one message on the first address that
    /// accepts the connection, the same message back, then EOF.
    fn message_once(&self, targets: &[SocketAddress], payload: &[u8]) -> Result<ExitCode, Error> {
        if let Some(t) = targets.first() {
            check_message_size(payload.len(), Kind::SEQPACKET, t)?;
        }
        let conn = self.connect(targets)?;
        let peer = self.connected_to(&conn);
        let wait = self.idle_timeout().unwrap_or(Duration::MAX);
        match message_exchange(&conn.socket, payload, wait, self.deadline) {
            Ok((reply, rtt)) => {
                (self.sink())(&reply).map_err(Error::stdout)?;
                self.report_once(&peer, reply.len() as u64, rtt);
                Ok(ExitCode::Success)
            }
            Err(DatagramError::Mismatch { error, reply }) => {
                // The reply as it came back, then the verdict (SPEC §4 send).
                (self.sink())(&reply).map_err(Error::stdout)?;
                Err(self.failure().mismatch(error, &peer))
            }
            Err(e) => Err(self.failure().message(e, payload.len(), &conn.peer, &peer)),
        }
    }

    fn datagram_once(&self, targets: &[SocketAddress], payload: &[u8]) -> Result<ExitCode, Error> {
        let mut failures = Failures::default();
        for target in targets {
            check_message_size(payload.len(), Kind::DATAGRAM, target)?;
            let conn = match transport::connect(Kind::DATAGRAM, target, None) {
                Ok(c) => c,
                Err(e) => {
                    failures.add(target, self.failure().connect(target, e));
                    continue;
                }
            };
            let peer = self.connected_to(&conn);
            match datagram_exchange(&conn.socket, payload, &self.waits(), self.deadline) {
                Ok((reply, rtt)) => {
                    (self.sink())(&reply).map_err(Error::stdout)?;
                    self.report_once(&peer, reply.len() as u64, rtt);
                    return Ok(ExitCode::Success);
                }
                Err(DatagramError::Mismatch { error, reply }) => {
                    // The reply as it came back, then the verdict (SPEC §4 send).
                    (self.sink())(&reply).map_err(Error::stdout)?;
                    return Err(self.failure().mismatch(error, &peer));
                }
                Err(e) => {
                    let err = self.failure().message(e, payload.len(), target, &peer);
                    // Bad input is the same at every address; one timeout is said as it is.
                    if targets.len() == 1 || err.exit_code() == ExitCode::Usage {
                        return Err(err);
                    }
                    failures.add(target, err);
                }
            }
        }
        Err(failures.into_error(self.text()))
    }

    /// How long to wait for each datagram try: 1s, 2s, 4s… (`--retries` resends).
    fn waits(&self) -> Vec<Duration> {
        (0..=self.args.retries.min(30))
            .map(|i| Duration::from_secs(1u64 << i.min(6)))
            .collect()
    }

    fn report_once(&self, peer: &str, bytes: u64, rtt: Duration) {
        self.out.report(&report::Echoed { peer, bytes, rtt });
    }

    /// `--count`/`--interval`: ping-like repeated exchanges with per-echo lines and a summary.
    fn repeat(&self, targets: &[SocketAddress]) -> Result<ExitCode, Error> {
        let interrupted = Arc::new(AtomicBool::new(false));
        let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupted));
        let mut payload = if self.args.message.is_empty()
            && self.args.file.is_none()
            && io::stdin().is_terminal()
        {
            Vec::new()
        } else {
            self.payload_in_memory()?
        };
        if payload.is_empty() {
            payload = (0..DEFAULT_PING_PAYLOAD)
                .map(|i| b'a' + (i % 26) as u8)
                .collect();
        }
        if let Some(t) = targets.first() {
            check_message_size(payload.len(), self.kind, t)?;
        }
        let conn = self.connect(targets)?;
        let peer = conn.transport.display(&conn.peer);
        let per_echo = self.args.timeout.unwrap_or(DEFAULT_PING_TIMEOUT);
        let interval = self.args.interval.unwrap_or(Duration::from_secs(1));
        let count = self.args.count;
        self.out.report(&report::PingStart {
            peer: &peer,
            bytes: payload.len(),
        });
        // Byte streams go through the stream client; datagrams and messages
        // are one send and one receive each.
        let mut stream = match self.kind.keeps_boundaries() {
            false => Some(
                StreamClient::new(
                    conn.socket
                        .try_clone()
                        .map_err(|e| Error::connect(self.text(), e))?,
                    self.args.buffer_size,
                    false,
                )
                .map_err(|e| Error::internal("cannot start the event loop", e))?,
            ),
            true => None,
        };
        // Each echo waits for its own --timeout, not an idle one.
        let failure_words = ClientFailure {
            idle: None,
            ..self.failure()
        };
        let mut rtts: Vec<Duration> = Vec::new();
        let mut sent = 0u64;
        let mut failure: Option<Error> = None;
        let started = Instant::now();
        let mut seq = 0u64;
        while count.is_none_or(|c| seq < c) && !interrupted.load(Ordering::Relaxed) {
            seq += 1;
            sent += 1;
            let t0 = Instant::now();
            let result: Result<Duration, Error> = match &mut stream {
                Some(client) => {
                    let mut discard = |_: &[u8]| Ok(());
                    client
                        .exchange(
                            Source::Bytes(payload.clone()),
                            &mut discard,
                            Some(t0 + per_echo),
                            None,
                        )
                        .map(|_| t0.elapsed())
                        .map_err(|e| failure_words.stream(e))
                }
                None => datagram_exchange(&conn.socket, &payload, &[per_echo], None)
                    .map(|(_, rtt)| rtt)
                    .map_err(|e| failure_words.message(e, payload.len(), &conn.peer, &peer)),
            };
            self.out.report(&report::Ping {
                peer: &peer,
                seq,
                bytes: payload.len(),
                result: result.as_ref().copied(),
            });
            match result {
                Ok(rtt) => rtts.push(rtt),
                Err(err) => {
                    let fatal = stream.is_some() || !matches!(err, Error::Timeout { .. });
                    failure = Some(err);
                    if fatal {
                        break;
                    }
                }
            }
            if count.is_some_and(|c| seq >= c) {
                break;
            }
            sleep_unless(&interrupted, interval);
        }
        if let Some(client) = &stream {
            let _ = client.socket().shutdown(std::net::Shutdown::Both);
        }
        self.out.report(&report::PingSummary {
            peer: &peer,
            sent,
            rtts: &rtts,
            total: started.elapsed(),
        });
        match failure {
            None => Ok(ExitCode::Success),
            Some(Error::Timeout { .. }) if !rtts.is_empty() => Ok(ExitCode::VerifyFailed),
            // Its `seq=N:` line already said it on stderr (issue 15): once is enough.
            Some(err) if self.out.human() => Ok(err.exit_code()),
            Some(err) => Err(err),
        }
    }
}

/// Datagrams and messages travel whole: input larger than the transport carries is bad input (exit 2).
fn check_message_size(len: usize, kind: Kind, target: &SocketAddress) -> Result<(), Error> {
    let transport = Transport::of(kind, target);
    match transport.max_message() {
        Some(max) if len > max => Err(Error::Usage(format!(
            "message is {len} bytes; a {transport} {} carries at most {max} bytes",
            kind.socket_type.message_noun()
        ))),
        _ => Ok(()),
    }
}

fn sleep_unless(flag: &AtomicBool, total: Duration) {
    let until = Instant::now() + total;
    while !flag.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}
