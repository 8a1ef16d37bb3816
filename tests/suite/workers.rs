//! What several event loops (`serve --workers N`) share: the process's
//! descriptor table, so running out of it is one episode of the process,
//! said once, not once per worker.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::util::*;

#[test]
fn out_of_descriptors_is_reported_once_whatever_the_number_of_workers() {
    let (mut proc, addr) = serve_with_open_files_limit(48, "--workers 4 127.0.0.1:0");
    // More connections than descriptors: every worker meets EMFILE in turn
    // (a shared listener wakes one worker per connection).
    let mut conns: Vec<TcpStream> = (0..80)
        .map(|_| {
            let s = TcpStream::connect(&addr).expect("connect (the listen queue takes it)");
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            s
        })
        .collect();
    let mut served = 0;
    for s in conns.iter_mut() {
        let mut buf = [0u8; 4];
        if s.write_all(b"ping").is_ok() && s.read_exact(&mut buf).is_ok() {
            served += 1;
        }
    }
    assert!(
        served < 80,
        "all 80 served under a limit of 48\n{}",
        proc.describe()
    );
    assert!(
        proc.wait_stderr("too many open files", STEP),
        "no out-of-descriptors line\n{}",
        proc.describe()
    );
    // Every worker has retried by now (each every 100 ms): still one line.
    let mut probe = TcpStream::connect(&addr).expect("connect");
    probe
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let _ = probe.write_all(b"x");
    let _ = probe.read(&mut [0u8; 1]);
    let lines = proc.stderr().matches("too many open files").count();
    assert_eq!(lines, 1, "reported once per process\n{}", proc.describe());
}
