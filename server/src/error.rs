//! Why a node did not answer a request with a reply ([`NodeError`]), sorted by what the client
//! does next, and the error text each kind becomes on RESP: its first word is one of the code
//! words of `redraft_net::code`, which every client reads back to tell a write that certainly
//! did not happen from one whose outcome is unknown (DESIGN.md §4).

use redraft_net::code::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::addr::NodeAddr;

/// Why a request was not answered with a reply; sorted by what the client does next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum NodeError {
    /// This node is not the leader, and the request certainly did not take effect: retry at the
    /// leader, if one is known.
    #[error("not the leader")]
    NotLeader { leader: Option<(u64, NodeAddr)> },
    /// The write may or may not have taken effect: the client must find out before retrying a
    /// non-idempotent write.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The request did not take effect and may be retried (no quorum answered, the node stops).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The request is wrong (a membership change that names no such node); it had no effect.
    #[error("{0}")]
    Invalid(String),
    /// This node was removed from the cluster: it serves no reads or writes until it is added
    /// again. The request had no effect.
    #[error("this node was removed from the cluster")]
    Removed { node_id: u64, membership_index: u64 },
}

impl NodeError {
    /// The error reply a Redis client sees.
    pub fn reply_text(&self) -> String {
        match self {
            NodeError::NotLeader { leader: Some((id, addr)) } => ErrorCode::NotLeader
                .reply(&format!("this node is not the leader; node {id} is, at {}", addr.resp_addr)),
            NodeError::NotLeader { leader: None } => {
                ErrorCode::ClusterDown.reply("no leader is elected yet; retry shortly")
            }
            NodeError::Unknown(why) => ErrorCode::Unknown.reply(&format!(
                "the write's outcome is unknown ({why}); it may or may not have been applied"
            )),
            NodeError::Unavailable(why) => ErrorCode::TryAgain.reply(why),
            NodeError::Invalid(why) => format!("ERR {why}"),
            NodeError::Removed { node_id, membership_index } => ErrorCode::Removed.reply(&format!(
                "node {node_id} was removed from the cluster (membership at log index \
                 {membership_index}); use another member, or add this node again with RAFT.ADD"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use redraft_net::code::{outcome_of, Outcome};

    use super::*;

    /// What a client reads back from each error's text is what the error means: only an unknown
    /// outcome may have been applied (DESIGN.md §4).
    #[test]
    fn each_error_reads_back_as_its_outcome() {
        let cases = [
            (NodeError::NotLeader { leader: Some((2, NodeAddr::default())) }, Outcome::NotApplied),
            (NodeError::NotLeader { leader: None }, Outcome::NotApplied),
            (NodeError::Unknown("timeout".into()), Outcome::Unknown),
            (NodeError::Unavailable("no quorum".into()), Outcome::NotApplied),
            (NodeError::Invalid("no such node".into()), Outcome::NotApplied),
            (NodeError::Removed { node_id: 3, membership_index: 9 }, Outcome::NotApplied),
        ];
        for (error, outcome) in cases {
            assert_eq!(outcome_of(&error.reply_text()), outcome, "{error:?}");
        }
        assert!(NodeError::NotLeader { leader: None }.reply_text().starts_with("CLUSTERDOWN "));
    }
}
