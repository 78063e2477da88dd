//! Fault points in production code paths, active only in simulation (FoundationDB's BUGGIFY):
//! a delayed fsync, replies lost after their writes applied, a connection failing mid-frame.
//! In a production build [`buggify`] is the constant `false` and the points compile away; in the
//! simulator they fire from the seed once the harness enables them.

/// Whether the fault point fires this time (never outside simulation).
#[inline]
pub fn buggify(probability: f64) -> bool {
    #[cfg(madsim)]
    {
        madsim::buggify::buggify_with_prob(probability)
    }
    #[cfg(not(madsim))]
    {
        let _ = probability;
        false
    }
}

/// The random source for a fault point's parameters: the simulator's seeded one, or the
/// thread's in production (where fault points never fire).
pub fn rng() -> impl rand::Rng {
    #[cfg(madsim)]
    {
        madsim::rand::thread_rng()
    }
    #[cfg(not(madsim))]
    {
        <rand::rngs::StdRng as rand::SeedableRng>::from_entropy()
    }
}
