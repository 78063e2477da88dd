//! The snapshot format: the whole state at one applied log id, written and read as a stream.
//!
//! Layout: the 8-byte magic `RDRFSNAP`, then records framed as in the log
//! (`[len][crc32c][payload]`, see [`crate::record`]):
//! 1. a header: a format-version byte and [`SnapshotHeader`];
//! 2. one record per key ([`SnapshotItem::KeyCreated`], with its TTL, modification and create
//!    indexes; [`SnapshotItem::Key`] before format version 3) in key
//!    order, then one per client session ([`SnapshotItem::Session`]) in client-id order, then
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

/// The first bytes of every snapshot.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"RDRFSNAP";

/// The version of the header and item encoding: 2 added [`SnapshotItem::User`], 3
/// [`SnapshotItem::KeyCreated`] (keys with their create index), which it writes instead of
/// [`SnapshotItem::Key`].
pub const SNAPSHOT_FORMAT_VERSION: u8 = 3;

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
}

impl SnapshotItem {
    /// The key and entry of a key item, of either version; `None` for any other item.
    pub fn into_key(self) -> Option<(Bytes, Entry)> {
        match self {
            SnapshotItem::Key { key, value, expire_at_ms, mod_index } => {
                Some((key, Entry { value, expire_at_ms, mod_index, create_index: mod_index }))
            }
            SnapshotItem::KeyCreated { key, value, expire_at_ms, mod_index, create_index } => {
                Some((key, Entry { value, expire_at_ms, mod_index, create_index }))
            }
            _ => None,
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
        self.write_item(&SnapshotItem::KeyCreated {
            key: key.clone(),
            value: entry.value.clone(),
            expire_at_ms: entry.expire_at_ms,
            mod_index: entry.mod_index,
            create_index: entry.create_index,
        })
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
    /// Of `item_count`, the users: the header counts only keys and sessions.
    user_count: u64,
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
            user_count: 0,
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
            if declared != self.item_count - self.user_count {
                return Err(SnapshotError::HeaderCountMismatch {
                    expected: declared,
                    found: self.item_count - self.user_count,
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
        if matches!(item, SnapshotItem::User { .. }) {
            self.user_count += 1;
        }
        Ok(Some(item))
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
        while let Some(item) = self.next_item()? {
            match item {
                SnapshotItem::Key { .. } | SnapshotItem::KeyCreated { .. } => {
                    chunk.push(item.into_key().expect("a key item"));
                    if chunk.len() == KEY_CHUNK {
                        keys(std::mem::replace(&mut chunk, Vec::with_capacity(KEY_CHUNK)));
                    }
                }
                SnapshotItem::Session { client_id, sequence, log_index, reply } => {
                    frozen.sessions.push((client_id, Session { sequence, log_index, reply }));
                }
                SnapshotItem::User { name, rules } => frozen.users.push((name, rules)),
                SnapshotItem::End { .. } => unreachable!("next_item consumes the trailer"),
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
