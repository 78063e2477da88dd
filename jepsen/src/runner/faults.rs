//! The nemesis of a real-process run: one fault at a time, chosen from the seed, held for a
//! while and healed, then a quiet spell in which the runner measures how long the cluster takes
//! to serve again.
//!
//! Every action goes into the history as a nemesis event, named as [`crate::nemesis`] pairs them
//! (so reports shade the intervals): `start-partition`/`stop-partition`, `kill`/`start` (a
//! `corrupt` fault is a kill whose detail names the file damaged),
//! `pause`/`resume`, `start-clock`/`stop-clock`. A node that exits on its own is recorded as
//! `exit` and started again.
//!
//! The order of faults is drawn from the seed in rounds: every chosen kind of fault once, in a
//! shuffled order, before any repeats, so a short run still meets each of them. Which node a
//! fault hits depends on the seed and, for half of the kills, pauses and isolations, on which
//! node leads at that moment, which the seed does not decide.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::cluster::{Cluster, PROBE_KEY};
use super::progress::Progress;
use super::resp::{Reply, RespClient};
use crate::harness::{plan_partition, Recorder};

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Cut links between nodes at their proxies, as the simulator does
    /// ([`crate::harness::plan_partition`]): random halves, the leader alone (or any node while
    /// none leads), a bridge, or one way (one side's requests to the other are lost; half the
    /// time the side is the leader alone).
    Partition,
    /// SIGKILL a node (often the leader) and start it again after the hold.
    Kill,
    /// SIGSTOP a node (often the leader) and SIGCONT it after the hold.
    Pause,
    /// Shift the clocks of some nodes by up to ten seconds either way.
    Clock,
    /// SIGKILL a node, flip one bit in one of its files at rest (a log segment, the snapshot,
    /// one copy of its vote: `disk_rot.rs`), and start it again after the hold; only ever on a
    /// minority of the nodes over a run, so a majority's disks stay intact.
    Corrupt,
}

impl Fault {
    /// The name in `--nemesis` and in `results.json`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::Clock => "clock",
            Fault::Corrupt => "corrupt",
        }
    }
}

/// One fault applied, for `results.json` and the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FaultRecord {
    /// The kind.
    pub fault: &'static str,
    /// What exactly was done: the node, the partition's shape, the offsets.
    pub detail: Value,
    /// When it started, in seconds since the history began.
    pub start_s: f64,
    /// When it was healed, in seconds.
    pub heal_s: Option<f64>,
    /// Milliseconds from the heal until every node had answered a linearizable read; `None`
    /// when that did not happen before the next fault (or the end of the run).
    pub all_nodes_serving_ms: Option<f64>,
    /// Milliseconds from the heal until the first client operation invoked after it completed
    /// `ok`; filled in from the history after the run.
    pub next_ok_ms: Option<f64>,
    #[serde(skip)]
    pub heal_ns: Option<u64>,
}

/// What the nemesis needs to know.
#[derive(Debug, Clone)]
pub struct NemesisPlan {
    /// The kinds of fault to choose from; empty for no nemesis.
    pub faults: Vec<Fault>,
    /// Faults start about this often; each is held for 30% to 70% of it.
    pub interval: Duration,
    /// The run's seed.
    pub seed: u64,
    /// When the fault phase ends: a fault in force then is healed.
    pub deadline: Instant,
}

/// Faults and unexpected exits, shared so that an interrupted run still reports them.
#[derive(Debug, Default)]
pub struct NemesisLog {
    /// Every fault applied, in order.
    pub faults: Vec<FaultRecord>,
    /// Nodes that exited without being killed: (node, seconds into the run, exit status).
    pub unexpected_exits: Vec<(String, f64, String)>,
}

/// Runs the nemesis until the deadline, leaving every fault healed.
pub async fn run_nemesis(
    cluster: &mut Cluster,
    plan: &NemesisPlan,
    recorder: &Recorder,
    log: &Mutex<NemesisLog>,
    progress: &Progress,
) {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let schedulable: Vec<Fault> = plan
        .faults
        .iter()
        .copied()
        .filter(|fault| *fault != Fault::Partition || cluster.specs().len() > 1)
        .filter(|fault| *fault != Fault::Clock || cluster.has_clock_offsets())
        // A node alone refuses a damaged disk (no one to fetch from): only with peers.
        .filter(|fault| *fault != Fault::Corrupt || cluster.specs().len() >= 3)
        .collect();
    let mut corrupted = BTreeSet::new();
    let mut round: Vec<Fault> = Vec::new();
    let mut quiet = plan.interval.mul_f64(rng.gen_range(0.3..0.7));
    let mut healed: Option<usize> = None;
    loop {
        let quiet_end = (Instant::now() + quiet).min(plan.deadline);
        if let Some(record) = healed.take() {
            measure_recovery(cluster, recorder, log, record, quiet_end).await;
        }
        watch_until(cluster, recorder, log, progress, quiet_end).await;
        let hold = plan.interval.mul_f64(rng.gen_range(0.3..0.7));
        quiet = plan.interval.saturating_sub(hold);
        let hold_end = (Instant::now() + hold).min(plan.deadline);
        if schedulable.is_empty()
            || hold_end.saturating_duration_since(Instant::now()) < Duration::from_millis(500)
        {
            break;
        }
        if round.is_empty() {
            round = schedulable.clone();
            round.shuffle(&mut rng);
        }
        let fault = round.pop().expect("refilled above");
        let leader = leader(cluster).await;
        let applied = apply(cluster, recorder, &mut rng, fault, leader, &mut corrupted);
        progress.event(recorder.now_ns(), &format!("{} {}", fault.name(), applied.detail_text()));
        progress.set_fault(Some(format!("{} {}", fault.name(), applied.detail_text())));
        let index = {
            let mut log = lock(log);
            log.faults.push(FaultRecord {
                fault: fault.name(),
                detail: applied.detail.clone(),
                start_s: seconds(applied.start_ns),
                heal_s: None,
                all_nodes_serving_ms: None,
                next_ok_ms: None,
                heal_ns: None,
            });
            log.faults.len() - 1
        };
        watch_until(cluster, recorder, log, progress, hold_end).await;
        let heal_ns = heal(cluster, recorder, &applied);
        progress.event(heal_ns, &format!("healed {}", fault.name()));
        progress.set_fault(None);
        let mut log = lock(log);
        log.faults[index].heal_ns = Some(heal_ns);
        log.faults[index].heal_s = Some(seconds(heal_ns));
        healed = Some(index);
    }
}

