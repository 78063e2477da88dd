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
//! Writer and reader hold one record at a time, so memory stays bounded by the record limit
//! however large the snapshot. Because keys are in key order, two replicas with the same state
//! write the same bytes, whatever their hash seeds.

use std::io::{self, Read, Write};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::codec::{self, DecodeError};
use crate::limits::{DELETION_MARK_BUCKETS, RECORD_PAYLOAD_BYTES_MAX};
use crate::map::Entry;
use crate::record::{encode_record, RECORD_HEADER_BYTES};
use crate::reply::Reply;
use crate::session::Session;
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
    /// other item (aggregates come whole from [`SnapshotReader::next_key_or_item`]).
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

/// A key read whole, or any other item.
#[derive(Debug)]
pub enum KeyOrItem {
    Key((Bytes, Entry)),
    Item(SnapshotItem),
}

/// The key and entry an aggregate's start item and parts make; `None` when the parts cannot make
/// one of its kind.
fn aggregate_entry(start: SnapshotItem, parts: Vec<Bytes>) -> Option<(Bytes, Entry)> {
    let SnapshotItem::AggregateStart { key, kind, expire_at_ms, mod_index, create_index, .. } = start else {
        return None;
    };
    let aggregate = Aggregate::from_parts(kind, parts).filter(|a| !a.is_empty())?;
    Some((key, Entry { value: Value::Aggregate(Box::new(aggregate)), expire_at_ms, mod_index, create_index }))
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
        let key = Bytes::copy_from_slice(stored.key());
        let meta = (stored.expire_at_ms(), stored.mod_index(), stored.create_index());
        match stored.aggregate() {
            Some(aggregate) => self.write_aggregate(&key, aggregate, meta),
            None => self.write_string(&key, &stored.value_bytes(), meta),
        }
    }

    fn write_string(&mut self, key: &Bytes, value: &Bytes, meta: (Option<u64>, u64, u64)) -> io::Result<()> {
        let (expire_at_ms, mod_index, create_index) = meta;
        let value = value.clone();
        self.write_item(&SnapshotItem::KeyCreated {
            key: key.clone(),
            value,
            expire_at_ms,
            mod_index,
            create_index,
        })
    }

    fn write_aggregate(
        &mut self,
        key: &Bytes,
        aggregate: &Aggregate,
        (expire_at_ms, mod_index, create_index): (Option<u64>, u64, u64),
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

/// Most keys [`SnapshotReader::read_all`] makes room for before reading them.
const KEYS_PREALLOCATED_MAX: u64 = 1 << 22;

/// Largest record [`SnapshotReader`] reads into a buffer of its declared length at once.
const EXACT_READ_BYTES_MAX: usize = 64 * 1024;

/// Most keys [`SnapshotReader::read_in_chunks`] hands over at a time.
pub const KEY_CHUNK: usize = 4096;

/// Reads a snapshot record by record, verifying every checksum and count.
pub struct SnapshotReader<R: Read> {
    input: R,
    header: SnapshotHeader,
    checksum: u32,
    offset: u64,
    item_count: u64,
    /// Of `item_count`, the users and the parts of aggregates: the header counts only keys and
    /// sessions.
    uncounted: u64,
    /// The aggregate being read: its start item and the parts read so far.
    aggregate: Option<(u64, SnapshotItem, Vec<Bytes>)>,
    finished: bool,
}

impl<R: Read> SnapshotReader<R> {
    /// Opens a snapshot and reads its header.
    ///
    /// # Errors
    /// See [`SnapshotError`].
    pub fn new(input: R) -> Result<SnapshotReader<R>, SnapshotError> {
        let mut reader = SnapshotReader {
            input,
            header: SnapshotHeader {
                last_applied: None,
                membership: Bytes::new(),
                time_ms: 0,
                key_count: 0,
                session_count: 0,
                deletion_marks: Vec::new(),
            },
            checksum: 0,
            offset: 0,
            item_count: 0,
            uncounted: 0,
            aggregate: None,
            finished: false,
        };
        let mut magic = [0u8; 8];
        if !reader.read_exact_or_eof(&mut magic)? || &magic != SNAPSHOT_MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let (offset, payload) = reader.read_record()?;
        reader.header = codec::decode_any_version(SNAPSHOT_FORMAT_VERSIONS_READ, &payload)
            .map_err(|source| SnapshotError::Decode { offset, source })?;
        Ok(reader)
    }

    /// The header.
    pub fn header(&self) -> &SnapshotHeader {
        &self.header
    }

    /// The next key or session, or `None` after the trailer has been read and verified.
    ///
    /// # Errors
    /// See [`SnapshotError`].
    pub fn next_item(&mut self) -> Result<Option<SnapshotItem>, SnapshotError> {
        if self.finished {
            return Ok(None);
        }
        let checksum_before = self.checksum;
        let (offset, payload) = self.read_record()?;
        let item: SnapshotItem = codec::decode_any_version(SNAPSHOT_FORMAT_VERSIONS_READ, &payload)
            .map_err(|source| SnapshotError::Decode { offset, source })?;
        if let SnapshotItem::End { item_count, checksum } = item {
            if item_count != self.item_count {
                return Err(SnapshotError::CountMismatch { expected: item_count, found: self.item_count });
            }
            let declared = self.header.key_count + self.header.session_count;
            if declared != self.item_count - self.uncounted {
                return Err(SnapshotError::HeaderCountMismatch {
                    expected: declared,
                    found: self.item_count - self.uncounted,
                });
            }
            if checksum != checksum_before {
                return Err(SnapshotError::StreamChecksum { found: checksum, computed: checksum_before });
            }
            let mut extra = [0u8; 1];
            if self.input.read(&mut extra)? != 0 {
                return Err(SnapshotError::TrailingBytes { offset: self.offset });
            }
            self.finished = true;
            return Ok(None);
        }
        self.item_count += 1;
        if matches!(item, SnapshotItem::User { .. } | SnapshotItem::Parts { .. }) {
            self.uncounted += 1;
        }
        Ok(Some(item))
    }

    /// The next item as [`SnapshotReader::next_item`] gives it, except that an aggregate comes
    /// whole: its start item and its parts make one key item.
    ///
    /// # Errors
    /// See [`SnapshotError`]; an aggregate whose parts do not match its start is
    /// [`SnapshotError::BadAggregate`].
    pub fn next_key_or_item(&mut self) -> Result<Option<KeyOrItem>, SnapshotError> {
        loop {
            let offset = self.offset;
            let item = self.next_item()?;
            if let Some((start_offset, start, parts)) = &mut self.aggregate {
                let SnapshotItem::AggregateStart { part_count, .. } = start else { unreachable!("a start") };
                let expected = *part_count;
                let bad = SnapshotError::BadAggregate { offset: *start_offset, expected };
                if let Some(SnapshotItem::Parts { parts: more }) = item {
                    if parts.len() as u64 + more.len() as u64 > expected {
                        return Err(bad);
                    }
                    parts.extend(more);
                    if parts.len() as u64 == expected {
                        let (_, start, parts) = self.aggregate.take().expect("an aggregate");
                        return Ok(Some(KeyOrItem::Key(aggregate_entry(start, parts).ok_or(bad)?)));
                    }
                    continue;
                }
                return Err(bad);
            }
            match item {
                Some(SnapshotItem::AggregateStart { part_count: 0, .. })
                | Some(SnapshotItem::Parts { .. }) => {
                    return Err(SnapshotError::BadAggregate { offset, expected: 0 })
                }
                Some(start @ SnapshotItem::AggregateStart { .. }) => {
                    self.aggregate = Some((offset, start, Vec::new()));
                }
                Some(item) => match item.into_key() {
                    Ok(key) => return Ok(Some(KeyOrItem::Key(key))),
                    Err(item) => return Ok(Some(KeyOrItem::Item(item))),
                },
                None => return Ok(None),
            }
        }
    }

    /// Reads the whole snapshot into a [`Frozen`] state, with the header.
    ///
    /// # Errors
    /// See [`SnapshotError`].
    pub fn read_all(self) -> Result<(SnapshotHeader, Frozen), SnapshotError> {
        // Sized from the header, but never beyond what a damaged header could make costly:
        // growing a vector of a million keys copies it twenty times.
        let mut keys = Vec::with_capacity(self.header.key_count.min(KEYS_PREALLOCATED_MAX) as usize);
        let (header, mut frozen) = self.read_in_chunks(|chunk| keys.extend(chunk))?;
        frozen.keys = keys;
        Ok((header, frozen))
    }

    /// Reads the whole snapshot, handing its keys to `keys` in order, in chunks of at most
    /// [`KEY_CHUNK`], as they are read; returns the header and the rest of the state (`keys` left
    /// empty). The chunks a snapshot that then proves damaged handed out are not to be trusted:
    /// the error comes only at the end.
    ///
    /// # Errors
    /// See [`SnapshotError`].
    pub fn read_in_chunks(
        mut self,
        mut keys: impl FnMut(Vec<(Bytes, Entry)>),
    ) -> Result<(SnapshotHeader, Frozen), SnapshotError> {
        let mut frozen = Frozen {
            applied_index: self.header.last_applied.map_or(0, |id| id.index),
            time_ms: self.header.time_ms,
            keys: Vec::new(),
            sessions: Vec::new(),
            deletion_marks: vec![0; DELETION_MARK_BUCKETS],
            users: Vec::new(),
        };
        for &(bucket, mark) in &self.header.deletion_marks {
            let slot = frozen.deletion_marks.get_mut(bucket as usize);
            *slot.ok_or(SnapshotError::BadDeletionBucket { bucket })? = mark;
        }
        let mut chunk = Vec::with_capacity(KEY_CHUNK);
        while let Some(item) = self.next_key_or_item()? {
            match item {
                KeyOrItem::Key(key) => {
                    chunk.push(key);
                    if chunk.len() == KEY_CHUNK {
                        keys(std::mem::replace(&mut chunk, Vec::with_capacity(KEY_CHUNK)));
                    }
                }
                KeyOrItem::Item(SnapshotItem::Session { client_id, sequence, log_index, reply }) => {
                    frozen.sessions.push((client_id, Session { sequence, log_index, reply }));
                }
                KeyOrItem::Item(SnapshotItem::User { name, rules }) => frozen.users.push((name, rules)),
                KeyOrItem::Item(_) => unreachable!("keys and aggregates come whole, the trailer is consumed"),
            }
        }
        if !chunk.is_empty() {
            keys(chunk);
        }
        Ok((self.header, frozen))
    }

    fn read_record(&mut self) -> Result<(u64, Vec<u8>), SnapshotError> {
        let offset = self.offset;
        let mut header = [0u8; RECORD_HEADER_BYTES];
        if !self.read_exact_or_eof(&mut header)? {
            return Err(SnapshotError::Truncated { offset });
        }
        let length = u32::from_le_bytes(header[0..4].try_into().expect("four bytes"));
        let found = u32::from_le_bytes(header[4..8].try_into().expect("four bytes"));
        if length == 0 || length as usize > RECORD_PAYLOAD_BYTES_MAX {
            return Err(SnapshotError::BadLength { offset, length });
        }
        // A record of a usual size is read in one piece; a larger one in bounded steps rather
        // than trusting its length for one allocation up front.
        let payload = if length as usize <= EXACT_READ_BYTES_MAX {
            let mut payload = vec![0; length as usize];
            match self.input.read_exact(&mut payload) {
                Ok(()) => payload,
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(SnapshotError::Truncated { offset })
                }
                Err(error) => return Err(error.into()),
            }
        } else {
            let mut payload = Vec::new();
            let read = (&mut self.input).take(u64::from(length)).read_to_end(&mut payload)?;
            if read != length as usize {
                return Err(SnapshotError::Truncated { offset });
            }
            payload
        };
        self.checksum = crc32c::crc32c_append(self.checksum, &payload);
        self.offset += u64::from(length);
        if crc32c::crc32c(&payload) != found {
            return Err(SnapshotError::RecordChecksum { offset });
        }
        Ok((offset, payload))
    }

    /// Fills `buffer`; `false` when the input ended first.
    fn read_exact_or_eof(&mut self, buffer: &mut [u8]) -> Result<bool, SnapshotError> {
        match self.input.read_exact(buffer) {
            Ok(()) => {
                self.checksum = crc32c::crc32c_append(self.checksum, buffer);
                self.offset += buffer.len() as u64;
                Ok(true)
            }
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}
