//! One simulated run: the production node (its RESP listener, log store on the [`SimDisk`], state
//! machine, openraft) inside madsim, clients that speak RESP over the simulated network and record
//! every operation in the history format of DESIGN.md §6, a nemesis scheduled from the seed, and
//! the invariants checked at the end.
//!
//! Nothing here reimplements the node: the harness only builds it on the simulator's seams (disk,
//! clock, network) and observes it. A run has 1, 3 or 5 nodes talking over the peer transport;
//! clients spread over the nodes (followers forward to the leader). The nemesis crashes nodes
//! with disk loss, pauses them, skews and drifts their clocks, slows fsync and the network,
//! partitions the nodes (random halves, an isolated leader, a bridge), cuts clients from a node,
//! and turns on the BUGGIFY fault points in the production code.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use jepsen::checker::{check, Budget, Verdict};
use jepsen::harness::{plan_partition, Completion, Recorder};
use jepsen::history::{Event, Op, OpFunction, OpType};
use jepsen::model::ModelKind;
use madsim::runtime::{Handle, NodeHandle};
use parking_lot::Mutex;
use rand::seq::SliceRandom;
use rand::Rng;
use redraft_net::resp::Frame;
use redraft_server::addr::NodeAddr;
use redraft_server::metrics::Metrics;
use redraft_server::node::{Node, NodeOptions};
use redraft_server::resp::{RespServer, RespSettings};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::client::{Outcome, SimClient};
use crate::clock::SimClock;
use crate::disk::SimDisk;

/// What clients do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// GET, SET and SET IFEQ on a few keys: a register per key.
    Register,
    /// INCR and GET on one key: a counter.
    Counter,
    /// SET PX on fresh keys and reads around their expiry, under skewed clocks.
    Ttl,
    /// MULTI/EXEC moving amounts between accounts; every read of all accounts sums the same.
    Transfer,
}

impl Workload {
    pub const ALL: [Workload; 4] = [Workload::Register, Workload::Counter, Workload::Ttl, Workload::Transfer];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::Counter => "counter",
            Workload::Ttl => "ttl",
            Workload::Transfer => "transfer",
        }
    }
}

/// A kind of fault the nemesis may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Kill the node, drop its unsynced writes (maybe tearing the last), restart it later.
    Crash,
    /// Stop the node's tasks for a while (a GC pause, a stopped VM).
    Pause,
    /// Move the node's wall clock and change its drift.
    ClockSkew,
    /// Make fsync slow.
    SlowFsync,
    /// Cut the network between the clients and a node.
    ClientPartition,
    /// Partition the nodes: random halves, the leader alone, a bridge (two sides that only one
    /// node reaches both of), or one way (one side's messages to the other are lost, the other
    /// way they arrive).
    Partition,
    /// Make every message slow (5–150 ms instead of 1–10 ms).
    SlowNetwork,
    /// Lose 5–30 % of the packets on every link. Over TCP a lost packet is sent again after a
    /// backoff that doubles from 1 ms up to 10 s, so streams stall and reorder against each
    /// other, and a lost connection attempt fails the connect.
    LossyNetwork,
    /// Turn on the fault points in production code (dropped replies, connections failing
    /// mid-frame, delayed syncs).
    Buggify,
    /// Remove a node from the cluster (`RAFT.REMOVE` through another node), and add it back
    /// (`RAFT.ADD`) after a while; it may be the leader.
    Membership,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Crash => "crash",
            Fault::Pause => "pause",
            Fault::ClockSkew => "clock",
            Fault::SlowFsync => "slow-fsync",
            Fault::ClientPartition => "client-partition",
            Fault::Partition => "partition",
            Fault::SlowNetwork => "slow-network",
            Fault::LossyNetwork => "lossy-network",
            Fault::Buggify => "buggify",
            Fault::Membership => "membership",
        }
    }

    pub const ALL: [Fault; 10] = [
        Fault::Crash,
        Fault::Pause,
        Fault::ClockSkew,
        Fault::SlowFsync,
        Fault::ClientPartition,
        Fault::Partition,
        Fault::SlowNetwork,
        Fault::LossyNetwork,
        Fault::Buggify,
        Fault::Membership,
    ];
}

