//! The vocabulary every test harness of redraft shares: the simulator (`sim`, inside madsim) and
//! the real-process runner ([`crate::runner`]) both record their history with a [`Recorder`],
//! sort each request's answer into `ok`, `fail` or `info` with [`Completion::of`], and draw their
//! partitions with [`plan_partition`].
//!
//! Nothing here touches tokio, processes or sockets, so it builds in both worlds (the runner is
//! built only outside madsim). How a client talks to a node, and how a partition is put in
//! place, stay with each harness.

pub mod outcome;
pub mod partition;
pub mod recorder;

pub use outcome::{Answer, Completion};
pub use partition::{plan_partition, Partition, Shape};
pub use recorder::{Counts, Recorder};
