//! The durable Raft log: segment files of core's records (`[len][crc32c][payload]`), one record
//! per entry, on the [`Disk`] seam (DESIGN.md §2).
//!
//! A segment is named by the index of its first entry (`00000000000000000042.log`); the newest
//! segment takes appends and a new one starts when it passes `segment_bytes_max`. Each record's
//! payload is the entry's log index (8 bytes, little endian) followed by the caller's bytes.
//!
//! Recovery reads the segments in order. Zeros after the last record are space the disk filled
//! ahead of appends (`file_disk.rs`, [`super::file_disk::PREALLOCATE_BYTES`]) and are cut without a word. A
//! torn tail in the last segment (a write cut short by a crash) is truncated, synced, and
//! reported. Anything else wrong (a record whose checksum fails before the end, a torn record in
//! a segment that has successors, a gap or overlap in indexes) is damage: the log keeps the
//! intact prefix before it, drops the rest (truncating that segment, removing later ones), and
//! reports it ([`Damage`]). The entries dropped may have been acknowledged, so the node does not
//! vote until it has them again from the leader (`node/catch_up.rs`); it never reorders or skips
//! an entry.
//!
//! The newest entries, up to [`LOG_CACHE_BYTES_MAX`], are also kept in memory, which covers the
//! entries being replicated and applied; an older one (a lagging follower's catch-up, a restart's
//! replay) is read back from its segment, its checksum checked again. What the log costs in
//! memory is therefore bounded whatever the time between snapshots: the cache and one position
//! per entry. Durability and when to sync (group commit, fsync policy) are the caller's:
//! `append` only buffers, `sync` makes everything so far durable.

use std::collections::BTreeMap;
use std::io;
use std::ops::RangeBounds;

use bytes::Bytes;
use redraft_core::limits::LOG_CACHE_BYTES_MAX;
use redraft_core::record::{
    decode_all, finish_record, start_record, CorruptRecord, Tail, RECORD_HEADER_BYTES,
};

use super::catch_up_marker::{write_catch_up_marker, CATCH_UP_MARKER};
use super::disk::{aside_if_large, is_media_error, Disk, LogFile};
pub use super::log_damage::{Damage, OnDamage, RecoveryReport};

/// Default size at which a segment is closed and a new one started.
pub const SEGMENT_BYTES_MAX_DEFAULT: u64 = 64 * 1024 * 1024;

const SEGMENT_SUFFIX: &str = ".log";
const INDEX_BYTES: usize = 8;

/// Why the log could not be opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log I/O failed on {file}: {source}")]
    Io { file: String, source: io::Error },
    #[error("corrupt log: {file} at offset {offset}: {problem}; refusing to start (restore the file or remove the node's data to resync it from peers)")]
    Corrupt { file: String, offset: u64, problem: String },
}

struct Segment {
    first_index: u64,
    name: String,
}

/// The log.
pub struct SegmentLog<D: Disk> {
    disk: D,
    /// Invariant: sorted by `first_index`; the last one is `active`'s.
    segments: Vec<Segment>,
    active: Option<D::File>,
    /// Whether a segment was created since the last sync (the directory needs syncing).
    dir_dirty: bool,
    /// Invariant: where the record of every entry from the first kept index on lies, contiguous:
    /// the first index of its segment, the record's offset, and its payload length.
    positions: BTreeMap<u64, Position>,
    /// Invariant: the payloads of a suffix of the entries in `positions` (the newest), within
    /// [`LOG_CACHE_BYTES_MAX`] bytes unless it holds only the newest entry.
    cache: BTreeMap<u64, Bytes>,
    /// Invariant: the payload bytes in `cache`.
    cached_bytes: usize,
    /// Invariant: the size on disk of the records in `positions`.
    held_bytes: u64,
    segment_bytes_max: u64,
    /// The index of the newest record in the active segment's file, live or not.
    last_written: Option<u64>,
}

/// Where an entry's record lies.
#[derive(Clone, Copy, Debug)]
struct Position {
    segment: u64,
    offset: u64,
    /// The caller's payload length (the record holds the index too).
    len: usize,
}

/// A record's size on disk for a payload of `len` bytes: length, checksum, index, payload.
fn record_bytes(len: usize) -> u64 {
    (RECORD_HEADER_BYTES + INDEX_BYTES + len) as u64
}

