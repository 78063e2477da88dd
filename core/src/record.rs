//! Log record framing, `[len: u32][crc32c: u32][payload]` (little endian), and a streaming
//! decoder that tells a torn tail from corruption in the middle (DESIGN.md §2).
//!
//! The rules, for a stream of records that ends where the file ends:
//! - a record that is cut short by the end of the stream is a **torn tail**: the last write did
//!   not finish before a crash. Recovery truncates it and carries on, and says so;
//! - a record whose length is impossible (0 or over [`RECORD_PAYLOAD_BYTES_MAX`]) or whose
//!   checksum does not match is a torn tail only if no valid record follows it (a crash can
//!   leave a partly written, zero-filled or stale last block). If a valid record follows, it is
//!   **corruption in the middle**, and recovery must refuse, naming the offset: truncating there
//!   would silently drop records that were durable and maybe acknowledged. The streaming
//!   [`RecordDecoder`] cannot look ahead that far within its memory bound, so it applies the
//!   stricter rule "only zero bytes may follow"; [`decode_all`], which holds the whole stream,
//!   searches the rest of the stream for a valid record at every offset.
//!
//! One case cannot be told apart: a length field corrupted to a plausible value that points past
//! the end of the stream looks exactly like a torn tail.
//!
//! The decoder buffers at most one record (plus what the caller feeds at once), so memory is
//! bounded by the record limit whatever the input.

use bytes::{Buf, Bytes, BytesMut};

use crate::limits::RECORD_PAYLOAD_BYTES_MAX;

/// Bytes of the `[len][crc]` header.
pub const RECORD_HEADER_BYTES: usize = 8;

/// Appends one framed record to `out`.
///
/// # Panics
/// If `payload` is empty or longer than [`RECORD_PAYLOAD_BYTES_MAX`]: callers size entries
/// against the limit before they get here, and a record we could not read back must never be
/// written.
pub fn encode_record(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(RECORD_HEADER_BYTES + payload.len());
    let start = start_record(out);
    out.extend_from_slice(payload);
    finish_record(out, start);
}

/// Starts a record at the end of `out`, with room for its header; the payload is then written
/// after it in place and [`finish_record`] fills the header in, so a payload built piece by
/// piece needs no copy of its own. Returns where the record starts.
pub fn start_record(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER_BYTES]);
    start
}

/// Fills in the header of the record [`start_record`] began at `start`: its payload is the rest
/// of `out`.
///
/// # Panics
/// As [`encode_record`].
pub fn finish_record(out: &mut [u8], start: usize) {
    let (header, payload) = out[start..].split_at_mut(RECORD_HEADER_BYTES);
    assert!(
        !payload.is_empty() && payload.len() <= RECORD_PAYLOAD_BYTES_MAX,
        "record payload of {} bytes is outside 1..={RECORD_PAYLOAD_BYTES_MAX}",
        payload.len()
    );
    header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[4..].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
}

/// One decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Offset of the record's header in the stream.
    pub offset: u64,
    pub payload: Bytes,
}

/// Corruption in the middle of a stream: recovery must stop here.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("corrupt record at offset {offset}: {problem}")]
pub struct CorruptRecord {
    /// Offset of the bad record's header.
    pub offset: u64,
    pub problem: Problem,
}

/// What is wrong with a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("length {0} is outside 1..={max}", max = RECORD_PAYLOAD_BYTES_MAX)]
    BadLength(u32),
    #[error("checksum {found:#010x} does not match the payload's {computed:#010x}")]
    ChecksumMismatch { found: u32, computed: u32 },
}

/// How a stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Every byte belonged to a whole, valid record.
    Clean { end_offset: u64 },
    /// The stream ends in an incomplete or damaged last record. Valid data ends at
    /// `valid_end_offset`, where the file should be truncated; `discarded_bytes` follow it.
    Torn { valid_end_offset: u64, discarded_bytes: u64, reason: TornReason },
}

/// Why a tail counts as torn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TornReason {
    /// The stream ended inside a record.
    Incomplete,
    /// The last record is damaged and only zero bytes follow it.
    Damaged(Problem),
}

/// A streaming record decoder. Feed bytes with [`feed`](Self::feed), take records with
/// [`next_record`](Self::next_record) until it returns `None`, and at the end of the stream call
/// [`finish`](Self::finish).
#[derive(Debug)]
pub struct RecordDecoder {
    buffer: BytesMut,
    /// Stream offset of `buffer[0]`.
    offset: u64,
    /// Set once a damaged record is met: from then on bytes are not buffered, only checked for
    /// being zero.
    damaged: Option<Damaged>,
}

#[derive(Debug)]
struct Damaged {
    offset: u64,
    problem: Problem,
    /// Bytes seen from the damaged record's header on.
    bytes_after: u64,
    /// Whether a non-zero byte follows the damaged record's own extent (its header, when its
    /// length is unusable).
    nonzero_after: bool,
}

impl RecordDecoder {
    /// A decoder for a stream whose first byte is at `start_offset`.
    pub fn new(start_offset: u64) -> RecordDecoder {
        RecordDecoder { buffer: BytesMut::new(), offset: start_offset, damaged: None }
    }

