//! The format version of everything the storage layer encodes with bincode: each log record's
//! entry (after its index prefix), the metadata file, and the snapshot header's Raft fields.
//! Bump it when any of them changes shape; the golden tests in `server/tests/formats.rs` pin the
//! bytes.

/// The format version of the log store's records, its metadata and the snapshot's Raft header.
pub const STORE_FORMAT_VERSION: u8 = 1;
