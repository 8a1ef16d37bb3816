//! Foreign HTTP servers the tests start and ask (Prometheus, node_exporter):
//! they take a fixed port and print no ready line, so the port is one that
//! was free a moment ago (another is tried if the server lost the race), and
//! the server is asked until it gives the answer wanted or a deadline passes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{Proc, STEP, free_tcp_port};

/// One `GET path` to `addr` (`host:port`), the whole response as text.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(STEP))?;
    s.set_write_timeout(Some(STEP))?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    Ok(response)
}

/// Starts `what` with `command(listen_address)` on a free loopback port and
/// asks it `GET path` until `done(response)` holds, within `patience`;
/// returns that response. Panics with the last response and the server's
/// stderr when it never does. The server is killed (by pid) on return.
pub fn ask_until(
    what: &str,
    command: impl Fn(&str) -> Command,
    path: &str,
    patience: Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    let mut last = String::new();
    for _attempt in 0..3 {
        let web = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"));
        let server = Proc::spawn(command(&web));
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(response) = http_get(&web, path) {
                if done(&response) {
                    return response;
                }
                last = response;
            }
            // No ready line to read: the port is asked again shortly.
            std::thread::sleep(Duration::from_millis(100));
        }
        if server.stderr().contains("address already in use") {
            continue;
        }
        panic!(
            "{what} never answered as expected; last answer: {last}\nits stderr:\n{}",
            server.stderr()
        );
    }
    panic!("{what} could not get a port: {last}");
}
