//! The commands: each turns its arguments into a plan, runs it through the
//! transport layer and the engine, and returns an exit code or an [`Error`].
//! This is the only place where the rooms meet. A command never calls libc,
//! never formats JSON by hand outside its reports (`output` prints them), and
//! never words an errno (`error` does).

pub mod bench;
pub mod check;
pub mod generate;
pub mod prometheus;
pub mod resolve;
pub mod send;
pub mod serve;

use crate::addr::FamilyFilter;
use crate::cli::AddrFlags;
use crate::transport::SocketType;

/// The socket type `-u` selects for addresses without a prefix.
pub fn default_type(flags: &AddrFlags) -> SocketType {
    if flags.udp {
        SocketType::Datagram
    } else {
        SocketType::Stream
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
