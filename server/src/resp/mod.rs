//! The RESP front end: a listener on the `tokio` alias's TCP (real sockets in production,
//! madsim's in simulation) and one task per client connection.
//!
//! - [`tls_listener`]: TLS connections, each handed to [`listener`] after its handshake
//!   (production only).
//! - [`listener`]: accepting clients, reading and framing their bytes, writing replies.
//! - [`connection`]: what each request is and in what order it runs (pipelining, batching of
//!   reads and writes).
//! - [`transaction`]: a connection's MULTI/EXEC/WATCH state.
//! - [`parse`]: a data command parsed, with the seed of one that picks at random drawn.
//! - [`admin`], [`command_info`], [`cluster`], [`persistence`], [`acl`]: the connection, server,
//!   RAFT, SAVE/BGSAVE/LASTSAVE and ACL commands.
//! - [`auth`]: who a connection runs as and whether it may run each request.
//! - [`server`]: what connections share.
//! - [`blocking`]: blocking pops, waiting on this node for an applied entry to feed them.
//! - [`pubsub`]: subscriptions, and messages delivered to subscribed connections.
//! - [`acl_log`] and [`clients`]: the requests refused, and the client registry.
//!
//! Each module imports only from those after it in the list above, never from this one, so there
//! are no cycles. The data commands' semantics, and every command's name, arity and flags
//! (`redraft_core::spec`), are core's.

mod acl;
mod acl_log;
mod admin;
mod auth;
mod blocking;
mod clients;
mod cluster;
mod command_info;
mod connection;
mod listener;
mod parse;
mod persistence;
mod pubsub;
mod server;
#[cfg(not(madsim))]
mod tls_listener;
mod transaction;

pub use acl::bootstrap_from_acl_file;
pub use server::{RespServer, RespSettings};
