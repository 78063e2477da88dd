//! The clients of a run and the history they record (DESIGN.md §6), with the [`Recorder`] and the
//! outcome rules ([`Completion`]) the simulator uses too: registers read with GET, written with
//! SET and compared-and-set with `SET key value IFEQ expected`, or counters incremented with INCR
//! and read with GET. The append workload's transactions are [`super::append`]'s; its clients run
//! in the same loop.
//!
//! Each client is one process of the history at a time, talks to one node over one connection,
//! and issues its operations at its share of the run's rate. An operation whose outcome is
//! unknown (`info`) may still take effect at any later time, so, as Jepsen does, the client goes
//! on as a new process (its number plus the concurrency).
//!
//! Client i belongs to node i modulo the number of nodes, so every node keeps its share of the
//! clients whatever the faults. When its connection fails (the node is down, paused or cut off)
//! the client spends a few seconds on another node, chosen at random, and then goes home.
//!
//! Keys rotate: a few keys are in use at a time, and after a fixed number of operations the
//! clients move on to fresh ones. This keeps every key's history short enough for the checker
//! however long the run, while a key's final value is still read at the end, so a write lost
//! after its key was retired is caught all the same.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::append::{self, AppendState};
use super::ending::ending_of;
use super::resp::{Reply, RespClient};
use crate::harness::{Completion, Recorder};
use crate::history::{OpFunction, OpType};
use crate::ModelKind;

/// Register keys in use at once.
const REGISTER_KEYS_ACTIVE: u64 = 3;
/// Operations on one register key before the clients move on: enough that a key lives through
/// several faults (about 45 s at 200 ops/s), few enough that its search stays small (a key of
/// 3,000 operations with a few dozen `info` writes takes the checker milliseconds).
const REGISTER_OPS_PER_KEY: u64 = 3_000;
/// Operations on one counter before the clients move on; there is one counter at a time.
const COUNTER_OPS_PER_KEY: u64 = 5_000;
/// How long a client whose connection failed stays on another node before it goes home: long
/// enough for a killed node to restart or an election to finish, short against a run.
const AWAY_FROM_HOME: Duration = Duration::from_secs(3);
/// The first process number of the final reads, above any client's.
pub(super) const FINAL_READ_PROCESS: u64 = 1 << 32;

/// What the clients do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// GET, SET and SET IFEQ on a few keys at a time: a register per key.
    Register,
    /// INCR and GET on one key at a time: a counter per key.
    Counter,
    /// Transactions of APPENDs and GETs on a few keys at a time, checked as list-append
    /// histories ([`crate::elle`]).
    Append,
}

impl Workload {
    /// The name used in test names and the report.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::Counter => "counter",
            Workload::Append => "append",
        }
    }

    /// The model every key of the history is checked against for linearizability; `None` for
    /// the append workload, whose transactions the list-append checker takes instead.
    pub fn model(self) -> Option<ModelKind> {
        match self {
            Workload::Register => Some(ModelKind::Register),
            Workload::Counter => Some(ModelKind::Counter),
            Workload::Append => None,
        }
    }
}

/// A bulk string holding an integer, as JSON; a non-integer is kept as text, so the checker
/// reports it rather than the runner hiding it.
fn bulk_value(bytes: &[u8]) -> Value {
    let text = String::from_utf8_lossy(bytes);
    text.parse::<i64>().map_or_else(|_| Value::String(text.into_owned()), Value::from)
}

/// The keys of a register or counter run: which are in use now, and every key used, for the
/// final reads.
#[derive(Debug, Default)]
pub struct KeySpace {
    state: Mutex<KeyState>,
}

#[derive(Debug, Default)]
struct KeyState {
    invocations: u64,
    /// The last value written or about to be written; writes are unique across the run.
    last_value: i64,
    used: BTreeSet<String>,
}

