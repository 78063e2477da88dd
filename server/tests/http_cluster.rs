//! The HTTP key API on a real 3-node cluster: conditional writes that race (one wins), and watch
//! streams that replay exactly the recorded history from any revision, on every node, across a
//! leader kill and a follower restart.
#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{BufRead, BufReader, Write as _};
use std::time::{Duration, Instant};

use common::cluster::{write_keys, Cluster};
use common::http_json as call;
use serde_json::{json, Value};

/// One cluster at a time in this file: two starting at once have collided on a port that
/// `free_port` chose and an outgoing connection took before the node bound it.
static ONE_CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Two clients compare-and-set the same key from the same revision, through different nodes,
/// round after round: exactly one wins each round, and the key holds the winner's value.
#[test]
fn conditional_writes_race_and_one_wins() {
    let _one = ONE_CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let cluster = Cluster::start(3);
    cluster.leader();
    let nodes: Vec<String> = cluster.nodes.values().map(|n| n.http_addr.clone()).collect();
    let (status, _) = call(&nodes[0], "PUT", "/v1/kv/race", Some(json!({ "value": "start" })));
    assert_eq!(status, 201);
    for round in 0..20 {
        let (_, current) = call(&nodes[0], "GET", "/v1/kv/race", None);
        let revision = current["mod_revision"].as_u64().expect("mod_revision");
        let contenders: Vec<_> = [0, 1]
            .map(|side| {
                let http = nodes[side + (round % 2)].clone();
                std::thread::spawn(move || {
                    let value = format!("round {round} side {side}");
                    let (status, body) = call(
                        &http,
                        "PUT",
                        "/v1/kv/race",
                        Some(json!({ "value": value, "if_revision": revision })),
                    );
                    (status, body, value)
                })
            })
            .into_iter()
            .map(|t| t.join().expect("contender"))
            .collect();
        let winners: Vec<&String> =
            contenders.iter().filter(|(s, _, _)| *s == 200).map(|(_, _, v)| v).collect();
        let losers =
            contenders.iter().filter(|(s, b, _)| *s == 412 && b["code"] == "condition_failed").count();
        assert_eq!((winners.len(), losers), (1, 1), "round {round}: {contenders:?}");
        let (_, after) = call(&nodes[2], "GET", "/v1/kv/race", None);
        assert_eq!(after["value"].as_str(), Some(winners[0].as_str()), "round {round}");
    }
}

/// Every change of a watch from `start` on `http`, until revision `last` has been seen.
fn watch_until(http: &str, start: u64, last: u64) -> Vec<(u64, String, String)> {
    let mut stream = std::net::TcpStream::connect(http).expect("connect");
    stream.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    write!(stream, "GET /v1/watch?prefix=h/&start_revision={start} HTTP/1.0\r\nHost: {http}\r\n\r\n")
        .expect("write");
    let mut reader = BufReader::new(stream);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut seen, mut line) = (Vec::new(), String::new());
    let mut complete = 0;
    while complete < last {
        assert!(
            Instant::now() < deadline,
            "the watch on {http} from {start} stopped at {complete} of {last}: {seen:?}"
        );
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => panic!("the watch on {http} ended: {seen:?}"),
            Ok(_) => {}
            Err(_) => continue,
        }
        if line.starts_with("HTTP/1.") {
            assert!(line.contains(" 200 "), "the watch on {http} from {start} was refused: {line}");
        }
        let Some(data) = line.trim_end().strip_prefix("data: ") else { continue };
        let event: Value = serde_json::from_str(data).expect("JSON");
        let revision = event["revision"].as_u64().expect("revision");
        complete = complete.max(revision);
        if event["type"] == "put" {
            seen.push((
                revision,
                event["key"].as_str().expect("key").to_owned(),
                event["value"].as_str().expect("value").to_owned(),
            ));
        }
    }
    seen.retain(|(revision, _, _)| *revision <= last);
    seen
}

/// Writes keep going while the leader is killed and restarted and a follower is restarted; then
/// a watch from revision 1 on each node gives the same history, which holds every acknowledged
/// write once, in revision order, and a watch from any revision of it gives exactly its suffix.
#[test]
fn watch_replays_the_history_across_a_leader_kill_and_a_follower_restart() {
    let _one = ONE_CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // No snapshot during the run, so that every node holds the whole history (a snapshot's
    // revisions are not replayed one by one; a watch from before one is refused as compacted).
    let mut cluster = Cluster::start_with(3, "snapshot-entry-count = 100000\n");
    let first_leader = cluster.leader();
    let mut acked = write_keys(&cluster, first_leader, "h/a", 20);
    cluster.nodes.remove(&first_leader).expect("the leader").kill();
    let second_leader = cluster.leader();
    acked.extend(write_keys(&cluster, second_leader, "h/b", 20));
    cluster.start_node(first_leader, false);
    let follower =
        *cluster.nodes.keys().find(|id| **id != second_leader && **id != first_leader).expect("a follower");
    cluster.nodes.remove(&follower).expect("the follower").stop();
    cluster.start_node(follower, false);
    acked.extend(write_keys(&cluster, cluster.leader(), "h/c", 20));

    let leader = cluster.leader();
    let (_, now) = call(&cluster.nodes[&leader].http_addr, "GET", "/v1/kv/h/c19", None);
    let last = now["mod_revision"].as_u64().expect("mod_revision");
    let reference = watch_until(&cluster.nodes[&leader].http_addr, 1, last);
    let revisions: Vec<u64> = reference.iter().map(|(r, _, _)| *r).collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "in revision order, each once: {revisions:?}");
    let written: std::collections::BTreeMap<String, String> =
        reference.iter().map(|(_, k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(written, acked, "every acknowledged write, and nothing else");
    for (id, node) in &cluster.nodes {
        assert_eq!(watch_until(&node.http_addr, 1, last), reference, "node {id} from revision 1");
        for start in [revisions[7], revisions[20] + 1, revisions[45]] {
            let suffix: Vec<_> = reference.iter().filter(|(r, _, _)| *r >= start).cloned().collect();
            assert_eq!(watch_until(&node.http_addr, start, last), suffix, "node {id} from revision {start}");
        }
    }
}
