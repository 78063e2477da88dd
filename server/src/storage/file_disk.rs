//! The disk in production: real files in one directory ([`FileDisk`]), a log segment or the
//! synced mark as a [`DiskFile`], zeros filled ahead of a segment's appends and their write to
//! the device started as they pile up.

use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::disk::{blocking, Disk, LogFile};
use crate::snapshot_data::SnapshotData;

/// At most how far ahead of its appends a file from [`FileDisk::open`] is filled with zeros: as
/// far as the file already holds, from [`PREALLOCATE_BYTES_MIN`] (so a small segment is not
/// padded by much more than itself) up to this. A sync of data written over blocks the file
/// already has needs no change to its size or extents, and takes about half as long as a sync
/// of data appended past its end (80 against 130 to 160 us for 4 KiB on this project's test
/// machine, ext4); the extension itself is synced once per this many bytes. Readers of a log
/// take a tail of zeros for unwritten space (`segment_log.rs`).
pub const PREALLOCATE_BYTES: u64 = 1024 * 1024;
/// See [`PREALLOCATE_BYTES`].
pub const PREALLOCATE_BYTES_MIN: u64 = 64 * 1024;

/// How many appended bytes a file from [`FileDisk::open`] lets pile up in the page cache before it
/// starts their write to the device (`sync_file_range(2)`'s `WRITE`, which does not wait for it),
/// as Redis's `aof-rewrite-incremental-fsync` does every 4 MB. Without it a segment's 64 MiB
/// waited for the sync that closes it (`segment_log.rs`: a closed segment is synced before the
/// next takes records): under `--fsync no`, SET -P16 with 256-byte values filled a segment every
/// half second and the append that closed it stalled the Raft core 30 to 40 ms, the node idle
/// about 8 % of the time (`benches/compare/redis.sh`; `perf record -e sched:sched_switch`).
pub const WRITE_BACK_BYTES: u64 = 4 * 1024 * 1024;

/// Zeros to fill preallocated space with.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// The real file system, in one directory.
#[derive(Clone, Debug)]
pub struct FileDisk {
    dir: PathBuf,
    /// Numbers each replacement's temporary file, so two replacements of one file at once (or of
    /// two files) never write the same temporary.
    temporary_next: Arc<AtomicU64>,
    /// Whether files opened for appending fill zeros ahead of their appends ([`PREALLOCATE_BYTES`]).
    preallocate: bool,
    /// Whether files start the write of their appends as they pile up ([`WRITE_BACK_BYTES`]).
    write_back: bool,
}

impl FileDisk {
    /// A disk in `dir`, created if missing.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<FileDisk> {
        fs::create_dir_all(dir.as_ref())?;
        // A replacement's temporary left by a crash is never the durable copy: the rename had
        // not happened. Clear them, as their numbers start over in this process.
        for entry in fs::read_dir(dir.as_ref())? {
            let path = entry?.path();
            if path.extension().is_some_and(|extension| extension == "tmp") {
                fs::remove_file(&path)?;
            }
        }
        Ok(FileDisk {
            dir: dir.as_ref().to_path_buf(),
            temporary_next: Arc::default(),
            preallocate: true,
            write_back: true,
        })
    }

    /// This disk with files that append without zeros filled ahead: for a log that is not synced
    /// after its appends (`--fsync no`), where the zeros make nothing cheaper and cost a second
    /// write of every page (`perf record` of SET -P16 with 256-byte values: four fifths of the
    /// time in the log's `pwrite`s went to the zeros).
    #[must_use]
    pub fn without_preallocation(self) -> FileDisk {
        FileDisk { preallocate: false, ..self }
    }

    /// This disk with files that leave the write of their appends to their syncs: for a log
    /// synced after every batch of appends (`--fsync always`), where the sync writes them within
    /// milliseconds anyway, and starting the write on openraft's core only moves work onto it
    /// (a 3-node cluster's SET -P16 read 0.94x with it over eleven alternating pairs, 1.03x
    /// without over four: within this machine's noise, but the work has no purpose there).
    #[must_use]
    pub fn without_write_back(self) -> FileDisk {
        FileDisk { write_back: false, ..self }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens (creating) `name` for reading and writing. Appends are positioned writes at its
    /// length, never `O_APPEND`, as the file's end may be zeros filled ahead of them.
    fn open_file(&self, name: &str, preallocates: bool) -> io::Result<DiskFile> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .read(true)
            .open(self.dir.join(name))?;
        let len = file.metadata()?.len();
        let preallocates = preallocates && self.preallocate;
        let writes_back = self.write_back;
        Ok(DiskFile {
            file: Arc::new(file),
            len,
            allocated: len,
            preallocates,
            writes_back,
            written_back: len,
        })
    }
}

