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

/// How often a save asks again for its snapshot when the node's metrics do not move.
const SAVE_ASK_AGAIN: Duration = Duration::from_millis(50);

/// A snapshot, to be read from its start, and the log index it was taken at.
pub struct Backup {
    pub revision: u64,
    pub data: SnapshotData,
}

impl Node {
    /// Builds a snapshot of everything applied so far and waits until it is written (Redis's
    /// SAVE).
    ///
    /// openraft builds one snapshot at a time and drops a request that comes while one is being
    /// built (the log's automatic one, another save): the request is repeated until a snapshot
    /// covers what was applied when the save began. Asking once left a save that came during a
    /// build waiting for a snapshot no one would build.
    ///
    /// # Errors
    /// The snapshot could not be built within [`BACKUP_TIMEOUT`].
    pub async fn save(&self) -> Result<(), NodeError> {
        let mut metrics = self.raft.metrics();
        let applied = metrics.borrow().last_applied.map_or(0, |id| id.index);
        let built = tokio::time::timeout(BACKUP_TIMEOUT, async {
            loop {
                if metrics.borrow_and_update().snapshot.is_some_and(|id| id.index >= applied) {
                    return Ok(());
                }
                self.raft
                    .trigger()
                    .snapshot()
                    .await
                    .map_err(|e| NodeError::Unavailable(format!("cannot build a snapshot: {e}")))?;
                if let Ok(Err(_)) = tokio::time::timeout(SAVE_ASK_AGAIN, metrics.changed()).await {
                    return Err(NodeError::Unavailable(
                        "the node stopped before the snapshot was built".into(),
                    ));
                }
            }
        })
        .await;
        built.unwrap_or_else(|_| {
            Err(NodeError::Unavailable(format!(
                "the snapshot was not built within {} s",
                BACKUP_TIMEOUT.as_secs()
            )))
        })
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
