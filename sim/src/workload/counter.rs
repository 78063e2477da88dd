//! The counter workload: INCR and GET on one key, which the checker models as a counter
//! (`ModelKind::Counter`).

use jepsen::harness::{Completion, Recorder};
use jepsen::history::{OpFunction, OpType};
use redraft_net::resp::Frame;
use serde_json::{json, Value};

use crate::client::{int_of, Outcome, SimClient};

/// The counter.
pub const KEY: &str = "counter";

/// One operation on the counter: 60% INCR by 1, 40% reads. Returns whether its outcome is known.
pub async fn step(client: &mut SimClient, recorder: &Recorder, process: u64, roll: f64) -> bool {
    if roll < 0.6 {
        recorder.op(process, OpType::Invoke, OpFunction::Incr, KEY, json!(1));
        let outcome = client.call(&[b"INCR", KEY.as_bytes()]).await;
        recorder.finish(process, OpFunction::Incr, KEY, json!(1), outcome.completion()).is_known()
    } else {
        read(client, recorder, process).await
    }
}

/// A GET of the counter, recorded as a read (0 when absent). Returns whether its outcome is
/// known.
pub async fn read(client: &mut SimClient, recorder: &Recorder, process: u64) -> bool {
    recorder.op(process, OpType::Invoke, OpFunction::Read, KEY, Value::Null);
    let outcome = client.call(&[b"GET", KEY.as_bytes()]).await;
    let (value, completion) = match &outcome {
        Outcome::Reply(Frame::Null) => (json!(0), Completion::Ok),
        Outcome::Reply(frame @ Frame::Bulk(_)) => {
            (int_of(frame).map_or(Value::Null, |n| json!(n)), Completion::Ok)
        }
        other => (Value::Null, other.completion().failed_unless_unknown()),
    };
    recorder.finish(process, OpFunction::Read, KEY, value, completion).is_known()
}
