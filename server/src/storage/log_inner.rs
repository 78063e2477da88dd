//! The log, its decoded tail and its metadata behind one lock ([`LogInner`]), shared by the log store
//! (`log_store.rs`) and its sync loops (`flush.rs`).

use openraft::{LogId, Vote};
use serde::{Deserialize, Serialize};

use super::decoded_tail::DecodedTail;
use super::disk::Disk;
use super::entry_encoder::EntryEncoder;
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
    /// The sequence of the metadata copies on disk (`meta_file.rs`).
    pub(super) meta_sequence: u64,
    /// Why a sync of the log failed, once one has. After a failed fsync the kernel may have
    /// dropped the dirty pages and a later fsync can succeed without them ("fsyncgate"), so no
    /// later sync can be trusted: the log takes no more appends, which stops Raft, and the
    /// process exits for a supervisor to restart it from what is really on disk.
    pub(super) sync_failed: Option<String>,
    /// Where an appended entry is encoded before it is framed.
    pub(super) encoder: EntryEncoder,
}