/// Ends every fault that might be in force (the end of the run, or after an error) and records
/// a `heal`.
pub fn heal_all(cluster: &mut Cluster, recorder: &Recorder) -> u64 {
    cluster.cuts().heal();
    for index in 0..cluster.specs().len() {
        cluster.resume(index);
        if cluster.has_clock_offsets() {
            let _ = cluster.set_clock_offset(index, 0);
        }
        if !cluster.is_running(index) {
            let _ = cluster.restart(index, "started for the final heal");
        }
    }
    recorder.nemesis("heal", Value::Null)
}

/// Waits until every node answers a linearizable read, or `until`; the time it took from now.
pub async fn all_nodes_serving(addrs: &[SocketAddr], until: Instant) -> Option<Duration> {
    let started = Instant::now();
    for addr in addrs {
        let mut client = RespClient::new(*addr, Duration::from_secs(1));
        loop {
            let remaining = until.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return None;
            }
            let call = tokio::time::timeout(remaining, client.call(&[b"GET", PROBE_KEY])).await;
            match call {
                Ok(Ok(Reply::Bulk(_))) => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(50).min(remaining)).await,
                Err(_) => return None,
            }
        }
    }
    Some(started.elapsed())
}

/// A fault as applied, for healing it and describing it.
#[derive(Debug)]
struct Applied {
    fault: Fault,
    start_ns: u64,
    detail: Value,
    /// The node killed or paused, by position.
    node: Option<usize>,
}

