//! redraft's openraft type configuration: core's entries and their replies (one per client
//! write an entry carries), u64 node ids, the
//! [`NodeAddr`] every member is stored with, snapshots as files ([`SnapshotData`]), and our runtime. Every layer
//! that names an openraft type names it through [`TypeConfig`].

use openraft::Entry;
use redraft_core::{LogEntry, Reply};

use crate::addr::NodeAddr;
use crate::runtime::AliasRuntime;
use crate::snapshot_data::SnapshotData;

openraft::declare_raft_types!(
    /// redraft's openraft types: core's entries and replies, u64 node ids, our runtime.
    pub TypeConfig:
        D = LogEntry,
        R = Vec<Reply>,
        NodeId = u64,
        Node = NodeAddr,
        Entry = Entry<TypeConfig>,
        SnapshotData = SnapshotData,
        AsyncRuntime = AliasRuntime,
);
