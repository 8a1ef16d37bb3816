//! The command line, as clap derive structs: one doc comment per field is its help.
//! Lists that belong to the transport model (prefixes, transport names,
//! `--require` names) are built from it ([`model_list`]), never typed here.
//!
//! This module knows clap and the value syntaxes (humantime durations, binary
//! sizes, octal modes); it never touches a socket, a file or stdout. The man
//! pages and completions in `man/` and `completions/` are generated from
//! [`Cli`], so every word here is also documentation.

pub mod man;
pub mod offered;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::transport::Transport;

/// What help texts list from the transport model, so a new row shows up in
/// `--help`, the man pages and the completions without an edit here.
pub enum ModelList {
    /// `tcp:, udp:, …, seqpacket: or mptcp:` (the grammar's prefixes, in the model's order).
    PrefixesInProse,
    /// `tcp:/udp:/…/mptcp:`.
    PrefixesSlashed,
    /// `tcp4, tcp6, …, mptcp6` (the rows of `check`).
    Names,
    /// Every `--require` name, alphabetically, `unix` explained.
    RequireNames,
}

/// One of the model's lists, as a help text says it.
pub fn model_list(list: ModelList) -> String {
    let prefixes: Vec<String> = Transport::prefixes_in_order()
        .into_iter()
        .map(|p| format!("{p}:"))
        .collect();
    match list {
        ModelList::PrefixesInProse => match prefixes.split_last() {
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        },
        ModelList::PrefixesSlashed => prefixes.join("/"),
        ModelList::Names => Transport::ALL
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", "),
        ModelList::RequireNames => crate::transport::require_names()
            .into_iter()
            .map(|n| match n {
                "unix" => "unix (Unix path sockets)",
                other => other,
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "echokit",
    version,
    about = "A dual-stack TCP/UDP/Unix echo toolkit: serve echo, verify an echo, check transports, resolve names",
    long_about = format!("echokit serves echo (RFC 862: every byte that arrives goes back), talks to any \
                  echo server and verifies the echo, checks that IPv4, IPv6 and Unix socket paths \
                  really work on this machine, and shows what getaddrinfo answers for a name.\n\n\
                  Addresses use one grammar everywhere: HOST:PORT, [IPv6]:PORT, :PORT, a path \
                  containing '/', @NAME (Linux abstract socket), optionally behind a transport \
                  prefix {}.", model_list(ModelList::PrefixesInProse)),
    after_help = "Exit status: 0 success, 1 echo differed or a check failed, 2 usage error or bad \
                  address, 3 could not connect, 4 timed out, 5 could not listen, 6 internal error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve echo on one or more addresses (RFC 862)
    #[command(
        long_about = "Serve echo on every ADDR at once (default localhost:5000: every address \
                      localhost resolves to). Once every listener is bound, one ready line per \
                      listener goes to stdout in the address grammar with its prefix \
                      (tcp:127.0.0.1:40123, unix:/tmp/e.sock), so a script can start it on port 0 \
                      and read the real port. Logs go to stderr.\n\n\
                      SIGINT/SIGTERM close the listeners at once, remove the socket files, let open \
                      connections finish for up to --drain and exit 0; a second signal exits at \
                      once. SIGHUP is ignored."
    )]
    Serve(ServeArgs),
    /// Send a message to an echo server and verify the echo
    #[command(
        long_about = "Send MESSAGE (the words joined by spaces plus a newline, like echo; -n omits \
                      the newline), or --file, or stdin when there is no MESSAGE, to the echo server \
                      at ADDR, and write the echo to stdout byte for byte while checking it against \
                      what was sent. Exit 1 when the echo differs or ends early.\n\n\
                      With --count or --interval, repeat the exchange like ping: stdout then carries \
                      one line per echo and a min/avg/max/mdev/loss summary instead of the data."
    )]
    Send(SendArgs),
    /// Round-trip payloads through every transport and report PASS/FAIL/SKIP
    #[command(
        long_about = format!("With no ADDR: round-trip payloads through every transport on this machine \
                      ({}, and abstract stream, datagram and seqpacket) with \
                      in-process servers on loopback and in a temporary directory it removes, and \
                      check that localhost resolves only to addresses this machine has. Streams \
                      carry 1 byte, exactly 1x and 3x --buffer-size, and more than the socket \
                      buffers of both ends hold; datagrams and seqpacket messages carry 1 byte \
                      and the largest message the transport carries. -4, -6 and -u leave out the other families or the \
                      stream transports.\n\n\
                      Output: an aligned table, one row per transport: TRANSPORT, ADDRESS, STATUS \
                      (PASS, FAIL or SKIP), RTT (round trip of the 1-byte payload), REASON. A \
                      family or socket directory the machine lacks is SKIP with the system's reason \
                      (IPv6 disabled by sysctl, no ::1 on the loopback interface, not Linux, a \
                      temporary directory too long for sun_path), unless --require names it: then \
                      it is FAIL.\n\n\
                      With ADDRs: check those echo servers instead, one row per address each \
                      resolves to; the largest datagram is then the transport's or --buffer-size, \
                      whichever is smaller. A refused or silent server is FAIL.\n\n\
                      --json prints one JSON object per row instead (transport, type, address, \
                      input, status, required, rtt_ms, payloads, reason: see JSON OUTPUT in \
                      echokit-check(1)); -q prints nothing and only sets the exit status.\n\n\
                      Exit status: 0 when no row is FAIL, 1 when any is, 2 for a usage error (an \
                      unknown --require name, a bad ADDR).", model_list(ModelList::Names))
    )]
    Check(CheckArgs),
    /// Measure echo latency and throughput against an echo server
    #[command(
        long_about = "Put load on an echo server (default: one echokit starts itself on loopback) \
                      and report requests/s, bytes/s, latency percentiles (p50/p90/p99/p99.9/max), \
                      errors and mismatches. Each connection sends --size bytes, waits for all of \
                      them to come back, checks them, and sends again (closed loop). With --rate, \
                      requests are sent on a fixed schedule instead (open loop) and latency counts \
                      from when each request was due, so a stalled server cannot hide its delay \
                      (no coordinated omission). --churn puts every request on a new connection \
                      (connections/s); --bulk streams bytes each way without waiting (bytes/s). \
                      TCP connections to a 127.x server come from 127.0.0.1-127.0.0.16 on Linux, \
                      so ephemeral ports last. The report says how busy the client's busiest \
                      thread was: at 90% or more the figures are the client's limit (add \
                      --threads). A live progress line is shown on a terminal.\n\n\
                      Many machines: --shard I/N runs share I of N (1/N of --connections and of \
                      --rate), --start-at starts every shard at one time, and --json carries the \
                      latency histogram itself; `echokit bench merge FILE...` adds such reports \
                      into one (counts summed, percentiles from the merged histogram).",
        args_conflicts_with_subcommands = true
    )]
    Bench(BenchArgs),
    /// Show what getaddrinfo answers for a name
    #[command(
        long_about = "Show what getaddrinfo(3) answers for HOST and SERVICE, one row per result in \
                      the order a client would try them: family, socket type, protocol, canonical \
                      name, socket address."
    )]
    Resolve(ResolveArgs),
    /// Write the man pages, or print a shell completion script
    #[command(
        long_about = "Write the man pages (echokit.1 and one page per subcommand) into an existing \
                      directory, or print the completion script for a shell on stdout: what a \
                      packager or a cargo install user needs. The files under man/ and \
                      completions/ in echokit's source are exactly what these print."
    )]
    Generate(GenerateArgs),
}

