//! The log's sync loops, one per policy that syncs: `always` syncs once for every batch of
//! appends waiting, raises the synced mark (`synced_mark.rs`), and only then reports them
//! durable (group commit); `everysec` syncs once a second, its appends already reported durable
//! when written (a documented loss window). `no` has no loop: the operating system decides.
//!
//! Under `always` a batch that fits the mark's slot raises the mark with a copy of itself before
//! the log's sync, whose flush then covers both: one flush per batch instead of two. The mark's
//! write goes to the device while the log's appends do, and ends before the flush begins
//! (`SegmentLog::start_sync_after`). Measured on one node pinned to a CPU, binaries
//! alternating, HTTP puts (`benches/compare/wrk/kv.lua`, 50 connections) and
//! `FSYNC=always benches/compare/ab.sh`:
//!
//! | change | sync cycle | HTTP PUT | SET -P1 | SET -P16 |
//! | --- | --- | --- | --- | --- |
//! | one flush, the mark written back first | 298-320 -> 242-251 us | 1.07-1.09x | 1.29x | 1.12x |
//! | and its write overlapping the log's | 234-305 -> 183-211 us | 1.0-1.22x | 1.15x | 1.05x |

use std::io;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::future::Either;
use openraft::storage::LogFlushed;
use openraft::LogId;
use tokio::sync::{mpsc, Mutex};

use super::disk::Disk;
use super::log_inner::LogInner;
use super::synced_mark::{SyncedMark, COPY_BYTES_MAX};
use crate::clock::monotonic_now;
use crate::metrics::Metrics;
use crate::raft_types::TypeConfig;

/// `always`: syncs the log for every batch of appends waiting, then reports them durable. Ends
/// when every log store handle is gone. It holds the log only while it syncs a batch, so the
/// log closes (and trims its segment, `file_disk.rs`) where its last handle is dropped, not on the
/// sync loop's thread after a stopping process may have exited. The mark records `committed`,
/// the last entry openraft reported committed, as it was when the batch's sync ended.
pub(super) async fn sync_each_batch<D: Disk>(
    log: Weak<Mutex<LogInner<D>>>,
    mark: Arc<Mutex<SyncedMark<D>>>,
    committed: Arc<std::sync::Mutex<Option<LogId<u64>>>>,
    mut pending: mpsc::Receiver<LogFlushed<TypeConfig>>,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::new();
    while let Some(first) = pending.recv().await {
        batch.push(first);
        while let Ok(more) = pending.try_recv() {
            batch.push(more);
        }
        let Some(inner) = log.upgrade() else {
            for callback in batch.drain(..) {
                callback.log_io_completed(Err(io::Error::other("the log is closed")));
            }
            return;
        };
        if crate::fault::buggify(0.05) {
            // Fault point: a slow sync, so appends pile up behind it.
            let delay = rand::Rng::gen_range(&mut crate::fault::rng(), 1..50);
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let started = monotonic_now();
        let committed_now = || *committed.lock().expect("never poisoned: held for a copy");
        // The fsync runs without the lock, so openraft keeps appending meanwhile and the next
        // batch gathers while this one syncs.
        let (copied, sync, through, cuts) = {
            let mut inner = inner.lock().await;
            let mut mark = mark.lock().await;
            // A batch small enough goes into the mark's slot first, so that the log's flush is
            // the mark's too (`synced_mark.rs`); under the lock, so no cut comes between.
            let copy = inner
                .log
                .copy_from(mark.index() + 1, COPY_BYTES_MAX)
                .filter(|copy| copy.first().is_some_and(|&(first, _)| first == mark.index() + 1));
            let write_back = copy.map(|copy| mark.raise_copying(&copy, committed_now()));
            let copied = write_back.is_some();
            // The mark's write overlaps the log's, and ends before the log's flush begins.
            let sync = match write_back {
                Some(Ok(write_back)) => Ok(Either::Left(inner.log.start_sync_after(write_back))),
                Some(Err(error)) => Err(error),
                None => Ok(Either::Right(inner.log.start_sync())),
            };
            (copied, sync, inner.log.bounds().map(|(_, last)| last), mark.cuts())
        };
        let mut result = match sync {
            Ok(sync) => sync.await.map_err(|e| io::Error::other(e.to_string())),
            Err(error) => Err(error),
        };
        if let (Ok(()), Some(through), false) = (&result, through, copied) {
            // Before the appends are reported durable (`synced_mark.rs`).
            result = mark.lock().await.raise(through, cuts, committed_now()).await;
        }
        match &result {
            Ok(()) => metrics.observe_fsync(started.elapsed().as_secs_f64(), batch.len()),
            Err(error) => {
                tracing::error!(%error, "log sync failed; the appends waiting for it fail, and no more are taken");
                inner.lock().await.sync_failed.get_or_insert_with(|| error.to_string());
            }
        }
        for callback in batch.drain(..) {
            let result = match &result {
                Ok(()) => Ok(()),
                Err(error) => Err(io::Error::new(error.kind(), error.to_string())),
            };
            callback.log_io_completed(result);
        }
    }
}

/// `everysec`: syncs the log once a second. Ends when the log is dropped.
pub(super) async fn sync_every_second<D: Disk>(inner: Weak<Mutex<LogInner<D>>>, metrics: Arc<Metrics>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(inner) = inner.upgrade() else { return };
        let started = monotonic_now();
        // Started under the lock, awaited without it: appends go on while the sync runs.
        let sync = inner.lock().await.log.start_sync();
        match sync.await {
            Ok(()) => metrics.observe_fsync(started.elapsed().as_secs_f64(), 0),
            Err(error) => {
                // Writes of the last second were acknowledged (the policy's loss window); from now
                // on none is, as under `always`.
                tracing::error!(%error, "log sync failed; the log takes no more appends");
                inner.lock().await.sync_failed.get_or_insert_with(|| error.to_string());
                return;
            }
        }
    }
}
