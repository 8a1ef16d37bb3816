//! The man pages: the hand-written sections, the small converter that turns
//! them into roff, and the assembly of each page around what clap_mangen
//! renders from [`Cli`](super::Cli).
//!
//! clap_mangen renders NAME, SYNOPSIS, DESCRIPTION, OPTIONS, SUBCOMMANDS and
//! VERSION from the clap definition beside this file; everything the command
//! line cannot say (the address grammar, exit status, examples, JSON fields,
//! signals) is written here, next to the flags it describes, so a change to
//! one is seen beside the other. `echokit generate man DIR` writes [`pages`];
//! `man/` in the repository is exactly that output (tests/generated_docs.rs).
//! Like the rest of `cli`, this module renders into memory and never touches
//! a file or stdout.
//!
//! The text uses a tiny markup, so it reads as plain prose here and every
//! roff escape (`\-`, `\(aq`, a leading `.`) is left to the `roff` crate:
//!
//! - a blank line starts a new paragraph (`.PP`);
//! - `## Title` is a subsection (`.SS`);
//! - `: term` starts a tagged paragraph (`.TP`); the lines below it, up to
//!   a blank line, describe the term;
//! - `- item` is a bullet (`.IP`); lines indented by two spaces continue it;
//! - `> text` is an indented paragraph, for a message too long for an example;
//! - lines between two ```` ``` ```` lines are an example, shown verbatim
//!   and indented; ```` ```flush ```` opens one at the margin, for lines
//!   that would not fit 80 columns indented;
//! - inline, `` `x` `` is bold (what you type) and `{x}` italic (what you replace).

use std::io::Write;

use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Inline, Roff, bold, italic, roman};

/// One man page: its file name (`echokit-serve.1`) and its bytes.
pub struct ManPage {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The command line as the man pages show it: built, so that each subcommand
/// knows its full name (`echokit-serve`, `echokit serve`), and without clap's
/// `help` subcommand, which is not a page of its own.
pub fn built_command() -> clap::Command {
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The names of the subcommands that get a page.
pub fn subcommand_names(cmd: &clap::Command) -> Vec<String> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect()
}

/// `echokit.1` and one `echokit-NAME.1` per subcommand: what
/// `echokit generate man DIR` writes.
pub fn pages() -> Vec<ManPage> {
    let cmd = built_command();
    let all = subcommand_names(&cmd);
    let mut pages = vec![ManPage {
        name: "echokit.1".into(),
        bytes: render(&cmd, None, &all),
    }];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push(ManPage {
            name: format!("echokit-{}.1", sub.get_name()),
            bytes: render(sub, Some(sub.get_name()), &all),
        });
    }
    pages
}

/// One page: clap_mangen's sections, with the hand-written ones placed as
/// man-pages(7) orders them.
fn render(cmd: &clap::Command, subcommand: Option<&str>, all: &[String]) -> Vec<u8> {
    let title = cmd
        .get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_uppercase();
    // `.TH` takes the date as its third argument. An empty one would vanish
    // and shift the source into its place, so it is an explicit `""`; a real
    // date would make the output differ from day to day (and from man/).
    let man = Man::new(cmd.clone())
        .title(title)
        .date("\"\"")
        .manual("General Commands Manual")
        .source(format!("echokit {}", env!("CARGO_PKG_VERSION")));
    let mut page = preamble();
    let part = |render: &dyn Fn(&Man, &mut dyn Write) -> std::io::Result<()>| {
        let mut buf = Vec::new();
        render(&man, &mut buf).expect("rendering into memory cannot fail");
        let text = String::from_utf8(buf).expect("clap_mangen writes UTF-8");
        strip_preamble(&text)
    };
    page.push_str(&part(&|m, w| m.render_title(w)));
    // Ragged right and no hyphenation: names such as getaddrinfo and
    // unixgram:/tmp/e.sock must stay whole to be found and copied.
    // (`.nh` alone is undone by every paragraph macro; the man macros
    // re-apply the HY register instead.)
    page.push_str(".ad l\n.nh\n.nr HY 0\n");
    page.push_str(&part(&|m, w| m.render_name_section(w)));
    // clap_mangen's synopsis lists every flag without its value
    // (`[--backlog]`); clap's own usage line is both shorter and right.
    page.push_str(&synopsis(&cmd.clone().render_usage().to_string()));
    page.push_str(&part(&|m, w| m.render_description_section(w)));
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        page.push_str(&part(&|m, w| m.render_options_section(w)));
    }
    // Only the top page lists subcommands as pages of their own; a nested
    // subcommand (`generate man`) has no page, so its own page describes it.
    if subcommand.is_none() {
        page.push_str(&part(&|m, w| m.render_subcommands_section(w)));
    }
    // clap_mangen would render `after_help` as "EXTRA"; its one-line exit
    // status summary is EXIT STATUS here, in full.
    let hand = self::page(subcommand, all);
    for section in &hand.before {
        page.push_str(&to_roff(section.title, &section.text));
    }
    if cmd.get_version().is_some() {
        page.push_str(&part(&|m, w| m.render_version_section(w)));
    }
    for section in &hand.after {
        page.push_str(&to_roff(section.title, &section.text));
    }
    page.into_bytes()
}

/// One hand-written section: its heading and its text in the markup above.
pub struct Section {
    pub title: &'static str,
    pub text: String,
}

fn section(title: &'static str, text: impl Into<String>) -> Section {
    Section {
        title,
        text: text.into(),
    }
}

/// The hand-written sections of one page: `before` goes after the generated
/// OPTIONS/SUBCOMMANDS (custom sections, EXIT STATUS, ENVIRONMENT), `after`
/// after the generated VERSION (EXAMPLES, SEE ALSO), as man-pages(7) orders them.
pub struct Page {
    pub before: Vec<Section>,
    pub after: Vec<Section>,
}