impl KeySpace {
    /// No key used yet.
    pub fn new() -> Arc<KeySpace> {
        Arc::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeyState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The register for the next operation.
    fn pick_register(&self, rng: &mut StdRng) -> String {
        self.pick(|invocation| {
            let group = invocation / (REGISTER_OPS_PER_KEY * REGISTER_KEYS_ACTIVE);
            format!("r{}", group * REGISTER_KEYS_ACTIVE + rng.gen_range(0..REGISTER_KEYS_ACTIVE))
        })
    }

    /// The counter for the next operation.
    fn pick_counter(&self) -> String {
        self.pick(|invocation| format!("c{}", invocation / COUNTER_OPS_PER_KEY))
    }

    /// The key `rule` gives the next invocation, remembered as used.
    fn pick(&self, rule: impl FnOnce(u64) -> String) -> String {
        let mut state = self.lock();
        let invocation = state.invocations;
        state.invocations += 1;
        let key = rule(invocation);
        state.used.insert(key.clone());
        key
    }

    /// A value never written before.
    fn fresh_value(&self) -> i64 {
        let mut state = self.lock();
        state.last_value += 1;
        state.last_value
    }

    /// Every key used so far, in order.
    pub fn used(&self) -> Vec<String> {
        self.lock().used.iter().cloned().collect()
    }
}

/// Which node each client talks to, for the progress display: a glance shows whether the
/// clients are spread over the nodes.
#[derive(Debug)]
pub struct Placement {
    /// By client, the node's position.
    nodes: Mutex<Vec<usize>>,
    node_count: usize,
}

impl Placement {
    /// Client i on node i modulo `node_count`, as the clients start.
    pub fn new(clients: usize, node_count: usize) -> Arc<Placement> {
        Arc::new(Placement { nodes: Mutex::new((0..clients).map(|i| i % node_count).collect()), node_count })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<usize>> {
        self.nodes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, client: usize, node: usize) {
        self.lock()[client] = node;
    }

    /// How many clients each node has, by node position.
    pub fn per_node(&self) -> Vec<usize> {
        let mut counts = vec![0; self.node_count];
        for &node in self.lock().iter() {
            counts[node] += 1;
        }
        counts
    }
}

/// What every client of a run shares.
#[derive(Debug, Clone)]
pub struct ClientPlan {
    /// What the clients do.
    pub workload: Workload,
    /// The nodes' client addresses; client i starts on node i modulo their number.
    pub addrs: Vec<SocketAddr>,
    /// How many clients.
    pub concurrency: usize,
    /// Operations per second, over all clients.
    pub rate: f64,
    /// How long a client waits for a reply before it records `info`.
    pub timeout: Duration,
    /// The run's seed; each client's choices come from it.
    pub seed: u64,
    /// When the clients stop invoking.
    pub deadline: Instant,
    /// Where the clients are.
    pub placement: Arc<Placement>,
    /// The append workload's keys and transactions (unused by the other workloads).
    pub appends: Arc<AppendState>,
}

/// One client: invokes operations at its share of the rate until the deadline, then returns.
/// An operation in flight at the deadline is waited for (within the client's timeout).
pub async fn client_loop(index: usize, plan: ClientPlan, recorder: Arc<Recorder>, keys: Arc<KeySpace>) {
    let mut rng = StdRng::seed_from_u64(plan.seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let period = Duration::from_secs_f64(plan.concurrency as f64 / plan.rate);
    // Clients start spread over one period, so the load is even rather than in bursts.
    let mut next = Instant::now() + period.mul_f64(index as f64 / plan.concurrency as f64);
    let home = index % plan.addrs.len();
    let mut node = home;
    let mut client = RespClient::new(plan.addrs[node], plan.timeout);
    // While the client is away from its home node: until when.
    let mut away_until: Option<Instant> = None;
    let mut process = index as u64;
    // The last value this client saw in each key, for compare-and-set.
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    loop {
        tokio::time::sleep_until(next).await;
        let now = Instant::now();
        if now >= plan.deadline {
            return;
        }
        // A client that fell behind does not burst to catch up.
        next = (next + period).max(now);
        if away_until.is_some_and(|until| now >= until) {
            away_until = None;
            node = home;
            client = RespClient::new(plan.addrs[node], plan.timeout);
            plan.placement.set(index, node);
        }
        let (completion, connection_lost) = match plan.workload {
            Workload::Register => {
                let key = keys.pick_register(&mut rng);
                register_step(&mut client, &recorder, &keys, &mut rng, &mut seen, process, &key).await
            }
            Workload::Counter => {
                let key = keys.pick_counter();
                counter_step(&mut client, &recorder, &mut rng, process, &key).await
            }
            Workload::Append => append::step(&mut client, &recorder, &plan.appends, &mut rng, process).await,
        };
        if !completion.is_known() {
            process += plan.concurrency as u64;
        }
        if connection_lost {
            // The node may be down, paused or cut off: try another for a while, chosen at
            // random, then go home. Clients that only ever moved on drifted away from the
            // nodes the nemesis hit and piled up on the others (seven of ten on one node by the
            // end of a 5-minute run); moving to "the next" node was worse, as clients that
            // shared a node then moved together for good.
            node = other_node(&mut rng, node, plan.addrs.len());
            client = RespClient::new(plan.addrs[node], plan.timeout);
            plan.placement.set(index, node);
            away_until = Some(Instant::now() + AWAY_FROM_HOME);
        }
    }
}

/// A node other than `node`, uniformly (or `node` itself when it is the only one).
fn other_node(rng: &mut StdRng, node: usize, count: usize) -> usize {
    if count < 2 {
        return node;
    }
    (node + rng.gen_range(1..count)) % count
}

/// One register operation: 50% reads, 30% writes, 20% compare-and-set. Returns how it ended and
/// whether the connection failed.
async fn register_step(
    client: &mut RespClient,
    recorder: &Recorder,
    keys: &KeySpace,
    rng: &mut StdRng,
    seen: &mut BTreeMap<String, i64>,
    process: u64,
    key: &str,
) -> (Completion, bool) {
    let roll: f64 = rng.gen();
    if roll < 0.5 {
        let (completion, value, lost) = read(client, recorder, process, key, Value::Null).await;
        if let (Completion::Ok, Value::Number(n)) = (completion, &value) {
            if let Some(n) = n.as_i64() {
                seen.insert(key.to_owned(), n);
            }
        }
        return (completion, lost);
    }
    let value = keys.fresh_value();
    let text = value.to_string();
    if roll < 0.8 {
        recorder.op(process, OpType::Invoke, OpFunction::Write, key, json!(value));
        let result = client.call(&[b"SET", key.as_bytes(), text.as_bytes()]).await;
        let completion = match ending_of(&result, recorder) {
            Ok(_) => Completion::Ok,
            Err(completion) => completion,
        };
        if completion == Completion::Ok {
            seen.insert(key.to_owned(), value);
        }
        return (recorder.finish(process, OpFunction::Write, key, json!(value), completion), result.is_err());
    }
    // Compare against the value this client saw last, or else a guess among recent values.
    let expected = seen.get(key).copied().unwrap_or_else(|| rng.gen_range(1..=value.max(2) - 1));
    let pair = json!([expected, value]);
    recorder.op(process, OpType::Invoke, OpFunction::Cas, key, pair.clone());
    let result = client
        .call(&[b"SET", key.as_bytes(), text.as_bytes(), b"IFEQ", expected.to_string().as_bytes()])
        .await;
    let completion = match ending_of(&result, recorder) {
        // A null reply: the key did not hold `expected`, so nothing was written.
        Ok(Reply::Bulk(None)) => {
            recorder.tally("cas-not-equal".to_owned());
            Completion::Fail
        }
        Ok(_) => Completion::Ok,
        Err(completion) => completion,
    };
    if completion == Completion::Ok {
        seen.insert(key.to_owned(), value);
    }
    (recorder.finish(process, OpFunction::Cas, key, pair, completion), result.is_err())
}

/// One counter operation: 60% INCR by 1, 40% reads.
async fn counter_step(
    client: &mut RespClient,
    recorder: &Recorder,
    rng: &mut StdRng,
    process: u64,
    key: &str,
) -> (Completion, bool) {
    if rng.gen_bool(0.4) {
        let (completion, _, lost) = read(client, recorder, process, key, json!(0)).await;
        return (completion, lost);
    }
    recorder.op(process, OpType::Invoke, OpFunction::Incr, key, json!(1));
    let result = client.call(&[b"INCR", key.as_bytes()]).await;
    let completion = match ending_of(&result, recorder) {
        Ok(Reply::Integer(_)) => Completion::Ok,
        Ok(_) => Completion::Fail,
        Err(completion) => completion,
    };
    (recorder.finish(process, OpFunction::Incr, key, json!(1), completion), result.is_err())
}

/// A GET, recorded as a read; an absent key reads as `absent` (`null` for a register, 0 for a
/// counter). Returns how it ended, the value read (`null` unless `ok`) and whether the connection
/// failed.
async fn read(
    client: &mut RespClient,
    recorder: &Recorder,
    process: u64,
    key: &str,
    absent: Value,
) -> (Completion, Value, bool) {
    recorder.op(process, OpType::Invoke, OpFunction::Read, key, Value::Null);
    let result = client.call(&[b"GET", key.as_bytes()]).await;
    let (completion, value) = match ending_of(&result, recorder) {
        Ok(Reply::Bulk(None)) => (Completion::Ok, absent),
        Ok(Reply::Bulk(Some(bytes))) => (Completion::Ok, bulk_value(&bytes)),
        Ok(_) => (Completion::Fail, Value::Null),
        // A read changes nothing, so one that may or may not have happened is as good as failed;
        // `info` keeps the history honest all the same.
        Err(completion) => (completion, Value::Null),
    };
    recorder.finish(process, OpFunction::Read, key, value.clone(), completion);
    (completion, value, result.is_err())
}

/// Reads every key used once more, after the heal, so the checker sees the final state. A read
/// that does not end `ok` is tried again, on the next node, until `bound` has passed. Returns the
/// keys that could not be read.
pub async fn final_reads(
    model: ModelKind,
    keys: &[String],
    addrs: &[SocketAddr],
    recorder: &Recorder,
    timeout: Duration,
    bound: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + bound;
    let absent = match model {
        ModelKind::Register => Value::Null,
        ModelKind::Counter => json!(0),
    };
    let mut process = FINAL_READ_PROCESS;
    let mut node = 0;
    let mut client = RespClient::new(addrs[node], timeout);
    let mut unread = Vec::new();
    for key in keys {
        loop {
            let (completion, _, lost) = read(&mut client, recorder, process, key, absent.clone()).await;
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
                unread.push(key.clone());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    unread
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Integers come back as numbers; anything else as text, for the checker to report.
    #[test]
    fn bulk_values_are_integers_or_kept_as_text() {
        assert_eq!(bulk_value(b"42"), json!(42));
        assert_eq!(bulk_value(b"x"), json!("x"));
    }

    #[test]
    fn register_keys_rotate_and_every_key_is_remembered() {
        // The first group of operations uses the first three keys, the next group the next three.
        let keys = KeySpace::new();
        let mut rng = StdRng::seed_from_u64(1);
        let group = (REGISTER_OPS_PER_KEY * REGISTER_KEYS_ACTIVE) as usize;
        let first: BTreeSet<String> = (0..group).map(|_| keys.pick_register(&mut rng)).collect();
        assert_eq!(first, BTreeSet::from(["r0".to_owned(), "r1".to_owned(), "r2".to_owned()]));
        let second: BTreeSet<String> = (0..group).map(|_| keys.pick_register(&mut rng)).collect();
        assert_eq!(second, BTreeSet::from(["r3".to_owned(), "r4".to_owned(), "r5".to_owned()]));
        assert_eq!(keys.used(), vec!["r0", "r1", "r2", "r3", "r4", "r5"]);
        assert_eq!((keys.fresh_value(), keys.fresh_value()), (1, 2));
    }

    #[test]
    fn clients_that_lose_a_node_spread_over_the_others() {
        // From any node, the next is never the same one and every other node is chosen.
        let mut rng = StdRng::seed_from_u64(3);
        for node in 0..5 {
            let chosen: BTreeSet<usize> = (0..200).map(|_| other_node(&mut rng, node, 5)).collect();
            let others: BTreeSet<usize> = (0..5).filter(|&other| other != node).collect();
            assert_eq!(chosen, others);
        }
        assert_eq!(other_node(&mut rng, 0, 1), 0);
    }
}
