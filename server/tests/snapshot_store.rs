//! The state-machine store's snapshot file: a build that finishes after a newer snapshot reached
//! the disk (a later build, or a leader's install, which share one guard) leaves the newer one in
//! place, so a restart never loads a state older than the log it kept; and no temporary file of a
//! replacement is left behind. A start loads a snapshot on two threads and installs exactly what
//! it holds, and one damaged near its end is refused.
#![cfg(not(madsim))]

use std::sync::Arc;

use bytes::Bytes;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};
use redraft_core::{Command, LogEntry, Payload, StateMachine, StateMachineConfig};
use redraft_server::metrics::Metrics;
use redraft_server::raft_types::TypeConfig;
use redraft_server::storage::file_disk::FileDisk;
use redraft_server::storage::state_machine_store::{SnapshotOpenError, StateMachineStore};

fn set(index: u64) -> Entry<TypeConfig> {
    set_key(index, "k")
}

fn set_key(index: u64, key: &str) -> Entry<TypeConfig> {
    let args: Vec<Bytes> =
        ["SET", key, &index.to_string()].iter().map(|a| Bytes::from(a.to_string())).collect();
    let command = Command::parse(&args).expect("a valid SET");
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(LogEntry::new(
            1_700_000_000_000 + index,
            Payload::Command { session: None, command },
        )),
    }
}

fn open(disk: &FileDisk) -> StateMachineStore<FileDisk> {
    let state = Arc::new(StateMachine::new(StateMachineConfig::default()));
    StateMachineStore::open(state, disk.clone(), Arc::new(Metrics::new()), Default::default())
        .expect("the snapshot loads")
}

/// Two builders taken at index 3 and 6 (the first pins the state, the second, finding the pin
/// held, copies it) finish in the wrong order: the file keeps index 6, and a restart loads it.
/// Before the guard the older build overwrote it.
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

    // The older build is read from its temporary file while openraft holds it, then removed.
    assert!(std::fs::read_dir(dir.path()).expect("lists").count() == 2, "the snapshot and the older build");
    drop((built, stale, current));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("lists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["snapshot"], "no temporary file is left");
}

/// A snapshot of more keys than the reading thread hands over at once loads at start with every
/// key, value and the state's digest as they were; the same file with one byte flipped near its
/// end (after many keys were installed) is refused, naming the file.
#[tokio::test]
async fn a_start_loads_every_key_and_refuses_a_snapshot_damaged_at_its_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = FileDisk::new(dir.path()).expect("dir");
    let state = Arc::new(StateMachine::new(StateMachineConfig::default()));
    let mut store =
        StateMachineStore::open(state.clone(), disk.clone(), Arc::new(Metrics::new()), Default::default())
            .expect("opens");
    let keys = 3 * redraft_core::snapshot_reader::KEY_CHUNK as u64 + 7;
    store.apply((1..=keys).map(|i| set_key(i, &format!("key:{i}")))).await.expect("applies");
    store.get_snapshot_builder().await.build_snapshot().await.expect("builds");
    let digest = state.freeze().digest();

    let loaded = Arc::new(StateMachine::new(StateMachineConfig::default()));
    let reopened =
        StateMachineStore::open(loaded.clone(), disk.clone(), Arc::new(Metrics::new()), Default::default())
            .expect("loads");
    assert_eq!(reopened.snapshot_index(), Some(keys));
    assert_eq!(loaded.freeze().keys.len() as u64, keys);
    assert_eq!(loaded.freeze().digest(), digest, "the loaded state is the one snapshotted");

    let path = dir.path().join("snapshot");
    let mut bytes = std::fs::read(&path).expect("reads");
    let near_end = bytes.len() - 40;
    bytes[near_end] ^= 0x20;
    std::fs::write(&path, &bytes).expect("writes");
    let state = Arc::new(StateMachine::new(StateMachineConfig::default()));
    let error = StateMachineStore::open(state.clone(), disk, Arc::new(Metrics::new()), Default::default())
        .err()
        .expect("a damaged snapshot is refused");
    match error {
        SnapshotOpenError::Damaged(problem) => assert!(problem.starts_with("snapshot: "), "{problem}"),
        other => panic!("a damaged snapshot is reported as damaged: {other}"),
    }
    assert_eq!(state.freeze().keys.len(), 0, "nothing of a refused snapshot stays installed");
}

/// A snapshot received from a leader lands in a temporary file and is checked whole before the
/// state is touched: one damaged near its end is refused and the follower keeps its keys and its
/// snapshot file; the same snapshot intact is installed and becomes the file.
#[tokio::test]
async fn a_received_snapshot_is_checked_whole_before_it_replaces_anything() {
    use tokio::io::AsyncWriteExt;

    let leader_dir = tempfile::tempdir().expect("tempdir");
    let mut leader = open(&FileDisk::new(leader_dir.path()).expect("dir"));
    let keys = 2 * redraft_core::snapshot_reader::KEY_CHUNK as u64;
    leader.apply((1..=keys).map(|i| set_key(i, &format!("key:{i}")))).await.expect("applies");
    let built = leader.get_snapshot_builder().await.build_snapshot().await.expect("builds");
    let bytes = std::fs::read(leader_dir.path().join("snapshot")).expect("reads");

    let dir = tempfile::tempdir().expect("tempdir");
    let disk = FileDisk::new(dir.path()).expect("dir");
    let state = Arc::new(StateMachine::new(StateMachineConfig::default()));
    let mut follower =
        StateMachineStore::open(state.clone(), disk.clone(), Arc::new(Metrics::new()), Default::default())
            .expect("opens");
    follower.apply((1..=2).map(set)).await.expect("applies");
    follower.get_snapshot_builder().await.build_snapshot().await.expect("builds");
    let before = state.freeze();

    let mut damaged = bytes.clone();
    let near_end = damaged.len() - 40;
    damaged[near_end] ^= 0x20;
    let mut receiving = follower.begin_receiving_snapshot().await.expect("begins");
    receiving.write_all(&damaged).await.expect("writes");
    follower.install_snapshot(&built.meta, receiving).await.expect_err("a damaged snapshot is refused");
    assert_eq!(state.freeze(), before, "the state is untouched");
    assert_eq!(follower.snapshot_index(), Some(2));

    let mut receiving = follower.begin_receiving_snapshot().await.expect("begins");
    receiving.write_all(&bytes).await.expect("writes");
    follower.install_snapshot(&built.meta, receiving).await.expect("installs");
    assert_eq!(state.freeze().keys.len() as u64, keys);
    assert_eq!(std::fs::read(dir.path().join("snapshot")).expect("reads"), bytes, "kept as the file");
    let names = std::fs::read_dir(dir.path()).expect("lists").count();
    assert_eq!(names, 1, "no temporary file is left");
}
