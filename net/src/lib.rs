//! Wire formats and transports: the RESP2/RESP3 codec ([`resp`]), the peer transport
//! ([`peer`]: length-prefixed frames with a cluster id, a reconnecting client, an accept loop),
//! and the error code words every client acts on ([`code`]).
//!
//! Everything here that touches the network goes through the workspace's `tokio` alias, so the
//! simulator can replace it (DESIGN.md §5). Command semantics live in `redraft-core`, never here.

pub mod code;
pub mod peer;
pub mod resp;
