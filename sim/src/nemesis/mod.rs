//! The nemesis: faults applied one at a time until the deadline, each held for a while and healed
//! before the next, random ones drawn from the seed or a named scenario's script
//! (`scenario.rs`); and the heal that ends every fault. The actions themselves are [`Chaos`]'s.

use std::collections::BTreeSet;
use std::time::Duration;

use jepsen::harness::Recorder;
use madsim::runtime::Handle;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};
use tokio::time::Instant;

use self::scenario::scenario_nemesis;
use crate::cluster::SimNode;
use crate::config::{Fault, Scenario};

mod chaos;
mod membership;
mod scenario;

pub use self::chaos::Chaos;

/// Whether damaging the disk of server `index` (beside the servers in `damaged`) leaves every
/// voter configuration of the membership, as the live nodes know it (both halves of a joint one),
/// a majority of intact disks. A minority of the cluster is not enough while the membership
/// nemesis has shrunk a configuration to two voters: one damaged voter there is half of it, no
/// leader can be elected until it has its entries back, and only a leader can send them. Seed
/// 603918548 (ttl, 3 nodes) found that: n2 was removed and was being added back, so the joint
/// configuration's old half was n1 and n3; n3 lost a synced write, would not vote until caught
/// up, and no node could lead for the 20 s the check allows after the heal.
fn leaves_healthy_majorities(servers: &[SimNode], damaged: &BTreeSet<usize>, index: usize) -> bool {
    let configs = servers
        .iter()
        .filter_map(|s| {
            s.live.lock().as_ref().map(|node| node.raft().metrics().borrow().membership_config.clone())
        })
        .max_by_key(|m| m.log_id().map(|id| id.index))
        .map(|m| m.membership().get_joint_config().clone())
        .unwrap_or_default();
    configs.iter().all(|voters| {
        let hurt = voters
            .iter()
            .filter(|&&id| id as usize == index + 1 || damaged.contains(&(id as usize - 1)))
            .count();
        hurt * 2 < voters.len()
    })
}

