//! openraft's state machine over core's [`StateMachine`] (which the node's readers share), and
//! its snapshots, which stream: one is built from the state pinned in place between two applies
//! (core's `pin.rs`: applying waits O(shards), not O(keys)) and written record by record to a
//! temporary file, which becomes the snapshot file once synced; a leader sends it from that file
//! chunk by chunk; a follower writes the chunks to a temporary file, reads it through once to
//! check every checksum, then installs it record by record (`snapshot_load.rs`) and keeps the
//! file. No step holds the whole snapshot in memory ([`SnapshotData`]). The node asks for a
//! snapshot when the log passes its size threshold (`node/duties.rs`); openraft's own policy
//! covers the entry-count threshold.

// openraft's traits fix the error type, `StorageError`, whatever its size.
#![allow(clippy::result_large_err)]

use std::io::{self, BufReader, BufWriter, Seek};
use std::sync::Arc;

use bytes::Bytes;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};
use redraft_core::codec;
use redraft_core::pin::{pin, PinBroken, PinnedState};
use redraft_core::snapshot::{write_snapshot, SnapshotError, SnapshotHeader};
use redraft_core::snapshot_reader::SnapshotReader;
use redraft_core::{Change, ChangeKind, Frozen, Reply, StateMachine};

use super::disk::{blocking, is_media_error, Disk};
use super::format::{STORE_FORMAT_VERSION, STORE_FORMAT_VERSIONS_READ};
use super::snapshot_load::read_and_install;
use crate::addr::NodeAddr;
use crate::change_feed::ChangeFeed;
use crate::metrics::Metrics;
use crate::raft_types::TypeConfig;
use crate::snapshot_data::SnapshotData;

/// openraft's state machine over core's [`StateMachine`], which readers share.
pub struct StateMachineStore<D: Disk + Clone> {
    state: Arc<StateMachine>,
    disk: D,
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, NodeAddr>,
    snapshot_count: u64,
    metrics: Arc<Metrics>,
    /// The state as of `last_applied`, pinned (or, when a pin is held already, frozen) when
    /// openraft asked for a snapshot builder, between two applies; the builder writes it later,
    /// in its own task, while applying goes on.
    source: Option<Source>,
    /// The last log index the snapshot file covers, shared by the store and its builders. Held
    /// while the file is replaced, so a build (in its own task) and an install never write it at
    /// once, and a build that finishes after a newer snapshot was installed (and the log purged
    /// behind it) does not put its older state back on disk, where a restart would miss the
    /// entries between the two.
    on_disk: Arc<tokio::sync::Mutex<Option<u64>>>,
    /// Where applied changes go, for watchers.
    feed: Arc<ChangeFeed>,
    /// Entries before this index apply without recording their changes for `feed`: the part of
    /// a start's replay whose changes the window would drop anyway ([`Self::record_history_from`]).
    history_from: u64,
}

/// The snapshot's file in the data directory.
pub const SNAPSHOT_FILE: &str = "snapshot";

/// Buffered between a snapshot being written or read and its file.
const SNAPSHOT_BUFFER_BYTES: usize = 1 << 20;

/// What a snapshot is written from.
enum Source {
    Pinned(PinnedState),
    Frozen(Frozen),
}

impl Source {
    /// The state as of now: pinned in place, or copied when a pin is held already (a second
    /// build while one is being written, which openraft does not start, or a backup).
    fn capture(state: &Arc<StateMachine>) -> Source {
        match pin(state) {
            Some(pinned) => Source::Pinned(pinned),
            None => Source::Frozen(state.freeze()),
        }
    }

    fn applied_index(&self) -> u64 {
        match self {
            Source::Pinned(pinned) => pinned.applied_index(),
            Source::Frozen(frozen) => frozen.applied_index,
        }
    }
}

impl<D: Disk + Clone> StateMachineStore<D> {
    /// Restores the newest snapshot on `disk`, if there is one, into `state`.
    ///
    /// # Errors
    /// The snapshot exists but is damaged (the state is left empty), or cannot be read.
    pub fn open(
        state: Arc<StateMachine>,
        disk: D,
        metrics: Arc<Metrics>,
        feed: Arc<ChangeFeed>,
    ) -> Result<StateMachineStore<D>, SnapshotOpenError> {
        let mut store = StateMachineStore {
            state,
            disk,
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot_count: 0,
            metrics,
            source: None,
            on_disk: Arc::default(),
            feed,
            history_from: 0,
        };
        match store.disk.open_snapshot(SNAPSHOT_FILE) {
            Ok(data) => {
                let input = BufReader::with_capacity(SNAPSHOT_BUFFER_BYTES, data);
                let header = read_and_install(&store.state, input).map_err(|e| match e {
                    SnapshotError::Io(error) if !is_media_error(&error) => {
                        SnapshotOpenError::Unreadable(format!("{SNAPSHOT_FILE}: {error}"))
                    }
                    damage => SnapshotOpenError::Damaged(format!("{SNAPSHOT_FILE}: {damage}")),
                })?;
                let (last_applied, membership) = membership_of(&header)
                    .map_err(|e| SnapshotOpenError::Damaged(format!("{SNAPSHOT_FILE}: {e}")))?;
                store.adopt(last_applied, membership);
                store.on_disk = Arc::new(tokio::sync::Mutex::new(store.snapshot_index()));
                store.feed.restart_after(store.state.applied_index());
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) if is_media_error(&error) => {
                return Err(SnapshotOpenError::Damaged(format!("{SNAPSHOT_FILE}: {error}")))
            }
            Err(error) => return Err(SnapshotOpenError::Unreadable(format!("{SNAPSHOT_FILE}: {error}"))),
        }
        Ok(store)
    }

