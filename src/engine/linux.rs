//! The engine's Linux pieces, chosen once in `mod.rs` (`cfg(echokit_linux)`);
//! `portable.rs` is the twin with the same items. The contract is on the
//! `mod platform` line in `mod.rs`.

#[path = "acceptor.rs"]
pub mod acceptor;
#[path = "batch.rs"]
pub mod batch;
#[path = "splice.rs"]
pub mod splice;
