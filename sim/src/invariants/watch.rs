//! What the watchers saw (`workload/watch.rs`), checked once the log is quiet:
//! - **against the nodes' feeds**: each segment of a watcher's stream is exactly the changes its
//!   interest wants, in order, from where it started to where it stands, across every node it
//!   moved to: none missing, none twice, none out of order (the feeds agree with each other and
//!   with the state: `changes.rs`);
//! - **against the history** (register runs, whose written values are unique): every put a
//!   watcher saw was written by a client (no phantom) and not refused, at most once; every
//!   acknowledged write invoked after the watcher's last segment started is in it; and two
//!   acknowledged writes of a key, one finished before the other began, are seen in that order.

use std::collections::{BTreeMap, BTreeSet};

use jepsen::history::{Op, OpFunction, OpType};
use redraft_core::{Change, ChangeKind};
use serde_json::Value;

use super::changes::Window;
use crate::workload::watch::{Segment, WatchLog};

/// Checks `logs` against the feed `reference` (the node's window reaching furthest back) and,
/// when `register` is set, against the history's operations `ops`.
pub fn check_watches(
    logs: &[WatchLog],
    reference: &Window,
    ops: &[Op],
    register: bool,
) -> Result<(), String> {
    let writes = if register { Some(Writes::of(ops)) } else { None };
    for log in logs {
        check_against_feed(log, reference).map_err(|why| format!("watcher {}: {why}", log.name))?;
        if let Some(writes) = &writes {
            check_against_history(log, writes).map_err(|why| format!("watcher {}: {why}", log.name))?;
        }
    }
    Ok(())
}

fn check_against_feed(log: &WatchLog, reference: &Window) -> Result<(), String> {
    let wanted: Vec<&Change> = reference.changes.iter().filter(|c| log.interest.wants(c)).collect();
    for (i, segment) in log.segments.iter().enumerate() {
        let revisions: Vec<u64> = segment.changes.iter().map(|c| c.revision).collect();
        if revisions.windows(2).any(|w| w[0] > w[1]) || revisions.first().is_some_and(|r| *r < segment.from) {
            return Err(format!("segment {i} from {} is out of revision order: {revisions:?}", segment.from));
        }
        // Where the segment ends: up to the next one's start, or where the watcher stands.
        let (through, partial) = match log.segments.get(i + 1) {
            Some(next) => match segment.closed {
                Some(closed) => (closed.revision - 1, Some(closed)),
                None => (next.from - 1, None),
            },
            None => (log.complete, None),
        };
        // Only what the reference window still holds can be compared.
        let low = segment.from.max(reference.oldest);
        let mut expected: Vec<&Change> =
            wanted.iter().copied().filter(|c| c.revision >= low && c.revision <= through).collect();
        if let Some(closed) = partial.filter(|c| c.revision >= low) {
            expected
                .extend(wanted.iter().copied().filter(|c| c.revision == closed.revision).take(closed.skip));
        }
        let upper = partial.map_or(through, |c| c.revision);
        let seen: Vec<&Change> =
            segment.changes.iter().filter(|c| c.revision >= low && c.revision <= upper).collect();
        if seen != expected {
            let first = seen
                .iter()
                .zip(&expected)
                .position(|(a, b)| a != b)
                .unwrap_or(seen.len().min(expected.len()));
            return Err(format!(
                "segment {i} (revisions {low}..={upper}, after {} moves between nodes) differs from the feed at position {first}: saw {:?}, the feed has {:?} ({} seen, {} in the feed)",
                log.moves,
                seen.get(first),
                expected.get(first),
                seen.len(),
                expected.len()
            ));
        }
    }
    Ok(())
}

/// A write of the history: its key, value, when it was invoked and finished, and how.
struct Write {
    key: String,
    invoked: u64,
    finished: u64,
    outcome: OpType,
}

/// The history's writes by the value they wrote (each value is written once).
struct Writes(BTreeMap<i64, Write>);

impl Writes {
    fn of(ops: &[Op]) -> Writes {
        let mut invoked: BTreeMap<u64, &Op> = BTreeMap::new();
        let mut writes = BTreeMap::new();
        for op in ops {
            if op.kind == OpType::Invoke {
                invoked.insert(op.process, op);
                continue;
            }
            let Some(invoke) = invoked.remove(&op.process) else { continue };
            if let Some((value, key)) = written(invoke) {
                writes
                    .insert(value, Write { key, invoked: invoke.time, finished: op.time, outcome: op.kind });
            }
        }
        // An invocation never completed (the run ended first) may have happened.
        for invoke in invoked.values() {
            if let Some((value, key)) = written(invoke) {
                let write = Write { key, invoked: invoke.time, finished: u64::MAX, outcome: OpType::Info };
                writes.insert(value, write);
            }
        }
        Writes(writes)
    }
}

/// The value a write or compare-and-set invocation writes, and its key.
fn written(invoke: &Op) -> Option<(i64, String)> {
    let value = match invoke.f {
        OpFunction::Write => invoke.value.as_i64(),
        OpFunction::Cas => invoke.value.get(1).and_then(Value::as_i64),
        OpFunction::Read | OpFunction::Incr => None,
    };
    Some((value?, invoke.key.clone()?))
}

