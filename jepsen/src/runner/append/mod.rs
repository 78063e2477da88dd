//! The append workload (`jepsen run --workload append`), after Elle's list-append: each operation
//! is a transaction of one to four steps over the keys in use ([`keys`]), each step an APPEND of
//! a unique element (`APPEND append:<k> "<e>,"`) or a GET of the whole list, sent inside
//! MULTI/EXEC one command at a time or pipelined in one write, or alone as a single command
//! ([`exchange`]). Because every element is unique to its key and a read returns the whole list,
//! the reads tell which transaction saw which; at the end the list-append checker
//! ([`crate::elle`]) looks for dependency cycles and impossible reads (G0, G1a-c, G-single, G2,
//! their real-time forms, garbage and forked lists), and the run is written up by `conclude`.
//!
//! The clients are the other workloads' ([`super::workload::client_loop`]): the same rate,
//! nodes, timeouts and process numbering. Each transaction is recorded in the [`TransactionLog`]
//! with its invocation and completion times on the history's clock; the nemesis's actions stay
//! in `history.jsonl`.

mod conclude;
mod exchange;
mod keys;
mod log;
mod page;

use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use tokio::time::Instant;

pub(super) use self::conclude::conclude;
use self::exchange::Shape;
pub use self::keys::{key_name, AppendKeys};
pub use self::log::TransactionLog;
use super::resp::RespClient;
use crate::elle::{MicroOp, Outcome, Transaction};
use crate::harness::{Completion, Recorder};

/// The largest transaction.
const STEPS_MAX: usize = 4;
/// Keys read by one final transaction.
const FINAL_READ_KEYS: usize = 8;

/// What an append run's clients share: the keys and the transactions.
#[derive(Debug, Default)]
pub struct AppendState {
    /// The keys in use and the elements appended.
    pub keys: AppendKeys,
    /// Every transaction that ended.
    pub log: TransactionLog,
}

/// One transaction: a fifth are single commands, the rest MULTI/EXEC of 1 to 4 steps, half of
/// them pipelined; each step appends or reads, even odds, on a key in use chosen at random.
/// Returns how it ended and whether the connection failed.
pub async fn step(
    client: &mut RespClient,
    recorder: &Recorder,
    state: &AppendState,
    rng: &mut StdRng,
    process: u64,
) -> (Completion, bool) {
    let shape = match rng.gen_range(0..10) {
        0..=1 => Shape::Single,
        2..=5 => Shape::Multi,
        _ => Shape::Pipelined,
    };
    let size = if shape == Shape::Single { 1 } else { rng.gen_range(1..=STEPS_MAX) };
    let ops = (0..size)
        .map(|_| {
            let slot = rng.gen_range(0..keys::SLOTS);
            if rng.gen_bool(0.5) {
                let (key, element) = state.keys.allocate(slot);
                MicroOp::Append(key, element)
            } else {
                MicroOp::Read(state.keys.current(slot), None)
            }
        })
        .collect();
    run(client, recorder, state, process, ops, shape).await
}

/// Sends one transaction and records it; returns how it ended and whether the connection failed.
async fn run(
    client: &mut RespClient,
    recorder: &Recorder,
    state: &AppendState,
    process: u64,
    ops: Vec<MicroOp>,
    shape: Shape,
) -> (Completion, bool) {
    let invoke = recorder.now_ns();
    let ended = exchange::send(client, recorder, ops, shape).await;
    let complete = recorder.now_ns();
    let outcome = match ended.completion {
        Completion::Ok => Outcome::Ok,
        Completion::Fail => Outcome::Fail,
        Completion::Info => Outcome::Info,
    };
    state.log.record(Transaction { process, invoke, complete, outcome, ops: ended.ops });
    (ended.completion, ended.connection_lost)
}

/// Reads every key used once more, after the heal, so the checker sees each list's final state
/// (as processes from `first_process` on):
/// a few keys per transaction, each transaction tried again, on the next node, until it ends
/// `ok` or `bound` has passed. Returns the keys that could not be read.
pub async fn final_reads(
    state: &AppendState,
    addrs: &[SocketAddr],
    recorder: &Recorder,
    first_process: u64,
    timeout: Duration,
    bound: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + bound;
    let mut process = first_process;
    let mut node = 0;
    let mut client = RespClient::new(addrs[node], timeout);
    let mut unread = Vec::new();
    for chunk in state.keys.used().chunks(FINAL_READ_KEYS) {
        loop {
            let ops = chunk.iter().map(|&key| MicroOp::Read(key, None)).collect();
            let (completion, lost) = run(&mut client, recorder, state, process, ops, Shape::Pipelined).await;
            if completion == Completion::Ok {
                break;
            }
            if completion == Completion::Info {
                process += 1;
            }
            if lost || completion != Completion::Fail {
                node = (node + 1) % addrs.len();
                client = RespClient::new(addrs[node], timeout);
            }
            if Instant::now() >= deadline {
                unread.extend(chunk.iter().map(|&key| key_name(key)));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    unread
}
