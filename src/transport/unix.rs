//! AF_UNIX listeners: socket files and abstract names.
//!
//! A socket file left by a dead server (nothing accepts on it) is replaced; a
//! live one is "address in use"; anything that is not a socket — a regular
//! file, a directory, a symlink to anything — is never followed or deleted
//! (SPEC §4 serve, exit 5). On exit only the file this process created is
//! removed: [`SocketFileGuard`] remembers its device and inode.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::addr::display_target;
use crate::error::Error;
use crate::transport::{SocketAddress, SocketType};

use super::{ListenOptions, Listener, new_socket, platform, sock_addr, start_listening};

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
    socket_type: SocketType,
    path: &Path,
    options: ListenOptions,
) -> Result<Listener, Error> {
    clear_stale(socket_type, path)?;
    let target = SocketAddress::Path(path.to_path_buf());
    let fail = |e: io::Error| path_error(path, e);
    let socket = new_socket(socket_type, &target).map_err(fail)?;
    match options.mode {
        // Never wider than --mode, not even for the instant between bind and
        // chmod (issue 8): another user could connect in that instant.
        Some(mode) => platform::bind_path_with_mode(&socket, path, mode),
        None => sock_addr(&target).and_then(|addr| socket.bind(&addr)),
    }
    .map_err(fail)?;
    // From here on the file is ours: the guard removes it on any early return.
    let guard = SocketFileGuard::new(path).map_err(fail)?;
    if let Some(mode) = options.mode {
        // bind left it at `mode` less the umask: now exactly `mode`.
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(fail)?;
    }
    start_listening(&socket, socket_type, options).map_err(fail)?;
    Ok(Listener {
        socket,
        socket_type,
        local: target,
        guard: Some(guard),
    })
}

/// Binds a Linux abstract name (no file: nothing stale, nothing to remove).
pub(super) fn listen_abstract(
    socket_type: SocketType,
    target: &SocketAddress,
    options: ListenOptions,
) -> Result<Listener, Error> {
    let fail = |e: io::Error| Error::listen(&display_target(target), e);
    let socket = new_socket(socket_type, target).map_err(fail)?;
    socket
        .bind(&sock_addr(target).map_err(fail)?)
        .map_err(fail)?;
    start_listening(&socket, socket_type, options).map_err(fail)?;
    Ok(Listener {
        socket,
        socket_type,
        local: target.clone(),
        guard: None,
    })
}

/// Makes room at `path`: nothing there is fine, a stale socket is removed,
/// a live socket or a non-socket is an error.
fn clear_stale(socket_type: SocketType, path: &Path) -> Result<(), Error> {
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
    // Probe with a connect: refused means nobody accepts there any more.
    let target = SocketAddress::Path(path.to_path_buf());
    let probe =
        new_socket(socket_type, &target).and_then(|s| s.connect(&sock_addr(&target)?).map(|_| s));
    match probe {
        Ok(_) => Err(refusal(
            path,
            libc::EADDRINUSE,
            "another process is serving on this socket",
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
