//! One simulated run (DESIGN.md §5, §6): a cluster of production nodes inside madsim
//! (`cluster.rs`), clients that speak RESP over the simulated network and record every operation
//! (`workload/`), a nemesis scheduled from the seed (`nemesis/`), and the invariants checked at
//! the end (`invariants/`). This module puts them together in order: start, set up, faults, heal,
//! recover, final reads, check.
//!
//! Nothing here reimplements the node: the harness only builds it on the simulator's seams (disk,
//! clock, network) and observes it. A run has 1, 3 or 5 nodes talking over the peer transport;
//! clients spread over the nodes (followers forward to the leader). The nemesis crashes nodes
//! with disk loss, pauses them, skews and drifts their clocks, slows fsync and the network,
//! partitions the nodes (random halves, an isolated leader, a bridge), cuts clients from a node,
//! and turns on the BUGGIFY fault points in the production code. Watchers follow the changes
//! through the nodes' watch streams all along.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jepsen::harness::Recorder;
use jepsen::history::{Event, OpType};
use madsim::runtime::Handle;
use redraft_core::key_range::KeyRange;
use redraft_net::resp::Frame;
use redraft_server::change_feed::Interest;

use crate::client::{Outcome, SimClient, REQUEST_TIMEOUT};
use crate::cluster::{start_server_node, SimNode};
use crate::config::{Fault, SimConfig, Workload};
use crate::invariants::{
    check_expiry_against_time, check_history, check_replicas_and_restart, check_transactions, check_watchers,
};
use crate::nemesis::{heal, nemesis, Chaos};
use crate::workload::append::AppendLog;
use crate::workload::clocks::{ClockWitness, Watched};
use crate::workload::watch::{catch_up, watch_loop, WatchLog, WatchStart};
use crate::workload::{client_loop, final_reads, reader_loop, transfer, SideLogs};

/// The first process number of the readers (`SimConfig::readers`), far past the writers'.
const READER_PROCESS_FIRST: u64 = 1_000_000;

/// What a run did, for the sweep's report.
#[derive(Debug)]
pub struct RunReport {
    pub history: Vec<Event>,
    pub operations: usize,
    pub infos: usize,
    pub faults: usize,
    pub virtual_secs: f64,
    /// Changes the watchers were handed, and how often they went on from another node.
    pub watched: usize,
    pub watch_moves: usize,
}

