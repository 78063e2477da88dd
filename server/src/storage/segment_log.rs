//! The durable Raft log: segment files of core's records (`[len][crc32c][payload]`), one record
//! per entry, on the [`Disk`] seam (DESIGN.md §2).
//!
//! A segment is named by the index of its first entry (`00000000000000000042.log`); the newest
//! segment takes appends and a new one starts when it passes `segment_bytes_max`. Each record's
//! payload is the entry's log index (8 bytes, little endian) followed by the caller's bytes.
//!
//! Recovery reads the segments in order. A torn tail in the last segment (a write cut short by a
//! crash) is truncated, synced, and reported; anything else wrong (corruption before the end, a
//! torn record in a segment that has successors, a gap or overlap in indexes) stops recovery with
//! an error naming the file and the offset, because going on would drop or reorder durable,
//! possibly acknowledged, entries.
//!
//! Every entry since the last purge is also kept in memory, so reads never touch the disk;
//! snapshots and purges keep that bounded. Durability and when to sync (group commit, fsync
//! policy) are the caller's: `append` only buffers, `sync` makes everything so far durable.

use std::collections::BTreeMap;
use std::io;
use std::ops::RangeBounds;

use bytes::Bytes;
use redraft_core::record::{decode_all, encode_record, CorruptRecord, Tail};

use super::disk::{Disk, LogFile};

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

/// What recovery found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segment_count: usize,
    pub entry_count: usize,
    /// A torn tail that was truncated: the file, where valid data ended, and the bytes dropped.
    pub torn_tail: Option<(String, u64, u64)>,
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
    /// Invariant: every entry in the segments from the first kept index on, contiguous.
    entries: BTreeMap<u64, Bytes>,
    /// Where each entry's record starts: (position in `segments`' first indexes, byte offset).
    positions: BTreeMap<u64, (u64, u64)>,
    /// Invariant: the size on disk of the records of `entries`.
    held_bytes: u64,
    segment_bytes_max: u64,
    /// The index of the newest record in the active segment's file, live or not.
    last_written: Option<u64>,
}

