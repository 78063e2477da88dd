//! The redraft node: openraft wiring, the RESP and HTTP listeners, configuration and metrics.
//!
//! Built so far: openraft's runtime adapter ([`runtime`]), the disk seam ([`disk`]), the durable
//! segment log on it ([`log`]), openraft's log and state-machine storage ([`store`]) and the
//! network of a cluster of one ([`network`]). Not yet: the node service, the RESP and HTTP
//! listeners, configuration, metrics and the server binary. The simulator (`sim`) runs this very library, so
//! everything it does with time, tasks, the network or the disk goes through a seam that madsim
//! can replace (DESIGN.md §5).

pub mod disk;
pub mod log;
pub mod network;
pub mod runtime;
pub mod store;
