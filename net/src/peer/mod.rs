//! The peer transport: length-prefixed frames ([`frame`]: the cluster id and the route in the
//! header, an opaque body) over the tokio alias's TCP, so the same code runs on real sockets and
//! inside the simulator (DESIGN.md §5). A frame goes out in one write on a socket with
//! TCP_NODELAY: a length prefix written apart from its body costs ~100 ms per call on real
//! loopback (Nagle and delayed ACK), which the simulator cannot show.
//!
//! [`PeerClient`] (`client.rs`) keeps one connection to one address and calls over it; [`serve`]
//! (`server.rs`) accepts connections and answers each connection's requests in order with a
//! handler. Bodies are opaque here; the server decides what they encode. Who may speak is
//! checked two ways, either or both: with a cluster secret, each connection starts with a
//! handshake and every frame carries a tag ([`auth`]); with mutual TLS ([`tls`], production
//! only), each end shows a certificate from the cluster's CA that names its node, and every frame
//! a connection carries must come from that node. A peer that cannot prove itself is refused,
//! and the refusal is logged on both sides.

pub mod auth;
mod backoff;
mod client;
pub mod frame;
mod server;
mod stream;
pub mod tls;

use std::io;
use std::time::Duration;

pub use redraft_core::limits::CLUSTER_ID_BYTES_MAX;

pub use self::auth::{ClusterSecret, PeerAuth};
use self::auth::{Sealer, TAG_BYTES};
pub use self::backoff::Backoff;
pub use self::client::PeerClient;
use self::frame::encode_frame_with_room;
pub use self::frame::{
    encode_frame, parse_header, read_frame, Frame, FrameError, FrameHeader, HeaderParse, Route, KIND_HELLO,
    KIND_MESSAGE, KIND_REFUSED,
};
pub use self::server::serve;
pub use self::tls::{node_name, PeerTls};

/// How long a peer has, after it connects, to send its first frame (its handshake, or its first
/// request without a secret) whole; a connection that stays silent longer is closed.
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// Most peer connections a node serves at once; more are closed as they come, with a log line.
/// A cluster needs a few per peer (the pool keeps up to `PEER_IDLE_CONNECTIONS_MAX` idle).
pub const PEER_CONNECTIONS_MAX: usize = 1024;

/// Whether `id` can name a cluster in a peer frame: 1 to [`CLUSTER_ID_BYTES_MAX`] bytes.
///
/// # Errors
/// A sentence saying what a cluster id must be.
pub fn check_cluster_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > CLUSTER_ID_BYTES_MAX {
        return Err(format!("the cluster id must be 1 to {CLUSTER_ID_BYTES_MAX} bytes, not {}", id.len()));
    }
    Ok(())
}

/// Why a call got no response.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// No connection could be made; the request was certainly not delivered.
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    /// An earlier attempt failed moments ago; this one was not made.
    #[error("{addr} failed moments ago; retrying after {retry_in:?}")]
    BackingOff { addr: String, retry_in: Duration },
    /// The connection failed after the request may have been sent.
    #[error("connection to {addr} failed: {source}")]
    Io { addr: String, source: io::Error },
    /// No response arrived in time; the request may have been delivered.
    #[error("no response from {addr} within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    /// The peer belongs to another cluster, or refused us for another reason it states.
    #[error("{addr} refused: {reason}")]
    Refused { addr: String, reason: String },
    /// The TLS handshake failed: the peer's certificate is not from the cluster's CA or does not
    /// name the node this call is for, or the peer refused ours.
    #[error("TLS with {addr} failed: {source}")]
    Tls { addr: String, source: io::Error },
    /// The peer sent something that is not a frame of this protocol.
    #[error("{addr} broke the protocol: {reason}")]
    Protocol { addr: String, reason: String },
    /// The request is too large for a frame; it was not sent.
    #[error("a request to {addr} is too large to send: {source}")]
    TooLarge { addr: String, source: FrameError },
}

impl PeerError {
    /// Whether the request certainly did not reach the peer.
    pub fn certainly_not_sent(&self) -> bool {
        matches!(
            self,
            PeerError::Connect { .. }
                | PeerError::BackingOff { .. }
                | PeerError::Refused { .. }
                | PeerError::Tls { .. }
                | PeerError::TooLarge { .. }
        )
    }
}

/// Encodes a frame, with its tag when the connection has a key.
fn encode_sealed(
    kind: u8,
    cluster: &str,
    route: Route,
    body: &[u8],
    sealer: Option<&mut Sealer>,
) -> Result<Vec<u8>, FrameError> {
    let room = if sealer.is_some() { TAG_BYTES } else { 0 };
    let mut frame = encode_frame_with_room(kind, cluster, route, body, room)?;
    if let Some(sealer) = sealer {
        sealer.seal(&mut frame);
    }
    Ok(frame)
}

#[cfg(all(test, not(madsim)))]
mod tests;
