//! openraft's storage: the log store (on [`SegmentLog`]) and the state machine (core's
//! [`StateMachine`]), with the type configuration that ties them together.
//!
//! Durability follows DESIGN.md §2. Appends are buffered and handed to a flusher task; with the
//! `always` policy it syncs once for every append waiting at that moment (group commit) and only
//! then tells openraft the entries are durable. `everysec` and `no` report entries durable as soon
//! as they are written, a documented loss window: `everysec` syncs once a second, `no` leaves it
//! to the operating system. The vote and the purge point are always synced before the call
//! returns, after everything appended before them.
//!
//! Not written yet (the node issue goes on): snapshots are built in memory rather than streamed,
//! and are not yet rebuilt at a size threshold off the hot path.

// openraft's traits fix the error type, `StorageError`, whatever its size.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::io::{self, Cursor};
use std::ops::RangeBounds;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership, Vote,
};
use redraft_core::codec;
use redraft_core::snapshot::{write_snapshot, SnapshotReader};
use redraft_core::{Frozen, LogEntry, Reply, StateMachine};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Mutex};

use crate::disk::Disk;
use crate::log::{LogError, RecoveryReport, SegmentLog};
use crate::metrics::Metrics;
use crate::runtime::AliasRuntime;

/// Where a node can be reached.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    pub raft_addr: String,
    pub resp_addr: String,
}

/// Whether `text` is `host:port` with a non-empty host and a port number.
pub fn is_host_port(text: &str) -> bool {
    text.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

impl std::fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "raft {} resp {}", self.raft_addr, self.resp_addr)
    }
}

openraft::declare_raft_types!(
    /// redraft's openraft types: core's entries and replies, u64 node ids, our runtime.
    pub TypeConfig:
        D = LogEntry,
        R = Reply,
        NodeId = u64,
        Node = NodeAddr,
        Entry = Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = AliasRuntime,
);

/// When appended entries are synced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Before an entry counts as durable; many appends share one sync (group commit).
    #[default]
    Always,
    /// Once a second; up to a second of acknowledged writes can be lost in a crash.
    Everysec,
    /// Never explicitly; the operating system decides.
    No,
}

/// The format version of the log store's records and metadata.
const STORE_FORMAT_VERSION: u8 = 1;
const META_FILE: &str = "meta";
/// Appends that may wait for the flusher before `append` itself waits: a bound on memory.
const FLUSH_QUEUE_DEPTH: usize = 1024;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Meta {
    vote: Option<Vote<u64>>,
    last_purged: Option<LogId<u64>>,
}

struct LogInner<D: Disk> {
    log: SegmentLog<D>,
    meta: Meta,
}

/// openraft's log store. Clones share one log; the clone handed out as the log reader reads the
/// same in-memory entries.
pub struct LogStore<D: Disk + Clone> {
    inner: Arc<Mutex<LogInner<D>>>,
    disk: D,
    policy: FsyncPolicy,
    flush: mpsc::Sender<LogFlushed<TypeConfig>>,
}

impl<D: Disk + Clone> Clone for LogStore<D> {
    fn clone(&self) -> Self {
        LogStore {
            inner: self.inner.clone(),
            disk: self.disk.clone(),
            policy: self.policy,
            flush: self.flush.clone(),
        }
    }
}

/// Why the log store could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("the log's metadata file cannot be read: {0}")]
    Meta(String),
}