    /// The last index the loaded snapshot covers, if one was loaded.
    pub fn snapshot_index(&self) -> Option<u64> {
        self.last_applied.map(|id| id.index)
    }

    /// The id of the last entry the loaded snapshot covers, if one was loaded.
    pub fn snapshot_log_id(&self) -> Option<LogId<u64>> {
        self.last_applied
    }

    /// Applies the entries before `index` without recording their changes for watchers: set
    /// before a start's replay to where the changes the window keeps begin
    /// (`change_feed::ReplayHistory`), the window then starting after the ones before.
    pub fn record_history_from(&mut self, index: u64) {
        self.history_from = index;
    }

    /// Takes the log id and membership of the snapshot just installed.
    fn adopt(
        &mut self,
        last_applied: Option<LogId<u64>>,
        membership: StoredMembership<u64, NodeAddr>,
    ) -> SnapshotMeta<u64, NodeAddr> {
        self.last_applied = last_applied;
        self.membership = membership.clone();
        SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id: snapshot_id(last_applied, 0),
        }
    }

    async fn build(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        // Capturing now would capture entries applied after `last_applied`; a snapshot whose
        // state is ahead of its log id makes a restart apply those entries twice (found by the
        // simulator, seed 844535930, counter workload).
        let source = self.source.take().unwrap_or_else(|| Source::capture(&self.state));
        // Blank and membership entries advance `last_applied` without touching the state.
        assert!(
            source.applied_index() <= self.last_applied.map_or(0, |id| id.index),
            "a snapshot's state is ahead of its log id"
        );
        let write_error = |e: io::Error| StorageIOError::write_snapshot(None, AnyError::new(&e));
        let extra =
            codec::encode_versioned(STORE_FORMAT_VERSION, &(self.last_applied, self.membership.clone()));
        let core_id = self.last_applied.map(|id| redraft_core::snapshot::LogId {
            term: id.leader_id.term,
            node_id: id.leader_id.node_id,
            index: id.index,
        });
        let data = self.disk.new_snapshot(SNAPSHOT_FILE).map_err(write_error)?;
        // Seconds of work for millions of keys: off the async workers, which serve clients
        // meanwhile (with one CPU, the only worker).
        let written = blocking(move || {
            let mut data = data;
            let out = BufWriter::with_capacity(SNAPSHOT_BUFFER_BYTES, &mut data);
            let written = match source {
                Source::Pinned(pinned) => pinned.write(out, core_id, Bytes::from(extra)),
                Source::Frozen(frozen) => write_snapshot(out, &frozen, core_id, Bytes::from(extra)),
            };
            written.and_then(|out| out.into_inner().map_err(io::IntoInnerError::into_error))?;
            Ok(data)
        })
        .await;
        let mut data = match written {
            Ok(data) => data,
            Err(error) if error.get_ref().is_some_and(|e| e.is::<PinBroken>()) => {
                // A snapshot was installed meanwhile: it is newer, and on disk.
                tracing::info!("a snapshot build gave way to the snapshot installed while it ran");
                return match self.get_current_snapshot().await? {
                    Some(snapshot) => Ok(snapshot),
                    None => Err(write_error(error).into()),
                };
            }
            Err(error) => return Err(write_error(error).into()),
        };
        let index = self.snapshot_index().unwrap_or(0);
        let data = {
            let mut on_disk = self.on_disk.lock().await;
            match *on_disk {
                Some(newer) if newer >= index => {
                    tracing::info!(
                        index,
                        newer,
                        "a snapshot built at {index} is not kept: one at {newer} is on disk"
                    );
                    data.rewind().map_err(write_error)?;
                    data
                }
                _ => {
                    let kept = self.disk.keep_snapshot(data, SNAPSHOT_FILE).await.map_err(write_error)?;
                    *on_disk = Some(index);
                    kept
                }
            }
        };
        self.snapshot_count += 1;
        self.metrics.snapshots.inc();
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id: snapshot_id(self.last_applied, self.snapshot_count),
        };
        Ok(Snapshot { meta, snapshot: Box::new(data) })
    }
}

/// Why the snapshot on disk could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotOpenError {
    /// Its bytes are wrong (a checksum, a length, a record that does not decode) or the disk
    /// reports them lost (EIO): a node with peers fetches the state again from the leader.
    #[error("the snapshot is damaged: {0}")]
    Damaged(String),
    /// It cannot be opened or read for another reason (permissions, no descriptors left): an
    /// operator's matter, and nothing is removed.
    #[error("the snapshot cannot be read: {0}")]
    Unreadable(String),
}