/// A named scenario: a fault script aimed at one bug class that Jepsen found in Redis-Raft or
/// etcd, instead of random faults. The invariants are the same as for every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// The leader is cut from its peers while clients still reach it; a new leader takes writes.
    /// A read at the old leader must not return the old value.
    StaleReadAfterLeaderChange,
    /// The leader pauses past the election timeout and wakes up deposed; it must not serve a read
    /// from its stale state.
    DeposedLeaderAfterPause,
    /// A majority crashes at once, losing unsynced bytes; no acknowledged write may be lost.
    MajorityCrash,
    /// Nodes crash while snapshots are built, written and installed; logs and snapshots must
    /// agree on indexes after every restart.
    CrashDuringSnapshot,
    /// Nodes are removed and added back while the cluster is partitioned.
    MembershipChangeDuringPartition,
    /// Every clock is skewed and drifts while leaders change; TTL keys must expire identically
    /// on every replica, and no read may see an expired key again.
    TtlUnderClockSkew,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::StaleReadAfterLeaderChange,
        Scenario::DeposedLeaderAfterPause,
        Scenario::MajorityCrash,
        Scenario::CrashDuringSnapshot,
        Scenario::MembershipChangeDuringPartition,
        Scenario::TtlUnderClockSkew,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::StaleReadAfterLeaderChange => "stale-read-after-leader-change",
            Scenario::DeposedLeaderAfterPause => "deposed-leader-after-pause",
            Scenario::MajorityCrash => "majority-crash",
            Scenario::CrashDuringSnapshot => "crash-during-snapshot",
            Scenario::MembershipChangeDuringPartition => "membership-change-during-partition",
            Scenario::TtlUnderClockSkew => "ttl-under-clock-skew",
        }
    }

    /// The workloads that expose the scenario's bug class.
    pub fn workloads(self) -> &'static [Workload] {
        match self {
            Scenario::StaleReadAfterLeaderChange | Scenario::DeposedLeaderAfterPause => {
                &[Workload::Register, Workload::Counter]
            }
            Scenario::MajorityCrash | Scenario::CrashDuringSnapshot => {
                &[Workload::Counter, Workload::Transfer]
            }
            Scenario::MembershipChangeDuringPartition => &[Workload::Register, Workload::Transfer],
            Scenario::TtlUnderClockSkew => &[Workload::Ttl],
        }
    }
}

/// How to run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub workload: Workload,
    pub faults: Vec<Fault>,
    /// Virtual time the clients run for, faults included.
    pub duration: Duration,
    pub clients: usize,
    /// Server nodes: 1, 3 or 5.
    pub nodes: usize,
    /// After healing, the node must serve again within this much virtual time.
    pub recovery_bound: Duration,
    /// A named scenario's fault script instead of random faults from `faults`.
    pub scenario: Option<Scenario>,
}

impl SimConfig {
    /// A run of `workload` on `nodes` nodes under every fault.
    pub fn new(workload: Workload, nodes: usize) -> SimConfig {
        SimConfig {
            workload,
            faults: Fault::ALL.to_vec(),
            duration: Duration::from_secs(15),
            clients: 5,
            nodes,
            recovery_bound: Duration::from_secs(20),
            scenario: None,
        }
    }

    /// A run of `workload` on `nodes` nodes under a named scenario.
    pub fn scenario(scenario: Scenario, workload: Workload, nodes: usize) -> SimConfig {
        // Each membership change may wait out a partition, so that scenario runs longer to make
        // several of them.
        let duration = match scenario {
            Scenario::MembershipChangeDuringPartition => Duration::from_secs(40),
            _ => Duration::from_secs(15),
        };
        SimConfig { scenario: Some(scenario), duration, ..SimConfig::new(workload, nodes) }
    }
}

/// What a run did, for the sweep's report.
#[derive(Debug)]
pub struct RunReport {
    pub history: Vec<Event>,
    pub operations: usize,
    pub infos: usize,
    pub faults: usize,
    pub virtual_secs: f64,
}

/// Why a run failed: the invariant, and the history so far.
#[derive(Debug)]
pub struct RunFailure {
    pub reason: String,
    pub history: Vec<Event>,
}

const RESP_PORT: u16 = 6379;
const RAFT_PORT: u16 = 7000;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// One server node of the simulation and the seams the harness keeps across its crashes.
struct SimNode {
    handle: NodeHandle,
    disk: SimDisk,
    clock: Arc<SimClock>,
    /// The node of the current incarnation, once it has started.
    live: Arc<Mutex<Option<Arc<Node>>>>,
    addr: SocketAddr,
    name: String,
}

fn node_ip(id: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, id as u8))
}

fn node_addr(id: u64) -> NodeAddr {
    NodeAddr {
        raft_addr: SocketAddr::new(node_ip(id), RAFT_PORT).to_string(),
        resp_addr: SocketAddr::new(node_ip(id), RESP_PORT).to_string(),
    }
}

fn node_options(id: u64, nodes: usize, scenario: Option<Scenario>) -> NodeOptions {
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
        election_timeout_ms_min: 150,
        election_timeout_ms_max: 300,
        // Small segments and frequent snapshots, so runs cross segment boundaries, build
        // snapshots and purge the log while faults happen.
        segment_bytes_max: 16 * 1024,
        snapshot_entry_count,
        snapshot_log_keep_count,
        write_timeout_ms: 1_500,
        // Short, so that a membership change whose client gave up cannot land long after (the
        // final heal waits this long for the membership to settle).
        membership_timeout_ms: MEMBERSHIP_SETTLE.as_millis() as u64,
        leader_wait_ms: 1_000,
        hash_seed: 0x5eed,
        ..NodeOptions::default()
    }
}

fn start_server_node(handle: &Handle, id: u64, nodes: usize, scenario: Option<Scenario>) -> SimNode {
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
            async move {
                let peers = tokio::net::TcpListener::bind(SocketAddr::new(ip, RAFT_PORT))
                    .await
                    .expect("the node's Raft port is free");
                let node =
                    Node::start(node_options(id, nodes, scenario), disk, clock, Arc::new(Metrics::new()))
                        .await
                        .unwrap_or_else(|error| panic!("node {id} did not start: {error}"));
                *live.lock() = Some(node.clone());
                let (_stop, stopped) = tokio::sync::watch::channel(false);
                tokio::spawn(node.serve_peers(peers, stopped.clone()));
                let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, RESP_PORT))
                    .await
                    .expect("the node's RESP port is free");
                RespServer::new(node, RespSettings::default()).serve(listener, stopped).await;
            }
        })
        .build();
    SimNode { handle, disk, clock, live, addr, name: format!("n{id}") }
}