impl<D: Disk + Clone> LogStore<D> {
    /// Opens (recovering) the log on `disk` and starts its flusher task. `snapshot_index` is the
    /// last index of the snapshot the state machine loaded, if any.
    ///
    /// # Errors
    /// [`OpenError`] when the log is corrupt or unreadable.
    pub async fn open(
        disk: D,
        policy: FsyncPolicy,
        segment_bytes_max: u64,
        metrics: Arc<Metrics>,
        snapshot_index: Option<u64>,
    ) -> Result<(LogStore<D>, RecoveryReport), OpenError> {
        let meta: Meta = match disk.read(META_FILE) {
            Ok(bytes) => codec::decode_versioned(STORE_FORMAT_VERSION, &bytes)
                .map_err(|e| OpenError::Meta(format!("{META_FILE}: {e}")))?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => Meta::default(),
            Err(error) => return Err(OpenError::Meta(format!("{META_FILE}: {error}"))),
        };
        let covered = meta.last_purged.map(|id| id.index).max(snapshot_index);
        let (mut log, report) = SegmentLog::open(disk.clone(), segment_bytes_max, covered).await?;
        if let Some(purged) = meta.last_purged {
            log.purge(purged.index).await?;
        }
        let inner = Arc::new(Mutex::new(LogInner { log, meta }));
        let (flush, pending) = mpsc::channel(FLUSH_QUEUE_DEPTH);
        tokio::spawn(flusher(inner.clone(), pending, policy, metrics));
        Ok((LogStore { inner, disk, policy, flush }, report))
    }

    /// The bytes of log records held since the last purge.
    pub async fn held_bytes(&self) -> u64 {
        self.inner.lock().await.log.held_bytes()
    }

    async fn save_meta(&self, inner: &mut LogInner<D>) -> Result<(), io::Error> {
        // Everything appended before the vote or purge point becomes durable first, so that the
        // disk never holds a newer decision than the log it rests on.
        if let Err(error) = inner.log.sync().await {
            return Err(io::Error::other(error.to_string()));
        }
        let bytes = codec::encode_versioned(STORE_FORMAT_VERSION, &inner.meta);
        self.disk.replace(META_FILE, &bytes).await
    }
}

/// Syncs the log for every batch of appends waiting, then reports them durable (group commit).
async fn flusher<D: Disk>(
    inner: Arc<Mutex<LogInner<D>>>,
    mut pending: mpsc::Receiver<LogFlushed<TypeConfig>>,
    policy: FsyncPolicy,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::new();
    loop {
        let waited = match policy {
            FsyncPolicy::Everysec => {
                match tokio::time::timeout(Duration::from_secs(1), pending.recv()).await {
                    Ok(None) => return,
                    Ok(Some(_)) => unreachable!("everysec reports appends durable when written"),
                    Err(_) => {
                        let started = crate::node::monotonic_now();
                        let mut inner = inner.lock().await;
                        match inner.log.sync().await {
                            Ok(()) => metrics.observe_fsync(started.elapsed().as_secs_f64(), 0),
                            Err(error) => tracing::error!(%error, "log sync failed"),
                        }
                        metrics.log_bytes.set(inner.log.held_bytes() as i64);
                        continue;
                    }
                }
            }
            _ => pending.recv().await,
        };
        let Some(first) = waited else { return };
        batch.push(first);
        while let Ok(more) = pending.try_recv() {
            batch.push(more);
        }
        if crate::fault::buggify(0.05) {
            // Fault point: a slow sync, so appends pile up behind it.
            let delay = rand::Rng::gen_range(&mut crate::fault::rng(), 1..50);
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let started = crate::node::monotonic_now();
        // The fsync runs without the lock, so openraft keeps appending meanwhile and the next
        // batch gathers while this one syncs.
        let sync = {
            let mut inner = inner.lock().await;
            metrics.log_bytes.set(inner.log.held_bytes() as i64);
            inner.log.start_sync()
        };
        let result = sync.await.map_err(|e| io::Error::other(e.to_string()));
        match &result {
            Ok(()) => metrics.observe_fsync(started.elapsed().as_secs_f64(), batch.len()),
            Err(error) => tracing::error!(%error, "log sync failed; the appends waiting for it fail"),
        }
        for callback in batch.drain(..) {
            let result = match &result {
                Ok(()) => Ok(()),
                Err(error) => Err(io::Error::new(error.kind(), error.to_string())),
            };
            callback.log_io_completed(result);
        }
    }
}

fn decode_entry(payload: &Bytes) -> Result<Entry<TypeConfig>, StorageError<u64>> {
    codec::decode_versioned(STORE_FORMAT_VERSION, payload)
        .map_err(|e| StorageIOError::read_logs(AnyError::new(&e)).into())
}

impl<D: Disk + Clone> RaftLogReader<TypeConfig> for LogStore<D> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<u64>> {
        let inner = self.inner.lock().await;
        inner.log.read(range).map(|(_, payload)| decode_entry(payload)).collect()
    }
}

