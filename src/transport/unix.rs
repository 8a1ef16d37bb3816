//! AF_UNIX listeners: socket files and abstract names.
//!
//! A socket file left by a dead server (nothing accepts on it) is replaced; a
//! live one is "address in use"; anything that is not a socket — a regular
//! file, a directory, a symlink to anything — is never followed or deleted
//! (SPEC §4 serve, exit 5). On exit only the file this process created is
//! removed: [`SocketFileGuard`] remembers its device and inode.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicU64, Ordering};

use socket2::{SockAddr, Socket};

use crate::error::Error;
use crate::transport::{Kind, SocketAddress, Transport};

use super::{
    ListenOptions, Listener, display_target, new_socket, platform, sock_addr, start_listening,
};

/// Removes a socket file on drop, if it is still the one this process bound.
#[derive(Debug)]
pub struct SocketFileGuard {
    path: PathBuf,
    dev: u64,
    ino: u64,
    /// A directory made only to hold this file, removed after it.
    private_dir: Option<PathBuf>,
}

impl SocketFileGuard {
    /// Remembers the socket file now at `path` (just bound by us).
    pub fn new(path: &Path) -> io::Result<SocketFileGuard> {
        let meta = fs::symlink_metadata(path)?;
        Ok(SocketFileGuard {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
            private_dir: None,
        })
    }

    /// Remembers what is at `path` just after this process bound a socket
    /// file there, if it is a socket; anything else there (another user's
    /// swap) is not ours, and the guard removes nothing.
    pub fn created(path: &Path) -> SocketFileGuard {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => SocketFileGuard {
                path: path.to_path_buf(),
                dev: meta.dev(),
                ino: meta.ino(),
                private_dir: None,
            },
            _ => SocketFileGuard {
                path: path.to_path_buf(),
                // No inode is 0: nothing at the path will ever match.
                dev: 0,
                ino: 0,
                private_dir: None,
            },
        }
    }

    /// Also removes `dir`, made only to hold this file, once the file is gone.
    pub fn with_private_dir(mut self, dir: &Path) -> SocketFileGuard {
        self.private_dir = Some(dir.to_path_buf());
        self
    }

    /// The path this guard removes.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFileGuard {
    fn drop(&mut self) {
        // Another server may have replaced the file since: remove only ours.
        if let Ok(meta) = fs::symlink_metadata(&self.path) {
            if meta.dev() == self.dev && meta.ino() == self.ino && meta.file_type().is_socket() {
                let _ = fs::remove_file(&self.path);
            }
        }
        // remove_dir(2) removes only an empty directory: nothing else is lost.
        if let Some(dir) = &self.private_dir {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// A listen failure at a socket path, with the directory named where it is the problem.
fn path_error(path: &Path, err: io::Error) -> Error {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
        _ => ".".to_string(),
    };
    let hint = match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::EROFS) => Some(dir),
        Some(libc::EACCES) | Some(libc::EPERM) => Some(format!("cannot create a socket in {dir}")),
        _ => None,
    };
    let error = Error::listen(&path.display().to_string(), err);
    match hint {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}

/// A listen failure at `path` that is our refusal, not the system's: the
/// words say what is there, the hint what to do.
fn refusal(path: &Path, errno: i32, hint: &str) -> Error {
    Error::listen(
        &path.display().to_string(),
        io::Error::from_raw_os_error(errno),
    )
    .with_hint(hint)
}

/// Binds a Unix socket file at `path`, replacing a stale one.
pub(super) fn listen_path(
    kind: Kind,
    path: &Path,
    options: ListenOptions,
) -> Result<Listener, Error> {
    let target = SocketAddress::Path(path.to_path_buf());
    let transport = Transport::of(kind, &target);
    clear_stale(transport, path)?;
    let fail = |e: io::Error| path_error(path, e);
    let socket = new_socket(transport, &target).map_err(fail)?;
    match options.mode {
        // Exactly --mode from the file's first instant, set on what this
        // process created and never through the name afterwards: a chmod by
        // name follows whatever another user swapped in (issues 8 and 15).
        Some(mode) => platform::bind_path_with_mode(&socket, path, mode),
        None => sock_addr(&target).and_then(|addr| socket.bind(&addr)),
    }
    .map_err(|e| match e.raw_os_error() {
        // RENAME_NOREPLACE or link(2) met a file that appeared after the
        // stale check: as bind(2) itself would say.
        Some(libc::EEXIST) => path_error(path, io::Error::from_raw_os_error(libc::EADDRINUSE)),
        _ => fail(e),
    })?;
    // From here on the file is ours: the guard removes it on any early return.
    // Had another user already removed or replaced it (the directory may be
    // world-writable), there is nothing of ours at the path to remove.
    let guard = SocketFileGuard::created(path);
    start_listening(&socket, kind, options).map_err(fail)?;
    Ok(Listener {
        socket,
        transport,
        local: target,
        guard: Some(guard),
    })
}

