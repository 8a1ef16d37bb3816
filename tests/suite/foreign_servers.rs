//! The echokit client against echo servers nobody here wrote (issue 16):
//! `send`, `send --file` of several MiB, `send -c 3`, `check ADDR` and
//! `bench -d 1s` each give the true verdict. A server that stops echoing at
//! EOF (ncat --exec, socat EXEC:cat) gets everything back, because the client
//! shuts its write side only once every byte is back; one that answers only
//! after EOF gets EOF after a quiet while; xinetd's 2,048-byte datagram cut
//! is a short datagram; a server that reads and never writes, or a UDP echo
//! that goes silent, makes bench fail, not report success.
//!
//! The servers come from `util/foreign.rs`; a test whose program is missing
//! says so and skips (CI has them all).

use std::time::Duration;

use serde_json::Value;

use crate::util::{
    Foreign, Run, STEP, SilentReader, echokit_within, ncat_exec_cat, ncat_exec_cat_unix,
    python_reads_to_eof_then_echoes, python_udp_echo_then_silent, random_bytes, send,
    socat_exec_cat_tcp, socat_exec_cat_unix, temp_dir, xinetd_echo,
};

/// Several MiB: far more than any socket buffer, pipe or ncat holds at once.
const LARGE: usize = 4 << 20;

fn json_line(run: &Run) -> Value {
    let line = run.out().lines().last().unwrap_or_default().to_string();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.describe()))
}

/// `send MESSAGE` and `send --file` of [`LARGE`] bytes come back whole, and
/// `check ADDR` passes.
fn assert_send_and_check_pass(addr: &str) {
    send(&[addr, "hello"], b"", STEP).assert_echo(b"hello\n");
    let dir = temp_dir();
    let file = dir.path().join("large.bin");
    let payload = random_bytes(LARGE, 16);
    std::fs::write(&file, &payload).expect("write the payload");
    let file = file.display().to_string();
    send(&["--file", &file, addr], b"", STEP).assert_echo(&payload);
    let run = echokit_within(&["check", addr], b"", STEP);
    run.assert_code(0);
    assert!(run.out().contains("PASS"), "{}", run.describe());
}

/// `send -c 3` echoes three times on one connection, and `bench -d 1s` counts
/// requests and no error.
fn assert_ping_and_bench_pass(addr: &str) {
    let run = send(&["-c", "3", "-i", "10ms", addr, "hello"], b"", STEP);
    run.assert_code(0);
    assert_eq!(
        run.out().matches("6 bytes from").count(),
        3,
        "{}",
        run.describe()
    );
    let run = echokit_within(&["bench", "-d", "1s", "-c", "4", "--json", addr], b"", STEP);
    run.assert_code(0);
    let r = json_line(&run);
    assert!(r["requests"].as_u64().unwrap_or(0) > 0, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["mismatches"], 0, "{r}");
}

fn assert_every_verdict_passes(server: &Foreign) {
    assert_send_and_check_pass(&server.addr);
    assert_ping_and_bench_pass(&server.addr);
}

#[test]
fn issue16_ncat_exec_cat_over_tcp_and_unix_gets_every_byte_back_before_our_eof() {
    let Some(mut ncat) = ncat_exec_cat() else {
        return;
    };
    assert_every_verdict_passes(&ncat);
    ncat.proc.assert_running("after the exchanges");
    let dir = temp_dir();
    let Some(mut ncat) = ncat_exec_cat_unix(dir.path()) else {
        return;
    };
    assert_every_verdict_passes(&ncat);
    ncat.proc.assert_running("after the exchanges");
}

#[test]
fn issue16_socat_exec_cat_over_tcp_and_unix_gets_every_byte_back_before_our_eof() {
    let Some(mut socat) = socat_exec_cat_tcp() else {
        return;
    };
    assert_every_verdict_passes(&socat);
    socat.proc.assert_running("after the exchanges");
    let dir = temp_dir();
    let Some(socat) = socat_exec_cat_unix(dir.path()) else {
        return;
    };
    assert_every_verdict_passes(&socat);
}

