//! `echokit bench`: load an echo server and report rates and latency
//! percentiles (SPEC §4 bench). Without ADDR it starts an echokit server of
//! its own on loopback, in this process, on another thread.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::addr::{self, Role};
use crate::cli::BenchArgs;
use crate::engine::{self, ServerConfig, Silent, Unlimited};
use crate::error::{Error, ExitCode};
use crate::output::{Human, Output, Report};
use crate::transport::{self, ListenOptions};
use crate::transport::{SocketAddress, SocketType, Transport};

mod load;

use load::{LoadConfig, LoadReport, Progress, SATURATED, Workload};

/// Runs `echokit bench`.
pub fn run(args: BenchArgs) -> Result<ExitCode, Error> {
    let out = Output::new(args.output);
    if args.duration.is_zero() {
        // Nothing could complete in no time: exit 1 for ever (SPEC §4 bench).
        return Err(Error::Usage(
            "--duration must be longer than 0 (e.g. 500ms, 3s, 1m)".into(),
        ));
    }
    transport::raise_fd_limit();
    let default_type = super::default_type(&args.addr_flags);
    let workload = if args.bulk {
        Workload::Bulk
    } else if args.churn {
        Workload::Churn
    } else {
        Workload::PingPong
    };
    let bulk = workload == Workload::Bulk;
    let size = args.size.unwrap_or(if bulk { 64 * 1024 } else { 64 });
    let config = |socket_type| LoadConfig {
        workload,
        socket_type,
        connections: args.connections.unwrap_or(if bulk { 1 } else { 50 }),
        size,
        duration: args.duration,
        rate: args.rate,
        timeout: args.timeout,
        max_requests: args.requests,
        buffer_size: args.buffer_size,
        threads: args.threads,
    };
    match &args.addr {
        Some(text) => {
            let endpoint = addr::parse(text, default_type)?;
            let targets = addr::resolve(&endpoint, super::family(&args.addr_flags), Role::Connect)?;
            let target = targets
                .first()
                .ok_or_else(|| Error::address(text, "resolves to nothing"))?;
            let config = config(endpoint.socket_type);
            check_workload(&config, target)?;
            let report = measure(&out, text, target, &config)?;
            Ok(finish(&out, target, &config, &report))
        }
        None => {
            // Our own server on 127.0.0.1:0, on a thread of this process.
            let target = SocketAddress::Inet("127.0.0.1:0".parse().expect("a valid literal"));
            let listener = transport::listen(default_type, &target, ListenOptions::default())?;
            let local = listener.local.clone();
            let name = listener.display();
            let (socket, _guard) = engine::served_socket(listener);
            let server_config = ServerConfig::new(args.buffer_size.max(size));
            let server = engine::spawn(
                vec![socket],
                server_config,
                1,
                Arc::new(Unlimited),
                Arc::new(Silent),
            )
            .map_err(|e| Error::internal("cannot start the echo server", e))?;
            let config = config(default_type);
            check_workload(&config, &local)?;
            out.verbose(1, &format!("started an echo server on {name}"));
            let result = measure(&out, &name, &local, &config);
            server.stop();
            let _ = server.join();
            let report = result?;
            Ok(finish(&out, &local, &config, &report))
        }
    }
}

/// What the address and the flags cannot do together: usage errors (exit 2)
/// before any connection is made.
fn check_workload(config: &LoadConfig, target: &SocketAddress) -> Result<(), Error> {
    if config.size == 0 {
        return Err(Error::Usage("--size must be at least 1 byte".into()));
    }
    let transport = Transport::of(config.socket_type, target);
    let socket_type = config.socket_type;
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

fn measure(
    out: &Output,
    text: &str,
    target: &SocketAddress,
    config: &LoadConfig,
) -> Result<LoadReport, Error> {
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
    result.map_err(|e| Error::connect(text, e))
}

fn finish(out: &Output, target: &SocketAddress, config: &LoadConfig, r: &LoadReport) -> ExitCode {
    let name = addr::display(config.socket_type, target);
    out.report(&BenchReport {
        name: &name,
        config,
        report: r,
    });
    if let Some(e) = &r.first_error {
        out.note(&format!("first error: {e}"));
    }
    let nothing_done = match config.workload {
        Workload::Bulk => r.bytes == 0,
        _ => r.requests == 0,
    };
    if nothing_done {
        let what = match config.workload {
            Workload::Bulk => "no byte was echoed",
            _ => "no request was echoed",
        };
        let errors = match r.errors {
            1 => "1 error".to_string(),
            n => format!("{n} errors"),
        };
        out.note(&format!(
            "{what} in {} ({errors}, {} in flight)",
            crate::output::duration(r.elapsed),
            r.in_flight
        ));
    }
    if let Some(busy) = r.busiest_thread_cpu.filter(|b| *b >= SATURATED) {
        out.note(&format!(
            "the client was saturated (its busiest thread on CPU {:.0}% of the run): these figures are the client's limit, not the server's; try more --threads",
            busy * 100.0
        ));
    }
    if nothing_done || r.mismatches > 0 || r.errors > 0 {
        ExitCode::VerifyFailed
    } else {
        ExitCode::Success
    }
}

/// The result of a run: rates, latency percentiles, errors and mismatches.
struct BenchReport<'a> {
    name: &'a str,
    config: &'a LoadConfig,
    report: &'a LoadReport,
}

