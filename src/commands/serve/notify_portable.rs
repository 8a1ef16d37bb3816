//! The twin of `notify.rs` for macOS and the BSDs (and for Linux builds with
//! `--cfg echokit_force_portable`): the same items, and "not supported on
//! this platform" when NOTIFY_SOCKET asks for readiness, rather than leaving a
//! service manager waiting for a `READY=1` that never comes.

use std::convert::Infallible;
use std::io;
use std::time::Duration;

/// Never made here: [`Notifier::from_env`] has no socket to offer.
#[derive(Debug)]
pub struct Notifier {
    never: Infallible,
}

impl Notifier {
    /// `None` without NOTIFY_SOCKET; an error with it.
    pub fn from_env() -> io::Result<Option<Notifier>> {
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            return Ok(None);
        }
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "sd_notify (NOTIFY_SOCKET) is not supported on this platform",
        ))
    }

    /// Never called: there is no `Notifier` on this platform.
    pub fn watchdog_every(&self) -> Option<Duration> {
        match self.never {}
    }

    /// Never called: there is no `Notifier` on this platform.
    pub fn ready(&self, _status: &str) -> io::Result<()> {
        match self.never {}
    }

    /// Never called: there is no `Notifier` on this platform.
    pub fn stopping(&self, _status: &str) -> io::Result<()> {
        match self.never {}
    }

    /// Never called: there is no `Notifier` on this platform.
    pub fn status(&self, _status: &str) -> io::Result<()> {
        match self.never {}
    }

    /// Never called: there is no `Notifier` on this platform.
    pub fn watchdog(&self) -> io::Result<()> {
        match self.never {}
    }
}
