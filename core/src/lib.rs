//! The pure core of redraft: the state machine every node replicates.
//!
//! It holds the sharded map with TTLs ([`map`]), Redis command semantics ([`command`],
//! [`exec`]), the replicated entry types ([`entry`]), client sessions ([`session`]), and the log
//! record and snapshot byte formats ([`record`], [`snapshot`]). Every bound is in [`limits`].
//!
//! This crate knows no clock, thread, socket, file or runtime: time arrives as entry stamps or
//! `now_ms` arguments, randomness as seeds. The node that drives it (openraft, RESP, disks) lives
//! in `redraft-server`; wire formats in `redraft-net`.

pub mod acl;
pub mod change;
pub mod change_arena;
pub mod codec;
pub mod command;
pub mod command_name;
pub mod command_spec;
pub mod encoded_string;
pub mod entry;
pub mod entry_decoder;
pub mod entry_encoder;
mod entry_layout;
pub mod exec;
pub mod fnv;
pub mod glob;
pub mod hash_index;
pub mod key_compare;
pub mod key_range;
pub mod keyspace_event;
pub mod limits;
pub mod map;
pub mod map_writes;
pub mod number;
pub mod parse;
pub mod pin;
pub mod record;
pub mod replay_growth;
pub mod reply;
pub mod session;
pub mod shard;
pub mod snapshot;
pub mod snapshot_reader;
mod snapshot_string;
pub mod spec;
pub mod state;
pub mod stored_key;
pub mod txn;
pub mod types;
mod varint;

pub use change::{Change, ChangeKind, DeleteReason};
pub use command::{Command, CommandName, ParseError};
pub use entry::{AclChange, LogEntry, Payload, SessionRef, Watch, Write};
pub use reply::Reply;
pub use state::{Frozen, StateMachine, StateMachineConfig};
