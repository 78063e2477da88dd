//! Expiry never reverts: once a read saw a TTL key expired, no later read sees its value again,
//! whatever the nodes' clocks did (DESIGN.md §3: expiry follows the state machine's time, which
//! only moves forward with the log). And expiry keeps to time: no read sees a key once the
//! serving node's and the leader's clocks have passed its deadline, and none misses it before
//! any clock has reached it.

use std::collections::BTreeMap;

use jepsen::history::{Op, OpFunction, OpType};

use crate::workload::clocks::TimedRead;

/// For each TTL key: once a read that began after the write was acknowledged returned null
/// (expired), no read that began after that read ended may return the value. The state-machine
/// time never goes backwards, so expiry never reverts, whatever the clocks did.
pub fn check_expiry_is_monotonic(ops: &[Op]) -> Result<(), String> {
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

/// How far past a deadline (in ms) a clock may be while a read still sees the key: none. The
/// serving node commits a time advance when its clock has passed a key's deadline, and the
/// leader stamps it with its own clock; both at least this far past the deadline before the
/// read began, the key must read as absent.
pub const SEEN_LATE_BOUND_MS: u64 = 0;

/// Expiry against time, for the TTL workload's reads taken between clock samples (`reads`),
/// with each key's deadline (`deadlines`, in the leaders' clocks, from the change feed) and when
/// its write was acknowledged (`written_ns`, on the history's clock):
/// - a read that returned the key began when both the serving node's clock and the leader's
///   (the same leader, term and skew before and after the read) were past its deadline by more
///   than [`SEEN_LATE_BOUND_MS`]: seen late;
/// - a read begun after the write was acknowledged returned nothing, although no clock had yet
///   reached the deadline when the read ended (the state's time is a leader's stamp, never
///   later than the highest reading of any clock): absent early.
pub fn check_expiry_against_clocks(
    reads: &[TimedRead],
    deadlines: &BTreeMap<String, u64>,
    written_ns: &BTreeMap<String, u64>,
) -> Result<(), String> {
    for read in reads {
        let Some(&deadline) = deadlines.get(&read.key) else { continue };
        let (before, after) = (read.before, read.after);
        if read.present {
            let steady_leader = before
                .leader
                .zip(after.leader)
                .and_then(|(b, a)| (b.0 == a.0 && b.1 == a.1 && b.3 == a.3).then_some(b.2));
            let steady_node = before.node_skews == after.node_skews;
            if let Some(leader_ms) = steady_leader.filter(|_| steady_node) {
                let passed = before.node_ms.min(leader_ms);
                if passed > deadline + SEEN_LATE_BOUND_MS {
                    return Err(format!(
                        "{} was read {} ms past its deadline {deadline}: the serving node's clock read {} and the leader's {} when the read began",
                        read.key,
                        passed - deadline,
                        before.node_ms,
                        leader_ms
                    ));
                }
            }
        } else if written_ns.get(&read.key).is_some_and(|done| *done < read.invoked_ns)
            && after.highest_ms < deadline
        {
            return Err(format!(
                "{} was read as absent {} ms before its deadline {deadline}: no clock had reached it (the highest reading was {})",
                read.key,
                deadline - after.highest_ms,
                after.highest_ms
            ));
        }
    }
    Ok(())
}
