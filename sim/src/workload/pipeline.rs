//! The pipeline workload: the counter's operations (recorded and checked as a counter), between
//! pipelines of INCRs that each client sends on its own key. The pipelines make the leader pack
//! many clients' writes into each batch entry, and followers forward them together; the client
//! checks as it goes that its replies come back in its own order: every INCR of its own key that
//! succeeds answers more than the one before it, and no more than the INCRs the client had sent
//! on that key up to and including it (each applies at most once, in the connection's order).
//! Nobody else writes that key, so an answer outside those bounds is another request's reply.

use jepsen::harness::Recorder;
use redraft_net::resp::Frame;

use super::counter;
use crate::client::{Outcome, SimClient};

/// INCRs in one pipeline.
pub const DEPTH: usize = 8;

/// What a client knows of its own key.
#[derive(Debug, Default)]
pub struct OwnKey {
    /// The newest answer from it.
    last: i64,
    /// The INCRs sent on it (some may have been lost before they applied).
    sent: i64,
}

/// One step: half the time a pipeline on the client's own key (`own`: the client's number;
/// `key_state`: what it knows of that key), otherwise one counter operation. Returns whether the
/// step's recorded outcome is known (a pipeline records nothing in the history).
///
/// # Panics
/// When a reply is not its request's: the simulation fails with its seed.
pub async fn step(
    client: &mut SimClient,
    recorder: &Recorder,
    process: u64,
    own: u64,
    key_state: &mut OwnKey,
    roll: f64,
) -> bool {
    if roll >= 0.5 {
        return counter::step(client, recorder, process, (roll - 0.5) * 2.0).await;
    }
    let key = format!("own:{own}");
    let incr: Vec<&[u8]> = vec![b"INCR", key.as_bytes()];
    let requests = vec![incr; DEPTH];
    let sent_before = key_state.sent;
    for (i, outcome) in client.pipeline(&requests).await.into_iter().enumerate() {
        if !matches!(outcome, Outcome::NotSent(_)) {
            key_state.sent += 1;
        }
        if let Outcome::Reply(Frame::Integer(n)) = outcome {
            let OwnKey { last, sent } = *key_state;
            assert!(
                n > last && n <= sent,
                "client {own}: INCR {i} of a pipeline on its own key answered {n} after {last}, \
                 with {sent} sent up to it ({sent_before} before the pipeline): another request's reply"
            );
            key_state.last = n;
        }
    }
    true
}
