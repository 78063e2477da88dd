//! The snapshot format: the whole state at one applied log id, written and read as a stream.
//!
//! Layout: the 8-byte magic `RDRFSNAP`, then records framed as in the log
//! (`[len][crc32c][payload]`, see [`crate::record`]):
//! 1. a header: a format-version byte and [`SnapshotHeader`];
//! 2. one record per key ([`SnapshotItem::KeyCreated`], with its TTL, modification and create
//!    indexes; [`SnapshotItem::Key`] before format version 3) in key
//!    order, a hash, list or set as [`SnapshotItem::AggregateStart`] followed by its elements in
//!    [`SnapshotItem::Parts`] records of about [`PARTS_BYTES`] each (format version 4), then one per client session ([`SnapshotItem::Session`]) in client-id order, then
//!    one per user ([`SnapshotItem::User`], format version 2) by name, when the users were
//!    ever changed;
//! 3. a trailer ([`SnapshotItem::End`]) with the number of items and a crc32c of every byte
//!    before the trailer.
//!
//! Writer and reader (`snapshot_reader.rs`) hold one record at a time, so memory stays bounded by the record limit
//! however large the snapshot. Because keys are in key order, two replicas with the same state
//! write the same bytes, whatever their hash seeds.

use std::io::{self, Write};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::codec::{self, DecodeError};
use crate::limits::{DELETION_MARK_BUCKETS, RECORD_PAYLOAD_BYTES_MAX};
use crate::map::Entry;
use crate::record::{encode_record, finish_record, start_record};
use crate::reply::Reply;
use crate::session::Session;
use crate::snapshot_string::{encode_key_created, KeyMeta};
use crate::state::Frozen;
use crate::stored_key::StoredKey;
use crate::types::{Aggregate, Kind, Value};

/// The first bytes of every snapshot.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"RDRFSNAP";

/// The version of the header and item encoding: 2 added [`SnapshotItem::User`], 3
/// [`SnapshotItem::KeyCreated`] (keys with their create index), which it writes instead of
/// [`SnapshotItem::Key`], 4 [`SnapshotItem::AggregateStart`] and [`SnapshotItem::Parts`]
/// (hashes, lists and sets).
pub const SNAPSHOT_FORMAT_VERSION: u8 = 4;

/// About how many bytes of elements one [`SnapshotItem::Parts`] record holds (one element
/// longer than this gets a record of its own).
pub const PARTS_BYTES: usize = 64 * 1024;

/// The versions this build reads: each newer one only adds an item kind.
pub const SNAPSHOT_FORMAT_VERSIONS_READ: std::ops::RangeInclusive<u8> = 1..=SNAPSHOT_FORMAT_VERSION;

/// A Raft log id, as the snapshot records it (openraft's `LogId` without its generics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogId {
    pub term: u64,
    pub node_id: u64,
    pub index: u64,
}

/// What the snapshot covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotHeader {
    /// The last entry whose effects the snapshot holds; `None` for an empty state.
    pub last_applied: Option<LogId>,
    /// The cluster membership as of `last_applied`, encoded by the server (opaque here).
    pub membership: Bytes,
    /// The state-machine time.
    pub time_ms: u64,
    pub key_count: u64,
    pub session_count: u64,
    /// The non-zero deletion marks WATCH compares for absent keys (`ShardedMap::deletion_mark`),
    /// as (bucket, log index) in bucket order; most buckets are zero in a young store.
    pub deletion_marks: Vec<(u32, u64)>,
}

/// One record after the header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SnapshotItem {
    Key {
        key: Bytes,
        value: Bytes,
        expire_at_ms: Option<u64>,
        mod_index: u64,
    },
    Session {
        client_id: u64,
        sequence: u64,
        log_index: u64,
        reply: Reply,
    },
    End {
        item_count: u64,
        checksum: u32,
    },
    /// A user, as the rules that rebuild it (`acl::Users::to_rules`).
    User {
        name: String,
        rules: String,
    },
    /// A key with its create index (format version 3); a version-1 or -2 [`SnapshotItem::Key`]
    /// reads as created where it was last modified, the oldest index known for it.
    KeyCreated {
        key: Bytes,
        value: Bytes,
        expire_at_ms: Option<u64>,
        mod_index: u64,
        create_index: u64,
    },
    /// A hash, list or set (format version 4): its key and metadata, with `part_count` parts
    /// (`Aggregate::parts`) in the [`SnapshotItem::Parts`] records right after it.
    AggregateStart {
        key: Bytes,
        kind: Kind,
        part_count: u64,
        expire_at_ms: Option<u64>,
        mod_index: u64,
        create_index: u64,
    },
    /// The next parts of the aggregate started last (format version 4).
    Parts {
        parts: Vec<Bytes>,
    },
}

