//! The one error type: what failed, on which address, the system's reason, and
//! the exit code SPEC §5 gives it.
//!
//! Every error prints as one lowercase line behind `echokit: ` (SPEC §6). The
//! errno-to-variant mapping lives here ([`Error::connect`], [`Error::listen`]),
//! not at call sites. Nothing in this module prints.

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
    Connect { addr: String, reason: String },
    /// Timed out (exit 4): `what` was under way with `addr`; `detail` may add counts.
    Timeout {
        addr: String,
        what: String,
        detail: String,
    },
    /// Could not listen (exit 5).
    Listen { addr: String, reason: String },
    /// The echo was not what was sent (exit 1).
    Verify { addr: String, reason: String },
    /// A local I/O failure outside the network, e.g. reading --file (exit 1).
    Io { what: String, source: io::Error },
}

impl Error {
    /// The exit code SPEC §5 assigns to this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) | Error::Address { .. } | Error::Unsupported(_) => ExitCode::Usage,
            Error::Connect { .. } => ExitCode::Connect,
            Error::Timeout { .. } => ExitCode::Timeout,
            Error::Listen { .. } => ExitCode::Listen,
            Error::Verify { .. } | Error::Io { .. } => ExitCode::VerifyFailed,
        }
    }

    /// A bad address, naming the bad part.
    pub fn address(addr: &str, reason: impl Into<String>) -> Error {
        Error::Address {
            addr: addr.to_string(),
            reason: reason.into(),
        }
    }

    /// A failure to connect to (or exchange with) `addr`, classified by errno.
    ///
    /// A timeout errno becomes [`Error::Timeout`] (exit 4), everything else exit 3.
    pub fn connect(addr: &str, err: &io::Error) -> Error {
        if is_timeout(err) {
            return Error::timeout(addr, "connecting to");
        }
        Error::Connect {
            addr: addr.to_string(),
            reason: connect_reason(err),
        }
    }

    /// A failure to bind or listen on `addr`, with the hint a stranger needs.
    pub fn listen(addr: &str, err: &io::Error) -> Error {
        Error::Listen {
            addr: addr.to_string(),
            reason: listen_reason(err),
        }
    }

    /// A local I/O failure while doing `what` (exit 1).
    pub fn io(what: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// A timeout while `what` (e.g. "waiting for the echo").
    pub fn timeout(addr: &str, what: impl Into<String>) -> Error {
        Error::Timeout {
            addr: addr.to_string(),
            what: what.into(),
            detail: String::new(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg}"),
            Error::Address { addr, reason } => write!(f, "invalid address {addr:?}: {reason}"),
            Error::Unsupported(what) => write!(f, "{what} not supported on this platform"),
            Error::Connect { addr, reason } => write!(f, "cannot connect to {addr}: {reason}"),
            Error::Timeout { addr, what, detail } => {
                write!(f, "timed out {what} {addr}")?;
                if !detail.is_empty() {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            Error::Listen { addr, reason } => write!(f, "cannot listen on {addr}: {reason}"),
            Error::Verify { addr, reason } => write!(f, "echo from {addr} {reason}"),
            Error::Io { what, source } => write!(f, "{what}: {}", describe(source)),
        }
    }
}

impl std::error::Error for Error {}

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

/// Whether `err` means a deadline passed rather than a refusal.
pub fn is_timeout(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::TimedOut || err.raw_os_error() == Some(libc::ETIMEDOUT)
}

fn connect_reason(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::ECONNREFUSED) => "connection refused (nothing is listening there)".to_string(),
        Some(libc::ENOENT) => "no such socket file".to_string(),
        Some(libc::EACCES) | Some(libc::EPERM) => "permission denied".to_string(),
        Some(libc::ECONNRESET) => "connection reset by peer".to_string(),
        Some(libc::EPROTOTYPE) => {
            "protocol wrong type for socket (is it a stream or a datagram socket? try with or without -u)"
                .to_string()
        }
        Some(libc::EADDRNOTAVAIL) => {
            "cannot assign requested address (does this machine have that address family on loopback?)"
                .to_string()
        }
        _ => describe(err),
    }
}

fn listen_reason(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::EADDRINUSE) => "address in use".to_string(),
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)".to_string()
        }
        Some(libc::EADDRNOTAVAIL) => {
            "cannot assign requested address (no interface on this machine has it)".to_string()
        }
        Some(libc::ENOENT) => "no such directory".to_string(),
        _ => describe(err),
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
            (Error::connect("a", &os(libc::ECONNREFUSED)), 3),
            (Error::connect("a", &os(libc::ENOENT)), 3),
            (Error::connect("a", &os(libc::EACCES)), 3),
            (Error::connect("a", &os(libc::ETIMEDOUT)), 4),
            (Error::timeout("a", "waiting for"), 4),
            (Error::listen("a", &os(libc::EADDRINUSE)), 5),
            (Error::listen("a", &os(libc::EACCES)), 5),
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
    fn messages_are_one_lowercase_line() {
        let e = Error::listen("127.0.0.1:80", &os(libc::EACCES));
        assert_eq!(
            e.to_string(),
            "cannot listen on 127.0.0.1:80: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        );
        let e = Error::connect("127.0.0.1:9", &os(libc::ECONNREFUSED));
        assert_eq!(
            e.to_string(),
            "cannot connect to 127.0.0.1:9: connection refused (nothing is listening there)"
        );
        assert_eq!(describe(&os(libc::EPIPE)), "broken pipe");
    }
}
