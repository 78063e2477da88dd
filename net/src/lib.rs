//! Wire formats and transports: the RESP2/RESP3 codec, peer RPC framing and the client library.
//!
//! Empty until the node issue: the codec and transports land with the first node that uses them.
//! Everything here reaches the network through the workspace's `tokio` alias, so the simulator can
//! replace it (DESIGN.md §5). Command semantics live in `redraft-core`, never here.
