//! One simulated run: the production node (its RESP listener, log store on the [`SimDisk`], state
//! machine, openraft) inside madsim, clients that speak RESP over the simulated network and record
//! every operation in the history format of DESIGN.md §6, a nemesis scheduled from the seed, and
//! the invariants checked at the end.
//!
//! Nothing here reimplements the node: the harness only builds it on the simulator's seams (disk,
//! clock, network) and observes it. Until the peer transport exists (the cluster issue) a run has
//! one node, so the nemesis works on what one node has: crashes with disk loss, pauses, clock
//! skew and drift, slow fsync, cuts between clients and the node, and the BUGGIFY fault points in
//! the production code.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use jepsen::checker::{check, Budget, Verdict};
use jepsen::history::{Event, NemesisEvent, Op, OpFunction, OpType};
use jepsen::model::ModelKind;
use madsim::runtime::{Handle, NodeHandle};
use parking_lot::Mutex;
use rand::seq::SliceRandom;
use rand::Rng;
use redraft_net::resp::Frame;
use redraft_server::metrics::Metrics;
use redraft_server::node::{Node, NodeOptions};
use redraft_server::resp::{RespServer, RespSettings};
use redraft_server::store::NodeAddr;
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
    /// Cut the network between the clients and the node.
    ClientPartition,
    /// Turn on the fault points in production code (dropped replies, connections failing
    /// mid-frame, delayed syncs).
    Buggify,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::Crash,
        Fault::Pause,
        Fault::ClockSkew,
        Fault::SlowFsync,
        Fault::ClientPartition,
        Fault::Buggify,
    ];
}

/// How to run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub workload: Workload,
    pub faults: Vec<Fault>,
    /// Virtual time the clients run for, faults included.
    pub duration: Duration,
    pub clients: usize,
    /// After healing, the node must serve again within this much virtual time.
    pub recovery_bound: Duration,
}

impl SimConfig {
    /// A run of `workload` under every fault.
    pub fn new(workload: Workload) -> SimConfig {
        SimConfig {
            workload,
            faults: Fault::ALL.to_vec(),
            duration: Duration::from_secs(15),
            clients: 5,
            recovery_bound: Duration::from_secs(20),
        }
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

const NODE_ID: u64 = 1;
const RESP_PORT: u16 = 6379;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The history being recorded, shared by clients and nemesis.
#[derive(Clone)]
struct Recorder {
    start: Instant,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Recorder {
    fn op(&self, process: u64, kind: OpType, f: OpFunction, key: &str, value: Value) {
        let mut events = self.events.lock();
        let index = events.len() as u64;
        let time = self.start.elapsed().as_nanos() as u64;
        events.push(Event::Op(Op { index, time, process, kind, f, key: Some(key.to_owned()), value }));
    }

    fn nemesis(&self, f: &str, value: Value) {
        let mut events = self.events.lock();
        let index = events.len() as u64;
        let time = self.start.elapsed().as_nanos() as u64;
        events.push(Event::Nemesis(NemesisEvent { index, time, kind: OpType::Info, f: f.to_owned(), value }));
    }

    fn take(&self) -> Vec<Event> {
        self.events.lock().clone()
    }
}

/// One server node of the simulation and the seams the harness keeps across its crashes.
struct SimNode {
    handle: NodeHandle,
    disk: SimDisk,
    clock: Arc<SimClock>,
    /// The node of the current incarnation, once it has started.
    live: Arc<Mutex<Option<Arc<Node>>>>,
    addr: SocketAddr,
}

fn node_options(id: u64, addr: SocketAddr) -> NodeOptions {
    NodeOptions {
        node_id: id,
        addr: NodeAddr { raft_addr: format!("{}:7000", addr.ip()), resp_addr: addr.to_string() },
        heartbeat_ms: 50,
        election_timeout_ms_min: 150,
        election_timeout_ms_max: 300,
        // Small segments and frequent snapshots, so runs cross segment boundaries, build
        // snapshots and purge the log while faults happen.
        segment_bytes_max: 16 * 1024,
        snapshot_entry_count: 300,
        snapshot_log_keep_count: 50,
        write_timeout_ms: 1_500,
        leader_wait_ms: 1_000,
        hash_seed: 0x5eed,
        ..NodeOptions::default()
    }
}

fn start_server_node(handle: &Handle, id: u64) -> SimNode {
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, id as u8));
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
                let node = Node::start(node_options(id, addr), disk, clock, Arc::new(Metrics::new()))
                    .await
                    .unwrap_or_else(|error| panic!("node {id} did not start: {error}"));
                *live.lock() = Some(node.clone());
                let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, RESP_PORT))
                    .await
                    .expect("the node's RESP port is free");
                let (_stop, stopped) = tokio::sync::watch::channel(false);
                RespServer::new(node, RespSettings::default()).serve(listener, stopped).await;
            }
        })
        .build();
    SimNode { handle, disk, clock, live, addr }
}