/// Flags that decide how an address without a prefix is read (SPEC §2).
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct AddrFlags {
    /// Use datagrams (UDP, or SOCK_DGRAM for Unix sockets) for addresses without a prefix
    #[arg(short = 'u', long = "udp")]
    pub udp: bool,
    /// Resolve names to IPv4 addresses only
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Resolve names to IPv6 addresses only
    #[arg(short = '6')]
    pub ipv6: bool,
}

/// Output flags shared by every command.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct OutputFlags {
    /// Print JSON lines on stdout instead of human-readable text
    #[arg(long)]
    pub json: bool,
    /// Say more on stderr (repeat for more)
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Say nothing but errors (not with --json: SPEC §6)
    #[arg(short = 'q', long = "quiet", conflicts_with = "json")]
    pub quiet: bool,
}

/// `echokit serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    // Addresses to listen on, with the model's prefixes.
    #[arg(value_name = "ADDR", help = format!("Addresses to listen on: HOST:PORT, [IPv6]:PORT, :PORT, \
          /path, @name, with optional {} prefix", model_list(ModelList::PrefixesSlashed)))]
    pub addrs: Vec<String>,
    #[command(flatten)]
    pub addr_flags: AddrFlags,
    /// Length of the queue of connections waiting to be accepted
    #[arg(long, value_name = "N", default_value_t = 1024, allow_hyphen_values = true, value_parser = whole(0, i32::MAX))]
    pub backlog: i32,
    /// Accept at most N connections at once; extra ones are closed at once and counted
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = whole(1, usize::MAX))]
    pub max_conns: Option<usize>,
    /// Close a connection after this long without a byte in either direction (e.g. 30s; at most 100y)
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// After SIGINT/SIGTERM, how long open connections may take to finish (at most 100y)
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration, default_value = "5s")]
    pub drain: Duration,
    /// Answer at most N datagrams per second from one source address (extra ones are dropped and counted)
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = whole(1, u32::MAX))]
    pub udp_rate: Option<u32>,
    /// Read at most this many bytes at a time (e.g. 8, 4KiB, 64KiB; at most 16MiB); also the largest datagram echoed
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = parse_size, default_value = "64KiB")]
    pub buffer_size: usize,
    /// Exit once N connections or datagrams have been echoed in full
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = whole(1, u64::MAX))]
    pub count: Option<u64>,
    /// Permissions of created Unix socket files, octal as for chmod (600, 0660); an abstract name (@name) has no file, so it gets none: any local user in its network namespace can connect (a warning says so)
    #[arg(long, value_name = "MODE", allow_hyphen_values = true, value_parser = parse_mode, value_hint = clap::ValueHint::Other)]
    pub mode: Option<u32>,
    /// Number of event loops (threads) sharing the listeners (default: the CPUs this process may run on, as its affinity says)
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = whole(1, 256u16))]
    pub workers: Option<u16>,
    /// Serve the socket on stdin, as inetd passes it: a connected stream (echo it, then exit) or a datagram socket; prints nothing on stdout
    #[arg(long, conflicts_with_all = ["addrs", "workers"])]
    pub inetd: bool,
    /// Make IPv6 listeners IPv6-only (IPV6_V6ONLY on; default: off for [::], so IPv4 clients arrive as ::ffff:a.b.c.d)
    #[arg(long)]
    pub v6only: bool,
    /// Serve GET /metrics in the Prometheus text format on this TCP address (e.g. 127.0.0.1:9862; port 0 works, the address is logged): counters per listener
    #[arg(long, value_name = "ADDR", conflicts_with = "inetd", value_hint = clap::ValueHint::Other)]
    pub metrics: Option<String>,
    #[command(flatten)]
    pub output: OutputFlags,
}

