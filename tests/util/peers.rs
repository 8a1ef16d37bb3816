//! The tests' own ends of a connection: [`RawStream`] (a TCP or Unix
//! client with timeouts), [`FakePeer`] (a TCP server whose misbehaviour a
//! test writes), poll and connect waits with deadlines, and a look at a
//! process's resident memory; and other programs as peers (python3, nc,
//! socat), found or skipped with the reason said.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{STEP, have_program, run_cmd};

/// Read and write timeouts of the tests' own sockets.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A raw stream client of the tests: TCP or Unix (path or abstract), with timeouts.
pub enum RawStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl RawStream {
    /// Connects to a stream ready line (`tcp:127.0.0.1:P`, `unix:/path`, `unix:@name`;
    /// `mptcp:…` as a plain TCP client, which the MPTCP listener falls back for).
    pub fn connect(ready: &str) -> RawStream {
        RawStream::try_connect(ready).unwrap_or_else(|e| panic!("connect to {ready}: {e}"))
    }

    /// Like [`RawStream::connect`], returning the error.
    pub fn try_connect(ready: &str) -> io::Result<RawStream> {
        let inet = ready
            .strip_prefix("tcp:")
            .or_else(|| ready.strip_prefix("mptcp:"));
        let stream = if let Some(inet) = inet {
            let addr: SocketAddr = inet
                .parse()
                .unwrap_or_else(|e| panic!("{inet:?} is not a socket address: {e}"));
            RawStream::Tcp(TcpStream::connect_timeout(&addr, IO_TIMEOUT)?)
        } else if let Some(name) = ready.strip_prefix("unix:@") {
            RawStream::Unix(connect_abstract(name)?)
        } else if let Some(path) = ready.strip_prefix("unix:") {
            RawStream::Unix(UnixStream::connect(path)?)
        } else {
            panic!("not a stream ready line: {ready:?}");
        };
        stream.set_timeouts(Some(IO_TIMEOUT))?;
        Ok(stream)
    }

    /// Sets both read and write timeouts.
    pub fn set_timeouts(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            RawStream::Tcp(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
            RawStream::Unix(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
        }
    }

    /// Another handle on the same socket.
    pub fn try_clone(&self) -> RawStream {
        match self {
            RawStream::Tcp(s) => RawStream::Tcp(s.try_clone().expect("clone")),
            RawStream::Unix(s) => RawStream::Unix(s.try_clone().expect("clone")),
        }
    }

    /// Shuts down our write side (half-close).
    pub fn shutdown_write(&self) {
        match self {
            RawStream::Tcp(s) => s.shutdown(Shutdown::Write),
            RawStream::Unix(s) => s.shutdown(Shutdown::Write),
        }
        .expect("shutdown(SHUT_WR)")
    }

    /// Our own address in the grammar, as the server logs peers (`127.0.0.1:40000`, `[::1]:40000`).
    pub fn local_text(&self) -> String {
        match self {
            RawStream::Tcp(s) => s.local_addr().expect("local addr").to_string(),
            RawStream::Unix(_) => "unix peer".to_string(),
        }
    }

    /// Non-blocking mode on or off.
    pub fn set_nonblocking(&self, on: bool) {
        match self {
            RawStream::Tcp(s) => s.set_nonblocking(on),
            RawStream::Unix(s) => s.set_nonblocking(on),
        }
        .expect("set_nonblocking")
    }

    /// The socket, for poll(2).
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            RawStream::Tcp(s) => s.as_fd(),
            RawStream::Unix(s) => s.as_fd(),
        }
    }

    /// Reads exactly `n` bytes (within the read timeout), or fails.
    pub fn read_n(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
        buf
    }

    /// Reads until EOF (within the read timeout per read), or fails.
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        self.read_to_end(&mut all)
            .unwrap_or_else(|e| panic!("reading to EOF after {} bytes: {e}", all.len()));
        all
    }
}

impl Read for RawStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            RawStream::Tcp(s) => s.read(buf),
            RawStream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for RawStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            RawStream::Tcp(s) => s.write(buf),
            RawStream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn connect_abstract(name: &str) -> io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    UnixStream::connect_addr(&addr)
}

#[cfg(not(target_os = "linux"))]
fn connect_abstract(_name: &str) -> io::Result<UnixStream> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets are Linux-only",
    ))
}

