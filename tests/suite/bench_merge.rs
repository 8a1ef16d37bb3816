//! Many machines, built in the test (SPEC §4 bench): `bench --shard I/N
//! --start-at T --json` shards, each in a network namespace of its own
//! reaching one server through a Unix socket path (a path crosses network
//! namespaces; no traffic leaves loopback), and TCP shards from distinct
//! loopback addresses; then `bench merge`. The merged counts are the sums,
//! and the merged percentiles are exactly those of one histogram fed every
//! shard's samples (decoded here from the reports with the hdrhistogram
//! crate, as any HdrHistogram reader would).

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use serde_json::Value;

use crate::util::*;

/// A start time a few seconds ahead, so every shard starts together.
fn start_at(seconds_ahead: u64) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (now + seconds_ahead).to_string()
}

fn report(run: &Run) -> Value {
    let line = String::from_utf8_lossy(&run.stdout);
    serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("not one JSON line ({e}): {}", run.describe()))
}

fn histogram(report: &Value) -> Histogram<u64> {
    assert_eq!(report["histogram"]["unit"], "ns", "{report}");
    assert_eq!(
        report["histogram"]["encoding"],
        "HdrHistogram V2 compressed (deflate), base64"
    );
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(report["histogram"]["data"].as_str().expect("data"))
        .expect("base64");
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .expect("an HdrHistogram V2 histogram")
}

