//! Helpers shared by the integration tests: a builder for hand-written histories.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::collections::BTreeMap;

use jepsen::{check, Budget, CheckResult, ModelKind, Op, OpFunction, OpType};
use serde_json::{json, Value};

/// Builds a history event by event. Each call advances time by 10 ns, and completions repeat the
/// `f`, key and value of the process's pending invocation unless given a value.
#[derive(Debug, Default)]
pub struct History {
    pub ops: Vec<Op>,
    pending: BTreeMap<u64, (OpFunction, String, Value)>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, process: u64, kind: OpType, f: OpFunction, key: &str, value: Value) -> &mut Self {
        let index = self.ops.len() as u64;
        self.ops.push(Op {
            index,
            time: 10 * (index + 1),
            process,
            kind,
            f,
            key: Some(key.to_owned()),
            value,
        });
        self
    }

    pub fn invoke(&mut self, process: u64, f: OpFunction, key: &str, value: Value) -> &mut Self {
        self.pending.insert(process, (f, key.to_owned(), value.clone()));
        self.push(process, OpType::Invoke, f, key, value)
    }

    pub fn read(&mut self, process: u64, key: &str) -> &mut Self {
        self.invoke(process, OpFunction::Read, key, Value::Null)
    }

    pub fn write(&mut self, process: u64, key: &str, value: Value) -> &mut Self {
        self.invoke(process, OpFunction::Write, key, value)
    }

    pub fn cas(&mut self, process: u64, key: &str, expected: Value, new: Value) -> &mut Self {
        self.invoke(process, OpFunction::Cas, key, json!([expected, new]))
    }

    pub fn incr(&mut self, process: u64, key: &str, delta: i64) -> &mut Self {
        self.invoke(process, OpFunction::Incr, key, json!(delta))
    }

    fn complete(&mut self, process: u64, kind: OpType, value: Option<Value>) -> &mut Self {
        let (f, key, invoked) =
            self.pending.remove(&process).expect("test bug: completing a process with nothing pending");
        self.push(process, kind, f, &key, value.unwrap_or(invoked))
    }

    /// Completes `ok`; a read returns `value`.
    pub fn ok_with(&mut self, process: u64, value: Value) -> &mut Self {
        self.complete(process, OpType::Ok, Some(value))
    }

    pub fn ok(&mut self, process: u64) -> &mut Self {
        self.complete(process, OpType::Ok, None)
    }

    pub fn fail(&mut self, process: u64) -> &mut Self {
        self.complete(process, OpType::Fail, None)
    }

    pub fn info(&mut self, process: u64) -> &mut Self {
        self.complete(process, OpType::Info, None)
    }

    /// A complete, uncontended write.
    pub fn wrote(&mut self, process: u64, key: &str, value: Value) -> &mut Self {
        self.write(process, key, value).ok(process)
    }

    /// A complete, uncontended read returning `value`.
    pub fn saw(&mut self, process: u64, key: &str, value: Value) -> &mut Self {
        self.read(process, key).ok_with(process, value)
    }

    pub fn check(&self, model: ModelKind) -> CheckResult {
        check(&self.ops, model, &Budget::default()).expect("test histories are well formed")
    }
}

/// The `index` of every invocation in the violation, for comparing against expectations.
pub fn violation_invokes(result: &CheckResult) -> Vec<u64> {
    result
        .violation
        .as_ref()
        .expect("an invalid result carries a violation")
        .operations
        .iter()
        .map(|operation| operation.invoke_index)
        .collect()
}