/// The hand-written sections for `echokit` (`None`) or one subcommand;
/// `all` names every subcommand the CLI has, for the cross-references.
///
/// Every page has the same frame — its own sections, EXIT STATUS,
/// ENVIRONMENT (with the page's own variables), then EXAMPLES and SEE ALSO —
/// so a page is only its own parts.
pub fn page(subcommand: Option<&str>, all: &[String]) -> Page {
    let (own, environment, examples): (Vec<Section>, Option<&str>, Option<&str>) = match subcommand
    {
        None => (
            vec![
                section("TRANSPORTS", TRANSPORTS),
                section("ADDRESSES", ADDRESSES),
                section("OUTPUT", OUTPUT),
                section("JSON OUTPUT", json_overview(all)),
            ],
            None,
            Some(EXAMPLES_TOP),
        ),
        Some("serve") => (
            vec![
                section("ADDRESSES", ADDRESSES),
                section("OUTPUT", SERVE_OUTPUT),
                section("DATAGRAMS", SERVE_DATAGRAMS),
                section("UNIX SOCKET FILES", SERVE_UNIX_FILES),
                section("INETD AND SOCKET ACTIVATION", SERVE_INHERITED),
                section("READINESS", SERVE_READINESS),
                section("METRICS", SERVE_METRICS),
                section("SYSTEMD UNITS", SERVE_SYSTEMD),
                section("JSON OUTPUT", SERVE_JSON),
                section("SIGNALS", SERVE_SIGNALS),
            ],
            Some(SERVE_ENVIRONMENT),
            Some(SERVE_EXAMPLES),
        ),
        Some("send") => (
            vec![
                section("ADDRESSES", ADDRESSES),
                section("STREAMS", SEND_STREAMS),
                section("DATAGRAMS", SEND_DATAGRAMS),
                section("MESSAGES", SEND_MESSAGES),
                section("REPEAT MODE", SEND_REPEAT),
                section("JSON OUTPUT", SEND_JSON),
                section("SIGNALS", SEND_SIGNALS),
            ],
            None,
            Some(SEND_EXAMPLES),
        ),
        Some("check") => (
            vec![
                section("ADDRESSES", ADDRESSES),
                section("JSON OUTPUT", CHECK_JSON),
                section("CI REPORTS", CHECK_CI),
            ],
            Some(CHECK_ENVIRONMENT),
            Some(CHECK_EXAMPLES),
        ),
        Some("bench") => (
            vec![
                section("WORKLOADS", BENCH_WORKLOADS),
                section("ADDRESSES", ADDRESSES),
                section("JSON OUTPUT", BENCH_JSON),
                section("MANY MACHINES", BENCH_MANY),
            ],
            None,
            Some(BENCH_EXAMPLES),
        ),
        Some("resolve") => (
            vec![
                section("OUTPUT", RESOLVE_OUTPUT),
                section("JSON OUTPUT", RESOLVE_JSON),
            ],
            None,
            Some(RESOLVE_EXAMPLES),
        ),
        Some("generate") => (
            vec![section("COMMANDS", GENERATE_COMMANDS)],
            None,
            Some(GENERATE_EXAMPLES),
        ),
        // A subcommand nobody has written prose for yet still gets the parts
        // every page must have.
        Some(_) => (Vec::new(), None, None),
    };
    let mut before = own;
    before.push(section("EXIT STATUS", EXIT_STATUS));
    before.push(section(
        "ENVIRONMENT",
        match environment {
            Some(more) => format!("{ENVIRONMENT}\n\n{more}"),
            None => ENVIRONMENT.to_string(),
        },
    ));
    // The resolve page documents the files getaddrinfo reads, after ENVIRONMENT.
    if subcommand == Some("resolve") {
        before.push(section("FILES", RESOLVE_FILES));
    }
    let mut after: Vec<Section> = examples
        .map(|text| section("EXAMPLES", text))
        .into_iter()
        .collect();
    after.push(section("SEE ALSO", see_also(subcommand, all)));
    Page { before, after }
}

/// Every piece of hand-written text, for checks over all of it.
pub fn all_text(all: &[String]) -> Vec<String> {
    let names = [
        None,
        Some("serve"),
        Some("send"),
        Some("check"),
        Some("bench"),
        Some("resolve"),
        Some("generate"),
    ];
    names
        .into_iter()
        .flat_map(|n| {
            let p = page(n, all);
            p.before.into_iter().chain(p.after).map(|s| s.text)
        })
        .collect()
}

/// SEE ALSO: the other echokit pages, then the system's, by section and
/// name (man-pages(7)).
fn see_also(this: Option<&str>, all: &[String]) -> String {
    let mut pages: Vec<(String, u8)> = Vec::new();
    if this.is_some() {
        pages.push(("echokit".into(), 1));
    }
    for sub in all {
        if Some(sub.as_str()) != this {
            pages.push((format!("echokit-{sub}"), 1));
        }
    }
    let mut system: Vec<(&str, u8)> = vec![
        ("nc", 1),
        ("socat", 1),
        ("getaddrinfo", 3),
        ("services", 5),
        ("ip", 7),
        ("ipv6", 7),
        ("unix", 7),
    ];
    match this {
        Some("resolve") => system.extend([("gai.conf", 5), ("hosts", 5)]),
        Some("serve") => system.extend([
            ("inetd", 8),
            ("systemd.socket", 5),
            ("systemd.exec", 5),
            ("sd_listen_fds", 3),
            ("sd_notify", 3),
        ]),
        _ => {}
    }
    system.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
    pages.extend(system.into_iter().map(|(n, s)| (n.to_string(), s)));
    let refs: Vec<String> = pages.iter().map(|(n, s)| format!("`{n}`({s})")).collect();
    format!(
        "{}\n\nRFC 862 (the echo protocol), RFC 6724 (the order getaddrinfo sorts addresses in).",
        refs.join(", ")
    )
}

