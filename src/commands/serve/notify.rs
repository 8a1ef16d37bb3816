//! Readiness for a service manager (sd_notify(3), SPEC §4 serve): the
//! datagrams `READY=1`, `STOPPING=1`, `STATUS=…` and `WATCHDOG=1` sent to the
//! socket NOTIFY_SOCKET names, through the `sd-notify` crate. Linux only; its
//! twin `notify_portable.rs` has the same items and answers "not supported on
//! this platform". When to send what is `log.rs`'s business, not this file's.

use std::io;
use std::time::Duration;

use sd_notify::NotifyState;

/// The service manager's notification socket, when NOTIFY_SOCKET names one.
#[derive(Debug)]
pub struct Notifier {
    /// WATCHDOG_USEC, when it is meant for this process.
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From the environment: `None` when NOTIFY_SOCKET is unset (not run by a
    /// service manager that wants to hear from us).
    pub fn from_env() -> io::Result<Option<Notifier>> {
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            return Ok(None);
        }
        // sd_watchdog_enabled(3): WATCHDOG_USEC counts only when WATCHDOG_PID
        // is absent or ours (a child of a service does not inherit its
        // watchdog); 0 means no watchdog, never "ping without pause".
        let watchdog = sd_notify::watchdog_enabled().filter(|d| !d.is_zero());
        Ok(Some(Notifier { watchdog }))
    }

    /// How often to send `WATCHDOG=1`: half of WATCHDOG_USEC, as
    /// sd_watchdog_enabled(3) advises, so one late ping is not yet a timeout.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    /// `READY=1` with a first `STATUS=`.
    pub fn ready(&self, status: &str) -> io::Result<()> {
        sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)])
    }

    /// `STOPPING=1` with a `STATUS=`.
    pub fn stopping(&self, status: &str) -> io::Result<()> {
        sd_notify::notify(&[NotifyState::Stopping, NotifyState::Status(status)])
    }

    /// `STATUS=…`, shown by `systemctl status`.
    pub fn status(&self, status: &str) -> io::Result<()> {
        sd_notify::notify(&[NotifyState::Status(status)])
    }

    /// `WATCHDOG=1`: the loop is alive.
    pub fn watchdog(&self) -> io::Result<()> {
        sd_notify::notify(&[NotifyState::Watchdog])
    }
}
