//! The RESP front end: a listener on the `tokio` alias's TCP (real sockets in production,
//! madsim's in simulation) and one task per client connection.
//!
//! - [`listener`]: accepting clients, reading and framing their bytes, writing replies.
//! - [`connection`]: what each request is and in what order it runs (pipelining, batching of
//!   reads and writes).
//! - [`transaction`]: a connection's MULTI/EXEC/WATCH state.
//! - [`admin`], [`command_info`], [`cluster`]: the connection, server and RAFT commands.
//! - [`server`] and [`clients`]: what connections share, and the client registry.
//!
//! Each module imports only from those after it in the list above, never from this one, so there
//! are no cycles. The data commands' semantics, and every command's name, arity and flags
//! (`redraft_core::spec`), are core's.

mod admin;
mod clients;
mod cluster;
mod command_info;
mod connection;
mod listener;
mod server;
mod transaction;

pub use server::{RespServer, RespSettings};
