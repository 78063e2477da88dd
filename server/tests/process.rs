//! `redraft-server` as a real process: redis-cli and redis-benchmark against it, crash safety
//! under `kill -9` during a stream of acknowledged writes, recovery from torn tails at random
//! offsets, refusal to start on corruption in the middle of the log, the HTTP endpoints, and the
//! data-directory lock.
//!
//! Needs `redis-cli` and `redis-benchmark` (Debian's redis-tools; ci/test installs them).
#![cfg(not(madsim))]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{bulk, http_get, ok, ServerProcess, SyncClient};
use rand::{Rng, SeedableRng};
use redraft_net::resp::Frame;

fn redis_cli(port: &str, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", port])
        .args(args)
        .output()
        .expect("redis-cli runs (apt-get install redis-tools; ci/test installs it)");
    assert!(output.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

fn seeded_rng(test: &str) -> rand::rngs::StdRng {
    let seed =
        std::env::var("REDRAFT_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("{test}: seed {seed} (rerun with REDRAFT_TEST_SEED={seed})");
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// redis-cli's commands and redis-benchmark's SET, GET, INCR and MSET, 16 deep, are served, and
/// the keyspace afterwards holds exactly what the benchmark wrote.
#[test]
fn redis_cli_and_redis_benchmark_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path(), &[]);
    let port = server.port();
    assert_eq!(redis_cli(&port, &["PING"]), "PONG\n");
    assert_eq!(redis_cli(&port, &["SET", "greeting", "hello world"]), "OK\n");
    assert_eq!(redis_cli(&port, &["GET", "greeting"]), "hello world\n");
    assert_eq!(redis_cli(&port, &["INCRBY", "n", "-3"]), "-3\n");
    assert_eq!(redis_cli(&port, &["MSET", "a", "1", "b", "2"]), "OK\n");
    assert_eq!(redis_cli(&port, &["MGET", "a", "b", "c"]), "1\n2\n\n");
    assert_eq!(redis_cli(&port, &["DEL", "greeting", "n", "a", "b"]), "4\n");
    assert!(redis_cli(&port, &["INFO", "replication"]).contains("role:master"));

    let requests = 20_000;
    let output = Command::new("redis-benchmark")
        .args([
            "-p",
            &port,
            "-t",
            "set,get,incr,mset",
            "-P",
            "16",
            "-c",
            "20",
            "-n",
            &requests.to_string(),
            "--csv",
        ])
        .output()
        .expect("redis-benchmark runs (apt-get install redis-tools; ci/test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "redis-benchmark failed: {stdout}\n{stderr}");
    assert!(!stderr.contains("Error") && !stdout.contains("Error"), "{stdout}\n{stderr}");
    for test in ["SET", "GET", "INCR", "MSET (10 keys)"] {
        let line = stdout.lines().find(|l| l.starts_with(&format!("\"{test}\""))).unwrap_or_else(|| {
            panic!("no {test} line in redis-benchmark's output:\n{stdout}");
        });
        let rps: f64 = line.split(',').nth(1).and_then(|v| v.trim_matches('"').parse().ok()).expect("a rate");
        assert!(rps > 0.0, "{line}");
    }
    // Without -r, redis-benchmark uses the literal key names below.
    assert_eq!(redis_cli(&port, &["GET", "counter:__rand_int__"]), format!("{requests}\n"));
    assert_eq!(redis_cli(&port, &["STRLEN", "key:__rand_int__"]), "3\n", "-d 3 is the default size");
    assert_eq!(redis_cli(&port, &["DBSIZE"]), "2\n");
}

/// Several rounds of: a client writes as fast as it can, counting the writes acknowledged; the
/// server is killed with SIGKILL mid-stream; after a restart every acknowledged write is there
/// (fsync always), and the counter is no further than one unacknowledged increment ahead.
#[test]
fn acknowledged_writes_survive_kill_9() {
    let mut rng = seeded_rng("acknowledged_writes_survive_kill_9");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acknowledged_total = 0u64;
    for round in 0..4 {
        let server = ServerProcess::start(dir.path(), &["--fsync", "always"]);
        let mut client = server.client();
        // Everything acknowledged in earlier rounds is here.
        for i in (0..acknowledged_total).step_by(7).chain(acknowledged_total.checked_sub(1)) {
            assert_eq!(
                client.call(&["GET", &format!("key{i}")]).expect("GET"),
                bulk(&format!("value{i}")),
                "round {round}: key{i} lost"
            );
        }
        let counter = match client.call(&["GET", "counter"]).expect("GET") {
            Frame::Bulk(b) => String::from_utf8_lossy(&b).parse::<u64>().expect("a number"),
            Frame::Null => 0,
            other => panic!("counter is {other:?}"),
        };
        assert!(
            counter == acknowledged_total || counter == acknowledged_total + 1,
            "round {round}: counter {counter} after {acknowledged_total} acknowledged increments"
        );
        // Re-align the counter with the acknowledged count (the unacknowledged one may be in).
        assert_eq!(client.call(&["SET", "counter", &acknowledged_total.to_string()]).expect("SET"), ok());

        let acknowledged = Arc::new(AtomicU64::new(acknowledged_total));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let acknowledged = acknowledged.clone();
            let stop = stop.clone();
            let addr = server.resp_addr.clone();
            #[allow(clippy::disallowed_methods)] // A test's client thread, outside any simulation.
            std::thread::spawn(move || {
                let mut client = SyncClient::connect(&addr).expect("connect");
                let mut i = acknowledged.load(Ordering::SeqCst);
                while !stop.load(Ordering::SeqCst) {
                    let set = client.call(&["SET", &format!("key{i}"), &format!("value{i}")]);
                    if set.is_err() {
                        return;
                    }
                    let incr = client.call(&["INCR", "counter"]);
                    match incr {
                        Ok(Frame::Integer(n)) => assert_eq!(n as u64, i + 1, "the counter follows the keys"),
                        _ => return,
                    }
                    i += 1;
                    acknowledged.store(i, Ordering::SeqCst);
                }
            })
        };
        let target = acknowledged_total + rng.gen_range(50..400);
        while acknowledged.load(Ordering::SeqCst) < target {
            std::thread::yield_now();
        }
        server.kill();
        stop.store(true, Ordering::SeqCst);
        writer.join().expect("the writer does not panic");
        acknowledged_total = acknowledged.load(Ordering::SeqCst);
    }
    let server = ServerProcess::start(dir.path(), &[]);
    let mut client = server.client();
    for i in 0..acknowledged_total {
        assert_eq!(
            client.call(&["GET", &format!("key{i}")]).expect("GET"),
            bulk(&format!("value{i}")),
            "key{i} lost"
        );
    }
}

/// Many connections pipeline INCRs of their own counters against a node with fsync always,
/// so the leader packs many clients' writes into each batch entry (its batch-size histogram
/// says so: some batch holds more than one pipeline), and the server is killed with SIGKILL
/// mid-stream, twice. Every connection sees its own replies in its own order (1, 2, 3, ...
/// across batches); after each restart every acknowledged increment is there and no counter is
/// more than one unacknowledged pipeline ahead.
#[test]
fn pipelined_writes_from_many_connections_are_batched_and_survive_kill_9() {
    const CONNECTIONS: usize = 8;
    const DEPTH: u64 = 16;
    let mut rng = seeded_rng("pipelined_writes_from_many_connections_are_batched_and_survive_kill_9");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acknowledged_before = vec![0u64; CONNECTIONS];
    const KILLS: usize = 2;
    for round in 0..=KILLS {
        let server = ServerProcess::start(dir.path(), &["--fsync", "always"]);
        let mut client = server.client();
        for (c, before) in acknowledged_before.iter_mut().enumerate() {
            let acknowledged = *before;
            let value = match client.call(&["GET", &format!("counter{c}")]).expect("GET") {
                Frame::Bulk(b) => String::from_utf8_lossy(&b).parse::<u64>().expect("a number"),
                Frame::Null => 0,
                other => panic!("counter{c} is {other:?}"),
            };
            assert!(
                (acknowledged..=acknowledged + DEPTH).contains(&value),
                "round {round}: counter{c} is {value} after {acknowledged} acknowledged increments"
            );
            // Start the round from what is there: unacknowledged increments may have applied.
            *before = value;
        }
        if round == KILLS {
            break;
        }
        let acknowledged: Arc<Vec<AtomicU64>> =
            Arc::new(acknowledged_before.iter().map(|&n| AtomicU64::new(n)).collect());
        let writers: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                let acknowledged = acknowledged.clone();
                let addr = server.resp_addr.clone();
                #[allow(clippy::disallowed_methods)] // A test's client thread, outside any simulation.
                std::thread::spawn(move || {
                    let mut client = SyncClient::connect(&addr).expect("connect");
                    let key = format!("counter{c}");
                    let incr: Vec<&str> = vec!["INCR", &key];
                    let pipeline: Vec<&[&str]> = (0..DEPTH).map(|_| incr.as_slice()).collect();
                    let mut last = acknowledged[c].load(Ordering::SeqCst);
                    while let Ok(replies) = client.pipeline(&pipeline) {
                        for reply in replies {
                            last += 1;
                            assert_eq!(
                                reply,
                                Frame::Integer(last as i64),
                                "connection {c}: replies out of order"
                            );
                        }
                        acknowledged[c].store(last, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        let target: u64 = acknowledged_before.iter().sum::<u64>() + rng.gen_range(2_000..6_000);
        // A writer stops early only when it saw a wrong reply (or lost its connection): then
        // stop waiting, and its join below reports why.
        while acknowledged.iter().map(|n| n.load(Ordering::SeqCst)).sum::<u64>() < target
            && !writers.iter().any(|w| w.is_finished())
        {
            std::thread::yield_now();
        }
        let (status, metrics) = http_get(&server.http_addr, "/metrics");
        assert_eq!(status, 200);
        // The histogram's buckets double from 1: batches of more than DEPTH writes (one
        // pipeline) hold writes from more than one connection.
        let batches = metric(&metrics, "redraft_batch_writes_count");
        let one_pipeline_at_most =
            metric(&metrics, &format!("redraft_batch_writes_bucket{{le=\"{DEPTH}\"}}"));
        assert!(
            batches > one_pipeline_at_most,
            "round {round}: none of {batches} batches held more than one connection's pipeline"
        );
        server.kill();
        for writer in writers {
            writer.join().expect("no writer saw a wrong reply");
        }
        acknowledged_before = acknowledged.iter().map(|n| n.load(Ordering::SeqCst)).collect();
    }
}

/// The value of an unlabelled metric in Prometheus's text format.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} is not in the metrics"))
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("data dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

fn write_keys(server: &ServerProcess, count: usize) {
    let mut client = server.client();
    for i in 0..count {
        assert_eq!(client.call(&["SET", &format!("key{i}"), &format!("value{i}")]).expect("SET"), ok());
    }
}

/// A tail cut short at a random offset inside the last record or the one before, or followed
/// by random garbage, is truncated and reported at start-up; every record before it is served.
/// The cut records had been reported durable. The last one is restored from the copy of its
/// batch that the synced mark holds (`synced_mark.rs`); with the one before it lost too, more
/// than the mark's copy is gone, and a node alone refuses to start until the operator accepts
/// the loss. Garbage after the last record was never acknowledged and costs nothing.
#[test]
fn torn_tails_at_random_offsets_are_truncated_and_reported() {
    let mut rng = seeded_rng("torn_tails_at_random_offsets_are_truncated_and_reported");
    for case in 0..6 {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = ServerProcess::start(dir.path(), &[]);
        write_keys(&server, 50);
        assert_eq!(server.stop(), Some(0), "a clean stop");
        let segment = segments(dir.path()).pop().expect("a segment");
        let mut bytes = std::fs::read(&segment).expect("segment");
        let (records, tail) = redraft_core::record::decode_all(&bytes, 0).expect("a clean log");
        // A clean stop closes the log, which trims the zeros written ahead of its appends.
        let end = bytes.len() as u64;
        assert_eq!(tail, redraft_core::record::Tail::Clean { end_offset: end }, "case {case}: closed log");
        // Cut inside the last record (its header or its payload), inside the one before, or
        // append garbage.
        let lost = case % 3;
        if lost > 0 {
            let victim = records[records.len() - lost].offset as usize;
            let next = records.get(records.len() - lost + 1).map_or(bytes.len(), |r| r.offset as usize);
            bytes.truncate(rng.gen_range(victim + 1..next));
        } else {
            // A write that never completed: garbage after the last whole record.
            let garbage: Vec<u8> = (0..rng.gen_range(1..64)).map(|_| rng.gen()).collect();
            bytes.extend_from_slice(&garbage);
        }
        std::fs::write(&segment, &bytes).expect("write");

        if lost == 2 {
            // More than the last batch is gone: a node with no peers to fetch it from refuses,
            // until an operator accepts the loss.
            let failure = ServerProcess::try_start(dir.path(), &[]).err().expect("start-up is refused");
            let expected = "entries through 51 were reported durable, but the log ends at 49";
            assert!(failure.log.contains(expected), "case {case}: {expected:?} in:\n{}", failure.log);
            std::fs::remove_file(dir.path().join("synced-through")).expect("the operator accepts the loss");
        }
        let server = ServerProcess::start(dir.path(), &[]);
        let name = segment.file_name().expect("name").to_string_lossy().into_owned();
        // A refused start already cut the torn bytes, and said why.
        assert!(
            lost == 2 || server.log.iter().any(|l| l.contains("torn write") && l.contains(&name)),
            "case {case}: the truncation is reported:\n{}",
            server.log.join("\n")
        );
        if lost == 1 {
            assert!(
                server.log.iter().any(|l| l.contains("entries restored from the copy")),
                "case {case}: the restore is reported:\n{}",
                server.log.join("\n")
            );
        }
        let mut client = server.client();
        assert_eq!(client.call(&["GET", "key0"]).expect("GET"), bulk("value0"));
        assert_eq!(client.call(&["GET", "key47"]).expect("GET"), bulk("value47"));
        let (key48, key49) =
            (client.call(&["GET", "key48"]).expect("GET"), client.call(&["GET", "key49"]).expect("GET"));
        if lost == 2 {
            assert_eq!((key48, key49), (Frame::Null, Frame::Null), "case {case}: the cut records are gone");
        } else {
            assert_eq!((key48, key49), (bulk("value48"), bulk("value49")), "case {case}: nothing lost");
        }
        // The node keeps working on the repaired log.
        assert_eq!(client.call(&["SET", "after", "repair"]).expect("SET"), ok());
    }
}

/// A flipped byte inside a record in the middle of the log of a node with no peers (no one to
/// fetch the rest from) stops start-up with a message that names the segment file and the
/// record's offset, and changes nothing (`damaged_follower.rs` has a node with peers).
#[test]
fn corruption_in_the_middle_refuses_to_start_naming_file_and_offset() {
    let mut rng = seeded_rng("corruption_in_the_middle_refuses_to_start_naming_file_and_offset");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path(), &[]);
    write_keys(&server, 40);
    assert_eq!(server.stop(), Some(0));
    let segment = segments(dir.path()).pop().expect("a segment");
    let mut bytes = std::fs::read(&segment).expect("segment");
    let (records, _) = redraft_core::record::decode_all(&bytes, 0).expect("a clean log");
    let victim = &records[rng.gen_range(1..records.len() - 5)];
    let at = victim.offset as usize + 8 + rng.gen_range(0..victim.payload.len());
    bytes[at] ^= 1 << rng.gen_range(0..8);
    std::fs::write(&segment, &bytes).expect("write");

    let failure = ServerProcess::try_start(dir.path(), &[]).err().expect("start-up is refused");
    assert_ne!(failure.status, Some(0));
    let name = segment.file_name().expect("name").to_string_lossy().into_owned();
    let expected = format!("{name} at offset {}", victim.offset);
    assert!(failure.log.contains(&expected), "expected {expected:?} in:\n{}", failure.log);
}

/// /metrics, /healthz and /readyz answer, and the metrics count what clients did.
#[test]
fn http_endpoints_report_health_readiness_and_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path(), &[]);
    write_keys(&server, 5);
    let mut client = server.client();
    assert!(matches!(client.call(&["INCR", "key0"]).expect("INCR"), Frame::Error(_)));
    let (status, body) = http_get(&server.http_addr, "/healthz");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(&server.http_addr, "/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ready\":true"), "{body}");
    let (status, metrics) = http_get(&server.http_addr, "/metrics");
    assert_eq!(status, 200);
    for expected in [
        "redraft_commands_total{command=\"set\",result=\"ok\"} 5",
        "redraft_commands_total{command=\"incr\",result=\"error\"} 1",
        "redraft_raft_is_leader 1",
        "redraft_connections 1",
        "redraft_log_fsyncs_total",
        "redraft_command_duration_seconds_bucket{command=\"set\"",
    ] {
        assert!(metrics.contains(expected), "{expected:?} missing from /metrics:\n{metrics}");
    }
    let (status, _) = http_get(&server.http_addr, "/nope");
    assert_eq!(status, 404);
}

/// A second server on the same data directory is refused instead of corrupting the log.
/// As Redis does at start, the server raises its open-file limit to cover `maxclients` and its
/// own reserve when the hard limit allows, and otherwise lowers `maxclients` to fit, saying so,
/// rather than failing accepts, peer connections or log files later for want of descriptors.
#[test]
fn maxclients_fits_the_open_file_limit() {
    let reserve = redraft_core::limits::OPEN_FILES_RESERVED;
    let dir = tempfile::tempdir().expect("tempdir");
    let low = ServerProcess::start_with_open_files(
        &dir.path().join("low"),
        &[("REDRAFT_MAXCLIENTS", "5000")],
        1024,
        1024,
    );
    let allowed = (1024 - reserve).to_string();
    let reply = low.client().call(&["CONFIG", "GET", "maxclients"]).expect("answers");
    assert_eq!(reply, Frame::Array(vec![bulk("maxclients"), bulk(&allowed)]), "lowered to fit 1024 files");
    assert!(
        low.log.iter().any(|line| line.contains(&format!("maxclients has been reduced to {allowed}"))),
        "the reduction is logged: {:#?}",
        low.log
    );
    drop(low);

    let raised = ServerProcess::start_with_open_files(
        &dir.path().join("raised"),
        &[("REDRAFT_MAXCLIENTS", "5000")],
        1024,
        8192,
    );
    let reply = raised.client().call(&["CONFIG", "GET", "maxclients"]).expect("answers");
    assert_eq!(
        reply,
        Frame::Array(vec![bulk("maxclients"), bulk("5000")]),
        "the soft limit was raised instead"
    );
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", raised.child.id())).expect("/proc limits");
    let open_files =
        limits.lines().find(|line| line.starts_with("Max open files")).expect("the open-files row");
    let soft: u64 = open_files.split_whitespace().nth(3).and_then(|n| n.parse().ok()).expect("a number");
    assert_eq!(soft, 5000 + reserve, "{open_files}");
}

#[test]
fn a_data_directory_serves_one_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _server = ServerProcess::start(dir.path(), &[]);
    let failure = ServerProcess::try_start(dir.path(), &[]).err().expect("refused");
    assert!(failure.log.contains("in use by another redraft-server"), "{}", failure.log);
}

/// A restart that replays keys on top of a snapshot, some of them deleted again in the log,
/// serves SCAN and DBSIZE as before it: the replay's new keys reach the SCAN index in bulk at
/// its end (`hash_index.rs`), and its deletions find the keys it added before them.
#[test]
fn scan_after_a_restart_that_replays_new_and_deleted_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut expected = std::collections::BTreeSet::new();
    let server = ServerProcess::start(dir.path(), &["--fsync", "always"]);
    let mut client = server.client();
    for i in 0..3_000 {
        assert_eq!(client.call(&["SET", &format!("key{i}"), "v"]).expect("SET"), ok());
        expected.insert(format!("key{i}"));
    }
    assert_eq!(client.call(&["SAVE"]).expect("SAVE"), ok());
    for i in 3_000..9_000 {
        assert_eq!(client.call(&["SET", &format!("key{i}"), "v"]).expect("SET"), ok());
        expected.insert(format!("key{i}"));
        if i % 3 == 0 {
            // Deletes a key of the snapshot and one this log added.
            for key in [format!("key{}", i - 3_000), format!("key{}", i - 1)] {
                assert_eq!(client.call(&["DEL", &key]).expect("DEL"), Frame::Integer(1), "{key}");
                expected.remove(&key);
            }
        }
    }
    drop(client);
    server.kill();
    let server = ServerProcess::start(dir.path(), &[]);
    let mut client = server.client();
    let size = client.call(&["DBSIZE"]).expect("DBSIZE");
    assert_eq!(size, Frame::Integer(expected.len() as i64));
    let mut scanned = Vec::new();
    let mut cursor = "0".to_owned();
    loop {
        let Frame::Array(page) = client.call(&["SCAN", &cursor, "COUNT", "500"]).expect("SCAN") else {
            panic!("SCAN answers an array")
        };
        let [Frame::Bulk(next), Frame::Array(keys)] = &page[..] else { panic!("{page:?}") };
        scanned.extend(keys.iter().map(common::cluster::text));
        cursor = String::from_utf8(next.to_vec()).expect("utf-8");
        if cursor == "0" {
            break;
        }
    }
    scanned.sort();
    assert_eq!(scanned, expected.into_iter().collect::<Vec<_>>(), "every key once");
}
