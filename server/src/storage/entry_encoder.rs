//! Log entries as their records hold them ([`encode_entry`]), and the buffer the log store
//! encodes appended entries in ([`EntryEncoder`]).

use openraft::Entry;
use redraft_core::codec;
use redraft_core::limits::LOG_ENCODING_KEPT_BYTES;

use super::format::STORE_FORMAT_VERSION;
use crate::raft_types::TypeConfig;

/// Encodes an entry as its log record's payload holds it (after the segment log's index prefix).
pub fn encode_entry(entry: &Entry<TypeConfig>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_entry_into(entry, &mut out);
    out
}

/// As [`encode_entry`], appending to `out`, in one walk of the entry (the proposer bounded it, so
/// that sizing it first would buy nothing).
fn encode_entry_into(entry: &Entry<TypeConfig>, out: &mut Vec<u8>) {
    codec::encode_versioned_into(STORE_FORMAT_VERSION, entry, out);
}

/// One buffer for every appended entry's encoding, so that an append allocates only its record
/// (`segment_log.rs`); let go after an entry with one write larger than a batch grew it past
/// [`LOG_ENCODING_KEPT_BYTES`].
#[derive(Default)]
pub(super) struct EntryEncoder {
    buffer: Vec<u8>,
}

impl EntryEncoder {
    /// Encodes `entry` as [`encode_entry`] does, into the buffer.
    pub(super) fn encode(&mut self, entry: &Entry<TypeConfig>) -> &[u8] {
        self.buffer.clear();
        encode_entry_into(entry, &mut self.buffer);
        &self.buffer
    }

    /// Lets the buffer go if it holds more than [`LOG_ENCODING_KEPT_BYTES`].
    pub(super) fn trim(&mut self) {
        if self.buffer.capacity() > LOG_ENCODING_KEPT_BYTES {
            self.buffer = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use openraft::{CommittedLeaderId, EntryPayload, LogId};
    use redraft_core::command::Command;
    use redraft_core::entry::{LogEntry, Payload};

    use super::*;

    fn set(index: u64, value_bytes: usize) -> Entry<TypeConfig> {
        let args =
            [Bytes::from_static(b"SET"), Bytes::from_static(b"k"), Bytes::from(vec![b'v'; value_bytes])];
        let command = Command::parse(&args).expect("a SET");
        let entry = LogEntry { stamp_ms: 1, payload: Payload::Command { session: None, command } };
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(entry),
        }
    }

    /// The buffer writes what `encode_entry` writes, is kept for the next entry, and is let go
    /// after an entry larger than a batch.
    #[test]
    fn the_buffer_encodes_as_encode_entry_and_is_let_go_when_large() {
        let mut encoder = EntryEncoder::default();
        for (index, value_bytes) in [(1, 16), (2, 3)] {
            let entry = set(index, value_bytes);
            assert_eq!(encoder.encode(&entry), encode_entry(&entry).as_slice());
            encoder.trim();
            assert!(encoder.buffer.capacity() > 0, "a small entry's buffer is kept");
        }
        let large = set(3, LOG_ENCODING_KEPT_BYTES + 1);
        assert_eq!(encoder.encode(&large).len(), encode_entry(&large).len());
        encoder.trim();
        assert_eq!(encoder.buffer.capacity(), 0, "a buffer grown past the bound is let go");
    }
}
