//! The commands: each turns its arguments into a plan, runs it through the
//! transport layer and the engine, and returns an exit code or an [`Error`].
//! This is the only place where the rooms meet. A command never calls libc,
//! never formats JSON by hand outside its reports (`output` prints them), and
//! never words an errno (`error` does).

pub mod bench;
pub mod check;
pub mod client_failure;
pub mod generate;
pub mod prometheus;
pub mod resolve;
pub mod send;
pub mod serve;

use crate::addr::FamilyFilter;
use crate::cli::AddrFlags;
use crate::transport::Kind;

/// The kind (socket type and protocol) `-u` selects for addresses without a prefix.
pub fn default_kind(flags: &AddrFlags) -> Kind {
    if flags.udp {
        Kind::DATAGRAM
    } else {
        Kind::STREAM
    }
}

/// The family filter of `-4`/`-6`.
pub fn family(flags: &AddrFlags) -> FamilyFilter {
    match (flags.ipv4, flags.ipv6) {
        (true, _) => FamilyFilter::V4,
        (_, true) => FamilyFilter::V6,
        _ => FamilyFilter::Any,
    }
}
