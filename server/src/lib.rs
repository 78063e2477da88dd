//! The redraft node: openraft wiring, the RESP and HTTP listeners, configuration and metrics.
//!
//! - [`node`]: the node service every front end calls (writes through Raft, linearizable reads,
//!   background expiry and snapshots), over [`store`] (openraft's log and state-machine storage),
//!   [`log`] (the durable segment log) and [`disk`] (the disk seam).
//! - [`resp`]: the Redis-protocol front end; [`http`]: `/metrics`, `/healthz`, `/readyz`
//!   (production only).
//! - [`config`] and [`app`]: the server process; [`metrics`], [`clock`], [`runtime`] (openraft's
//!   runtime over the tokio alias) and [`network`] (a cluster of one has no peers yet).
//!
//! The simulator (`sim`) runs this very library, so everything it does with time, tasks, the
//! network or the disk goes through a seam that madsim can replace (DESIGN.md §5).

#[cfg(not(madsim))]
pub mod app;
pub mod clock;
pub mod config;
pub mod disk;
pub mod fault;
#[cfg(not(madsim))]
pub mod http;
pub mod log;
pub mod metrics;
pub mod network;
pub mod node;
pub mod resp;
pub mod runtime;
pub mod store;
