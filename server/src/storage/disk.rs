//! The disk seam: the few file operations the durable log needs, real here and simulated in the
//! simulator (where a crash drops bytes written but not synced, DESIGN.md §5).
//!
//! Writes are buffered until `sync`; only synced bytes are promised to survive a crash. Anything
//! that must be durable before it is acted on (a vote, a truncation, a removed segment) is
//! followed by a sync of the file or of the directory.

use std::future::Future;
use std::io::{self, Seek};

use crate::snapshot_data::SnapshotData;

/// EIO, as Linux reports a sector it cannot read back.
pub const EIO: i32 = 5;

/// Whether `error` is the disk saying the bytes are lost (EIO), so recovery treats them as
/// damaged, rather than a reason an operator can fix (permissions, no descriptors left).
pub fn is_media_error(error: &io::Error) -> bool {
    error.raw_os_error() == Some(EIO)
}

/// A directory of files.
pub trait Disk: Send + Sync + 'static {
    type File: LogFile;

    /// The names of the files in the directory, sorted.
    ///
    /// # Errors
    /// The directory cannot be read.
    fn list(&self) -> io::Result<Vec<String>>;

    /// Opens a file for appending, creating it empty if missing.
    ///
    /// # Errors
    /// The file cannot be opened or created.
    fn open(&self, name: &str) -> io::Result<Self::File>;

    /// Opens a file to be written in place ([`LogFile::write_at`]), creating it empty if missing.
    ///
    /// # Errors
    /// The file cannot be opened or created.
    fn open_in_place(&self, name: &str) -> io::Result<Self::File> {
        self.open(name)
    }

    /// Reads a whole file.
    ///
    /// # Errors
    /// The file cannot be read.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;

    /// Reads `len` bytes of a file from `offset`, or fewer where the file ends.
    ///
    /// # Errors
    /// The file cannot be read.
    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let bytes = self.read(name)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        Ok(bytes[start..bytes.len().min(start.saturating_add(len))].to_vec())
    }

    /// Removes a file; durable only after [`Disk::sync_dir`].
    ///
    /// # Errors
    /// The file exists but cannot be removed.
    fn remove(&self, name: &str) -> io::Result<()>;

    /// Makes creations and removals of files durable. The future borrows nothing, so a caller
    /// may start it under a lock and await it after releasing the lock.
    fn sync_dir(&self) -> impl Future<Output = io::Result<()>> + Send + 'static + use<Self>;

    /// Removes `names` and makes the removals durable, as [`Disk::remove`] of each and then
    /// [`Disk::sync_dir`]; on an error, the name of the file (`.` for the directory) with it. The
    /// future borrows nothing, so a caller may leave it to run on its own.
    fn remove_durably(
        &self,
        names: Vec<String>,
    ) -> impl Future<Output = Result<(), (String, io::Error)>> + Send + 'static + use<Self>
    where
        Self: Clone,
    {
        let disk = self.clone();
        async move {
            for name in names {
                disk.remove(&name).map_err(|error| (name, error))?;
            }
            disk.sync_dir().await.map_err(|error| (".".to_owned(), error))
        }
    }

    /// Replaces a small file atomically and durably: after a crash it holds either the old or the
    /// new bytes, never a mix.
    fn replace(&self, name: &str, bytes: &[u8]) -> impl Future<Output = io::Result<()>> + Send;

    /// A new, empty snapshot to be written (built here or received from a leader) and then kept
    /// as the file `name` ([`Disk::keep_snapshot`]), or dropped. By default its bytes are in
    /// memory.
    ///
    /// # Errors
    /// Its file cannot be created.
    fn new_snapshot(&self, name: &str) -> io::Result<SnapshotData> {
        let _ = name;
        Ok(SnapshotData::memory(Vec::new()))
    }

    /// The snapshot in the file `name`, to be read from its start.
    ///
    /// # Errors
    /// The file cannot be opened (`NotFound` when there is none).
    fn open_snapshot(&self, name: &str) -> io::Result<SnapshotData> {
        Ok(SnapshotData::memory(self.read(name)?))
    }

    /// Makes a snapshot from [`Disk::new_snapshot`], written, the file `name`, atomically and
    /// durably as [`Disk::replace`] does; returns it, to be read from its start.
    fn keep_snapshot(
        &self,
        data: SnapshotData,
        name: &str,
    ) -> impl Future<Output = io::Result<SnapshotData>> + Send {
        async move {
            let Some(bytes) = data.as_memory() else {
                return Err(io::Error::other("this disk keeps snapshots in memory, not in files"));
            };
            self.replace(name, bytes).await?;
            let mut data = data.kept();
            data.rewind()?;
            Ok(data)
        }
    }
}

