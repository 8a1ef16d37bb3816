//! The tiny HTTP responder behind `serve --metrics` (SPEC §4): one request
//! line, one response, close. It lives on the event loop like any
//! connection, so a slow or huge request never stalls echoing: each read
//! takes what is there, a request head is at most [`MAX_REQUEST`] bytes, and
//! a connection that has not finished within [`DEADLINE`] is closed.
//!
//! What it must not do: know what the page says (the command renders it)
//! or keep a connection for a second request.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use socket2::Socket;

/// The largest request head read (request line and headers).
pub const MAX_REQUEST: usize = 8 * 1024;
/// How long one request and its response may take, from accept.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// The path the page is served at.
pub const PATH: &str = "/metrics";
/// The content type of the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Where an HTTP connection is.
#[derive(Debug, PartialEq, Eq)]
pub enum HttpStep {
    /// Waiting for more of the request or for room to write.
    Wait,
    /// Answered (or gone): close it.
    Done,
}

/// One HTTP connection of the metrics listener.
pub struct HttpConn {
    pub socket: Socket,
    request: Vec<u8>,
    response: Option<Vec<u8>>,
    written: usize,
    pub deadline: Instant,
}

impl HttpConn {
    /// A connection just accepted at `now`.
    pub fn new(socket: Socket, now: Instant) -> HttpConn {
        HttpConn {
            socket,
            request: Vec::new(),
            response: None,
            written: 0,
            deadline: now + DEADLINE,
        }
    }

    /// Reads what the peer sent, answers once the request head is whole
    /// (calling `render` only for a GET of [`PATH`]), and writes what the
    /// socket takes.
    pub fn drive(&mut self, render: impl FnOnce() -> String) -> HttpStep {
        if self.response.is_none() {
            match self.read_head() {
                Ok(None) => return HttpStep::Wait,
                Ok(Some(head)) => self.response = Some(respond(&head, render)),
                Err(_) => return HttpStep::Done,
            }
        }
        self.write()
    }

    /// The request head once it is whole (or too large: then what was read).
    fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut buf = [0u8; 2048];
        loop {
            if let Some(end) = head_end(&self.request) {
                return Ok(Some(self.request[..end].to_vec()));
            }
            if self.request.len() >= MAX_REQUEST {
                return Ok(Some(std::mem::take(&mut self.request)));
            }
            let room = (MAX_REQUEST - self.request.len()).min(buf.len());
            match (&self.socket).read(&mut buf[..room]) {
                // EOF before the head ended: nothing to answer.
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.request.extend_from_slice(&buf[..n]),
                // EAGAIN: the rest of the request has not come yet.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn write(&mut self) -> HttpStep {
        let Some(response) = &self.response else {
            return HttpStep::Wait;
        };
        while self.written < response.len() {
            match (&self.socket).write(&response[self.written..]) {
                Ok(0) => return HttpStep::Done,
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return HttpStep::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return HttpStep::Done,
            }
        }
        let _ = self.socket.shutdown(std::net::Shutdown::Write);
        HttpStep::Done
    }
}

/// Where the request head ends (after its blank line), if it has.
fn head_end(bytes: &[u8]) -> Option<usize> {
    if let Some(i) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some(i + 4);
    }
    bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2)
}

/// The whole response to request head `head`.
fn respond(head: &[u8], render: impl FnOnce() -> String) -> Vec<u8> {
    let complete = head_end(head).is_some();
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.trim_end_matches('\r').split(' ');
    let (method, target, version) = (words.next(), words.next(), words.next());
    let well_formed = complete
        && words.next().is_none()
        && version.is_some_and(|v| v.starts_with("HTTP/1."))
        && target.is_some_and(|t| t.starts_with('/'));
    if !complete {
        return response(
            431,
            "Request Header Fields Too Large",
            &[],
            "request too large\n",
        );
    }
    if !well_formed {
        return response(400, "Bad Request", &[], "bad request\n");
    }
    let path = target
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default();
    match method.unwrap_or_default() {
        "GET" | "HEAD" if path == PATH => {
            let body = render();
            let mut r = response(200, "OK", &[("Content-Type", CONTENT_TYPE)], &body);
            if method == Some("HEAD") {
                let headers = head_end(&r).unwrap_or(r.len());
                r.truncate(headers);
            }
            r
        }
        "GET" | "HEAD" => response(404, "Not Found", &[], "not found: try /metrics\n"),
        _ => response(
            405,
            "Method Not Allowed",
            &[("Allow", "GET, HEAD")],
            "method not allowed\n",
        ),
    }
}

fn response(code: u16, reason: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 {code} {reason}\r\n");
    let has_type = headers.iter().any(|(k, _)| *k == "Content-Type");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_type {
        r.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    }
    r.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    r.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(r: &[u8]) -> String {
        String::from_utf8_lossy(r)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn get_metrics_renders_the_page() {
        let r = respond(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", || {
            "a 1\n".into()
        });
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(
            text.ends_with("Content-Length: 4\r\nConnection: close\r\n\r\na 1\n"),
            "{text}"
        );
    }

    #[test]
    fn other_paths_methods_and_garbage_are_refused() {
        let never = || -> String { panic!("rendered for a request that is not GET /metrics") };
        assert_eq!(
            status(&respond(b"GET / HTTP/1.1\r\n\r\n", never)),
            "HTTP/1.1 404 Not Found"
        );
        assert_eq!(
            status(&respond(b"POST /metrics HTTP/1.1\r\n\r\n", never)),
            "HTTP/1.1 405 Method Not Allowed"
        );
        assert_eq!(
            status(&respond(b"hello\r\n\r\n", never)),
            "HTTP/1.1 400 Bad Request"
        );
        assert_eq!(
            status(&respond(&vec![b'a'; MAX_REQUEST], never)),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
    }

    #[test]
    fn head_gets_the_headers_alone() {
        let r = respond(b"HEAD /metrics?x=1 HTTP/1.0\n\n", || "a 1\n".into());
        let text = String::from_utf8(r).unwrap();
        assert!(text.ends_with("Connection: close\r\n\r\n"), "{text}");
    }
}
