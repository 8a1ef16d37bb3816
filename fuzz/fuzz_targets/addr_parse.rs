//! Fuzzes SPEC §2's address parser, `echokit::addr::parse`: any bytes that
//! are UTF-8 (the grammar takes `&str`, as clap hands it over), under each
//! socket type `-u` and the prefixes can select, must give `Ok` or an exit-2
//! error, never a panic. What it accepts is formatted back (`{:?}` and the
//! error's one-line Display) so those paths run too. No resolution: that
//! would reach getaddrinfo and the network.
#![no_main]

use echokit::addr;
use echokit::transport::Kind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for socket_type in [
        Kind::STREAM,
        Kind::DATAGRAM,
        Kind::SEQPACKET,
    ] {
        match addr::parse(text, socket_type) {
            Ok(endpoint) => {
                assert_eq!(endpoint.text, text);
                std::hint::black_box(format!("{endpoint:?}"));
            }
            Err(e) => {
                assert_eq!(e.exit_code() as u8, 2, "{e}");
                std::hint::black_box(e.to_string());
            }
        }
    }
});
