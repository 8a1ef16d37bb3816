//! `echokit bench`: load an echo server and report rates and latency
//! percentiles (SPEC §4 bench). Without ADDR it starts an echokit server of
//! its own on loopback, in this process, on another thread.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::client_failure::ClientFailure;
use crate::addr::{self, Role};
use crate::cli::{BenchArgs, BenchCommand};
use crate::engine::{self, ServerConfig, Silent, Unlimited};
use crate::error::{Error, ExitCode};
use crate::output::{Human, Output, Report};
use crate::transport::{self, ListenOptions};
use crate::transport::{SocketAddress, SocketType, Transport};

mod load;
mod merge;
mod summary;

use load::{LoadConfig, LoadReport, Progress, SATURATED, Workload};
use summary::{Shard, Summary};

/// How far ahead `--start-at` may be.
const START_AT_MAX: Duration = Duration::from_secs(24 * 3600);

/// Runs `echokit bench`.
pub fn run(args: BenchArgs) -> Result<ExitCode, Error> {
    if let Some(BenchCommand::Merge(merge_args)) = args.command {
        return merge::run(merge_args);
    }
    let out = Output::new(args.output);
    if args.duration.is_zero() {
        // Nothing could complete in no time: exit 1 for ever (SPEC §4 bench).
        return Err(Error::Usage(
            "--duration must be longer than 0 (e.g. 500ms, 3s, 1m)".into(),
        ));
    }
    transport::raise_fd_limit();
    let default_kind = super::default_kind(&args.addr_flags);
    let workload = if args.bulk {
        Workload::Bulk
    } else if args.churn {
        Workload::Churn
    } else {
        Workload::PingPong
    };
    let bulk = workload == Workload::Bulk;
    let size = args.size.unwrap_or(if bulk { 64 * 1024 } else { 64 });
    let shard = args.shard.map(|(index, count)| Shard { index, count });
    let connections = args.connections.unwrap_or(if bulk { 1 } else { 50 });
    let (connections, rate) = match shard {
        Some(shard) => shard_share(shard, connections, args.rate)?,
        None => (connections, args.rate),
    };
    let start = Start {
        at: args.start_at,
        shard,
    };
    start.check()?;
    let config = |kind| LoadConfig {
        workload,
        kind,
        connections,
        size,
        duration: args.duration,
        rate,
        timeout: args.timeout,
        max_requests: args.requests,
        buffer_size: args.buffer_size,
        threads: args.threads,
    };
    match &args.addr {
        Some(text) => {
            let endpoint = addr::parse(text, default_kind)?;
            let targets = addr::resolve(&endpoint, super::family(&args.addr_flags), Role::Connect)?;
            let target = targets
                .first()
                .ok_or_else(|| Error::address(text, "resolves to nothing"))?;
            let config = config(endpoint.kind);
            check_workload(&config, target)?;
            let (report, started) = measure(&out, text, target, &config, &start)?;
            Ok(finish(&out, target, &config, report, started, shard))
        }
        None => {
            // Our own server on 127.0.0.1:0, on a thread of this process.
            let target = SocketAddress::Inet("127.0.0.1:0".parse().expect("a valid literal"));
            let listener = transport::listen(default_kind, &target, ListenOptions::default())?;
            let local = listener.local.clone();
            let name = listener.display();
            let (socket, _guard) = listener.served();
            let server_config = ServerConfig::new(args.buffer_size.max(size));
            let server = engine::spawn(
                vec![socket],
                server_config,
                1,
                Arc::new(Unlimited),
                Arc::new(Silent),
            )
            .map_err(|e| Error::internal("cannot start the echo server", e))?;
            let config = config(default_kind);
            check_workload(&config, &local)?;
            out.verbose(1, &format!("started an echo server on {name}"));
            let result = measure(&out, &name, &local, &config, &start);
            server.stop();
            let _ = server.join();
            let (report, started) = result?;
            Ok(finish(&out, &local, &config, report, started, shard))
        }
    }
}

