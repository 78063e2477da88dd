//! Blocking pops (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX): a blocked client waits
//! on the node it is connected to, and each time an applied entry may have given one of its keys
//! something to pop, it makes one attempt through the log (core's `BlockingPop`).
//!
//! - **Nothing goes to a client that stopped waiting.** Every attempt carries a deadline in
//!   state-machine time (the node's clock when the client blocked, plus its timeout): an attempt
//!   applied after it pops nothing. A client that disconnects stops attempting at once (the
//!   listener watches its socket while it is blocked). An attempt already in flight when it
//!   leaves still applies, as Redis's pop for a client whose connection drops as it is served.
//! - **Fair order.** Clients blocked on this node are served in the order they blocked, key by
//!   key, as Redis serves them: a client attempts only when no client that blocked before it
//!   waits on a key that now holds something for both. Clients on different nodes race through
//!   the log; the log orders them.
//! - **No wasted entries.** A client attempts only when its node's applied state shows one of
//!   its keys holding something; an attempt that loses a race answers nothing and waits again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use redraft_core::{Command, Reply, Write};
use tokio::sync::{watch, Notify};

use crate::clock::monotonic_now;
use crate::node::Node;

/// The clients blocked on this node, in the order they blocked.
#[derive(Default)]
pub struct Blocked {
    next_ticket: AtomicU64,
    /// Each blocked client's ticket and the keys it waits on.
    waiting: Mutex<BTreeMap<u64, Vec<Bytes>>>,
    /// Woken when a client stops waiting, so that the next may take its turn.
    turn: Notify,
}

impl Blocked {
    /// The number of clients blocked now (INFO's `blocked_clients`).
    pub fn len(&self) -> usize {
        self.waiting.lock().len()
    }

    fn enter(&self, keys: Vec<Bytes>) -> u64 {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        self.waiting.lock().insert(ticket, keys);
        ticket
    }

    fn leave(&self, ticket: u64) {
        self.waiting.lock().remove(&ticket);
        self.turn.notify_waiters();
    }

    /// Whether no client that blocked before `ticket` waits on one of `keys`.
    fn first_for(&self, ticket: u64, keys: &[Bytes]) -> bool {
        let waiting = self.waiting.lock();
        waiting.range(..ticket).all(|(_, theirs)| !theirs.iter().any(|key| keys.contains(key)))
    }
}

/// Takes a client out of the blocked set however its wait ends.
struct Ticket<'a> {
    blocked: &'a Blocked,
    ticket: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.blocked.leave(self.ticket);
    }
}

/// Runs a blocking pop for a client until it gets something, times out, or `left` says the
/// client has gone (its reply is then not sent).
pub async fn run(
    node: &Node,
    blocked: &Blocked,
    mut command: Command,
    left: &mut watch::Receiver<bool>,
) -> Reply {
    let Some((timeout_ms, _)) = command.blocking_mut() else { unreachable!("only blocking pops block") };
    let keys = source_keys(&command);
    // Every blocking pop answers a null array when it times out, BLMOVE too, as in Redis.
    let timed_out = Reply::NilArray;
    let deadline = (timeout_ms > 0).then(|| monotonic_now() + Duration::from_millis(timeout_ms));
    let deadline_ms = (timeout_ms > 0).then(|| node.now_ms().saturating_add(timeout_ms));
    // The first attempt, made before any waiting, serves the client whatever its timeout, as
    // Redis serves a key that holds something at once; later ones carry the deadline.
    let mut waited = false;
    let ticket = Ticket { blocked, ticket: blocked.enter(keys.clone()) };
    loop {
        let turn = blocked.turn.notified();
        tokio::pin!(turn);
        turn.as_mut().enable();
        if deadline.is_some_and(|at| monotonic_now() >= at) {
            return timed_out;
        }
        let mut applied = node.state().applied_index();
        let holding: Vec<Bytes> = keys.iter().filter(|key| holds_something(node, key)).cloned().collect();
        if !holding.is_empty() && blocked.first_for(ticket.ticket, &holding) {
            if let Some((_, slot)) = command.blocking_mut() {
                *slot = if waited { deadline_ms } else { None };
            }
            let write = Write::Command { session: None, command: command.clone() };
            match node.write(write).await {
                Ok(reply) if reply != timed_out => return reply,
                // Another node's client was served first: wait for what comes after.
                Ok(_) => applied = node.state().applied_index(),
                Err(error) => return Reply::Error(error.reply_text()),
            }
        }
        let sleep =
            tokio::time::sleep_until(deadline.unwrap_or_else(|| monotonic_now() + Duration::from_secs(3600)));
        waited = true;
        tokio::select! {
            _ = node.changes().wait_past(applied) => {}
            _ = turn => {}
            _ = sleep => {}
            _ = left.wait_for(|gone| *gone) => return timed_out,
        }
    }
}

/// The keys a blocking pop takes from (BLMOVE's destination is not waited on).
fn source_keys(command: &Command) -> Vec<Bytes> {
    let mut keys = Vec::new();
    command.for_each_key(|key| keys.push(key.clone()));
    if matches!(command.name().as_str(), "blmove" | "brpoplpush") {
        keys.truncate(1);
    }
    keys
}

/// Whether `key` exists in the node's applied state (a list or sorted set is never stored empty).
fn holds_something(node: &Node, key: &Bytes) -> bool {
    node.state().read(&Command::Exists { keys: vec![key.clone()] }) == Reply::Integer(1)
}
