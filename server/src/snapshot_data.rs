//! A snapshot's bytes as openraft moves them (`SnapshotData`): a file on a real disk, so that a
//! snapshot is built, sent chunk by chunk, received and installed without ever being whole in
//! memory; bytes in memory on the simulator's disk, whose files are memory anyway.
//!
//! openraft reads a chunk to send and writes a chunk received through tokio's async traits. A
//! file's are served by plain reads and writes on the calling task: a chunk is a few MiB of a
//! local file, and the node's own log writes are made the same way (`file_disk.rs`).

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

/// A snapshot's bytes: a file, or bytes in memory.
#[derive(Debug)]
pub struct SnapshotData {
    inner: Inner,
    /// A file not yet moved to its name (a snapshot being built or received): removed when
    /// dropped.
    temporary: Option<PathBuf>,
    /// A seek started by `start_seek`, its outcome for `poll_complete`.
    seeked: Option<io::Result<u64>>,
}

#[derive(Debug)]
enum Inner {
    Memory(Cursor<Vec<u8>>),
    File(File),
}

impl SnapshotData {
    /// Bytes in memory, read from the start.
    pub fn memory(bytes: Vec<u8>) -> SnapshotData {
        SnapshotData { inner: Inner::Memory(Cursor::new(bytes)), temporary: None, seeked: None }
    }

    /// A file, read or written from its current position; `temporary` is its path when it is
    /// to be removed unless kept ([`SnapshotData::kept`]).
    pub fn file(file: File, temporary: Option<PathBuf>) -> SnapshotData {
        SnapshotData { inner: Inner::File(file), temporary, seeked: None }
    }

    /// The bytes, when they are in memory.
    pub fn as_memory(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::Memory(cursor) => Some(cursor.get_ref()),
            Inner::File(_) => None,
        }
    }

    /// The file, when the bytes are in one.
    pub fn as_file(&self) -> Option<&File> {
        match &self.inner {
            Inner::Memory(_) => None,
            Inner::File(file) => Some(file),
        }
    }

    /// The temporary file's path, if this is one.
    pub fn temporary(&self) -> Option<&PathBuf> {
        self.temporary.as_ref()
    }

    /// Its length in bytes.
    ///
    /// # Errors
    /// The file's length cannot be read.
    pub fn len(&self) -> io::Result<u64> {
        match &self.inner {
            Inner::Memory(cursor) => Ok(cursor.get_ref().len() as u64),
            Inner::File(file) => Ok(file.metadata()?.len()),
        }
    }

    /// Whether it holds no byte.
    ///
    /// # Errors
    /// The file's length cannot be read.
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The same bytes, no longer temporary: the file was moved to its name.
    pub fn kept(mut self) -> SnapshotData {
        self.temporary = None;
        self
    }
}

impl Drop for SnapshotData {
    fn drop(&mut self) {
        if let Some(path) = self.temporary.take() {
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), "a snapshot's temporary file stays: {error}");
            }
        }
    }
}

impl Read for SnapshotData {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Memory(cursor) => cursor.read(buffer),
            Inner::File(file) => file.read(buffer),
        }
    }
}

impl Write for SnapshotData {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Memory(cursor) => cursor.write(bytes),
            Inner::File(file) => file.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Memory(_) => Ok(()),
            Inner::File(file) => file.flush(),
        }
    }
}

impl Seek for SnapshotData {
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        match &mut self.inner {
            Inner::Memory(cursor) => cursor.seek(position),
            Inner::File(file) => file.seek(position),
        }
    }
}

impl AsyncRead for SnapshotData {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let read = this.read(buffer.initialize_unfilled());
        Poll::Ready(read.map(|n| buffer.advance(n)))
    }
}

impl AsyncWrite for SnapshotData {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(self.get_mut().write(bytes))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().flush())
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().flush())
    }
}

impl AsyncSeek for SnapshotData {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        this.seeked = Some(this.seek(position));
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        Poll::Ready(match this.seeked.take() {
            Some(outcome) => outcome,
            None => this.stream_position(),
        })
    }
}
