//! Expiry never reverts: once a read saw a TTL key expired, no later read sees its value again,
//! whatever the nodes' clocks did (DESIGN.md §3: expiry follows the state machine's time, which
//! only moves forward with the log).

use std::collections::BTreeMap;

use jepsen::history::{Op, OpFunction, OpType};

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