/// Binds a Linux abstract name (no file: nothing stale, nothing to remove).
pub(super) fn listen_abstract(
    kind: Kind,
    target: &SocketAddress,
    options: ListenOptions,
) -> Result<Listener, Error> {
    let fail = |e: io::Error| Error::listen(&display_target(target), e);
    let transport = Transport::of(kind, target);
    let socket = new_socket(transport, target).map_err(fail)?;
    socket
        .bind(&sock_addr(target).map_err(fail)?)
        .map_err(fail)?;
    start_listening(&socket, kind, options).map_err(fail)?;
    Ok(Listener {
        socket,
        transport,
        local: target.clone(),
        guard: None,
    })
}

/// Makes room at `path`: nothing there is fine, a stale socket is removed,
/// a live socket or a non-socket is an error.
fn clear_stale(transport: Transport, path: &Path) -> Result<(), Error> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(path_error(path, e)),
    };
    let file_type = meta.file_type();
    if !file_type.is_socket() {
        let what = if file_type.is_symlink() {
            "a symlink"
        } else if file_type.is_dir() {
            "a directory"
        } else {
            "a file that is not a socket"
        };
        let in_the_way = io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{what} is in the way"),
        );
        return Err(Error::listen(&path.display().to_string(), in_the_way)
            .with_hint("not replacing it; remove it or choose another path"));
    }
    // Probe with a connect: refused means nobody accepts there any more. It
    // never blocks: a live server whose listen queue is full would keep a
    // blocking connect waiting for ever, and EAGAIN says it is live (SPEC §4).
    let target = SocketAddress::Path(path.to_path_buf());
    let probe = new_socket(transport, &target).and_then(|s| {
        s.set_nonblocking(true)?;
        s.connect(&sock_addr(&target)?).map(|_| s)
    });
    match probe {
        Ok(_) => Err(refusal(
            path,
            libc::EADDRINUSE,
            "another process is serving on this socket",
        )),
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Err(refusal(
            path,
            libc::EADDRINUSE,
            "another process is serving on this socket; its listen queue is full",
        )),
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => fs::remove_file(path)
            .map_err(|e| path_error(path, e).with_hint("cannot remove the stale socket file")),
        Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => Err(refusal(
            path,
            libc::EADDRINUSE,
            "a socket of the other type is live there",
        )),
        Err(e) => Err(path_error(path, e)),
    }
}

/// Binds `socket` to the new socket file `path` with exactly `mode`, made
/// where no other user can touch it: in a fresh 0700 directory beside `path`,
/// chmod'ed there through that directory's descriptor, then linked into place
/// with link(2), which never replaces a file that appeared meanwhile. Every
/// step after mkdir(2) goes through the directory's descriptor, so another
/// user who renames the directory or swaps a symlink in its place (the
/// parent may be world-writable) changes nothing of ours: a bind that landed
/// elsewhere is found missing and refused. The kernel keeps the name the
/// socket was bound to (getsockname(2) shows the removed temporary name).
/// Where that name does not fit in `sun_path`, this fails with ENAMETOOLONG.
pub(super) fn bind_in_private_dir(socket: &Socket, path: &Path, mode: u32) -> io::Result<()> {
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, fstat, fstatat};
    use nix::unistd::{UnlinkatFlags, linkat, unlinkat};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = parent.join(format!(
        ".echokit-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let result = (|| -> io::Result<()> {
        let dir_fd: OwnedFd = open(
            &dir,
            OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // What we opened is the directory we made: ours, 0700.
        let stat = fstat(&dir_fd)?;
        if stat.st_uid != nix::unistd::geteuid().as_raw() || stat.st_mode & 0o077 != 0 {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        socket.bind(&SockAddr::unix(dir.join("s"))?)?;
        let bound = fstatat(&dir_fd, "s", nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
        if SFlag::from_bits_truncate(bound.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFSOCK {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        // Nobody else can enter the directory: "s" is the socket just bound.
        let chmod = fchmodat(
            &dir_fd,
            "s",
            Mode::from_bits_truncate(mode),
            FchmodatFlags::FollowSymlink,
        );
        let linked = chmod.and_then(|()| {
            linkat(
                &dir_fd,
                "s",
                nix::fcntl::AT_FDCWD,
                path,
                nix::fcntl::AtFlags::empty(),
            )
        });
        let _ = unlinkat(&dir_fd, "s", UnlinkatFlags::NoRemoveDir);
        linked.map_err(io::Error::from)
    })();
    // remove_dir(2) removes only an empty directory: nothing of anyone else's is lost.
    let _ = fs::remove_dir(&dir);
    result
}