#[test]
fn issue16_a_server_that_answers_only_after_eof_gets_eof_after_a_quiet_while() {
    let Some(server) = python_reads_to_eof_then_echoes() else {
        return;
    };
    assert_send_and_check_pass(&server.addr);
    // One connection for every echo cannot work with it: the truth is a
    // time-out for ping, and no request completed for bench.
    let run = send(
        &["-c", "3", "-t", "500ms", &server.addr, "hello"],
        b"",
        STEP,
    );
    run.assert_code(4);
    assert_eq!(
        run.stderr,
        format!(
            "echokit: seq=1: timed out waiting for the echo from {} (0 of 6 bytes came back)\n",
            server.addr
        ),
        "{}",
        run.describe()
    );
    let run = echokit_within(
        &["bench", "-d", "1s", "-c", "4", "--json", &server.addr],
        b"",
        STEP,
    );
    run.assert_code(1);
    assert_eq!(json_line(&run)["requests"], 0, "{}", run.describe());
}

#[test]
fn issue16_xinetd_echo_stream_passes_and_its_2048_byte_datagram_is_a_short_datagram() {
    let dir = temp_dir();
    let Some(mut xinetd) = xinetd_echo(dir.path()) else {
        return;
    };
    let addr = xinetd.addr.clone();
    assert_every_verdict_passes(&xinetd);

    // The dgram service sends back the first 2,048 bytes of a datagram.
    let payload = random_bytes(65_507, 17);
    let run = send(&["-u", &addr], &payload, STEP);
    run.assert_stderr_line(
        1,
        &format!(
            "echokit: echo from udp:{addr} is a short datagram: 2048 of 65507 bytes came back"
        ),
    );
    assert_eq!(
        run.stdout,
        payload[..2048],
        "the reply goes to stdout as it came"
    );
    let run = send(&["-u", "--json", &addr], &payload, STEP);
    run.assert_code(1);
    let r = json_line(&run);
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error_class"], "verify", "{r}");
    assert_eq!(r["address"], format!("udp:{addr}"), "{r}");
    send(&["-u", &addr, "hello"], b"", STEP).assert_echo(b"hello\n");
    let run = echokit_within(&["check", &format!("udp:{addr}")], b"", STEP);
    run.assert_code(1);
    assert!(
        run.out()
            .contains("65507B datagram: echo is a short datagram: 2048 of 65507 bytes came back"),
        "{}",
        run.describe()
    );
    xinetd.proc.assert_running("after the exchanges");
}

#[test]
fn issue16_bench_against_a_udp_echo_that_goes_silent_counts_the_lost_requests() {
    let Some(server) = python_udp_echo_then_silent(10) else {
        return;
    };
    let args = [
        "bench",
        "-u",
        "-c",
        "50",
        "-d",
        "2s",
        "--json",
        &server.addr,
    ];
    let run = echokit_within(&args, b"", STEP);
    run.assert_code(1);
    let r = json_line(&run);
    assert_eq!(r["requests"], 10, "{r}");
    // 40 never answered, and the 10 that were sent again: each an error
    // after --timeout (1s), or in flight when the 2s end.
    let errors = r["errors"].as_u64().unwrap_or(0);
    assert!(errors >= 50, "{r}");
}

#[test]
fn issue16_bench_against_a_server_that_never_writes_fails_in_every_workload() {
    let server = SilentReader::start();
    for workload in [&[][..], &["--rate", "1000"], &["--churn"], &["--bulk"]] {
        let mut args = vec!["bench", "-d", "1s", "--json"];
        args.extend_from_slice(workload);
        args.push(&server.addr);
        let started = std::time::Instant::now();
        let run = echokit_within(&args, b"", STEP);
        run.assert_code(1);
        let r = json_line(&run);
        let done = if workload == ["--bulk"] {
            &r["bytes"]
        } else {
            &r["requests"]
        };
        assert_eq!(*done, 0, "{workload:?}: {r}");
        let what = if workload == ["--bulk"] {
            "byte"
        } else {
            "request"
        };
        assert!(
            run.stderr
                .contains(&format!("echokit: no {what} was echoed in 1s")),
            "{workload:?}: {}",
            run.describe()
        );
        // Within --duration plus --timeout.
        assert!(
            started.elapsed() < Duration::from_secs(2) + Duration::from_millis(800),
            "{workload:?}: {}",
            run.describe()
        );
    }
}
