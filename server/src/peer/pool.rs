//! The connections a node keeps to its peers ([`PeerPool`]), shared by Raft's RPCs and the
//! requests it forwards for its clients: the outgoing half of the peer protocol.
//!
//! A call takes a connection of its own (an idle one, or a new one), so calls never queue behind
//! one another; a connection goes back to the pool only after a call that got its answer, so one
//! that failed or timed out is closed. The pool sits in a `std::sync::Mutex`, because madsim's
//! `TcpStream` is not `Sync` and openraft requires the network to be.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use redraft_core::limits::PEER_IDLE_CONNECTIONS_MAX;
use redraft_net::peer::{Backoff, PeerAuth, PeerClient, PeerError, Route};

use super::message::{decode, encode, PeerRequest, PeerResponse};
use crate::clock::monotonic_now;

/// A node's connections to its peers.
pub struct PeerPool {
    auth: PeerAuth,
    /// This node's id: every frame it sends is from it.
    from: u64,
    idle: Mutex<BTreeMap<String, Vec<PeerClient>>>,
    /// The newest membership index at which a peer said this node is not a member (0: none). A
    /// node removed before it received the entry that removes it learns it this way.
    not_member_at: AtomicU64,
    /// Per address, when calls may be tried again after one failed. Without it, a peer that
    /// stopped answering (paused, partitioned, its accept queue behind) would get a new
    /// connection for every heartbeat openraft sends, each abandoned at its timeout, and the pile
    /// of dead connections would keep it behind after it recovers. A call that timed out waits
    /// only the first interval ([`Backoff::timed_out`]): the timeout itself spaces the attempts.
    backoff: Mutex<BTreeMap<String, Backoff>>,
}

/// Why a call to a peer got no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Peer(#[from] PeerError),
    #[error("the address of node {to} is served by node {this_node}")]
    WrongNode { to: u64, this_node: u64 },
    #[error("the answer could not be read: {0}")]
    Undecodable(String),
    #[error("refused: {0}")]
    Refused(String),
    /// The caller stopped waiting: node `leader` stopped leading before it answered.
    #[error("node {leader} stopped leading before it answered")]
    LeaderChanged { leader: u64 },
}

impl CallError {
    /// Whether the request certainly did not reach the peer.
    pub fn certainly_not_sent(&self) -> bool {
        match self {
            CallError::Peer(error) => error.certainly_not_sent(),
            CallError::WrongNode { .. } | CallError::Refused(_) => true,
            CallError::Undecodable(_) | CallError::LeaderChanged { .. } => false,
        }
    }
}

impl PeerPool {
    pub fn new(auth: PeerAuth, from: u64) -> PeerPool {
        PeerPool {
            auth,
            from,
            idle: Mutex::new(BTreeMap::new()),
            not_member_at: AtomicU64::new(0),
            backoff: Mutex::new(BTreeMap::new()),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> u64 {
        self.from
    }

    /// Whether the last call to `addr` got no answer (it is backing off), for the cluster view.
    pub fn failing(&self, addr: &str) -> bool {
        lock(&self.backoff).contains_key(addr)
    }

    /// Sends `request` to node `to` at `addr` and waits up to `timeout` for the answer.
    ///
    /// # Errors
    /// [`CallError`], which says whether the request may have arrived.
    pub async fn call(
        &self,
        to: u64,
        addr: &str,
        request: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, CallError> {
        if let Some(retry_in) = lock(&self.backoff).get(addr).and_then(|b| b.wait_left(monotonic_now())) {
            return Err(CallError::Peer(PeerError::BackingOff { addr: addr.to_owned(), retry_in }));
        }
        let result = self.call_once(to, addr, request, timeout).await;
        match &result {
            // A slow answer is not a dead peer: the next call waits only the first interval (a
            // doubled wait on top of openraft's own backoff kept a leader silent toward a busy
            // follower past its election timeout).
            Err(CallError::Peer(PeerError::Timeout { .. })) => {
                lock(&self.backoff).entry(addr.to_owned()).or_default().timed_out(monotonic_now())
            }
            Err(CallError::Peer(_)) => {
                lock(&self.backoff).entry(addr.to_owned()).or_default().failed(monotonic_now())
            }
            _ => {
                lock(&self.backoff).remove(addr);
            }
        }
        result
    }

    /// [`PeerPool::call`] outside the address's backoff: neither held back by it nor counted in
    /// it. For a large append that takes its own long deadline (`append.rs`), which heartbeats
    /// timing out against a follower busy with it must not keep from being sent.
    pub async fn call_outside_backoff(
        &self,
        to: u64,
        addr: &str,
        request: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, CallError> {
        self.call_once(to, addr, request, timeout).await
    }

    async fn call_once(
        &self,
        to: u64,
        addr: &str,
        request: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, CallError> {
        let pooled = lock(&self.idle).get_mut(addr).and_then(Vec::pop);
        let mut client = pooled.unwrap_or_else(|| PeerClient::new(self.auth.clone(), addr.to_owned()));
        let route = Route { from: self.from, to };
        let response = client.call(route, &encode(&request), timeout).await?;
        let mut idle = lock(&self.idle);
        let kept = idle.entry(addr.to_owned()).or_default();
        if kept.len() < PEER_IDLE_CONNECTIONS_MAX {
            kept.push(client);
        }
        drop(idle);
        decode_response(to, &response)
    }

    /// A peer said this node is not in its membership as of `membership_index`.
    pub fn told_not_member(&self, membership_index: u64) {
        self.not_member_at.fetch_max(membership_index, Ordering::Relaxed);
    }

    /// The newest membership index at which a peer said this node is not a member; 0 if none did.
    pub fn not_member_at(&self) -> u64 {
        self.not_member_at.load(Ordering::Relaxed)
    }
}

/// Decodes a peer's answer to a message for node `to`, turning its refusals into errors.
fn decode_response(to: u64, bytes: &[u8]) -> Result<PeerResponse, CallError> {
    match decode(bytes) {
        Ok(PeerResponse::WrongNode { this_node }) => Err(CallError::WrongNode { to, this_node }),
        Ok(PeerResponse::Undecodable(why)) => Err(CallError::Undecodable(why)),
        Ok(PeerResponse::Refused(why)) => Err(CallError::Refused(why)),
        Ok(response) => Ok(response),
        Err(error) => Err(CallError::Undecodable(error.to_string())),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
