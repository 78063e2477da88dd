//! The process's allocator, jemalloc, as Redis uses: its size classes, 8 bytes apart for small
//! sizes, fit the map's records (`core/src/stored_key.rs`), and its count of allocated bytes is
//! `used_memory` in `INFO memory`, as it is in Redis. Declared in the library so that every
//! binary and test linking it uses the same allocator; the simulator keeps the system one.

#[cfg(not(madsim))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The bytes the process has allocated and not freed, as jemalloc counts them; `None` where
/// jemalloc is not the allocator (the simulator) or cannot say.
pub fn allocated_bytes() -> Option<u64> {
    #[cfg(not(madsim))]
    {
        // jemalloc's statistics are refreshed when the epoch advances.
        tikv_jemalloc_ctl::epoch::advance().ok()?;
        tikv_jemalloc_ctl::stats::allocated::read().ok().map(|bytes| bytes as u64)
    }
    #[cfg(madsim)]
    {
        None
    }
}

/// Starts jemalloc's background threads, which return freed memory to the system as it ages
/// (dirty pages decay over ten seconds), even while the process allocates nothing: without them
/// memory freed after a burst (a snapshot, a big pipeline) stays resident until the next
/// allocation. Returns whether they run.
pub fn start_background_purging() -> bool {
    #[cfg(not(madsim))]
    {
        tikv_jemalloc_ctl::background_thread::write(true).is_ok()
    }
    #[cfg(madsim)]
    {
        false
    }
}
