//! What the clients do, and how they record it (DESIGN.md §6): each client is one process of the
//! history at a time and runs its workload until the deadline; at the end one more client reads
//! every key so the checker sees the final state. One file per workload:
//! [`register`], [`counter`], [`ttl`], [`transfer`], [`pipeline`], [`append`]; beside them, whatever the
//! workload, [`watch`]ers follow every change through the nodes' watch streams.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jepsen::harness::Recorder;
use rand::Rng;
use tokio::time::Instant;

use self::append::AppendLog;
use self::clocks::ClockWitness;
use crate::client::{SimClient, REQUEST_TIMEOUT};
use crate::config::Workload;

pub mod append;
pub mod clocks;
pub mod counter;
pub mod pipeline;
pub mod register;
pub mod transfer;
pub mod ttl;
pub mod watch;

/// What workloads record beside the history: the append workload's transactions, and the clocks
/// around the TTL workload's reads.
#[derive(Clone)]
pub struct SideLogs {
    pub appends: AppendLog,
    pub clocks: Arc<ClockWitness>,
}

/// One client: operations of `workload` until `deadline`, as process `first_process` and, after
/// each operation whose outcome is unknown, as the next process `stride` further on.
pub async fn client_loop(
    workload: Workload,
    first_process: u64,
    stride: u64,
    addr: SocketAddr,
    recorder: Arc<Recorder>,
    side: SideLogs,
    deadline: Instant,
) {
    let SideLogs { appends, clocks } = side;
    let mut client = SimClient::new(addr, REQUEST_TIMEOUT);
    let mut process = first_process;
    let mut sequence = 0i64;
    let mut appended = 0u64;
    let mut ttl_keys: Vec<String> = Vec::new();
    let mut own_key = pipeline::OwnKey::default();
    while crate::now() < deadline {
        sequence += 1;
        let roll: f64 = madsim::rand::thread_rng().gen();
        let known = match workload {
            Workload::Register => {
                register::step(&mut client, &recorder, process, first_process, sequence, roll).await
            }
            Workload::Counter => counter::step(&mut client, &recorder, process, roll).await,
            Workload::Ttl => {
                ttl::step(&mut client, &recorder, &clocks, addr, process, &mut ttl_keys, sequence, roll).await
            }
            Workload::Transfer => transfer::step(&mut client, &recorder, process, roll).await,
            Workload::Pipeline => {
                pipeline::step(&mut client, &recorder, process, first_process, &mut own_key, roll).await
            }
            Workload::Append => {
                append::step(&mut client, &recorder, &appends, process, first_process, &mut appended, roll)
                    .await
            }
        };
        if !known {
            // An operation with an unknown outcome may still take effect: Jepsen gives the client a
            // new process so that its later operations are not ordered after it.
            process += stride;
        }
        if client.take_refused() {
            tokio::time::sleep(REFUSED_PAUSE).await;
        }
    }
}

/// How long a client whose node refused the connection (it is down) waits before trying again.
const REFUSED_PAUSE: Duration = Duration::from_millis(50);

/// A reader: only reads of `workload`'s keys until `deadline`, one every [`READER_PAUSE`], as
/// process `first_process` and after each read with no answer the next process `stride` on.
/// Its reads never wait behind a write of its own, so it keeps reading from a node that can no
/// longer write (a leader cut off from its peers): where a stale read would show.
pub async fn reader_loop(
    workload: Workload,
    first_process: u64,
    stride: u64,
    addr: SocketAddr,
    recorder: Arc<Recorder>,
    deadline: Instant,
) {
    let mut client = SimClient::new(addr, REQUEST_TIMEOUT);
    let mut process = first_process;
    while crate::now() < deadline {
        let known = match workload {
            Workload::Register => {
                let key = register::KEYS[madsim::rand::thread_rng().gen_range(0..register::KEYS.len())];
                register::read(&mut client, &recorder, process, key).await
            }
            Workload::Counter | Workload::Pipeline => counter::read(&mut client, &recorder, process).await,
            Workload::Ttl | Workload::Transfer | Workload::Append => return,
        };
        if !known {
            process += stride;
        }
        tokio::time::sleep(READER_PAUSE).await;
    }
}

/// How long a reader waits between reads: often enough to land inside a stale lease, rarely
/// enough to keep the history small for the checker.
pub const READER_PAUSE: Duration = Duration::from_millis(40);

/// Reads every key once more, with certain outcomes, so the checker sees the final state. A read
/// that fails or gets no answer is tried again until `bound` has passed: a healed cluster may
/// still be electing, or a connection may still be waking from its partition.
pub async fn final_reads(
    workload: Workload,
    client: &mut SimClient,
    recorder: &Recorder,
    appends: &AppendLog,
    process: u64,
    bound: Duration,
) -> Result<(), String> {
    let deadline = crate::now() + bound;
    let keys: &[&str] = match workload {
        Workload::Register => &register::KEYS,
        Workload::Counter | Workload::Pipeline => &[counter::KEY],
        Workload::Transfer => &[transfer::KEY],
        Workload::Append => &["every key"],
        Workload::Ttl => &[],
    };
    for key in keys {
        loop {
            let done = match workload {
                Workload::Register => register::read(client, recorder, process, key).await,
                Workload::Counter | Workload::Pipeline => counter::read(client, recorder, process).await,
                Workload::Transfer => transfer::step(client, recorder, process, 1.0).await,
                Workload::Append => append::final_read(client, recorder, appends, process).await,
                Workload::Ttl => true,
            };
            if done {
                break;
            }
            if crate::now() >= deadline {
                return Err(format!("no final read of {key} succeeded within {bound:?} after healing"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}
