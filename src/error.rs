//! The one error type: what failed, on which address, the system's reason, and
//! the exit code SPEC §5 gives it.
//!
//! Every error prints as one lowercase line behind `echokit: ` (SPEC §6). The
//! errno-to-variant mapping and its wording live here ([`Error::os`] and
//! `wording`), not at call sites, and nothing outside matches on the words:
//! the `io::Error` stays inside as the source. Nothing in this module prints.

use std::fmt;
use std::io;

/// Process exit codes (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Success.
    Success = 0,
    /// The echo differed or ended early, or a check failed.
    VerifyFailed = 1,
    /// Usage error or invalid address (including a name that does not resolve).
    Usage = 2,
    /// Could not connect: refused, unreachable, no such socket file, permission denied, resolver down.
    Connect = 3,
    /// Timed out.
    Timeout = 4,
    /// Could not listen: address in use, privileged port, bad socket directory, non-socket at the path.
    Listen = 5,
    /// Internal error: the event loop itself failed, no fault of the input, the peer or the setup.
    Internal = 6,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// Everything that can end a command early.
#[derive(Debug)]
pub enum Error {
    /// Bad flags or values (exit 2).
    Usage(String),
    /// An address that does not parse or does not resolve (exit 2).
    Address { addr: String, reason: String },
    /// A feature this platform lacks (exit 2).
    Unsupported(String),
    /// Could not connect or send (exit 3).
    Connect {
        /// The address as the user typed it (or the resolved one, when several were tried).
        addr: String,
        source: io::Error,
        /// What a stranger can do about it, when we know ([`Error::with_hint`]).
        hint: Option<String>,
    },
    /// Every address a name resolved to failed (exit 4 when each timed out, else 3).
    EveryAddress {
        addr: String,
        /// Each address tried, in the grammar without prefix, and why it failed.
        tried: Vec<(String, Error)>,
    },
    /// The resolver could not be asked at all (exit 3): getaddrinfo's EAI_AGAIN and kin.
    Resolver { addr: String, message: String },
    /// Timed out (exit 4): `what` was under way with `addr`; `detail` may add counts.
    Timeout {
        addr: String,
        what: Waiting,
        detail: String,
    },
    /// Could not listen (exit 5).
    Listen {
        addr: String,
        source: io::Error,
        hint: Option<String>,
    },
    /// The echo was not what was sent (exit 1).
    Verify { addr: String, reason: String },
    /// The input could not be read: `--file`, stdin (exit 2).
    Input { what: String, source: io::Error },
    /// A failure that is no fault of the input, the peer or the machine's
    /// setup: the event loop itself, a thread, our own stdout (exit 6).
    Internal { what: String, source: io::Error },
}

/// What a client was waiting for when its time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// The connection to be accepted.
    Connect,
    /// The echo of what was sent.
    Echo,
}

impl Waiting {
    /// The words before the address: `timed out connecting to ADDR`.
    fn with_address(self) -> &'static str {
        match self {
            Waiting::Connect => "connecting to",
            Waiting::Echo => "waiting for the echo from",
        }
    }

    /// The words where the address is said elsewhere: `timed out connecting`.
    fn alone(self) -> &'static str {
        match self {
            Waiting::Connect => "connecting",
            Waiting::Echo => "waiting for the echo",
        }
    }
}

/// What was under way when the system said no: it picks the variant and the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// connect(2), or a send on a connected socket.
    Connect,
    /// socket/bind/listen for a server.
    Listen,
}