/// The script that starts a server on port 0 and reads its ready line,
/// shown on echokit(1) and echokit-serve(1).
macro_rules! ready_line_script {
    () => {
        "```
exec 3< <(exec echokit serve 127.0.0.1:0)
server=$!
read -r addr <&3          # tcp:127.0.0.1:40123, once it listens
echokit send \"$addr\" hello
kill \"$server\"
```"
    };
}

const TRANSPORTS: &str = r#"
Every transport is a triple (family, type, protocol), and every socket is made one way, as the BSD socket API does it: `socket`(2), then `bind`(2), `listen`(2) and `accept`(2), or `connect`(2).

: `tcp4`, `tcp6`
AF_INET or AF_INET6, SOCK_STREAM: `127.0.0.1:5000`, `[::1]:5000`.

: `udp4`, `udp6`
AF_INET or AF_INET6, SOCK_DGRAM: `-u 127.0.0.1:5000`, `udp:[::1]:5000`.

: `unix`
AF_UNIX, SOCK_STREAM: `/tmp/echo.sock`.

: `unixgram`
AF_UNIX, SOCK_DGRAM: `-u /tmp/echo.sock`, `unixgram:/tmp/echo.sock`.

: `seqpacket`
AF_UNIX, SOCK_SEQPACKET: connections, as for streams, that keep message boundaries, as datagrams do: `seqpacket:/tmp/echo.sock`. Linux and the BSDs have it; macOS does not ("not supported on this platform").

: `abstract`
AF_UNIX in the Linux abstract namespace (no file), of any of the three types: `@echo`, `unixgram:@echo`, `seqpacket:@echo`.

: `mptcp4`, `mptcp6`
AF_INET or AF_INET6, SOCK_STREAM, IPPROTO_MPTCP (Multipath TCP, Linux): `mptcp:127.0.0.1:5000`, `mptcp:[::1]:5000`. A peer that does not speak MPTCP falls back to plain TCP on the same connection; `serve -v` and `send -v` say which one a connection is (MPTCP, or TCP after fallback), as the kernel tells it. A kernel without MPTCP, or with it turned off (`net.mptcp.enabled=0`), refuses the socket with an error naming the fix (`sysctl net.mptcp.enabled=1`); `check` shows its mptcp4 and mptcp6 rows as SKIP then, and they pass only when both ends of the connection are MPTCP. Elsewhere than Linux: "not supported on this platform".
"#;

const ADDRESSES: &str = r#"
Every command reads addresses in one grammar.

: {HOST}`:`{PORT}
{HOST} is an IPv4 literal or a host name; {PORT} is a number from 0 to 65535 or a service name from the services database: `localhost:echo` is port 7. A name is resolved with getaddrinfo(3) and may give several addresses: `serve` listens on all of them (with port 0, the first gets a port from the kernel and the others bind that same port, so one number serves both 127.0.0.1 and ::1), skipping with one warning line an address this machine does not have (a hosts file naming ::1 while IPv6 is off) as long as another binds, whereas a literal it does not have is exit 5; `send` tries them in order and, if all fail, reports each failure.

: `[`{IPv6}`]:`{PORT}
An IPv6 literal in brackets, with an optional scope id, a name or a number: `[fe80::1%eth0]:5000`, `[fe80::1%2]:5000`.

: `:`{PORT}
`serve`: every local address, as one dual-stack `[::]` socket with IPV6_V6ONLY off, so IPv4 clients arrive as `::ffff:`{a.b.c.d} (`--v6only` turns it on); `0.0.0.0` where the machine has no IPv6. `send`: localhost.

: {PATH}
Anything containing a slash is a Unix socket path: `/tmp/echo.sock`, `./echo.sock`. `unix:`{NAME} forces a path without a slash. A path may use at most the 107 usable bytes of sun_path.

: `@`{NAME}
A Linux abstract-namespace socket, which has no file; also after a prefix: `unix:@echo`, `unixgram:@echo`, `seqpacket:@echo`. A file whose name starts with @ is written `./@echo`. On other systems, an error.

: `tcp:`, `udp:`, `unix:`, `unixgram:`, `seqpacket:`, `mptcp:`
A prefix names the transport: `udp:[::1]:7`, `unixgram:/tmp/echo.sock`, `seqpacket:@echo`. Without one, `-u` selects datagrams (UDP, or SOCK_DGRAM for Unix sockets) and the default is streams; `-4` and `-6` restrict name resolution to one family.

Bad input names the bad part and exits 2: a port out of range, an unknown service, a bad IPv6 literal, an unknown scope, a path longer than sun_path holds, a datagram larger than the transport carries.
"#;

const OUTPUT: &str = r#"
Data goes to stdout; diagnostics go to stderr, one line each, starting with `echokit:` and naming the address and the system's reason. Argument errors may add clap's usage hint below that line. `-v` says more on stderr (repeat it for more), `-q` says nothing but errors.

Durations are written as `500ms`, `2s`, `1m30s` (a bare number is seconds); sizes as `8`, `4KiB`, `64KiB`, `1MiB`.
"#;

/// Where each command's JSON fields are listed.
fn json_overview(all: &[String]) -> String {
    let pages: Vec<String> = all.iter().map(|s| format!("`echokit-{s}`(1)")).collect();
    format!(
        "With `--json`, each command prints JSON lines on stdout, one object per line, instead of its human-readable output; error lines still go to stderr. The fields of each command are listed in its own page: {}.",
        pages.join(", ")
    )
}

const EXIT_STATUS: &str = r#"
: 0
Success.

: 1
Verification failed: the echo differed or ended early, or a check failed.

: 2
Usage error or invalid address, including a name that does not resolve, input that cannot be read (`--file`, stdin), and a value past its flag's limit (a duration over 100y, a size over 16MiB), named with that limit.

: 3
Could not connect: refused (also ICMP port unreachable on UDP), unreachable, no such socket file, permission denied, resolver unavailable.

: 4
Timed out.

: 5
Could not listen: address in use, privileged port, bad socket directory, a non-socket (a file, a symlink) at the path.

: 6
Internal error: a failure that is no fault of the input, the peer or the machine's setup, such as the event loop itself failing; or output that could not be written (stdout on a full disk: `echokit: cannot write to stdout: no space left on device`). A reader of stdout that goes away, as head(1) does, is no failure. A closed stderr loses the messages, never the exit status.

Every error is one line on stderr that names the address and the system's reason, such as `echokit: cannot listen on 127.0.0.1:5000: address in use`.
"#;

const ENVIRONMENT: &str = r#"
: NO_COLOR
Honoured: echokit prints no colour at all, on a terminal or not.
"#;

const EXAMPLES_TOP: &str = concat!(
    r#"
One server and one client per transport. `serve` prints one ready line per listener, and `send` takes that line as its address.

## tcp4 and tcp6

```
echokit serve 127.0.0.1:5000 '[::1]:5000' &
echokit send 127.0.0.1:5000 hello
echokit send '[::1]:5000' hello
```

## udp

```
echokit serve -u 127.0.0.1:5000 'udp:[::1]:5000' &
echokit send -u 127.0.0.1:5000 hello
echokit send 'udp:[::1]:5000' hello
```

## unix and unixgram

```
echokit serve /tmp/echo.sock unixgram:/tmp/echo.dgram &
echokit send /tmp/echo.sock hello
echokit send -u /tmp/echo.dgram hello
```

## abstract (Linux)

```
echokit serve @echo unixgram:@echo &
echokit send @echo hello
echokit send unixgram:@echo hello
```

## every transport in one process

```
$ echokit serve 127.0.0.1:0 '[::1]:0' udp:127.0.0.1:0 /tmp/e.sock @e
tcp:127.0.0.1:40123
tcp:[::1]:38215
udp:127.0.0.1:41562
unix:/tmp/e.sock
unix:@e
```

## in a script

Let the kernel pick the port, and wait for the ready line rather than for a fixed time (bash):

"#,
    ready_line_script!(),
    r#"

## in CI

Fail the job when IPv6 or Unix sockets do not work on the runner:

```
echokit check --require ipv6,unix
```

As a GitHub Actions step:

```
- name: IPv6 and Unix sockets work
  run: echokit check --require ipv6,unix
```

## what a name resolves to

```
echokit resolve localhost http
```
"#
);

const SERVE_OUTPUT: &str = r#"
Once every listener is bound, `serve` prints one ready line per listener on stdout, in the address grammar with its prefix, and nothing else there:

```
tcp:127.0.0.1:40123
udp:[::1]:40123
unix:/tmp/echo.sock
unix:@echo
```

Logs go to stderr. With `-v`, one line per connection when it ends: the listener, the peer (for Unix sockets, its pid, uid and gid), bytes each way, duration and how it ended (completed, reset by peer, idle timeout, drain timeout, server stopped, or an error), and connections closed at once because of `--max-conns`; `-vv` adds a line per accepted connection. Dropped datagrams are logged even without `-v`, at most once per second for each listener and reason.

A stream connection is echoed until the peer shuts down its write side; then whatever is left is echoed, our write side is shut down and the connection closed. A peer that sends but does not read is throttled, so memory per connection stays bounded. A peer that resets or vanishes ends only its own connection.
"#;

const SERVE_DATAGRAMS: &str = r#"
Each datagram goes back to its sender as one datagram, byte for byte. These are counted and not answered:

- a datagram larger than `--buffer-size` (detected with MSG_TRUNC, never echoed cut);
- a datagram from source port 0 or from the ports of the inetd internal services, echo (7), discard (9), daytime (13), chargen (19) and time (37): answering them is how two echo services loop forever;
- a datagram from a Unix socket with no bound address, which cannot be answered;
- a datagram whose source is one of this server's own datagram listeners (for a wildcard listener: its port from a loopback address, or from the address the datagram was sent to): a forged, self-addressed datagram would loop inside the process;
- datagrams over `--udp-rate` per second from one source address.

The echo goes to the sender's whole address exactly as the kernel gave it (a Unix path or abstract name of any length, an autobound name, IPv4, IPv6) and to nobody else. A UDP echo leaves from the address its datagram was sent to (IP_PKTINFO, IPV6_PKTINFO), so a listener on a wildcard address answers a connected client from the address that client expects.

Dropped datagrams are logged on stderr at most once a second, with a count and the last sender.

Over `seqpacket:`, connections are accepted as for streams and each message goes back whole on its connection. A message larger than `--buffer-size` is never echoed cut: it is logged (whatever `-v`) and counted, and that connection is closed.
"#;

const SERVE_UNIX_FILES: &str = r#"
A stale socket file (nothing accepts on it) is replaced. A live one is "address in use" (exit 5), also when its listen queue is full (the probe never waits). A path that is not a socket, such as a regular file or a symlink to anything, is never followed or deleted (exit 5). `--mode` is exactly MODE from the file's first instant, whatever the umask, and is set on the file this process created, never through its name: a path another user swaps for a symlink meanwhile (in a world-writable directory) never has its target changed. On Linux the socket is fchmod(2)ed before bind(2), which a thread with its own umask of 0 makes (the process umask is left alone); elsewhere, or where unshare(2) is refused, it is bound in a private directory and link(2)ed into place. An abstract name has no file and no permissions: with `--mode`, each abstract listener gets a warning that any local user in its network namespace can connect. On exit, `serve` removes only the files it created.
"#;

const SERVE_INHERITED: &str = r#"
: `--inetd`
The socket is on stdin, as inetd(8) passes it: a connected stream, echoed until it ends, or a datagram socket. Nothing is printed, since inetd often passes the same socket as stdout and stderr.

: systemd socket activation (Linux)
When LISTEN_PID is this process, `serve` serves the LISTEN_FDS sockets passed from fd 3 on (family and type are read from each socket) and prints their ready lines as for bound sockets; ADDRs given as well are bound too. A passed fd that is not a socket, is not AF_INET, AF_INET6 or AF_UNIX, is not a stream, datagram or seqpacket socket, is a stream or seqpacket socket that is not listening (for one connection, use `--inetd`), or is an unbound datagram socket is refused: exit 5, naming the fd and its LISTEN_FDNAMES name. A LISTEN_FDS that is not a count is exit 2. When LISTEN_PID names another process, the sockets are not ours and ADDR is bound as usual.
"#;

const SERVE_METRICS: &str = r#"
With `--metrics ADDR` (a TCP address such as `127.0.0.1:9862`; port 0 works), `serve` answers `GET /metrics` on ADDR in the Prometheus text format 0.0.4, from its own event loop: one request, one response, then the connection is closed. Other paths are 404, other methods 405; a request head over 8 KiB is 431, and a request not finished within 5 seconds is closed. The real address is logged once on stderr as `echokit: metrics on http://ADDR/metrics`; it gets no ready line and is never echoed on.

Per listener (labels `listener`, its ready line, and `transport`, its name such as `tcp4` or `unixgram`): `echokit_connections_accepted_total`, `echokit_connections_open`, `echokit_connections_rejected_total` (`reason="max_conns"`), `echokit_connections_completed_total`, `echokit_connections_closed_total` (`reason="cut_message"` or `"idle_timeout"`), `echokit_bytes_received_total`, `echokit_bytes_echoed_total`, `echokit_datagrams_received_total`, `echokit_datagrams_echoed_total` and `echokit_datagrams_dropped_total` (`reason` one of `oversize`, `loop_port`, `own_address`, `unbound_sender`, `rate_limit`, `reply_failed`); and `echokit_build_info{version}`. The values are the counters the stop summary prints.
"#;

const SERVE_READINESS: &str = r#"
When NOTIFY_SOCKET names a socket (systemd sets it for a `Type=notify` service), `serve` tells the service manager how it is doing, as sd_notify(3) describes (Linux only; elsewhere NOTIFY_SOCKET is "not supported on this platform", exit 2):

: `READY=1`
Once every listener is bound and its ready line printed, with `STATUS=serving, 0 connections open`. If it cannot be sent, one line on stderr says why, and serving goes on.

: `STATUS=serving, N connections open`
The connections open across every worker, when the count has changed, at most every 2 seconds (what `systemctl status` shows).

: `STOPPING=1`
When draining begins: the first SIGINT or SIGTERM, or `--count` reached.

: `WATCHDOG=1`
When WATCHDOG_USEC is set and WATCHDOG_PID is absent or this process: at half that interval (at most 100 times a second, however small the interval), sent from the first event loop itself, so a loop that is stuck stops the pings and the service manager notices (systemd's `WatchdogSec=`). A WATCHDOG_PID naming another process means the watchdog is not ours: no pings.

NOTIFY_SOCKET must be a path, as systemd sets it; an abstract name (`@name`) cannot be reached. `--inetd` sends nothing: one connection is not a service to declare ready.
"#;

const SERVE_SYSTEMD: &str = r#"
The source tree's `contrib/systemd/` holds units for the echo port, 7. systemd binds the port, so `serve` needs no privilege:

: `echokit.socket`
`ListenStream=7` and `ListenDatagram=7`: TCP and UDP on `[::]:7`, IPv4 included.

: `echokit.service`
`Type=notify` (see READINESS), `ExecStart=/usr/bin/echokit serve`, which serves only the sockets passed, `WatchdogSec=10s` with `Restart=on-failure`, and hardening, each line commented in the file: `DynamicUser=yes`, `NoNewPrivileges=yes`, `ProtectSystem=strict`, `PrivateTmp=yes`, `RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6`, `MemoryDenyWriteExecute=yes`, `SystemCallFilter=@system-service`.

: `echokit-inetd.socket`, `echokit-inetd@.service`
inetd style: `Accept=yes` starts one `echokit serve --inetd` per TCP connection, with the connection as stdin and stdout and stderr to the journal. It conflicts with `echokit.socket`: both listen on TCP port 7.

Install one pair into /etc/systemd/system/, run `systemctl daemon-reload`, then enable and start `echokit.socket` (or `echokit-inetd.socket`) with systemctl(1).
"#;

const SERVE_JSON: &str = r#"
With `--json`, stdout carries one object per event, each with an `event` field:

: `listening`
`address`: a ready line.

: `accepted`
`listener`, `peer`.

: `closed`
`listener`, `peer`, `bytes_in`, `bytes_out`, `duration_ms`, `end` (how it ended, as in the `-v` log).

: `rejected`
`listener`, `peer`, `why` (`max-conns`).

: `dropped`
`listener`, `count`, `why`, `last_sender`: datagrams not answered since the last report.

: `draining`
`open`: connections still open after SIGINT or SIGTERM.

: `stopped`
`accepted`, `completed`, `rejected`, `datagrams_echoed`, `datagrams_dropped`, `bytes_in`, `bytes_out`: the totals, last.
"#;

const SERVE_SIGNALS: &str = r#"
: SIGINT, SIGTERM
Close the listeners at once (new connections are refused), remove the socket files, let open connections finish for up to `--drain`, and exit 0 as soon as none is left. A second signal exits at once, cutting the connections.

: SIGHUP
Ignored: a closed terminal does not stop a server.

: SIGPIPE
Never kills the process: a peer that goes away ends only its own connection.
"#;

const SERVE_ENVIRONMENT: &str = r#"
: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES
systemd socket activation, see sd_listen_fds(3) and INETD AND SOCKET ACTIVATION above.

: NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID
Readiness and the watchdog, see sd_notify(3) and READINESS above.
"#;

const SERVE_EXAMPLES: &str = concat!(
    r#"
One listener per transport:

```
echokit serve 127.0.0.1:5000          # tcp4
echokit serve '[::1]:5000'            # tcp6
echokit serve :5000                   # every address, [::]
echokit serve -u 127.0.0.1:5000       # udp4
echokit serve 'udp:[::1]:5000'        # udp6
echokit serve --mode 660 /tmp/e.sock  # unix
echokit serve -u /tmp/e.dgram         # unixgram
echokit serve seqpacket:/tmp/e.seq    # seqpacket
echokit serve @echo unixgram:@echo    # abstract
```

TCP and UDP port 7 in one process, as inetd serves echo (ports below 1024 need root or CAP_NET_BIND_SERVICE):

```
echokit serve :7 udp::7
```

In a script, let the kernel pick the port and read it from the ready line (bash):

"#,
    ready_line_script!(),
    r#"

The classroom demo: eight bytes at a time, a line per connection.

```
echokit serve -v --buffer-size 8 localhost:5000
```

From inetd.conf(5):

```
echo stream tcp nowait nobody /usr/bin/echokit echokit serve --inetd
echo dgram  udp wait   nobody /usr/bin/echokit echokit serve --inetd
```
"#
);

const SEND_STREAMS: &str = r#"
The input is written while the echo is read, so any size works and nothing can deadlock; at most 32 KiB is under way unechoed at any time, as some servers (`ncat -e /bin/cat`) stall with more. Our write side is shut down once every byte sent has come back, so a server that stops echoing when it sees EOF (`ncat -e /bin/cat`, `socat ... EXEC:cat`) still returns everything, and the exchange ends then: echokit does not wait for the server to close, and it never takes a short read for the end of a message. A server that answers only after EOF (a buffering pipe) still works: when nothing has come back for 200ms, the rest of the input is sent at once, and once all is sent and 200ms pass with nothing back, our write side is shut down. A reset or close before that is exit 1 ("ended early"). When the echo differs, stderr names the offset of the first differing byte, counted from 0, and both bytes.

With `-v`, every chunk received is shown on stderr as it arrives; with `--buffer-size 8`, that is the classroom demo of how a stream arrives in pieces.

`--idle-timeout` (default 10s) ends an exchange in which no byte moved either way for that long: exit 4, naming the bytes sent and received so far. Any progress starts the wait again, so a slow but live server is never cut off; `--idle-timeout 0` waits for ever. `--timeout` bounds the whole exchange instead.
"#;

const SEND_MESSAGES: &str = r#"
Over `seqpacket:` the whole input is one message, sent on a connection; the echo must come back as the same one message, then our write side is shut down and the server's end is awaited. More than the transport carries is exit 2. An empty input sends no message (a zero-length message cannot be told from the end of the connection) and is a valid exchange: exit 0, nothing printed. A server that closes instead of echoing, as echokit does with a message larger than its buffer, is exit 1 ("ended early").
"#;

const SEND_DATAGRAMS: &str = r#"
The whole input is one datagram; more than the transport carries is exit 2 (65,507 bytes over UDP/IPv4, 65,527 over UDP/IPv6). When no reply comes, the datagram is sent again after 1s, then 2s, 4s and so on, `--retries` times (default 2); `--timeout` caps the whole exchange. A Unix datagram client binds an address of its own to get the reply. An empty input is sent as an empty datagram. A reply that differs, is short (xinetd's echo returns at most 2,048 bytes of a datagram) or is longer is written to stdout as it came back, then exit 1; the message names the server with its prefix and says "datagram": there is no connection to close.
"#;

const SEND_REPEAT: &str = r#"
With `--count` or `--interval`, the exchange is repeated like ping(8), over one connection, and stdout carries these lines instead of the data:

```
ECHO tcp:127.0.0.1:5000: 56 bytes
56 bytes from tcp:127.0.0.1:5000: seq=1 time=0.048 ms
56 bytes from tcp:127.0.0.1:5000: seq=2 time=0.168 ms
--- tcp:127.0.0.1:5000 echo statistics ---
2 sent, 2 received, 0% loss, time 1001ms
rtt min/avg/max/mdev = 0.048/0.108/0.168/0.060 ms
```

With no MESSAGE, no `--file` and stdin a terminal (or empty), the payload is 56 bytes of pattern, as ping's. `--timeout` is then per echo (default 5s), and `--interval` defaults to 1s; `--interval` alone repeats until interrupted. A lost datagram is counted and the run goes on; over a stream, the first failure ends the run. Exit 0 when every echo came back; 1 when some datagrams were lost but others came back; otherwise the status of the error that ended the run.
"#;

const SEND_JSON: &str = r#"
With `--json`, the echoed data is not printed; instead:

: one exchange
`address`, `ok`, `bytes_sent`, `bytes_received`, `rtt_ms`; or, when it failed, `address`, `ok` (false), `error_class` (the exit code's meaning: `verify`, `connect`, `timeout` or `internal`) and `error` (the message). Bad input (exit 2) is no exchange: it has only its error line.

: each repeated echo
`seq`, `bytes`, `rtt_ms`, `ok` (true); or `seq`, `ok` (false), `error_class`, `error`.

: the summary of a repeated run
`address`, `sent`, `received`, `loss_percent`, and `rtt_ms` with `min`, `avg`, `max`, `mdev`.
"#;

const SEND_SIGNALS: &str = r#"
: SIGINT
In repeat mode, stops after the current echo and prints the summary. Otherwise, ends echokit.

: SIGPIPE
Never kills the process. When the reader of stdout goes away, as head(1) does, echokit stops writing and still verifies the echo; the exit status tells whether it was right.
"#;

const SEND_EXAMPLES: &str = r#"
One exchange per transport:

```
echokit send 127.0.0.1:5000 hello          # tcp4
echokit send '[::1]:5000' hello            # tcp6
echokit send :5000 hello                   # localhost
echokit send -u 127.0.0.1:5000 hello       # udp4
echokit send 'udp:[::1]:5000' hello        # udp6
echokit send /tmp/e.sock hello             # unix
echokit send -u /tmp/e.dgram hello         # unixgram
echokit send @echo hello                   # abstract
```

Any size, byte for byte:

```
echokit send localhost:5000 < big.bin | cmp - big.bin
echokit send --file big.bin localhost:5000 > /dev/null
```

Like ping, five times, 200ms apart:

```
echokit send -c 5 -i 200ms localhost:5000
```

The classroom demo: each chunk as it arrives, on stderr.

```
echokit send --buffer-size 8 -v localhost:5000 a fancy message
```

In CI, fail the step when the service does not echo within two seconds:

```
echokit send -q --timeout 2s "$SERVICE_ADDR" ping
```
"#;

// Written while `check` was being built, from src/commands/check/table.rs
// (`table::json`): keep in step with it.
const CHECK_JSON: &str = r#"
With `--json`, one object per row, printed as each row finishes:

: `transport`
tcp4, tcp6, udp4, udp6, unix, unixgram, abstract, or localhost (the row that checks what localhost resolves to).

: `type`
stream, datagram, or null.

: `address`
The address checked, in the address grammar.

: `input`
The ADDR as typed, or null for the in-process servers.

: `status`
PASS, FAIL or SKIP.

: `required`
Whether `--require` names this row.

: `rtt_ms`
The round-trip time of the 1-byte payload, or null.

: `payloads`
The sizes, in bytes, of the payloads that came back in full.

: `reason`
Why, in words; for PASS, what was echoed.
"#;

const CHECK_EXAMPLES: &str = r#"
Round-trip every transport this machine has, through servers started in this process on loopback and temporary paths:

```
echokit check
```

Fail when IPv6 or Unix sockets are missing or broken, instead of skipping them:

```
echokit check --require ipv6,unix
```

Can this service create its sockets in its own directory?

```
echokit check --unix-dir /run/myservice
```

Check running echo servers instead:

```
echokit check 127.0.0.1:7 udp:127.0.0.1:7 /run/echo.sock
```

## CI

As a GitHub Actions step that fails the job when the runner lacks working IPv6 or Unix sockets, with annotations, a job summary and step outputs:

```
- name: IPv6 and Unix sockets work
  id: sockets
  run: echokit check --github --require ipv6,unix
```

For GitLab, Jenkins or any tool that reads JUnit XML:

```
echokit check --require ipv6,unix --junit echokit-check.xml
```

In any CI shell, keeping the rows as an artifact:

```
echokit check --require ipv6,unix --json > transports.jsonl
```
"#;

// Written from src/commands/check/junit.rs and github.rs: keep in step with them.
const CHECK_CI: &str = r#"
: `--junit` {FILE}
Also writes the rows as a JUnit XML report, as GitLab (`artifacts: reports: junit:`), Jenkins and the GitHub test-report actions read it: one `testsuite` named `echokit check` with the counts of tests, failures and skipped rows and the time the whole check took, and one `testcase` per row, named by transport and address (`tcp4 tcp:127.0.0.1:40123`), class name `echokit.check`, its time the round trip of the 1-byte payload in seconds. Times have at most 3 decimals, as junit-10.xsd (the schema of Jenkins' xUnit plugin and pytest) wants. A FAIL row holds a `failure` element and a SKIP row a `skipped` element, each with the reason as its `message`; a PASS row keeps its reason in `system-out`. Tab, line feed, carriage return, DEL and the C1 controls in a name or message are written as character references (`&#10;`), so a reader gets them back; the other C0 controls, which XML 1.0 cannot carry at all, are written as text (`\u{1}`), as echokit's diagnostics show them. Whether {FILE} can be written is checked before anything runs: a missing directory or a directory at {FILE} is a usage error (exit 2) that names it and the system's reason. Once every row has run, the report goes to a temporary file in the same directory, renamed over {FILE}: a reader never sees a partial report, and a report that cannot be written (a full disk) is exit 6, leaving {FILE} as it was. A device such as /dev/stdout is written in place.

: `--metrics-file` {FILE}
Also writes the rows for node_exporter's textfile collector (name {FILE} `*.prom` in the directory its textfile collector reads), in blackbox_exporter's words: `probe_success` (1 PASS, 0 FAIL) and `probe_duration_seconds` (the 1-byte round trip) per row, labelled `transport` and `address`; a SKIP row is `echokit_check_skipped 1` instead, not a failed probe. Without ADDRs the rows are in-process servers whose addresses change at every run, so their `address` label is their prefix (`tcp:in-process`): one series per row for good. No timestamps. {FILE} is checked before anything runs and replaced atomically at the end, as for `--junit`. The source tree's `contrib/systemd/echokit-check.timer` runs it every minute into Debian's textfile directory.

: `--github`
For GitHub Actions. After the table, one workflow command per FAIL and per SKIP row, which the runner turns into annotations:

```flush
::error title=echokit check::tcp6 tcp:[::1]:0: no ::1 on the loopback interface
::warning title=echokit check::abstract unix:@echokit-1: not Linux
```

In the message, % is written %25 and a line break %0D or %0A, as workflow commands want. With `-q` the table is left out but these lines are still printed: `--github` asked for them. It also appends a Markdown table of every row to the file named by GITHUB_STEP_SUMMARY, and one line per transport, {TRANSPORT}`=pass`, `=fail` or `=skip`, to the file named by GITHUB_OUTPUT, so later steps can read `steps.`{id}`.outputs.tcp6`. Where one transport has several rows (two abstract rows, one stream and one datagram), fail wins over pass and pass over skip. A variable that is not set writes nothing; a file that cannot be opened for appending is a usage error (exit 2) before anything runs. `--github` cannot be combined with `--json`: the workflow commands would break the JSON lines.
"#;

const CHECK_ENVIRONMENT: &str = r#"
: GITHUB_STEP_SUMMARY, GITHUB_OUTPUT
With `--github`, the files the Markdown table and the per-transport results are appended to. GitHub Actions sets both; where either is unset, that file is not written.
"#;

const GENERATE_COMMANDS: &str = r#"
: `echokit generate man` {DIR}
Writes echokit.1 and one page per subcommand (echokit-serve.1, echokit-send.1 and so on) into {DIR}, replacing pages of the same name. {DIR} must exist and be writable: otherwise echokit exits 2 before writing anything, naming the directory and the reason. The pages carry no date, so the same version always writes the same bytes.

: `echokit generate completions` {SHELL}
Prints the completion script for {SHELL} on stdout: bash, zsh, fish, elvish or powershell. Another name is a usage error (exit 2) that lists these.

The files under man/ and completions/ in echokit's source are exactly what these commands print.
"#;

const GENERATE_EXAMPLES: &str = r#"
Install the pages and the completions for one user:

```
mkdir -p ~/.local/share/man/man1
echokit generate man ~/.local/share/man/man1
echokit generate completions bash > ~/.local/share/bash-completion/completions/echokit
echokit generate completions zsh > ~/.zfunc/_echokit
echokit generate completions fish > ~/.config/fish/completions/echokit.fish
```

In a package build, into the staging tree:

```
install -d "$DESTDIR/usr/share/man/man1"
echokit generate man "$DESTDIR/usr/share/man/man1"
```
"#;

const BENCH_WORKLOADS: &str = r#"
: ping-pong (the default)
Each connection sends --size bytes, reads every byte back, checks it and sends again; `requests` counts round trips.

: --churn
Every request on a new connection: connect, send --size bytes, read them back, close, connect again. `requests` counts connections, and latency includes the handshake. The first connections wait for their handshake, so a server that is not there is exit 3 or 4; later ones are started without waiting, many at once. Needs connections (tcp:, unix:, seqpacket:).

: --bulk
Each connection (one by default) writes a position-dependent pattern in --size writes (64KiB by default) as fast as the server takes them, with at most 64MiB not yet echoed, and checks every byte that comes back against the same pattern; the report gives bytes echoed per second each way and no latency. Needs a byte stream (tcp:, unix:).

: --threads N
The connections (and a --requests limit) are split over N client threads, each with its own event loop; their clocks start together once every connection is open.

Every workload ends within --duration plus --timeout. A request with no echo after --timeout (default 1s) is an error: a lost datagram, a stalled connection (bulk: no byte back for that long); its connection is replaced. Requests still waiting when the run ends, sent less than --timeout before, are reported as in flight (bulk: the bytes not yet back), never silently dropped. Exit 1 when no request completed (bulk: no byte came back), or when any error or mismatch was counted. `--duration 0` is a usage error (exit 2).

With --rate (open loop), requests are due on a fixed schedule and latency counts from when each was due. On Linux the client threads run with 1ns of timer slack (PR_SET_TIMERSLACK) rather than the default 50us, so their wake-ups keep to the schedule.

TCP connections to an address in 127.0.0.0/8 are made from 127.0.0.1 to 127.0.0.16 in turn on Linux (IP_BIND_ADDRESS_NO_PORT), sixteen times the ephemeral ports one source address has, so churn and very many connections do not run out of ports.

On Linux the report ends with the CPU time of the client's busiest thread as a share of the run. At 90% or more it says the client was saturated: the figures are then the client's limit, not the server's, and more --threads (on a machine with the CPUs for them) or a faster client measures the server.
"#;

const BENCH_JSON: &str = r#"
With `--json`, one object when the run ends: `address`, `workload` (`pingpong`, `churn` or `bulk`), `connections`, `threads`, `size`, `mode` (`closed` or `open`), `rate`, `duration_s`, `requests`, `requests_per_s`, `bytes` (echoed and checked), `bytes_per_s`, `latency_us` with `p50`, `p90`, `p99`, `p99_9`, `max` and `mean` in microseconds (null for bulk), `errors`, `mismatches`, `in_flight` (requests still waiting at the end; null for bulk), `in_flight_bytes` (bulk: bytes not back yet at the end; null otherwise), `first_error`, `client_cpu` (the busiest client thread's CPU time over the run's, null where the platform cannot tell) and `client_saturated`; `start` and `end` (the run's span, Unix seconds), `shard` (`I/N`, or null), `runs` (1, or how many reports were merged), and `histogram`: the latency histogram itself, `{"encoding": "HdrHistogram V2 compressed (deflate), base64", "unit": "ns", "data": ...}`, which any HdrHistogram library reads. Exit 1 when no request completed, or there were errors or mismatches.
"#;

const BENCH_MANY: &str = r#"
To load one server from N machines (pods of a Kubernetes Job, legs of a CI matrix), run `echokit bench --json --shard I/N --start-at TIME` on each: shard I takes 1/N of `--connections` and of `--rate` (the first shards take one more where they do not divide evenly; a shard left with none is a usage error), and every shard waits until TIME (Unix seconds, at most a day ahead; a time already past starts at once, with a note) so they all load the server together.

`echokit bench merge FILE...` then reads their reports (a file may hold several JSON lines) and prints one report over all of them, as text or with `--json` in the same form: counts summed; rates over the union of the runs' time spans; latency percentiles from the sum of their histograms, bucket by bucket, exactly as one histogram fed every request would give, never from averaged percentiles. Reports of different workloads, loop modes or sizes are refused (exit 2, naming both files), as is a file with no report in it. Its exit status is that of a run: 1 when nothing completed, or any error or mismatch was counted.
"#;

const BENCH_EXAMPLES: &str = r#"
Against a server echokit starts itself on loopback:

```
echokit bench
```

Against a running server, 10 connections, 1KiB requests, for 10 seconds:

```
echokit bench -c 10 -s 1KiB -d 10s localhost:5000
```

Open loop at 5000 requests per second, so a stalled server cannot hide its delay:

```
echokit bench --rate 5000 -d 30s localhost:5000
```

Two machines, then one report over both:

```
T=$(( $(date +%s) + 30 ))
echokit bench --json --shard 1/2 --start-at $T -c 100 --rate 20000 server:7 > a.json   # machine 1
echokit bench --json --shard 2/2 --start-at $T -c 100 --rate 20000 server:7 > b.json   # machine 2
echokit bench merge a.json b.json
```

UDP:

```
echokit bench -u 127.0.0.1:5000
```

Connections per second, 50 at a time, over two client threads:

```
echokit bench --churn --threads 2 127.0.0.1:5000
```

Bytes per second through one Unix stream connection:

```
echokit bench --bulk unix:/run/echo.sock
```
"#;

const RESOLVE_OUTPUT: &str = r#"
One getaddrinfo(3) call, with the hints the options give (`-4`/`-6` the family, `-u`/`--tcp` the socket type, `--canonname` AI_CANONNAME, never AI_ADDRCONFIG), and one row per result, in the order it answered, which is the order a client tries them in:

```flush
$ echokit resolve ::1 echo -u
FAMILY    TYPE        PROTOCOL     CANONNAME  ADDRESS
AF_INET6  SOCK_DGRAM  IPPROTO_UDP  -          [::1]:7 flowinfo=0 scope=0
```

: FAMILY, TYPE, PROTOCOL
The constants' names (AF_INET, SOCK_DGRAM, IPPROTO_UDP; IPPROTO_IP is 0, the default protocol of the type), or a number for one without a name.

: CANONNAME
The canonical name, with `--canonname` (on the first row only), else `-`.

: ADDRESS
The socket address in the address grammar (`[fe80::1%eth0]:80`), and for IPv6 the flow info and the numeric scope id. Without SERVICE, the port is 0.

Without `-u` or `--tcp`, getaddrinfo may answer a row for each socket type the service is defined for (and SOCK_RAW too when there is no SERVICE).

Many clients pass AI_ADDRCONFIG, which drops a family unless an address of it other than loopback is configured. When that would drop rows on this machine, a note on stderr says so, and those clients will not try them:

> `echokit: note: AI_ADDRCONFIG would drop AF_INET6 here: no non-loopback IPv6 address is configured`

An unknown host or service is one line that names it, and exit 2; a resolver that cannot be reached, exit 3:

> `echokit: cannot resolve "nosuch.invalid": name or service not known`

> `echokit: cannot resolve service "nosuch": servname not supported for ai_socktype (not in the services database)`

> `echokit: cannot connect to the resolver for "example.com": temporary failure in name resolution`
"#;

const RESOLVE_JSON: &str = r#"
With `--json`, one object per row: `family`, `type`, `protocol` (names as in the table), `canonname` (or null), `address` (the IP address alone), `port`, and for IPv6 `flowinfo` and `scope_id` (null for IPv4). Each object is one line; here jq(1) spreads it out:

```
$ echokit resolve --json ::1 echo -u | jq .
{
  "address": "::1",
  "canonname": null,
  "family": "AF_INET6",
  "flowinfo": 0,
  "port": 7,
  "protocol": "IPPROTO_UDP",
  "scope_id": 0,
  "type": "SOCK_DGRAM"
}
```
"#;

const RESOLVE_FILES: &str = r#"
: /etc/hosts
Names the resolver answers without DNS, such as localhost.

: /etc/services
Service names and their ports.

: /etc/nsswitch.conf, /etc/resolv.conf, /etc/gai.conf
Where names are looked up, which DNS servers are asked, and how the answers are sorted.
"#;

const RESOLVE_EXAMPLES: &str = r#"
```
echokit resolve localhost http
echokit resolve ::1 7 -u
echokit resolve -4 --tcp --canonname example.com https
echokit resolve --json localhost echo | jq -r .address
```

Which address will a client try first?

```
echokit resolve --tcp db.internal 5432 | sed -n 2p
```
"#;

/// SYNOPSIS from clap's usage line (`Usage: echokit send [OPTIONS] <ADDR> [MESSAGE]...`):
/// the command in bold, placeholders in italics, `<X>` written as a bare {X}.
pub fn synopsis(usage: &str) -> String {
    let mut roff = Roff::new();
    roff.control("SH", ["SYNOPSIS"]);
    for line in usage.lines() {
        let line = line.trim().strip_prefix("Usage:").unwrap_or(line).trim();
        let mut parts: Vec<Inline> = Vec::new();
        for (i, word) in line.split(' ').enumerate() {
            if i > 0 {
                parts.push(roman(" "));
            }
            let core = word.trim_start_matches(['[', '<']);
            let open = &word[..word.len() - core.len()];
            let name = core.trim_end_matches(['.', ']', '>']);
            let close = &core[name.len()..];
            if open.is_empty() && close.is_empty() {
                parts.push(bold(name));
            } else {
                parts.push(roman(open.replace('<', "")));
                parts.push(italic(name));
                parts.push(roman(close.replace('>', "")));
            }
        }
        roff.text(parts);
    }
    strip_preamble(&roff.render())
}

/// Converts one hand-written section to roff (without the apostrophe preamble).
pub fn to_roff(title: &str, text: &str) -> String {
    let mut roff = Roff::new();
    roff.control("SH", [title]);
    // A paragraph macro right after a heading is redundant (mandoc -T lint
    // says so); every other block starts with one.
    let mut after_heading = true;
    let paragraph = |roff: &mut Roff, after_heading: &mut bool| {
        if !std::mem::take(after_heading) {
            roff.control("PP", []);
        }
    };
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(sub) = line.strip_prefix("## ") {
            roff.control("SS", [sub]);
            after_heading = true;
            continue;
        } else if line == "```" || line == "```flush" {
            let indented = line == "```";
            paragraph(&mut roff, &mut after_heading);
            if indented {
                roff.control("RS", ["4"]);
            }
            roff.control("EX", []);
            for code in lines.by_ref() {
                if code == "```" {
                    break;
                }
                roff.text([roman(code)]);
            }
            roff.control("EE", []);
            if indented {
                roff.control("RE", []);
            }
        } else if let Some(term) = line.strip_prefix(": ") {
            after_heading = false;
            roff.control("TP", []);
            roff.text(inline(term));
            while let Some(desc) = lines.next_if(|l| !l.trim().is_empty()) {
                prose(&mut roff, desc);
            }
        } else if let Some(quote) = line.strip_prefix("> ") {
            paragraph(&mut roff, &mut after_heading);
            roff.control("RS", ["4"]);
            prose(&mut roff, quote);
            roff.control("RE", []);
        } else if let Some(item) = line.strip_prefix("- ") {
            after_heading = false;
            roff.control("IP", ["\\(bu", "2"]);
            prose(&mut roff, item);
            while let Some(more) = lines.next_if(|l| l.starts_with("  ") && !l.trim().is_empty()) {
                prose(&mut roff, more.trim_start());
            }
        } else {
            paragraph(&mut roff, &mut after_heading);
            prose(&mut roff, line);
            while let Some(more) = lines.next_if(|l| {
                !l.trim().is_empty()
                    && !l.starts_with("```")
                    && !l.starts_with(": ")
                    && !l.starts_with("- ")
                    && !l.starts_with("> ")
            }) {
                prose(&mut roff, more);
            }
        }
    }
    strip_preamble(&roff.render())
}

/// Writes prose one sentence per roff line ("semantic newlines",
/// man-pages(7)): shorter source lines, and smaller diffs when a word changes.
fn prose(roff: &mut Roff, line: &str) {
    for sentence in sentences(line) {
        roff.text(inline(sentence));
    }
}

/// Splits at ". " before a capital letter or a `` ` ``, outside `` ` `` and `{}`.
fn sentences(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut inside = false;
    let bytes = line.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'`' => inside = !inside,
            b'{' => inside = true,
            b'}' => inside = false,
            b'.' if !inside
                && bytes.get(i + 1) == Some(&b' ')
                && bytes
                    .get(i + 2)
                    .is_some_and(|c| c.is_ascii_uppercase() || *c == b'`') =>
            {
                out.push(&line[start..=i]);
                start = i + 2;
            }
            _ => {}
        }
    }
    out.push(&line[start..]);
    out
}

/// `` `bold` `` and `{italic}` inside a line of text.
fn inline(line: &str) -> Vec<Inline> {
    let mut parts = Vec::new();
    let mut plain = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        let close = match c {
            '`' => '`',
            '{' => '}',
            _ => {
                plain.push(c);
                continue;
            }
        };
        let inner: String = chars.by_ref().take_while(|&x| x != close).collect();
        if !plain.is_empty() {
            parts.push(roman(std::mem::take(&mut plain)));
        }
        parts.push(if c == '`' { bold(inner) } else { italic(inner) });
    }
    if !plain.is_empty() {
        parts.push(roman(plain));
    }
    parts
}

/// The lines `roff` puts before every rendering to define `\*(Aq`.
pub fn preamble() -> String {
    Roff::new().render()
}

/// `rendered` without the leading preamble.
pub fn strip_preamble(rendered: &str) -> String {
    rendered
        .strip_prefix(&preamble())
        .unwrap_or(rendered)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written text may only name options the command line has, so a
    /// renamed flag cannot leave a man page describing the old one.
    #[test]
    fn hand_written_sections_name_only_real_options() {
        let cmd = built_command();
        let mut longs: Vec<String> = Vec::new();
        let mut stack = vec![&cmd];
        while let Some(c) = stack.pop() {
            longs.extend(
                c.get_arguments()
                    .filter_map(|a| a.get_long())
                    .map(String::from),
            );
            stack.extend(c.get_subcommands());
        }
        let all = subcommand_names(&cmd);
        for text in all_text(&all) {
            for (i, _) in text.match_indices("--") {
                let rest = &text[i + 2..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                // "--" alone (e.g. the ping summary's "---") is not an option.
                let name = name.trim_end_matches('-');
                if name.is_empty() || text[..i].ends_with('-') {
                    continue;
                }
                assert!(
                    longs.iter().any(|l| l == name),
                    "the man pages mention --{name}, which no command has"
                );
            }
        }
    }

    #[test]
    fn every_subcommand_has_written_sections() {
        let cmd = built_command();
        for sub in subcommand_names(&cmd) {
            let page = page(Some(&sub), &subcommand_names(&cmd));
            assert!(
                page.after.iter().any(|s| s.title == "EXAMPLES"),
                "echokit-{sub}(1) has no EXAMPLES in src/cli/man.rs"
            );
        }
    }
}
