//! Benchmarks live in `benches/` (criterion); run them with `cargo bench -p benches`.
//! They print figures and never assert speed.
