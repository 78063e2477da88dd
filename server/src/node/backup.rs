//! A backup of a live node: a snapshot built now, at one revision (its last applied entry),
//! while the node keeps serving, and read back from the data directory. What `GET /v1/snapshot`
//! serves and `redraft-cli snapshot save` writes; `redraft-server restore` makes a new cluster's
//! data directory from it (`restore.rs`). The snapshot is held in memory whole, as openraft's
//! snapshots are today (the operations issue's streaming is not done).

use std::time::Duration;

use redraft_core::snapshot::SnapshotReader;

use super::Node;
use crate::error::NodeError;

/// How long a backup waits for its snapshot to be built.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(120);

/// A snapshot's bytes and the log index it was taken at.
pub struct Backup {
    pub revision: u64,
    pub bytes: Vec<u8>,
}

impl Node {
    /// Builds a snapshot of everything applied so far and returns it.
    ///
    /// # Errors
    /// The snapshot could not be built or read within [`BACKUP_TIMEOUT`].
    pub async fn backup(&self) -> Result<Backup, NodeError> {
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
        if let Err(error) = built {
            return Err(NodeError::Unavailable(format!("the snapshot was not built: {error}")));
        }
        let bytes = (self.read_snapshot)()
            .map_err(|e| NodeError::Unavailable(format!("cannot read the snapshot file: {e}")))?;
        let revision = SnapshotReader::new(bytes.as_slice())
            .map_err(|e| NodeError::Unavailable(format!("the snapshot file is damaged: {e}")))?
            .header()
            .last_applied
            .map_or(0, |id| id.index);
        Ok(Backup { revision, bytes })
    }
}