/// Waits at most `timeout` for `fd` to have `events`; true if it does.
pub fn poll_fd(
    fd: std::os::fd::BorrowedFd<'_>,
    events: nix::poll::PollFlags,
    timeout: Duration,
) -> bool {
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [nix::poll::PollFd::new(fd, events)];
    match nix::poll::poll(&mut fds, ms) {
        Ok(n) => n > 0,
        Err(nix::errno::Errno::EINTR) => false,
        Err(e) => panic!("poll: {e}"),
    }
}

/// Polls `connect` to `addr` until it succeeds or `timeout` passes: how a test
/// waits for a peer that prints no ready line (socat). Each round is a real
/// connect; between refusals it pauses 10 ms. `still_alive` stops the wait
/// early when the peer has exited (e.g. its port was taken meanwhile).
pub fn wait_accepting(
    addr: &str,
    timeout: Duration,
    mut still_alive: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !still_alive() {
            return false;
        }
        let ok = match addr.strip_prefix("unix:") {
            Some(path) => UnixStream::connect(path).is_ok(),
            None => {
                let target: SocketAddr = addr.parse().expect("socket address");
                TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok()
            }
        };
        if ok {
            return true;
        }
        // Refused at once: give the peer a moment before the next attempt.
        thread::sleep(Duration::from_millis(10));
    }
    false
}

/// A one-connection TCP peer whose behaviour a test writes: the stand-in for a
/// broken echo server. It accepts (within [`STEP`]) on 127.0.0.1, port 0.
pub struct FakePeer {
    pub addr: SocketAddr,
    handle: Option<JoinHandle<()>>,
}

impl FakePeer {
    /// Starts the peer; `behave` gets the accepted connection (with timeouts set).
    pub fn tcp(behave: impl FnOnce(TcpStream) + Send + 'static) -> FakePeer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let handle = thread::spawn(move || {
            if !poll_fd(listener.as_fd(), nix::poll::PollFlags::POLLIN, STEP) {
                return; // nobody came: the test itself reports why
            }
            let (stream, _) = listener.accept().expect("accept");
            stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
            stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
            behave(stream);
        });
        FakePeer {
            addr,
            handle: Some(handle),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr_text(&self) -> String {
        self.addr.to_string()
    }

    /// Waits (at most [`STEP`]) for the peer's thread and re-raises its panic, if any.
    pub fn finish(mut self) {
        join_within_step(self.handle.take().expect("joined once"), "fake peer");
    }
}

/// Reads from a fake peer's connection until the client half-closes.
pub fn read_until_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    stream
        .read_to_end(&mut all)
        .unwrap_or_else(|e| panic!("fake peer reading to EOF: {e}"));
    all
}

/// Sends an RST instead of a FIN when `stream` is dropped (SO_LINGER 0).
pub fn reset_on_drop(stream: &TcpStream) {
    socket2::SockRef::from(stream)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
}

// ---------------------------------------------------------------------------
// SOCK_SEQPACKET: std has no type for it, socket2 makes one
// ---------------------------------------------------------------------------

/// The socket address of a seqpacket ready line or address
/// (`seqpacket:/path`, `seqpacket:@name`).
fn seqpacket_addr(addr: &str) -> socket2::SockAddr {
    let target = addr
        .strip_prefix("seqpacket:")
        .unwrap_or_else(|| panic!("not a seqpacket address: {addr:?}"));
    let result = match target.strip_prefix('@') {
        // A leading NUL byte makes an abstract name (Linux).
        Some(name) => socket2::SockAddr::unix(format!("\0{name}")),
        None => socket2::SockAddr::unix(target),
    };
    result.unwrap_or_else(|e| panic!("{addr}: {e}"))
}

/// A new AF_UNIX SOCK_SEQPACKET socket with [`IO_TIMEOUT`] both ways.
fn seqpacket_socket() -> socket2::Socket {
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::SEQPACKET, None)
        .expect("socket(AF_UNIX, SOCK_SEQPACKET)");
    socket.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    socket.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    socket
}

/// A seqpacket client of the tests, connected to `addr` (`seqpacket:/path`, `seqpacket:@name`).
pub fn seqpacket_connect(addr: &str) -> socket2::Socket {
    let socket = seqpacket_socket();
    socket
        .connect(&seqpacket_addr(addr))
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    socket
}