impl Disk for FileDisk {
    type File = DiskFile;

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn open(&self, name: &str) -> io::Result<DiskFile> {
        self.open_file(name, true)
    }

    fn open_in_place(&self, name: &str) -> io::Result<DiskFile> {
        self.open_file(name, false)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        File::open(self.dir.join(name))?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        use std::io::{Seek, SeekFrom};
        let mut file = File::open(self.dir.join(name))?;
        file.seek(SeekFrom::Start(offset))?;
        let mut bytes = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.dir.join(name)) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn sync_dir(&self) -> impl Future<Output = io::Result<()>> + Send + 'static + use<> {
        let dir = self.dir.clone();
        blocking(move || File::open(dir)?.sync_all())
    }

    /// Off the async workers: removing a segment of 64 MiB frees its pages from the page cache,
    /// about 16 ms each on this project's test machine, and every task of the worker it ran on
    /// (openraft's core, awaiting the purge, among them) waited for it.
    fn remove_durably(
        &self,
        names: Vec<String>,
    ) -> impl Future<Output = Result<(), (String, io::Error)>> + Send + 'static + use<> {
        let disk = self.clone();
        async move {
            let removed = blocking(move || {
                for name in names {
                    if let Err(error) = disk.remove(&name) {
                        return Ok(Err((name, error)));
                    }
                }
                Ok(File::open(&disk.dir)
                    .and_then(|dir| dir.sync_all())
                    .map_err(|error| (".".to_owned(), error)))
            })
            .await;
            // The blocking task itself failed (the runtime is shutting down).
            removed.unwrap_or_else(|error| Err((".".to_owned(), error)))
        }
    }

    fn new_snapshot(&self, name: &str) -> io::Result<SnapshotData> {
        let number = self.temporary_next.fetch_add(1, Ordering::Relaxed);
        let temporary = self.dir.join(format!("{name}.{number}.tmp"));
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&temporary)?;
        Ok(SnapshotData::file(file, Some(temporary)))
    }

    fn open_snapshot(&self, name: &str) -> io::Result<SnapshotData> {
        Ok(SnapshotData::file(File::open(self.dir.join(name))?, None))
    }

    fn keep_snapshot(
        &self,
        data: SnapshotData,
        name: &str,
    ) -> impl Future<Output = io::Result<SnapshotData>> + Send {
        let (dir, name) = (self.dir.clone(), name.to_owned());
        blocking(move || {
            let (Some(file), Some(temporary)) = (data.as_file(), data.temporary()) else {
                return Err(io::Error::other("a snapshot kept on a real disk is written to a file first"));
            };
            file.sync_all()?;
            fs::rename(temporary, dir.join(&name))?;
            File::open(&dir)?.sync_all()?;
            let mut data = data.kept();
            data.rewind()?;
            Ok(data)
        })
    }

    fn replace(&self, name: &str, bytes: &[u8]) -> impl Future<Output = io::Result<()>> + Send {
        let (dir, name, bytes) = (self.dir.clone(), name.to_owned(), bytes.to_vec());
        let number = self.temporary_next.fetch_add(1, Ordering::Relaxed);
        blocking(move || {
            let temporary = dir.join(format!("{name}.{number}.tmp"));
            let mut file = File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&temporary, dir.join(&name))?;
            File::open(&dir)?.sync_all()
        })
    }
}

