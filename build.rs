//! The one platform predicate. `echokit_linux` is set when the Linux pieces
//! (abstract sockets, MPTCP, splice, recvmmsg, EPOLLEXCLUSIVE, socket
//! activation, sd_notify) are built: on Linux, unless `--cfg
//! echokit_force_portable` asks for the portable twins so that CI compiles
//! them there too (tests/suite/portable_build.rs). Code writes
//! `cfg(echokit_linux)` / `cfg(not(echokit_linux))`, never the predicate.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CARGO_CFG_ECHOKIT_FORCE_PORTABLE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    // Cargo passes the cfgs of RUSTFLAGS to build scripts as CARGO_CFG_*.
    let forced = std::env::var_os("CARGO_CFG_ECHOKIT_FORCE_PORTABLE").is_some();
    if linux && !forced {
        println!("cargo::rustc-cfg=echokit_linux");
    }
}
