//! The harness of the integration tests: it starts the real `echokit`
//! binary (`CARGO_BIN_EXE_echokit`) over real sockets.
//!
//! - [`process`]: [`Server`] starts `echokit serve` (always on port 0 or a
//!   path in a fresh temp dir), reads its ready lines before a deadline, and
//!   kills that one pid when dropped; [`send`] / [`echokit`] / [`run_cmd`]
//!   run a one-shot command with given stdin and a timeout, and hand back
//!   status code, stdout bytes and stderr.
//! - [`transports`]: [`Transport`] lists the transports of SPEC §1 with the
//!   address to serve them on, so one test body loops over all of them
//!   (socket2's v4/v6 idea); temp dirs, abstract names, IPv6 availability.
//! - [`peers`]: the tests' own sockets and stand-in peers.
//! - [`corpus`]: payloads and bad addresses.
//! - [`netns`]: a network namespace (and hosts file) of a test's own.
//!
//! Every blocking step has a deadline: output is read on helper threads,
//! child waits poll `try_wait`, and the tests' own sockets get read and write
//! timeouts. Nothing here sleeps to wait for a server: a server is ready once
//! its ready line has been read. Failure messages print the command, its exit
//! status, stdout and stderr.
#![allow(dead_code)]

pub mod corpus;
pub mod foreign;
pub mod http;
pub mod netns;
pub mod peers;
pub mod process;
pub mod transports;

pub use corpus::*;
pub use foreign::*;
pub use http::*;
pub use netns::*;
pub use peers::*;
pub use process::*;
pub use transports::*;
