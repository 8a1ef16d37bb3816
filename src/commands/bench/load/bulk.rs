//! `bench --bulk`: each connection writes a position-dependent pattern as
//! fast as the server takes it and checks what comes back against the same
//! pattern, without keeping what was sent (the byte at stream offset `o` is
//! always the pattern's byte at `o % PATTERN_PERIOD`).

use std::io;
use std::time::Instant;

use super::event_loop::Load;
use crate::engine::stream::{ReadOutcome, read_some, write_some};

/// At most this many bytes written and not yet back, per connection: only
/// to tell a stalled server from a slow one (the request timeout).
const BULK_WINDOW: u64 = 64 << 20;

/// The pattern repeats every this many bytes (a prime, so it never lines up
/// with a write or read size).
pub(super) const PATTERN_PERIOD: usize = 65_521;

/// Write-and-read rounds on one connection before the others get a turn.
const BULK_ROUNDS: usize = 4;

/// At most this many writes, and bytes, per round, so the event loop looks
/// at the clock often whatever `--size` is: `-s 1` against a 64 MiB window
/// would otherwise write for minutes past `--duration`.
const ROUND_WRITES: usize = 64;
const ROUND_BYTES: usize = 1 << 20;

impl Load<'_> {
    /// Bulk on connection `i`: writes while the window has room, reads and
    /// checks what came back, until the socket says EAGAIN both ways (or the
    /// turn's rounds are used up: then it comes back next turn).
    pub(super) fn drive_bulk(&mut self, i: usize) -> Option<bool> {
        match self.bulk(i) {
            Ok(true) => Some(false),
            Ok(false) => None,
            Err(e) => {
                self.fail(crate::error::describe(&e));
                None
            }
        }
    }

    /// The moves of [`Load::drive_bulk`]: `Ok(false)` when the connection
    /// must be replaced (EOF, or bytes that differ).
    pub(super) fn bulk(&mut self, i: usize) -> io::Result<bool> {
        let size = self.config.size as u64;
        for _ in 0..BULK_ROUNDS {
            let conn = &mut self.conns[i];
            let Some(socket) = &conn.socket else {
                return Ok(true);
            };
            let mut wrote = 0;
            let mut writes = 0;
            let mut write_blocked = false;
            while conn.bulk_written - conn.bulk_read < BULK_WINDOW
                && writes < ROUND_WRITES
                && wrote < ROUND_BYTES
            {
                writes += 1;
                let room = BULK_WINDOW - (conn.bulk_written - conn.bulk_read);
                let n = size.min(room) as usize;
                let at = (conn.bulk_written % PATTERN_PERIOD as u64) as usize;
                let done = match write_some(socket, &self.pattern[at..at + n]) {
                    Err(e) if e.raw_os_error() == Some(nix::libc::ENOTCONN) => 0,
                    other => other?,
                };
                conn.bulk_written += done as u64;
                wrote += done;
                if done < n {
                    write_blocked = true;
                    break;
                }
            }
            let mut read = 0;
            loop {
                let n = match read_some(socket, &mut self.buf)? {
                    ReadOutcome::Data(n) => n,
                    ReadOutcome::WouldBlock => break,
                    ReadOutcome::Eof => {
                        self.fail("the server closed a connection".into());
                        return Ok(false);
                    }
                };
                let at = (conn.bulk_read % PATTERN_PERIOD as u64) as usize;
                let expected = &self.pattern[at..at + n];
                if conn.bulk_read + n as u64 > conn.bulk_written || self.buf[..n] != *expected {
                    self.report.mismatches += 1;
                    let offset = conn.bulk_read;
                    self.first_error.get_or_insert_with(|| {
                        format!("the echo differed from what was sent, at or after byte {offset}")
                    });
                    return Ok(false);
                }
                conn.bulk_read += n as u64;
                self.report.bytes += n as u64;
                read += n;
            }
            if read > 0 {
                conn.sent = Instant::now();
            }
            // Both ways said EAGAIN, or nothing moved: wait for the next edge.
            if (write_blocked || wrote == 0) && read == 0 {
                return Ok(true);
            }
            if write_blocked && conn.bulk_written - conn.bulk_read >= BULK_WINDOW {
                return Ok(true);
            }
        }
        self.deferred.push(i);
        Ok(true)
    }
}

/// `len` bytes of the bulk pattern: the byte at stream offset `o` is
/// `pattern[o % PATTERN_PERIOD]`, and the bytes past one period repeat its
/// start, so any read or write is one slice. Bytes echoed from the wrong
/// place in the stream differ.
pub(super) fn bulk_pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % PATTERN_PERIOD) as u32).wrapping_mul(2_654_435_761) >> 13)
        .map(|x| x as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bulk_pattern_repeats_its_period_and_nothing_shorter() {
        let p = bulk_pattern(PATTERN_PERIOD + 70_000);
        assert_eq!(p[..70_000], p[PATTERN_PERIOD..PATTERN_PERIOD + 70_000]);
        for shift in [1, 58, 64, 4096, 65_536] {
            assert_ne!(
                p[..64],
                p[shift..shift + 64],
                "a shift of {shift} bytes would pass"
            );
        }
    }
}
