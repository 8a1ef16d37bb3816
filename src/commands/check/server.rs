//! In-process echo servers for `check`: the engine `serve` runs, one event
//! loop on its own thread per transport, stopped through its [`Handle`].
//!
//! Stopping must never hang `check`: the stop request is repeated while we
//! wait (a loop that registered its waker only after the first request still
//! hears a later one), and the wait is bounded. What the server saw go wrong
//! (dropped datagrams, listener errors) is kept for a FAIL's reason.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::engine::stream::EndReason;
use crate::engine::{self, Event, Handle, Observer, ServerConfig, Unlimited};
use crate::error::describe;
use crate::transport::SocketAddress;
use crate::transport::{Listener, SocketFileGuard};

/// How often, and how many times, a stop request is repeated while waiting.
const STOP_POLL: Duration = Duration::from_millis(5);
const STOP_POLLS: u32 = 400;
/// Server notes kept for one row (the first ones say the most).
const MAX_NOTES: usize = 4;

/// An echo server on a thread of its own.
pub struct LocalServer {
    handle: Option<Handle>,
    notes: Arc<Notes>,
    /// Removes the socket file; dropped after the loop has stopped.
    file: Option<SocketFileGuard>,
}

impl LocalServer {
    /// Serves `listener` with `buffer_size` (also the largest datagram echoed);
    /// returns the server and the address it really listens on.
    pub fn start(
        listener: Listener,
        buffer_size: usize,
    ) -> io::Result<(LocalServer, SocketAddress)> {
        let local = listener.local.clone();
        let (served, file) = listener.served();
        // The guard stays with us: if the loop ever failed to stop, the
        // file would still be removed when this server is dropped.
        let notes = Arc::new(Notes::default());
        let handle = engine::spawn(
            vec![served],
            ServerConfig::new(buffer_size),
            1,
            Arc::new(Unlimited),
            Arc::clone(&notes) as Arc<dyn Observer>,
        )?;
        Ok((
            LocalServer {
                handle: Some(handle),
                notes,
                file,
            },
            local,
        ))
    }

    /// Stops the loop at once and waits for it (boundedly); returns its notes.
    pub fn stop(&mut self) -> Vec<String> {
        if let Some(handle) = self.handle.take() {
            let mut finished = false;
            for _ in 0..STOP_POLLS {
                handle.stop();
                if handle.is_finished() {
                    finished = true;
                    break;
                }
                std::thread::sleep(STOP_POLL);
            }
            if finished {
                if let Err(e) = handle.join() {
                    self.notes
                        .push(format!("server loop failed: {}", describe(&e)));
                }
            } else {
                // Left running: it holds nothing but a socket; the process exit ends it.
                self.notes.push("server loop did not stop".to_string());
            }
        }
        self.file.take();
        self.notes.take()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the engine told us that could explain a failure.
#[derive(Debug, Default)]
struct Notes {
    lines: Mutex<Vec<String>>,
}

impl Notes {
    fn push(&self, line: String) {
        if let Ok(mut lines) = self.lines.lock() {
            if lines.len() < MAX_NOTES {
                lines.push(line);
            }
        }
    }

    fn take(&self) -> Vec<String> {
        self.lines
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

impl Observer for Notes {
    fn details(&self) -> bool {
        false
    }

    fn event(&self, event: &Event<'_>) {
        match event {
            Event::Dropped { reason, count, .. } => {
                let plural = if *count == 1 { "" } else { "s" };
                self.push(format!("server dropped {count} datagram{plural}: {reason}"));
            }
            Event::ListenerError { error, .. } => {
                self.push(format!("server: {}", describe(error)));
            }
            Event::Closed(closed)
                if matches!(closed.reason, EndReason::Reset | EndReason::Error(_)) =>
            {
                self.push(format!("server connection ended: {}", closed.reason));
            }
            _ => {}
        }
    }
}