/// A record's size on disk for a payload of `len` bytes: length, checksum, index, payload.
fn record_bytes(len: usize) -> u64 {
    (8 + INDEX_BYTES + len) as u64
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
            entries: BTreeMap::new(),
            positions: BTreeMap::new(),
            held_bytes: 0,
            segment_bytes_max: segment_bytes_max.max(1),
            last_written: None,
        };
        let mut report = RecoveryReport { segment_count: names.len(), ..RecoveryReport::default() };
        let count = names.len();
        for (position, (first_index, name)) in names.into_iter().enumerate() {
            let io_error = |source| LogError::Io { file: name.clone(), source };
            let bytes = log.disk.read(&name).map_err(io_error)?;
            let corrupt = |offset, problem: String| LogError::Corrupt { file: name.clone(), offset, problem };
            let (records, tail) = decode_all(&bytes, 0)
                .map_err(|CorruptRecord { offset, problem }| corrupt(offset, problem.to_string()))?;
            for (expected, record) in (first_index..).zip(&records) {
                let Some(index_bytes) = record.payload.get(..INDEX_BYTES) else {
                    return Err(corrupt(record.offset, "record too short to hold a log index".into()));
                };
                let index = u64::from_le_bytes(index_bytes.try_into().expect("eight bytes"));
                if index != expected {
                    return Err(corrupt(
                        record.offset,
                        format!("entry {index} where entry {expected} belongs"),
                    ));
                }
                if let Some(&previous) = log.entries.keys().next_back() {
                    let skipped_covered = index > previous + 1 && covered.is_some_and(|c| index <= c + 1);
                    if skipped_covered {
                        tracing::info!(
                            first_dropped = log.entries.keys().next().copied(),
                            last_dropped = previous,
                            resumed_at = index,
                            "dropping log entries older than an installed snapshot"
                        );
                        log.entries.clear();
                        log.positions.clear();
                        log.held_bytes = 0;
                    } else if index != previous + 1 {
                        return Err(corrupt(
                            record.offset,
                            format!("entry {index} follows entry {previous}"),
                        ));
                    }
                }
                log.last_written = Some(index);
                log.held_bytes += record_bytes(record.payload.len() - INDEX_BYTES);
                log.entries.insert(index, record.payload.slice(INDEX_BYTES..));
                log.positions.insert(index, (first_index, record.offset));
            }
            let mut file = log.disk.open(&name).map_err(io_error)?;
            if let Tail::Torn { valid_end_offset, discarded_bytes, .. } = tail {
                if position + 1 < count {
                    return Err(corrupt(
                        valid_end_offset,
                        "torn record in a segment that has successors".into(),
                    ));
                }
                file.truncate(valid_end_offset).map_err(io_error)?;
                file.sync().await.map_err(io_error)?;
                report.torn_tail = Some((name.clone(), valid_end_offset, discarded_bytes));
            }
            log.segments.push(Segment { first_index, name });
            if let Some(previous) = log.active.replace(file) {
                drop(previous);
            }
        }
        report.entry_count = log.entries.len();
        Ok((log, report))
    }

    /// The first and last index held, if any.
    pub fn bounds(&self) -> Option<(u64, u64)> {
        Some((*self.entries.keys().next()?, *self.entries.keys().next_back()?))
    }

    /// The payloads of the entries in `range` that the log holds, in order.
    pub fn read(&self, range: impl RangeBounds<u64>) -> impl Iterator<Item = (u64, &Bytes)> {
        self.entries.range(range).map(|(i, p)| (*i, p))
    }

    /// Appends entry `index`; it is durable only after [`SegmentLog::sync`]. When it starts a new
    /// segment, the previous one is synced first (see [`SegmentLog::start_segment`]).
    ///
    /// # Errors
    /// [`LogError::Io`] when writing or that sync fails.
    ///
    /// # Panics
    /// If `index` does not follow the last entry: Raft appends in order, and a gap written to
    /// disk would make the log unreadable.
    pub async fn append(&mut self, index: u64, payload: &[u8]) -> Result<(), LogError> {
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
        let mut record = Vec::with_capacity(INDEX_BYTES + payload.len() + 8);
        let mut body = Vec::with_capacity(INDEX_BYTES + payload.len());
        body.extend_from_slice(&index.to_le_bytes());
        body.extend_from_slice(payload);
        encode_record(&body, &mut record);
        let segment = self.segments.last().expect("a segment was started").first_index;
        let active = self.active.as_mut().expect("a segment was started");
        let offset = active.len();
        active.append(&record).map_err(|source| LogError::Io { file: segment_name(segment), source })?;
        self.entries.insert(index, Bytes::from(body).slice(INDEX_BYTES..));
        self.positions.insert(index, (segment, offset));
        self.held_bytes += record_bytes(payload.len());
        self.last_written = Some(index);
        Ok(())
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
        async move {
            if let Some(sync) = active {
                sync.await.map_err(|source| LogError::Io { file: name, source })?;
            }
            if let Some(sync) = dir {
                sync.await.map_err(|source| LogError::Io { file: ".".into(), source })?;
            }
            Ok(())
        }
    }

    /// Removes every entry from `index` on, durably (Raft's conflict truncation).
    ///
    /// # Errors
    /// [`LogError::Io`] when the files cannot be cut or removed.
    pub async fn truncate(&mut self, index: u64) -> Result<(), LogError> {
        let Some(&(segment, offset)) = self.positions.get(&index) else {
            return Ok(());
        };
        let removed = self.entries.split_off(&index);
        self.held_bytes -= removed.values().map(|p| record_bytes(p.len())).sum::<u64>();
        self.positions.split_off(&index);
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

    /// Drops every entry up to and including `index` from memory, and removes the segments that
    /// hold nothing newer (after a snapshot covers them).
    ///
    /// # Errors
    /// [`LogError::Io`] when a segment cannot be removed.
    pub async fn purge(&mut self, index: u64) -> Result<(), LogError> {
        let kept = self.entries.split_off(&(index + 1));
        let removed = std::mem::replace(&mut self.entries, kept);
        self.held_bytes -= removed.values().map(|p| record_bytes(p.len())).sum::<u64>();
        let kept = self.positions.split_off(&(index + 1));
        self.positions = kept;
        // A closed segment can go when the next segment starts at or before index + 1.
        let mut removed_any = false;
        while self.segments.len() > 1 && self.segments[1].first_index <= index + 1 {
            let segment = self.segments.remove(0);
            self.disk
                .remove(&segment.name)
                .map_err(|source| LogError::Io { file: segment.name.clone(), source })?;
            removed_any = true;
        }
        if removed_any {
            self.disk.sync_dir().await.map_err(|source| LogError::Io { file: ".".into(), source })?;
        }
        Ok(())
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
            previous.sync().await.map_err(|source| LogError::Io { file: name, source })?;
        }
        let name = segment_name(first_index);
        let file = self.disk.open(&name).map_err(|source| LogError::Io { file: name.clone(), source })?;
        self.active = Some(file);
        self.segments.push(Segment { first_index, name });
        self.dir_dirty = true;
        Ok(())
    }
}

fn segment_name(first_index: u64) -> String {
    format!("{first_index:020}{SEGMENT_SUFFIX}")
}
