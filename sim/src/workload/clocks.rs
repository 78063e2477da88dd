//! The nodes' clocks around each read of the TTL workload, for the check of expiry against time
//! (`invariants/expiry.rs`): the serving node's clock and the leader's (with its term), before
//! and after the read, how many times each was skewed meanwhile, and the highest reading any
//! clock ever gave (no leader's stamp, and so no state-machine time, is later).

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use redraft_server::clock::Clock;
use redraft_server::node::Node;

use crate::clock::SimClock;

/// One node as the witness sees it.
pub struct Watched {
    pub addr: SocketAddr,
    pub clock: Arc<SimClock>,
    pub live: Arc<Mutex<Option<Arc<Node>>>>,
}

/// The clocks at one moment, as seen from node `node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockSample {
    /// The serving node's clock and its skew count.
    pub node_ms: u64,
    pub node_skews: u64,
    /// The leader then, if one node leads: its index, term, clock and skew count.
    pub leader: Option<(usize, u64, u64, u64)>,
    /// The highest reading any clock ever gave.
    pub highest_ms: u64,
}

/// A read of a TTL key and the clocks around it.
#[derive(Clone, Debug)]
pub struct TimedRead {
    pub key: String,
    /// When it was invoked, on the history's clock.
    pub invoked_ns: u64,
    pub before: ClockSample,
    pub after: ClockSample,
    /// Whether it returned the key (it completed `ok`).
    pub present: bool,
}

/// The nodes' clocks, and the TTL workload's reads.
pub struct ClockWitness {
    nodes: Vec<Watched>,
    pub reads: Mutex<Vec<TimedRead>>,
}

impl ClockWitness {
    pub fn new(nodes: Vec<Watched>) -> ClockWitness {
        ClockWitness { nodes, reads: Mutex::new(Vec::new()) }
    }

    /// The clocks now, as seen from the node at `addr`; `None` for an address of no node.
    pub fn sample(&self, addr: SocketAddr) -> Option<ClockSample> {
        let node = self.nodes.iter().position(|n| n.addr == addr)?;
        let leaders: Vec<(usize, u64)> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let live = n.live.lock();
                let node = live.as_ref().filter(|node| node.is_leader())?;
                Some((i, node.raft().metrics().borrow().current_term))
            })
            .collect();
        let leader = match leaders.as_slice() {
            [(i, term)] => Some((*i, *term, self.nodes[*i].clock.now_ms(), self.nodes[*i].clock.skews())),
            _ => None,
        };
        let watched = &self.nodes[node];
        Some(ClockSample {
            node_ms: watched.clock.now_ms(),
            node_skews: watched.clock.skews(),
            leader,
            highest_ms: self.nodes.iter().map(|n| n.clock.highest_ms()).max().unwrap_or(0),
        })
    }
}
