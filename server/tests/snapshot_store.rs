//! The state-machine store's snapshot file: a build that finishes after a newer snapshot reached
//! the disk (a later build, or a leader's install, which share one guard) leaves the newer one in
//! place, so a restart never loads a state older than the log it kept; and no temporary file of a
//! replacement is left behind.
#![cfg(not(madsim))]

use std::sync::Arc;

use bytes::Bytes;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};
use redraft_core::{Command, LogEntry, Payload, StateMachine, StateMachineConfig};
use redraft_server::metrics::Metrics;
use redraft_server::raft_types::TypeConfig;
use redraft_server::storage::disk::FileDisk;
use redraft_server::storage::state_machine_store::StateMachineStore;

fn set(index: u64) -> Entry<TypeConfig> {
    let args: Vec<Bytes> =
        ["SET", "k", &index.to_string()].iter().map(|a| Bytes::from(a.to_string())).collect();
    let command = Command::parse(&args).expect("a valid SET");
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(LogEntry {
            stamp_ms: 1_700_000_000_000 + index,
            payload: Payload::Command { session: None, command },
        }),
    }
}

fn open(disk: &FileDisk) -> StateMachineStore<FileDisk> {
    let state = Arc::new(StateMachine::new(StateMachineConfig::default()));
    StateMachineStore::open(state, disk.clone(), Arc::new(Metrics::new())).expect("the snapshot loads")
}

/// Two builders frozen at index 3 and 6 finish in the wrong order: the file keeps index 6, and a
/// restart loads it. Before the guard the older build overwrote it.
#[tokio::test]
async fn an_older_snapshot_never_replaces_a_newer_one_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = FileDisk::new(dir.path()).expect("dir");
    let mut store = open(&disk);
    store.apply((1..=3).map(set)).await.expect("applies");
    let mut older = store.get_snapshot_builder().await;
    store.apply((4..=6).map(set)).await.expect("applies");
    let mut newer = store.get_snapshot_builder().await;

    let built = newer.build_snapshot().await.expect("builds");
    assert_eq!(built.meta.last_log_id.map(|id| id.index), Some(6));
    let stale = older.build_snapshot().await.expect("builds");
    assert_eq!(stale.meta.last_log_id.map(|id| id.index), Some(3), "the older build is still returned");

    let current = store.get_current_snapshot().await.expect("reads").expect("a snapshot on disk");
    assert_eq!(current.meta.last_log_id.map(|id| id.index), Some(6), "the newer snapshot stays on disk");
    assert_eq!(open(&disk).snapshot_index(), Some(6), "a restart loads the newer snapshot");

    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("lists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["snapshot"], "no temporary file is left");
}
