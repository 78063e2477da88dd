//! One element of an aggregate (a field, a value, a member, a list item): binary safe, 16 bytes
//! wherever it is held, with up to 15 bytes kept inside those 16 and a longer one in its own
//! allocation (`compact_bytes::CompactBytesSlice`). Most fields, members and items are short
//! (ids, names, small numbers), so most cost no allocation at all: 16 bytes where a boxed
//! slice cost 16 and an allocation of at least 16 more.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use compact_bytes::CompactBytesSlice;

/// Elements up to this many bytes take no allocation.
pub const INLINE_ELEMENT_BYTES_MAX: usize = 15;

/// An element. Compared, ordered and hashed as its bytes, so that a structure keyed by elements
/// is searched with a `&[u8]`.
#[derive(Clone, Default)]
pub struct Element(CompactBytesSlice);

impl Element {
    pub fn new(bytes: &[u8]) -> Element {
        Element(CompactBytesSlice::new(bytes))
    }

    /// What the element costs the allocator beyond its 16 bytes: nothing when it is kept
    /// inline, else its bytes rounded up to 8, as jemalloc's and mimalloc's small classes do.
    pub fn allocation_bytes(bytes: &[u8]) -> usize {
        if bytes.len() <= INLINE_ELEMENT_BYTES_MAX {
            0
        } else {
            bytes.len().next_multiple_of(8)
        }
    }
}

impl Deref for Element {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl Borrow<[u8]> for Element {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl AsRef<[u8]> for Element {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Element {
    fn eq(&self, other: &Element) -> bool {
        **self == **other
    }
}

impl Eq for Element {}

impl PartialOrd for Element {
    fn partial_cmp(&self, other: &Element) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Element {
    fn cmp(&self, other: &Element) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl Hash for Element {
    /// As the bytes hash, which `Borrow<[u8]>` requires.
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl std::fmt::Debug for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", bytes::Bytes::copy_from_slice(self))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;

    use super::*;

    fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn an_element_is_its_bytes_inline_or_not() {
        assert_eq!(size_of::<Element>(), 16);
        for len in [0, 1, 14, 15, 16, 17, 100, 5000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let element = Element::new(&bytes);
            assert_eq!(&*element, &bytes[..]);
            assert_eq!(&*element.clone(), &bytes[..]);
            assert_eq!(hash_of(&element), hash_of(&bytes[..]), "hashed as its bytes");
            assert_eq!(Element::allocation_bytes(&bytes) == 0, len <= INLINE_ELEMENT_BYTES_MAX);
        }
        let (short, long) = (Element::new(b"b"), Element::new(b"aaaaaaaaaaaaaaaaaaaaaaaa"));
        assert_eq!(short.cmp(&long), Ordering::Greater, "ordered as bytes");
        assert!(Element::new(b"abc") == Element::new(b"abc"));
    }
}
