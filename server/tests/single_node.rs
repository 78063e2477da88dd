//! openraft over our storage on real files, as one node: it elects itself, writes go through the
//! log and are applied by core's state machine, a linearizable read sees them, and after a
//! restart (log replay, then a snapshot plus the log tail) every acknowledged write is back, what
//! was known committed applied before any election.
#![cfg(not(madsim))]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use openraft::{Config, Raft};
use redraft_core::{Command, LogEntry, Payload, Reply, StateMachine, StateMachineConfig};
use redraft_server::addr::NodeAddr;
use redraft_server::metrics::Metrics;
use redraft_server::peer::{pool::PeerPool, raft_network::PeerNetwork};
use redraft_server::raft_types::TypeConfig;
use redraft_server::storage::file_disk::FileDisk;
use redraft_server::storage::fsync::FsyncPolicy;
use redraft_server::storage::log_store::{LogStore, OpenError, StoreRecovery};
use redraft_server::storage::segment_log::OnDamage;
use redraft_server::storage::state_machine_store::StateMachineStore;

struct Node {
    raft: Raft<TypeConfig>,
    state: Arc<StateMachine>,
    metrics: Arc<Metrics>,
    log: LogStore<FileDisk>,
}

async fn start(dir: &Path) -> Node {
    start_with_segments_of(dir, 1 << 20).await
}

async fn start_with_segments_of(dir: &Path, segment_bytes: u64) -> Node {
    let config = Config {
        heartbeat_interval: 50,
        election_timeout_min: 150,
        election_timeout_max: 300,
        // Purge the log as soon as a snapshot covers it, so a restart must load the snapshot.
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Config::default()
    };
    let config = Arc::new(config.validate().expect("valid config"));
    let disk = FileDisk::new(dir).expect("data dir");
    let metrics = Arc::new(Metrics::new());
    let state = Arc::new(StateMachine::new(StateMachineConfig::default()));
    // The snapshot first, as a node opens them: the log needs to know what it covers.
    let machine = StateMachineStore::open(state.clone(), disk.clone(), metrics.clone(), Default::default())
        .expect("snapshot loads");
    let (log, _) = LogStore::open(
        disk,
        FsyncPolicy::Always,
        segment_bytes,
        metrics.clone(),
        machine.snapshot_log_id(),
        state.clone(),
        OnDamage::Refuse,
    )
    .await
    .expect("log opens");
    let kept = log.clone();
    let raft = Raft::new(
        1,
        config,
        PeerNetwork::new(
            std::sync::Arc::new(PeerPool::new(redraft_net::peer::PeerAuth::open("test".into()), 1)),
            redraft_core::limits::APPEND_DETACHED_BYTES_MIN,
        ),
        log,
        machine,
    )
    .await
    .expect("raft starts");
    Node { raft, state, metrics, log: kept }
}

fn command(args: &[&str]) -> Command {
    Command::parse(&args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect::<Vec<_>>())
        .expect("valid")
}

async fn write(node: &Node, args: &[&str]) -> Reply {
    let entry = LogEntry::new(1_000, Payload::Command { session: None, command: command(args) });
    let mut replies = node.raft.client_write(entry).await.expect("write commits").data;
    assert_eq!(replies.len(), 1, "one write, one reply: {replies:?}");
    replies.pop().expect("one reply")
}

async fn read(node: &Node, args: &[&str]) -> Reply {
    node.raft.ensure_linearizable().await.expect("still the leader");
    node.state.read(&command(args))
}

async fn wait_leader(node: &Node) {
    node.raft
        .wait(Some(Duration::from_secs(10)))
        .current_leader(1, "node 1 elects itself")
        .await
        .expect("a leader within the timeout");
}