/// `echokit send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The echo server: HOST:PORT, [IPv6]:PORT, :PORT (localhost), /path, @name, with optional prefix
    #[arg(value_name = "ADDR")]
    pub addr: String,
    /// Words to send, joined by spaces, followed by a newline (default: read stdin)
    #[arg(value_name = "MESSAGE", conflicts_with = "file")]
    pub message: Vec<String>,
    /// Do not append a newline to MESSAGE
    #[arg(short = 'n')]
    pub no_newline: bool,
    /// Send the contents of this file
    #[arg(short = 'f', long, value_name = "PATH")]
    pub file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub addr_flags: AddrFlags,
    /// Give up if the whole exchange takes longer than this (e.g. 5s; at most 100y)
    #[arg(short = 't', long, value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Give up on a connection attempt after this long (default: --timeout, else 10s; at most 100y); a full Unix listen queue is retried until then
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// End the exchange (exit 4) when no byte moved either way for this long (at most 100y); 0 waits for ever
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration, default_value = "10s")]
    pub idle_timeout: Duration,
    /// Datagrams: send again this many times when no reply comes (waits 1s, 2s, 4s... between)
    #[arg(long, value_name = "N", default_value_t = 2, allow_hyphen_values = true, value_parser = whole(0, u32::MAX))]
    pub retries: u32,
    /// Repeat the exchange N times and print round-trip times, like ping
    #[arg(short = 'c', long, value_name = "N", allow_hyphen_values = true, value_parser = whole(1, u64::MAX))]
    pub count: Option<u64>,
    /// Wait this long between repeated exchanges (default 1s, at most 100y; alone, repeats until interrupted)
    #[arg(short = 'i', long, value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Read at most this many bytes at a time (at most 16MiB; with -v, each received chunk is shown)
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = parse_size, default_value = "64KiB")]
    pub buffer_size: usize,
    #[command(flatten)]
    pub output: OutputFlags,
}