/// A real file opened for appending ([`Disk::open`]) or for writing in place
/// ([`Disk::open_in_place`]).
#[derive(Debug)]
pub struct DiskFile {
    /// Shared with the sync running off the async workers, so a sync needs no `dup` of the
    /// descriptor (which fails once the process runs out of them, and then the log cannot sync).
    file: Arc<File>,
    /// Where appends go.
    len: u64,
    /// The file's size: `len`, or past it with zeros written ahead of the appends.
    allocated: u64,
    /// Opened for appending ([`Disk::open`]): fills zeros ahead of its appends
    /// ([`PREALLOCATE_BYTES`]), and trims what is left of them when closed.
    preallocates: bool,
    /// Starts the write of its appends as they pile up ([`WRITE_BACK_BYTES`]).
    writes_back: bool,
    /// Appends before this offset were handed to the device, or were there when the file was
    /// opened ([`WRITE_BACK_BYTES`]).
    written_back: u64,
}

impl DiskFile {
    /// Writes zeros from `from` as far ahead as [`PREALLOCATE_BYTES`] says, or as far as the
    /// disk takes them: they only make later syncs cheaper, so a disk too full for them must
    /// not fail an append that fitted (the next append tries again).
    fn preallocate(&mut self, from: u64) {
        let end = from + from.clamp(PREALLOCATE_BYTES_MIN, PREALLOCATE_BYTES);
        let mut at = from;
        while at < end {
            let count = (end - at).min(ZEROS.len() as u64);
            if std::os::unix::fs::FileExt::write_all_at(&*self.file, &ZEROS[..count as usize], at).is_err() {
                break;
            }
            at += count;
        }
        self.allocated = at;
    }
}

impl Drop for DiskFile {
    fn drop(&mut self) {
        if self.preallocates && self.allocated > self.len {
            // Best effort: zeros left on disk read as unwritten space.
            let _ = self.file.set_len(self.len);
        }
    }
}

impl LogFile for DiskFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&*self.file, bytes, self.len)?;
        self.len += bytes.len() as u64;
        if self.writes_back && self.len - self.written_back >= WRITE_BACK_BYTES {
            // Best effort: pages whose write did not start go with the next sync, which reports
            // any error of theirs.
            let _ = start_write_back(&self.file, self.written_back, self.len - self.written_back);
            self.written_back = self.len;
        }
        if self.preallocates && self.len > self.allocated {
            self.preallocate(self.len);
        }
        Ok(())
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&*self.file, bytes, offset)?;
        self.len = self.len.max(offset + bytes.len() as u64);
        self.allocated = self.allocated.max(self.len);
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        (self.len, self.allocated) = (len, len);
        self.written_back = self.written_back.min(len);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn sync(&mut self) -> impl Future<Output = io::Result<()>> + Send + 'static + use<> {
        let file = self.file.clone();
        blocking(move || file.sync_data())
    }

    /// The file's dirty pages written and waited for (`sync_file_range`), then `before_flush`,
    /// then `fdatasync`, which finds nothing left to write and flushes the device's cache.
    fn sync_after<F: Future<Output = io::Result<()>> + Send + 'static>(
        &mut self,
        before_flush: F,
    ) -> impl Future<Output = io::Result<()>> + Send + 'static + use<F> {
        let file = self.file.clone();
        let sync = self.sync();
        async move {
            blocking(move || sync_file_range(&file, true)).await?;
            before_flush.await?;
            sync.await
        }
    }

    /// `sync_file_range(2)`: `WRITE` at once (the device starts on the pages while the log's
    /// own are written, `sync_after`), then, in the future, `WAIT_BEFORE | WRITE | WAIT_AFTER`:
    /// every dirty page written and its write completed by the device, which `fdatasync` of any
    /// file on the same file system then flushes from the device's cache (ext4 and XFS end
    /// `fdatasync` with a cache flush of the whole device).
    fn write_back(&mut self) -> impl Future<Output = io::Result<()>> + Send + 'static + use<> {
        let started = sync_file_range(&self.file, false);
        let file = self.file.clone();
        async move {
            started?;
            blocking(move || sync_file_range(&file, true)).await
        }
    }
}

