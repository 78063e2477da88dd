//! The TTL workload: SET PX on fresh keys with short TTLs and reads around their expiry, under
//! skewed clocks. The history is not checked for linearizability (expiry is not in the register
//! model); [`crate::invariants`] checks that no read sees an expired key's value again, and,
//! with the clocks each read was taken between ([`ClockWitness`]), that no read sees a key past
//! its deadline nor misses one before it.

use jepsen::harness::Recorder;
use jepsen::history::{OpFunction, OpType};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::json;

use std::net::SocketAddr;

use jepsen::harness::Completion;

use super::clocks::{ClockWitness, TimedRead};
use super::register;
use crate::client::SimClient;

/// TTL: write fresh keys with short TTLs (as registers: write then reads), and read recent keys.
#[allow(clippy::too_many_arguments)] // The workload's state, kept by the client loop.
pub async fn step(
    client: &mut SimClient,
    recorder: &Recorder,
    witness: &ClockWitness,
    addr: SocketAddr,
    process: u64,
    keys: &mut Vec<String>,
    sequence: i64,
    roll: f64,
) -> bool {
    if keys.is_empty() || roll < 0.3 {
        let key = format!("t{process}-{sequence}");
        let ttl_ms = madsim::rand::thread_rng().gen_range(100..1_500u64);
        recorder.op(process, OpType::Invoke, OpFunction::Write, &key, json!(1));
        let outcome =
            client.call(&[b"SET", key.as_bytes(), b"1", b"PX", ttl_ms.to_string().as_bytes()]).await;
        keys.push(key.clone());
        if keys.len() > 8 {
            keys.remove(0);
        }
        recorder.finish(process, OpFunction::Write, &key, json!(1), outcome.completion()).is_known()
    } else {
        let key = keys.choose(&mut madsim::rand::thread_rng()).expect("keys").clone();
        let (invoked_ns, before) = (recorder.now_ns(), witness.sample(addr));
        let (known, completion, value) = register::read_value(client, recorder, process, &key).await;
        if let (Some(before), Some(after), Completion::Ok) = (before, witness.sample(addr), completion) {
            let read = TimedRead { key, invoked_ns, before, after, present: !value.is_null() };
            witness.reads.lock().push(read);
        }
        known
    }
}