/// `echokit check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Echo servers to check instead of the in-process ones (any transport)
    #[arg(value_name = "ADDR", conflicts_with = "unix_dir")]
    pub addrs: Vec<String>,
    // Turn SKIP into FAIL for the model's `--require` names.
    #[arg(long, value_name = "LIST", value_delimiter = ',', hide_possible_values = true,
          help = format!("Turn SKIP into FAIL for these (comma-separated): {}",
                         model_list(ModelList::RequireNames)),
          value_parser = offered::Offered(crate::transport::require_names()))]
    pub require: Vec<String>,
    /// Create the Unix path sockets in DIR instead of a temporary directory; a missing or unwritable DIR, or one too long for sun_path, is FAIL
    #[arg(long, value_name = "DIR")]
    pub unix_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub addr_flags: AddrFlags,
    /// Give up on one transport (all its payloads) after this long (at most 100y)
    #[arg(short = 't', long, value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration, default_value = "5s")]
    pub timeout: Duration,
    /// Read size of the in-process servers and the clients (at most 16MiB); stream payloads include exact multiples of it
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = parse_size, default_value = "64KiB")]
    pub buffer_size: usize,
    /// Also write the rows as a JUnit XML report to FILE (GitLab, Jenkins, test-report actions)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
    /// Also write the rows for node_exporter's textfile collector to FILE (name it *.prom): probe_success and probe_duration_seconds per row, replaced atomically
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub metrics_file: Option<std::path::PathBuf>,
    /// GitHub Actions: ::error/::warning lines after the table, a summary table in $GITHUB_STEP_SUMMARY, TRANSPORT=pass|fail|skip lines in $GITHUB_OUTPUT
    #[arg(long, conflicts_with = "json")]
    pub github: bool,
    #[command(flatten)]
    pub output: OutputFlags,
}

/// `echokit bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The echo server to load (default: an in-process echokit server on 127.0.0.1)
    #[arg(value_name = "ADDR")]
    pub addr: Option<String>,
    #[command(flatten)]
    pub addr_flags: AddrFlags,
    /// Number of concurrent connections (or datagram sockets with -u) [default: 50, or 1 with --bulk]
    #[arg(short = 'c', long, value_name = "N", allow_hyphen_values = true, value_parser = whole(1, 1_000_000u32))]
    pub connections: Option<u32>,
    /// How long to run (e.g. 3s, 1m; at most 100y)
    #[arg(short = 'd', long, value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration, default_value = "3s")]
    pub duration: Duration,
    /// Bytes per request (e.g. 64, 1KiB, 1MiB; at most 16MiB); with --bulk, bytes per write [default: 64, or 64KiB with --bulk]
    #[arg(short = 's', long, value_name = "SIZE", allow_hyphen_values = true, value_parser = parse_size)]
    pub size: Option<usize>,
    /// Churn: every request on a new connection (connect, send, read the echo, close); reports connections per second
    #[arg(long, conflicts_with_all = ["bulk", "udp"])]
    pub churn: bool,
    /// Bulk: each connection writes without waiting and reads the echo back as it comes; reports bytes per second
    #[arg(long, conflicts_with_all = ["rate", "requests", "udp"])]
    pub bulk: bool,
    /// Spread the connections over this many client threads, each with its own event loop
    #[arg(long, value_name = "N", default_value_t = 1, allow_hyphen_values = true, value_parser = whole(1, 256u16))]
    pub threads: u16,
    /// Open loop: this many requests per second in total, on a fixed schedule
    #[arg(short = 'r', long, value_name = "N", allow_hyphen_values = true, value_parser = whole(1, u64::MAX))]
    pub rate: Option<u64>,
    /// Give up on a request (counted as an error) after this long (at most 100y)
    #[arg(short = 't', long, value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration, default_value = "1s")]
    pub timeout: Duration,
    /// Stop after this many requests in total (default: only --duration stops)
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = whole(1, u64::MAX))]
    pub requests: Option<u64>,
    /// Read at most this many bytes at a time (at most 16MiB)
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true, value_parser = parse_size, default_value = "64KiB")]
    pub buffer_size: usize,
    /// Run share I of N of the load, for N machines (each shard takes 1/N of --connections and of --rate); merge their --json reports with `echokit bench merge`
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
    /// Start the load at this time, in Unix seconds (e.g. $(( $(date +%s) + 30 ))), so every shard starts together; at most a day ahead
    #[arg(long, value_name = "TIME", allow_hyphen_values = true, value_parser = parse_start_at)]
    pub start_at: Option<f64>,
    #[command(flatten)]
    pub output: OutputFlags,
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
}

