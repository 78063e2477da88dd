//! Pairs each invocation in a history with its completion, giving the operations the checker
//! works on, and rejects histories that break the op model's rules (a process running two
//! operations at once, a completion nobody invoked).
//!
//! Whether an operation's `f` and value suit a model is checked later, in [`crate::model`]; this
//! module knows nothing about models.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::{Op, OpFunction, OpType};

/// One operation: an invocation together with how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// The process that ran it.
    pub process: u64,
    /// The key it acted on.
    pub key: Option<String>,
    /// What it did.
    pub f: OpFunction,
    /// The argument for `write`, `cas` and `incr`; for a `read`, the value read (`null` when it
    /// returned no value or has not returned).
    pub value: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// The `index` of the invocation event.
    pub invoke_index: u64,
    /// The `time` of the invocation event, in nanoseconds.
    pub invoke_time: u64,
    /// The 0-based position of the invocation event in the history; this, not `time`, orders events.
    pub invoke_position: usize,
    /// The `index` of the completion event, if there is one.
    pub complete_index: Option<u64>,
    /// The `time` of the completion event, in nanoseconds.
    pub complete_time: Option<u64>,
    /// The 0-based position of the completion event in the history.
    pub complete_position: Option<usize>,
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened between its invocation and its completion.
    Ok,
    /// It certainly did not happen.
    Fail,
    /// It may have happened at any time after its invocation, or never.
    Info,
    /// The history ends before it completed; the checker treats it exactly like `Info`.
    Pending,
}

impl Outcome {
    /// Whether the operation certainly took effect before its completion.
    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }
}

/// Why a history that parsed is still not a history the checker can use. The caller should
/// reject the input; `position` (0-based, counting events) lets it point at the offending line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistoryError {
    /// A process invoked a second operation before the first completed.
    #[error(
        "op index {index} invokes an operation for process {process}, whose operation invoked \
         at op index {pending_index} has not completed; a process runs one operation at a time"
    )]
    InvokeWhilePending {
        /// The position of the second invocation.
        position: usize,
        /// Its `index`.
        index: u64,
        /// The process.
        process: u64,
        /// The `index` of the invocation still pending.
        pending_index: u64,
    },
    /// A completion arrived for a process with nothing pending.
    #[error("op index {index} completes an operation for process {process}, which has none pending")]
    CompletionWithoutInvoke {
        /// The position of the completion.
        position: usize,
        /// Its `index`.
        index: u64,
        /// The process.
        process: u64,
    },
    /// A completion names a different `f` or key than the invocation it completes.
    #[error(
        "op index {index} completes `{found}` for process {process}, but that process invoked \
         `{expected}` at op index {invoke_index}"
    )]
    CompletionMismatch {
        /// The position of the completion.
        position: usize,
        /// Its `index`.
        index: u64,
        /// The process.
        process: u64,
        /// The `index` of the invocation.
        invoke_index: u64,
        /// `f` and key of the invocation.
        expected: String,
        /// `f` and key of the completion.
        found: String,
    },
    /// The operation is not one the chosen model has.
    #[error("op index {index}: `{f}` is not an operation of the {model} model, which has {expected}")]
    UnsupportedFunction {
        /// The position of the invocation.
        position: usize,
        /// Its `index`.
        index: u64,
        /// The operation found.
        f: OpFunction,
        /// The model's name.
        model: &'static str,
        /// The operations the model does have.
        expected: &'static str,
    },
    /// The operation's value has the wrong shape for the model.
    #[error("op index {index}: the value of `{f}` must be {expected}, found {found}")]
    BadValue {
        /// The position of the event carrying the value.
        position: usize,
        /// Its `index`.
        index: u64,
        /// The operation.
        f: OpFunction,
        /// The expected shape.
        expected: &'static str,
        /// The value found.
        found: Value,
    },
}

impl HistoryError {
    /// The 0-based position in the history of the event the error is about.
    pub fn position(&self) -> usize {
        match self {
            HistoryError::InvokeWhilePending { position, .. }
            | HistoryError::CompletionWithoutInvoke { position, .. }
            | HistoryError::CompletionMismatch { position, .. }
            | HistoryError::UnsupportedFunction { position, .. }
            | HistoryError::BadValue { position, .. } => *position,
        }
    }
}