impl Error {
    /// The exit code SPEC §5 assigns to this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_)
            | Error::Address { .. }
            | Error::Unsupported(_)
            | Error::Input { .. } => ExitCode::Usage,
            Error::Connect { .. } | Error::Resolver { .. } => ExitCode::Connect,
            Error::EveryAddress { tried, .. } if tried.iter().all(|(_, e)| e.is_timeout()) => {
                ExitCode::Timeout
            }
            Error::EveryAddress { .. } => ExitCode::Connect,
            Error::Timeout { .. } => ExitCode::Timeout,
            Error::Listen { .. } => ExitCode::Listen,
            Error::Verify { .. } => ExitCode::VerifyFailed,
            Error::Internal { .. } => ExitCode::Internal,
        }
    }

    /// A bad address, naming the bad part.
    pub fn address(addr: &str, reason: impl Into<String>) -> Error {
        Error::Address {
            addr: addr.to_string(),
            reason: reason.into(),
        }
    }

    /// The one place an OS error becomes a variant: what `op` was doing on
    /// `addr` decides Connect (3) or Listen (5); a timeout errno is Timeout (4).
    pub fn os(op: Op, addr: &str, source: io::Error) -> Error {
        let addr = addr.to_string();
        match op {
            Op::Connect if is_timeout(&source) => Error::Timeout {
                addr,
                what: Waiting::Connect,
                // Our own words on why (a full listen queue), not the errno's.
                detail: match source.get_ref() {
                    Some(words) => words.to_string(),
                    None => String::new(),
                },
            },
            Op::Connect => Error::Connect {
                addr,
                source,
                hint: None,
            },
            Op::Listen => Error::Listen {
                addr,
                source,
                hint: None,
            },
        }
    }

    /// A failure to connect to (or exchange with) `addr`.
    pub fn connect(addr: &str, source: io::Error) -> Error {
        Error::os(Op::Connect, addr, source)
    }

    /// A failure to bind or listen on `addr`.
    pub fn listen(addr: &str, source: io::Error) -> Error {
        Error::os(Op::Listen, addr, source)
    }

    /// Replaces the usual hint of a connect or listen error with one the caller knows better.
    pub fn with_hint(mut self, text: impl Into<String>) -> Error {
        if let Error::Connect { hint, .. } | Error::Listen { hint, .. } = &mut self {
            *hint = Some(text.into());
        }
        self
    }

    /// Reading the input failed (exit 2).
    pub fn input(what: impl Into<String>, source: io::Error) -> Error {
        Error::Input {
            what: what.into(),
            source,
        }
    }

    /// Something of our own failed (exit 6).
    pub fn internal(what: impl Into<String>, source: io::Error) -> Error {
        Error::Internal {
            what: what.into(),
            source,
        }
    }

    /// Our own stdout could not be written (exit 6): full, or closed.
    pub fn stdout(source: io::Error) -> Error {
        Error::internal("cannot write to stdout", source)
    }

    /// A timeout while waiting for `what` from `addr`.
    pub fn timeout(addr: &str, what: Waiting) -> Error {
        Error::timeout_detail(addr, what, String::new())
    }

    /// The same timeout with counts or tries added.
    pub fn timeout_detail(addr: &str, what: Waiting, detail: String) -> Error {
        Error::Timeout {
            addr: addr.to_string(),
            what,
            detail,
        }
    }

    /// Whether it is a timeout (exit 4).
    pub fn is_timeout(&self) -> bool {
        self.exit_code() == ExitCode::Timeout
    }

    /// One address of several failed: the error names the address as typed, and each tried one.
    pub fn every_address(addr: &str, mut tried: Vec<(String, Error)>) -> Error {
        if tried.len() != 1 {
            return Error::EveryAddress {
                addr: addr.to_string(),
                tried,
            };
        }
        // One address: the plain one-line error, about the address as typed.
        match tried.remove(0).1 {
            Error::Connect { source, hint, .. } => Error::Connect {
                addr: addr.to_string(),
                source,
                hint,
            },
            Error::Timeout { what, detail, .. } => Error::Timeout {
                addr: addr.to_string(),
                what,
                detail,
            },
            other => other,
        }
    }

    /// Whether the system said this machine lacks the address itself, not
    /// that it is taken or forbidden ([`address_unavailable`]).
    pub fn is_address_unavailable(&self) -> bool {
        self.os_error().is_some_and(address_unavailable)
    }

    /// The OS error behind it, if there is one.
    pub fn os_error(&self) -> Option<&io::Error> {
        match self {
            Error::Connect { source, .. }
            | Error::Listen { source, .. }
            | Error::Input { source, .. }
            | Error::Internal { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The reason without what failed or where: `connection refused (nothing
    /// is listening there)`, for rows and lists that name the address themselves.
    pub fn reason(&self) -> String {
        match self {
            Error::Connect { source, hint, .. } => wording(Op::Connect, source, hint.as_deref()),
            Error::Listen { source, hint, .. } => wording(Op::Listen, source, hint.as_deref()),
            Error::Address { reason, .. } | Error::Verify { reason, .. } => reason.clone(),
            Error::Resolver { message, .. } => message.clone(),
            Error::Timeout { .. } => "timed out".to_string(),
            other => other.to_string(),
        }
    }

    /// The whole line without the address, for a row that names it
    /// (`check`): `echo differs at byte 3: …`, `timed out waiting for the
    /// echo (0 of 1 bytes came back)`, `connection refused (…)`.
    pub fn brief(&self) -> String {
        match self {
            Error::Verify { reason, .. } => format!("echo {reason}"),
            Error::Timeout { what, detail, .. } if detail.is_empty() => {
                format!("timed out {}", what.alone())
            }
            Error::Timeout { what, detail, .. } => {
                format!("timed out {} ({detail})", what.alone())
            }
            other => other.reason(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg}"),
            Error::Address { addr, reason } => write!(f, "invalid address {addr:?}: {reason}"),
            Error::Unsupported(what) => write!(f, "{what} not supported on this platform"),
            Error::Connect { addr, .. } | Error::Resolver { addr, .. } => {
                write!(f, "cannot connect to {addr}: {}", self.reason())
            }
            Error::Timeout { addr, what, detail } => {
                write!(f, "timed out {} {addr}", what.with_address())?;
                if !detail.is_empty() {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            Error::Listen { addr, .. } => write!(f, "cannot listen on {addr}: {}", self.reason()),
            Error::EveryAddress { addr, tried } => {
                let each: Vec<String> = tried
                    .iter()
                    .map(|(at, e)| format!("{at}: {}", e.reason()))
                    .collect();
                if self.is_timeout() {
                    write!(f, "timed out connecting to {addr} ({})", each.join("; "))
                } else {
                    write!(
                        f,
                        "cannot connect to {addr}: every address failed: {}",
                        each.join("; ")
                    )
                }
            }
            Error::Verify { addr, reason } => write!(f, "echo from {addr} {reason}"),
            Error::Input { what, source } | Error::Internal { what, source } => {
                write!(f, "{what}: {}", describe(source))
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.os_error()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The system's reason for `err`, lowercase and without Rust's "(os error N)" tail.
pub fn describe(err: &io::Error) -> String {
    if let Some(code) = err.raw_os_error() {
        let text = nix::errno::Errno::from_raw(code).desc();
        return lowercase_first(text);
    }
    lowercase_first(&err.to_string())
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        // Keep acronyms (e.g. "IPv6") as they are; lowercase ordinary words only.
        Some(first) if chars.clone().next().is_some_and(|c| c.is_lowercase()) => {
            first.to_lowercase().collect::<String>() + chars.as_str()
        }
        _ => text.to_string(),
    }
}

/// Whether `err` says this machine does not have the address or its family
/// at all: EADDRNOTAVAIL (no interface has it, e.g. no ::1 on lo),
/// EAFNOSUPPORT or EPROTONOSUPPORT (IPv6 disabled or not built in). The
/// dual-stack fallback and serve's skipping of a name's missing addresses
/// (SPEC §2, §4) ask this.
pub fn address_unavailable(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EADDRNOTAVAIL) | Some(libc::EAFNOSUPPORT) | Some(libc::EPROTONOSUPPORT)
    )
}

/// Whether `err` means a deadline passed rather than a refusal.
pub fn is_timeout(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::TimedOut || err.raw_os_error() == Some(libc::ETIMEDOUT)
}

/// The one mapping of (operation, errno) to words: the system's reason,
/// reworded where its own text misleads, and the usual hint, unless the
/// caller knows a better one.
fn wording(op: Op, err: &io::Error, hint: Option<&str>) -> String {
    let (words, usual): (String, Option<&str>) = match (op, err.raw_os_error()) {
        (Op::Connect, Some(libc::ECONNREFUSED)) => (
            "connection refused".into(),
            Some("nothing is listening there"),
        ),
        (Op::Connect, Some(libc::ENOENT)) => ("no such socket file".into(), None),
        (_, Some(libc::EACCES) | Some(libc::EPERM)) => (
            "permission denied".into(),
            (op == Op::Listen).then_some("ports below 1024 need root or CAP_NET_BIND_SERVICE"),
        ),
        (Op::Connect, Some(libc::ECONNRESET)) => ("connection reset by peer".into(), None),
        (Op::Connect, Some(libc::EPROTOTYPE)) => (
            "protocol wrong type for socket".into(),
            Some("is it a stream or a datagram socket? try with or without -u"),
        ),
        (Op::Connect, Some(libc::EADDRNOTAVAIL)) => (
            "cannot assign requested address".into(),
            Some("does this machine have that address family on loopback?"),
        ),
        (Op::Listen, Some(libc::EADDRINUSE)) => ("address in use".into(), None),
        (Op::Listen, Some(libc::EADDRNOTAVAIL)) => (
            "cannot assign requested address".into(),
            Some("no interface on this machine has it"),
        ),
        (Op::Listen, Some(libc::ENOENT)) => ("no such directory".into(), None),
        _ => (describe(err), None),
    };
    match hint.or(usual) {
        Some(hint) => format!("{words} ({hint})"),
        None => words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn every_variant_has_its_spec_exit_code() {
        let table: Vec<(Error, u8)> = vec![
            (Error::Usage("x".into()), 2),
            (Error::address("a", "b"), 2),
            (Error::Unsupported("abstract sockets are".into()), 2),
            (Error::connect("a", os(libc::ECONNREFUSED)), 3),
            (Error::connect("a", os(libc::ENOENT)), 3),
            (Error::connect("a", os(libc::EACCES)), 3),
            (
                Error::Resolver {
                    addr: "a".into(),
                    message: "temporary failure".into(),
                },
                3,
            ),
            (Error::connect("a", os(libc::ETIMEDOUT)), 4),
            (Error::timeout("a", Waiting::Echo), 4),
            (Error::listen("a", os(libc::EADDRINUSE)), 5),
            (Error::listen("a", os(libc::EACCES)), 5),
            (Error::input("cannot read the input", os(libc::EIO)), 2),
            (Error::internal("event loop failed", os(libc::ENOMEM)), 6),
            (
                Error::Verify {
                    addr: "a".into(),
                    reason: "differs".into(),
                },
                1,
            ),
        ];
        for (error, code) in table {
            assert_eq!(error.exit_code() as u8, code, "{error}");
        }
    }

    #[test]
    fn a_missing_address_is_told_from_a_taken_or_forbidden_one() {
        for code in [
            libc::EADDRNOTAVAIL,
            libc::EAFNOSUPPORT,
            libc::EPROTONOSUPPORT,
        ] {
            assert!(Error::listen("[::1]:0", os(code)).is_address_unavailable());
        }
        for code in [libc::EADDRINUSE, libc::EACCES, libc::ENOENT] {
            assert!(!Error::listen("[::1]:0", os(code)).is_address_unavailable());
        }
        assert!(!Error::Usage("x".into()).is_address_unavailable());
    }

    #[test]
    fn messages_are_one_lowercase_line() {
        let e = Error::listen("127.0.0.1:80", os(libc::EACCES));
        assert_eq!(
            e.to_string(),
            "cannot listen on 127.0.0.1:80: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        );
        let e = Error::connect("127.0.0.1:9", os(libc::ECONNREFUSED));
        assert_eq!(
            e.to_string(),
            "cannot connect to 127.0.0.1:9: connection refused (nothing is listening there)"
        );
        assert_eq!(describe(&os(libc::EPIPE)), "broken pipe");
        let e = Error::connect("/tmp/s", os(libc::ECONNREFUSED))
            .with_hint("a stale socket file: no process accepts on it");
        assert_eq!(
            e.reason(),
            "connection refused (a stale socket file: no process accepts on it)"
        );
        assert!(std::error::Error::source(&e).is_some());
    }
}
