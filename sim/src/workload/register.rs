//! The register workload: GET, SET and SET IFEQ on a few keys, each a register the checker
//! models (`ModelKind::Register`).

use jepsen::harness::{Completion, Recorder};
use jepsen::history::{OpFunction, OpType};
use rand::seq::SliceRandom;
use rand::Rng;
use redraft_net::resp::Frame;
use serde_json::{json, Value};

use crate::client::{int_of, Outcome, SimClient};

/// The registers.
pub const KEYS: [&str; 3] = ["r0", "r1", "r2"];

/// One operation on a random register: 50% reads, 30% writes of a value unique to the client,
/// 20% compare-and-set against a guess. Returns whether its outcome is known.
pub async fn step(
    client: &mut SimClient,
    recorder: &Recorder,
    process: u64,
    first_process: u64,
    sequence: i64,
    roll: f64,
) -> bool {
    let key = *KEYS.choose(&mut madsim::rand::thread_rng()).expect("keys");
    let value = first_process as i64 * 1_000_000 + sequence;
    if roll < 0.5 {
        read(client, recorder, process, key).await
    } else if roll < 0.8 {
        recorder.op(process, OpType::Invoke, OpFunction::Write, key, json!(value));
        let outcome = client.call(&[b"SET", key.as_bytes(), value.to_string().as_bytes()]).await;
        recorder.finish(process, OpFunction::Write, key, json!(value), outcome.completion()).is_known()
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
        // A null reply: the key did not hold `expected`, so nothing was written.
        let completion = match &outcome {
            Outcome::Reply(Frame::Null) => Completion::Fail,
            other => other.completion(),
        };
        recorder.finish(process, OpFunction::Cas, key, pair, completion).is_known()
    }
}

/// A GET of `key`, recorded as a read (`null` when absent). Returns whether its outcome is known.
pub async fn read(client: &mut SimClient, recorder: &Recorder, process: u64, key: &str) -> bool {
    read_value(client, recorder, process, key).await.0
}

/// [`read`], also returning how it completed and the value read (`null` when absent or
/// unknown).
pub async fn read_value(
    client: &mut SimClient,
    recorder: &Recorder,
    process: u64,
    key: &str,
) -> (bool, Completion, Value) {
    recorder.op(process, OpType::Invoke, OpFunction::Read, key, Value::Null);
    let outcome = client.call(&[b"GET", key.as_bytes()]).await;
    let (value, completion) = match &outcome {
        Outcome::Reply(Frame::Null) => (Value::Null, Completion::Ok),
        Outcome::Reply(frame @ Frame::Bulk(_)) => {
            (int_of(frame).map_or(Value::Null, |n| json!(n)), Completion::Ok)
        }
        other => (Value::Null, other.completion().failed_unless_unknown()),
    };
    let known = recorder.finish(process, OpFunction::Read, key, value.clone(), completion).is_known();
    (known, completion, value)
}
