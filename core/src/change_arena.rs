//! The memory the watch history's copies of keys and short values are made in
//! (`map_writes.rs`): consecutive copies share chunks of [`CHUNK_BYTES`], so that recording a
//! SET costs two copies and two reference counts, not two allocations (and, when the change
//! leaves the history, two frees).
//!
//! Copies are made into fresh memory, never into the buffer a request arrived in: a change the
//! history keeps must not keep a whole read buffer alive. The history lets its changes go
//! oldest first, so the chunks it keeps alive are those its changes were copied into, and the
//! bytes it holds stay about the bytes it counts, plus the chunk being filled.

use bytes::{Bytes, BytesMut};

/// The size of a chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Copies longer than this get an allocation of their own, so that a chunk holds at least four
/// and a long copy wastes none of one.
pub const SHARED_COPY_BYTES_MAX: usize = CHUNK_BYTES / 4;

/// Where copies go; the chunk being filled, empty until the first copy.
#[derive(Debug, Default)]
pub struct ChangeArena {
    /// What is left of the chunk: copies already handed out were split off its front.
    chunk: BytesMut,
}

impl ChangeArena {
    /// A copy of `bytes`, sharing a chunk with the copies before it when it is short.
    pub fn copy(&mut self, bytes: &[u8]) -> Bytes {
        if bytes.is_empty() {
            return Bytes::new();
        }
        if bytes.len() > SHARED_COPY_BYTES_MAX {
            return Bytes::copy_from_slice(bytes);
        }
        if self.chunk.capacity() < bytes.len() {
            self.chunk = BytesMut::with_capacity(CHUNK_BYTES);
        }
        self.chunk.extend_from_slice(bytes);
        self.chunk.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copies hold their own bytes, whatever is copied after them; short ones share a chunk
    /// until it is full, and a long one takes none of it.
    #[test]
    fn copies_share_chunks_and_keep_their_bytes() {
        let mut arena = ChangeArena::default();
        let first = arena.copy(b"key-1");
        let second = arena.copy(b"value-1");
        assert_eq!((&first[..], &second[..]), (&b"key-1"[..], &b"value-1"[..]));
        // The second copy follows the first in the same chunk.
        assert_eq!(first.as_ptr().wrapping_add(first.len()), second.as_ptr());
        let long = vec![7u8; SHARED_COPY_BYTES_MAX + 1];
        let copied = arena.copy(&long);
        assert_eq!(&copied[..], &long[..]);
        let third = arena.copy(b"k");
        assert_eq!(second.as_ptr().wrapping_add(second.len()), third.as_ptr(), "a long copy took none");
        // Fill the chunk: the copy that does not fit starts a new one, and none is overwritten.
        let filler = vec![1u8; SHARED_COPY_BYTES_MAX];
        let copies: Vec<Bytes> = (0..8).map(|_| arena.copy(&filler)).collect();
        assert!(copies.iter().all(|c| c[..] == filler[..]));
        assert_eq!((&first[..], &second[..], &third[..]), (&b"key-1"[..], &b"value-1"[..], &b"k"[..]));
        assert!(arena.copy(b"").is_empty());
    }
}