/// A file written at its end.
pub trait LogFile: Send + 'static {
    /// Appends bytes at [`LogFile::len`]; they are durable only after [`LogFile::sync`]. The
    /// file may hold zeros past its length (preallocated space,
    /// [`PREALLOCATE_BYTES`](super::file_disk::PREALLOCATE_BYTES)).
    ///
    /// # Errors
    /// The write failed.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// Writes bytes at `offset`, over what is there (a file from [`Disk::open_in_place`]);
    /// durable only after [`LogFile::sync`].
    ///
    /// # Errors
    /// The write failed.
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;

    /// Cuts the file to `len` bytes; durable only after [`LogFile::sync`].
    ///
    /// # Errors
    /// The truncation failed.
    fn truncate(&mut self, len: u64) -> io::Result<()>;

    /// The file's length, synced or not: where the next append goes.
    fn len(&self) -> u64;

    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes every append and truncation so far durable (and possibly later ones). The future
    /// borrows nothing, so the log can be appended to while a sync is in flight.
    fn sync(&mut self) -> impl Future<Output = io::Result<()>> + Send + 'static + use<Self>;

    /// As [`LogFile::sync`], with `before_flush` awaited between this file's writes reaching the
    /// device and the flush of the device's cache: a write-back ([`LogFile::write_back`]) whose
    /// own write then overlaps this file's. By default, `before_flush` and then the sync.
    fn sync_after<F: Future<Output = io::Result<()>> + Send + 'static>(
        &mut self,
        before_flush: F,
    ) -> impl Future<Output = io::Result<()>> + Send + 'static + use<Self, F> {
        let sync = self.sync();
        async move {
            before_flush.await?;
            sync.await
        }
    }

    /// Starts handing what was written in place so far to the device, and returns a future that
    /// waits until the device has it, without flushing the device's cache: the bytes are
    /// durable once a sync of any file of this disk that begins after the future ends is over
    /// ([`LogFile::sync`] ends with a cache flush, which covers every write the device completed
    /// before it), and a crash before then may keep them, part of them or none. For a file
    /// whose size does not change (its size is metadata, which only a sync of the file itself
    /// makes durable). By default, a sync.
    fn write_back(&mut self) -> impl Future<Output = io::Result<()>> + Send + 'static + use<Self> {
        self.sync()
    }
}

std::thread_local! {
    /// Whether blocking file work runs in place on this thread: a thread that exists to wait for
    /// the disk (`sync_thread.rs`) has nothing else to do meanwhile.
    static BLOCK_IN_PLACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes [`blocking`] run its work in place on the calling thread from now on.
#[cfg_attr(madsim, allow(dead_code))]
pub(super) fn block_in_place_on_this_thread() {
    BLOCK_IN_PLACE.with(|here| here.set(true));
}

/// Runs blocking file work off the async workers, so an fsync does not stall other tasks (in
/// place on a thread made for it, [`block_in_place_on_this_thread`]).
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    if BLOCK_IN_PLACE.with(std::cell::Cell::get) {
        return work();
    }
    // madsim marks spawn_blocking deprecated (no blocking in simulation) and runs the work as a
    // task: the simulator's snapshots are built and installed in place, in order.
    #[allow(deprecated)]
    let task = tokio::task::spawn_blocking(work);
    task.await.unwrap_or_else(|error| Err(io::Error::other(format!("disk task failed: {error}"))))
}

/// Runs `work`, synchronous work on about `bytes` bytes (a record's copy, checksum and write), in
/// place; from [`APPEND_DETACHED_BYTES_MIN`](redraft_core::limits::APPEND_DETACHED_BYTES_MIN) on,
/// it first tells the runtime that this worker will be held (`block_in_place`), so that the tasks
/// queued on it move to another. On a machine busy with other processes' CPU and disk work, a
/// 200 MiB value's record held a worker for seconds (the kernel makes a writer of many dirty pages
/// wait), the heartbeats and peers' messages behind it went unanswered, and the followers elected
/// leader after leader, each with the same record to write (`server/tests/large_values.rs` beside
/// four busy loops and a `dd conv=fsync`: its write answered in 3 of 7 runs before, 5 of 5 with
/// this, though with elections still, the term up by as many as 6). Small records, all of a busy
/// node's ordinary writes, stay in place: moving the worker's tasks costs a thread switch.
pub(super) fn aside_if_large<T>(bytes: usize, work: impl FnOnce() -> T) -> T {
    // Not in the simulator, which has one thread; nor on a current-thread runtime (unit tests),
    // where `block_in_place` panics.
    #[cfg(not(madsim))]
    if bytes >= redraft_core::limits::APPEND_DETACHED_BYTES_MIN
        && tokio::runtime::Handle::try_current()
            .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
    {
        return tokio::task::block_in_place(work);
    }
    let _ = bytes;
    work()
}