fn check_against_history(log: &WatchLog, writes: &Writes) -> Result<(), String> {
    // The revision each value was seen at.
    let mut seen: BTreeMap<i64, u64> = BTreeMap::new();
    for change in log.segments.iter().flat_map(|s| &s.changes) {
        let ChangeKind::Put { key, value, .. } = &change.kind else { continue };
        let key = String::from_utf8_lossy(key);
        if !crate::workload::register::KEYS.contains(&key.as_ref()) {
            continue;
        }
        let number = std::str::from_utf8(value).ok().and_then(|v| v.parse::<i64>().ok());
        let write = number.and_then(|n| writes.0.get(&n).map(|w| (n, w)));
        let Some((number, _)) = write.filter(|(_, w)| w.key == key && w.outcome != OpType::Fail) else {
            return Err(format!(
                "a phantom put at revision {}: {key} = {value:?}, which no client wrote (or whose write failed)",
                change.revision
            ));
        };
        if seen.insert(number, change.revision).is_some() {
            return Err(format!("the put of {key} = {number} was seen twice (revision {})", change.revision));
        }
    }
    let last: Option<&Segment> = log.segments.last();
    if let Some(last) = last {
        let wanted = |w: &Write| log.interest.wants_key(w.key.as_bytes());
        for (value, write) in &writes.0 {
            if write.outcome == OpType::Ok
                && write.invoked >= last.started_ns
                && wanted(write)
                && !seen.contains_key(value)
            {
                return Err(format!(
                    "the acknowledged write {} = {value} (invoked at {} ns, after the watch started at {} ns) never reached it",
                    write.key, write.invoked, last.started_ns
                ));
            }
        }
    }
    // Real-time order, per key, among acknowledged writes it saw.
    let mut by_key: BTreeMap<&str, Vec<(&Write, u64)>> = BTreeMap::new();
    for (value, revision) in &seen {
        let write = &writes.0[value];
        if write.outcome == OpType::Ok {
            by_key.entry(&write.key).or_default().push((write, *revision));
        }
    }
    for (key, mut list) in by_key {
        list.sort_by_key(|(w, _)| w.invoked);
        // The latest revision among writes finished before each write began.
        let finished: BTreeSet<(u64, u64)> = list.iter().map(|(w, r)| (w.finished, *r)).collect();
        for (write, revision) in &list {
            let before = finished.range(..(write.invoked, 0)).map(|(_, r)| *r).max();
            if let Some(earlier) = before.filter(|r| r >= revision) {
                return Err(format!(
                    "{key}: a write seen at revision {revision} began after a write seen at revision {earlier} had finished"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use redraft_core::key_range::KeyRange;
    use redraft_server::change_feed::Interest;
    use serde_json::json;

    use super::*;

    fn op(time: u64, process: u64, kind: OpType, value: i64) -> Op {
        let f = OpFunction::Write;
        Op { index: time, time, process, kind, f, key: Some("r0".into()), value: json!(value) }
    }

    fn put(revision: u64, value: i64) -> Change {
        let kind = ChangeKind::Put {
            key: Bytes::from_static(b"r0"),
            value: Bytes::from(value.to_string()),
            create_revision: 1,
            expire_at_ms: None,
        };
        Change { revision, kind }
    }

    fn log(changes: Vec<Change>) -> WatchLog {
        WatchLog {
            name: "w".into(),
            interest: Interest::Range(KeyRange { start: Bytes::new(), end: None }),
            segments: vec![Segment { from: 1, started_ns: 0, changes, closed: None }],
            resume: None,
            complete: 10,
            moves: 0,
        }
    }

    /// Two acknowledged writes, the second begun after the first finished; one refused write.
    fn history() -> Vec<Op> {
        vec![
            op(1, 1, OpType::Invoke, 11),
            op(2, 1, OpType::Ok, 11),
            op(3, 2, OpType::Invoke, 22),
            op(4, 2, OpType::Ok, 22),
            op(5, 3, OpType::Invoke, 33),
            op(6, 3, OpType::Fail, 33),
        ]
    }

    fn check(changes: Vec<Change>) -> Result<(), String> {
        check_against_history(&log(changes), &Writes::of(&history()))
    }

    #[test]
    fn the_history_checks_catch_phantoms_gaps_repeats_and_reordering() {
        assert_eq!(check(vec![put(2, 11), put(3, 22)]), Ok(()));
        let phantom = check(vec![put(2, 11), put(3, 22), put(4, 44)]).unwrap_err();
        assert!(phantom.contains("phantom"), "{phantom}");
        let refused = check(vec![put(2, 11), put(3, 22), put(4, 33)]).unwrap_err();
        assert!(refused.contains("phantom"), "{refused}");
        let missing = check(vec![put(2, 11)]).unwrap_err();
        assert!(missing.contains("never reached"), "{missing}");
        let twice = check(vec![put(2, 11), put(3, 22), put(4, 11)]).unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
        let reordered = check(vec![put(3, 22), put(4, 11)]).unwrap_err();
        assert!(reordered.contains("began after"), "{reordered}");
    }
}
