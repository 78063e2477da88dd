//! How to run a node ([`NodeOptions`]) and why one did not start ([`StartError`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use redraft_net::peer::auth::NONCE_BYTES;
use redraft_net::peer::{ClusterSecret, PeerAuth, PeerTls};

use crate::addr::NodeAddr;
use crate::storage::fsync::FsyncPolicy;
use crate::storage::log_store::OpenError;

/// How to run a node. [`NodeOptions::default`] is a single node with Raft timings for loopback.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub node_id: u64,
    pub addr: NodeAddr,
    /// Every peer frame names it; a node of another cluster is refused.
    pub cluster_id: String,
    /// When set, peers prove they hold it (`redraft_net::peer::auth`); one that does not is
    /// refused.
    pub cluster_secret: Option<ClusterSecret>,
    /// Mutual TLS with peers (`tls-cluster`); then a peer is answered only as the node its
    /// certificate names, and only while that node is a member (`peer/service.rs`).
    pub peer_tls: Option<Arc<PeerTls>>,
    /// The default user's password whenever the replicated rules give that user none
    /// (`node/users.rs`); `None` for none.
    pub requirepass: Option<String>,
    /// Commands that grow memory (Redis's `denyoom`) are refused while the process has more
    /// than this many bytes allocated, as Redis's `maxmemory` with `noeviction`; 0 for no limit.
    pub maxmemory: u64,
    /// The initial membership, set once when the log is pristine; empty for a cluster of one.
    pub peers: BTreeMap<u64, NodeAddr>,
    /// Start with an empty log and wait to be added by a cluster's leader instead of initialising
    /// a cluster.
    pub join: bool,
    pub fsync: FsyncPolicy,
    pub segment_bytes_max: u64,
    pub heartbeat_ms: u64,
    pub election_timeout_ms_min: u64,
    pub election_timeout_ms_max: u64,
    /// The leader lease for reads (`node/read_lease.rs`), on this node's monotonic clock; 0 (the
    /// default) confirms every read with a quorum. `--read-lease` sets
    /// [`safe_read_lease_ms`](super::safe_read_lease_ms) of the election timeout; anything
    /// longer is unsafe (the simulator sets it so to show that it catches the stale reads).
    pub read_lease_ms: u64,
    /// Build a snapshot after this many entries since the last one.
    pub snapshot_entry_count: u64,
    /// Build a snapshot when the log holds more than this many bytes.
    pub snapshot_log_bytes: u64,
    /// Entries kept in the log behind a snapshot, for followers that lag a little. An entry is a
    /// batch of up to `BATCH_WRITES_MAX` writes, so a few hundred cover a long lag; every entry
    /// kept is also replayed after a restart.
    pub snapshot_log_keep_count: u64,
    /// How long a leader waits for the answer to each chunk of a snapshot it sends. The answer to
    /// the last one comes once the follower has checked and installed the whole snapshot, which
    /// for millions of keys takes seconds (openraft's default is 200 ms, after which the leader
    /// started the transfer over, for ever).
    pub snapshot_install_timeout_ms: u64,
    /// Most changes the watch history window holds (`change_feed.rs`).
    pub watch_history_changes: usize,
    /// While keys with a TTL exist and nothing was proposed for this long, the leader proposes a
    /// time-advance entry, so that TTLs keep expiring at state-machine time (DESIGN.md §3).
    pub time_advance_idle_ms: u64,
    /// How often the leader looks for expired keys to remove (active expiry), and the period of
    /// the node's other background duties.
    pub duty_interval_ms: u64,
    /// How long a write may wait for its outcome before the client is told it is unknown.
    pub write_timeout_ms: u64,
    /// How long the leader waits for a membership change to commit (both of its steps, and a
    /// new node's catch-up, which can mean building and sending a snapshot) before answering
    /// that the outcome is unknown; never less than the write timeout.
    pub membership_timeout_ms: u64,
    /// How long a request waits for a leader to be elected before it is refused.
    pub leader_wait_ms: u64,
    pub shard_bits: u32,
    /// Appends and entries of at least this many bytes are "large": sent by a task of their own
    /// and kept in flight across openraft's timeouts (`peer/append.rs`), and the leader says it
    /// is alive while it writes one (`leader_contact.rs`). The simulator lowers it so that these
    /// paths run under its faults.
    pub large_append_bytes: usize,
    /// Keys the map's hash; random per process in production, fixed in simulation.
    pub hash_seed: u64,
}

impl Default for NodeOptions {
    fn default() -> NodeOptions {
        NodeOptions {
            node_id: 1,
            addr: NodeAddr::default(),
            cluster_id: CLUSTER_ID_DEFAULT.to_owned(),
            cluster_secret: None,
            peer_tls: None,
            requirepass: None,
            maxmemory: 0,
            peers: BTreeMap::new(),
            join: false,
            fsync: FsyncPolicy::Always,
            segment_bytes_max: crate::storage::segment_log::SEGMENT_BYTES_MAX_DEFAULT,
            heartbeat_ms: 100,
            election_timeout_ms_min: 300,
            election_timeout_ms_max: 600,
            read_lease_ms: 0,
            snapshot_entry_count: 100_000,
            snapshot_log_bytes: 256 * 1024 * 1024,
            snapshot_log_keep_count: 100,
            snapshot_install_timeout_ms: 60_000,
            watch_history_changes: crate::change_feed::WATCH_HISTORY_CHANGES_MAX,
            time_advance_idle_ms: 100,
            duty_interval_ms: 50,
            write_timeout_ms: 10_000,
            membership_timeout_ms: 60_000,
            leader_wait_ms: 3_000,
            shard_bits: redraft_core::limits::SHARD_BITS_DEFAULT,
            large_append_bytes: redraft_core::limits::APPEND_DETACHED_BYTES_MIN,
            hash_seed: 0,
        }
    }
}

/// The cluster id of a node that is not told one.
pub const CLUSTER_ID_DEFAULT: &str = "redraft";

impl NodeOptions {
    /// What this node's peer connections check: the cluster id and, when set, the secret and
    /// the peers' certificates.
    pub(crate) fn peer_auth(&self) -> PeerAuth {
        PeerAuth {
            cluster: self.cluster_id.as_str().into(),
            secret: self.cluster_secret.clone(),
            tls: self.peer_tls.clone(),
            nonce: peer_nonce,
        }
    }
}

/// A handshake nonce: from the operating system's entropy in production, from the seeded
/// generator in the simulator (`fault::rng`), so that a run replays from its seed.
fn peer_nonce() -> [u8; NONCE_BYTES] {
    rand::Rng::gen(&mut crate::fault::rng())
}

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Log(#[from] OpenError),
    #[error("the snapshot cannot be loaded: {0}")]
    Snapshot(String),
    #[error("invalid Raft configuration: {0}")]
    Config(String),
    #[error("Raft did not start: {0}")]
    Raft(String),
}
