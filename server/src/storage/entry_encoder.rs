//! Log entries as their records hold them ([`encode_entry`], and back: [`decode_entry`]), and
//! the buffer the log store encodes appended entries in ([`EntryEncoder`]).
//!
//! A record's payload is the format version, then bincode's encoding of openraft's `Entry`: its
//! log id, its payload's variant, then (for a client entry) core's `LogEntry`, each field's
//! encoding after the other's (a `LogEntry`'s by core's encoder for it). A client entry is
//! written in those parts, so that a `LogEntry` that already knows its encoding
//! (`LogEntry::encoding`: a follower received it so) is copied instead of encoded again, and one
//! that does not learns it from the record ([`EncodedEntry::own`]). The test below checks the
//! parts against bincode's whole encoding.

use std::ops::RangeFrom;

use bytes::Bytes;
use openraft::{Entry, EntryPayload, LogId};
use redraft_core::codec::{self, DecodeError};
use redraft_core::encoded_string::EncodedString;
use redraft_core::entry_decoder::{self, decode_log_entry};
use redraft_core::entry_encoder::{encode_log_entry, encode_log_entry_placing};
use redraft_core::limits::{BATCH_WRITES_MAX, LOG_ENCODING_KEPT_BYTES};

use super::format::{STORE_FORMAT_VERSION, STORE_FORMAT_VERSIONS_READ};
use crate::raft_types::TypeConfig;

/// bincode's variant index of `EntryPayload::Normal`, which precedes its `LogEntry`.
const NORMAL_PAYLOAD_VARIANT: u32 = 1;

/// Encodes an entry as its log record's payload holds it (after the segment log's index prefix).
pub fn encode_entry(entry: &Entry<TypeConfig>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_head_into(entry, &mut out);
    if let EntryPayload::Normal(data) = &entry.payload {
        match data.encoding() {
            Some(encoding) => out.extend_from_slice(encoding),
            None => encode_log_entry(data, &mut out),
        }
    }
    out
}

/// Decodes a log record's payload written by this build or an older one (each version only added
/// variants): a client entry's `LogEntry` with core's decoder for it, any other entry with
/// bincode.
///
/// # Errors
/// The payload is of an unknown format version, or malformed.
pub fn decode_entry(payload: &Bytes) -> Result<Entry<TypeConfig>, DecodeError> {
    let body = codec::versioned_body(STORE_FORMAT_VERSIONS_READ, payload)?;
    let mut rest = body;
    let log_id: LogId<u64> = codec::decode_prefix(&mut rest)?;
    if codec::decode_prefix::<u32>(&mut rest)? == NORMAL_PAYLOAD_VARIANT {
        let data = decode_log_entry(&payload.slice(payload.len() - rest.len()..))?;
        return Ok(Entry { log_id, payload: EntryPayload::Normal(data) });
    }
    codec::decode_part(body)
}

/// The writes of the entry in a log record's payload, as core's `write_count` reads them from a
/// client entry's head; none for an entry of openraft's own (blank, membership).
///
/// # Errors
/// The payload is of an unknown format version, or its head is malformed.
pub fn write_count(payload: &Bytes) -> Result<usize, DecodeError> {
    let mut rest = codec::versioned_body(STORE_FORMAT_VERSIONS_READ, payload)?;
    codec::decode_prefix::<LogId<u64>>(&mut rest)?;
    if codec::decode_prefix::<u32>(&mut rest)? == NORMAL_PAYLOAD_VARIANT {
        return entry_decoder::write_count(&payload.slice(payload.len() - rest.len()..));
    }
    Ok(0)
}

/// An entry's record payload, in the parts it is written in, and where in it the `LogEntry`'s
/// own encoding starts.
pub(super) struct EncodedEntry<'a> {
    /// The payload: what was encoded, then (for a client entry that knew its encoding) that
    /// encoding, copied only into the record.
    pub(super) parts: [&'a [u8]; 2],
    /// The `LogEntry`'s encoding within the payload, for a client entry.
    pub(super) own: Option<RangeFrom<usize>>,
}

/// Appends the payload of `entry` to `out` up to where a client entry's `LogEntry` starts, and
/// returns that offset; the whole payload, and `None`, for any other entry.
fn encode_head_into(entry: &Entry<TypeConfig>, out: &mut Vec<u8>) -> Option<usize> {
    out.push(STORE_FORMAT_VERSION);
    match &entry.payload {
        EntryPayload::Normal(_) => {
            codec::encode_into(&entry.log_id, out);
            codec::encode_into(&NORMAL_PAYLOAD_VARIANT, out);
            Some(out.len())
        }
        EntryPayload::Blank | EntryPayload::Membership(_) => {
            codec::encode_into(entry, out);
            None
        }
    }
}

/// One buffer for every appended entry's encoding, so that an append allocates only its record
/// (`segment_log.rs`); let go after an entry with one write larger than a batch grew it past
/// [`LOG_ENCODING_KEPT_BYTES`].
#[derive(Default)]
pub(super) struct EntryEncoder {
    buffer: Vec<u8>,
    placed: Vec<EncodedString>,
}

impl EntryEncoder {
    /// Encodes `entry` as [`encode_entry`] does, into the buffer; a client entry's known
    /// encoding is left where it is, the payload's second part.
    pub(super) fn encode<'a>(&'a mut self, entry: &'a Entry<TypeConfig>) -> EncodedEntry<'a> {
        self.buffer.clear();
        self.placed.clear();
        let start = encode_head_into(entry, &mut self.buffer);
        let known = match &entry.payload {
            EntryPayload::Normal(data) => match data.encoding() {
                Some(encoding) => encoding.as_ref(),
                None => {
                    encode_log_entry_placing(data, &mut self.buffer, &mut self.placed);
                    &[]
                }
            },
            EntryPayload::Blank | EntryPayload::Membership(_) => &[],
        };
        EncodedEntry { parts: [&self.buffer, known], own: start.map(|start| start..) }
    }

