//! The memory the watch history's copies of keys and short values are made in
//! (`map_writes.rs`): consecutive copies share chunks of [`CHUNK_BYTES`], so that recording a
//! SET costs two copies and two reference counts, not two allocations (and, when the change
//! leaves the history, two frees).
//!
//! Copies are made into fresh memory, never into the buffer a request arrived in: a change the
//! history keeps must not keep a whole read buffer alive. The history lets its changes go
//! oldest first, so the chunks it keeps alive are those its changes were copied into, and the
//! bytes it holds stay about the bytes it counts, plus the chunk being filled.
//!
//! An entry's changes need no copy where the entry's own encoding holds their bytes (a SET's
//! key and value are in it as they are: `entry_layout.rs`): while an entry applies, the arena
//! is given that encoding ([`ChangeArena::share_from`]), and a copy of bytes that are part of
//! it (a follower decoded the entry from it), or that the leader's log noted it encoded there
//! ([`EncodedString`]: the same address and length), is a slice of it instead, found without
//! reading either. The log's cache holds the encoding anyway while the entry is recent; a
//! change then keeps the whole encoding alive for as long as the history keeps it, so when the
//! entry's slices cover less than half of its encoding, they are copied after all
//! ([`ChangeArena::unshared`]), and the history holds at most twice the bytes it counts. That
//! bound is per entry: on a follower an entry's encoding is a slice of the frame it arrived in,
//! which may carry several entries, and a change shared from it keeps the whole frame alive; as
//! a frame's entries apply and leave the history together, that is at most one frame more, at
//! the history's oldest end.
//! Copying a value into memory the history last used 100,000 changes ago wrote lines that were
//! not in the cache.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::encoded_string::EncodedString;

/// The size of a chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Copies longer than this get an allocation of their own, so that a chunk holds at least four
/// and a long copy wastes none of one.
pub const SHARED_COPY_BYTES_MAX: usize = CHUNK_BYTES / 4;

/// How many noted strings past the last one found the next is looked for among: a write whose
/// strings record no change (a SET NX of a key that exists) leaves its two behind.
pub const PLACED_AHEAD: usize = 8;

/// Where copies go; the chunk being filled, empty until the first copy.
#[derive(Debug, Default)]
pub struct ChangeArena {
    /// What is left of the chunk: copies already handed out were split off its front.
    chunk: BytesMut,
    /// The encoding of the entry applying, while its changes are recorded.
    source: Option<Source>,
}

#[derive(Debug)]
struct Source {
    bytes: Bytes,
    placed: Option<Arc<[EncodedString]>>,
    /// The noted string after the last one found: the next is looked for from here.
    cursor: usize,
    /// How many bytes of copies were slices of it.
    shared: usize,
}

impl ChangeArena {
    /// From now on, copies of bytes that `encoding` holds, as a part of it or where `placed`
    /// notes them, are slices of it, until [`ChangeArena::unshared`].
    pub fn share_from(&mut self, encoding: Option<&Bytes>, placed: Option<&Arc<[EncodedString]>>) {
        self.source = encoding.map(|bytes| Source {
            bytes: bytes.clone(),
            placed: placed.cloned(),
            cursor: 0,
            shared: 0,
        });
    }

    /// Stops sharing the entry's encoding. When its slices handed out cover less than half of
    /// it, returns it, and each of them must be copied again ([`ChangeArena::recopy`]): it is
    /// too sparse to keep whole for them.
    pub fn unshared(&mut self) -> Option<Bytes> {
        let source = self.source.take()?;
        (source.shared > 0 && source.shared * 2 < source.bytes.len()).then_some(source.bytes)
    }

    /// `bytes` again, copied into the arena if it is a slice of `encoding` (one
    /// [`ChangeArena::unshared`] returned).
    pub fn recopy(&mut self, encoding: &Bytes, bytes: &mut Bytes) {
        let range = encoding.as_ptr_range();
        if !bytes.is_empty() && range.contains(&bytes.as_ptr()) {
            *bytes = self.copy(&bytes.clone());
        }
    }

