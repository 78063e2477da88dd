//! Deterministic simulation testing: clusters of real `redraft-server` nodes inside madsim, the
//! nemesis, workloads and invariant checks.
//!
//! The tests live in `tests/` and are compiled only with `--cfg madsim`; build them in their own
//! target dir, as `ci/test` does:
//! `RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/madsim cargo test -p sim`.
//! Until the simulator issue this crate holds only the check that the madsim world is wired up.