/// What the address and the flags cannot do together: usage errors (exit 2)
/// before any connection is made.
fn check_workload(config: &LoadConfig, target: &SocketAddress) -> Result<(), Error> {
    if config.size == 0 {
        return Err(Error::Usage("--size must be at least 1 byte".into()));
    }
    let transport = Transport::of(config.kind, target);
    let socket_type = config.kind.socket_type;
    match config.workload {
        Workload::Churn if !socket_type.accepts_connections() => {
            return Err(Error::Usage(format!(
                "--churn opens a connection per request: {transport} has no connections (use tcp:, unix: or seqpacket:)"
            )));
        }
        Workload::Bulk if socket_type != SocketType::Stream => {
            return Err(Error::Usage(format!(
                "--bulk streams bytes: {transport} is not a byte stream (use tcp: or unix:)"
            )));
        }
        _ => {}
    }
    if let Some(max) = transport.max_message() {
        if config.size > max {
            return Err(Error::Usage(format!(
                "--size {} is larger than a {transport} {} carries ({max} bytes)",
                config.size,
                transport.socket_type().message_noun()
            )));
        }
    }
    Ok(())
}

/// This shard's connections and rate: 1/N of each (SPEC §4 bench), the
/// remainder going to the first shards so the parts add up. A shard left
/// with nothing to do is a usage error.
fn shard_share(
    shard: Shard,
    connections: u32,
    rate: Option<u64>,
) -> Result<(u32, Option<u64>), Error> {
    let mine = shard.part(u64::from(connections));
    if mine == 0 {
        return Err(Error::Usage(format!(
            "--shard {shard}: {connections} connections leave this shard none (give --connections at least {})",
            shard.count
        )));
    }
    let rate = match rate {
        Some(total) => {
            let part = shard.part(total);
            if part == 0 {
                return Err(Error::Usage(format!(
                    "--shard {shard}: --rate {total} leaves this shard no requests (give --rate at least {})",
                    shard.count
                )));
            }
            Some(part)
        }
        None => None,
    };
    Ok((u32::try_from(mine).unwrap_or(u32::MAX), rate))
}

/// When the load starts: at once, or at `--start-at` (Unix seconds).
struct Start {
    at: Option<f64>,
    shard: Option<Shard>,
}

impl Start {
    /// A start more than a day ahead is a usage error (a typo, or milliseconds).
    fn check(&self) -> Result<(), Error> {
        let Some(at) = self.at else { return Ok(()) };
        let now = summary_now();
        if at - now > START_AT_MAX.as_secs_f64() {
            return Err(Error::Usage(format!(
                "--start-at {at}: more than a day ahead (it is {now:.0} now; Unix seconds, not milliseconds)"
            )));
        }
        Ok(())
    }

    /// Waits for the start time, saying how long on stderr; a time already
    /// past starts at once, with a note.
    fn wait(&self, out: &Output) {
        let Some(at) = self.at else { return };
        let now = summary_now();
        let ahead = at - now;
        let who = self.shard.map_or(String::new(), |s| format!("shard {s}: "));
        if ahead <= 0.0 {
            out.note(&format!(
                "{who}--start-at was {:.1}s ago: starting now",
                -ahead
            ));
            return;
        }
        out.verbose(
            1,
            &format!("{who}starting in {ahead:.1}s (--start-at {at})"),
        );
        // The deadline is a wall-clock time: sleep in slices, so a clock
        // step is seen within one.
        loop {
            let left = at - summary_now();
            if left <= 0.0 {
                return;
            }
            std::thread::sleep(Duration::from_secs_f64(left.min(0.5)));
        }
    }
}