impl SnapshotItem {
    /// The key and entry of a string key item, of either version; the item itself for any
    /// other item (aggregates come whole from `SnapshotReader::next_key_or_item` (`snapshot_reader.rs`)).
    pub fn into_key(self) -> Result<(Bytes, Entry), SnapshotItem> {
        match self {
            SnapshotItem::Key { key, value, expire_at_ms, mod_index } => {
                Ok((key, Entry { value: value.into(), expire_at_ms, mod_index, create_index: mod_index }))
            }
            SnapshotItem::KeyCreated { key, value, expire_at_ms, mod_index, create_index } => {
                Ok((key, Entry { value: value.into(), expire_at_ms, mod_index, create_index }))
            }
            other => Err(other),
        }
    }
}

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("not a snapshot: the magic bytes are missing")]
    BadMagic,
    #[error("snapshot ends at offset {offset} before its trailer")]
    Truncated { offset: u64 },
    #[error("snapshot record at offset {offset} has length {length}, outside 1..={max}", max = RECORD_PAYLOAD_BYTES_MAX)]
    BadLength { offset: u64, length: u32 },
    #[error("snapshot record at offset {offset} fails its checksum")]
    RecordChecksum { offset: u64 },
    #[error("snapshot record at offset {offset} does not decode: {source}")]
    Decode { offset: u64, source: DecodeError },
    #[error("snapshot trailer counts {expected} items, the stream held {found}")]
    CountMismatch { expected: u64, found: u64 },
    #[error("snapshot header counts {expected} keys and sessions, the stream held {found}")]
    HeaderCountMismatch { expected: u64, found: u64 },
    #[error("snapshot checksum {found:#010x} does not match the stream's {computed:#010x}")]
    StreamChecksum { found: u32, computed: u32 },
    #[error("snapshot header names deletion bucket {bucket}, past the last ({})", DELETION_MARK_BUCKETS - 1)]
    BadDeletionBucket { bucket: u32 },
    #[error("snapshot has bytes after its trailer at offset {offset}")]
    TrailingBytes { offset: u64 },
    #[error("snapshot aggregate at offset {offset} does not hold the {expected} parts it declares")]
    BadAggregate { offset: u64, expected: u64 },
}

/// Writes a snapshot record by record.
pub struct SnapshotWriter<W: Write> {
    out: W,
    checksum: u32,
    item_count: u64,
    scratch: Vec<u8>,
}

impl<W: Write> SnapshotWriter<W> {
    /// Starts a snapshot with its magic and header.
    ///
    /// # Errors
    /// Any error of the underlying writer.
    pub fn new(out: W, header: &SnapshotHeader) -> io::Result<SnapshotWriter<W>> {
        let mut writer = SnapshotWriter { out, checksum: 0, item_count: 0, scratch: Vec::new() };
        writer.write_raw(SNAPSHOT_MAGIC)?;
        let payload = codec::encode_versioned(SNAPSHOT_FORMAT_VERSION, header);
        writer.write_payload(&payload)?;
        Ok(writer)
    }

    /// Writes one key.
    ///
    /// # Errors
    /// Any error of the underlying writer.
    pub fn write_key(&mut self, key: &Bytes, entry: &Entry) -> io::Result<()> {
        let meta = (entry.expire_at_ms, entry.mod_index, entry.create_index);
        match &entry.value {
            Value::String(value) => self.write_string(key, value, meta),
            Value::Aggregate(aggregate) => self.write_aggregate(key, aggregate, meta),
        }
    }

    /// Writes one key from its record (an aggregate is read in place, not copied).
    ///
    /// # Errors
    /// Any error of the underlying writer.
    pub fn write_record(&mut self, stored: &StoredKey) -> io::Result<()> {
        let meta = (stored.expire_at_ms(), stored.mod_index(), stored.create_index());
        match stored.aggregate() {
            Some(aggregate) => self.write_aggregate(&Bytes::copy_from_slice(stored.key()), aggregate, meta),
            None => self.write_string(stored.key(), stored.value(), meta),
        }
    }

    /// Writes a string key as a [`SnapshotItem::KeyCreated`] record, encoded by hand straight
    /// from the key's record (`snapshot_string.rs`): a snapshot of 100,000 keys of 256-byte
    /// values, which `--fsync no` under SET -P16 builds every second and a half, spent about
    /// half its time in serde's copies and allocations (`perf record` of the node).
    fn write_string(&mut self, key: &[u8], value: &[u8], meta: KeyMeta) -> io::Result<()> {
        let mut record = std::mem::take(&mut self.scratch);
        record.clear();
        let start = start_record(&mut record);
        encode_key_created(&mut record, key, value, meta);
        finish_record(&mut record, start);
        self.item_count += 1;
        let result = self.write_raw(&record);
        self.scratch = record;
        result
    }

