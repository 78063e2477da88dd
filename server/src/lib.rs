//! The redraft node: openraft wiring, the RESP and HTTP listeners, configuration and metrics.
//!
//! Its modules stand on floors, each using only the floors below it:
//!
//! | floor | modules |
//! | --- | --- |
//! | the process | [`app`] (start-up), [`dev_cluster`] and [`dev_certs`] (a local cluster to try), [`restore`] (a new cluster from a backup), [`config`], [`open_files`], [`disk_space`], [`tls`] (certificates for every port; production only) |
//! | front ends | [`resp`] (the Redis protocol), [`http`] (keys, ranges, transactions and watch under `/v1`, the cluster, `/metrics`, health; production only) |
//! | the node | [`node`]: writes through Raft, linearizable reads, membership, elections, duties |
//! | peers | [`peer`]: messages, the outgoing pool, openraft's network, the incoming service |
//! | storage | [`storage`]: the disk seam, the segment log, openraft's log and state-machine stores |
//! | shared types and seams | [`addr`], [`allocator`], [`change_feed`] (applied changes, for watchers), [`error`], [`membership`], [`raft_types`], [`clock`], [`runtime`], [`fault`], [`metrics`] |
//!
//! The simulator (`sim`) runs this very library, so everything it does with time, tasks, the
//! network or the disk goes through a seam that madsim can replace (DESIGN.md §5).

pub mod addr;
pub mod allocator;
#[cfg(not(madsim))]
pub mod app;
pub mod change_feed;
pub mod clock;
pub mod config;
#[cfg(not(madsim))]
pub mod dev_certs;
#[cfg(not(madsim))]
pub mod dev_cluster;
#[cfg(not(madsim))]
pub mod disk_space;
pub mod error;
pub mod fault;
#[cfg(not(madsim))]
pub mod http;
pub mod membership;
pub mod metrics;
pub mod node;
#[cfg(not(madsim))]
pub mod open_files;
pub mod peer;
pub mod raft_types;
pub mod resp;
#[cfg(not(madsim))]
pub mod restore;
pub mod runtime;
pub mod snapshot_data;
pub mod storage;
#[cfg(not(madsim))]
pub mod tls;
pub mod watch_stream;
