//! The integration tests of `echokit`: one test crate, as ripgrep has, so the
//! shared harness in `util/` is compiled once and every module sees it.
//!
//! `util/` starts the real binary and holds the tests' own sockets and
//! peers; `suite/` has one module per command or concern; `data/` holds
//! test cases kept as plain text (one case a line). Run one module with
//! `cargo test --test tests suite::serve::`.

mod util;

mod suite {
    mod action;
    mod activation;
    mod bench;
    mod bench_merge;
    mod blackbox;
    mod check;
    mod ci_reports;
    mod cli;
    mod client_failure;
    mod completions;
    mod contrib;
    mod datagram_delivery;
    mod debian;
    mod flags;
    mod foreign_servers;
    mod generated_docs;
    mod hostile;
    mod interop;
    mod limits;
    mod metrics;
    mod mptcp;
    mod outputs;
    mod portable_build;
    mod properties;
    mod readiness;
    mod readme_ci;
    mod resolve;
    mod send;
    mod seqpacket;
    mod serve;
    mod systemd_units;
    mod textfile;
    mod workers;
}