impl<D: Disk + Clone> RaftLogStorage<TypeConfig> for LogStore<D> {
    type LogReader = LogStore<D>;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let inner = self.inner.lock().await;
        let last = match inner.log.bounds() {
            Some((_, last)) => {
                let (_, payload) = inner.log.read(last..=last).next().expect("bounds name a held entry");
                Some(decode_entry(payload)?.log_id)
            }
            None => inner.meta.last_purged,
        };
        Ok(LogState { last_purged_log_id: inner.meta.last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock().await;
        inner.meta.vote = Some(*vote);
        self.save_meta(&mut inner).await.map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        Ok(self.inner.lock().await.meta.vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        {
            let mut inner = self.inner.lock().await;
            for entry in entries {
                let payload = codec::encode_versioned(STORE_FORMAT_VERSION, &entry);
                inner
                    .log
                    .append(entry.log_id.index, &payload)
                    .await
                    .map_err(|e| StorageIOError::write_log_entry(entry.log_id, AnyError::new(&e)))?;
            }
        }
        match self.policy {
            FsyncPolicy::Always => {
                if let Err(mpsc::error::SendError(callback)) = self.flush.send(callback).await {
                    callback.log_io_completed(Err(io::Error::other("the log flusher has stopped")));
                }
            }
            FsyncPolicy::Everysec | FsyncPolicy::No => callback.log_io_completed(Ok(())),
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock().await;
        inner
            .log
            .truncate(log_id.index)
            .await
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)).into())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock().await;
        inner.meta.last_purged = Some(log_id);
        self.save_meta(&mut inner).await.map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        inner.log.purge(log_id.index).await.map_err(|e| StorageIOError::write_logs(AnyError::new(&e)).into())
    }
}

/// openraft's state machine over core's [`StateMachine`], which readers share.
pub struct StateMachineStore<D: Disk + Clone> {
    state: Arc<StateMachine>,
    disk: D,
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, NodeAddr>,
    snapshot_count: u64,
    /// The state as of `last_applied`, frozen when openraft asked for a snapshot builder (between
    /// two applies); the builder serializes it later, in its own task, while applying goes on.
    frozen: Option<Frozen>,
}

const SNAPSHOT_FILE: &str = "snapshot";

impl<D: Disk + Clone> StateMachineStore<D> {
    /// Restores the newest snapshot on `disk`, if there is one, into `state`.
    ///
    /// # Errors
    /// The snapshot exists but cannot be read or is damaged.
    pub fn open(state: Arc<StateMachine>, disk: D) -> Result<StateMachineStore<D>, String> {
        let mut store = StateMachineStore {
            state,
            disk,
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot_count: 0,
            frozen: None,
        };
        match store.disk.read(SNAPSHOT_FILE) {
            Ok(bytes) => {
                store.load(&bytes).map_err(|e| format!("{SNAPSHOT_FILE}: {e}"))?;
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(format!("{SNAPSHOT_FILE}: {error}")),
        }
        Ok(store)
    }

    /// The shared state machine, for readers.
    /// The last index the loaded snapshot covers, if one was loaded.
    pub fn snapshot_index(&self) -> Option<u64> {
        self.last_applied.map(|id| id.index)
    }

    pub fn state(&self) -> &Arc<StateMachine> {
        &self.state
    }

    fn load(&mut self, bytes: &[u8]) -> Result<SnapshotMeta<u64, NodeAddr>, String> {
        let (header, frozen) =
            SnapshotReader::new(bytes).and_then(|r| r.read_all()).map_err(|e| e.to_string())?;
        let (last_applied, membership): (Option<LogId<u64>>, StoredMembership<u64, NodeAddr>) =
            codec::decode_versioned(STORE_FORMAT_VERSION, &header.membership).map_err(|e| e.to_string())?;
        self.state.install(frozen);
        self.last_applied = last_applied;
        self.membership = membership.clone();
        Ok(SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id: snapshot_id(last_applied, 0),
        })
    }

