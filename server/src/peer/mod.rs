//! The peer floor: how a node talks to the other members, over the transport of
//! `redraft_net::peer` (frames that name the cluster and the route).
//!
//! - [`append`]: AppendEntries sized and timed for their bytes (large ones kept in flight);
//! - [`append_frame`]: an AppendEntries as it travels, its entries as the leader's log encoded them;
//! - [`message`]: what one node asks another and the answers (the frame's body);
//! - [`pool`]: the outgoing half, the connections kept to each peer and their backoff;
//! - [`raft_network`]: openraft's network over the pool;
//! - [`service`]: the incoming half, which answers a peer's frame through [`service::PeerService`],
//!   the calls the node offers its peers;
//! - [`snapshot_chunks`]: where a snapshot chunk from a peer may land.
//!
//! The node builds on this floor; nothing here names the node.

pub mod append;
pub mod append_frame;
pub mod message;
pub mod pool;
pub mod raft_network;
pub mod service;
pub mod snapshot_chunks;
