//! What the tests feed the binary: deterministic random payloads, and the
//! bad-address cases `send` and `serve` must both refuse.

/// Deterministic pseudo-random bytes (xorshift64*), different for each `seed`.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Bad addresses (with the flags before them) and the exact stderr line each
/// must give with exit 2 (SPEC §2): `send` and `serve` share the grammar.
pub fn bad_addresses() -> Vec<(Vec<String>, String)> {
    let long_path = format!("/tmp/{}", "a".repeat(103)); // 108 bytes: one too many
    let long_path = long_path.as_str();
    let bad = |addr: &str, reason: &str| format!("echokit: invalid address {addr:?}: {reason}");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["127.0.0.1:65536"],
            bad("127.0.0.1:65536", "port 65536 out of range (0-65535)"),
        ),
        (
            vec!["[::zz]:1"],
            bad("[::zz]:1", "bad IPv6 address \"::zz\""),
        ),
        (
            vec!["::1:5"],
            bad("::1:5", "IPv6 addresses need brackets: [::1]:5"),
        ),
        (
            vec!["localhost:nosuchservice"],
            bad(
                "localhost:nosuchservice",
                "unknown service \"nosuchservice\" for tcp (not in the services database, /etc/services)",
            ),
        ),
        (
            vec!["udp:localhost:nosuchservice"],
            bad(
                "udp:localhost:nosuchservice",
                "unknown service \"nosuchservice\" for udp (not in the services database, /etc/services)",
            ),
        ),
        (
            vec![long_path],
            bad(
                long_path,
                "Unix socket path is 108 bytes; sun_path holds at most 107 usable bytes (use a shorter directory)",
            ),
        ),
        (
            vec!["[fe80::1%nosuchif]:1"],
            bad(
                "[fe80::1%nosuchif]:1",
                "unknown scope \"nosuchif\" (no such network interface)",
            ),
        ),
        (
            vec!["127.0.0.1:"],
            bad("127.0.0.1:", "missing port after ':'"),
        ),
        (
            vec!["[::1]"],
            bad("[::1]", "missing :PORT after ']' (e.g. [::1]:5000)"),
        ),
        (
            vec!["127.0.0.1"],
            bad(
                "127.0.0.1",
                "expected HOST:PORT, :PORT, a path containing '/', or @name (e.g. localhost:5000)",
            ),
        ),
        (
            vec!["300.1.1.1:5"],
            bad("300.1.1.1:5", "bad IPv4 address \"300.1.1.1\""),
        ),
        (
            vec!["tcp:@echokit-test"],
            bad(
                "tcp:@echokit-test",
                "tcp: and udp: take HOST:PORT, not @name",
            ),
        ),
        (
            vec!["udp:@echokit-test"],
            bad(
                "udp:@echokit-test",
                "tcp: and udp: take HOST:PORT, not @name",
            ),
        ),
        (
            vec!["tcp:/tmp/x.sock"],
            bad(
                "tcp:/tmp/x.sock",
                "tcp: and udp: take HOST:PORT, not a path",
            ),
        ),
        (
            vec!["@"],
            bad("@", "an abstract socket needs a name after @"),
        ),
        (
            vec![""],
            bad("", "empty address (try HOST:PORT, /path or @name)"),
        ),
        (
            vec!["-4", "[::1]:5"],
            bad("[::1]:5", "::1 is an IPv6 address but -4 was given"),
        ),
        (
            vec!["-6", "127.0.0.1:5"],
            bad(
                "127.0.0.1:5",
                "127.0.0.1 is an IPv4 address but -6 was given",
            ),
        ),
    ];
    cases
        .into_iter()
        .map(|(args, line)| (args.into_iter().map(String::from).collect(), line))
        .collect()
}