/// A one-connection seqpacket peer whose behaviour a test writes, listening
/// at `addr` (`seqpacket:/path` in a temp dir, or `seqpacket:@name`).
/// `behave` gets the accepted connection (with timeouts set); what it returns
/// comes back from [`SeqPacketPeer::finish`].
pub struct SeqPacketPeer<T> {
    handle: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> SeqPacketPeer<T> {
    pub fn listen(addr: &str, behave: impl FnOnce(socket2::Socket) -> T + Send + 'static) -> Self {
        let listener = seqpacket_socket();
        listener
            .bind(&seqpacket_addr(addr))
            .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        listener.listen(1).expect("listen");
        let handle = thread::spawn(move || {
            assert!(
                poll_fd(listener.as_fd(), nix::poll::PollFlags::POLLIN, STEP),
                "nobody connected within {STEP:?}"
            );
            let (conn, _) = listener.accept().expect("accept");
            conn.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
            conn.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
            behave(conn)
        });
        SeqPacketPeer {
            handle: Some(handle),
        }
    }

    /// Waits (at most [`STEP`]) for the peer's thread: its result, or its panic re-raised.
    pub fn finish(mut self) -> T {
        join_within_step(self.handle.take().expect("joined once"), "seqpacket peer")
    }
}

/// Receives one message (up to `max` bytes) from a seqpacket socket: its
/// bytes, empty at EOF. Fails on a timeout or error.
pub fn recv_message(socket: &socket2::Socket, max: usize) -> Vec<u8> {
    let mut buf = vec![0u8; max];
    let n = (&*socket)
        .read(&mut buf)
        .unwrap_or_else(|e| panic!("recv on a seqpacket socket: {e}"));
    buf.truncate(n);
    buf
}

/// Resident memory of process `pid` in KiB (Linux /proc), if it can be read.
pub fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

// ---------------------------------------------------------------------------
// Other programs as peers (python3, nc, socat), each skipped where missing
// ---------------------------------------------------------------------------

/// The python3 interpreter itself (not a version manager's shim, which costs
/// a tenth of a second per start), or `None` with the reason said.
pub fn python() -> Option<String> {
    static PYTHON: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        if !have_program("python3", &["-c", "import socket"]) {
            return None;
        }
        let mut cmd = Command::new("python3");
        cmd.args(["-c", "import sys; print(sys.executable)"]);
        let run = run_cmd(cmd, b"", STEP);
        let path = run.out().trim().to_string();
        Some(if run.code == 0 && !path.is_empty() {
            path
        } else {
            "python3".to_string()
        })
    });
    if found.is_none() {
        eprintln!("skipping: python3 (with its socket module) is not installed");
    }
    found.clone()
}

/// How this nc ends after stdin EOF: OpenBSD's `-N` (shutdown the socket), or
/// the traditional `-q 1`; `Err` says why nc cannot be used.
fn nc_eof_flags() -> Result<Vec<&'static str>, String> {
    let mut cmd = Command::new("nc");
    cmd.arg("-h");
    let run = run_cmd(cmd, b"", STEP);
    let help = format!("{}{}", run.out(), run.stderr);
    if help.contains("\t-N") || help.contains(" -N ") {
        Ok(vec!["-N"])
    } else if help.contains("-q") {
        Ok(vec!["-q", "1"])
    } else {
        Err("this nc has neither -N nor -q to end after stdin EOF".to_string())
    }
}

/// The flags that make this nc end after stdin EOF, or `None` having said why
/// nc cannot be used here.
pub fn nc_or_skip() -> Option<Vec<&'static str>> {
    if !have_program("nc", &["-h"]) {
        eprintln!("skipping: nc is not installed");
        return None;
    }
    match nc_eof_flags() {
        Ok(flags) => Some(flags),
        Err(why) => {
            eprintln!("skipping: {why}");
            None
        }
    }
}

/// Whether socat can be run here; if not, says so.
pub fn have_socat() -> bool {
    let ok = have_program("socat", &["-V"]);
    if !ok {
        eprintln!("skipping: socat is not installed");
    }
    ok
}

/// Waits (at most [`STEP`]) for a peer's thread: its result, or its panic re-raised.
fn join_within_step<T>(handle: thread::JoinHandle<T>, what: &str) -> T {
    let deadline = Instant::now() + STEP;
    while !handle.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert!(handle.is_finished(), "{what} still running after {STEP:?}");
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
