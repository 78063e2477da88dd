//! The invariants every run must keep, checked after the heal: on the history (one file each:
//! linearizability per key, balances that always sum to the same total, expiry that never
//! reverts) and on the replicas (the same state everywhere, and after a restart, and change feeds
//! that agree with it and with each other), and what the watchers saw (against both).

use std::collections::BTreeMap;

use jepsen::history::{Event, Op, OpFunction, OpType};
use jepsen::model::ModelKind;
use redraft_core::ChangeKind;

use crate::cluster::SimNode;
use crate::config::Workload;
use crate::workload::clocks::TimedRead;
use crate::workload::watch::WatchLog;

mod append;
mod balance;
mod changes;
mod expiry;
mod linearizable;
mod replicas;
mod watch;

pub use self::append::check_transactions;
pub use self::replicas::check_replicas_and_restart;

/// The invariants on the history of `workload`.
pub fn check_history(workload: Workload, history: &[Event]) -> Result<(), String> {
    let ops: Vec<Op> =
        history.iter().filter_map(|e| if let Event::Op(op) = e { Some(op.clone()) } else { None }).collect();
    match workload {
        Workload::Register => linearizable::check_linearizable(&ops, ModelKind::Register),
        Workload::Counter | Workload::Pipeline => linearizable::check_linearizable(&ops, ModelKind::Counter),
        // Expiry is not in the register model, so a TTL history is not checked for
        // linearizability; no read may see a key's value again once a read saw it expired.
        Workload::Ttl => expiry::check_expiry_is_monotonic(&ops),
        Workload::Transfer => balance::check_balances(&ops),
        // Its transactions are not in the history of single-key operations: see
        // `check_transactions`.
        Workload::Append => Ok(()),
    }
}

/// The TTL workload's reads against the clocks around them and the keys' deadlines (from the
/// node's feed reaching furthest back; keys whose puts have left every window are not checked).
pub fn check_expiry_against_time(
    servers: &[SimNode],
    reads: &[TimedRead],
    history: &[Event],
) -> Result<(), String> {
    if reads.is_empty() {
        return Ok(());
    }
    let windows = servers.iter().map(changes::window).collect::<Result<Vec<_>, _>>()?;
    let reference = windows.iter().min_by_key(|w| w.oldest).ok_or("no nodes")?;
    let mut deadlines = BTreeMap::new();
    for change in &reference.changes {
        if let ChangeKind::Put { key, expire_at_ms: Some(at), .. } = &change.kind {
            deadlines.insert(String::from_utf8_lossy(key).into_owned(), *at);
        }
    }
    let mut invoked: BTreeMap<u64, &Op> = BTreeMap::new();
    let mut written_ns = BTreeMap::new();
    for event in history {
        let Event::Op(op) = event else { continue };
        match op.kind {
            OpType::Invoke => {
                invoked.insert(op.process, op);
            }
            OpType::Ok if op.f == OpFunction::Write => {
                if let Some(key) = invoked.remove(&op.process).and_then(|i| i.key.clone()) {
                    written_ns.insert(key, op.time);
                }
            }
            _ => {
                invoked.remove(&op.process);
            }
        }
    }
    expiry::check_expiry_against_clocks(reads, &deadlines, &written_ns)
}

/// What the watchers saw against the nodes' change feeds and, in register runs, the history.
pub fn check_watchers(
    servers: &[SimNode],
    logs: &[WatchLog],
    workload: Workload,
    history: &[Event],
) -> Result<(), String> {
    let windows = servers.iter().map(changes::window).collect::<Result<Vec<_>, _>>()?;
    let reference = windows.iter().min_by_key(|w| w.oldest).ok_or("no nodes")?;
    let ops: Vec<Op> =
        history.iter().filter_map(|e| if let Event::Op(op) = e { Some(op.clone()) } else { None }).collect();
    watch::check_watches(logs, reference, &ops, workload == Workload::Register)
}
