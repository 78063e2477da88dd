//! The simulated cluster: server nodes built from the production node on the simulator's seams
//! (a [`SimDisk`] and a [`SimClock`] each, kept across crashes), their addresses and settings, and
//! a description of their Raft state for failure messages. Faults on them are the nemesis's
//! ([`crate::nemesis`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use madsim::runtime::{Handle, NodeHandle};
use parking_lot::Mutex;
use redraft_net::peer::ClusterSecret;
use redraft_server::addr::NodeAddr;
use redraft_server::metrics::Metrics;
use redraft_server::node::{Node, NodeOptions};
use redraft_server::resp::{RespServer, RespSettings};

use crate::clock::SimClock;
use crate::config::{Scenario, SimConfig, ELECTION_TIMEOUT_MS_MAX};
use crate::disk::SimDisk;

const RESP_PORT: u16 = 6379;
const RAFT_PORT: u16 = 7000;

/// The nodes' own membership timeout: no change proposed earlier is still being driven after
/// it, so a membership unchanged for longer is settled.
pub const MEMBERSHIP_SETTLE: Duration = Duration::from_secs(4);

/// One server node of the simulation and the seams the harness keeps across its crashes.
pub struct SimNode {
    /// The madsim node it runs on: killed, restarted, paused and cut off by the nemesis.
    pub handle: NodeHandle,
    /// Its disk, which outlives its crashes.
    pub disk: SimDisk,
    /// Its wall clock, which the nemesis skews.
    pub clock: Arc<SimClock>,
    /// The node of the current incarnation, once it has started.
    pub live: Arc<Mutex<Option<Arc<Node>>>>,
    /// Its RESP address.
    pub addr: SocketAddr,
    /// `n1`, `n2`, ... as the history names it.
    pub name: String,
}

fn node_ip(id: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, id as u8))
}

pub fn node_addr(id: u64) -> NodeAddr {
    NodeAddr {
        raft_addr: SocketAddr::new(node_ip(id), RAFT_PORT).to_string(),
        resp_addr: SocketAddr::new(node_ip(id), RESP_PORT).to_string(),
    }
}

/// The watch window of the nodes of `Scenario::CrashDuringSnapshot`, in changes.
const CRASH_SCENARIO_WATCH_HISTORY: usize = 16;

fn node_options(id: u64, config: &SimConfig) -> NodeOptions {
    let (nodes, scenario) = (config.nodes, config.scenario);
    // Crashes during snapshots need snapshots all the time.
    let (snapshot_entry_count, snapshot_log_keep_count) =
        if scenario == Some(Scenario::CrashDuringSnapshot) { (20, 5) } else { (300, 50) };
    NodeOptions {
        node_id: id,
        addr: node_addr(id),
        peers: if nodes > 1 {
            (1..=nodes as u64).map(|n| (n, node_addr(n))).collect()
        } else {
            BTreeMap::new()
        },
        heartbeat_ms: 50,
        election_timeout_ms_min: ELECTION_TIMEOUT_MS_MAX / 2,
        election_timeout_ms_max: ELECTION_TIMEOUT_MS_MAX,
        read_lease_ms: config.read_lease_ms,
        // Small segments and frequent snapshots, so runs cross segment boundaries, build
        // snapshots and purge the log while faults happen.
        segment_bytes_max: 16 * 1024,
        snapshot_entry_count,
        snapshot_log_keep_count,
        write_timeout_ms: 1_500,
        // A lost chunk is sent again after this; the simulated snapshots install in moments.
        snapshot_install_timeout_ms: 1_000,
        // Crashes during snapshots restart nodes that replay more of their log than a small
        // watch window keeps, so the replay skips recording the older changes (node/mod.rs)
        // under every fault here. That the window then holds no gap is checked by
        // `server/tests/http_watch.rs`: the feeds compared at the end of a run (`invariants`)
        // no longer reach back to a restart's replay.
        watch_history_changes: if scenario == Some(Scenario::CrashDuringSnapshot) {
            CRASH_SCENARIO_WATCH_HISTORY
        } else {
            redraft_server::change_feed::WATCH_HISTORY_CHANGES_MAX
        },
        // Short, so that a membership change whose client gave up cannot land long after (the
        // final heal waits this long for the membership to settle).
        membership_timeout_ms: MEMBERSHIP_SETTLE.as_millis() as u64,
        leader_wait_ms: 1_000,
        hash_seed: 0x5eed,
        // Peers prove themselves with a secret, as on a network: the handshake and every frame's
        // tag run under every fault.
        cluster_secret: Some(ClusterSecret::new(b"the simulated cluster's secret").expect("long enough")),
        large_append_bytes: config.large_append_bytes,
        ..NodeOptions::default()
    }
}

pub fn start_server_node(handle: &Handle, id: u64, config: &SimConfig) -> SimNode {
    let config = config.clone();
    let ip = node_ip(id);
    let addr = SocketAddr::new(ip, RESP_PORT);
    let disk = SimDisk::new();
    let clock = Arc::new(SimClock::new());
    let live: Arc<Mutex<Option<Arc<Node>>>> = Arc::default();
    let (init_disk, init_clock, init_live) = (disk.clone(), clock.clone(), live.clone());
    let handle = handle
        .create_node()
        .name(format!("redraft-{id}"))
        .ip(ip)
        .init(move || {
            let (disk, clock, live) = (init_disk.clone(), init_clock.clone(), init_live.clone());
            let options = node_options(id, &config);
            async move {
                let peers = tokio::net::TcpListener::bind(SocketAddr::new(ip, RAFT_PORT))
                    .await
                    .expect("the node's Raft port is free");
                let node = Node::start(options, disk, clock, Arc::new(Metrics::new()))
                    .await
                    .unwrap_or_else(|error| panic!("node {id} did not start: {error}"));
                *live.lock() = Some(node.clone());
                let (_stop, stopped) = tokio::sync::watch::channel(false);
                tokio::spawn(node.serve_peers(peers, stopped.clone()));
                let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, RESP_PORT))
                    .await
                    .expect("the node's RESP port is free");
                // Simulated clients connect from other hosts, to nodes whose default user has no
                // password: protected mode would refuse them all.
                let settings = RespSettings { protected_mode: false, ..RespSettings::default() };
                RespServer::new(node, settings).serve(listener, stopped).await;
            }
        })
        .build();
    SimNode { handle, disk, clock, live, addr, name: format!("n{id}") }
}

/// Each node's Raft view, for failure messages.
pub fn describe_nodes(servers: &[SimNode]) -> String {
    let views: Vec<String> = servers
        .iter()
        .map(|s| match s.live.lock().as_ref() {
            None => format!("{} down", s.name),
            Some(node) => {
                let m = node.raft().metrics().borrow().clone();
                let catching_up = if node.may_vote() { "" } else { " (catching up: votes for no one)" };
                format!(
                    "{} {:?}{catching_up} term {} last_log {:?} applied {:?} snapshot {:?} purged {:?} membership {:?} {:?}",
                    s.name,
                    m.state,
                    m.current_term,
                    m.last_log_index,
                    m.last_applied.map(|l| l.index),
                    m.snapshot.map(|l| l.index),
                    m.purged.map(|l| l.index),
                    m.membership_config.log_id().map(|l| l.index),
                    m.membership_config.membership().voter_ids().collect::<Vec<_>>()
                )
            }
        })
        .collect();
    views.join("; ")
}
