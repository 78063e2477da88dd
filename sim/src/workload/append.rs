//! The append workload, after Elle's list-append: transactions of APPENDs and GETs over a few
//! keys inside MULTI/EXEC (sent one command at a time, or pipelined in one write), and single
//! APPENDs and GETs. A key's value is the list of elements appended to it (`"e1,e2,"`), each
//! element unique, so a read tells exactly which appends it saw and in which order. The
//! list-append checker (`jepsen::elle`, in `invariants`) infers from the reads which transaction
//! saw which and looks for cycles: G0, G1a-c, G-single, G2, and their real-time forms.

use std::sync::Arc;

use jepsen::elle::{MicroOp, Outcome, Transaction};
use jepsen::harness::{Completion, Recorder};
use parking_lot::Mutex;
use rand::Rng;
use redraft_net::resp::Frame;

use crate::client::{Outcome as Sent, SimClient};

/// The keys: `x0` ... `x5`.
pub const KEYS: u64 = 6;

/// The transactions of a run, as the checker takes them.
pub type AppendLog = Arc<Mutex<Vec<Transaction>>>;

/// The store key of key `key`.
pub fn key_name(key: u64) -> String {
    format!("x{key}")
}

/// One transaction of 1 to 4 random steps (a fifth of them a lone command without MULTI),
/// recorded into `log`. Elements are unique: `first_process`'s own range, counted by `appended`.
/// Returns whether its outcome is known.
pub async fn step(
    client: &mut SimClient,
    recorder: &Recorder,
    log: &AppendLog,
    process: u64,
    first_process: u64,
    appended: &mut u64,
    roll: f64,
) -> bool {
    let (ops, multi, pipelined) = {
        let mut rng = madsim::rand::thread_rng();
        let multi = roll >= 0.2;
        let size = if multi { rng.gen_range(1..=4) } else { 1 };
        let ops: Vec<MicroOp> = (0..size)
            .map(|_| {
                let key = rng.gen_range(0..KEYS);
                if rng.gen_bool(0.5) {
                    *appended += 1;
                    MicroOp::Append(key, (first_process + 1) * 1_000_000 + *appended)
                } else {
                    MicroOp::Read(key, None)
                }
            })
            .collect();
        (ops, multi, rng.gen_bool(0.5))
    };
    let invoke = recorder.now_ns();
    let (outcome, replies) = if multi {
        run_multi(client, &ops, pipelined).await
    } else {
        let reply = client.call(&request(&ops[0]).iter().map(Vec::as_slice).collect::<Vec<_>>()).await;
        match reply {
            Sent::Reply(Frame::Error(_)) | Sent::Lost(_) | Sent::NotSent(_) => {
                (outcome_of(&reply), Vec::new())
            }
            Sent::Reply(frame) => (Outcome::Ok, vec![frame]),
        }
    };
    let complete = recorder.now_ns();
    let transaction = Transaction { process, invoke, complete, outcome, ops: with_reads(ops, &replies) };
    log.lock().push(transaction);
    outcome != Outcome::Info
}

/// A read of every key in one transaction, for the checker's final view of each list; `true`
/// once it succeeded.
pub async fn final_read(client: &mut SimClient, recorder: &Recorder, log: &AppendLog, process: u64) -> bool {
    let ops: Vec<MicroOp> = (0..KEYS).map(|key| MicroOp::Read(key, None)).collect();
    let invoke = recorder.now_ns();
    let (outcome, replies) = run_multi(client, &ops, true).await;
    let complete = recorder.now_ns();
    log.lock().push(Transaction { process, invoke, complete, outcome, ops: with_reads(ops, &replies) });
    outcome == Outcome::Ok
}

fn request(op: &MicroOp) -> Vec<Vec<u8>> {
    match op {
        MicroOp::Append(key, element) => {
            vec![b"APPEND".to_vec(), key_name(*key).into_bytes(), format!("{element},").into_bytes()]
        }
        MicroOp::Read(key, _) => vec![b"GET".to_vec(), key_name(*key).into_bytes()],
    }
}

/// MULTI, the steps, EXEC: the outcome, and on success EXEC's replies.
async fn run_multi(client: &mut SimClient, ops: &[MicroOp], pipelined: bool) -> (Outcome, Vec<Frame>) {
    let mut requests: Vec<Vec<Vec<u8>>> = vec![vec![b"MULTI".to_vec()]];
    requests.extend(ops.iter().map(request));
    requests.push(vec![b"EXEC".to_vec()]);
    let args: Vec<Vec<&[u8]>> = requests.iter().map(|r| r.iter().map(Vec::as_slice).collect()).collect();
    let exec = if pipelined {
        client.pipeline(&args).await.pop().expect("one outcome per request")
    } else {
        let mut last = Sent::Lost("not sent".into());
        for (i, request) in args.iter().enumerate() {
            last = client.call(request).await;
            // Lost before EXEC: the connection, and the transaction queued on it, is gone.
            if last.is_unanswered() && i + 1 < args.len() {
                return (Outcome::Fail, Vec::new());
            }
        }
        last
    };
    match exec {
        Sent::Reply(Frame::Array(replies)) => (Outcome::Ok, replies),
        other => (outcome_of(&other), Vec::new()),
    }
}

/// How a request that got no data reply ended.
fn outcome_of(sent: &Sent) -> Outcome {
    match sent.completion() {
        Completion::Ok => Outcome::Ok,
        Completion::Fail => Outcome::Fail,
        Completion::Info => Outcome::Info,
    }
}

/// `ops` with each read's list filled from its reply (`replies` holds one per step; none when
/// the transaction did not commit, and its reads stay unknown).
fn with_reads(ops: Vec<MicroOp>, replies: &[Frame]) -> Vec<MicroOp> {
    if replies.len() != ops.len() {
        return ops;
    }
    ops.into_iter()
        .zip(replies)
        .map(|(op, reply)| match op {
            MicroOp::Read(key, _) => MicroOp::Read(key, list_of(reply)),
            append => append,
        })
        .collect()
}

/// A GET reply as a list: absent is `None`. An element that does not parse (or a reply that is
/// no string) reads as element 0, which no client appends: the checker reports it as garbage.
fn list_of(reply: &Frame) -> Option<Vec<u64>> {
    match reply {
        Frame::Null => None,
        Frame::Bulk(bytes) => Some(
            bytes
                .split(|b| *b == b',')
                .filter(|part| !part.is_empty())
                .map(|part| std::str::from_utf8(part).ok().and_then(|s| s.parse().ok()).unwrap_or(0))
                .collect(),
        ),
        _ => Some(vec![0]),
    }
}