/// A new single-node cluster in `dir`, elected, with `count` keys `k{i}` set to `i`.
async fn initialised_with_keys(dir: &Path, count: usize) -> Node {
    let node = start(dir).await;
    node.raft.initialize(BTreeMap::from([(1, NodeAddr::default())])).await.expect("initialise once");
    wait_leader(&node).await;
    for i in 0..count {
        assert_eq!(write(&node, &["SET", &format!("k{i}"), &i.to_string()]).await, Reply::Ok);
    }
    node
}

/// A fresh node initialises, writes, reads; after a restart the writes are back from the log;
/// after a snapshot and a restart, from the snapshot plus the log tail.
#[tokio::test]
async fn writes_survive_restart_through_log_and_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = initialised_with_keys(dir.path(), 20).await;
    assert_eq!(write(&node, &["INCR", "k3"]).await, Reply::Integer(4));
    assert_eq!(read(&node, &["GET", "k3"]).await, Reply::Bulk(Bytes::from_static(b"4")));
    let digest = node.state.freeze().digest();
    node.raft.shutdown().await.expect("shuts down");
    drop(node);

    let node = start(dir.path()).await;
    // The synced mark recorded what was committed (one write behind), so the log up to there is
    // applied as the node starts, before an election timeout has passed.
    assert_eq!(node.state.read(&command(&["GET", "k0"])), Reply::Bulk(Bytes::from_static(b"0")));
    wait_leader(&node).await;
    assert_eq!(read(&node, &["GET", "k3"]).await, Reply::Bulk(Bytes::from_static(b"4")));
    assert_eq!(node.state.freeze().digest(), digest, "the log replays to the same state");
    node.raft.trigger().snapshot().await.expect("snapshot requested");
    node.raft
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.snapshot.is_some() && m.purged.is_some(), "a snapshot is built and the log purged")
        .await
        .expect("snapshot within the timeout");
    assert_eq!(node.metrics.snapshots.get(), 1, "redraft_snapshots_total counts the snapshot built");
    assert_eq!(write(&node, &["SET", "after", "snapshot"]).await, Reply::Ok);
    node.raft.shutdown().await.expect("shuts down");
    drop(node);

    let node = start(dir.path()).await;
    wait_leader(&node).await;
    assert_eq!(read(&node, &["GET", "after"]).await, Reply::Bulk(Bytes::from_static(b"snapshot")));
    assert_eq!(read(&node, &["GET", "k19"]).await, Reply::Bulk(Bytes::from_static(b"19")));
    node.raft.shutdown().await.expect("shuts down");
}

/// A snapshot's purge removes the segments it covers off openraft's core, and a stopping node
/// waits for that (`NodeLog::removals_done`): then at most one segment file holds entries up to
/// the purge point (the one the first entry after it may share), and a restart serves every key.
#[tokio::test]
async fn a_purge_removes_the_segments_it_covers_and_a_stop_waits_for_it() {
    use redraft_server::storage::log_store::NodeLog;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start_with_segments_of(dir.path(), 256).await;
    node.raft.initialize(BTreeMap::from([(1, NodeAddr::default())])).await.expect("initialise once");
    wait_leader(&node).await;
    for i in 0..30 {
        assert_eq!(write(&node, &["SET", &format!("k{i}"), &i.to_string()]).await, Reply::Ok);
    }
    let segment_files = || {
        let mut firsts: Vec<u64> = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(|e| e.expect("entry").file_name().into_string().ok())
            .filter_map(|name| name.strip_suffix(".log").and_then(|n| n.parse().ok()))
            .collect();
        firsts.sort_unstable();
        firsts
    };
    assert!(segment_files().len() > 3, "small segments: {:?}", segment_files());
    node.raft.trigger().snapshot().await.expect("snapshot requested");
    let metrics = node
        .raft
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.purged.is_some(), "the log purged behind a snapshot")
        .await
        .expect("purged within the timeout");
    let purged = metrics.purged.expect("purged").index;
    node.raft.shutdown().await.expect("shuts down");
    node.log.removals_done().await;
    let left = segment_files();
    assert!(
        left.iter().filter(|&&first| first <= purged).count() <= 1,
        "purged through {purged}, segments left starting at {left:?}"
    );
    drop(node);

    let node = start(dir.path()).await;
    wait_leader(&node).await;
    assert_eq!(read(&node, &["GET", "k29"]).await, Reply::Bulk(Bytes::from_static(b"29")));
    assert_eq!(read(&node, &["GET", "k0"]).await, Reply::Bulk(Bytes::from_static(b"0")));
    node.raft.shutdown().await.expect("shuts down");
}

