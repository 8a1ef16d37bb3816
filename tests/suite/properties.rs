//! Bad input, proven (issue 8, point 6): properties of the SPEC §2 address
//! grammar over generated input, through the library API the binary uses
//! (`echokit::addr`), with proptest shrinking any failure to a smallest case.
//!
//! - [`parse_never_panics`]: arbitrary text, and text built from near misses of
//!   the grammar (prefixes, brackets, colons, `@`, `/`, `%` scopes, huge ports,
//!   unicode, NUL), gives `Ok` or an exit-2 error, never a panic; what it accepts
//!   keeps the grammar's limits (sun_path length, no NUL in a path).
//! - [`ready_lines_parse_back`]: every ready line `serve` prints
//!   (`addr::display`) parses back to the same socket type and a target that
//!   resolves to the same concrete address, for every transport.
//! - [`any_command_line_parses_or_is_refused_without_panic`] (issue 15):
//!   arbitrary argv, built from every subcommand, flag and value edge, goes
//!   through `echokit::parse` without a panic.
//!
//! Only literals are resolved, so no case touches the network or the
//! services database; the case counts keep the module well under ten seconds.
//! The cargo-fuzz targets (`fuzz/`, not run here) cover the first and the
//! last property without a time bound.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::PathBuf;

use echokit::addr::{self, FamilyFilter, Host, Port, Role, Target};
use echokit::transport::{Family, Kind, SocketAddress, SocketType, Transport};
use proptest::prelude::*;

/// The bytes a path or abstract name may use on Linux (sun_path is 108 bytes).
const SUN_PATH_USABLE: usize = 107;

/// Every kind (socket type and protocol) of the model's rows on `family`.
fn kinds_of(family: Family) -> Vec<Kind> {
    let mut kinds: Vec<Kind> = Transport::ALL
        .iter()
        .filter(|t| t.family() == family)
        .map(|t| t.kind())
        .collect();
    kinds.dedup();
    kinds
}

/// Any kind a default (`-u` or not) or a prefix may give.
fn socket_type() -> impl Strategy<Value = Kind> {
    let mut all = kinds_of(Family::Unix);
    all.extend(kinds_of(Family::Inet4));
    all.sort_by_key(|k| format!("{k:?}"));
    all.dedup();
    proptest::sample::select(all)
}

/// Pieces of the grammar and its near misses, glued together in any order.
fn fragment() -> impl Strategy<Value = String> {
    let pieces: Vec<&'static str> = vec![
        "tcp:",
        "udp:",
        "unix:",
        "unixgram:",
        "seqpacket:",
        "tcp",
        "unixgram",
        "[",
        "]",
        ":",
        "::",
        "@",
        "/",
        "./",
        "%",
        "%lo",
        "%1",
        "%nosuchif",
        "%4294967296",
        "127.0.0.1",
        "300.1.1.1",
        "1.2.3",
        "::1",
        "fe80::1",
        "::ffff:1.2.3.4",
        "0",
        "7",
        "65535",
        "65536",
        "4294967296",
        "99999999999999999999999999",
        "-1",
        "+1",
        "localhost",
        "echo",
        "\0",
        "\n",
        " ",
        "é",
        "😀",
        "\u{202e}",
        "\u{ff1a}",
    ];
    prop_oneof![
        3 => proptest::sample::select(pieces).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
        1 => "[0-9]{1,30}",
        1 => "[a-z]{1,120}",
    ]
}

