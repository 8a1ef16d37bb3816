//! The rows of `echokit check` without ADDR: every transport of SPEC §1 on
//! this machine, each served in-process on loopback or a temporary path.
//!
//! Each transport is first asked of the system — can this family be created,
//! this address bound, this socket directory used — and what is missing
//! becomes a SKIP with the system's reason. The Unix socket directory is a
//! fresh private directory in the temporary directory (TMPDIR), removed at
//! the end, or `--unix-dir`, whose problems are a FAIL: the user named it.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::addr::{self, FamilyFilter, max_unix_path_len};
use crate::cli::CheckArgs;
use crate::error::{Error, describe};
use crate::transport::{self, ListenOptions, platform};
use crate::transport::{
    Family, Kind, REQUIRE_ABSTRACT, REQUIRE_LOCALHOST, SocketAddress, SocketType, Transport,
};

use super::probe;
use super::server::LocalServer;
use super::table::Verdict;
use super::{Job, Row};

/// Where one transport lives.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// The loopback address of the transport's family.
    Loopback,
    /// A socket file in the socket directory.
    Path,
    Abstract,
    Localhost,
}

/// One row to plan: its transport and place.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    transport: Transport,
    place: Place,
}

impl Spec {
    /// The name in the TRANSPORT column: rows on abstract names are `abstract`.
    fn name(&self) -> &'static str {
        match self.place {
            Place::Abstract => REQUIRE_ABSTRACT,
            Place::Localhost => REQUIRE_LOCALHOST,
            Place::Loopback | Place::Path => self.transport.name(),
        }
    }

    /// The `--require` names this row answers to (the localhost row may add families later).
    pub fn tags(&self) -> Vec<&'static str> {
        match self.place {
            Place::Abstract | Place::Localhost => vec![self.name()],
            Place::Loopback | Place::Path => self.transport.require_names().to_vec(),
        }
    }
}

/// Every row of the local check that `-4`, `-6` and `-u` leave in, in table
/// order: each transport at its own place, each Unix one again at an abstract
/// name, then the localhost row.
pub fn specs(args: &CheckArgs) -> Vec<Spec> {
    let at = |place| move |transport| Spec { transport, place };
    let unix = || {
        Transport::ALL
            .into_iter()
            .filter(|t| t.family() == Family::Unix)
    };
    let own_place = Transport::ALL.into_iter().map(|t| Spec {
        transport: t,
        place: if t.family() == Family::Unix {
            Place::Path
        } else {
            Place::Loopback
        },
    });
    let family = super::super::family(&args.addr_flags);
    own_place
        .chain(unix().map(at(Place::Abstract)))
        .chain([Spec {
            transport: Transport::Udp4,
            place: Place::Localhost,
        }])
        .filter(|spec| {
            let family_ok = match (spec.place, family) {
                (Place::Loopback, FamilyFilter::V4) => spec.transport.family() == Family::Inet4,
                (Place::Loopback, FamilyFilter::V6) => spec.transport.family() == Family::Inet6,
                _ => true,
            };
            let type_ok = !args.addr_flags.udp
                || !spec.transport.socket_type().accepts_connections()
                || matches!(spec.place, Place::Localhost);
            family_ok && type_ok
        })
        .collect()
}

/// Binds and starts what each spec needs, or decides its row at once.
/// The returned [`Cleanup`] must outlive the rows (it removes the directory
/// their socket files are in).
pub fn plan(args: &CheckArgs, specs: Vec<Spec>) -> (Vec<Row>, Cleanup) {
    let mut planner = Planner {
        args,
        dir: None,
        cleanup: Cleanup { dir: None },
        next_name: 0,
    };
    let rows = specs.into_iter().map(|s| planner.row(s)).collect();
    (rows, planner.cleanup)
}

/// Removes the temporary socket directory, once its sockets are gone.
pub struct Cleanup {
    dir: Option<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            // remove_dir, not remove_dir_all: only an empty directory — ours —
            // goes; anything someone else put there stays.
            let _ = fs::remove_dir(dir);
        }
    }
}

/// The socket directory, once decided: usable, or the verdict for its rows.
enum SocketDir {
    Ready(PathBuf),
    Unusable(Verdict),
}

struct Planner<'a> {
    args: &'a CheckArgs,
    dir: Option<SocketDir>,
    cleanup: Cleanup,
    next_name: u32,
}

