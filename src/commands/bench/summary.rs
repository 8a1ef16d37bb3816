//! What one bench run (or several merged) amounts to: the counts, the run's
//! span in wall-clock time, and the latency histogram itself — the data
//! behind the text report, the `--json` line, and `bench merge`.
//!
//! Merging is exact because it never touches percentiles: counts are summed,
//! histograms added bucket by bucket (HdrHistogram), and rates taken over
//! the union of the runs' spans. A `--json` report carries its histogram as
//! HdrHistogram's V2 compressed encoding (deflate), base64, unit stated, so
//! any HdrHistogram library can read it back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde_json::{Value, json};

use super::load::{LoadConfig, LoadReport, Tally, Workload, busiest};

/// The histogram's encoding, as the `--json` report names it.
pub const HISTOGRAM_ENCODING: &str = "HdrHistogram V2 compressed (deflate), base64";
/// The unit of the histogram's values.
pub const HISTOGRAM_UNIT: &str = "ns";

/// Share I of N of a load spread over several machines (`--shard I/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// This shard's part of `total` (connections, a rate): an even split,
    /// the first `total % N` shards taking one more, so the parts add up.
    pub fn part(&self, total: u64) -> u64 {
        let n = u64::from(self.count);
        let i = u64::from(self.index);
        total / n + u64::from(i <= total % n)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// One run's report, or the merge of several.
#[derive(Debug, Clone)]
pub struct Summary {
    pub address: String,
    pub workload: Workload,
    pub connections: u64,
    pub threads: u64,
    /// Bytes per request; bulk: bytes per write.
    pub size: u64,
    /// Open loop: requests per second asked for in total.
    pub rate: Option<u64>,
    /// When the load began and ended, Unix seconds.
    pub start: f64,
    pub end: f64,
    /// Seconds of load: the run's own, or the union of the merged runs' spans.
    pub seconds: f64,
    /// What it counted (summed over merged runs).
    pub tally: Tally,
    /// The busiest client thread's CPU share (the largest over merged runs).
    pub client_cpu: Option<f64>,
    pub shard: Option<Shard>,
    /// How many runs this is (1, or the reports merged).
    pub runs: u64,
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Summary {
    /// The report of one run against `address` that began at `started`.
    pub fn of_run(
        address: String,
        config: &LoadConfig,
        report: LoadReport,
        started: SystemTime,
        shard: Option<Shard>,
    ) -> Summary {
        let start = unix_seconds(started);
        let seconds = report.elapsed.as_secs_f64();
        Summary {
            address,
            workload: config.workload,
            connections: u64::from(config.connections),
            threads: u64::from(config.threads),
            size: config.size as u64,
            rate: config.rate,
            start,
            end: start + seconds,
            seconds,
            tally: report.tally,
            client_cpu: report.busiest_thread_cpu,
            shard,
            runs: 1,
        }
    }

    /// The span the rates are over, never zero.
    pub fn secs(&self) -> f64 {
        self.seconds.max(1e-9)
    }

    /// The run length, for the header line.
    pub fn elapsed(&self) -> Duration {
        Duration::from_secs_f64(self.seconds.max(0.0))
    }

    /// The workload's name in JSON.
    pub fn workload_name(&self) -> &'static str {
        match self.workload {
            Workload::PingPong => "pingpong",
            Workload::Churn => "churn",
            Workload::Bulk => "bulk",
        }
    }

    /// `open` (a rate was asked for) or `closed`.
    pub fn mode(&self) -> &'static str {
        if self.rate.is_some() {
            "open"
        } else {
            "closed"
        }
    }

    /// The histogram as the JSON report carries it.
    pub fn histogram_json(&self) -> Value {
        let mut bytes = Vec::new();
        let data = match V2DeflateSerializer::new().serialize(&self.tally.latency, &mut bytes) {
            Ok(_) => base64::engine::general_purpose::STANDARD.encode(&bytes),
            // Cannot happen for a histogram we made; an empty string then
            // makes `bench merge` refuse the report rather than guess.
            Err(_) => String::new(),
        };
        json!({
            "encoding": HISTOGRAM_ENCODING,
            "unit": HISTOGRAM_UNIT,
            "data": data,
        })
    }

    /// Reads a `bench --json` report back; the error says what is missing.
    pub fn from_json(v: &Value) -> Result<Summary, String> {
        let u = |key: &str| -> Result<u64, String> {
            v[key]
                .as_u64()
                .ok_or_else(|| format!("no whole number \"{key}\""))
        };
        let f = |key: &str| -> Result<f64, String> {
            v[key]
                .as_f64()
                .ok_or_else(|| format!("no number \"{key}\""))
        };
        let workload = match v["workload"].as_str() {
            Some("pingpong") => Workload::PingPong,
            Some("churn") => Workload::Churn,
            Some("bulk") => Workload::Bulk,
            _ => return Err("no \"workload\" (pingpong, churn or bulk)".into()),
        };
        let histogram = &v["histogram"];
        if histogram["encoding"].as_str() != Some(HISTOGRAM_ENCODING)
            || histogram["unit"].as_str() != Some(HISTOGRAM_UNIT)
        {
            return Err(format!(
                "no \"histogram\" in {HISTOGRAM_ENCODING:?}, unit {HISTOGRAM_UNIT:?} (a report of an older echokit?)"
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(histogram["data"].as_str().unwrap_or_default())
            .map_err(|e| format!("the histogram is not base64: {e}"))?;
        let latency: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("the histogram cannot be read: {e:?}"))?;
        let shard = match v["shard"].as_str() {
            Some(text) => {
                let (index, count) = crate::cli::parse_shard(text)?;
                Some(Shard { index, count })
            }
            None => None,
        };
        let start = f("start")?;
        let end = f("end")?;
        Ok(Summary {
            address: v["address"].as_str().unwrap_or("-").to_string(),
            workload,
            connections: u("connections")?,
            threads: u("threads")?,
            size: u("size")?,
            rate: v["rate"].as_u64(),
            start,
            end,
            seconds: f("duration_s")?,
            tally: Tally {
                requests: u("requests")?,
                bytes: u("bytes")?,
                errors: u("errors")?,
                mismatches: u("mismatches")?,
                in_flight: v["in_flight"]
                    .as_u64()
                    .or_else(|| v["in_flight_bytes"].as_u64())
                    .unwrap_or(0),
                latency,
                first_error: v["first_error"].as_str().map(str::to_string),
            },
            client_cpu: v["client_cpu"].as_f64(),
            shard,
            runs: v["runs"].as_u64().unwrap_or(1).max(1),
        })
    }

    /// The one report over all of `parts`: counts summed, histograms added,
    /// rates over the union of their spans. `parts` is not empty.
    pub fn merge(parts: &[Summary]) -> Summary {
        let mut merged = parts[0].clone();
        merged.shard = None;
        for p in &parts[1..] {
            merged.connections += p.connections;
            merged.threads += p.threads;
            merged.rate = match (merged.rate, p.rate) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
            merged.start = merged.start.min(p.start);
            merged.end = merged.end.max(p.end);
            merged.tally.add(&p.tally);
            merged.client_cpu = busiest(merged.client_cpu, p.client_cpu);
            merged.runs += p.runs;
            if merged.address != p.address {
                merged.address = String::new();
            }
        }
        if merged.address.is_empty() {
            merged.address = format!("{} addresses", distinct(parts));
        }
        merged.seconds = union_length(parts.iter().map(|p| (p.start, p.end)));
        merged
    }
}

fn distinct(parts: &[Summary]) -> usize {
    let mut seen: Vec<&str> = parts.iter().map(|p| p.address.as_str()).collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// The total length of the union of `[start, end]` spans.
pub fn union_length(spans: impl Iterator<Item = (f64, f64)>) -> f64 {
    let mut spans: Vec<(f64, f64)> = spans.filter(|(s, e)| e >= s).collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (s, e) in spans {
        current = match current {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    if let Some((cs, ce)) = current {
        total += ce - cs;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1_000, 3_600_000_000_000, 3).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    fn part(start: f64, end: f64, values: &[u64]) -> Summary {
        Summary {
            address: "tcp:127.0.0.1:1".into(),
            workload: Workload::PingPong,
            connections: 3,
            threads: 1,
            size: 64,
            rate: Some(100),
            start,
            end,
            seconds: end - start,
            tally: Tally {
                requests: values.len() as u64,
                bytes: 64 * values.len() as u64,
                errors: 0,
                mismatches: 0,
                in_flight: 1,
                latency: histogram(values),
                first_error: None,
            },
            client_cpu: Some(0.2),
            shard: Some(Shard { index: 1, count: 2 }),
            runs: 1,
        }
    }

    #[test]
    fn shards_split_a_total_so_the_parts_add_up() {
        let parts: Vec<u64> = (1..=4)
            .map(|i| Shard { index: i, count: 4 }.part(50))
            .collect();
        assert_eq!(parts, [13, 13, 12, 12]);
        assert_eq!(parts.iter().sum::<u64>(), 50);
        use crate::cli::parse_shard;
        assert_eq!(parse_shard("2/3"), Ok((2, 3)));
        assert!(parse_shard("0/3").is_err() && parse_shard("4/3").is_err());
        assert!(parse_shard("1-3").is_err() && parse_shard("1/0").is_err());
    }

    #[test]
    fn union_of_spans_counts_overlaps_once() {
        assert_eq!(
            union_length([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)].into_iter()),
            4.0
        );
        assert_eq!(union_length([(5.0, 6.0)].into_iter()), 1.0);
    }

    #[test]
    fn a_json_report_reads_back_whole() {
        let p = part(10.0, 12.0, &[5_000, 7_000, 1_000_000]);
        let mut v = json!({
            "address": p.address, "workload": "pingpong", "connections": 3, "threads": 1,
            "size": 64, "rate": 100, "start": 10.0, "end": 12.0, "duration_s": 2.0,
            "requests": 3, "bytes": 192, "errors": 0, "mismatches": 0, "in_flight": 1,
            "shard": "1/2", "client_cpu": 0.2,
        });
        v["histogram"] = p.histogram_json();
        let back = Summary::from_json(&v).unwrap();
        assert_eq!(back.tally.latency, p.tally.latency);
        assert_eq!(back.shard, p.shard);
        assert_eq!(back.tally.requests, 3);
        v["histogram"]["unit"] = json!("us");
        assert!(Summary::from_json(&v).unwrap_err().contains("histogram"));
    }

    #[test]
    fn merging_adds_counts_and_histograms_and_takes_rates_over_the_union() {
        let a = part(10.0, 12.0, &[5_000, 7_000]);
        let b = part(11.0, 13.0, &[9_000, 2_000_000]);
        let m = Summary::merge(&[a, b]);
        assert_eq!(m.tally.requests, 4);
        assert_eq!(m.connections, 6);
        assert_eq!(m.rate, Some(200));
        assert_eq!(m.seconds, 3.0);
        assert_eq!(
            m.tally.latency,
            histogram(&[5_000, 7_000, 9_000, 2_000_000])
        );
        assert_eq!(m.runs, 2);
        assert_eq!(m.shard, None);
    }
}