/// Text near the grammar: fragments joined, sometimes up to past sun_path's limit.
fn near_miss() -> impl Strategy<Value = String> {
    proptest::collection::vec(fragment(), 0..12).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn parse_never_panics(
        text in prop_oneof![any::<String>(), near_miss()],
        default_type in socket_type(),
    ) {
        match addr::parse(&text, default_type) {
            Err(e) => prop_assert_eq!(e.exit_code() as u8, 2, "{}", e),
            Ok(endpoint) => {
                prop_assert_eq!(&endpoint.text, &text);
                match &endpoint.target {
                    Target::Path(path) => {
                        let bytes = path.as_os_str().as_encoded_bytes();
                        prop_assert!(!bytes.is_empty() && bytes.len() <= SUN_PATH_USABLE);
                        prop_assert!(!bytes.contains(&0));
                    }
                    Target::Abstract(name) => {
                        prop_assert!(!name.is_empty() && name.len() <= SUN_PATH_USABLE);
                    }
                    Target::Inet { .. } => {
                        prop_assert_ne!(endpoint.kind.socket_type, SocketType::SeqPacket);
                    }
                }
                // A literal (or `:PORT` to listen on) resolves without a lookup: no
                // network, so it runs here, and it must not panic either.
                let literal = matches!(
                    &endpoint.target,
                    Target::Inet { host: Host::Ip(..) | Host::Unspecified, port: Port::Number(_) }
                );
                if literal {
                    let resolved = addr::resolve(&endpoint, FamilyFilter::Any, Role::Listen);
                    prop_assert!(resolved.is_ok_and(|r| r.len() == 1));
                }
            }
        }
    }
}

/// Any IPv6 scope: an interface's index (printed by name) or a number no
/// interface has (printed as the number). nix 0.32's `if_indextoname` answers
/// `Ok("")` for the latter; `addr::display` once printed `[fe80::1%]:7` for it,
/// which the grammar rejects. Found by this test.
fn scope_id() -> impl Strategy<Value = u32> {
    let interfaces: Vec<u32> = (1..=256)
        .filter(|&index| {
            nix::net::if_::if_indextoname(index).is_ok_and(|name| !name.as_bytes().is_empty())
        })
        .collect();
    prop_oneof![
        1 => Just(0),
        1 => proptest::sample::select(if interfaces.is_empty() { vec![0] } else { interfaces }),
        1 => any::<u32>(),
    ]
}

/// A path as `serve` may bind it: within sun_path, no NUL, not starting with
/// `@` (`@x` is the grammar's abstract name: such a file is displayed as
/// `./@x`, the same file by another spelling, which a unit test in
/// `src/addr.rs` pins).
fn unix_path() -> impl Strategy<Value = PathBuf> {
    "[^\x00-\x1f\x7f]{1,60}"
        .prop_filter("within sun_path", |p| p.len() <= SUN_PATH_USABLE)
        .prop_filter("a leading @ is respelled ./@", |p| !p.starts_with('@'))
        .prop_map(PathBuf::from)
}

/// An abstract name as the grammar can type it: UTF-8, non-empty, within sun_path.
fn abstract_name() -> impl Strategy<Value = Vec<u8>> {
    "[^\x00-\x1f\x7f]{1,60}"
        .prop_filter("within sun_path", |n| n.len() <= SUN_PATH_USABLE)
        .prop_map(String::into_bytes)
}

/// A concrete address and a socket type that goes with it (every transport of SPEC §1).
fn ready_address() -> impl Strategy<Value = (Kind, SocketAddress)> {
    let inet_type = proptest::sample::select(kinds_of(Family::Inet4));
    let v4 = (any::<Ipv4Addr>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddr::V4(SocketAddrV4::new(ip, port)));
    let v6 = (any::<Ipv6Addr>(), any::<u16>(), scope_id())
        .prop_map(|(ip, port, scope)| SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope)));
    let unix = prop_oneof![
        unix_path().prop_map(SocketAddress::Path),
        abstract_name().prop_map(SocketAddress::Abstract),
    ];
    prop_oneof![
        (inet_type, prop_oneof![v4, v6].prop_map(SocketAddress::Inet)),
        (proptest::sample::select(kinds_of(Family::Unix)), unix),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn ready_lines_parse_back(
        (socket_type, address) in ready_address(),
        default_type in socket_type(),
    ) {
        let line = addr::display(socket_type, &address);
        let prefix = Transport::of(socket_type, &address).prefix();
        prop_assert!(line.starts_with(&format!("{prefix}:")), "{}", line);
        // The prefix decides, whatever -u would have said.
        let endpoint = match addr::parse(&line, default_type) {
            Ok(endpoint) => endpoint,
            Err(e) => return Err(TestCaseError::fail(format!("{line:?}: {e}"))),
        };
        prop_assert_eq!(endpoint.kind, socket_type, "{}", line);
        for role in [Role::Listen, Role::Connect] {
            match addr::resolve(&endpoint, FamilyFilter::Any, role) {
                Ok(resolved) => prop_assert_eq!(&resolved, &vec![address.clone()], "{}", line),
                // Issue 15: a connect needs a scope an interface has, and one at all for link-local.
                Err(_) if role == Role::Connect && scope_refused(&address) => {}
                Err(e) => return Err(TestCaseError::fail(format!("{line:?}: {e}"))),
            }
        }
    }
}

