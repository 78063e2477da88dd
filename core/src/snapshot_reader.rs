//! Reading a snapshot (its format is `snapshot.rs`): record by record, every checksum and count
//! verified, keys handed on in bounded chunks, an aggregate's parts gathered back into one key.

use std::io::{self, Read};

use bytes::Bytes;

use crate::codec;
use crate::limits::{DELETION_MARK_BUCKETS, RECORD_PAYLOAD_BYTES_MAX};
use crate::map::Entry;
use crate::record::RECORD_HEADER_BYTES;
use crate::session::Session;
use crate::snapshot::{
    SnapshotError, SnapshotHeader, SnapshotItem, SNAPSHOT_FORMAT_VERSIONS_READ, SNAPSHOT_MAGIC,
};
use crate::snapshot_string::decode_key_created;
use crate::state::Frozen;
use crate::types::{Aggregate, Value};

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
    /// The last record's payload: one buffer for every record, as a snapshot of a million keys
    /// is a million small records (a fresh zeroed vector each cost an allocation and a free).
    payload: Vec<u8>,
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
            payload: Vec::new(),
            finished: false,
        };
        let mut magic = [0u8; 8];
        if !reader.read_exact_or_eof(&mut magic)? || &magic != SNAPSHOT_MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let offset = reader.read_record()?;
        reader.header = codec::decode_any_version(SNAPSHOT_FORMAT_VERSIONS_READ, &reader.payload)
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
        let offset = self.read_record()?;
        let item: SnapshotItem = match decode_key_created(&self.payload) {
            Some(item) => item,
            None => codec::decode_any_version(SNAPSHOT_FORMAT_VERSIONS_READ, &self.payload)
                .map_err(|source| SnapshotError::Decode { offset, source })?,
        };
        if self.payload.capacity() > EXACT_READ_BYTES_MAX {
            // A large value passed through: its buffer is not kept for the small records.
            self.payload = Vec::new();
        }
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

    fn read_record(&mut self) -> Result<u64, SnapshotError> {
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
        let payload = &mut self.payload;
        payload.clear();
        if length as usize <= EXACT_READ_BYTES_MAX {
            payload.resize(length as usize, 0);
            match self.input.read_exact(payload) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(SnapshotError::Truncated { offset })
                }
                Err(error) => return Err(error.into()),
            }
        } else {
            let read = (&mut self.input).take(u64::from(length)).read_to_end(payload)?;
            if read != length as usize {
                return Err(SnapshotError::Truncated { offset });
            }
        }
        self.checksum = crc32c::crc32c_append(self.checksum, payload);
        self.offset += u64::from(length);
        if crc32c::crc32c(payload) != found {
            return Err(SnapshotError::RecordChecksum { offset });
        }
        Ok(offset)
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
