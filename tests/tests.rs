//! The integration tests of `echokit`: one test crate, as ripgrep has, so the
//! shared harness in `util/` is compiled once and every module sees it.
//!
//! `util/` starts the real binary and holds the tests' own sockets and
//! peers; `suite/` has one module per command or concern; `data/` holds
//! test cases kept as plain text (one case a line). Run one module with
//! `cargo test --test tests suite::serve::`.
//!
//! (`generated_docs.rs` stays a crate of its own: it builds on the library,
//! not on the binary.)

mod util;

mod suite {
    mod activation;
    mod bench;
    mod check;
    mod cli;
    mod interop;
    mod portable_build;
    mod resolve;
    mod send;
    mod seqpacket;
    mod serve;
}
