//! A follower whose log rotted at rest (a flipped bit in the middle of a segment, found when it
//! starts) keeps the intact prefix, drops the rest, says so in its log, and fetches
//! what it lost from the leader, where it once refused to start and needed an operator. In a
//! test binary of its own: three processes share the machine's cores.
#![cfg(not(madsim))]
// Real processes on real time: the determinism lint is for code that runs in simulation.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::{bulk, ok};

#[test]
fn a_follower_with_a_damaged_log_keeps_its_prefix_and_catches_up() {
    // Small segments, so the damage is in a segment with others after it; no snapshots, so the
    // follower catches up by entries.
    let mut cluster = Cluster::start_with(3, "segment-bytes-max = 4096\nsnapshot-entry-count = 1000000\n");
    let leader = cluster.leader();
    let mut client = cluster.client(leader);
    for i in 0..300 {
        assert_eq!(client.call(&["SET", &format!("k{i}"), &format!("v{i}")]).expect("SET"), ok());
    }
    let damaged = cluster.follower(leader);
    // Every node has every entry (a follower's read waits for what the leader committed).
    assert_eq!(cluster.client(damaged).call(&["GET", "k299"]).expect("GET"), bulk("v299"));
    let process = cluster.nodes.remove(&damaged).expect("the follower");
    let data_dir = process.data_dir.clone();
    process.kill();
    let mut segments: Vec<_> = std::fs::read_dir(&data_dir)
        .expect("the data directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    assert!(segments.len() >= 3, "{segments:?}");
    let victim = &segments[segments.len() / 2];
    let mut bytes = std::fs::read(victim).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(victim, &bytes).expect("write");
    for i in 300..400 {
        assert_eq!(client.call(&["SET", &format!("k{i}"), &format!("v{i}")]).expect("SET"), ok());
    }

    let restarted = Instant::now();
    cluster.start_node(damaged, false);
    let startup = cluster.nodes[&damaged].log.join("\n");
    assert!(startup.contains("the log is damaged"), "{startup}");
    let file_name = victim.file_name().expect("a name").to_string_lossy().into_owned();
    assert!(startup.contains(&file_name), "the damaged file is named: {startup}");
    // It fetches what it dropped, and what it missed, from the leader.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut follower = cluster.client(damaged);
    for i in (0..400).rev() {
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
    // Its log, intact again, reopens without damage.
    let process = cluster.nodes.remove(&damaged).expect("the follower");
    process.kill();
    cluster.start_node(damaged, false);
    let startup = cluster.nodes[&damaged].log.join("\n");
    assert!(!startup.contains("the log is damaged"), "{startup}");
    assert_eq!(cluster.client(damaged).call(&["GET", "k399"]).expect("GET"), bulk("v399"));
}