/// `sync_file_range(2)` over the whole file: starts writing its dirty pages and, with `wait`,
/// waits for earlier and these writes to complete. Outside Linux, and in the simulator (which
/// has a disk of its own), `fdatasync` with `wait` and nothing without.
fn sync_file_range(file: &File, wait: bool) -> io::Result<()> {
    #[cfg(all(target_os = "linux", not(madsim)))]
    {
        use std::os::fd::AsRawFd;
        let flags = if wait {
            libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER
        } else {
            libc::SYNC_FILE_RANGE_WRITE
        };
        // SAFETY: a plain system call on a descriptor `file` keeps open; no memory is passed.
        if unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, flags) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(any(madsim, not(target_os = "linux")))]
    {
        if wait {
            file.sync_data()
        } else {
            Ok(())
        }
    }
}

/// `sync_file_range(2)`'s `WRITE` over `len` bytes from `offset`: starts writing those of its
/// pages that are dirty, and waits for nothing (unless the device's queue is full). Nothing
/// outside Linux and in the simulator.
fn start_write_back(file: &File, offset: u64, len: u64) -> io::Result<()> {
    #[cfg(all(target_os = "linux", not(madsim)))]
    {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else { return Ok(()) };
        // SAFETY: a plain system call on a descriptor `file` keeps open; no memory is passed.
        if unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(any(madsim, not(target_os = "linux")))]
    {
        let _ = (file, offset, len);
        Ok(())
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;

    /// Appends start their write to the device every [`WRITE_BACK_BYTES`], from where the last
    /// one ended; a cut below that point moves it back, so that appends after the cut count from
    /// there (and the distance is never negative), and the bytes read back are the bytes appended.
    #[test]
    fn appends_are_written_back_in_steps_and_a_cut_moves_the_step_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = FileDisk::new(dir.path()).expect("dir");
        let mut file = disk.open("segment").expect("opens");
        let chunk = vec![7u8; 1024 * 1024];
        let steps = WRITE_BACK_BYTES / chunk.len() as u64;
        for appended in 1..=steps + 1 {
            file.append(&chunk).expect("append");
            let expected = if appended < steps { 0 } else { steps * chunk.len() as u64 };
            assert_eq!(file.written_back, expected, "after {appended} MiB");
        }
        file.truncate(100).expect("cut");
        assert_eq!(file.written_back, 100);
        let mut synced_only = disk.clone().without_write_back().open("synced").expect("opens");
        for _ in 0..=steps {
            synced_only.append(&chunk).expect("append");
        }
        assert_eq!(synced_only.written_back, 0, "a disk without write-back leaves it to syncs");
        file.append(b"after the cut").expect("append");
        assert_eq!((file.len(), file.written_back), (113, 100));
        for _ in 0..steps {
            file.append(&chunk).expect("append");
        }
        assert_eq!(file.written_back, file.len());
        drop(file);
        let bytes = disk.read("segment").expect("read");
        assert_eq!(bytes.len() as u64, 113 + WRITE_BACK_BYTES);
        assert_eq!(&bytes[100..113], b"after the cut");
        assert!(bytes[..100].iter().chain(&bytes[113..]).all(|&b| b == 7));
    }

    /// A file appended to fills zeros ahead of its appends, unless its disk was made without
    /// preallocation (`--fsync no`); both trim the zeros when closed and read back alike.
    #[test]
    fn zeros_are_filled_ahead_of_appends_unless_the_disk_says_not_to() {
        let dir = tempfile::tempdir().expect("tempdir");
        let size = |name: &str| fs::metadata(dir.path().join(name)).expect("metadata").len();
        for (disk, name, ahead) in [
            (FileDisk::new(dir.path()).expect("dir"), "preallocated", PREALLOCATE_BYTES_MIN),
            (FileDisk::new(dir.path()).expect("dir").without_preallocation(), "appended", 0),
        ] {
            let mut file = disk.open(name).expect("opens");
            file.append(b"0123456789").expect("append");
            assert_eq!(size(name), 10 + ahead, "{name}");
            drop(file);
            assert_eq!(disk.read(name).expect("read"), b"0123456789");
        }
    }
}