    /// A copy of `bytes`: a slice of the entry's encoding where it holds them, else one sharing
    /// a chunk with the copies before it when it is short.
    pub fn copy(&mut self, bytes: &[u8]) -> Bytes {
        if bytes.is_empty() {
            return Bytes::new();
        }
        if let Some(shared) = self.source.as_mut().and_then(|source| source.find(bytes)) {
            return shared;
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

impl Source {
    /// A slice of the encoding equal to `bytes` (not empty): `bytes` itself when it is part of
    /// the encoding, else the first string noted within [`PLACED_AHEAD`] of the cursor that was
    /// these bytes when it was encoded.
    fn find(&mut self, bytes: &[u8]) -> Option<Bytes> {
        let offset = (bytes.as_ptr() as usize).wrapping_sub(self.bytes.as_ptr() as usize);
        let start = if offset < self.bytes.len() && bytes.len() <= self.bytes.len() - offset {
            offset
        } else {
            let placed = self.placed.as_deref()?;
            let mut ahead = placed.get(self.cursor..)?.iter().take(PLACED_AHEAD);
            let found = ahead
                .position(|p| p.from == bytes.as_ptr() as usize && p.len == bytes.len())
                .map(|i| self.cursor + i)?;
            self.cursor = found + 1;
            placed[found].at
        };
        self.shared += bytes.len();
        let shared = self.bytes.slice(start..start + bytes.len());
        debug_assert_eq!(shared, bytes, "a string shared from an entry's encoding differs");
        Some(shared)
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

    /// While an entry's encoding is shared, a copy of a string noted in it (same address, same
    /// length) or of a part of it is a slice of it; the same bytes from anywhere else, a string
    /// noted too far past the last one found, and bytes it does not hold are copied.
    #[test]
    fn copies_are_slices_of_the_encoding_that_holds_them() {
        let encoding = Bytes::from_static(b"\x00\x01\x05key-1\x07value-1\x00\x01\x05key-2\x07value-2");
        let inside = |b: &Bytes| encoding.as_ptr_range().contains(&b.as_ptr());
        // The writes' own strings, elsewhere, as a leader's are (in the buffer a request came in).
        let written = Bytes::from_static(b"key-1value-1key-2");
        let (key_1, value_1, key_2) = (written.slice(0..5), written.slice(5..12), written.slice(12..17));
        let placed: Arc<[EncodedString]> = Arc::from(vec![
            EncodedString::new(&key_1, 3),
            EncodedString::new(&value_1, 9),
            EncodedString::new(&key_2, 19),
        ]);
        let mut arena = ChangeArena::default();
        arena.share_from(Some(&encoding), Some(&placed));
        let (key, value) = (arena.copy(&key_1), arena.copy(&value_1));
        assert!(inside(&key) && inside(&value));
        assert_eq!((&key[..], &value[..]), (&b"key-1"[..], &b"value-1"[..]));
        // Equal bytes that are not the noted string are copied, whatever they hold.
        let again = arena.copy(b"key-2");
        assert!(!inside(&again) && again[..] == b"key-2"[..]);
        let own = encoding.slice(encoding.len() - 7..);
        let (key, value) = (arena.copy(&key_2), arena.copy(&own));
        assert!(inside(&key) && value.as_ptr() == own.as_ptr() && value[..] == b"value-2"[..]);
        assert!(arena.unshared().is_none(), "24 of 36 bytes were shared: dense enough to keep");

        // The ninth string noted past the cursor is not looked for.
        let far = Bytes::from(vec![7u8; 100]);
        let strings: Vec<Bytes> = (0..10).map(|i| Bytes::from(vec![7u8; 1 + i])).collect();
        let placed: Arc<[EncodedString]> =
            strings.iter().enumerate().map(|(i, s)| EncodedString::new(s, i)).collect();
        arena.share_from(Some(&far), Some(&placed));
        assert!(!far.as_ptr_range().contains(&arena.copy(&strings[PLACED_AHEAD]).as_ptr()), "too far ahead");
        let mut near = arena.copy(&strings[2]);
        assert!(far.as_ptr_range().contains(&near.as_ptr()) && near[..] == [7u8; 3]);
        let sparse = arena.unshared().expect("3 bytes of 100 are too few to keep the encoding for");
        arena.recopy(&sparse, &mut near);
        assert!(!far.as_ptr_range().contains(&near.as_ptr()) && near[..] == [7u8; 3]);
        assert!(arena.unshared().is_none(), "nothing is shared after");
    }
}