impl Planner<'_> {
    fn row(&mut self, spec: Spec) -> Row {
        let socket_type = spec.transport.socket_type();
        let kind = spec.transport.kind();
        let mut row = Row {
            transport: spec.name().to_string(),
            socket_type: Some(socket_type),
            address: String::new(),
            input: None,
            tags: spec.tags(),
            job: Job::Decided(Verdict::skip("")),
        };
        if let (Place::Loopback | Place::Path | Place::Abstract, Err(what)) =
            (spec.place, spec.transport.supported())
        {
            row.address = "-".to_string();
            row.job = Job::Decided(Verdict::skip(format!(
                "{what} not supported on this platform"
            )));
            return row;
        }
        match spec.place {
            Place::Loopback => {
                let ip: IpAddr = match spec.transport.family() {
                    Family::Inet6 => Ipv6Addr::LOCALHOST.into(),
                    _ => Ipv4Addr::LOCALHOST.into(),
                };
                self.inet(&mut row, kind, ip)
            }
            Place::Path => self.path(&mut row, kind),
            Place::Abstract => self.abstract_name(&mut row, kind),
            Place::Localhost => {
                row.socket_type = None;
                row.address = "localhost".to_string();
                let (verdict, extra) =
                    probe::localhost(super::super::family(&self.args.addr_flags));
                row.tags.extend(extra);
                row.job = Job::Decided(verdict);
            }
        }
        row
    }

    /// Loopback for one family: probe, then listen.
    fn inet(&mut self, row: &mut Row, kind: Kind, ip: IpAddr) {
        let target = SocketAddress::Inet(SocketAddr::new(ip, 0));
        row.address = addr::display(kind, &target);
        if let Err(e) = transport::probe_bind(kind, &target) {
            row.job = Job::Decided(match probe::missing(ip, &e) {
                Some(reason) => Verdict::skip(reason),
                None if transport::protocol_unavailable(&e) => Verdict::skip(describe(&e)),
                None => Verdict::fail(format!("cannot bind: {}", describe(&e))),
            });
            return;
        }
        self.serve(row, kind, target);
    }

    /// A socket file in the socket directory.
    fn path(&mut self, row: &mut Row, kind: Kind) {
        let name = match kind.socket_type {
            SocketType::Stream => "stream.sock",
            SocketType::Datagram => "dgram.sock",
            SocketType::SeqPacket => "seqpacket.sock",
        };
        let decided = match self.socket_dir(name) {
            SocketDir::Ready(dir) => Ok(dir.clone()),
            SocketDir::Unusable(verdict) => Err(verdict.clone()),
        };
        let dir = match decided {
            Ok(dir) => dir,
            Err(verdict) => {
                row.address = addr::display(kind, &SocketAddress::Path(self.would_be(name)));
                row.job = Job::Decided(verdict);
                return;
            }
        };
        let path = dir.join(self.file_name(name));
        let target = SocketAddress::Path(path.clone());
        row.address = addr::display(kind, &target);
        if let Some(verdict) = too_long(&path, self.args.unix_dir.is_some()) {
            row.job = Job::Decided(verdict);
            return;
        }
        self.serve(row, kind, target);
    }

    /// Socket file names: fixed in our own directory; in `--unix-dir`, unique to this process.
    fn file_name(&self, name: &str) -> String {
        match &self.args.unix_dir {
            None => name.to_string(),
            Some(_) => format!("echokit-check-{}-{name}", std::process::id()),
        }
    }

    /// The path a socket would have had (for rows whose directory is unusable).
    fn would_be(&self, name: &str) -> PathBuf {
        match &self.args.unix_dir {
            Some(dir) => dir.join(self.file_name(name)),
            None => std::env::temp_dir()
                .join(temp_dir_name(0))
                .join(self.file_name(name)),
        }
    }

    /// Decides the socket directory on first use.
    fn socket_dir(&mut self, name: &str) -> &SocketDir {
        if self.dir.is_none() {
            let decided = match &self.args.unix_dir {
                Some(dir) => user_dir(dir),
                None => self.temp_dir(name),
            };
            self.dir = Some(decided);
        }
        self.dir.as_ref().expect("decided just above")
    }

    /// A fresh private directory in TMPDIR, unless socket paths there would be too long.
    fn temp_dir(&mut self, name: &str) -> SocketDir {
        let base = std::env::temp_dir();
        let would_be = base.join(temp_dir_name(0)).join(name);
        if let Some(verdict) = too_long(&would_be, false) {
            return SocketDir::Unusable(verdict);
        }
        // A stale directory from a dead process with our pid: try another name.
        for attempt in 0..16 {
            let dir = base.join(temp_dir_name(attempt));
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    self.cleanup.dir = Some(dir.clone());
                    return SocketDir::Ready(dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return SocketDir::Unusable(Verdict::fail(format!(
                        "cannot create a socket directory in the temporary directory {}: {} (set TMPDIR to a writable directory, or pass --unix-dir)",
                        base.display(),
                        describe(&e)
                    )));
                }
            }
        }
        SocketDir::Unusable(Verdict::fail(format!(
            "cannot create a socket directory in {}: 16 names already taken",
            base.display()
        )))
    }

    /// An abstract name unique to this process and row.
    fn abstract_name(&mut self, row: &mut Row, kind: Kind) {
        let name = format!("echokit-check-{}-{}", std::process::id(), self.next_name);
        self.next_name += 1;
        let target = SocketAddress::Abstract(name.into_bytes());
        row.address = addr::display(kind, &target);
        if !platform::SUPPORTS_ABSTRACT {
            row.job = Job::Decided(Verdict::skip(
                "abstract sockets (@name) are Linux-only: not supported on this platform",
            ));
            return;
        }
        self.serve(row, kind, target);
    }

    /// Listens on `target` and starts an in-process server for the row.
    fn serve(&mut self, row: &mut Row, kind: Kind, target: SocketAddress) {
        let listener = match transport::listen(kind, &target, ListenOptions::default()) {
            Ok(l) => l,
            Err(e) => {
                row.job = Job::Decided(Verdict::fail(listen_reason(e)));
                return;
            }
        };
        let max_datagram = listener.transport.max_message().unwrap_or(0);
        // The server's buffer must hold the largest message, or it would
        // (rightly) refuse it as oversize: here we check the transport.
        let server_buffer = self.args.buffer_size.max(max_datagram);
        match LocalServer::start(listener, server_buffer) {
            Ok((server, local)) => {
                row.address = addr::display(kind, &local);
                row.job = Job::Echo {
                    kind,
                    target: local,
                    max_datagram,
                    server: Some(server),
                };
            }
            Err(e) => {
                row.job = Job::Decided(Verdict::fail(format!(
                    "cannot start the server thread: {}",
                    describe(&e)
                )));
            }
        }
    }
}

