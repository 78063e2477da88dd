//! What every RESP connection shares: the node, the settings `CONFIG SET` changes, the client
//! registry and the counters INFO reports. Accepting connections is in [`super::listener`].

use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;

use redraft_core::limits::MAXCLIENTS_DEFAULT;
use redraft_net::resp::RequestLimits;

use super::clients::Clients;
use crate::node::Node;

/// Settings of the RESP front end; `CONFIG SET` changes the mutable ones at run time.
#[derive(Debug)]
pub struct RespSettings {
    pub maxclients: AtomicUsize,
    /// Largest bulk string a request may hold; applies to connections opened after a change.
    pub proto_max_bulk_len: AtomicUsize,
    /// The data directory, for `CONFIG GET dir` and INFO.
    pub data_dir: String,
}

impl Default for RespSettings {
    fn default() -> RespSettings {
        RespSettings {
            maxclients: AtomicUsize::new(MAXCLIENTS_DEFAULT),
            proto_max_bulk_len: AtomicUsize::new(RequestLimits::default().bulk_bytes_max),
            data_dir: String::new(),
        }
    }
}

/// What the server shares between connections.
pub struct RespServer {
    pub(super) node: Arc<Node>,
    pub(super) settings: RespSettings,
    pub(super) clients: Clients,
    /// Replies to commands over the whole run, for INFO stats.
    pub(super) commands_processed: AtomicU64,
    pub(super) started_ms: u64,
}

impl RespServer {
    /// A server for `node`.
    pub fn new(node: Arc<Node>, settings: RespSettings) -> Arc<RespServer> {
        let started_ms = node.now_ms();
        Arc::new(RespServer {
            node,
            settings,
            clients: Clients::default(),
            commands_processed: AtomicU64::new(0),
            started_ms,
        })
    }

    /// The node this server fronts.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }
}
