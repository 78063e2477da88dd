//! The log, its decoded tail and its metadata behind one lock ([`LogInner`]), shared by the log store
//! (`log_store.rs`) and its sync loops (`flush.rs`).

use openraft::{LogId, Vote};
use serde::{Deserialize, Serialize};

use super::decoded_tail::DecodedTail;
use super::disk::Disk;
use super::segment_log::SegmentLog;

/// What the metadata file holds: the decisions Raft needs back after a restart besides the log.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct Meta {
    pub(super) vote: Option<Vote<u64>>,
    pub(super) last_purged: Option<LogId<u64>>,
}

/// The log, its newest entries decoded, and its metadata, behind one lock.
pub(super) struct LogInner<D: Disk> {
    pub(super) log: SegmentLog<D>,
    pub(super) decoded: DecodedTail,
    pub(super) meta: Meta,
}