fn temp_dir_name(attempt: u32) -> String {
    match attempt {
        0 => format!("echokit-check-{}", std::process::id()),
        n => format!("echokit-check-{}-{n}", std::process::id()),
    }
}

/// `--unix-dir`: it must exist and be a directory (the rest is bind's answer).
fn user_dir(dir: &Path) -> SocketDir {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => SocketDir::Ready(dir.to_path_buf()),
        Ok(_) => SocketDir::Unusable(Verdict::fail(format!(
            "--unix-dir {} is not a directory",
            dir.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => SocketDir::Unusable(Verdict::fail(
            format!("--unix-dir {}: no such directory", dir.display()),
        )),
        Err(e) => SocketDir::Unusable(Verdict::fail(format!(
            "--unix-dir {}: {}",
            dir.display(),
            describe(&e)
        ))),
    }
}

/// A socket path longer than `sun_path` holds: SKIP in the temporary
/// directory (the machine's setup), FAIL in `--unix-dir` (the user's choice).
fn too_long(path: &Path, user_dir: bool) -> Option<Verdict> {
    let len = path.as_os_str().len();
    let max = max_unix_path_len();
    if len <= max {
        return None;
    }
    let dir = path.parent().and_then(Path::parent).unwrap_or(path);
    let limit = format!(
        "a socket path there is {len} bytes, but sun_path holds at most {max} ({} with the terminating NUL)",
        platform::SUN_PATH_CAPACITY
    );
    Some(if user_dir {
        let dir = path.parent().unwrap_or(path);
        Verdict::fail(format!(
            "--unix-dir {} is too long for Unix sockets: {limit}; use a shorter directory",
            dir.display()
        ))
    } else {
        Verdict::skip(format!(
            "the temporary directory {} is too long for Unix sockets: {limit}; set TMPDIR to a shorter directory or pass --unix-dir",
            dir.display()
        ))
    })
}

/// The reason part of a listen error (the address is already in the row).
fn listen_reason(e: Error) -> String {
    match e {
        Error::Listen { .. } => format!("cannot listen: {}", e.reason()),
        other => other.to_string(),
    }
}
