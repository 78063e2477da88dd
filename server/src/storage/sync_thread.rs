//! Where the log's sync loop under `always` runs (`flush.rs`): in production on a thread of its
//! own, with a single-threaded runtime, where the disk's blocking work (the log's `fdatasync`,
//! the synced mark's write and sync) runs in place instead of hopping to the blocking pool; in
//! the simulator as a task, like every other.
//!
//! Why: every durable write waits for this loop, and on a busy node its steps were queued behind
//! the connections' tasks twice per sync (once after the log's sync, once after the mark's),
//! each time also passing through a blocking-pool thread. Measured under `--fsync always`, old
//! and new binaries alternating, with `benches/compare/wrk/kv.lua` puts against the leader of
//! three nodes sharing one CPU (as `benches/compare/etcd_http.sh` runs them): one sync cycle
//! (`redraft_log_fsync_duration_seconds`) took half as long, 738 -> 366-474 us, and puts rose
//! about 4 %; `FSYNC=always benches/compare/ab.sh` gave one node's SET -P1 1.05x.

use std::future::Future;
use std::io;

/// Starts `sync_loop`, which ends when the log is dropped.
///
/// # Errors
/// The thread or its runtime could not be created (production only).
pub(super) fn spawn_sync_loop(sync_loop: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
    #[cfg(madsim)]
    {
        tokio::spawn(sync_loop);
        Ok(())
    }
    #[cfg(not(madsim))]
    {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
        std::thread::Builder::new().name("redraft-log-sync".into()).spawn(move || {
            super::disk::block_in_place_on_this_thread();
            runtime.block_on(sync_loop);
        })?;
        Ok(())
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use std::thread::{self, ThreadId};

    use tokio::sync::oneshot;

    use super::*;
    use crate::storage::disk::blocking;

    /// Where blocking work ran, as seen from the task that asked for it.
    async fn where_blocking_work_runs() -> (ThreadId, ThreadId) {
        let asked_on = thread::current().id();
        let ran_on = blocking(|| Ok(thread::current().id())).await.expect("ran");
        (asked_on, ran_on)
    }

    /// On the sync loop's thread blocking work runs in place; on a worker it goes to the
    /// blocking pool, as before.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn blocking_work_runs_in_place_on_the_sync_thread_only() {
        let (asked_on, ran_on) = where_blocking_work_runs().await;
        assert_ne!(asked_on, ran_on, "a worker hands blocking work to the pool");

        let (sender, receiver) = oneshot::channel();
        spawn_sync_loop(async move {
            let _ =
                sender.send((thread::current().name().map(str::to_owned), where_blocking_work_runs().await));
        })
        .expect("the thread starts");
        let (name, (asked_on, ran_on)) = receiver.await.expect("the loop ran");
        assert_eq!(name.as_deref(), Some("redraft-log-sync"));
        assert_eq!(asked_on, ran_on, "the sync thread runs blocking work in place");
    }
}
