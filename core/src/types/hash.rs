//! Redis's hash: fields and their values, in insertion order.
//!
//! # What a field costs
//! An `IndexMap` entry holds the cached hash (8 bytes) and two boxed slices (16 bytes each): 40
//! bytes, plus its slot in the index table (8 bytes at a load of 44 % to 87 %, so 9 to 18) and
//! the field's and the value's own allocations rounded up to 8. A field of 8 bytes with a value
//! of 16 costs about 40 + 12 + 8 + 16 = 76 bytes; Redis 7's hashtable encoding costs a 24-byte
//! dictEntry, an 8-byte bucket and two sds strings (about 16 and 24 bytes): about 72. Redis keeps
//! small hashes (up to 128 fields of up to 64 bytes) in a listpack instead, at about the bytes of
//! the data plus 2 to 3 bytes per element; redraft has no compact form yet.
//!
//! Order: fields are kept in insertion order, and a removal keeps the order of the rest while the
//! hash has at most [`ORDERED_REMOVAL_MAX`] fields (as Redis's listpack does); a larger hash moves
//! its last field into the removed one's place (O(1), where the ordered removal is O(N)). Every
//! replica makes the same changes in the same order, so all agree on the order.

use std::hash::BuildHasherDefault;

use indexmap::IndexMap;

use super::{element, element_bytes, Element};

/// Up to this many fields, a removal keeps the order of the others (Redis's default
/// `hash-max-listpack-entries`).
pub const ORDERED_REMOVAL_MAX: usize = 128;

type Fields = IndexMap<Element, Element, BuildHasherDefault<ahash::AHasher>>;

/// A hash's fields and values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hash {
    fields: Fields,
    /// Invariant: the sum of `element_bytes` of every field and value.
    element_bytes: usize,
}

impl Hash {
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.fields.get(field).map(|value| &**value)
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.fields.contains_key(field)
    }

    /// Sets `field` to `value`; returns whether the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        self.element_bytes += element_bytes(value);
        match self.fields.get_mut(field) {
            Some(old) => {
                self.element_bytes -= element_bytes(old);
                *old = element(value);
                false
            }
            None => {
                self.element_bytes += element_bytes(field);
                self.fields.insert(element(field), element(value));
                true
            }
        }
    }

    /// Removes `field`; returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let removed = if self.fields.len() <= ORDERED_REMOVAL_MAX {
            self.fields.shift_remove_entry(field)
        } else {
            self.fields.swap_remove_entry(field)
        };
        match removed {
            Some((field, value)) => {
                self.element_bytes -= element_bytes(&field) + element_bytes(&value);
                true
            }
            None => false,
        }
    }

    /// Every field and its value, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields.iter().map(|(field, value)| (&**field, &**value))
    }

    /// The field and value at `index` in order.
    pub fn get_index(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.fields.get_index(index).map(|(field, value)| (&**field, &**value))
    }

    /// About the bytes the hash has asked the allocator for (see the module's notes).
    pub fn allocated_bytes(&self) -> usize {
        let entries = self.fields.capacity() * (size_of::<usize>() + 2 * size_of::<Element>());
        let index = self.fields.capacity() * 8 * 8 / 7;
        entries + index + self.element_bytes
    }
}
