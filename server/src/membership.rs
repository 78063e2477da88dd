//! A change to the cluster's membership, as a front end asks for it and a follower forwards it
//! to the leader (the node carries it out: `node/membership.rs`).

use serde::{Deserialize, Serialize};

use crate::addr::NodeAddr;

/// A change to the cluster's membership, made by the leader (and forwarded to it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Add a node as a learner, wait until it has caught up, then make it a voter if asked.
    Add { id: u64, addr: NodeAddr, voter: bool },
    /// Make a learner a voter.
    Promote { id: u64 },
    /// Remove a voter or a learner from the cluster.
    Remove { id: u64 },
}