impl BenchReport<'_> {
    fn secs(&self) -> f64 {
        self.report.elapsed.as_secs_f64().max(1e-9)
    }

    fn pct(&self, q: f64) -> u64 {
        self.report.latency.value_at_quantile(q)
    }
}

impl Report for BenchReport<'_> {
    fn human(&self) -> Human {
        let (r, config) = (self.report, self.config);
        let mode = match (config.workload, config.rate) {
            (Workload::Bulk, _) => format!("bulk ({} per write)", bytes(config.size as f64)),
            (Workload::Churn, Some(rate)) => {
                format!("a new connection per request, open loop at {rate} requests/s")
            }
            (Workload::Churn, None) => "a new connection per request, closed loop".to_string(),
            (Workload::PingPong, Some(rate)) => format!("open loop at {rate} requests/s"),
            (Workload::PingPong, None) => "closed loop".to_string(),
        };
        let size = match config.workload {
            Workload::Bulk => String::new(),
            _ => format!("{} bytes per request, ", config.size),
        };
        let mut lines = vec![format!(
            "bench {}: {} connection{}, {size}{mode}, {}{}",
            self.name,
            config.connections,
            if config.connections == 1 { "" } else { "s" },
            humantime::format_duration(Duration::from_millis(r.elapsed.as_millis() as u64)),
            match config.threads {
                1 => String::new(),
                n => format!(", {n} client threads"),
            }
        )];
        if config.workload == Workload::Bulk {
            lines.push(format!(
                "echoed:     {} ({} each way)",
                bytes(r.bytes as f64),
                per_second(r.bytes as f64 / self.secs())
            ));
        } else {
            let unit = match config.workload {
                Workload::Churn => "connections",
                _ => "requests",
            };
            lines.push(format!(
                "{:<11} {} ({:.0}/s)",
                format!("{unit}:"),
                r.requests,
                r.requests as f64 / self.secs()
            ));
            lines.push(format!(
                "throughput: {} each way",
                per_second(r.bytes as f64 / self.secs())
            ));
            lines.push(format!(
                "latency:    p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                micros(self.pct(0.5)),
                micros(self.pct(0.9)),
                micros(self.pct(0.99)),
                micros(self.pct(0.999)),
                micros(r.latency.max())
            ));
        }
        let in_flight = match config.workload {
            Workload::Bulk => bytes(r.in_flight as f64),
            _ => r.in_flight.to_string(),
        };
        lines.push(format!(
            "errors:     {}  mismatches: {}  in flight: {in_flight}",
            r.errors, r.mismatches
        ));
        if let Some(busy) = r.busiest_thread_cpu {
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
        let (r, config) = (self.report, self.config);
        let us = |nanos: u64| nanos as f64 / 1000.0;
        let latency = (config.workload != Workload::Bulk).then(|| {
            json!({
                "p50": us(self.pct(0.5)),
                "p90": us(self.pct(0.9)),
                "p99": us(self.pct(0.99)),
                "p99_9": us(self.pct(0.999)),
                "max": us(r.latency.max()),
                "mean": r.latency.mean() / 1000.0,
            })
        });
        Some(json!({
            "address": self.name,
            "workload": match config.workload {
                Workload::PingPong => "pingpong",
                Workload::Churn => "churn",
                Workload::Bulk => "bulk",
            },
            "connections": config.connections,
            "threads": config.threads,
            "size": config.size,
            "mode": if config.rate.is_some() { "open" } else { "closed" },
            "rate": config.rate,
            "duration_s": self.secs(),
            "requests": r.requests,
            "requests_per_s": r.requests as f64 / self.secs(),
            "bytes": r.bytes,
            "bytes_per_s": r.bytes as f64 / self.secs(),
            "latency_us": latency,
            "errors": r.errors,
            "mismatches": r.mismatches,
            "in_flight": (config.workload != Workload::Bulk).then_some(r.in_flight),
            "in_flight_bytes": (config.workload == Workload::Bulk).then_some(r.in_flight),
            "first_error": r.first_error,
            "client_cpu": r.busiest_thread_cpu,
            "client_saturated": r.busiest_thread_cpu.map(|b| b >= SATURATED),
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