/// What `echokit bench` can do besides loading a server.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Merge `bench --json` reports (shards of one load) into one report
    #[command(
        long_about = "Read `echokit bench --json` reports (one per shard or machine) and print one \
                      report over all of them, in the same text or --json form: counts summed, \
                      rates over the union of the runs' time spans, latency percentiles from the \
                      sum of their histograms (never from averaged percentiles). Reports of \
                      different workloads, modes or sizes are refused (exit 2, naming both files)."
    )]
    Merge(MergeArgs),
}

/// `echokit bench merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// `bench --json` reports to merge (a file may hold several JSON lines; each report line counts)
    #[arg(value_name = "FILE", required = true, value_hint = clap::ValueHint::FilePath)]
    pub files: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub output: OutputFlags,
}

/// `echokit resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Host name or address literal
    #[arg(value_name = "HOST")]
    pub host: String,
    /// Service name or port number (e.g. http, 80)
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,
    /// IPv4 results only
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 results only
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Datagram (UDP) results only
    #[arg(short = 'u', long = "udp", conflicts_with = "tcp")]
    pub udp: bool,
    /// Stream (TCP) results only
    #[arg(long)]
    pub tcp: bool,
    /// Ask for the canonical name (AI_CANONNAME)
    #[arg(long)]
    pub canonname: bool,
    #[command(flatten)]
    pub output: OutputFlags,
}

/// `echokit generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub what: Generate,
}

/// What `echokit generate` writes.
#[derive(Debug, Subcommand)]
pub enum Generate {
    /// Write echokit.1 and one page per subcommand into DIR
    Man {
        /// An existing, writable directory (e.g. man/ or /usr/share/man/man1)
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// Print the completion script for SHELL on stdout
    Completions {
        /// The shell the script is for
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

/// The parser of a whole-number flag that takes `min..=max`, for any integer
/// type. Anything else — a negative number, a fraction, a word, a number too
/// large — gets one message with the range; clap puts the flag before it
/// (`invalid value '-1' for '--count <N>': must be a whole number from 1 to
/// …`). The flag needs `allow_hyphen_values`, or clap takes `-1` for a flag.
pub fn whole<T>(
    min: T,
    max: T,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: Copy + PartialOrd + std::fmt::Display + TryFrom<i128> + Send + Sync + 'static,
{
    move |text: &str| {
        text.parse::<i128>()
            .ok()
            .and_then(|n| T::try_from(n).ok())
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| format!("must be a whole number from {min} to {max}"))
    }
}

/// The longest duration any flag takes: 100 years. Far beyond any real wait,
/// and far below what `Instant + Duration` can hold (about 292 billion years
/// on Linux, less elsewhere), so a deadline or a sum of two never overflows.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 31_557_600);

/// How [`MAX_DURATION`] is written in messages and help.
pub const MAX_DURATION_TEXT: &str = "100y";

/// The largest size a size flag takes: 16 MiB. `--buffer-size` is one read
/// (socket buffers hold a few MiB, a datagram at most 64 KiB, so more never
/// helps), allocated per event loop and per datagram slot; bench's `--size` is
/// one request, held per client thread. Larger is refused (exit 2), not an abort.
pub const MAX_SIZE: usize = 16 << 20;

/// How [`MAX_SIZE`] is written in messages and help.
pub const MAX_SIZE_TEXT: &str = "16MiB";

/// `--shard I/N`: 1 <= I <= N <= 65535.
pub fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{text:?} is not I/N with 1 <= I <= N <= 65535 (e.g. 2/4)");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u32, u32) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || n > 65_535 || i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// `--start-at TIME`: Unix seconds (a fraction allowed), not negative.
pub fn parse_start_at(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err("must be a time in Unix seconds, like $(date +%s) gives (e.g. 1767225600)".into()),
    }
}

/// Parses a humantime duration (`500ms`, `2s`, `1m30s`); a bare number is
/// seconds. At most [`MAX_DURATION`]: a larger one is "too large", never a
/// panic further on (SPEC §5).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let too_large = || format!("too large (at most {MAX_DURATION_TEXT})");
    if text.starts_with('-') {
        return Err("must not be negative (durations look like 500ms, 2s, 1m30s)".to_string());
    }
    let duration = match text.parse::<f64>() {
        // Checked before converting: Duration::from_secs_f64 panics past u64 seconds.
        Ok(seconds) if seconds.is_finite() && seconds > MAX_DURATION.as_secs_f64() => {
            return Err(too_large());
        }
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Duration::from_secs_f64(seconds),
        _ => humantime::parse_duration(text).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => too_large(),
            e => format!("{e} (durations look like 500ms, 2s, 1m30s)"),
        })?,
    };
    if duration > MAX_DURATION {
        return Err(too_large());
    }
    Ok(duration)
}

