//! openraft's log store over the [`SegmentLog`]: entries as versioned bincode records, the vote
//! and the purge point in a metadata file, and durability per the [`FsyncPolicy`].
//!
//! Durability follows DESIGN.md §2. Appends are buffered; with `always` each append's callback
//! goes to the flusher (`flush.rs`), which syncs once for every append waiting (group commit) and
//! only then tells openraft the entries are durable. `everysec` and `no` report entries durable
//! as soon as they are written, a documented loss window: `everysec` syncs once a second, `no`
//! leaves it to the operating system. The vote and the purge point are always synced before the
//! call returns, after everything appended before them.

// openraft's traits fix the error type, `StorageError`, whatever its size.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote,
};
use redraft_core::limits::LOG_FLUSH_QUEUE_DEPTH;
use redraft_core::StateMachine;
use tokio::sync::{mpsc, Mutex};

use super::catch_up_marker::{write_catch_up_marker, CATCH_UP_MARKER};
use super::decoded_tail::DecodedTail;
use super::disk::Disk;
pub use super::entry_encoder::{decode_entry, encode_entry};
use super::entry_encoder::{write_count, EntryEncoder};
use super::flush::{sync_each_batch, sync_every_second};
use super::fsync::FsyncPolicy;
use super::log_inner::LogInner;
use super::meta_file::{open_meta, save_meta};
use super::segment_log::{Damage, LogError, OnDamage, RecoveryReport, SegmentLog};
use super::state_machine_store::SNAPSHOT_FILE;
use super::sync_thread::spawn_sync_loop;
use super::synced_mark::{Copy, SyncedMark, SYNCED_MARK_FILE};
use crate::metrics::Metrics;
use crate::raft_types::TypeConfig;

/// Entries read back at a time by [`LogStore::count_replayed_writes`].
const REPLAY_COUNT_CHUNK: u64 = 1024;

