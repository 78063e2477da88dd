//! Wire formats and transports: the RESP2/RESP3 codec ([`resp`]); peer RPC framing and the client
//! library come with the node and cluster issues.
//!
//! Everything here that touches the network goes through the workspace's `tokio` alias, so the
//! simulator can replace it (DESIGN.md §5). Command semantics live in `redraft-core`, never here.

pub mod resp;