impl<D: Disk> SegmentLog<D> {
    /// Opens the log on `disk`, recovering what is there.
    ///
    /// # Errors
    /// [`LogError::Corrupt`] when the log cannot be trusted, [`LogError::Io`] when it cannot be
    /// read or repaired.
    ///
    /// `covered` is the newest index a snapshot or the purge point covers. Entries before a gap
    /// in the indexes are dropped when the entry after the gap is at most `covered + 1`: a node
    /// that installed a snapshot resumes appending after it (in a new segment), and may crash
    /// before the purge of the older entries is recorded. Any other gap is corruption.
    pub async fn open(
        disk: D,
        segment_bytes_max: u64,
        covered: Option<u64>,
    ) -> Result<(SegmentLog<D>, RecoveryReport), LogError> {
        SegmentLog::open_with(disk, segment_bytes_max, covered, OnDamage::KeepPrefix).await
    }

    /// [`SegmentLog::open`], with what to do about damage: keep the intact prefix, or refuse
    /// ([`LogError::Corrupt`], changing nothing) where no peer could give the rest back.
    ///
    /// # Errors
    /// As [`SegmentLog::open`].
    pub async fn open_with(
        disk: D,
        segment_bytes_max: u64,
        covered: Option<u64>,
        on_damage: OnDamage,
    ) -> Result<(SegmentLog<D>, RecoveryReport), LogError> {
        let names = disk.list().map_err(|source| LogError::Io { file: ".".into(), source })?;
        let mut names: Vec<(u64, String)> = names
            .into_iter()
            .filter_map(|name| {
                let first = name.strip_suffix(SEGMENT_SUFFIX)?.parse::<u64>().ok()?;
                Some((first, name))
            })
            .collect();
        names.sort();
        let mut log = SegmentLog {
            disk,
            segments: Vec::new(),
            active: None,
            dir_dirty: false,
            positions: BTreeMap::new(),
            cache: BTreeMap::new(),
            cached_bytes: 0,
            held_bytes: 0,
            segment_bytes_max: segment_bytes_max.max(1),
            last_written: None,
        };
        let mut report = RecoveryReport { segment_count: names.len(), ..RecoveryReport::default() };
        let count = names.len();
        for (position, (first_index, name)) in names.into_iter().enumerate() {
            let io_error = |source| LogError::Io { file: name.clone(), source };
            if report.damage.is_some() {
                // Everything after damage goes: the log is the intact prefix.
                log.disk.remove(&name).map_err(io_error)?;
                log.dir_dirty = true;
                if let Some(damage) = &mut report.damage {
                    damage.segments_removed += 1;
                }
                continue;
            }
            let (bytes, unreadable) = match log.disk.read(&name) {
                Ok(bytes) => (bytes, None),
                // Lost sectors: none of the segment is trusted.
                Err(source) if is_media_error(&source) => {
                    (Vec::new(), Some((0, format!("unreadable: {source}"))))
                }
                Err(source) => return Err(io_error(source)),
            };
            let (records, mut tail, mut problem) = match decode_all(&bytes, 0) {
                Ok((records, tail)) if unreadable.is_some() => (records, tail, unreadable),
                Ok((records, tail)) => (records, tail, None),
                Err(CorruptRecord { offset, problem }) => {
                    // The records before the damaged one are whole and checked.
                    let prefix = bytes.get(..offset as usize).unwrap_or_default();
                    let (records, tail) =
                        decode_all(prefix, 0).unwrap_or((Vec::new(), Tail::Clean { end_offset: 0 }));
                    (records, tail, Some((offset, problem.to_string())))
                }
            };
            let mut kept_here = 0;
            for (expected, record) in (first_index..).zip(&records) {
                let Some(index_bytes) = record.payload.get(..INDEX_BYTES) else {
                    problem = Some((record.offset, "record too short to hold a log index".into()));
                    break;
                };
                let index = u64::from_le_bytes(index_bytes.try_into().expect("eight bytes"));
                if index != expected {
                    problem = Some((record.offset, format!("entry {index} where entry {expected} belongs")));
                    break;
                }
                if let Some(&previous) = log.positions.keys().next_back() {
                    let skipped_covered = index > previous + 1 && covered.is_some_and(|c| index <= c + 1);
                    if skipped_covered {
                        tracing::info!(
                            first_dropped = log.positions.keys().next().copied(),
                            last_dropped = previous,
                            resumed_at = index,
                            "dropping log entries older than an installed snapshot"
                        );
                        log.positions.clear();
                        log.cache.clear();
                        log.cached_bytes = 0;
                        log.held_bytes = 0;
                    } else if index != previous + 1 {
                        problem = Some((record.offset, format!("entry {index} follows entry {previous}")));
                        break;
                    }
                }
                log.last_written = Some(index);
                let payload = record.payload.slice(INDEX_BYTES..);
                let position = Position { segment: first_index, offset: record.offset, len: payload.len() };
                log.held_bytes += record_bytes(payload.len());
                log.positions.insert(index, position);
                log.cache_insert(index, payload);
                kept_here += 1;
            }
            let mut file = log.disk.open(&name).map_err(io_error)?;
            if let Tail::Torn { valid_end_offset, .. } = tail {
                if problem.is_none() && unwritten(&bytes, valid_end_offset) {
                    // Only zeros follow the last record: preallocated space no append reached (a
                    // lost write of synced records is the synced mark's to catch, and a record
                    // missing before a later segment's first is a gap).
                    file.truncate(valid_end_offset).map_err(io_error)?;
                    tail = Tail::Clean { end_offset: valid_end_offset };
                }
            }
            if let Tail::Torn { valid_end_offset, discarded_bytes, .. } = tail {
                if problem.is_none() && position + 1 < count {
                    problem = Some((valid_end_offset, "torn record in a segment that has successors".into()));
                } else if problem.is_none() {
                    file.truncate(valid_end_offset).map_err(io_error)?;
                    file.sync().await.map_err(io_error)?;
                    report.torn_tail = Some((name.clone(), valid_end_offset, discarded_bytes));
                }
            }
            if let Some((offset, problem)) = problem {
                if on_damage == OnDamage::Refuse {
                    return Err(LogError::Corrupt { file: name.clone(), offset, problem });
                }
                // Before anything is dropped: a crash during the repair must not let the node
                // vote with a log it no longer has.
                write_catch_up_marker(&log.disk)
                    .await
                    .map_err(|source| LogError::Io { file: CATCH_UP_MARKER.into(), source })?;
                report.damage = Some(Damage {
                    file: name.clone(),
                    offset,
                    problem,
                    kept_through: log.positions.keys().next_back().copied(),
                    segments_removed: 0,
                });
                if kept_here == 0 {
                    // Nothing of it is kept: it goes too, and appends go on in the one before.
                    if let Some(damage) = &mut report.damage {
                        damage.segments_removed += 1;
                    }
                    drop(file);
                    log.disk.remove(&name).map_err(io_error)?;
                    log.dir_dirty = true;
                    continue;
                }
                file.truncate(offset).map_err(io_error)?;
                file.sync().await.map_err(io_error)?;
            }
            log.segments.push(Segment { first_index, name });
            if let Some(previous) = log.active.replace(file) {
                drop(previous);
            }
        }
        if log.dir_dirty {
            log.dir_dirty = false;
            log.disk.sync_dir().await.map_err(|source| LogError::Io { file: ".".into(), source })?;
        }
        // The cached payloads are slices of whole segment files read above; copying the few kept
        // lets those buffers go.
        for payload in log.cache.values_mut() {
            *payload = Bytes::copy_from_slice(payload);
        }
        report.entry_count = log.positions.len();
        Ok((log, report))
    }

