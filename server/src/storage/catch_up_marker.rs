//! The file whose presence says a node must catch up with the leader before it votes
//! (`node/catch_up.rs`): written, durably, before the storage drops anything the node may have
//! acknowledged (a damaged log's tail, a damaged snapshot and the log resting on it), so that a
//! crash in the middle of the repair cannot let the node vote with a log it no longer has; and
//! removed by the node once it has caught up.

use std::io;

use super::disk::Disk;

/// The marker's file name in the data directory.
pub const CATCH_UP_MARKER: &str = "catching-up";

/// Writes the marker, durably.
///
/// # Errors
/// It cannot be written: nothing may be dropped then.
pub async fn write_catch_up_marker<D: Disk>(disk: &D) -> io::Result<()> {
    disk.replace(CATCH_UP_MARKER, b"this node votes once it has caught up with the leader\n").await
}

/// Whether the marker is there.
pub fn catching_up<D: Disk>(disk: &D) -> bool {
    disk.read(CATCH_UP_MARKER).is_ok()
}