    async fn build(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        // Freezing now would capture entries applied after `last_applied`; a snapshot whose
        // state is ahead of its log id makes a restart apply those entries twice (found by the
        // simulator, seed 844535930, counter workload).
        let frozen = self.frozen.take().unwrap_or_else(|| self.state.freeze());
        // Blank and membership entries advance `last_applied` without touching the state.
        assert!(
            frozen.applied_index <= self.last_applied.map_or(0, |id| id.index),
            "a snapshot's state is ahead of its log id"
        );
        let extra =
            codec::encode_versioned(STORE_FORMAT_VERSION, &(self.last_applied, self.membership.clone()));
        let core_id = self.last_applied.map(|id| redraft_core::snapshot::LogId {
            term: id.leader_id.term,
            node_id: id.leader_id.node_id,
            index: id.index,
        });
        let bytes = write_snapshot(Vec::new(), &frozen, core_id, Bytes::from(extra))
            .map_err(|e| StorageIOError::write_snapshot(None, AnyError::new(&e)))?;
        self.disk
            .replace(SNAPSHOT_FILE, &bytes)
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, AnyError::new(&e)))?;
        self.snapshot_count += 1;
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id: snapshot_id(self.last_applied, self.snapshot_count),
        };
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) })
    }
}

fn snapshot_id(last: Option<LogId<u64>>, count: u64) -> String {
    match last {
        Some(id) => format!("{}-{}-{}-{count}", id.leader_id.term, id.leader_id.node_id, id.index),
        None => format!("empty-{count}"),
    }
}

impl<D: Disk + Clone> RaftSnapshotBuilder<TypeConfig> for StateMachineStore<D> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        self.build().await
    }
}

impl<D: Disk + Clone> RaftStateMachine<TypeConfig> for StateMachineStore<D> {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, NodeAddr>), StorageError<u64>> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Reply>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut replies = Vec::new();
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            replies.push(match entry.payload {
                EntryPayload::Blank => Reply::Ok,
                EntryPayload::Normal(request) => self.state.apply(entry.log_id.index, &request),
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), membership);
                    Reply::Ok
                }
            });
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // The builder shares the state machine; `build` freezes a consistent copy.
        StateMachineStore {
            state: self.state.clone(),
            disk: self.disk.clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            snapshot_count: self.snapshot_count,
            frozen: Some(self.state.freeze()),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, NodeAddr>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let bytes = snapshot.into_inner();
        let error = |e: String| StorageIOError::read_snapshot(None, AnyError::error(e));
        self.load(&bytes).map_err(error)?;
        self.disk
            .replace(SNAPSHOT_FILE, &bytes)
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, AnyError::new(&e)))?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        match self.disk.read(SNAPSHOT_FILE) {
            Ok(bytes) => {
                let reader = SnapshotReader::new(&bytes[..])
                    .map_err(|e| StorageIOError::read_snapshot(None, AnyError::error(e.to_string())))?;
                let (last_applied, membership): (Option<LogId<u64>>, StoredMembership<u64, NodeAddr>) =
                    codec::decode_versioned(STORE_FORMAT_VERSION, &reader.header().membership)
                        .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)))?;
                let meta = SnapshotMeta {
                    last_log_id: last_applied,
                    last_membership: membership,
                    snapshot_id: snapshot_id(last_applied, self.snapshot_count),
                };
                Ok(Some(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) }))
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(StorageIOError::read_snapshot(None, AnyError::new(&error)).into()),
        }
    }
}