    /// The first and last index held, if any.
    pub fn bounds(&self) -> Option<(u64, u64)> {
        Some((*self.positions.keys().next()?, *self.positions.keys().next_back()?))
    }

    /// The payloads of the entries in `range` that the log holds, in order: from memory when
    /// cached, else read back from their segment.
    ///
    /// # Errors
    /// [`LogError::Io`] when a segment cannot be read, [`LogError::Corrupt`] when what is read
    /// back is not the record that was written there.
    pub fn read(&self, range: impl RangeBounds<u64>) -> Result<Vec<(u64, Bytes)>, LogError> {
        self.positions
            .range(range)
            .map(|(&index, position)| match self.cache.get(&index) {
                Some(payload) => Ok((index, payload.clone())),
                None => self.read_back(index, *position).map(|payload| (index, payload)),
            })
            .collect()
    }

    /// The entries from `first` to the last, as [`SegmentLog::read`] gives them, if every one is
    /// in memory and their records take at most `bytes_max` bytes: the batch a sync is about
    /// to cover, for the synced mark to hold a copy of (`synced_mark.rs`).
    pub fn copy_from(&self, first: u64, bytes_max: usize) -> Option<Vec<(u64, Bytes)>> {
        let mut bytes = 0;
        self.positions
            .range(first..)
            .map(|(&index, position)| {
                bytes += RECORD_HEADER_BYTES + INDEX_BYTES + position.len;
                (bytes <= bytes_max).then(|| Some((index, self.cache.get(&index)?.clone()))).flatten()
            })
            .collect()
    }

