//! A follower whose disk rotted at rest (a flipped bit in the middle of a log segment, in its
//! snapshot, in a copy of its vote, found when it starts) keeps what is intact, drops the rest,
//! says so in its log, and fetches what it lost from the leader, where it once
//! refused to start and needed an operator. In a
//! test binary of its own: three processes share the machine's cores.
#![cfg(not(madsim))]
// Real processes on real time: the determinism lint is for code that runs in simulation.
#![allow(clippy::disallowed_methods)]

mod common;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::{bulk, ok};

#[test]
fn a_follower_with_a_damaged_log_keeps_its_prefix_and_catches_up() {
    // Small segments, so the damage is in a segment with others after it; no snapshots, so the
    // follower catches up by entries.
    let mut cluster = Cluster::start_with(3, "segment-bytes-max = 4096\nsnapshot-entry-count = 1000000\n");
    let (damaged, data_dir) = write_then_stop_a_follower(&mut cluster, 0..300);
    let mut segments = files_ending(&data_dir, ".log");
    segments.sort();
    assert!(segments.len() >= 3, "{segments:?}");
    let victim = &segments[segments.len() / 2];
    flip_a_bit(victim, 0.5);
    let startup = restart_and_catch_up(&mut cluster, damaged, 300..400);
    assert!(startup.contains("the log is damaged"), "{startup}");
    let file_name = victim.file_name().expect("a name").to_string_lossy().into_owned();
    assert!(startup.contains(&file_name), "the damaged file is named: {startup}");
    // Its log, intact again, reopens without damage.
    let process = cluster.nodes.remove(&damaged).expect("the follower");
    process.kill();
    cluster.start_node(damaged, false);
    let startup = cluster.nodes[&damaged].log.join("\n");
    assert!(!startup.contains("the log is damaged"), "{startup}");
    assert_eq!(cluster.client(damaged).call(&["GET", "k399"]).expect("GET"), bulk("v399"));
}

/// A follower whose snapshot and one copy of its vote rotted at rest: it keeps the vote from the
/// other copy, drops the snapshot and the log that rests on it, and fetches the state from the
/// leader, where it once refused to start.
#[test]
fn a_follower_with_a_damaged_snapshot_and_meta_copy_fetches_the_state_again() {
    // Snapshots every 100 entries, keeping 10 behind them, so the log is purged behind one.
    let mut cluster = Cluster::start_with(3, "snapshot-entry-count = 100\nsnapshot-log-keep-count = 10\n");
    let (damaged, data_dir) = write_then_stop_a_follower(&mut cluster, 0..300);
    let snapshot = data_dir.join("snapshot");
    assert!(snapshot.exists(), "a snapshot was taken: {:?}", files_ending(&data_dir, ""));
    flip_a_bit(&snapshot, 0.5);
    flip_a_bit(&data_dir.join("meta.1"), 0.9);
    let startup = restart_and_catch_up(&mut cluster, damaged, 300..400);
    assert!(startup.contains("the snapshot is damaged"), "{startup}");
    assert!(startup.contains("a copy of the log's metadata (the vote) is damaged"), "{startup}");
    assert!(startup.contains("meta.1"), "the damaged copy is named: {startup}");
}

/// Writes `keys` through the leader, waits until a follower has them all, then stops that
/// follower; returns it and its data directory.
fn write_then_stop_a_follower(cluster: &mut Cluster, keys: Range<usize>) -> (u64, PathBuf) {
    let leader = cluster.leader();
    set_keys(cluster, leader, keys.clone());
    let follower = cluster.follower(leader);
    // A follower's read waits for what the leader committed.
    let last = keys.end - 1;
    assert_eq!(
        cluster.client(follower).call(&["GET", &format!("k{last}")]).expect("GET"),
        bulk(&format!("v{last}"))
    );
    let process = cluster.nodes.remove(&follower).expect("the follower");
    let data_dir = process.data_dir.clone();
    process.kill();
    (follower, data_dir)
}

fn set_keys(cluster: &Cluster, node: u64, keys: Range<usize>) {
    let mut client = cluster.client(node);
    for i in keys {
        assert_eq!(client.call(&["SET", &format!("k{i}"), &format!("v{i}")]).expect("SET"), ok());
    }
}

/// Writes `more` keys while `damaged` is down, restarts it, and waits until it reads back every
/// key from `k0` on; returns its startup log.
fn restart_and_catch_up(cluster: &mut Cluster, damaged: u64, more: Range<usize>) -> String {
    set_keys(cluster, cluster.leader(), more.clone());
    let restarted = Instant::now();
    cluster.start_node(damaged, false);
    let startup = cluster.nodes[&damaged].log.join("\n");
    assert!(cluster.info(damaged).contains_key("catching_up"), "{:?}", cluster.info(damaged));
    // It fetches what it dropped, and what it missed, from the leader.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut follower = cluster.client(damaged);
    for i in (0..more.end).rev() {
        let key = format!("k{i}");
        loop {
            if follower.call(&["GET", &key]).ok() == Some(bulk(&format!("v{i}"))) {
                break;
            }
            assert!(Instant::now() < deadline, "{key} never came back: {:?}", cluster.info(damaged));
            std::thread::sleep(Duration::from_millis(100));
            follower = cluster.client(damaged);
        }
    }
    // What recovery from peers cost, for the record (not a bound).
    eprintln!("recovered: started and every key read back {:?} after the restart", restarted.elapsed());
    // It says when it votes again.
    while cluster.info(damaged).get("catching_up").map(String::as_str) != Some("0") {
        assert!(Instant::now() < deadline, "still catching up: {:?}", cluster.info(damaged));
        std::thread::sleep(Duration::from_millis(100));
    }
    startup
}

fn files_ending(dir: &Path, ending: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("the data directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(ending))
        .collect()
}

/// Flips one bit of `path` at `fraction` of its length.
fn flip_a_bit(path: &Path, fraction: f64) {
    let mut bytes = std::fs::read(path).expect("read");
    let at = ((bytes.len() as f64 * fraction) as usize).min(bytes.len() - 1);
    bytes[at] ^= 0x10;
    std::fs::write(path, &bytes).expect("write");
}