/// Runs one simulation in the current madsim runtime.
///
/// # Errors
/// [`RunFailure`] naming the broken invariant.
pub async fn run(config: SimConfig) -> Result<RunReport, RunFailure> {
    let handle = Handle::current();
    let start = crate::now();
    let recorder = Recorder::new(move || start.elapsed().as_nanos() as u64);
    recorder.begin();
    let servers: Vec<SimNode> = (1..=config.nodes as u64)
        .map(|id| start_server_node(&handle, id, config.nodes, config.scenario))
        .collect();
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let clients = handle.create_node().name("clients").ip(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1))).build();
    let fail = |reason: String| RunFailure { reason, history: recorder.events() };

    // Wait for the node to elect itself and serve. Client traffic always starts on the clients'
    // node, so that it crosses the simulated network (and its partitions).
    let addr = addrs[0];
    let (bound, workload) = (config.recovery_bound, config.workload);
    clients
        .spawn(async move {
            let mut probe = SimClient::new(addr, REQUEST_TIMEOUT);
            serve_within(&mut probe, bound).await.map_err(|e| format!("start-up: {e}"))?;
            if workload == Workload::Transfer {
                let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
                for account in ACCOUNTS {
                    args.push(account.as_bytes().to_vec());
                    args.push(ACCOUNT_START.to_string().into_bytes());
                }
                let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                match probe.call(&args).await {
                    Outcome::Reply(Frame::Simple(ok)) if ok == "OK" => {}
                    other => return Err(format!("transfer set-up failed: {other:?}")),
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| fail(format!("the set-up task failed: {e}")))?
        .map_err(fail)?;

    // The production code's fault points fire only during the fault phase.
    if config.faults.contains(&Fault::Buggify) {
        madsim::buggify::enable();
    }
    let deadline = crate::now() + config.duration;
    let mut tasks = Vec::new();
    for process in 0..config.clients as u64 {
        let recorder = recorder.clone();
        // Clients spread over the nodes; those on followers are forwarded to the leader.
        let addr = addrs[process as usize % addrs.len()];
        let workload = config.workload;
        let stride = config.clients as u64;
        tasks
            .push(clients.spawn(async move {
                client_loop(workload, process, stride, addr, recorder, deadline).await
            }));
    }
    let chaos = Chaos { handle: &handle, servers: &servers, clients: &clients, recorder: &recorder };
    let faults = nemesis(&chaos, &config.faults, config.scenario, deadline).await;
    for task in tasks {
        task.await.map_err(|e| fail(format!("a client task failed: {e}")))?;
    }
    heal(&handle, &servers, &recorder);
    // Every node is a voter again, so that every replica can be compared: a removal whose reply
    // was lost may have landed after the node was added back.
    chaos.restore_membership(bound).await.map_err(fail)?;

    // After healing every node serves again within the bound, and final reads go in the history.
    let final_recorder = recorder.clone();
    let final_process = config.clients as u64 * 1_000;
    let all = addrs.clone();
    clients
        .spawn(async move {
            for addr in all {
                let mut client = SimClient::new(addr, REQUEST_TIMEOUT);
                serve_within(&mut client, bound).await.map_err(|e| format!("{addr} after healing: {e}"))?;
            }
            let mut client = SimClient::new(addr, REQUEST_TIMEOUT);
            final_reads(workload, &mut client, &final_recorder, final_process, bound).await
        })
        .await
        .map_err(|e| fail(format!("the final-read task failed: {e}")))?
        .map_err(fail)?;
    let history = recorder.events();
    check_history(config.workload, &history)
        .map_err(|reason| RunFailure { reason, history: history.clone() })?;
    check_replicas_and_restart(&handle, &servers, &clients)
        .await
        .map_err(|reason| RunFailure { reason, history: history.clone() })?;

    let operations =
        history.iter().filter(|e| matches!(e, Event::Op(op) if op.kind != OpType::Invoke)).count();
    let infos = history.iter().filter(|e| matches!(e, Event::Op(op) if op.kind == OpType::Info)).count();
    Ok(RunReport { operations, infos, faults, virtual_secs: start.elapsed().as_secs_f64(), history })
}

/// Pings until the node answers (with anything but an error), within `bound`.
async fn serve_within(client: &mut SimClient, bound: Duration) -> Result<(), String> {
    let deadline = crate::now() + bound;
    let mut last = String::new();
    while crate::now() < deadline {
        match client.call(&[b"SET", b"probe", b"1"]).await {
            Outcome::Reply(Frame::Simple(_)) => return Ok(()),
            other => last = format!("{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("the node did not serve within {bound:?}; last answer {last}"))
}

const REGISTER_KEYS: [&str; 3] = ["r0", "r1", "r2"];
const COUNTER_KEY: &str = "counter";
const ACCOUNTS: [&str; 4] = ["a0", "a1", "a2", "a3"];
const ACCOUNT_START: i64 = 100;

fn int_of(frame: &Frame) -> Option<i64> {
    match frame {
        Frame::Integer(n) => Some(*n),
        Frame::Bulk(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        _ => None,
    }
}

async fn client_loop(
    workload: Workload,
    first_process: u64,
    stride: u64,
    addr: SocketAddr,
    recorder: Arc<Recorder>,
    deadline: Instant,
) {
    let mut client = SimClient::new(addr, REQUEST_TIMEOUT);
    let mut process = first_process;
    let mut sequence = 0i64;
    let mut ttl_keys: Vec<String> = Vec::new();
    while crate::now() < deadline {
        sequence += 1;
        let roll: f64 = madsim::rand::thread_rng().gen();
        let known = match workload {
            Workload::Register => {
                let key = *REGISTER_KEYS.choose(&mut madsim::rand::thread_rng()).expect("keys");
                let value = first_process as i64 * 1_000_000 + sequence;
                if roll < 0.5 {
                    read_register(&mut client, &recorder, process, key).await
                } else if roll < 0.8 {
                    recorder.op(process, OpType::Invoke, OpFunction::Write, key, json!(value));
                    let outcome = client.call(&[b"SET", key.as_bytes(), value.to_string().as_bytes()]).await;
                    recorder
                        .finish(process, OpFunction::Write, key, json!(value), outcome.completion())
                        .is_known()
                } else {
                    let expected = madsim::rand::thread_rng().gen_range(0..5) as i64 * 1_000_000
                        + madsim::rand::thread_rng().gen_range(0..sequence.max(1));
                    let pair = json!([expected, value]);
                    recorder.op(process, OpType::Invoke, OpFunction::Cas, key, pair.clone());
                    let outcome = client
                        .call(&[
                            b"SET",
                            key.as_bytes(),
                            value.to_string().as_bytes(),
                            b"IFEQ",
                            expected.to_string().as_bytes(),
                        ])
                        .await;
                    // A null reply: the key did not hold `expected`, so nothing was written.
                    let completion = match &outcome {
                        Outcome::Reply(Frame::Null) => Completion::Fail,
                        other => other.completion(),
                    };
                    recorder.finish(process, OpFunction::Cas, key, pair, completion).is_known()
                }
            }
            Workload::Counter => {
                if roll < 0.6 {
                    recorder.op(process, OpType::Invoke, OpFunction::Incr, COUNTER_KEY, json!(1));
                    let outcome = client.call(&[b"INCR", COUNTER_KEY.as_bytes()]).await;
                    recorder
                        .finish(process, OpFunction::Incr, COUNTER_KEY, json!(1), outcome.completion())
                        .is_known()
                } else {
                    read_counter(&mut client, &recorder, process).await
                }
            }
            Workload::Ttl => ttl_step(&mut client, &recorder, process, &mut ttl_keys, sequence, roll).await,
            Workload::Transfer => transfer_step(&mut client, &recorder, process, roll).await,
        };
        if !known {
            // An operation with an unknown outcome may still take effect: Jepsen gives the client a
            // new process so that its later operations are not ordered after it.
            process += stride;
        }
    }
}

async fn read_register(client: &mut SimClient, recorder: &Recorder, process: u64, key: &str) -> bool {
    recorder.op(process, OpType::Invoke, OpFunction::Read, key, Value::Null);
    let outcome = client.call(&[b"GET", key.as_bytes()]).await;
    let (value, completion) = match &outcome {
        Outcome::Reply(Frame::Null) => (Value::Null, Completion::Ok),
        Outcome::Reply(frame @ Frame::Bulk(_)) => {
            (int_of(frame).map_or(Value::Null, |n| json!(n)), Completion::Ok)
        }
        other => (Value::Null, other.completion().failed_unless_unknown()),
    };
    recorder.finish(process, OpFunction::Read, key, value, completion).is_known()
}

async fn read_counter(client: &mut SimClient, recorder: &Recorder, process: u64) -> bool {
    recorder.op(process, OpType::Invoke, OpFunction::Read, COUNTER_KEY, Value::Null);
    let outcome = client.call(&[b"GET", COUNTER_KEY.as_bytes()]).await;
    let (value, completion) = match &outcome {
        Outcome::Reply(Frame::Null) => (json!(0), Completion::Ok),
        Outcome::Reply(frame @ Frame::Bulk(_)) => {
            (int_of(frame).map_or(Value::Null, |n| json!(n)), Completion::Ok)
        }
        other => (Value::Null, other.completion().failed_unless_unknown()),
    };
    recorder.finish(process, OpFunction::Read, COUNTER_KEY, value, completion).is_known()
}

/// TTL: write fresh keys with short TTLs (as registers: write then reads), and read recent keys.
async fn ttl_step(
    client: &mut SimClient,
    recorder: &Recorder,
    process: u64,
    keys: &mut Vec<String>,
    sequence: i64,
    roll: f64,
) -> bool {
    if keys.is_empty() || roll < 0.3 {
        let key = format!("t{process}-{sequence}");
        let ttl_ms = madsim::rand::thread_rng().gen_range(100..1_500u64);
        recorder.op(process, OpType::Invoke, OpFunction::Write, &key, json!(1));
        let outcome =
            client.call(&[b"SET", key.as_bytes(), b"1", b"PX", ttl_ms.to_string().as_bytes()]).await;
        keys.push(key.clone());
        if keys.len() > 8 {
            keys.remove(0);
        }
        recorder.finish(process, OpFunction::Write, &key, json!(1), outcome.completion()).is_known()
    } else {
        let key = keys.choose(&mut madsim::rand::thread_rng()).expect("keys").clone();
        read_register(client, recorder, process, &key).await
    }
}

/// Transfer: MULTI/EXEC moving an amount between two accounts, or a read of every account.
async fn transfer_step(client: &mut SimClient, recorder: &Recorder, process: u64, roll: f64) -> bool {
    let key = "accounts";
    if roll < 0.6 {
        let mut rng = madsim::rand::thread_rng();
        let from = *ACCOUNTS.choose(&mut rng).expect("accounts");
        let to = *ACCOUNTS.choose(&mut rng).expect("accounts");
        let amount = rng.gen_range(1..20).to_string();
        // Recorded for reading, not checked by the register model: the invariant is the total.
        let steps: [&[&[u8]]; 4] = [
            &[b"MULTI"],
            &[b"DECRBY", from.as_bytes(), amount.as_bytes()],
            &[b"INCRBY", to.as_bytes(), amount.as_bytes()],
            &[b"EXEC"],
        ];
        let mut last = Outcome::Lost("not sent".into());
        for step in steps {
            last = client.call(step).await;
            if let Outcome::Lost(_) = last {
                break;
            }
        }
        // A transaction lost before EXEC was sent is discarded with its connection; after, unknown.
        last.completion().is_known()
    } else {
        recorder.op(process, OpType::Invoke, OpFunction::Read, key, Value::Null);
        let args: Vec<&[u8]> =
            std::iter::once(b"MGET".as_slice()).chain(ACCOUNTS.iter().map(|a| a.as_bytes())).collect();
        let (value, completion) = match client.call(&args).await {
            Outcome::Reply(Frame::Array(values)) => {
                let balances: Vec<Value> =
                    values.iter().map(|v| int_of(v).map_or(Value::Null, |n| json!(n))).collect();
                (Value::Array(balances), Completion::Ok)
            }
            other => (Value::Null, other.completion().failed_unless_unknown()),
        };
        recorder.finish(process, OpFunction::Read, key, value, completion).is_known()
    }
}

/// What the nemesis acts on: the nodes, the network, the clients' node (membership changes are
/// RESP commands, sent from it like any client's), and the history.
struct Chaos<'a> {
    handle: &'a Handle,
    servers: &'a [SimNode],
    clients: &'a NodeHandle,
    recorder: &'a Recorder,
}

/// How long a membership change may take before the nemesis gives up on it (and the final heal
/// retries it).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(5);

/// The nodes' own membership timeout: no change proposed earlier is still being driven after
/// it, so a membership unchanged for longer is settled.
const MEMBERSHIP_SETTLE: Duration = Duration::from_secs(4);

impl Chaos<'_> {
    /// The position of the node that believes it leads, if one does.
    fn leader(&self) -> Option<usize> {
        self.servers.iter().position(|s| s.live.lock().as_ref().is_some_and(|node| node.is_leader()))
    }

    fn names(&self, nodes: &[usize]) -> String {
        nodes.iter().map(|i| self.servers[*i].name.clone()).collect::<Vec<_>>().join(",")
    }

    /// Kills `nodes` at once, drops their unsynced writes (maybe tearing the last), and restarts
    /// them after `hold`.
    async fn crash(&self, nodes: &[usize], hold: Duration) {
        let mut lost = Vec::new();
        for &i in nodes {
            let server = &self.servers[i];
            self.handle.kill(server.handle.id());
            *server.live.lock() = None;
            lost.push(server.disk.crash(&mut madsim::rand::thread_rng(), true));
        }
        self.recorder.nemesis("kill", json!({ "nodes": self.names(nodes), "unsynced_bytes_lost": lost }));
        tokio::time::sleep(hold).await;
        self.recorder.nemesis("start", json!(self.names(nodes)));
        for &i in nodes {
            self.handle.restart(self.servers[i].handle.id());
        }
    }

    async fn pause(&self, node: usize, hold: Duration) {
        let server = &self.servers[node];
        self.recorder.nemesis("pause", json!(server.name));
        self.handle.pause(server.handle.id());
        tokio::time::sleep(hold).await;
        self.handle.resume(server.handle.id());
        self.recorder.nemesis("resume", json!(server.name));
    }

    fn cut(&self, shape: &str, cut: &[(usize, usize)]) {
        let net = madsim::net::NetSim::current();
        self.recorder.nemesis("start-partition", json!(shape));
        for (a, b) in cut {
            net.clog_link(self.servers[*a].handle.id(), self.servers[*b].handle.id());
        }
    }

    fn mend(&self, cut: &[(usize, usize)]) {
        let net = madsim::net::NetSim::current();
        for (a, b) in cut {
            net.unclog_link(self.servers[*a].handle.id(), self.servers[*b].handle.id());
        }
        self.recorder.nemesis("stop-partition", Value::Null);
    }

    async fn partition(&self, shape: &str, cut: &[(usize, usize)], hold: Duration) {
        self.cut(shape, cut);
        tokio::time::sleep(hold).await;
        self.mend(cut);
    }

    /// Sends one membership command from the clients' node, to each other node in turn (one may
    /// be cut off, or removed), until `accept` likes the reply or [`MEMBERSHIP_TIMEOUT`] passes;
    /// returns the last reply. The commands are idempotent, so a retry after an unknown outcome
    /// is safe.
    async fn membership_command(&self, target: usize, args: Vec<String>, accept: fn(&str) -> bool) -> String {
        let others: Vec<SocketAddr> =
            self.servers.iter().enumerate().filter(|(i, _)| *i != target).map(|(_, s)| s.addr).collect();
        self.clients
            .spawn(async move {
                let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                let deadline = crate::now() + MEMBERSHIP_TIMEOUT;
                for attempt in 0.. {
                    let mut client = SimClient::new(others[attempt % others.len()], Duration::from_secs(3));
                    let reply = match client.call(&args).await {
                        Outcome::Reply(Frame::Simple(text) | Frame::Error(text)) => text,
                        other => format!("{other:?}"),
                    };
                    if accept(&reply) || crate::now() >= deadline {
                        return reply;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                unreachable!("the loop returns")
            })
            .await
            .unwrap_or_else(|e| format!("the membership task failed: {e}"))
    }

    /// Removes node `node` from the cluster, asking the others. Whatever the reply, the node may
    /// be out now (an unknown outcome), so the caller adds it back later in any case.
    async fn remove_member(&self, node: usize) {
        let id = (node + 1).to_string();
        self.recorder.nemesis("remove-member", json!(self.servers[node].name));
        let reply = self
            .membership_command(node, vec!["RAFT.REMOVE".into(), id], |r| {
                r.ends_with(" removed") || r.ends_with("is not a member")
            })
            .await;
        self.recorder.nemesis("removed-member", json!({ "node": self.servers[node].name, "reply": reply }));
    }

    /// Adds back every node the leader does not count as a voter, until the leader's membership
    /// is settled (not a joint one), has every node as a voter, and every node agrees it is a
    /// member, for longer than a change in flight can still land ([`MEMBERSHIP_SETTLE`]); within
    /// `bound`.
    async fn restore_membership(&self, bound: Duration) -> Result<(), String> {
        let deadline = crate::now() + bound;
        let mut settled_since: Option<Instant> = None;
        let mut joint_since: Option<Instant> = None;
        loop {
            let view = self.leader().and_then(|l| {
                let node = self.servers[l].live.lock().clone()?;
                let membership = node.raft().metrics().borrow().membership_config.clone();
                let joint = membership.membership().get_joint_config().len() > 1;
                let voters: Vec<u64> = membership.membership().voter_ids().collect();
                Some((joint, voters))
            });
            let members_agree = || {
                self.servers.iter().all(|s| s.live.lock().as_ref().is_some_and(|n| n.check_member().is_ok()))
            };
            match view {
                Some((false, voters)) if voters.len() == self.servers.len() && members_agree() => {
                    let since = *settled_since.get_or_insert_with(crate::now);
                    if since.elapsed() > MEMBERSHIP_SETTLE + Duration::from_secs(1) {
                        return Ok(());
                    }
                }
                Some((false, voters)) => {
                    settled_since = None;
                    for node in 0..self.servers.len() {
                        if !voters.contains(&(node as u64 + 1)) {
                            self.add_member(node).await;
                        }
                    }
                }
                // A joint membership left behind by a change whose second step was dropped:
                // another change from the joint one finishes it.
                Some((true, _))
                    if joint_since.get_or_insert_with(crate::now).elapsed() > MEMBERSHIP_SETTLE =>
                {
                    settled_since = None;
                    joint_since = None;
                    for node in 0..self.servers.len() {
                        self.add_member(node).await;
                    }
                }
                _ => settled_since = None,
            }
            if crate::now() >= deadline {
                let states: Vec<String> = self
                    .servers
                    .iter()
                    .map(|s| match s.live.lock().as_ref().map(|n| n.check_member()) {
                        Some(Ok(())) => format!("{} member", s.name),
                        Some(Err(e)) => format!("{} {}", s.name, e.reply_text()),
                        None => format!("{} down", s.name),
                    })
                    .collect();
                return Err(format!(
                    "the membership did not settle with every node a voter within {bound:?} after healing: {states:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Adds node `node` back as a voter (a no-op for a voter), asking the others; returns
    /// whether it is a voter now.
    async fn add_member(&self, node: usize) -> bool {
        let id = (node as u64) + 1;
        let addr = node_addr(id);
        self.recorder.nemesis("add-member", json!(self.servers[node].name));
        let reply = self
            .membership_command(
                node,
                vec!["RAFT.ADD".into(), id.to_string(), addr.raft_addr, addr.resp_addr],
                |r| r.ends_with("added as a voter"),
            )
            .await;
        self.recorder.nemesis("added-member", json!({ "node": self.servers[node].name, "reply": reply }));
        reply.ends_with("added as a voter")
    }
}

/// Applies faults until `deadline`, one at a time, each held for a while and healed before the
/// next: random ones from the seed, or a named scenario's script. Returns how many it applied.
/// Nodes removed by a membership fault are added back before the next fault (and after the heal,
/// by [`Chaos::restore_membership`], should the reply have been lost).
async fn nemesis(
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
                let (shape, cut) = partition_plan(chaos);
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

/// A named scenario's fault script, for the bug classes Jepsen found in Redis-Raft and etcd.
async fn scenario_nemesis(chaos: &Chaos<'_>, scenario: Scenario, deadline: Instant) -> usize {
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
            // Snapshots every few entries (see `SimConfig::snapshot_entry_count`) while nodes
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
            // A node is removed and added back while the cluster is partitioned.
            Scenario::MembershipChangeDuringPartition => {
                let (shape, cut) = partition_plan(chaos);
                chaos.cut(&shape, &cut);
                let node = madsim::rand::thread_rng().gen_range(0..n);
                chaos.remove_member(node).await;
                tokio::time::sleep(between(200, 1_000)).await;
                chaos.mend(&cut);
                let (shape, cut) = partition_plan(chaos);
                chaos.cut(&shape, &cut);
                chaos.add_member(node).await;
                tokio::time::sleep(between(200, 1_000)).await;
                chaos.mend(&cut);
            }
        }
    }
    applied
}

/// A partition of the server nodes, from the seed ([`plan_partition`]): its description and the
/// directed links to cut (by position in `chaos.servers`).
fn partition_plan(chaos: &Chaos<'_>) -> (String, Vec<(usize, usize)>) {
    let servers = chaos.servers;
    let partition = plan_partition(&mut madsim::rand::thread_rng(), servers.len(), chaos.leader());
    (partition.describe(|i| servers[i].name.clone()), partition.links)
}

fn clients_node_id(handle: &Handle) -> madsim::task::NodeId {
    handle.get_node("clients").expect("the clients node exists").id()
}

/// Ends every fault: clocks back to true time, fsync and the network at full speed, every link
/// open, fault points off.
fn heal(handle: &Handle, servers: &[SimNode], recorder: &Recorder) {
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

/// Reads every key once more, with certain outcomes, so the checker sees the final state. A read
/// that fails or gets no answer is tried again until `bound` has passed: a healed cluster may
/// still be electing, or a connection may still be waking from its partition.
async fn final_reads(
    workload: Workload,
    client: &mut SimClient,
    recorder: &Recorder,
    process: u64,
    bound: Duration,
) -> Result<(), String> {
    let deadline = crate::now() + bound;
    let keys: &[&str] = match workload {
        Workload::Register => &REGISTER_KEYS,
        Workload::Counter => &[COUNTER_KEY],
        Workload::Transfer => &["accounts"],
        Workload::Ttl => &[],
    };
    for key in keys {
        loop {
            let done = match workload {
                Workload::Register => read_register(client, recorder, process, key).await,
                Workload::Counter => read_counter(client, recorder, process).await,
                Workload::Transfer => transfer_step(client, recorder, process, 1.0).await,
                Workload::Ttl => true,
            };
            if done {
                break;
            }
            if crate::now() >= deadline {
                return Err(format!("no final read of {key} succeeded within {bound:?} after healing"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// The invariants on the history.
fn check_history(workload: Workload, history: &[Event]) -> Result<(), String> {
    let ops: Vec<Op> =
        history.iter().filter_map(|e| if let Event::Op(op) = e { Some(op.clone()) } else { None }).collect();
    match workload {
        Workload::Register | Workload::Counter | Workload::Ttl => {
            let model = if workload == Workload::Counter { ModelKind::Counter } else { ModelKind::Register };
            let ops: Vec<Op> = if workload == Workload::Ttl {
                // Expiry is not in the register model: check each TTL key up to its first read of
                // null, then require that no later read sees the value again.
                check_expiry_is_monotonic(&ops)?;
                return Ok(());
            } else {
                ops
            };
            let result =
                check(&ops, model, &Budget::default()).map_err(|e| format!("unreadable history: {e}"))?;
            match result.verdict {
                Verdict::Valid => Ok(()),
                Verdict::Invalid => Err(format!(
                    "the history is not linearizable: keys {:?}, evidence {:?}",
                    result.invalid_keys, result.violation
                )),
                // An unknown verdict is not a pass; it shows as a failure to look at.
                Verdict::Unknown => {
                    Err(format!("the checker ran out of budget on {:?}", result.unknown_keys))
                }
            }
        }
        Workload::Transfer => {
            let total = ACCOUNT_START * ACCOUNTS.len() as i64;
            for op in &ops {
                if op.kind == OpType::Ok && op.f == OpFunction::Read {
                    let balances = op.value.as_array().ok_or("a read of the accounts is an array")?;
                    let sum: i64 = balances.iter().map(|b| b.as_i64().unwrap_or(0)).sum();
                    if sum != total || balances.iter().any(Value::is_null) {
                        return Err(format!(
                            "op {} read balances {:?}, total {sum}, not {total}",
                            op.index, balances
                        ));
                    }
                }
            }
            Ok(())
        }
    }
}

/// For each TTL key: once a read that began after the write was acknowledged returned null
/// (expired), no read that began after that read ended may return the value. The state-machine
/// time never goes backwards, so expiry never reverts, whatever the clocks did.
fn check_expiry_is_monotonic(ops: &[Op]) -> Result<(), String> {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        if let Some(key) = op.key.as_deref() {
            by_key.entry(key).or_default().push(op);
        }
    }
    for (key, ops) in by_key {
        // Positions in the history order: an invoke and its completion for each process.
        let mut open: BTreeMap<u64, usize> = BTreeMap::new();
        let mut spans = Vec::new();
        for (position, op) in ops.iter().enumerate() {
            match op.kind {
                OpType::Invoke => {
                    open.insert(op.process, position);
                }
                _ => {
                    let start = open.remove(&op.process).unwrap_or(position);
                    spans.push((start, position, *op));
                }
            }
        }
        let write_done =
            spans.iter().find(|(_, _, op)| op.f == OpFunction::Write && op.kind == OpType::Ok).map(|s| s.1);
        let Some(write_done) = write_done else { continue };
        let expired_at = spans
            .iter()
            .filter(|(start, _, op)| {
                *start > write_done && op.f == OpFunction::Read && op.kind == OpType::Ok && op.value.is_null()
            })
            .map(|s| s.1)
            .min();
        let Some(expired_at) = expired_at else { continue };
        if let Some((_, _, op)) = spans.iter().find(|(start, _, op)| {
            *start > expired_at && op.f == OpFunction::Read && op.kind == OpType::Ok && !op.value.is_null()
        }) {
            return Err(format!(
                "key {key} was read as expired and then read again with a value (op {})",
                op.index
            ));
        }
    }
    Ok(())
}

/// After the clients stop and the log is quiet: every replica holds the same state (its digest
/// is equal, so every acknowledged write and every expiry is the same on all of them, whatever
/// their clocks did); and a crash and restart of every node replays the log and snapshot to that
/// very state.
async fn check_replicas_and_restart(
    handle: &Handle,
    servers: &[SimNode],
    clients: &NodeHandle,
) -> Result<(), String> {
    let before = quiet_states(servers).await?;
    let first = &before[0];
    for (server, state) in servers.iter().zip(&before).skip(1) {
        if state.digest() != first.digest() {
            return Err(format!(
                "replicas differ after healing: {} {}",
                servers[0].name,
                describe_difference(first, state, &server.name)
            ));
        }
    }
    // Every entry is synced by now, so a crash that keeps only durable bytes loses nothing.
    for server in servers {
        handle.kill(server.handle.id());
        *server.live.lock() = None;
        let lost = server.disk.crash(&mut madsim::rand::thread_rng(), false);
        if lost > 0 {
            return Err(format!(
                "{}: {lost} bytes were written but never synced after the log went quiet",
                server.name
            ));
        }
    }
    for server in servers {
        handle.restart(server.handle.id());
    }
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    clients
        .spawn(async move {
            for addr in addrs {
                let mut client = SimClient::new(addr, REQUEST_TIMEOUT);
                let deadline = crate::now() + Duration::from_secs(20);
                loop {
                    let answer = client.call(&[b"DBSIZE"]).await;
                    if let Outcome::Reply(Frame::Integer(_)) = answer {
                        break;
                    }
                    if crate::now() > deadline {
                        return Err(format!("{addr} did not serve after the final restart: {answer:?}"));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| format!("the restart probe failed: {e}"))?
        .map_err(|e| format!("{e}; the nodes: {}", describe_nodes(servers)))?;
    let after = quiet_states(servers).await?;
    for (server, state) in servers.iter().zip(&after) {
        if state.digest() != first.digest() {
            return Err(format!(
                "the state after a restart differs: before {}",
                describe_difference(first, state, &server.name)
            ));
        }
    }
    Ok(())
}

/// Waits until every node runs and no node has applied anything for a while with all at the
/// same index, then freezes each node's state.
async fn quiet_states(servers: &[SimNode]) -> Result<Vec<redraft_core::Frozen>, String> {
    let mut quiet_since = crate::now();
    let mut last: Vec<Option<u64>> = Vec::new();
    let waited = crate::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let applied: Vec<Option<u64>> =
            servers.iter().map(|s| s.live.lock().as_ref().map(|n| n.state().applied_index())).collect();
        let settled = applied.iter().all(|a| a.is_some() && *a == applied[0]);
        if applied != last || !settled {
            last = applied;
            quiet_since = crate::now();
        } else if quiet_since.elapsed() >= Duration::from_millis(1_500) {
            break;
        }
        if waited.elapsed() > Duration::from_secs(60) {
            return Err(format!("the replicas never settled at one applied index: {last:?}"));
        }
    }
    servers
        .iter()
        .map(|s| {
            s.live.lock().as_ref().map(|n| n.state().freeze()).ok_or(format!("{} is not running", s.name))
        })
        .collect()
}

/// Each node's Raft view, for failure messages.
fn describe_nodes(servers: &[SimNode]) -> String {
    let views: Vec<String> = servers
        .iter()
        .map(|s| match s.live.lock().as_ref() {
            None => format!("{} down", s.name),
            Some(node) => {
                let m = node.raft().metrics().borrow().clone();
                format!(
                    "{} {:?} term {} last_log {:?} applied {:?} snapshot {:?} purged {:?} membership {:?} {:?}",
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

fn describe_difference(before: &redraft_core::Frozen, after: &redraft_core::Frozen, name: &str) -> String {
    let keys = |f: &redraft_core::Frozen| {
        f.keys
            .iter()
            .map(|(k, e)| (k.clone(), e.value.clone(), e.expire_at_ms, e.mod_index))
            .collect::<Vec<_>>()
    };
    let marks: Vec<(usize, u64, u64)> = before
        .deletion_marks
        .iter()
        .zip(&after.deletion_marks)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i, *a, *b))
        .collect();
    format!(
        "digest {:#x} (applied {}, time {}, {} keys), {name} {:#x} (applied {}, time {}, {} keys); keys {:?} and {:?}; deletion marks that differ {:?}; sessions {} and {}",
        before.digest(), before.applied_index, before.time_ms, before.keys.len(),
        after.digest(), after.applied_index, after.time_ms, after.keys.len(),
        keys(before), keys(after), marks, before.sessions.len(), after.sessions.len()
    )
}