/// Writes the shards' reports, merges them (text and JSON), and checks the
/// sums and the exact percentiles; returns the merged JSON.
fn merge_and_check(dir: &std::path::Path, shards: &[Value]) -> Value {
    let mut files = Vec::new();
    for (i, r) in shards.iter().enumerate() {
        let path = dir.join(format!("shard{i}.json"));
        std::fs::write(&path, format!("{r}\n")).unwrap();
        files.push(path.display().to_string());
    }
    let mut args = vec!["bench", "merge", "--json"];
    args.extend(files.iter().map(String::as_str));
    let merged_run = echokit(&args, b"");
    merged_run.assert_code(0);
    let merged = report(&merged_run);
    let sum = |key: &str| shards.iter().map(|r| r[key].as_u64().unwrap()).sum::<u64>();
    for key in ["requests", "bytes", "errors", "mismatches", "connections"] {
        assert_eq!(merged[key].as_u64(), Some(sum(key)), "{key}: {merged}");
    }
    assert_eq!(merged["runs"].as_u64(), Some(shards.len() as u64));
    // One histogram fed every shard's samples: its percentiles, exactly.
    let mut all = Histogram::<u64>::new_with_bounds(1_000, 3_600_000_000_000, 3).unwrap();
    for r in shards {
        all.add(histogram(r)).unwrap();
    }
    assert_eq!(histogram(&merged), all);
    let us = |v: u64| v as f64 / 1000.0;
    let latency = &merged["latency_us"];
    assert_eq!(
        latency["p50"].as_f64(),
        Some(us(all.value_at_quantile(0.5)))
    );
    assert_eq!(
        latency["p90"].as_f64(),
        Some(us(all.value_at_quantile(0.9)))
    );
    assert_eq!(
        latency["p99"].as_f64(),
        Some(us(all.value_at_quantile(0.99)))
    );
    assert_eq!(
        latency["p99_9"].as_f64(),
        Some(us(all.value_at_quantile(0.999)))
    );
    assert_eq!(latency["max"].as_f64(), Some(us(all.max())));
    // The rate is over the union of the spans, not a sum of rates.
    let start = shards
        .iter()
        .map(|r| r["start"].as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    let end = shards
        .iter()
        .map(|r| r["end"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let span = merged["duration_s"].as_f64().unwrap();
    assert!(span <= end - start + 1e-6 && span > 0.0, "{merged}");
    // The text form of the same merge.
    let mut args = vec!["bench", "merge"];
    args.extend(files.iter().map(String::as_str));
    let text = echokit(&args, b"");
    text.assert_code(0);
    let out = text.out();
    assert!(
        out.contains(&format!("({} runs merged)", shards.len()))
            && out.contains(&format!("requests:   {} (", sum("requests"))),
        "{out}"
    );
    merged
}

#[test]
fn shards_in_network_namespaces_of_their_own_merge_into_exact_totals() {
    let test = "shards_in_network_namespaces_of_their_own_merge_into_exact_totals";
    let dir = temp_dir();
    let path = dir.path().join("echo.sock");
    let server = Server::start(&[&format!("unix:{}", path.display())], 1);
    let addr = server.ready[0].clone();
    let at = start_at(2);
    let shards: Vec<Option<Run>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=3)
            .map(|i| {
                let shard = format!("{i}/3");
                let (addr, at) = (addr.clone(), at.clone());
                scope.spawn(move || {
                    in_netns(
                        test,
                        None,
                        "true",
                        &[
                            "bench",
                            "--json",
                            "-d",
                            "1s",
                            "-c",
                            "7",
                            "--shard",
                            &shard,
                            "--start-at",
                            &at,
                            &addr,
                        ],
                        Duration::from_secs(30),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    if shards.iter().any(Option::is_none) {
        return; // in_netns said why it skips
    }
    let reports: Vec<Value> = shards
        .iter()
        .map(|r| {
            let r = r.as_ref().unwrap();
            r.assert_code(0);
            report(r)
        })
        .collect();
    // 7 connections over 3 shards: 3, 2, 2.
    let conns: Vec<u64> = reports
        .iter()
        .map(|r| r["connections"].as_u64().unwrap())
        .collect();
    assert_eq!(conns, [3, 2, 2]);
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r["shard"], format!("{}/3", i + 1));
        assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
    }
    // --start-at: every shard began within a moment of the others.
    let starts: Vec<f64> = reports
        .iter()
        .map(|r| r["start"].as_f64().unwrap())
        .collect();
    let spread = starts.iter().cloned().fold(0.0, f64::max)
        - starts.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        spread < 0.5,
        "shards started {spread:.3}s apart: {starts:?}"
    );
    merge_and_check(dir.path(), &reports);
}

#[test]
fn tcp_shards_from_distinct_loopback_addresses_merge_into_exact_totals() {
    let server = Server::start(&["tcp:0.0.0.0:0"], 1);
    let port = server.port(0);
    let at = start_at(2);
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=4u8)
            .map(|i| {
                let at = at.clone();
                scope.spawn(move || {
                    // Shard i talks to 127.0.0.(i+1): its own loopback address.
                    let target = format!("127.0.0.{}:{port}", i + 1);
                    let shard = format!("{i}/4");
                    echokit_within(
                        &[
                            "bench",
                            "--json",
                            "-d",
                            "1s",
                            "--rate",
                            "400",
                            "-c",
                            "8",
                            "--shard",
                            &shard,
                            "--start-at",
                            &at,
                            &target,
                        ],
                        b"",
                        Duration::from_secs(30),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let reports: Vec<Value> = runs
        .iter()
        .map(|r| {
            r.assert_code(0);
            report(r)
        })
        .collect();
    for r in &reports {
        assert_eq!(
            r["rate"].as_u64(),
            Some(100),
            "--rate 400 over 4 shards: {r}"
        );
        assert_eq!(r["connections"].as_u64(), Some(2));
    }
    let dir = temp_dir();
    let merged = merge_and_check(dir.path(), &reports);
    assert_eq!(merged["rate"].as_u64(), Some(400));
    assert_eq!(merged["mode"], "open");
}

#[test]
fn reports_of_different_workloads_or_sizes_are_not_merged() {
    let server = Server::start(&["tcp:127.0.0.1:0"], 1);
    let addr = server.ready[0].clone();
    let dir = temp_dir();
    let file = |name: &str, extra: &[&str]| {
        let mut args = vec!["bench", "--json", "-d", "300ms", "-c", "2"];
        args.extend_from_slice(extra);
        args.push(&addr);
        let run = echokit_within(&args, b"", Duration::from_secs(20));
        run.assert_code(0);
        let path = dir.path().join(name);
        std::fs::write(&path, &run.stdout).unwrap();
        path.display().to_string()
    };
    let small = file("small.json", &["-s", "64"]);
    let large = file("large.json", &["-s", "128"]);
    let churn = file("churn.json", &["--churn", "-s", "64"]);
    let run = echokit(&["bench", "merge", &small, &large], b"");
    run.assert_code(2);
    assert_eq!(
        run.stderr,
        format!(
            "echokit: cannot merge {small} (pingpong, closed loop, 64 bytes) with {large} (pingpong, closed loop, 128 bytes): different sizes (--size)\n"
        )
    );
    let run = echokit(&["bench", "merge", &small, &churn], b"");
    run.assert_code(2);
    assert_eq!(
        run.stderr,
        format!(
            "echokit: cannot merge {small} (pingpong, closed loop, 64 bytes) with {churn} (churn, closed loop, 64 bytes): different workloads\n"
        )
    );
    // Not a report at all.
    let bogus = dir.path().join("bogus.json");
    std::fs::write(&bogus, "{\"hello\": 1}\n").unwrap();
    let run = echokit(&["bench", "merge", &bogus.display().to_string()], b"");
    run.assert_code(2);
    assert!(
        run.stderr.starts_with(&format!(
            "echokit: {} line 1: not an `echokit bench --json` report: ",
            bogus.display()
        )),
        "{}",
        run.describe()
    );
}

#[test]
fn a_shard_left_with_no_connection_and_a_far_start_are_usage_errors() {
    let run = echokit(&["bench", "-c", "2", "--shard", "3/3", "127.0.0.1:9"], b"");
    run.assert_code(2);
    assert_eq!(
        run.stderr,
        "echokit: --shard 3/3: 2 connections leave this shard none (give --connections at least 3)\n"
    );
    let run = echokit(&["bench", "--shard", "4/3", "127.0.0.1:9"], b"");
    run.assert_code(2);
    let far = start_at(3 * 24 * 3600);
    let run = echokit(&["bench", "--start-at", &far, "127.0.0.1:9"], b"");
    run.assert_code(2);
    assert!(
        run.stderr.contains("more than a day ahead"),
        "{}",
        run.describe()
    );
}