/// Applies faults until `deadline`, one at a time, each held for a while and healed before the
/// next: random ones from the seed, or a named scenario's script. Returns how many it applied.
/// Nodes removed by a membership fault are added back before the next fault (and after the heal,
/// by [`Chaos::restore_membership`], should the reply have been lost).
pub async fn nemesis(
    chaos: &Chaos<'_>,
    faults: &[Fault],
    scenario: Option<Scenario>,
    deadline: Instant,
) -> usize {
    if let Some(scenario) = scenario {
        return scenario_nemesis(chaos, scenario, deadline).await;
    }
    let servers = chaos.servers;
    let schedulable: Vec<Fault> = faults
        .iter()
        .copied()
        .filter(|f| {
            *f != Fault::Buggify
                && (servers.len() > 1 || *f != Fault::Partition)
                && (servers.len() > 2 || *f != Fault::Membership)
        })
        .collect();
    let mut applied = 0;
    let mut corrupted = BTreeSet::new();
    if schedulable.is_empty() {
        tokio::time::sleep_until(deadline).await;
        return 0;
    }
    loop {
        let quiet = Duration::from_millis(madsim::rand::thread_rng().gen_range(300..1_500));
        tokio::time::sleep(quiet).await;
        if crate::now() + Duration::from_millis(500) >= deadline {
            break;
        }
        let fault = *schedulable.choose(&mut madsim::rand::thread_rng()).expect("faults");
        let hold = Duration::from_millis(madsim::rand::thread_rng().gen_range(200..2_500));
        let index = madsim::rand::thread_rng().gen_range(0..servers.len());
        let server = &servers[index];
        let name = server.name.as_str();
        applied += 1;
        match fault {
            Fault::Crash => chaos.crash(&[index], hold).await,
            // A minority of the nodes, over the whole run, so a majority's disks stay intact.
            Fault::DiskCorruption
                if (corrupted.len() < (servers.len() - 1) / 2 || corrupted.contains(&index))
                    && leaves_healthy_majorities(servers, &corrupted, index) =>
            {
                corrupted.insert(index);
                chaos.crash_corrupting(index, hold).await
            }
            Fault::LostSyncedWrite
                if (corrupted.len() < (servers.len() - 1) / 2 || corrupted.contains(&index))
                    && leaves_healthy_majorities(servers, &corrupted, index) =>
            {
                corrupted.insert(index);
                chaos.crash_losing_sync(index, hold).await
            }
            Fault::DiskCorruption | Fault::LostSyncedWrite => chaos.crash(&[index], hold).await,
            Fault::Pause => chaos.pause(index, hold).await,
            Fault::ClockSkew => {
                let mut rng = madsim::rand::thread_rng();
                let offset_ms = rng.gen_range(-5_000..5_000);
                let drift_ppm = rng.gen_range(-200_000..200_000);
                chaos.recorder.nemesis(
                    "clock-skew",
                    json!({ "node": name, "offset_ms": offset_ms, "drift_ppm": drift_ppm }),
                );
                server.clock.skew(offset_ms, drift_ppm);
                // Skew stays until the next skew or the heal: clocks do not snap back on their own.
            }
            Fault::SlowFsync => {
                let delay = madsim::rand::thread_rng().gen_range(20..400);
                chaos
                    .recorder
                    .nemesis("start-slow-fsync", json!({ "node": name, "sync_delay_ms_max": delay }));
                server.disk.set_sync_delay_ms_max(delay);
                tokio::time::sleep(hold).await;
                server.disk.set_sync_delay_ms_max(0);
                chaos.recorder.nemesis("stop-slow-fsync", json!(name));
            }
            Fault::ClientPartition => {
                chaos.recorder.nemesis("start-partition", json!(format!("clients|{name}")));
                let net = madsim::net::NetSim::current();
                let clients = chaos.clients.id();
                net.clog_link(clients, server.handle.id());
                net.clog_link(server.handle.id(), clients);
                tokio::time::sleep(hold).await;
                net.unclog_link(clients, server.handle.id());
                net.unclog_link(server.handle.id(), clients);
                chaos.recorder.nemesis("stop-partition", Value::Null);
            }
            Fault::Partition => {
                let (shape, cut) = chaos.plan_partition();
                chaos.partition(&shape, &cut, hold).await;
            }
            Fault::SlowNetwork => {
                chaos.recorder.nemesis("start-slow-network", json!({ "send_latency_ms": [5, 150] }));
                let net = madsim::net::NetSim::current();
                net.update_config(|c| c.send_latency = Duration::from_millis(5)..Duration::from_millis(150));
                tokio::time::sleep(hold).await;
                net.update_config(|c| c.send_latency = Duration::from_millis(1)..Duration::from_millis(10));
                chaos.recorder.nemesis("stop-slow-network", Value::Null);
            }
            Fault::LossyNetwork => {
                let rate = madsim::rand::thread_rng().gen_range(0.05..0.3);
                chaos.recorder.nemesis("start-lossy-network", json!({ "packet_loss_rate": rate }));
                let net = madsim::net::NetSim::current();
                net.update_config(|c| c.packet_loss_rate = rate);
                tokio::time::sleep(hold).await;
                net.update_config(|c| c.packet_loss_rate = 0.0);
                chaos.recorder.nemesis("stop-lossy-network", Value::Null);
            }
            Fault::Membership => {
                chaos.remove_member(index).await;
                tokio::time::sleep(hold).await;
                chaos.add_member(index).await;
            }
            Fault::Buggify => unreachable!("filtered out above"),
        }
    }
    applied
}

fn clients_node_id(handle: &Handle) -> madsim::task::NodeId {
    handle.get_node("clients").expect("the clients node exists").id()
}

/// Ends every fault: clocks back to true time, fsync and the network at full speed, every link
/// open, fault points off.
pub fn heal(handle: &Handle, servers: &[SimNode], recorder: &Recorder) {
    let net = madsim::net::NetSim::current();
    let clients = clients_node_id(handle);
    net.update_config(|c| {
        c.send_latency = Duration::from_millis(1)..Duration::from_millis(10);
        c.packet_loss_rate = 0.0;
    });
    for server in servers {
        server.clock.skew(0, 0);
        server.disk.set_sync_delay_ms_max(0);
        net.unclog_link(clients, server.handle.id());
        net.unclog_link(server.handle.id(), clients);
        for other in servers {
            net.unclog_link(server.handle.id(), other.handle.id());
        }
    }
    madsim::buggify::disable();
    recorder.nemesis("heal", Value::Null);
}
