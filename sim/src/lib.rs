//! Deterministic simulation of redraft inside madsim (DESIGN.md §5, §6): the production node on
//! the simulator's seams ([`disk::SimDisk`], [`clock::SimClock`], madsim's network), clients that
//! speak RESP over the simulated network and record a Jepsen history, a nemesis scheduled from the
//! seed, and invariants checked after every run. [`run::run`] runs one simulation as
//! [`config::SimConfig`] says; the history's recorder, the outcome rules and the partition
//! planner are `jepsen::harness`'s, shared with the real-process runner.
//!
//! Everything here exists only under `RUSTFLAGS="--cfg madsim"`; `ci/test` builds it in its own
//! target dir. The tests in `tests/simulation.rs` run fixed regression seeds, a sweep of fresh
//! seeds within a time budget, and determinism checks; `ci/sim-sweep` runs long sweeps.

#[cfg(madsim)]
pub mod client;
#[cfg(madsim)]
pub mod clock;
#[cfg(madsim)]
mod cluster;
#[cfg(madsim)]
pub mod config;
#[cfg(madsim)]
pub mod disk;
#[cfg(madsim)]
mod invariants;
#[cfg(madsim)]
mod nemesis;
#[cfg(madsim)]
pub mod run;
#[cfg(madsim)]
mod workload;

/// The simulator's monotonic time: madsim's virtual clock, which is deterministic (the
/// determinism lint forbids reading the clock elsewhere, so the harness reads it here).
#[cfg(madsim)]
#[allow(clippy::disallowed_methods)]
pub fn now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}
