//! The storage floor: what a node keeps on disk, below Raft and the node.
//!
//! - [`disk`]: the disk seam, real files in production and a disk that loses unsynced bytes in
//!   the simulator (DESIGN.md §5);
//! - [`segment_log`]: the durable log, segment files of checksummed records, and its recovery
//!   (what it found and does about damage: `log_damage.rs`);
//! - [`log_store`]: openraft's log store over it (entries, vote, purge point), with the sync
//!   loops of each [`fsync`] policy in `flush.rs` (`always`'s on a thread of its own,
//!   `sync_thread.rs`), and the entries not yet applied kept decoded
//!   (`decoded_tail.rs`), entries encoded in one reused buffer (`entry_encoder.rs`), and its
//!   metadata stored twice (`meta_file.rs`);
//! - [`state_machine_store`]: openraft's state machine over core's, and its snapshots, loaded at
//!   start on two threads (`snapshot_load.rs`); [`snapshot_file`]: snapshot files checked or
//!   rewritten for a restore;
//! - [`format`]: the version of every storage byte format;
//! - [`synced_mark`]: the last index reported durable, kept apart from the log, so that a synced
//!   tail the disk lost is found at start;
//! - [`catch_up_marker`]: the file that keeps a node from voting until it has caught up, written
//!   before anything it may have acknowledged is dropped.
//!
//! Nothing here knows the node, the peers or the front ends.

pub mod catch_up_marker;
mod decoded_tail;
pub mod disk;
mod entry_encoder;
pub mod file_disk;
mod flush;
pub mod format;
pub mod fsync;
mod log_damage;
mod log_inner;
pub mod log_store;
mod meta_file;
pub mod segment_log;
pub mod snapshot_file;
mod snapshot_load;
pub mod state_machine_store;
mod sync_thread;
pub mod synced_mark;