    /// Adds the next bytes of the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        match &mut self.damaged {
            Some(damaged) => {
                damaged.bytes_after += bytes.len() as u64;
                damaged.nonzero_after |= bytes.iter().any(|&b| b != 0);
            }
            None => self.buffer.extend_from_slice(bytes),
        }
    }

    /// The next whole record, or `None` when more bytes are needed.
    ///
    /// # Errors
    /// [`CorruptRecord`] when a damaged record is followed by non-zero bytes. The decoder is
    /// finished then: every later call returns the same error.
    pub fn next_record(&mut self) -> Result<Option<Record>, CorruptRecord> {
        if let Some(damaged) = &self.damaged {
            return if damaged.nonzero_after {
                Err(CorruptRecord { offset: damaged.offset, problem: damaged.problem.clone() })
            } else {
                Ok(None)
            };
        }
        if self.buffer.len() < RECORD_HEADER_BYTES {
            return Ok(None);
        }
        let length = u32::from_le_bytes(self.buffer[0..4].try_into().expect("four bytes"));
        let found = u32::from_le_bytes(self.buffer[4..8].try_into().expect("four bytes"));
        if length == 0 || length as usize > RECORD_PAYLOAD_BYTES_MAX {
            self.mark_damaged(Problem::BadLength(length), 0);
            return self.next_record();
        }
        let total = RECORD_HEADER_BYTES + length as usize;
        if self.buffer.len() < total {
            return Ok(None);
        }
        let computed = crc32c::crc32c(&self.buffer[RECORD_HEADER_BYTES..total]);
        if computed != found {
            self.mark_damaged(Problem::ChecksumMismatch { found, computed }, total);
            return self.next_record();
        }
        let offset = self.offset;
        self.buffer.advance(RECORD_HEADER_BYTES);
        let payload = self.buffer.split_to(length as usize).freeze();
        self.offset += total as u64;
        Ok(Some(Record { offset, payload }))
    }

    /// Ends the stream: says whether it ended cleanly or in a torn tail.
    ///
    /// # Errors
    /// [`CorruptRecord`] when the stream holds corruption before its end. Call
    /// [`next_record`](Self::next_record) until it returns `None` first; records not taken are
    /// counted as part of the tail.
    pub fn finish(mut self) -> Result<Tail, CorruptRecord> {
        // Surface corruption that the last feed revealed.
        while self.damaged.is_none() && !self.buffer.is_empty() {
            match self.next_record()? {
                Some(_) => {
                    debug_assert!(false, "finish called with whole records not taken");
                }
                None => break,
            }
        }
        match self.damaged {
            Some(damaged) if damaged.nonzero_after => {
                Err(CorruptRecord { offset: damaged.offset, problem: damaged.problem })
            }
            Some(damaged) => Ok(Tail::Torn {
                valid_end_offset: damaged.offset,
                discarded_bytes: damaged.bytes_after,
                reason: TornReason::Damaged(damaged.problem),
            }),
            None if self.buffer.is_empty() => Ok(Tail::Clean { end_offset: self.offset }),
            None => Ok(Tail::Torn {
                valid_end_offset: self.offset,
                discarded_bytes: self.buffer.len() as u64,
                reason: TornReason::Incomplete,
            }),
        }
    }

    /// Records a damaged record at the head of the buffer whose own extent is `extent` bytes
    /// (0 when its length is unusable); everything after that extent must be zero for the damage
    /// to count as a torn tail.
    fn mark_damaged(&mut self, problem: Problem, extent: usize) {
        let after = if extent == 0 { RECORD_HEADER_BYTES } else { extent };
        let nonzero_after = self.buffer[after.min(self.buffer.len())..].iter().any(|&b| b != 0);
        self.damaged = Some(Damaged {
            offset: self.offset,
            problem,
            bytes_after: self.buffer.len() as u64,
            nonzero_after,
        });
        self.buffer = BytesMut::new();
    }
}

/// Decodes a whole stream held in memory.
///
/// # Errors
/// [`CorruptRecord`] for corruption before the end.
pub fn decode_all(bytes: &[u8], start_offset: u64) -> Result<(Vec<Record>, Tail), CorruptRecord> {
    let mut decoder = RecordDecoder::new(start_offset);
    decoder.feed(bytes);
    let mut records = Vec::new();
    let corrupt = loop {
        match decoder.next_record() {
            Ok(Some(record)) => records.push(record),
            Ok(None) => match decoder.finish() {
                Ok(tail) => return Ok((records, tail)),
                Err(corrupt) => break corrupt,
            },
            Err(corrupt) => break corrupt,
        }
    };
    // Damage followed by non-zero bytes: corruption only if a valid record follows it.
    let damaged_at = (corrupt.offset - start_offset) as usize;
    if valid_record_after(bytes, damaged_at + 1).is_some() {
        return Err(corrupt);
    }
    let tail = Tail::Torn {
        valid_end_offset: corrupt.offset,
        discarded_bytes: (bytes.len() - damaged_at) as u64,
        reason: TornReason::Damaged(corrupt.problem),
    };
    Ok((records, tail))
}

/// The first position at or after `from` where a whole record with a matching checksum starts.
/// Random bytes pass by chance with odds of about 2^-32 per position whose length field fits.
fn valid_record_after(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(RECORD_HEADER_BYTES)).find(|&at| {
        let length = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes")) as usize;
        let found = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("four bytes"));
        let end = at + RECORD_HEADER_BYTES + length;
        (1..=RECORD_PAYLOAD_BYTES_MAX).contains(&length)
            && end <= bytes.len()
            && crc32c::crc32c(&bytes[at + RECORD_HEADER_BYTES..end]) == found
    })
}