    /// The entries held in memory, and their payload bytes.
    pub fn cached(&self) -> (usize, usize) {
        (self.cache.len(), self.cached_bytes)
    }

    fn read_back(&self, index: u64, position: Position) -> Result<Bytes, LogError> {
        let name = segment_name(position.segment);
        let len = RECORD_HEADER_BYTES + INDEX_BYTES + position.len;
        let bytes = self
            .disk
            .read_at(&name, position.offset, len)
            .map_err(|source| LogError::Io { file: name.clone(), source })?;
        let corrupt =
            |problem: String| LogError::Corrupt { file: name.clone(), offset: position.offset, problem };
        let (records, tail) = decode_all(&bytes, position.offset)
            .map_err(|CorruptRecord { problem, .. }| corrupt(problem.to_string()))?;
        let payload = match (records.as_slice(), tail) {
            ([record], Tail::Clean { .. }) => &record.payload,
            _ => return Err(corrupt(format!("entry {index} does not read back as one whole record"))),
        };
        if payload.get(..INDEX_BYTES) != Some(&index.to_le_bytes()[..]) {
            return Err(corrupt(format!("the record read back for entry {index} holds another entry")));
        }
        Ok(payload.slice(INDEX_BYTES..))
    }

    /// Caches the newest entry's payload, evicting the oldest cached ones beyond the bound.
    fn cache_insert(&mut self, index: u64, payload: Bytes) {
        self.cached_bytes += payload.len();
        self.cache.insert(index, payload);
        while self.cached_bytes > LOG_CACHE_BYTES_MAX && self.cache.len() > 1 {
            let (_, evicted) = self.cache.pop_first().expect("more than one cached");
            self.cached_bytes -= evicted.len();
        }
    }

    /// Appends entry `index`; it is durable only after [`SegmentLog::sync`]. When it starts a new
    /// segment, the previous one is synced first (see [`SegmentLog::start_segment`]). Returns the
    /// payload as the log keeps it cached.
    ///
    /// # Errors
    /// [`LogError::Io`] when writing or that sync fails.
    ///
    /// # Panics
    /// If `index` does not follow the last entry: Raft appends in order, and a gap written to
    /// disk would make the log unreadable.
    pub async fn append(&mut self, index: u64, payload: &[u8]) -> Result<Bytes, LogError> {
        self.append_parts(index, &[payload]).await
    }

    /// [`SegmentLog::append`] of a payload given in parts, which the record joins: a part held
    /// elsewhere (an entry's known encoding) is copied once, into the record.
    pub async fn append_parts(&mut self, index: u64, parts: &[&[u8]]) -> Result<Bytes, LogError> {
        let payload_len = parts.iter().map(|part| part.len()).sum::<usize>();
        if let Some((_, last)) = self.bounds() {
            assert_eq!(index, last + 1, "log append out of order");
        }
        let full = self.active.as_ref().is_none_or(|f| f.len() >= self.segment_bytes_max);
        // After a snapshot install the next entry does not follow the records on disk: start a
        // segment named by it, so that every segment holds consecutive indexes from its name.
        let gap = self.last_written.is_some_and(|last| index != last + 1);
        if full || gap {
            self.start_segment(index).await?;
        }
        let segment = self.segments.last().expect("a segment was started").first_index;
        let active = self.active.as_mut().expect("a segment was started");
        let offset = active.len();
        let record = aside_if_large(payload_len, || {
            // One buffer holds the record, and its payload stays cached from it (no copy).
            let mut record = Vec::with_capacity(RECORD_HEADER_BYTES + INDEX_BYTES + payload_len);
            let start = start_record(&mut record);
            record.extend_from_slice(&index.to_le_bytes());
            for part in parts {
                record.extend_from_slice(part);
            }
            finish_record(&mut record, start);
            active.append(&record).map(|()| record)
        })
        .map_err(|source| LogError::Io { file: segment_name(segment), source })?;
        self.positions.insert(index, Position { segment, offset, len: payload_len });
        let cached = Bytes::from(record).slice(RECORD_HEADER_BYTES + INDEX_BYTES..);
        self.cache_insert(index, cached.clone());
        self.held_bytes += record_bytes(payload_len);
        self.last_written = Some(index);
        Ok(cached)
    }

