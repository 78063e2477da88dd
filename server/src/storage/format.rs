//! The format version of everything the storage layer encodes with bincode: each log record's
//! entry (after its index prefix), the metadata file, and the snapshot header's Raft fields.
//! Bump it when any of them changes shape; the golden tests in `server/tests/formats.rs` pin the
//! bytes.
//!
//! - Version 1: the first.
//! - Version 2: entries may be batches of client writes (`Payload::Batch`). The new variant is
//!   added at the end of the enum, so every version-1 encoding is still valid and still read:
//!   a data directory written by a version-1 build opens unchanged. A version-1 build refuses
//!   version-2 data with an error naming both versions, rather than misreading it.
//! - Version 3: a batch's writes may change the users (`Write::Acl`), again a variant added at
//!   the end, so versions 1 and 2 are still read.
//! - Version 4: a batch's writes may be etcd-style transactions from the HTTP API (`Write::Txn`),
//!   a variant added at the end; versions 1 to 3 are still read.

use std::ops::RangeInclusive;

/// The format version this build writes.
pub const STORE_FORMAT_VERSION: u8 = 4;

/// The format versions this build reads.
pub const STORE_FORMAT_VERSIONS_READ: RangeInclusive<u8> = 1..=STORE_FORMAT_VERSION;