/// Now, in Unix seconds.
fn summary_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn measure(
    out: &Output,
    text: &str,
    target: &SocketAddress,
    config: &LoadConfig,
    start: &Start,
) -> Result<(LoadReport, SystemTime), Error> {
    start.wait(out);
    let started = SystemTime::now();
    // A live progress line only on a terminal, never in JSON or quiet mode.
    let bar = (std::io::stderr().is_terminal() && out.human()).then(|| {
        let bar = indicatif::ProgressBar::new(config.duration.as_millis() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut on_progress = |p: Progress| {
        if let Some(bar) = &bar {
            let secs = p.elapsed.as_secs_f64().max(1e-9);
            bar.set_position(p.elapsed.as_millis() as u64);
            let done = match config.workload {
                Workload::Bulk => format!(
                    "{} echoed ({})",
                    bytes(p.bytes as f64),
                    per_second(p.bytes as f64 / secs)
                ),
                _ => format!(
                    "{} requests ({:.0}/s)",
                    p.requests,
                    p.requests as f64 / secs
                ),
            };
            bar.set_message(format!(
                "{done}, {} errors, {} mismatches",
                p.errors, p.mismatches
            ));
        }
    };
    let result = load::run(target, config, &mut on_progress);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result.map(|r| (r, started)).map_err(|e| {
        let words = ClientFailure {
            addr: text,
            kind: config.kind,
            idle: None,
        };
        words.connect(target, e)
    })
}

fn finish(
    out: &Output,
    target: &SocketAddress,
    config: &LoadConfig,
    report: LoadReport,
    started: SystemTime,
    shard: Option<Shard>,
) -> ExitCode {
    let name = addr::display(config.kind, target);
    let summary = Summary::of_run(name, config, report, started, shard);
    verdict(out, &summary)
}

/// Prints `s` and its notes; exit 1 when nothing completed, or any error or
/// mismatch was counted (SPEC §4 bench). `bench merge` ends the same way.
pub(super) fn verdict(out: &Output, s: &Summary) -> ExitCode {
    out.report(s);
    if let Some(e) = &s.tally.first_error {
        out.note(&format!("first error: {e}"));
    }
    let nothing_done = match s.workload {
        Workload::Bulk => s.tally.bytes == 0,
        _ => s.tally.requests == 0,
    };
    if nothing_done {
        let what = match s.workload {
            Workload::Bulk => "no byte was echoed",
            _ => "no request was echoed",
        };
        let errors = match s.tally.errors {
            1 => "1 error".to_string(),
            n => format!("{n} errors"),
        };
        out.note(&format!(
            "{what} in {} ({errors}, {} in flight)",
            crate::output::duration(s.elapsed()),
            s.tally.in_flight
        ));
    }
    if let Some(busy) = s.client_cpu.filter(|b| *b >= SATURATED) {
        out.note(&format!(
            "the client was saturated (its busiest thread on CPU {:.0}% of the run): these figures are the client's limit, not the server's; try more --threads",
            busy * 100.0
        ));
    }
    if nothing_done || s.tally.mismatches > 0 || s.tally.errors > 0 {
        ExitCode::VerifyFailed
    } else {
        ExitCode::Success
    }
}

impl Summary {
    fn pct(&self, q: f64) -> u64 {
        self.tally.latency.value_at_quantile(q)
    }
}

impl Report for Summary {
    fn human(&self) -> Human {
        let mode = match (self.workload, self.rate) {
            (Workload::Bulk, _) => format!("bulk ({} per write)", bytes(self.size as f64)),
            (Workload::Churn, Some(rate)) => {
                format!("a new connection per request, open loop at {rate} requests/s")
            }
            (Workload::Churn, None) => "a new connection per request, closed loop".to_string(),
            (Workload::PingPong, Some(rate)) => format!("open loop at {rate} requests/s"),
            (Workload::PingPong, None) => "closed loop".to_string(),
        };
        let size = match self.workload {
            Workload::Bulk => String::new(),
            _ => format!("{} bytes per request, ", self.size),
        };
        let whose = match (self.shard, self.runs) {
            (Some(shard), _) => format!(" (shard {shard})"),
            (None, 1) => String::new(),
            (None, n) => format!(" ({n} runs merged)"),
        };
        let mut lines = vec![format!(
            "bench {}{whose}: {} connection{}, {size}{mode}, {}{}",
            self.address,
            self.connections,
            if self.connections == 1 { "" } else { "s" },
            humantime::format_duration(Duration::from_millis(self.elapsed().as_millis() as u64)),
            match self.threads {
                1 => String::new(),
                n => format!(", {n} client threads"),
            }
        )];
        if self.workload == Workload::Bulk {
            lines.push(format!(
                "echoed:     {} ({} each way)",
                bytes(self.tally.bytes as f64),
                per_second(self.tally.bytes as f64 / self.secs())
            ));
        } else {
            let unit = match self.workload {
                Workload::Churn => "connections",
                _ => "requests",
            };
            lines.push(format!(
                "{:<11} {} ({:.0}/s)",
                format!("{unit}:"),
                self.tally.requests,
                self.tally.requests as f64 / self.secs()
            ));
            lines.push(format!(
                "throughput: {} each way",
                per_second(self.tally.bytes as f64 / self.secs())
            ));
            lines.push(format!(
                "latency:    p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                micros(self.pct(0.5)),
                micros(self.pct(0.9)),
                micros(self.pct(0.99)),
                micros(self.pct(0.999)),
                micros(self.tally.latency.max())
            ));
        }
        let in_flight = match self.workload {
            Workload::Bulk => bytes(self.tally.in_flight as f64),
            _ => self.tally.in_flight.to_string(),
        };
        lines.push(format!(
            "errors:     {}  mismatches: {}  in flight: {in_flight}",
            self.tally.errors, self.tally.mismatches
        ));
        if let Some(busy) = self.client_cpu {
            lines.push(format!(
                "client:     busiest thread on CPU {:.0}% of the run{}",
                busy * 100.0,
                if busy >= SATURATED {
                    " (saturated)"
                } else {
                    ""
                }
            ));
        }
        Human::Stdout(lines.join("\n"))
    }

    fn json(&self) -> Option<Value> {
        let us = |nanos: u64| nanos as f64 / 1000.0;
        let bulk = self.workload == Workload::Bulk;
        let latency = (!bulk).then(|| {
            json!({
                "p50": us(self.pct(0.5)),
                "p90": us(self.pct(0.9)),
                "p99": us(self.pct(0.99)),
                "p99_9": us(self.pct(0.999)),
                "max": us(self.tally.latency.max()),
                "mean": self.tally.latency.mean() / 1000.0,
            })
        });
        Some(json!({
            "address": self.address,
            "workload": self.workload_name(),
            "connections": self.connections,
            "threads": self.threads,
            "size": self.size,
            "mode": self.mode(),
            "rate": self.rate,
            "shard": self.shard.map(|s| s.to_string()),
            "runs": self.runs,
            "start": self.start,
            "end": self.end,
            "duration_s": self.secs(),
            "requests": self.tally.requests,
            "requests_per_s": self.tally.requests as f64 / self.secs(),
            "bytes": self.tally.bytes,
            "bytes_per_s": self.tally.bytes as f64 / self.secs(),
            "latency_us": latency,
            "histogram": self.histogram_json(),
            "errors": self.tally.errors,
            "mismatches": self.tally.mismatches,
            "in_flight": (!bulk).then_some(self.tally.in_flight),
            "in_flight_bytes": bulk.then_some(self.tally.in_flight),
            "first_error": self.tally.first_error,
            "client_cpu": self.client_cpu,
            "client_saturated": self.client_cpu.map(|b| b >= SATURATED),
        }))
    }
}

/// A rate in bytes per second with a binary suffix (`12.3 MiB/s`).
fn per_second(count: f64) -> String {
    format!("{}/s", bytes(count))
}

/// A number of bytes with a binary suffix (`12.3 MiB`).
fn bytes(count: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = count;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

/// Nanoseconds in humantime syntax, rounded up to the microsecond (`250us`, `1ms 200us`).
fn micros(nanos: u64) -> String {
    crate::output::duration(Duration::from_micros(nanos.div_ceil(1000)))
}

/// The in-process server logs nothing.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_have_binary_suffixes() {
        assert_eq!(per_second(512.0), "512.0 B/s");
        assert_eq!(per_second(1536.0), "1.5 KiB/s");
        assert_eq!(per_second(3.0 * 1024.0 * 1024.0), "3.0 MiB/s");
    }

    #[test]
    fn latencies_are_humantime() {
        assert_eq!(micros(250_000), "250us");
        assert_eq!(micros(1_200_000), "1ms 200us");
    }
}
