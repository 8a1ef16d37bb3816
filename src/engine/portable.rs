//! The engine's twin for macOS, the BSDs and Linux built with `--cfg
//! echokit_force_portable`: the same items as `linux.rs`, each doing without
//! what the system lacks (no EPOLLEXCLUSIVE, recvmmsg or splice). The
//! contract is on the `mod platform` line in `mod.rs`.

#[path = "acceptor_portable.rs"]
pub mod acceptor;
#[path = "batch_portable.rs"]
pub mod batch;
#[path = "splice_portable.rs"]
pub mod splice;