/// openraft's log store. Clones share one log; the clone handed out as the log reader reads the
/// same in-memory entries.
pub struct LogStore<D: Disk + Clone> {
    inner: Arc<Mutex<LogInner<D>>>,
    /// The last index reported durable (`synced_mark.rs`); lock order: `inner`, then this.
    mark: Arc<Mutex<SyncedMark<D>>>,
    /// The last entry openraft reported committed (`save_committed`), or at open the one the
    /// mark recorded, checked against the log; the sync loop records it with the mark.
    committed: Arc<std::sync::Mutex<Option<LogId<u64>>>>,
    disk: D,
    policy: FsyncPolicy,
    metrics: Arc<Metrics>,
    /// Appends waiting for a sync (the `always` policy only).
    flush: mpsc::Sender<LogFlushed<TypeConfig>>,
    /// The state machine the log is applied to: entries it has applied leave the decoded tail.
    applied_by: Arc<StateMachine>,
    /// The removal of the latest purge's files, which waits for the one before it (`purge`).
    removal: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl<D: Disk + Clone> Clone for LogStore<D> {
    fn clone(&self) -> Self {
        LogStore {
            inner: self.inner.clone(),
            mark: self.mark.clone(),
            committed: self.committed.clone(),
            disk: self.disk.clone(),
            policy: self.policy,
            metrics: self.metrics.clone(),
            flush: self.flush.clone(),
            applied_by: self.applied_by.clone(),
            removal: self.removal.clone(),
        }
    }
}

/// The id of the last entry in the log, or of the last one purged when it holds none.
fn last_log_id<D: Disk + Clone>(inner: &LogInner<D>) -> Result<Option<LogId<u64>>, StorageError<u64>> {
    match inner.log.bounds() {
        Some((_, last)) => {
            let payloads =
                inner.log.read(last..=last).map_err(|e| StorageIOError::read_logs(AnyError::new(&e)))?;
            let (_, payload) = payloads.first().expect("bounds name a held entry");
            Ok(Some(read_entry(payload)?.log_id))
        }
        None => Ok(inner.meta.last_purged),
    }
}

/// Whether the log no longer holds entries after the purge point `purged` that `snapshot`
/// covers: it starts later than the entry after `purged`, and no later than the entry after the
/// snapshot (a later start is a gap no snapshot explains, left to the log's own recovery).
fn entries_gone_behind<D: Disk>(
    log: &SegmentLog<D>,
    purged: Option<LogId<u64>>,
    snapshot: LogId<u64>,
) -> bool {
    let next = purged.map_or(0, |p| p.index + 1);
    log.bounds().is_some_and(|(first, _)| first > next && first <= snapshot.index + 1)
}

/// Appends to `log`, which ends at `log_end` (its last entry, or what the snapshot covers),
/// the entries after it that `copy` holds, the batch the synced mark was last raised for, and
/// syncs them; returns where the log ends then. The mark was written with the copy before the
/// log's flush, which made both durable (`synced_mark.rs`); a crash before that flush ended may
/// have kept the mark and not the batch, which this restores. It restores only a log that ends
/// within the copy or right before it: one that ends earlier lost more than the last batch.
async fn restore_from_copy<D: Disk>(
    log: &mut SegmentLog<D>,
    copy: Option<Copy>,
    log_end: u64,
) -> Result<u64, LogError> {
    // Appended only right after the log's last entry (or after the snapshot, to an empty log).
    let follows = log.bounds().is_none_or(|(_, last)| last == log_end);
    let Some(copy) =
        copy.filter(|copy| follows && copy.first().is_some_and(|&(first, _)| first <= log_end + 1))
    else {
        return Ok(log_end);
    };
    let mut restored = None;
    for (index, payload) in copy.into_iter().filter(|&(index, _)| index > log_end) {
        log.append(index, &payload).await?;
        restored = Some((restored.map_or(index, |(first, _)| first), index));
    }
    let Some((first, last)) = restored else { return Ok(log_end) };
    log.sync().await?;
    tracing::warn!(
        first,
        last,
        "the log ended before the synced mark; entries restored from the copy the mark holds"
    );
    Ok(last)
}

/// `committed`, the committed entry the synced mark recorded, if the log (or the snapshot, which
/// covers entries through `covered`) still holds it; else none, and openraft starts from the
/// snapshot as it does without one. The log can end before it after a synced write was lost
/// (the mark's damage, cut back to the intact prefix), and an entry there of another term would
/// be a log this node never wrote.
fn committed_in_log<D: Disk>(
    log: &SegmentLog<D>,
    committed: LogId<u64>,
    covered: u64,
) -> Result<Option<LogId<u64>>, LogError> {
    if committed.index <= covered {
        return Ok(Some(committed));
    }
    if !log.bounds().is_some_and(|(first, last)| (first..=last).contains(&committed.index)) {
        return Ok(None);
    }
    let held = log.read(committed.index..=committed.index)?;
    let same = held.first().and_then(|(_, payload)| decode_entry(payload).ok()).map(|e| e.log_id);
    Ok(same.filter(|&id| id == committed))
}

/// What the node above Raft asks of its log besides openraft's calls, without knowing the log's
/// disk.
pub trait NodeLog: Send + Sync {
    /// The id of the last entry appended (flushed or not); `None` for an empty log (the
    /// pre-vote compares logs as the real vote does).
    fn last_log_id(&self) -> Pin<Box<dyn Future<Output = Option<LogId<u64>>> + Send + '_>>;

    /// Returns once the files of every purge so far are removed (a stopping node waits, so that
    /// its next start does not read them again).
    fn removals_done(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

impl<D: Disk + Clone> NodeLog for LogStore<D> {
    fn last_log_id(&self) -> Pin<Box<dyn Future<Output = Option<LogId<u64>>> + Send + '_>> {
        Box::pin(async move { last_log_id(&*self.inner.lock().await).ok().flatten() })
    }

    fn removals_done(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let pending = self.removal.lock().expect("never poisoned: held for a take").take();
            if let Some(pending) = pending {
                let _ = pending.await;
            }
        })
    }
}

/// What opening the log store found and repaired.
#[derive(Debug, Default)]
pub struct StoreRecovery {
    /// The segments' recovery: a torn tail truncated, damage cut back to the intact prefix.
    pub segments: RecoveryReport,
    /// What was wrong with one copy of the metadata, if anything; the other one was used
    /// (`meta_file.rs`), and the next save rewrites both.
    pub meta_damage: Option<String>,
}

/// Why the log store could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("the log's metadata cannot be read: {0}")]
    Meta(String),
    #[error("the snapshot that entries up to {0} were purged behind is missing or damaged")]
    SnapshotLost(u64),
    #[error("cannot start the log's sync thread: {0}")]
    SyncLoop(io::Error),
}