/// Parses a size with an optional binary suffix: `8`, `512B`, `4K`, `64KiB`,
/// `1MiB`; at most [`MAX_SIZE`].
pub fn parse_size(text: &str) -> Result<usize, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    let hint = "sizes look like 8, 4KiB, 64KiB, 1MiB";
    if text.starts_with('-') {
        return Err(format!("must not be negative ({hint})"));
    }
    let too_large = || format!("too large (at most {MAX_SIZE_TEXT})");
    let number: usize = match digits.parse() {
        Ok(n) => n,
        // Digits, but more than usize holds: too large, once the suffix is known good.
        Err(_) if !digits.is_empty() => usize::MAX,
        Err(_) => return Err(format!("not a size: {text:?} ({hint})")),
    };
    let unit: usize = match suffix.trim() {
        "" | "B" | "b" => 1,
        "K" | "k" | "KiB" | "KB" | "kB" | "kiB" => 1 << 10,
        "M" | "m" | "MiB" | "MB" => 1 << 20,
        "G" | "g" | "GiB" | "GB" => 1 << 30,
        _ => return Err(format!("unknown size suffix {suffix:?} ({hint})")),
    };
    match number.checked_mul(unit) {
        Some(0) => Err("size must be at least 1 byte".to_string()),
        Some(size) if size <= MAX_SIZE => Ok(size),
        _ => Err(too_large()),
    }
}

/// Parses an octal file mode as chmod takes it: `600`, `0660`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 => Ok(mode),
        _ => Err(format!(
            "not an octal mode: {text:?} (modes look like 600 or 0660)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8"), Ok(8));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("KiB").is_err());
    }

    #[test]
    fn whole_numbers_in_range_only() {
        let count = whole(1, u64::MAX);
        assert_eq!(count("1"), Ok(1));
        assert_eq!(count("18446744073709551615"), Ok(u64::MAX));
        let refused = Err("must be a whole number from 1 to 18446744073709551615".to_string());
        for text in ["-1", "0", "18446744073709551616", "1.5", "", "ten", "-"] {
            assert_eq!(count(text), refused, "{text:?}");
        }
        let workers = whole(1, 256u16);
        assert_eq!(workers("256"), Ok(256));
        assert_eq!(
            workers("257"),
            Err("must be a whole number from 1 to 256".to_string())
        );
        assert_eq!(whole(0, i32::MAX)("0"), Ok(0));
    }

    #[test]
    fn negative_durations_and_sizes_are_refused() {
        assert!(
            parse_duration("-1")
                .unwrap_err()
                .starts_with("must not be negative")
        );
        assert!(
            parse_duration("-5s")
                .unwrap_err()
                .starts_with("must not be negative")
        );
        assert!(
            parse_size("-1")
                .unwrap_err()
                .starts_with("must not be negative")
        );
        assert!(
            parse_size("-4KiB")
                .unwrap_err()
                .starts_with("must not be negative")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn durations_past_100_years_are_too_large_not_a_panic() {
        assert_eq!(parse_duration("100y"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("3155760000"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        let refused = Err("too large (at most 100y)".to_string());
        for text in [
            "1e19",
            "1e20",
            "1e300",
            "18446744073709551615",
            "18446744073709551616",
            "3155760000.5",
            "101y",
            "300000000000y",
            "18446744073709551615s",
            "99999999999999999999999999ns",
        ] {
            assert_eq!(parse_duration(text), refused, "{text:?}");
        }
        for text in ["inf", "NaN", "1e", "-inf"] {
            assert!(parse_duration(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn sizes_past_16_mib_are_too_large_not_an_abort() {
        assert_eq!(parse_size("16MiB"), Ok(MAX_SIZE));
        assert_eq!(parse_size("16777216"), Ok(MAX_SIZE));
        let refused = Err("too large (at most 16MiB)".to_string());
        for text in [
            "16777217",
            "17MiB",
            "30GiB",
            "1000000GiB",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999KiB",
        ] {
            assert_eq!(parse_size(text), refused, "{text:?}");
        }
        assert!(
            parse_size("99999999999999999999999XB")
                .unwrap_err()
                .starts_with("unknown size suffix")
        );
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0660"), Ok(0o660));
        assert!(parse_mode("999").is_err());
        assert!(parse_mode("rw").is_err());
    }
}