/// Pairs every invocation with the next completion of the same process, in history order.
///
/// Operations come out in the order of their invocations. A read's value is taken from its `ok`
/// completion; every other operation's value from its invocation (or, when the invocation carries
/// `null`, from its completion).
///
/// # Errors
///
/// See [`HistoryError`]: a process with two operations in flight, a completion with no
/// invocation, or a completion whose `f` or key differs from its invocation.
pub fn pair_operations(ops: &[Op]) -> Result<Vec<Operation>, HistoryError> {
    let mut operations: Vec<Operation> = Vec::new();
    // Maps a process to the slot in `operations` of its pending operation. A BTreeMap, so nothing
    // depends on hash order.
    let mut pending: BTreeMap<u64, usize> = BTreeMap::new();
    for (position, op) in ops.iter().enumerate() {
        if op.kind == OpType::Invoke {
            if let Some(&slot) = pending.get(&op.process) {
                return Err(HistoryError::InvokeWhilePending {
                    position,
                    index: op.index,
                    process: op.process,
                    pending_index: operations[slot].invoke_index,
                });
            }
            pending.insert(op.process, operations.len());
            operations.push(Operation {
                process: op.process,
                key: op.key.clone(),
                f: op.f,
                value: if op.f == OpFunction::Read { Value::Null } else { op.value.clone() },
                outcome: Outcome::Pending,
                invoke_index: op.index,
                invoke_time: op.time,
                invoke_position: position,
                complete_index: None,
                complete_time: None,
                complete_position: None,
            });
            continue;
        }
        let Some(slot) = pending.remove(&op.process) else {
            return Err(HistoryError::CompletionWithoutInvoke {
                position,
                index: op.index,
                process: op.process,
            });
        };
        let operation = &mut operations[slot];
        if operation.f != op.f || operation.key != op.key {
            return Err(HistoryError::CompletionMismatch {
                position,
                index: op.index,
                process: op.process,
                invoke_index: operation.invoke_index,
                expected: describe(operation.f, operation.key.as_deref()),
                found: describe(op.f, op.key.as_deref()),
            });
        }
        operation.outcome = match op.kind {
            OpType::Ok => Outcome::Ok,
            OpType::Fail => Outcome::Fail,
            OpType::Info => Outcome::Info,
            OpType::Invoke => unreachable!("invocations are handled before completions"),
        };
        operation.complete_index = Some(op.index);
        operation.complete_time = Some(op.time);
        operation.complete_position = Some(position);
        let takes_completion_value =
            if operation.f == OpFunction::Read { op.kind == OpType::Ok } else { operation.value.is_null() };
        if takes_completion_value {
            operation.value = op.value.clone();
        }
    }
    Ok(operations)
}

fn describe(f: OpFunction, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("{f} {key}"),
        None => f.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(index: u64, process: u64, kind: OpType, f: OpFunction, value: Value) -> Op {
        Op { index, time: index * 10, process, kind, f, key: Some("k".into()), value }
    }

    #[test]
    fn interleaved_processes_pair_by_process() {
        // Two overlapping operations from different processes pair with their own completions,
        // and the read takes its value from the completion.
        let ops = [
            event(0, 1, OpType::Invoke, OpFunction::Write, json!(1)),
            event(1, 2, OpType::Invoke, OpFunction::Read, Value::Null),
            event(2, 2, OpType::Ok, OpFunction::Read, json!(1)),
            event(3, 1, OpType::Info, OpFunction::Write, json!(1)),
            event(4, 1, OpType::Invoke, OpFunction::Write, json!(2)),
        ];
        let operations = pair_operations(&ops).expect("well formed");
        assert_eq!(operations.len(), 3);
        assert_eq!(operations[0].outcome, Outcome::Info);
        assert_eq!(operations[0].complete_position, Some(3));
        assert_eq!(operations[1].value, json!(1));
        assert_eq!(operations[1].outcome, Outcome::Ok);
        assert_eq!(operations[2].outcome, Outcome::Pending);
    }

    #[test]
    fn second_invoke_on_a_busy_process_is_rejected() {
        // Processes are sequential; an overlapping second invocation is an input error.
        let ops = [
            event(0, 1, OpType::Invoke, OpFunction::Write, json!(1)),
            event(1, 1, OpType::Invoke, OpFunction::Write, json!(2)),
        ];
        let error = pair_operations(&ops).expect_err("process 1 is busy");
        assert_eq!(error.position(), 1);
        assert!(matches!(error, HistoryError::InvokeWhilePending { pending_index: 0, .. }));
    }

    #[test]
    fn completion_without_invoke_or_of_another_f_is_rejected() {
        // A stray completion, and a completion naming another function, are both input errors.
        let stray = [event(0, 1, OpType::Ok, OpFunction::Read, json!(1))];
        assert!(matches!(
            pair_operations(&stray),
            Err(HistoryError::CompletionWithoutInvoke { position: 0, .. })
        ));
        let mismatch = [
            event(0, 1, OpType::Invoke, OpFunction::Write, json!(1)),
            event(1, 1, OpType::Ok, OpFunction::Read, json!(1)),
        ];
        let error = pair_operations(&mismatch).expect_err("read does not complete write");
        assert!(error.to_string().contains("`read k`"), "{error}");
    }
}