impl Applied {
    fn detail_text(&self) -> String {
        match &self.detail {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }
}

fn apply(
    cluster: &mut Cluster,
    recorder: &Recorder,
    rng: &mut StdRng,
    fault: Fault,
    leader: Option<usize>,
    corrupted: &mut BTreeSet<usize>,
) -> Applied {
    let count = cluster.specs().len();
    let names: Vec<String> = cluster.specs().iter().map(|spec| spec.name.clone()).collect();
    let ids: Vec<u64> = cluster.specs().iter().map(|spec| spec.id).collect();
    let name = |index: usize| names[index].clone();
    // Half the time the leader, when one is known: the node whose loss matters most.
    let target = match leader {
        Some(leader) if rng.gen_bool(0.5) => leader,
        _ => rng.gen_range(0..count),
    };
    match fault {
        Fault::Partition => {
            let partition = plan_partition(rng, count, leader);
            cluster.cuts().cut(partition.links.iter().map(|&(from, to)| (ids[from], ids[to])));
            let detail = json!(partition.describe(name));
            let start_ns = recorder.nemesis("start-partition", detail.clone());
            Applied { fault, start_ns, detail, node: None }
        }
        Fault::Kill => {
            cluster.kill(target);
            let detail = json!(name(target));
            let start_ns = recorder.nemesis("kill", detail.clone());
            Applied { fault, start_ns, detail, node: Some(target) }
        }
        Fault::Corrupt => {
            // Within the minority budget: a node damaged before, or a new one while it lasts.
            let budget = (count - 1) / 2;
            let target = if corrupted.len() < budget || corrupted.contains(&target) {
                target
            } else {
                *corrupted.iter().next().expect("a budget of at least one")
            };
            corrupted.insert(target);
            cluster.kill(target);
            let data_dir = cluster.specs()[target].data_dir();
            let damage = super::disk_rot::flip_a_bit_at_rest(&data_dir, rng);
            let detail = match damage {
                Some((file, offset, bit)) => {
                    json!({ "node": name(target), "file": file, "offset": offset, "bit": bit })
                }
                None => json!({ "node": name(target), "file": Value::Null }),
            };
            // Named as a kill, so reports pair it with its `start`.
            let start_ns = recorder.nemesis("kill", detail.clone());
            Applied { fault, start_ns, detail, node: Some(target) }
        }
        Fault::Pause => {
            cluster.pause(target);
            let detail = json!(name(target));
            let start_ns = recorder.nemesis("pause", detail.clone());
            Applied { fault, start_ns, detail, node: Some(target) }
        }
        Fault::Clock => {
            let mut nodes: Vec<usize> = (0..count).collect();
            nodes.shuffle(rng);
            nodes.truncate(rng.gen_range(1..=count));
            nodes.sort_unstable();
            let mut offsets = BTreeMap::new();
            for index in nodes {
                let magnitude = rng.gen_range(100..=10_000i64);
                let offset_ms = if rng.gen_bool(0.5) { magnitude } else { -magnitude };
                // A file that cannot be written leaves that node's clock alone; the offsets
                // recorded are the ones written.
                if cluster.set_clock_offset(index, offset_ms).is_ok() {
                    offsets.insert(name(index), offset_ms);
                }
            }
            let detail = json!({ "offsets_ms": offsets });
            let start_ns = recorder.nemesis("start-clock", detail.clone());
            Applied { fault, start_ns, detail, node: None }
        }
    }
}

/// Ends one fault; returns the time of the event that records it.
fn heal(cluster: &mut Cluster, recorder: &Recorder, applied: &Applied) -> u64 {
    match (applied.fault, applied.node) {
        (Fault::Partition, _) => {
            cluster.cuts().heal();
            recorder.nemesis("stop-partition", applied.detail.clone())
        }
        (Fault::Kill | Fault::Corrupt, Some(node)) => {
            let restarted = cluster.restart(node, "restarted after SIGKILL");
            let mut detail = json!({ "node": applied.detail });
            if let Err(error) = restarted {
                detail["error"] = json!(error.to_string());
            }
            recorder.nemesis("start", detail)
        }
        (Fault::Pause, Some(node)) => {
            cluster.resume(node);
            recorder.nemesis("resume", applied.detail.clone())
        }
        (Fault::Clock, _) => {
            for index in 0..cluster.specs().len() {
                let _ = cluster.set_clock_offset(index, 0);
            }
            recorder.nemesis("stop-clock", Value::Null)
        }
        (Fault::Kill | Fault::Corrupt | Fault::Pause, None) => {
            unreachable!("kills and pauses always name their node")
        }
    }
}

/// Sleeps until `until`, restarting any node that exits on its own meanwhile.
async fn watch_until(
    cluster: &mut Cluster,
    recorder: &Recorder,
    log: &Mutex<NemesisLog>,
    progress: &Progress,
    until: Instant,
) {
    loop {
        reap(cluster, recorder, log, progress);
        let now = Instant::now();
        if now >= until {
            return;
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(250))).await;
    }
}

/// Records and restarts nodes that exited without being killed: a crash of the server itself.
pub fn reap(cluster: &mut Cluster, recorder: &Recorder, log: &Mutex<NemesisLog>, progress: &Progress) {
    for (index, status) in cluster.reap_exited() {
        let name = cluster.specs()[index].name.clone();
        let time = recorder.nemesis("exit", json!({ "node": name, "status": status.to_string() }));
        progress
            .event(time, &format!("{name} EXITED on its own ({status}); see its server.log; restarting it"));
        lock(log).unexpected_exits.push((name, seconds(time), status.to_string()));
        let _ = cluster.restart(index, "restarted after it exited on its own");
    }
}

/// Probes every node after a heal, until all serve or `until`, and keeps the time in the record.
async fn measure_recovery(
    cluster: &mut Cluster,
    recorder: &Recorder,
    log: &Mutex<NemesisLog>,
    record: usize,
    until: Instant,
) {
    let addrs: Vec<SocketAddr> = cluster.specs().iter().map(|spec| spec.resp_addr).collect();
    let Some(heal_ns) = lock(log).faults[record].heal_ns else { return };
    if all_nodes_serving(&addrs, until).await.is_some() {
        let elapsed_ns = recorder.now_ns().saturating_sub(heal_ns);
        lock(log).faults[record].all_nodes_serving_ms = Some(elapsed_ns as f64 / 1e6);
    }
}

/// The node that says it leads, asking each running node; `None` when none does right now.
async fn leader(cluster: &Cluster) -> Option<usize> {
    for (index, spec) in cluster.specs().iter().enumerate() {
        if !cluster.is_running(index) || cluster.is_paused(index) {
            continue;
        }
        let mut client = RespClient::new(spec.resp_addr, Duration::from_millis(500));
        if let Ok(Reply::Bulk(Some(text))) = client.call(&[b"RAFT.INFO"]).await {
            let text = String::from_utf8_lossy(&text);
            if text.lines().any(|line| line.trim() == "role:leader") {
                return Some(index);
            }
        }
    }
    None
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn lock(log: &Mutex<NemesisLog>) -> std::sync::MutexGuard<'_, NemesisLog> {
    log.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Shares a log between the run and whoever reports on it.
pub fn shared_log() -> Arc<Mutex<NemesisLog>> {
    Arc::new(Mutex::new(NemesisLog::default()))
}