    /// Makes every append and truncation so far durable.
    ///
    /// # Errors
    /// [`LogError::Io`] when a sync fails; the caller must not report the entries durable.
    pub async fn sync(&mut self) -> Result<(), LogError> {
        self.start_sync().await
    }

    /// Starts making every append and truncation so far durable, and returns the work as a
    /// future that borrows nothing: the caller may release its lock on the log while the sync
    /// runs, so that appends continue during an fsync (group commit's next batch gathers then).
    pub fn start_sync(&mut self) -> impl std::future::Future<Output = Result<(), LogError>> + Send + 'static {
        let name = self.segments.last().map_or_else(String::new, |s| s.name.clone());
        let active = self.active.as_mut().map(|f| f.sync());
        let dir = std::mem::take(&mut self.dir_dirty).then(|| self.disk.sync_dir());
        syncing(name, None::<std::future::Ready<_>>, active, dir)
    }

    /// As [`SegmentLog::start_sync`], awaiting `before_flush` (the synced mark's write-back) once
    /// the appends reached the device and before its cache is flushed ([`LogFile::sync_after`]),
    /// or before the directory's sync when there is no segment.
    pub fn start_sync_after(
        &mut self,
        before_flush: impl std::future::Future<Output = io::Result<()>> + Send + 'static,
    ) -> impl std::future::Future<Output = Result<(), LogError>> + Send + 'static {
        let name = self.segments.last().map_or_else(String::new, |s| s.name.clone());
        let (active, before_flush) = match self.active.as_mut() {
            Some(file) => (Some(file.sync_after(before_flush)), None),
            None => (None, Some(before_flush)),
        };
        let dir = (std::mem::take(&mut self.dir_dirty) || active.is_none()).then(|| self.disk.sync_dir());
        syncing(name, before_flush, active, dir)
    }

    /// Removes every entry from `index` on, durably (Raft's conflict truncation).
    ///
    /// # Errors
    /// [`LogError::Io`] when the files cannot be cut or removed.
    pub async fn truncate(&mut self, index: u64) -> Result<(), LogError> {
        let Some(&Position { segment, offset, .. }) = self.positions.get(&index) else {
            return Ok(());
        };
        let removed = self.positions.split_off(&index);
        self.held_bytes -= removed.values().map(|p| record_bytes(p.len)).sum::<u64>();
        let uncached = self.cache.split_off(&index);
        self.cached_bytes -= uncached.values().map(Bytes::len).sum::<usize>();
        self.last_written = index.checked_sub(1);
        while self.segments.last().is_some_and(|s| s.first_index > segment) {
            let removed = self.segments.pop().expect("checked above");
            self.active = None;
            self.disk
                .remove(&removed.name)
                .map_err(|source| LogError::Io { file: removed.name.clone(), source })?;
        }
        let name = segment_name(segment);
        let io_error = |source| LogError::Io { file: name.clone(), source };
        if self.active.is_none() {
            self.active = Some(self.disk.open(&name).map_err(io_error)?);
        }
        let active = self.active.as_mut().expect("opened above");
        active.truncate(offset).map_err(io_error)?;
        active.sync().await.map_err(io_error)?;
        self.disk.sync_dir().await.map_err(io_error)?;
        Ok(())
    }

    /// Removes every entry and every segment file, durably (the snapshot the log rests on is
    /// gone, so none of its entries can be applied); returns how many segments were removed.
    ///
    /// # Errors
    /// [`LogError::Io`] when a segment cannot be removed.
    pub async fn remove_all(&mut self) -> Result<usize, LogError> {
        self.active = None;
        let segments = std::mem::take(&mut self.segments);
        for segment in &segments {
            self.disk
                .remove(&segment.name)
                .map_err(|source| LogError::Io { file: segment.name.clone(), source })?;
        }
        self.positions.clear();
        self.cache.clear();
        self.cached_bytes = 0;
        self.held_bytes = 0;
        self.last_written = None;
        self.disk.sync_dir().await.map_err(|source| LogError::Io { file: ".".into(), source })?;
        Ok(segments.len())
    }

    /// Drops every entry up to and including `index` from memory, and removes the segments that
    /// hold nothing newer (after a snapshot covers them).
    ///
    /// # Errors
    /// [`LogError::Io`] when a segment cannot be removed.
    pub async fn purge(&mut self, index: u64) -> Result<(), LogError>
    where
        D: Clone,
    {
        self.start_purge(index).await
    }

    /// [`SegmentLog::purge`], the entries dropped at once and the files removed by the returned
    /// future, which borrows nothing: a caller may leave it to run on its own (a crash before it
    /// ends leaves files that the next [`SegmentLog::purge`] at the same point removes).
    pub fn start_purge(
        &mut self,
        index: u64,
    ) -> impl std::future::Future<Output = Result<(), LogError>> + Send + 'static + use<D>
    where
        D: Clone,
    {
        let kept = self.positions.split_off(&(index + 1));
        let removed = std::mem::replace(&mut self.positions, kept);
        self.held_bytes -= removed.values().map(|p| record_bytes(p.len)).sum::<u64>();
        let kept = self.cache.split_off(&(index + 1));
        let uncached = std::mem::replace(&mut self.cache, kept);
        self.cached_bytes -= uncached.values().map(Bytes::len).sum::<usize>();
        // A closed segment can go when the next segment starts at or before index + 1.
        let mut names = Vec::new();
        while self.segments.len() > 1 && self.segments[1].first_index <= index + 1 {
            names.push(self.segments.remove(0).name);
        }
        let removal = (!names.is_empty()).then(|| self.disk.remove_durably(names));
        async move {
            match removal {
                Some(removal) => removal.await.map_err(|(file, source)| LogError::Io { file, source }),
                None => Ok(()),
            }
        }
    }

    /// The bytes on disk of the entries the log holds (since the last purge).
    pub fn held_bytes(&self) -> u64 {
        self.held_bytes
    }

    /// The names of the segment files, oldest first.
    pub fn segment_names(&self) -> Vec<String> {
        self.segments.iter().map(|s| s.name.clone()).collect()
    }

    /// Starts segment `first_index`, after syncing the active one: a segment file exists only
    /// once everything before it is durable, so a crash can tear only the last segment, and a
    /// torn record anywhere else is corruption ([`SegmentLog::open`] refuses it). Without this
    /// a crash just after a rotation could keep the new (empty) file and tear the old one's
    /// unsynced tail, and the node would refuse to start (simulator seed 195186956). It costs
    /// one fsync per segment.
    async fn start_segment(&mut self, first_index: u64) -> Result<(), LogError> {
        if let Some(mut previous) = self.active.take() {
            let name = self.segments.last().map_or_else(String::new, |s| s.name.clone());
            let io_error = |source| LogError::Io { file: name.clone(), source };
            // The zeros filled ahead of its appends go with the sync: a closed segment ends at its
            // last record.
            let len = previous.len();
            previous.truncate(len).map_err(io_error)?;
            previous.sync().await.map_err(io_error)?;
        }
        let name = segment_name(first_index);
        let file = self.disk.open(&name).map_err(|source| LogError::Io { file: name.clone(), source })?;
        self.active = Some(file);
        self.segments.push(Segment { first_index, name });
        self.dir_dirty = true;
        Ok(())
    }
}

/// Whether every byte of `bytes` from `offset` on is zero (space filled ahead of appends).
fn unwritten(bytes: &[u8], offset: u64) -> bool {
    bytes.get(offset as usize..).is_some_and(|rest| rest.iter().all(|&byte| byte == 0))
}

fn segment_name(first_index: u64) -> String {
    format!("{first_index:020}{SEGMENT_SUFFIX}")
}

/// A sync's steps in order, up to the first that fails.
async fn syncing(
    name: String,
    before_flush: Option<impl std::future::Future<Output = io::Result<()>>>,
    active: Option<impl std::future::Future<Output = io::Result<()>>>,
    dir: Option<impl std::future::Future<Output = io::Result<()>>>,
) -> Result<(), LogError> {
    if let Some(before_flush) = before_flush {
        before_flush.await.map_err(|source| LogError::Io { file: name.clone(), source })?;
    }
    if let Some(sync) = active {
        sync.await.map_err(|source| LogError::Io { file: name, source })?;
    }
    if let Some(sync) = dir {
        sync.await.map_err(|source| LogError::Io { file: ".".into(), source })?;
    }
    Ok(())
}