/// What a snapshot's header records of Raft: the last applied log id and the membership.
pub(super) type SnapshotRaftState = (Option<LogId<u64>>, StoredMembership<u64, NodeAddr>);

/// The last applied log id and the membership a snapshot's header records.
pub(super) fn membership_of(header: &SnapshotHeader) -> Result<SnapshotRaftState, String> {
    codec::decode_any_version(STORE_FORMAT_VERSIONS_READ, &header.membership).map_err(|e| e.to_string())
}

fn snapshot_id(last: Option<LogId<u64>>, count: u64) -> String {
    match last {
        Some(id) => format!("{}-{}-{}-{count}", id.leader_id.term, id.leader_id.node_id, id.index),
        None => format!("empty-{count}"),
    }
}

impl<D: Disk + Clone> RaftSnapshotBuilder<TypeConfig> for StateMachineStore<D> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let started = crate::clock::monotonic_now();
        let built = self.build().await;
        self.metrics.snapshot_seconds.observe(started.elapsed().as_secs_f64());
        built
    }
}

impl<D: Disk + Clone> RaftStateMachine<TypeConfig> for StateMachineStore<D> {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, NodeAddr>), StorageError<u64>> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<Reply>>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut replies = Vec::new();
        let mut changes = Vec::new();
        let mut unrecorded = None;
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            let record = entry.log_id.index >= self.history_from;
            if !record {
                unrecorded = Some(entry.log_id.index);
            }
            replies.push(match entry.payload {
                EntryPayload::Blank => vec![Reply::Ok],
                EntryPayload::Normal(request) => {
                    self.state.apply_recording(entry.log_id.index, &request, record.then_some(&mut changes))
                }
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), membership);
                    vec![Reply::Ok]
                }
            });
        }
        if let Some(unrecorded) = unrecorded {
            // The window starts after them, as after a snapshot: it holds no gap.
            self.feed.restart_after(unrecorded);
        }
        if let Some(last) = self.last_applied {
            // Published messages and keyspace events go to subscribers, not into the watch
            // history of key changes. Most batches carry neither: no second list then.
            let is_message =
                |c: &Change| matches!(c.kind, ChangeKind::Message { .. } | ChangeKind::Event { .. });
            if changes.iter().any(is_message) {
                let (messages, changes): (Vec<Change>, Vec<Change>) =
                    changes.into_iter().partition(is_message);
                self.feed.publish(changes, last.index);
                self.feed.publish_messages(messages);
            } else {
                self.feed.publish(changes, last.index);
            }
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
            metrics: self.metrics.clone(),
            source: Some(Source::capture(&self.state)),
            on_disk: self.on_disk.clone(),
            feed: self.feed.clone(),
            history_from: self.history_from,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotData>, StorageError<u64>> {
        let data = self.disk.new_snapshot(SNAPSHOT_FILE);
        Ok(Box::new(data.map_err(|e| StorageIOError::write_snapshot(None, AnyError::new(&e)))?))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, NodeAddr>,
        snapshot: Box<SnapshotData>,
    ) -> Result<(), StorageError<u64>> {
        let error = |e: String| StorageIOError::read_snapshot(None, AnyError::error(e));
        let state = self.state.clone();
        // Off the async workers, as a build is.
        let installed = blocking(move || {
            let mut data = *snapshot;
            let damaged = |e: SnapshotError| io::Error::new(io::ErrorKind::InvalidData, e);
            // Checked whole before the state is touched: a damaged snapshot found halfway
            // through installing would leave the state empty.
            data.rewind()?;
            let reader = SnapshotReader::new(BufReader::with_capacity(SNAPSHOT_BUFFER_BYTES, &mut data));
            let (header, _) = reader.and_then(|r| r.read_in_chunks(drop)).map_err(damaged)?;
            let raft = membership_of(&header).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            data.rewind()?;
            read_and_install(&state, BufReader::with_capacity(SNAPSHOT_BUFFER_BYTES, &mut data))
                .map_err(damaged)?;
            Ok((raft, data))
        });
        let ((last_applied, membership), data) = installed.await.map_err(|e| error(e.to_string()))?;
        self.adopt(last_applied, membership);
        let mut on_disk = self.on_disk.lock().await;
        self.disk
            .keep_snapshot(data, SNAPSHOT_FILE)
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, AnyError::new(&e)))?;
        *on_disk = meta.last_log_id.map(|id| id.index);
        drop(on_disk);
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.feed.restart_after(self.state.applied_index());
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        let error = |e: String| StorageIOError::read_snapshot(None, AnyError::error(e));
        let mut data = match self.disk.open_snapshot(SNAPSHOT_FILE) {
            Ok(data) => data,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(error(e.to_string()).into()),
        };
        let reader = SnapshotReader::new(BufReader::new(&mut data)).map_err(|e| error(e.to_string()))?;
        let (last_applied, membership) = membership_of(reader.header()).map_err(error)?;
        drop(reader);
        data.rewind().map_err(|e| error(e.to_string()))?;
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id: snapshot_id(last_applied, self.snapshot_count),
        };
        Ok(Some(Snapshot { meta, snapshot: Box::new(data) }))
    }
}