impl<D: Disk + Clone> LogStore<D> {
    /// Opens (recovering) the log on `disk` and starts its sync loop. `snapshot` is the id of
    /// the last entry the snapshot the state machine loaded covers, if any; `applied_by` is the
    /// state machine the entries are applied to.
    ///
    /// # Errors
    /// [`OpenError`] when the log is corrupt or unreadable.
    pub async fn open(
        disk: D,
        policy: FsyncPolicy,
        segment_bytes_max: u64,
        metrics: Arc<Metrics>,
        snapshot: Option<LogId<u64>>,
        applied_by: Arc<StateMachine>,
        on_damage: OnDamage,
    ) -> Result<(LogStore<D>, StoreRecovery), OpenError> {
        let opened = open_meta(&disk).map_err(OpenError::Meta)?;
        let mut meta = opened.meta;
        let mut meta_sequence = opened.sequence;
        let snapshot_index = snapshot.map(|id| id.index);
        let covered = meta.last_purged.map(|id| id.index).max(snapshot_index);
        let (mut log, mut report) =
            SegmentLog::open_with(disk.clone(), segment_bytes_max, covered, on_damage).await?;
        // The entries up to the purge point live only in a snapshot; without it (it was damaged
        // and removed, `node/mod.rs`) the entries after it cannot be applied either.
        let snapshot_lost = meta.last_purged.filter(|p| snapshot_index.is_none_or(|s| s < p.index));
        match (snapshot_lost, on_damage) {
            (Some(purged), OnDamage::Refuse) => return Err(OpenError::SnapshotLost(purged.index)),
            (Some(purged), OnDamage::KeepPrefix) => {
                write_catch_up_marker(&disk)
                    .await
                    .map_err(|source| LogError::Io { file: CATCH_UP_MARKER.into(), source })?;
                let segments_removed = log.remove_all().await?;
                meta.last_purged = None;
                meta_sequence += 1;
                save_meta(&disk, &meta, meta_sequence).await.map_err(|e| OpenError::Meta(e.to_string()))?;
                report.damage = Some(Damage {
                    file: SNAPSHOT_FILE.into(),
                    offset: 0,
                    problem: format!(
                        "the snapshot that entries up to {} were purged behind is gone",
                        purged.index
                    ),
                    kept_through: None,
                    segments_removed,
                });
            }
            (None, _) => {
                if let Some(purged) = meta.last_purged {
                    log.purge(purged.index).await?;
                }
            }
        }
        if let Some(snapshot) = snapshot.filter(|&s| entries_gone_behind(&log, meta.last_purged, s)) {
            // The log dropped entries the snapshot covers at a gap (`segment_log.rs`) that
            // openraft had not purged (it keeps some behind a snapshot). The purge point must say
            // they are gone, or openraft looks for them (simulator seed 725553932).
            meta.last_purged = Some(snapshot);
            meta_sequence += 1;
            save_meta(&disk, &meta, meta_sequence).await.map_err(|e| OpenError::Meta(e.to_string()))?;
        }
        let mark_error = |source| LogError::Io { file: SYNCED_MARK_FILE.into(), source };
        let mut mark = SyncedMark::open(&disk).map_err(mark_error)?;
        mark.upgrade_layout().await.map_err(mark_error)?;
        let covered = meta.last_purged.map(|id| id.index).max(snapshot_index).unwrap_or(0);
        let mut log_end = log.bounds().map_or(covered, |(_, last)| last.max(covered));
        let copy = mark.take_copy();
        if policy == FsyncPolicy::Always && mark.index() > log_end && report.damage.is_none() {
            log_end = restore_from_copy(&mut log, copy, log_end).await?;
        }
        if policy == FsyncPolicy::Always && mark.index() > log_end && report.damage.is_none() {
            // Entries this node reported durable are gone: a write the disk acknowledged and lost.
            let problem = format!(
                "entries through {} were reported durable, but the log ends at {log_end}",
                mark.index()
            );
            if on_damage == OnDamage::Refuse {
                let problem = format!("{problem} (to start without them, remove {SYNCED_MARK_FILE})");
                return Err(OpenError::Log(LogError::Corrupt {
                    file: SYNCED_MARK_FILE.into(),
                    offset: 0,
                    problem,
                }));
            }
            write_catch_up_marker(&disk)
                .await
                .map_err(|source| LogError::Io { file: CATCH_UP_MARKER.into(), source })?;
            report.damage = Some(Damage {
                file: SYNCED_MARK_FILE.into(),
                offset: 0,
                problem,
                kept_through: log.bounds().map(|(_, last)| last),
                segments_removed: 0,
            });
        }
        // Only `always` keeps the mark; under the other policies acknowledged appends may be
        // unsynced by design, and a stale mark would raise a false alarm if `always` came back.
        let keep = if policy == FsyncPolicy::Always { log_end } else { 0 };
        mark.lower(keep).await.map_err(mark_error)?;
        let committed = match mark.committed() {
            Some(committed) if policy == FsyncPolicy::Always => {
                committed_in_log(&log, committed, covered).map_err(OpenError::Log)?
            }
            _ => None,
        };
        let committed = Arc::new(std::sync::Mutex::new(committed));
        metrics.log_bytes.set(log.held_bytes() as i64);
        metrics.log_cache_bytes.set(log.cached().1 as i64);
        let inner = Arc::new(Mutex::new(LogInner {
            log,
            decoded: DecodedTail::default(),
            meta,
            meta_sequence,
            sync_failed: None,
            encoder: EntryEncoder::default(),
        }));
        let mark = Arc::new(Mutex::new(mark));
        let (flush, pending) = mpsc::channel(LOG_FLUSH_QUEUE_DEPTH);
        match policy {
            FsyncPolicy::Always => {
                let flusher = sync_each_batch(
                    Arc::downgrade(&inner),
                    mark.clone(),
                    committed.clone(),
                    pending,
                    metrics.clone(),
                );
                spawn_sync_loop(flusher).map_err(OpenError::SyncLoop)?;
            }
            FsyncPolicy::Everysec => {
                tokio::spawn(sync_every_second(Arc::downgrade(&inner), metrics.clone()));
            }
            FsyncPolicy::No => {}
        }
        let recovery = StoreRecovery { segments: report, meta_damage: opened.damaged };
        let removal = Arc::default();
        let store = LogStore { inner, mark, committed, disk, policy, metrics, flush, applied_by, removal };
        Ok((store, recovery))
    }

