//! The named scenarios' fault scripts ([`Scenario`]), for the bug classes Jepsen found in
//! Redis-Raft and etcd, instead of random faults.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use redraft_server::node::READ_LEASE_DRIFT_PPM;
use serde_json::json;
use tokio::time::Instant;

use super::chaos::Chaos;
use crate::config::Scenario;

/// A named scenario's fault script, for the bug classes Jepsen found in Redis-Raft and etcd.
pub async fn scenario_nemesis(chaos: &Chaos<'_>, scenario: Scenario, deadline: Instant) -> usize {
    let servers = chaos.servers;
    let n = servers.len();
    let mut applied = 0;
    let between =
        |low: u64, high: u64| Duration::from_millis(madsim::rand::thread_rng().gen_range(low..high));
    if scenario == Scenario::TtlUnderClockSkew {
        // Every clock wrong from the start, by up to 5 s either way and a fifth fast or slow.
        for server in servers {
            let mut rng = madsim::rand::thread_rng();
            let (offset_ms, drift_ppm) = (rng.gen_range(-5_000..5_000), rng.gen_range(-200_000..200_000));
            chaos.recorder.nemesis(
                "clock-skew",
                json!({ "node": server.name, "offset_ms": offset_ms, "drift_ppm": drift_ppm }),
            );
            server.clock.skew(offset_ms, drift_ppm);
            applied += 1;
        }
    }
    if scenario == Scenario::LeaseReadsUnderDrift {
        // Every clock drifts, up to the bound the lease assumes (`SimClock` clamps the
        // monotonic rate to it) either way; offsets do not matter to a lease.
        let bound = READ_LEASE_DRIFT_PPM as i64;
        for server in servers {
            let drift_ppm = madsim::rand::thread_rng().gen_range(-bound..=bound);
            chaos.recorder.nemesis("clock-skew", json!({ "node": server.name, "drift_ppm": drift_ppm }));
            server.clock.skew(0, drift_ppm);
            applied += 1;
        }
    }
    loop {
        tokio::time::sleep(between(300, 1_000)).await;
        if crate::now() + Duration::from_millis(500) >= deadline {
            break;
        }
        applied += 1;
        // The node that leads now, or any node while none does.
        let leader = chaos.leader().unwrap_or_else(|| madsim::rand::thread_rng().gen_range(0..n));
        let alone = |node: usize| -> Vec<(usize, usize)> {
            (0..n).filter(|&o| o != node).flat_map(|o| [(node, o), (o, node)]).collect()
        };
        match scenario {
            // The leader is cut from its peers (not from clients, who keep reading from it) for
            // longer than an election timeout; the majority elects another and writes on.
            Scenario::StaleReadAfterLeaderChange | Scenario::TtlUnderClockSkew => {
                let shape = format!("isolated leader {}", servers[leader].name);
                chaos.partition(&shape, &alone(leader), between(600, 2_000)).await;
            }
            // A leasing leader is cut from its peers or paused, half the time each; clients
            // keep reading from it while the others elect a new leader and write.
            Scenario::LeaseReadsUnderDrift => {
                if madsim::rand::thread_rng().gen_bool(0.5) {
                    let shape = format!("isolated leasing leader {}", servers[leader].name);
                    chaos.partition(&shape, &alone(leader), between(200, 1_500)).await;
                } else {
                    chaos.pause(leader, between(200, 1_500)).await;
                }
            }
            // The leader stops (a GC pause, a stopped VM) past its lease and the election
            // timeout, then wakes still believing it leads, with clients waiting on it.
            Scenario::DeposedLeaderAfterPause => chaos.pause(leader, between(500, 2_000)).await,
            // A majority dies at once with unsynced bytes in its page cache; none of the writes
            // it acknowledged may be lost.
            Scenario::MajorityCrash => {
                let mut order: Vec<usize> = (0..n).collect();
                order.shuffle(&mut madsim::rand::thread_rng());
                order.truncate(n / 2 + 1);
                chaos.crash(&order, between(200, 1_500)).await;
            }
            // Snapshots every few entries (see `node_options` in `cluster.rs`) while nodes
            // crash and fsync is slow, so crashes land while a snapshot is being built, written
            // or installed.
            Scenario::CrashDuringSnapshot => {
                let node = madsim::rand::thread_rng().gen_range(0..n);
                let delay = madsim::rand::thread_rng().gen_range(20..200);
                servers[node].disk.set_sync_delay_ms_max(delay);
                chaos.recorder.nemesis(
                    "start-slow-fsync",
                    json!({ "node": servers[node].name, "sync_delay_ms_max": delay }),
                );
                tokio::time::sleep(between(100, 600)).await;
                servers[node].disk.set_sync_delay_ms_max(0);
                chaos.crash(&[node], between(100, 800)).await;
            }
            // The nodes outside a majority (leader, a follower to damage, the rest) are cut off
            // while it commits; the majority goes down, the follower comes back first with its
            // log and snapshot lost (or what it synced meanwhile), the nodes that lack the entries are let back, and the rest
            // of the majority returns later.
            // One damaged node at a time: the next round waits for a leader and every node back
            // and caught up (two nodes of three without their logs is beyond the fault model).
            Scenario::DamagedVoter if !chaos.all_caught_up() => {}
            Scenario::DamagedVoter => {
                let mut others: Vec<usize> = (0..n).filter(|&o| o != leader).collect();
                others.shuffle(&mut madsim::rand::thread_rng());
                let damaged = others[0];
                let behind: Vec<usize> = others.split_off(others.len() - n / 2);
                let majority: Vec<usize> = (0..n).filter(|i| !behind.contains(i)).collect();
                let cut: Vec<(usize, usize)> = behind
                    .iter()
                    .flat_map(|&b| majority.iter().flat_map(move |&m| [(b, m), (m, b)]))
                    .collect();
                // Half the time the follower loses only what it synced while the others were cut
                // off (writes the disk acknowledged and lost), so its log still looks whole and
                // no longer than theirs.
                let lose_syncs = madsim::rand::thread_rng().gen_bool(0.5);
                if lose_syncs {
                    servers[damaged].disk.remember_durable_log();
                }
                chaos.cut(&format!("behind {}", chaos.names(&behind)), &cut);
                tokio::time::sleep(between(200, 1_500)).await;
                chaos.crash_losing_one(&majority, damaged, lose_syncs, &cut, between(1_000, 2_500)).await;
            }
            // A majority, the leader among it, goes down and its disks lose every log segment
            // and snapshot; they restart together.
            Scenario::DamagedMajority if !chaos.all_caught_up() => {}
            Scenario::DamagedMajority => {
                let mut order: Vec<usize> = (0..n).filter(|&o| o != leader).collect();
                order.shuffle(&mut madsim::rand::thread_rng());
                order.truncate(n / 2);
                order.push(leader);
                chaos.crash_losing_logs(&order, between(200, 1_000)).await;
            }
            // A node is removed and added back while the cluster is partitioned.
            Scenario::MembershipChangeDuringPartition => {
                let (shape, cut) = chaos.plan_partition();
                chaos.cut(&shape, &cut);
                let node = madsim::rand::thread_rng().gen_range(0..n);
                chaos.remove_member(node).await;
                tokio::time::sleep(between(200, 1_000)).await;
                chaos.mend(&cut);
                let (shape, cut) = chaos.plan_partition();
                chaos.cut(&shape, &cut);
                chaos.add_member(node).await;
                tokio::time::sleep(between(200, 1_000)).await;
                chaos.mend(&cut);
            }
        }
    }
    applied
}
