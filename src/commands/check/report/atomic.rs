//! A report file replaced whole or not at all (`--junit FILE`): the bytes go
//! to a temporary file in the same directory, are synced, and the temporary
//! file is renamed over FILE (rename(2) is atomic within one file system). A
//! reader — a CI job collecting reports, node_exporter — sees the old file or
//! the new one, never a partial one; a full disk leaves FILE as it was and
//! no temporary file behind.
//!
//! Two kinds of FILE are not replaced: a symbolic link is followed (its
//! target is replaced, the link stays), and anything that is neither a
//! regular file nor a directory (`/dev/stdout`, a FIFO, `/dev/full`) is
//! written in place, since renaming over a device node would replace the
//! device, not write to it.
//!
//! This module sees paths and bytes; the caller words the errors.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How many temporary names are tried before giving up (another process
/// may hold the first: the names carry our pid, so only a stale file would).
const TEMP_ATTEMPTS: u32 = 100;

/// Whether `path` can be written, checked before any work is done: a
/// directory at `path` is "is a directory"; otherwise a temporary file is created
/// (and removed) where [`replace`] will create its own, so a missing or
/// read-only directory is known now.
pub fn probe(path: &Path) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(io::ErrorKind::IsADirectory.into()),
        Ok(meta) if !meta.is_file() => OpenOptions::new().write(true).open(path).map(drop),
        _ => {
            let (temp, file) = create_temp(&target(path))?;
            drop(file);
            fs::remove_file(&temp)
        }
    }
}

/// Replaces `path` with `bytes` (see the module doc); on any error `path`
/// is left as it was and the temporary file is removed.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let special = fs::metadata(path).is_ok_and(|meta| !meta.is_file() && !meta.is_dir());
    if special {
        let mut file = OpenOptions::new().write(true).open(path)?;
        return file.write_all(bytes).and_then(|()| file.flush());
    }
    let target = target(path);
    let (temp, mut file) = create_temp(&target)?;
    let written = (|| {
        // A file replaced keeps its mode (a report another user reads stays readable).
        if let Ok(meta) = fs::metadata(&target) {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, &target)
    })();
    if written.is_err() {
        // Best effort: the error that matters is the write's, already in hand.
        let _ = fs::remove_file(&temp);
    }
    written
}

/// The file to replace: `path`, or what it links to when it is a symbolic link.
fn target(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

/// A new, empty file beside `target`, named so no other run's can clash:
/// `.echokit-PID-N.tmp`, short enough for any `NAME_MAX`.
fn create_temp(target: &Path) -> io::Result<(PathBuf, File)> {
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let pid = std::process::id();
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for n in 0..TEMP_ATTEMPTS {
        let temp = dir.join(format!(".echokit-{pid}-{n}.tmp"));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.xml");
        replace(&path, b"first").unwrap();
        fs::write(&path, "old and longer content").unwrap();
        replace(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(names(dir.path()), ["report.xml"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_mode_and_a_link_its_target() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.xml");
        fs::write(&real, "old").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.xml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        replace(&link, b"new").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"new");
        let mode = fs::metadata(&real).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    #[test]
    fn probe_refuses_a_directory_and_a_missing_one_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = probe(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory);
        let missing = dir.path().join("missing").join("report.xml");
        assert_eq!(probe(&missing).unwrap_err().kind(), io::ErrorKind::NotFound);
        probe(&dir.path().join("report.xml")).unwrap();
        assert!(names(dir.path()).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_device_is_written_in_place_never_renamed_over() {
        // /dev/null stays a device: replace() writes into it.
        replace(Path::new("/dev/null"), b"discarded").unwrap();
        probe(Path::new("/dev/null")).unwrap();
        let err = replace(Path::new("/dev/full"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    }
}
