//! A backup of a live node: a snapshot built now, at one revision (its last applied entry),
//! while the node keeps serving, and read back from the data directory. What `GET /v1/snapshot`
//! serves and `redraft-cli snapshot save` writes; `redraft-server restore` makes a new cluster's
//! data directory from it (`restore.rs`). It is served from the snapshot file as it is read, never
//! whole in memory.

use std::io::{BufReader, Seek};
use std::time::Duration;

use redraft_core::snapshot_reader::SnapshotReader;

use super::Node;
use crate::error::NodeError;
use crate::snapshot_data::SnapshotData;

/// How long a backup waits for its snapshot to be built.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(120);

/// A snapshot, to be read from its start, and the log index it was taken at.
pub struct Backup {
    pub revision: u64,
    pub data: SnapshotData,
}

impl Node {
    /// Builds a snapshot of everything applied so far and waits until it is written (Redis's
    /// SAVE).
    ///
    /// # Errors
    /// The snapshot could not be built within [`BACKUP_TIMEOUT`].
    pub async fn save(&self) -> Result<(), NodeError> {
        let applied = self.raft.metrics().borrow().last_applied.map_or(0, |id| id.index);
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| NodeError::Unavailable(format!("cannot build a snapshot: {e}")))?;
        let built = self
            .raft
            .wait(Some(BACKUP_TIMEOUT))
            .metrics(|m| m.snapshot.is_some_and(|id| id.index >= applied), "a snapshot at the applied index")
            .await;
        match built {
            Ok(_) => Ok(()),
            Err(error) => Err(NodeError::Unavailable(format!("the snapshot was not built: {error}"))),
        }
    }

    /// The Unix time, in seconds, of the last snapshot this node built or installed, or of its
    /// start (Redis's LASTSAVE).
    pub fn last_save_unix(&self) -> u64 {
        self.last_save_unix.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Notes the time when the node's snapshot has moved (the node's duties look every pass).
    pub(super) fn note_snapshot(&self, snapshot: Option<u64>) {
        if self.last_snapshot_seen.swap(snapshot.unwrap_or(0), std::sync::atomic::Ordering::Relaxed)
            != snapshot.unwrap_or(0)
        {
            self.last_save_unix.store(self.clock.now_ms() / 1000, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Marks a BGSAVE as running; false if one already is.
    pub fn begin_background_save(&self) -> bool {
        !self.background_save.swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    pub fn end_background_save(&self) {
        self.background_save.store(false, std::sync::atomic::Ordering::Release);
    }

    /// Builds a snapshot of everything applied so far and returns it.
    ///
    /// # Errors
    /// The snapshot could not be built or read within [`BACKUP_TIMEOUT`].
    pub async fn backup(&self) -> Result<Backup, NodeError> {
        self.save().await?;
        let unreadable =
            |e: std::io::Error| NodeError::Unavailable(format!("cannot read the snapshot file: {e}"));
        let mut data = (self.read_snapshot)().map_err(unreadable)?;
        let revision = SnapshotReader::new(BufReader::new(&mut data))
            .map_err(|e| NodeError::Unavailable(format!("the snapshot file is damaged: {e}")))?
            .header()
            .last_applied
            .map_or(0, |id| id.index);
        data.rewind().map_err(unreadable)?;
        Ok(Backup { revision, data })
    }
}
