//! How bincode, with [`codec`](crate::codec)'s options, lays out a [`LogEntry`](crate::entry::LogEntry):
//! what the hand-written encoder (`entry_encoder.rs`) writes and the decoder
//! (`entry_decoder.rs`) reads for the writes nearly every entry is made of.
//!
//! Integers are varints (one byte below 251, else 251, 252 or 253 and 2, 4 or 8 little-endian
//! bytes), signed ones zigzagged first; an enum is its variant's index (a varint) and its fields;
//! an `Option` and a `bool` are one byte, 0 or 1; a byte string or a list is its length (a
//! varint) and its items; a structure is its fields in declaration order; nothing follows the
//! entry.

/// Variant indexes, in declaration order (`core/tests/entry_codec.rs` checks them against
/// bincode's encoding of every kind of entry).
pub(crate) const PAYLOAD_COMMAND: u32 = 0;
pub(crate) const PAYLOAD_TRANSACTION: u32 = 1;
pub(crate) const PAYLOAD_TIME_ADVANCE: u32 = 2;
pub(crate) const PAYLOAD_EXPIRE_BATCH: u32 = 3;
pub(crate) const PAYLOAD_BATCH: u32 = 4;
pub(crate) const WRITE_COMMAND: u32 = 0;
pub(crate) const WRITE_TXN: u32 = 3;
pub(crate) const COMMAND_SET: u32 = 1;
pub(crate) const TXN_OP_PUT: u32 = 0;