/// Runs one simulation in the current madsim runtime.
///
/// # Errors
/// [`RunFailure`] naming the broken invariant.
pub async fn run(config: SimConfig) -> Result<RunReport, RunFailure> {
    let handle = Handle::current();
    let recorder = Recorder { start: Instant::now(), events: Arc::default() };
    let server = start_server_node(&handle, NODE_ID);
    let clients = handle.create_node().name("clients").ip(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1))).build();
    let fail = |reason: String| RunFailure { reason, history: recorder.take() };

    // Wait for the node to elect itself and serve. Client traffic always starts on the clients'
    // node, so that it crosses the simulated network (and its partitions).
    let addr = server.addr;
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
    let deadline = Instant::now() + config.duration;
    let mut tasks = Vec::new();
    for process in 0..config.clients as u64 {
        let recorder = recorder.clone();
        let addr = server.addr;
        let workload = config.workload;
        let stride = config.clients as u64;
        tasks
            .push(clients.spawn(async move {
                client_loop(workload, process, stride, addr, recorder, deadline).await
            }));
    }
    let faults = nemesis(&handle, &server, &config.faults, &recorder, deadline).await;
    for task in tasks {
        task.await.map_err(|e| fail(format!("a client task failed: {e}")))?;
    }
    heal(&handle, &server, &recorder);

    // After healing the node serves again within the bound, and final reads go in the history.
    let final_recorder = recorder.clone();
    let final_process = config.clients as u64 * 1_000;
    clients
        .spawn(async move {
            let mut client = SimClient::new(addr, REQUEST_TIMEOUT);
            serve_within(&mut client, bound).await.map_err(|e| format!("after healing: {e}"))?;
            final_reads(workload, &mut client, &final_recorder, final_process).await
        })
        .await
        .map_err(|e| fail(format!("the final-read task failed: {e}")))?
        .map_err(fail)?;
    let history = recorder.take();
    check_history(config.workload, &history)
        .map_err(|reason| RunFailure { reason, history: history.clone() })?;
    check_restart_digest(&handle, &server, &clients)
        .await
        .map_err(|reason| RunFailure { reason, history: history.clone() })?;

    let operations =
        history.iter().filter(|e| matches!(e, Event::Op(op) if op.kind != OpType::Invoke)).count();
    let infos = history.iter().filter(|e| matches!(e, Event::Op(op) if op.kind == OpType::Info)).count();
    Ok(RunReport { operations, infos, faults, virtual_secs: recorder.start.elapsed().as_secs_f64(), history })
}