    fn write_aggregate(
        &mut self,
        key: &Bytes,
        aggregate: &Aggregate,
        (expire_at_ms, mod_index, create_index): KeyMeta,
    ) -> io::Result<()> {
        self.write_item(&SnapshotItem::AggregateStart {
            key: key.clone(),
            kind: aggregate.kind(),
            part_count: aggregate.part_count() as u64,
            expire_at_ms,
            mod_index,
            create_index,
        })?;
        let mut parts = Vec::new();
        let mut bytes = 0;
        for part in aggregate.parts() {
            bytes += part.len();
            parts.push(Bytes::copy_from_slice(&part));
            if bytes >= PARTS_BYTES {
                self.write_item(&SnapshotItem::Parts { parts: std::mem::take(&mut parts) })?;
                bytes = 0;
            }
        }
        if !parts.is_empty() {
            self.write_item(&SnapshotItem::Parts { parts })?;
        }
        Ok(())
    }

    /// Writes one client session.
    ///
    /// # Errors
    /// Any error of the underlying writer.
    pub fn write_session(&mut self, client_id: u64, session: &Session) -> io::Result<()> {
        self.write_item(&SnapshotItem::Session {
            client_id,
            sequence: session.sequence,
            log_index: session.log_index,
            reply: session.reply.clone(),
        })
    }

    /// Writes one user.
    ///
    /// # Errors
    /// Any error of the underlying writer.
    pub fn write_user(&mut self, name: &str, rules: &str) -> io::Result<()> {
        self.write_item(&SnapshotItem::User { name: name.to_owned(), rules: rules.to_owned() })
    }

    /// Writes the trailer and returns the writer, flushed.
    ///
    /// # Errors
    /// Any error of the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        let end = SnapshotItem::End { item_count: self.item_count, checksum: self.checksum };
        let payload = codec::encode_versioned(SNAPSHOT_FORMAT_VERSION, &end);
        self.write_payload(&payload)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn write_item(&mut self, item: &SnapshotItem) -> io::Result<()> {
        let payload = codec::encode_versioned(SNAPSHOT_FORMAT_VERSION, item);
        self.item_count += 1;
        self.write_payload(&payload)
    }

    fn write_payload(&mut self, payload: &[u8]) -> io::Result<()> {
        self.scratch.clear();
        encode_record(payload, &mut self.scratch);
        let record = std::mem::take(&mut self.scratch);
        let result = self.write_raw(&record);
        self.scratch = record;
        result
    }

    fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.checksum = crc32c::crc32c_append(self.checksum, bytes);
        self.out.write_all(bytes)
    }
}

/// Writes a frozen state as a snapshot.
///
/// # Errors
/// Any error of the underlying writer.
pub fn write_snapshot<W: Write>(
    out: W,
    frozen: &Frozen,
    last_applied: Option<LogId>,
    membership: Bytes,
) -> io::Result<W> {
    let header = header_of(frozen, frozen.keys.len() as u64, last_applied, membership);
    let mut writer = SnapshotWriter::new(out, &header)?;
    for (key, entry) in &frozen.keys {
        writer.write_key(key, entry)?;
    }
    write_rest(writer, frozen)
}

/// The header of a snapshot of `frozen` with `key_count` keys (its own `keys` may be empty,
/// when they are written from elsewhere).
pub(crate) fn header_of(
    frozen: &Frozen,
    key_count: u64,
    last_applied: Option<LogId>,
    membership: Bytes,
) -> SnapshotHeader {
    SnapshotHeader {
        last_applied,
        membership,
        time_ms: frozen.time_ms,
        key_count,
        session_count: frozen.sessions.len() as u64,
        deletion_marks: frozen
            .deletion_marks
            .iter()
            .enumerate()
            .filter(|(_, mark)| **mark != 0)
            .map(|(bucket, mark)| (bucket as u32, *mark))
            .collect(),
    }
}

/// Writes what follows the keys (sessions and users) and the trailer.
pub(crate) fn write_rest<W: Write>(mut writer: SnapshotWriter<W>, frozen: &Frozen) -> io::Result<W> {
    for (client_id, session) in &frozen.sessions {
        writer.write_session(*client_id, session)?;
    }
    for (name, rules) in &frozen.users {
        writer.write_user(name, rules)?;
    }
    writer.finish()
}
