//! What every RESP connection shares: the node, the settings `CONFIG SET` changes, the client
//! registry and the counters INFO reports. Accepting connections is in [`super::listener`].

use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;

use redraft_core::limits::{CLIENT_OUTPUT_BUFFER_LIMIT_DEFAULT, MAXCLIENTS_DEFAULT};
use redraft_net::resp::RequestLimits;

use redraft_core::acl::Users;

use super::acl_log::AclLog;
use super::blocking::Blocked;
use super::clients::Clients;
use super::pubsub::Registry;
use crate::node::Node;

/// Settings of the RESP front end; `CONFIG SET` changes the mutable ones at run time.
#[derive(Debug)]
pub struct RespSettings {
    pub maxclients: AtomicUsize,
    /// Largest bulk string a request may hold; applies to connections opened after a change.
    pub proto_max_bulk_len: AtomicUsize,
    /// The data directory, for `CONFIG GET dir` and INFO.
    pub data_dir: String,
    /// Refuse clients from other hosts while the default user needs no password, as Redis's
    /// protected mode does.
    pub protected_mode: bool,
    /// The most bytes of replies a connection may have waiting at once (Redis's hard
    /// `client-output-buffer-limit` for normal clients); a pipeline whose replies would pass it
    /// closes the connection, before they are encoded. 0 for no limit.
    pub client_output_buffer_limit: usize,
    /// Redis's `aclfile`: where ACL SAVE writes the users and ACL LOAD reads them, and what a new
    /// cluster's users come from.
    pub aclfile: Option<std::path::PathBuf>,
}

impl Default for RespSettings {
    fn default() -> RespSettings {
        RespSettings {
            maxclients: AtomicUsize::new(MAXCLIENTS_DEFAULT),
            proto_max_bulk_len: AtomicUsize::new(RequestLimits::default().bulk_bytes_max),
            data_dir: String::new(),
            protected_mode: true,
            client_output_buffer_limit: CLIENT_OUTPUT_BUFFER_LIMIT_DEFAULT,
            aclfile: None,
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
    pub(super) acl_log: AclLog,
    /// The clients blocked in BLPOP and the like, in the order they blocked.
    pub(super) blocked: Blocked,
    /// The channels and patterns this node's clients subscribe to.
    pub(super) pubsub: Registry,
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
            acl_log: AclLog::default(),
            blocked: Blocked::default(),
            pubsub: Registry::default(),
        })
    }

    /// The users this node enforces, and their version.
    pub(super) fn users(&self) -> (u64, Arc<Users>) {
        self.node.users()
    }

    /// A number that changes whenever the users do.
    pub(super) fn users_version(&self) -> u64 {
        self.node.users_version()
    }

    /// Whether protected mode refuses a client at `peer`: it is on, the client is not on this
    /// host, and the default user needs no password.
    pub(super) fn protected_mode_refuses(&self, peer: std::net::SocketAddr) -> bool {
        self.settings.protected_mode
            && !peer.ip().is_loopback()
            && self.users().1.get(redraft_core::acl::DEFAULT_USER).is_some_and(|u| u.enabled && u.nopass)
    }

    /// The node this server fronts.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }
}