/// Pings until the node answers (with anything but an error), within `bound`.
async fn serve_within(client: &mut SimClient, bound: Duration) -> Result<(), String> {
    let deadline = Instant::now() + bound;
    let mut last = String::new();
    while Instant::now() < deadline {
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

/// Sorts a reply into the history's outcome: `Some(true)` ok, `Some(false)` certainly failed,
/// `None` unknown. Errors that say the request did not happen are failures; the node says
/// "UNKNOWN" when it cannot tell.
fn certain(outcome: &Outcome) -> Option<bool> {
    match outcome {
        Outcome::Lost(_) => None,
        Outcome::Reply(Frame::Error(text)) if text.starts_with("UNKNOWN") => None,
        Outcome::Reply(Frame::Error(_)) => Some(false),
        Outcome::Reply(_) => Some(true),
    }
}

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
    recorder: Recorder,
    deadline: Instant,
) {
    let mut client = SimClient::new(addr, REQUEST_TIMEOUT);
    let mut process = first_process;
    let mut sequence = 0i64;
    let mut ttl_keys: Vec<String> = Vec::new();
    while Instant::now() < deadline {
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
                    finish(&recorder, process, OpFunction::Write, key, json!(value), certain(&outcome))
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
                    let result = match &outcome {
                        Outcome::Reply(Frame::Null) => Some(false),
                        other => certain(other),
                    };
                    finish(&recorder, process, OpFunction::Cas, key, pair, result)
                }
            }
            Workload::Counter => {
                if roll < 0.6 {
                    recorder.op(process, OpType::Invoke, OpFunction::Incr, COUNTER_KEY, json!(1));
                    let outcome = client.call(&[b"INCR", COUNTER_KEY.as_bytes()]).await;
                    finish(&recorder, process, OpFunction::Incr, COUNTER_KEY, json!(1), certain(&outcome))
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

fn finish(
    recorder: &Recorder,
    process: u64,
    f: OpFunction,
    key: &str,
    value: Value,
    result: Option<bool>,
) -> bool {
    let kind = match result {
        Some(true) => OpType::Ok,
        Some(false) => OpType::Fail,
        None => OpType::Info,
    };
    recorder.op(process, kind, f, key, value);
    result.is_some()
}

async fn read_register(client: &mut SimClient, recorder: &Recorder, process: u64, key: &str) -> bool {
    recorder.op(process, OpType::Invoke, OpFunction::Read, key, Value::Null);
    let outcome = client.call(&[b"GET", key.as_bytes()]).await;
    match &outcome {
        Outcome::Reply(Frame::Null) => {
            finish(recorder, process, OpFunction::Read, key, Value::Null, Some(true))
        }
        Outcome::Reply(frame @ Frame::Bulk(_)) => {
            let value = int_of(frame).map_or(Value::Null, |n| json!(n));
            finish(recorder, process, OpFunction::Read, key, value, Some(true))
        }
        other => finish(recorder, process, OpFunction::Read, key, Value::Null, certain(other).map(|_| false)),
    }
}

async fn read_counter(client: &mut SimClient, recorder: &Recorder, process: u64) -> bool {
    recorder.op(process, OpType::Invoke, OpFunction::Read, COUNTER_KEY, Value::Null);
    let outcome = client.call(&[b"GET", COUNTER_KEY.as_bytes()]).await;
    match &outcome {
        Outcome::Reply(Frame::Null) => {
            finish(recorder, process, OpFunction::Read, COUNTER_KEY, json!(0), Some(true))
        }
        Outcome::Reply(frame @ Frame::Bulk(_)) => {
            let value = int_of(frame).map_or(Value::Null, |n| json!(n));
            finish(recorder, process, OpFunction::Read, COUNTER_KEY, value, Some(true))
        }
        other => finish(
            recorder,
            process,
            OpFunction::Read,
            COUNTER_KEY,
            Value::Null,
            certain(other).map(|_| false),
        ),
    }
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
        finish(recorder, process, OpFunction::Write, &key, json!(1), certain(&outcome))
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
        certain(&last).is_some()
    } else {
        recorder.op(process, OpType::Invoke, OpFunction::Read, key, Value::Null);
        let args: Vec<&[u8]> =
            std::iter::once(b"MGET".as_slice()).chain(ACCOUNTS.iter().map(|a| a.as_bytes())).collect();
        match client.call(&args).await {
            Outcome::Reply(Frame::Array(values)) => {
                let balances: Vec<Value> =
                    values.iter().map(|v| int_of(v).map_or(Value::Null, |n| json!(n))).collect();
                finish(recorder, process, OpFunction::Read, key, Value::Array(balances), Some(true))
            }
            other => {
                finish(recorder, process, OpFunction::Read, key, Value::Null, certain(&other).map(|_| false))
            }
        }
    }
}

/// Applies faults from the seed until `deadline`, one at a time, each held for a while and
/// healed before the next. Returns how many it applied.
async fn nemesis(
    handle: &Handle,
    server: &SimNode,
    faults: &[Fault],
    recorder: &Recorder,
    deadline: Instant,
) -> usize {
    let schedulable: Vec<Fault> = faults.iter().copied().filter(|f| *f != Fault::Buggify).collect();
    let mut applied = 0;
    if schedulable.is_empty() {
        tokio::time::sleep_until(deadline).await;
        return 0;
    }
    loop {
        let quiet = Duration::from_millis(madsim::rand::thread_rng().gen_range(300..1_500));
        tokio::time::sleep(quiet).await;
        if Instant::now() + Duration::from_millis(500) >= deadline {
            break;
        }
        let fault = *schedulable.choose(&mut madsim::rand::thread_rng()).expect("faults");
        let hold = Duration::from_millis(madsim::rand::thread_rng().gen_range(200..2_500));
        let node_id = server.handle.id();
        applied += 1;
        match fault {
            Fault::Crash => {
                recorder.nemesis("kill", json!("n1"));
                handle.kill(node_id);
                *server.live.lock() = None;
                let lost = server.disk.crash(&mut madsim::rand::thread_rng(), true);
                tokio::time::sleep(hold).await;
                recorder.nemesis("start", json!({ "node": "n1", "unsynced_bytes_lost": lost }));
                handle.restart(node_id);
            }
            Fault::Pause => {
                recorder.nemesis("pause", json!("n1"));
                handle.pause(node_id);
                tokio::time::sleep(hold).await;
                handle.resume(node_id);
                recorder.nemesis("resume", json!("n1"));
            }
            Fault::ClockSkew => {
                let mut rng = madsim::rand::thread_rng();
                let offset_ms = rng.gen_range(-5_000..5_000);
                let drift_ppm = rng.gen_range(-200_000..200_000);
                recorder.nemesis("clock-skew", json!({ "offset_ms": offset_ms, "drift_ppm": drift_ppm }));
                server.clock.skew(offset_ms, drift_ppm);
                // Skew stays until the next skew or the heal: clocks do not snap back on their own.
            }
            Fault::SlowFsync => {
                let delay = madsim::rand::thread_rng().gen_range(20..400);
                recorder.nemesis("start-slow-fsync", json!({ "sync_delay_ms_max": delay }));
                server.disk.set_sync_delay_ms_max(delay);
                tokio::time::sleep(hold).await;
                server.disk.set_sync_delay_ms_max(0);
                recorder.nemesis("stop-slow-fsync", Value::Null);
            }
            Fault::ClientPartition => {
                recorder.nemesis("start-partition", json!("clients|n1"));
                let net = madsim::net::NetSim::current();
                let clients = clients_node_id(handle);
                net.clog_link(clients, node_id);
                net.clog_link(node_id, clients);
                tokio::time::sleep(hold).await;
                net.unclog_link(clients, node_id);
                net.unclog_link(node_id, clients);
                recorder.nemesis("stop-partition", Value::Null);
            }
            Fault::Buggify => unreachable!("filtered out above"),
        }
    }
    applied
}

fn clients_node_id(handle: &Handle) -> madsim::task::NodeId {
    handle.get_node("clients").expect("the clients node exists").id()
}

/// Ends every fault: the clock back to true time, fsync at full speed, links open, fault points
/// off.
fn heal(handle: &Handle, server: &SimNode, recorder: &Recorder) {
    server.clock.skew(0, 0);
    server.disk.set_sync_delay_ms_max(0);
    let net = madsim::net::NetSim::current();
    let clients = clients_node_id(handle);
    net.unclog_link(clients, server.handle.id());
    net.unclog_link(server.handle.id(), clients);
    madsim::buggify::disable();
    recorder.nemesis("heal", Value::Null);
}

/// Reads every key once more, with certain outcomes, so the checker sees the final state.
async fn final_reads(
    workload: Workload,
    client: &mut SimClient,
    recorder: &Recorder,
    process: u64,
) -> Result<(), String> {
    let done = match workload {
        Workload::Register => {
            let mut all = true;
            for key in REGISTER_KEYS {
                all &= read_register(client, recorder, process, key).await;
            }
            all
        }
        Workload::Counter => read_counter(client, recorder, process).await,
        Workload::Transfer => transfer_step(client, recorder, process, 1.0).await,
        Workload::Ttl => true,
    };
    if done {
        Ok(())
    } else {
        Err("a final read after healing had no answer".into())
    }
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

/// After the clients stop and the log is quiet, a crash and a restart replay the log (and the
/// snapshot) to the very same state: the replicated state's digest is equal.
async fn check_restart_digest(handle: &Handle, server: &SimNode, clients: &NodeHandle) -> Result<(), String> {
    // Quiet: no entry applied for a while (expiry and time advances stop once TTL keys are gone).
    let mut quiet_since = Instant::now();
    let mut last_applied = None;
    let waited = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let applied = server.live.lock().as_ref().map(|n| n.state().applied_index());
        if applied != last_applied {
            last_applied = applied;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= Duration::from_millis(1_500) {
            break;
        }
        if waited.elapsed() > Duration::from_secs(60) {
            return Err(format!("the log never went quiet; applied index still moving at {applied:?}"));
        }
    }
    let before = server.live.lock().as_ref().map(|n| n.state().freeze()).ok_or("the node is not running")?;
    // Every entry is synced by now, so a crash that keeps only durable bytes loses nothing.
    handle.kill(server.handle.id());
    *server.live.lock() = None;
    let lost = server.disk.crash(&mut madsim::rand::thread_rng(), false);
    if lost > 0 {
        return Err(format!("{lost} bytes were written but never synced after the log went quiet"));
    }
    handle.restart(server.handle.id());
    let addr = server.addr;
    clients
        .spawn(async move {
            let mut client = SimClient::new(addr, REQUEST_TIMEOUT);
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Outcome::Reply(Frame::Integer(_)) = client.call(&[b"DBSIZE"]).await {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err("the node did not serve after the final restart".to_owned());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .map_err(|e| format!("the restart probe failed: {e}"))??;
    let after = server.live.lock().as_ref().map(|n| n.state().freeze()).ok_or("the node is not running")?;
    if before.digest() != after.digest() {
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
        return Err(format!(
            "the state after a restart differs: digest {:#x} (applied {}, time {}, {} keys) became {:#x} (applied {}, time {}, {} keys); keys before {:?}, after {:?}; deletion marks that differ {:?}; sessions {} and {}",
            before.digest(), before.applied_index, before.time_ms, before.keys.len(),
            after.digest(), after.applied_index, after.time_ms, after.keys.len(),
            keys(&before), keys(&after), marks, before.sessions.len(), after.sessions.len()
        ));
    }
    Ok(())
}