    /// Where the last entry encoded here holds the strings of its writes, counted from its
    /// `LogEntry`'s encoding (`LogEntry::set_encoding_placed`); none when it was not encoded here.
    pub(super) fn placed(&self) -> &[EncodedString] {
        &self.placed
    }

    /// Lets the buffer go if it holds more than [`LOG_ENCODING_KEPT_BYTES`].
    pub(super) fn trim(&mut self) {
        if self.buffer.capacity() > LOG_ENCODING_KEPT_BYTES {
            self.buffer = Vec::new();
        }
        if self.placed.capacity() > BATCH_WRITES_MAX * 2 {
            self.placed = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use openraft::{CommittedLeaderId, EntryPayload, LogId};
    use redraft_core::command::Command;
    use redraft_core::entry::{LogEntry, Payload, Write};

    use super::*;

    fn set(index: u64, value_bytes: usize) -> Entry<TypeConfig> {
        let args =
            [Bytes::from_static(b"SET"), Bytes::from_static(b"k"), Bytes::from(vec![b'v'; value_bytes])];
        let command = Command::parse(&args).expect("a SET");
        let entry = LogEntry::new(1, Payload::Command { session: None, command });
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(entry),
        }
    }

    fn joined(encoded: &EncodedEntry<'_>) -> Vec<u8> {
        [encoded.parts[0], encoded.parts[1]].concat()
    }

    /// The buffer writes what `encode_entry` writes, is kept for the next entry, and is let go
    /// after an entry larger than a batch.
    #[test]
    fn the_buffer_encodes_as_encode_entry_and_is_let_go_when_large() {
        let mut encoder = EntryEncoder::default();
        for (index, value_bytes) in [(1, 16), (2, 3)] {
            let entry = set(index, value_bytes);
            assert_eq!(joined(&encoder.encode(&entry)), encode_entry(&entry));
            encoder.trim();
            assert!(encoder.buffer.capacity() > 0, "a small entry's buffer is kept");
        }
        let large = set(3, LOG_ENCODING_KEPT_BYTES + 1);
        assert_eq!(joined(&encoder.encode(&large)).len(), encode_entry(&large).len());
        encoder.trim();
        assert_eq!(encoder.buffer.capacity(), 0, "a buffer grown past the bound is let go");
    }

    /// A record's writes are counted from its head: one for a lone command, a batch's writes,
    /// none for an entry of openraft's own.
    #[test]
    fn a_record_counts_its_entrys_writes() {
        let EntryPayload::Normal(lone) = set(1, 16).payload else { unreachable!() };
        let Payload::Command { command, .. } = lone.payload.clone() else { unreachable!() };
        let writes = vec![Write::Command { session: None, command }; 3];
        let batch = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), 2),
            payload: EntryPayload::Normal(LogEntry::new(1, Payload::Batch { writes: Arc::new(writes) })),
        };
        let blank =
            Entry { log_id: LogId::new(CommittedLeaderId::new(2, 3), 4), payload: EntryPayload::Blank };
        for (entry, writes) in [(set(1, 16), 1), (batch, 3), (blank, 0)] {
            assert_eq!(write_count(&Bytes::from(encode_entry(&entry))).expect("a head"), writes);
        }
        assert!(write_count(&Bytes::from_static(&[STORE_FORMAT_VERSION, 1])).is_err(), "a cut head");
    }

    /// Written in parts, an entry's payload is bincode's encoding of the whole entry, of every
    /// kind; a client entry's own part is its `LogEntry`'s encoding, and an entry that knows it
    /// is written the same.
    #[test]
    fn the_parts_are_the_whole_entrys_encoding() {
        let blank =
            Entry { log_id: LogId::new(CommittedLeaderId::new(2, 3), 4), payload: EntryPayload::Blank };
        let nodes = std::collections::BTreeMap::from([(1, crate::addr::NodeAddr::default())]);
        let membership = openraft::Membership::new(vec![std::collections::BTreeSet::from([1])], nodes);
        let changed = Entry {
            log_id: LogId::new(CommittedLeaderId::new(2, 3), 5),
            payload: EntryPayload::Membership(membership),
        };
        for entry in [set(300, 16), set(u64::MAX, 1000), blank, changed] {
            let whole = codec::encode_versioned(STORE_FORMAT_VERSION, &entry);
            let mut encoder = EntryEncoder::default();
            let encoded = encoder.encode(&entry);
            assert_eq!(joined(&encoded), whole);
            let EntryPayload::Normal(data) = &entry.payload else {
                assert!(encoded.own.is_none(), "only a client entry has a part of its own");
                continue;
            };
            let own = Bytes::copy_from_slice(&joined(&encoded)[encoded.own.clone().expect("a client entry")]);
            assert_eq!(codec::decode_part::<LogEntry>(&own).expect("decodes"), *data);
            let mut known = entry.clone();
            let EntryPayload::Normal(data) = &mut known.payload else { unreachable!() };
            data.set_encoding(own.clone());
            let encoded = encoder.encode(&known);
            assert_eq!(encoded.parts[1].len(), own.len(), "a known encoding is left in place, not copied");
            assert_eq!(joined(&encoded), whole);
        }
    }
}
