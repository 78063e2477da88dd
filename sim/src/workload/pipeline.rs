//! The pipeline workload: the counter's operations (recorded and checked as a counter), between
//! pipelines of INCRs that each client sends on its own key. The pipelines make the leader pack
//! many clients' writes into each batch entry, and followers forward them together; the client
//! checks as it goes that its replies come back in its own order: every INCR of its own key that
//! succeeds answers more than the one before it. Nobody else writes that key, so a smaller
//! answer means a reply went to the wrong request.

use jepsen::harness::Recorder;
use redraft_net::resp::Frame;

use super::counter;
use crate::client::{Outcome, SimClient};

/// INCRs in one pipeline.
pub const DEPTH: usize = 8;

/// One step: half the time a pipeline on the client's own key, otherwise one counter operation.
/// `last` is the client's newest answer from its own key. Returns whether the step's recorded
/// outcome is known (a pipeline records nothing in the history).
///
/// # Panics
/// When a reply arrives out of order: the simulation fails with its seed.
pub async fn step(
    client: &mut SimClient,
    recorder: &Recorder,
    process: u64,
    own: u64,
    last: &mut i64,
    roll: f64,
) -> bool {
    if roll >= 0.5 {
        return counter::step(client, recorder, process, (roll - 0.5) * 2.0).await;
    }
    let key = format!("own:{own}");
    let incr: Vec<&[u8]> = vec![b"INCR", key.as_bytes()];
    let requests = vec![incr; DEPTH];
    for (i, outcome) in client.pipeline(&requests).await.into_iter().enumerate() {
        if let Outcome::Reply(Frame::Integer(n)) = outcome {
            assert!(
                n > *last,
                "client {own}: INCR {i} of a pipeline on its own key answered {n} after {last}: \
                 replies out of order"
            );
            *last = n;
        }
    }
    true
}