/// Why a run failed: the invariant, and the history so far.
#[derive(Debug)]
pub struct RunFailure {
    pub reason: String,
    pub history: Vec<Event>,
    /// Files that show the failure beside the history: a name's ending, and the contents.
    pub artefacts: Vec<(&'static str, String)>,
}

/// Runs one simulation in the current madsim runtime.
///
/// # Errors
/// [`RunFailure`] naming the broken invariant.
pub async fn run(config: SimConfig) -> Result<RunReport, RunFailure> {
    let handle = Handle::current();
    let start = crate::now();
    let recorder = Recorder::new(move || start.elapsed().as_nanos() as u64);
    let appends = AppendLog::default();
    recorder.begin();
    let servers: Vec<SimNode> =
        (1..=config.nodes as u64).map(|id| start_server_node(&handle, id, &config)).collect();
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let watched =
        servers.iter().map(|s| Watched { addr: s.addr, clock: s.clock.clone(), live: s.live.clone() });
    let side = SideLogs { appends: appends.clone(), clocks: Arc::new(ClockWitness::new(watched.collect())) };
    let clients = handle.create_node().name("clients").ip(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1))).build();
    let fail = |reason: String| RunFailure { reason, history: recorder.events(), artefacts: Vec::new() };

    // Wait for the node to elect itself and serve. Client traffic always starts on the clients'
    // node, so that it crosses the simulated network (and its partitions).
    let addr = addrs[0];
    let (bound, workload) = (config.recovery_bound, config.workload);
    clients
        .spawn(async move {
            let mut probe = SimClient::new(addr, REQUEST_TIMEOUT);
            serve_within(&mut probe, bound).await.map_err(|e| format!("start-up: {e}"))?;
            if workload == Workload::Transfer {
                transfer::set_up(&mut probe).await?;
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
        let (workload, stride, side) = (config.workload, config.clients as u64, side.clone());
        tasks.push(clients.spawn(async move {
            client_loop(workload, process, stride, addr, recorder, side, deadline).await
        }));
    }
    for reader in 0..config.readers as u64 {
        let recorder = recorder.clone();
        let addr = addrs[reader as usize % addrs.len()];
        let (workload, stride) = (config.workload, config.readers as u64);
        tasks.push(clients.spawn(async move {
            reader_loop(workload, READER_PROCESS_FIRST + reader, stride, addr, recorder, deadline).await
        }));
    }
    let (stop_watchers, watchers_stop) = tokio::sync::watch::channel(false);
    let mut watch_logs = Vec::new();
    let mut watchers = Vec::new();
    for watcher in 0..config.watchers {
        let (interest, from) = if watcher % 2 == 0 {
            (Interest::Range(KeyRange { start: Bytes::new(), end: None }), WatchStart::Beginning)
        } else {
            (Interest::Range(KeyRange::prefix(b"r")), WatchStart::After(config.duration / 3))
        };
        let name = format!("w{watcher}");
        let log = WatchLog { name, interest, segments: Vec::new(), resume: None, complete: 0, moves: 0 };
        let log = Arc::new(parking_lot::Mutex::new(log));
        watch_logs.push(log.clone());
        let nodes = servers.iter().map(|s| (s.name.clone(), s.live.clone())).collect();
        let stop = watchers_stop.clone();
        watchers.push(clients.spawn(watch_loop(nodes, watcher, from, start, log, stop)));
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
    let (final_recorder, final_appends) = (recorder.clone(), appends.clone());
    let final_process = config.clients as u64 * 1_000;
    let all = addrs.clone();
    clients
        .spawn(async move {
            for addr in all {
                let mut client = SimClient::new(addr, REQUEST_TIMEOUT);
                serve_within(&mut client, bound).await.map_err(|e| format!("{addr} after healing: {e}"))?;
            }
            let mut client = SimClient::new(addr, REQUEST_TIMEOUT);
            final_reads(workload, &mut client, &final_recorder, &final_appends, final_process, bound).await
        })
        .await
        .map_err(|e| fail(format!("the final-read task failed: {e}")))?
        .map_err(fail)?;
    // The watchers catch up with everything applied, and stop.
    let target =
        servers.iter().filter_map(|s| s.live.lock().as_ref().map(|n| n.state().applied_index())).max();
    let logs = watch_logs.clone();
    clients
        .spawn(async move { catch_up(&logs, target.unwrap_or(0), bound).await })
        .await
        .map_err(|e| fail(format!("the watchers' catch-up task failed: {e}")))?
        .map_err(fail)?;
    let _ = stop_watchers.send(true);
    for watcher in watchers {
        watcher.await.map_err(|e| fail(format!("a watcher task failed: {e}")))?;
    }
    let history = recorder.events();
    check_history(config.workload, &history).map_err(|reason| RunFailure {
        reason,
        history: history.clone(),
        artefacts: Vec::new(),
    })?;
    check_transactions(&appends.lock()).map_err(|(reason, artefacts)| RunFailure {
        reason,
        history: history.clone(),
        artefacts,
    })?;
    let logs: Vec<WatchLog> = watch_logs.iter().map(|log| log.lock().clone()).collect();
    check_watchers(&servers, &logs, config.workload, &history).map_err(|reason| RunFailure {
        reason,
        history: history.clone(),
        artefacts: Vec::new(),
    })?;
    let timed_reads = side.clocks.reads.lock().clone();
    check_expiry_against_time(&servers, &timed_reads, &history).map_err(|reason| RunFailure {
        reason,
        history: history.clone(),
        artefacts: Vec::new(),
    })?;
    check_replicas_and_restart(&handle, &servers, &clients).await.map_err(|reason| RunFailure {
        reason,
        history: history.clone(),
        artefacts: Vec::new(),
    })?;

    let transactions = appends.lock();
    let operations = transactions.len()
        + history.iter().filter(|e| matches!(e, Event::Op(op) if op.kind != OpType::Invoke)).count();
    let infos = transactions.iter().filter(|t| t.outcome == jepsen::elle::Outcome::Info).count()
        + history.iter().filter(|e| matches!(e, Event::Op(op) if op.kind == OpType::Info)).count();
    drop(transactions);
    let watched = logs.iter().flat_map(|log| &log.segments).map(|s| s.changes.len()).sum();
    let watch_moves = logs.iter().map(|log| log.moves).sum();
    let virtual_secs = start.elapsed().as_secs_f64();
    Ok(RunReport { operations, infos, faults, virtual_secs, history, watched, watch_moves })
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