/// Whether `send` refuses this address's scope (issue 15): a link-local
/// IPv6 address without one, or a scope no interface has.
fn scope_refused(address: &SocketAddress) -> bool {
    let SocketAddress::Inet(SocketAddr::V6(a)) = address else {
        return false;
    };
    let link_local = a.ip().segments()[0] & 0xffc0 == 0xfe80;
    let known = nix::net::if_::if_indextoname(a.scope_id()).is_ok_and(|n| !n.as_bytes().is_empty());
    (a.scope_id() == 0 && link_local) || (a.scope_id() != 0 && !known)
}

/// Words an argv is built from: every subcommand and flag, values at and past
/// their limits, addresses, and garbage.
fn argv_word() -> impl Strategy<Value = String> {
    let words: Vec<&'static str> = vec![
        "serve",
        "send",
        "check",
        "bench",
        "resolve",
        "generate",
        "man",
        "completions",
        "bash",
        "--timeout",
        "-t",
        "--connect-timeout",
        "--idle-timeout",
        "--drain",
        "--interval",
        "-i",
        "--duration",
        "-d",
        "--buffer-size",
        "--size",
        "-s",
        "--count",
        "-c",
        "--connections",
        "--rate",
        "-r",
        "--requests",
        "--threads",
        "--workers",
        "--backlog",
        "--max-conns",
        "--udp-rate",
        "--retries",
        "--mode",
        "--require",
        "--unix-dir",
        "--junit",
        "--metrics",
        "--metrics-file",
        "--file",
        "--json",
        "-q",
        "-v",
        "-vv",
        "-u",
        "-4",
        "-6",
        "-n",
        "--bulk",
        "--churn",
        "--inetd",
        "--v6only",
        "--github",
        "--tcp",
        "--canonname",
        "--help",
        "--version",
        "--",
        "0",
        "1",
        "100y",
        "101y",
        "1e19",
        "1e20",
        "300000000000y",
        "18446744073709551615",
        "18446744073709551616",
        "16MiB",
        "17MiB",
        "1000000GiB",
        "-1",
        "NaN",
        "0660",
        "9999",
        "127.0.0.1:0",
        "[::1]:0",
        ":5000",
        "udp:127.0.0.1:0",
        "seqpacket:/tmp/x",
        "@x",
        "/tmp/x",
        "localhost",
        "ipv6,unix,bogus",
        "",
    ];
    prop_oneof![
        4 => proptest::sample::select(words).prop_map(String::from),
        1 => "[^\\x00]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Issue 15: any argv, through the parser and value checks the binary
    /// runs first (`echokit::parse`, also the `argv` fuzz target's entry),
    /// gives a command line or a clap error that renders, never a panic; a
    /// usage error is exit 2 in `main`. Nothing is run.
    #[test]
    fn any_command_line_parses_or_is_refused_without_panic(
        words in proptest::collection::vec(argv_word(), 0..8)
    ) {
        let argv = std::iter::once("echokit".to_string()).chain(words);
        match echokit::parse(argv) {
            Ok(cli) => { std::hint::black_box(format!("{cli:?}")); }
            Err(e) => { std::hint::black_box(e.render().to_string()); }
        }
    }
}
