//! The Raft network of a node that has no peers yet.
//!
//! Every node is a Raft cluster, and a single node is a cluster of one (DESIGN.md §2): it elects
//! itself and never sends an RPC. The peer transport (length-prefixed frames over the tokio
//! alias's TCP) arrives with the cluster issue; until then any RPC a misconfigured membership
//! asks for fails as unreachable, which openraft retries and reports, and which never corrupts
//! anything.

use std::io;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use crate::store::{NodeAddr, TypeConfig};

/// The network of a cluster of one.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPeers;

fn unreachable<E: std::error::Error>(target: &str) -> RPCError<u64, NodeAddr, E> {
    let error =
        io::Error::new(io::ErrorKind::NotConnected, format!("no peer transport yet; cannot reach {target}"));
    RPCError::Unreachable(Unreachable::new(&error))
}

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = NoPeers;

    async fn new_client(&mut self, _target: u64, _node: &NodeAddr) -> NoPeers {
        NoPeers
    }
}

impl RaftNetwork<TypeConfig> for NoPeers {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        Err(unreachable("a peer for append-entries"))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64, InstallSnapshotError>>>
    {
        Err(unreachable("a peer for install-snapshot"))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        Err(unreachable("a peer for vote"))
    }
}