    /// Hands `each` the index and the writes of every entry a start replays, oldest first: the
    /// committed entries after `applied`, which openraft applies before the node serves
    /// (`get_initial_state`), counted from their records' heads ([`write_count`]). None when
    /// the log does not know what was committed (only `--fsync always` records it): the entries
    /// apply after an election then.
    ///
    /// # Errors
    /// [`LogError`] when a record cannot be read back.
    pub async fn count_replayed_writes(
        &self,
        applied: Option<LogId<u64>>,
        mut each: impl FnMut(u64, usize),
    ) -> Result<(), LogError> {
        let committed = *self.committed.lock().expect("never poisoned: held for a copy");
        let Some(committed) = committed else { return Ok(()) };
        let inner = self.inner.lock().await;
        let mut first = applied.map_or(0, |id| id.index + 1);
        while first <= committed.index {
            // A chunk at a time: records not in memory are read back from their segment.
            let last = committed.index.min(first + REPLAY_COUNT_CHUNK - 1);
            for (index, payload) in inner.log.read(first..=last)? {
                // A record that does not decode fails the replay itself, which says why; counted
                // as none, it only makes the history start earlier.
                each(index, write_count(&payload).unwrap_or(0));
            }
            first = last + 1;
        }
        Ok(())
    }

    async fn save_meta(&self, inner: &mut LogInner<D>) -> Result<(), io::Error> {
        // Everything appended before the vote or purge point becomes durable first, so that the
        // disk never holds a newer decision than the log it rests on.
        if let Err(error) = inner.log.sync().await {
            return Err(io::Error::other(error.to_string()));
        }
        inner.meta_sequence += 1;
        save_meta(&self.disk, &inner.meta, inner.meta_sequence).await
    }
}

fn read_entry(payload: &Bytes) -> Result<Entry<TypeConfig>, StorageError<u64>> {
    decode_entry(payload).map_err(|e| StorageIOError::read_logs(AnyError::new(&e)).into())
}

