//! The peer port of a real `redraft-server` process, as an attacker who can reach it sees it:
//! hand-made frames must not take the node down.
#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)] // real processes on real time

mod common;

use std::time::Duration;

use common::{free_port, ServerProcess};
use openraft::{LogId, SnapshotMeta, StoredMembership, Vote};
use redraft_net::peer::{PeerAuth, PeerClient, Route};
use redraft_net::resp::Frame;
use redraft_server::peer::message::{decode, encode, PeerRequest, PeerResponse};

/// A chunk of snapshot `id` at `offset`, from a leader of a high term (so openraft would take it).
fn chunk(offset: u64, data: &[u8]) -> PeerRequest {
    PeerRequest::Snapshot(openraft::raft::InstallSnapshotRequest {
        vote: Vote::new_committed(1000, 9),
        meta: SnapshotMeta {
            last_log_id: Some(LogId::new(openraft::CommittedLeaderId::new(1000, 9), 10)),
            last_membership: StoredMembership::default(),
            snapshot_id: "forged".into(),
        },
        offset,
        data: data.to_vec(),
        done: false,
    })
}

/// Chunks that claim offsets far past what has arrived (1 GiB, 2^45) once made a node allocate
/// that much and abort; they are refused, and the node keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_chunks_past_what_has_arrived_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raft_addr = format!("127.0.0.1:{}", free_port());
    let server = ServerProcess::start(&dir.path().join("node"), &["--raft-addr", &raft_addr]);
    let mut client = PeerClient::new(PeerAuth::open("redraft".into()), raft_addr);
    let route = Route { from: 9, to: 1 };
    let mut answers = Vec::new();
    for request in [chunk(0, b"first bytes"), chunk(1 << 30, b"x"), chunk(1 << 45, b"y")] {
        let body = client.call(route, &encode(&request), Duration::from_secs(10)).await.expect("answered");
        answers.push(decode::<PeerResponse>(&body).expect("an answer"));
    }
    assert!(
        matches!(answers[0], PeerResponse::Snapshot(_)),
        "the first chunk goes to Raft: {:?}",
        answers[0]
    );
    for answer in &answers[1..] {
        match answer {
            PeerResponse::Refused(reason) => assert!(reason.contains("bytes of it have arrived"), "{reason}"),
            other => panic!("a chunk far past what arrived must be refused, got {other:?}"),
        }
    }
    assert_eq!(server.client().call(&["PING"]).expect("the node is up"), Frame::Simple("PONG".into()));
}