/// Opens the log of a stopped node's `dir` on its own, as if no snapshot lay under it.
async fn open_log(dir: &Path, on_damage: OnDamage) -> Result<(LogStore<FileDisk>, StoreRecovery), OpenError> {
    let disk = FileDisk::new(dir).expect("data dir");
    let state = Arc::new(StateMachine::new(StateMachineConfig::default()));
    LogStore::open(disk, FsyncPolicy::Always, 1 << 20, Arc::new(Metrics::new()), None, state, on_damage).await
}

/// The committed entry the synced mark recorded is dropped when the log no longer holds it (a
/// write the disk acknowledged and lost, cut back to the intact prefix): openraft would otherwise
/// look for entries that are gone to apply them, and the node would not start.
#[tokio::test]
async fn a_committed_entry_the_log_lost_is_not_reported() {
    use openraft::storage::RaftLogStorage;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = initialised_with_keys(dir.path(), 30).await;
    node.raft.shutdown().await.expect("shuts down");
    drop(node);

    let (mut log, _) = open_log(dir.path(), OnDamage::Refuse).await.expect("log opens");
    let committed = log.read_committed().await.expect("reads").expect("the mark recorded one");
    assert!(committed.index >= 20, "committed through {committed}, about the last write");
    drop(log);
    // The disk loses the second half of the segment.
    let segment = dir.path().join("00000000000000000000.log");
    let length = std::fs::metadata(&segment).expect("segment").len();
    std::fs::OpenOptions::new().write(true).open(&segment).expect("open").set_len(length / 2).expect("cut");

    let (mut log, recovery) =
        open_log(dir.path(), OnDamage::KeepPrefix).await.expect("log opens, keeping the prefix");
    assert!(recovery.segments.damage.is_some(), "the lost entries are damage");
    let last = log.get_log_state().await.expect("state").last_log_id.expect("entries left").index;
    assert!(last < committed.index, "the cut reaches below the committed entry ({last})");
    assert_eq!(log.read_committed().await.expect("reads"), None);
}

/// A restart counts the writes it is about to replay from the log's records: every committed
/// entry after what the snapshot applied, in order, a lone command one write, openraft's own
/// entries (membership, the leader's blank) none.
#[tokio::test]
async fn a_restart_counts_the_writes_it_replays() {
    use openraft::storage::RaftLogStorage;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = initialised_with_keys(dir.path(), 6).await;
    node.raft.shutdown().await.expect("shuts down");
    drop(node);

    let (mut log, _) = open_log(dir.path(), OnDamage::Refuse).await.expect("log opens");
    let committed = log.read_committed().await.expect("reads").expect("the mark recorded one").index;
    let mut all = Vec::new();
    log.count_replayed_writes(None, |index, writes| all.push((index, writes))).await.expect("counts");
    let expected: Vec<(u64, usize)> = (0..=committed).map(|index| (index, usize::from(index >= 2))).collect();
    assert_eq!(all, expected, "membership at 0, the blank at 1, the SETs after");
    assert!(committed >= 6, "committed through {committed}, about the last write");
    let applied = openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), 4);
    let mut after = Vec::new();
    log.count_replayed_writes(Some(applied), |index, writes| after.push((index, writes)))
        .await
        .expect("counts");
    assert_eq!(after, expected[5..]);
}