impl<D: Disk + Clone> RaftLogReader<TypeConfig> for LogStore<D> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<u64>> {
        let inner = self.inner.lock().await;
        // The whole range is in the decoded tail when it is being applied or replicated fresh;
        // anything older is read back and decoded.
        let first = match range.start_bound() {
            Bound::Included(&index) => index,
            Bound::Excluded(&index) => index + 1,
            Bound::Unbounded => 0,
        };
        if let Some(first_kept) = inner.decoded.get(first) {
            let mut entries = vec![first_kept.clone()];
            let mut index = first + 1;
            while range.contains(&index) {
                match inner.decoded.get(index) {
                    Some(entry) => entries.push(entry.clone()),
                    None => break,
                }
                index += 1;
            }
            if !range.contains(&index) {
                return Ok(entries);
            }
        }
        let payloads = inner.log.read(range).map_err(|e| StorageIOError::read_logs(AnyError::new(&e)))?;
        payloads.iter().map(|(_, payload)| read_entry(payload)).collect()
    }
}

impl<D: Disk + Clone> RaftLogStorage<TypeConfig> for LogStore<D> {
    type LogReader = LogStore<D>;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let inner = self.inner.lock().await;
        let last = last_log_id(&inner)?;
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

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), StorageError<u64>> {
        // Not written here: the sync loop records it with the synced mark (`synced_mark.rs`).
        *self.committed.lock().expect("never poisoned: held for a copy") = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError<u64>> {
        Ok(*self.committed.lock().expect("never poisoned: held for a copy"))
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
            if let Some(why) = &inner.sync_failed {
                let error = format!("a sync of the log failed ({why}); it takes no more appends");
                return Err(StorageIOError::write_logs(AnyError::error(error)).into());
            }
            let applied = self.applied_by.applied_index();
            let LogInner { log, decoded, encoder, .. } = &mut *inner;
            for mut entry in entries {
                let encoded = encoder.encode(&entry);
                let own = encoded.own.clone();
                let payload = log
                    .append_parts(entry.log_id.index, &encoded.parts)
                    .await
                    .map_err(|e| StorageIOError::write_log_entry(entry.log_id, AnyError::new(&e)))?;
                // The entry learns its encoding from its record, which the log's cache holds: sent
                // to followers, it is copied from there; applied, its changes share it.
                if let (EntryPayload::Normal(data), Some(own)) = (&mut entry.payload, own) {
                    if data.encoding().is_none() {
                        data.set_encoding_placed(payload.slice(own), encoder.placed());
                    }
                }
                decoded.push(entry, payload.len(), applied);
            }
            encoder.trim();
            self.metrics.log_bytes.set(inner.log.held_bytes() as i64);
            self.metrics.log_cache_bytes.set(inner.log.cached().1 as i64);
        }
        match self.policy {
            FsyncPolicy::Always => {
                if let Err(mpsc::error::SendError(callback)) = self.flush.send(callback).await {
                    callback.log_io_completed(Err(io::Error::other("the log flusher has stopped")));
                }
            }
            FsyncPolicy::Everysec | FsyncPolicy::No => {
                callback.log_io_completed(Ok(()));
            }
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock().await;
        // The mark first: it must never claim entries the log dropped on purpose.
        self.mark
            .lock()
            .await
            .lower(log_id.index.saturating_sub(1))
            .await
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        inner.log.truncate(log_id.index).await.map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        inner.decoded.truncate(log_id.index);
        self.metrics.log_bytes.set(inner.log.held_bytes() as i64);
        self.metrics.log_cache_bytes.set(inner.log.cached().1 as i64);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock().await;
        inner.meta.last_purged = Some(log_id);
        self.save_meta(&mut inner).await.map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        // The files go on their own, so that openraft's core, which awaits this purge, does not
        // wait for them; the purge point is saved, so a crash before they are gone leaves files
        // that the next open purges. A stopping node waits for them (`NodeLog::removals_done`).
        let removal = inner.log.start_purge(log_id.index);
        inner.decoded.drop_through(log_id.index);
        self.metrics.log_bytes.set(inner.log.held_bytes() as i64);
        self.metrics.log_cache_bytes.set(inner.log.cached().1 as i64);
        let mut pending = self.removal.lock().expect("never poisoned: held for a swap");
        let previous = pending.take();
        *pending = Some(tokio::spawn(async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            if let Err(error) = removal.await {
                tracing::warn!(
                    %error,
                    "a purged log segment could not be removed; the next start removes it"
                );
            }
        }));
        Ok(())
    }
}
