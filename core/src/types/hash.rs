//! Redis's hash: fields and their values, in insertion order.
//!
//! # What a field costs
//! An `IndexMap` entry holds the cached hash (8 bytes) and two elements (16 bytes each, holding
//! up to 15 bytes inline, `element.rs`): 40 bytes, plus its slot in the index table (8 bytes
//! and a control byte at a load of 44 % to 87 %, so 10 to 20), and a field or value longer than
//! 15 bytes its own allocation rounded up to 8. `IndexMap` reserves entries to match its table,
//! so right after the table doubles there is room for 75 % more entries than are held. Measured
//! (`benches/compare/type_memory.sh`, 1M fields `field:%08d` with values `value:%08d`): 90 bytes
//! a field by MEMORY USAGE, where Redis 7's hashtable encoding costs 64 (a 24-byte dictEntry, an
//! 8-byte bucket and two sds strings); resident memory grew 80 MB against Redis's 83, since the
//! spare entries are never touched.
//!
//! A small hash (up to [`SMALL_FIELDS_MAX`] fields, each field and value up to
//! [`SMALL_BYTES_MAX`] bytes, Redis's `hash-max-listpack-entries` and `-value`) is kept instead
//! as a vector of pairs, each pair one element holding the field's length, the field and the
//! value: 16 bytes a pair when the two fit in 14 bytes, else 16 and their bytes rounded up to 8;
//! a lookup scans the pairs (O(N) on at most 128, as Redis's listpack). Redis's listpack costs
//! the bytes of the data plus 2 to 3 bytes per element. Measured (10 fields `f0`.. with values
//! `value:0`.., MEMORY USAGE of one key): 291 bytes in redraft, 208 in Redis. A hash that grows
//! past either bound becomes an index map for good, as Redis's does; order and replies are the
//! same in either form.
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

/// Most fields a hash keeps in its small form (Redis's `hash-max-listpack-entries`).
pub const SMALL_FIELDS_MAX: usize = 128;

/// Longest field or value a hash keeps in its small form (Redis's `hash-max-listpack-value`).
pub const SMALL_BYTES_MAX: usize = 64;

type Map = IndexMap<Element, Element, BuildHasherDefault<ahash::AHasher>>;

/// A hash's fields, in one of two forms with the same order and the same answers.
#[derive(Clone, Debug)]
enum Fields {
    /// Each pair one element: the field's length (one byte), the field, the value.
    Small(Vec<Element>),
    /// Boxed, so that a small hash's handle stays small.
    Large(Box<Map>),
}

impl Default for Fields {
    fn default() -> Fields {
        Fields::Small(Vec::new())
    }
}

/// A hash's fields and values.
#[derive(Clone, Debug, Default)]
pub struct Hash {
    fields: Fields,
    /// Invariant: the sum of `element_bytes` of every element held.
    element_bytes: usize,
}

/// Two hashes are equal when they hold the same pairs in the same order, whatever their form.
impl PartialEq for Hash {
    fn eq(&self, other: &Hash) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Hash {}

/// A small form's pair: the field's length, the field, the value.
fn pair(field: &[u8], value: &[u8]) -> Element {
    let mut packed = Vec::with_capacity(1 + field.len() + value.len());
    packed.push(field.len() as u8);
    packed.extend_from_slice(field);
    packed.extend_from_slice(value);
    element(&packed)
}

/// A small form's pair as its field and value.
fn split(pair: &[u8]) -> (&[u8], &[u8]) {
    let length = usize::from(pair[0]);
    (&pair[1..=length], &pair[1 + length..])
}

fn fits_small(field: &[u8], value: &[u8]) -> bool {
    field.len() <= SMALL_BYTES_MAX && value.len() <= SMALL_BYTES_MAX
}

impl Hash {
    pub fn len(&self) -> usize {
        match &self.fields {
            Fields::Small(pairs) => pairs.len(),
            Fields::Large(map) => map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where `field` is among a small form's pairs.
    fn position(pairs: &[Element], field: &[u8]) -> Option<usize> {
        pairs.iter().position(|p| split(p).0 == field)
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.fields {
            Fields::Small(pairs) => Hash::position(pairs, field).map(|at| split(&pairs[at]).1),
            Fields::Large(map) => map.get(field).map(|value| &**value),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; returns whether the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Fields::Small(pairs) = &mut self.fields {
            let at = Hash::position(pairs, field);
            let room = at.is_some() || pairs.len() < SMALL_FIELDS_MAX;
            if room && fits_small(field, value) {
                let new = pair(field, value);
                self.element_bytes += element_bytes(&new);
                return match at {
                    Some(at) => {
                        let old = std::mem::replace(&mut pairs[at], new);
                        self.element_bytes -= element_bytes(&old);
                        false
                    }
                    None => {
                        if pairs.len() == pairs.capacity() {
                            // A quarter more at a time: a small hash keeps little spare room.
                            pairs.reserve_exact(pairs.len() / 4 + 1);
                        }
                        pairs.push(new);
                        true
                    }
                };
            }
            self.grow();
        }
        let Fields::Large(map) = &mut self.fields else { unreachable!("grown just above") };
        self.element_bytes += element_bytes(value);
        match map.get_mut(field) {
            Some(old) => {
                self.element_bytes -= element_bytes(old);
                *old = element(value);
                false
            }
            None => {
                self.element_bytes += element_bytes(field);
                map.insert(element(field), element(value));
                true
            }
        }
    }

    /// Turns the small form into an index map, keeping the order.
    fn grow(&mut self) {
        let Fields::Small(pairs) = &self.fields else { return };
        let mut map = Map::with_capacity_and_hasher(pairs.len() + 1, Default::default());
        let mut bytes = 0;
        for (field, value) in pairs.iter().map(|p| split(p)) {
            bytes += element_bytes(field) + element_bytes(value);
            map.insert(element(field), element(value));
        }
        self.fields = Fields::Large(Box::new(map));
        self.element_bytes = bytes;
    }

    /// Removes `field`; returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let removed = match &mut self.fields {
            Fields::Small(pairs) => Hash::position(pairs, field).map(|at| element_bytes(&pairs.remove(at))),
            Fields::Large(map) => {
                let removed = if map.len() <= ORDERED_REMOVAL_MAX {
                    map.shift_remove_entry(field)
                } else {
                    map.swap_remove_entry(field)
                };
                removed.map(|(field, value)| element_bytes(&field) + element_bytes(&value))
            }
        };
        match removed {
            Some(bytes) => {
                self.element_bytes -= bytes;
                true
            }
            None => false,
        }
    }

    /// Every field and its value, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let (small, large) = match &self.fields {
            Fields::Small(pairs) => (Some(pairs.iter().map(|p| split(p))), None),
            Fields::Large(map) => (None, Some(map.iter().map(|(field, value)| (&**field, &**value)))),
        };
        small.into_iter().flatten().chain(large.into_iter().flatten())
    }

    /// The field and value at `index` in order.
    pub fn get_index(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match &self.fields {
            Fields::Small(pairs) => pairs.get(index).map(|p| split(p)),
            Fields::Large(map) => map.get_index(index).map(|(field, value)| (&**field, &**value)),
        }
    }

    /// About the bytes the hash has asked the allocator for (see the module's notes).
    pub fn allocated_bytes(&self) -> usize {
        let held = match &self.fields {
            Fields::Small(pairs) => pairs.capacity() * size_of::<Element>(),
            Fields::Large(map) => {
                let entries = map.capacity() * (size_of::<usize>() + 2 * size_of::<Element>());
                let index = map.capacity() * 8 * 8 / 7;
                size_of::<Map>() + entries + index
            }
        };
        held + self.element_bytes
    }

    /// Whether the hash is in its small form (OBJECT ENCODING says `listpack`).
    pub fn is_small(&self) -> bool {
        matches!(self.fields, Fields::Small(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The small form answers as the large one does, and becomes it past either bound.
    #[test]
    fn a_small_hash_grows_into_an_index_map_keeping_its_order() {
        let mut hash = Hash::default();
        for i in 0..SMALL_FIELDS_MAX {
            assert!(hash.insert(format!("f{i}").as_bytes(), format!("v{i}").as_bytes()));
        }
        assert!(hash.is_small());
        assert!(!hash.insert(b"f3", b"three"));
        assert!(hash.remove(b"f0") && !hash.remove(b"f0"));
        assert!(hash.is_small());
        let before: Vec<(Vec<u8>, Vec<u8>)> = hash.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
        assert_eq!(before[2], (b"f3".to_vec(), b"three".to_vec()));
        assert!(hash.insert(b"f0", &[b'x'; SMALL_BYTES_MAX + 1]));
        assert!(!hash.is_small());
        let after: Vec<(Vec<u8>, Vec<u8>)> = hash.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
        assert_eq!(after[..before.len()], before[..]);
        assert_eq!(hash.get(b"f3"), Some(&b"three"[..]));
        assert_eq!(hash.get_index(0).map(|(f, _)| f), Some(&b"f1"[..]));
        // A hash rebuilt in the small form equals the large one with the same pairs in order.
        let mut small = Hash::default();
        after.iter().take(5).for_each(|(f, v)| {
            small.insert(f, v);
        });
        let mut large = hash.clone();
        after.iter().skip(5).for_each(|(f, _)| {
            large.remove(f);
        });
        assert!(small.is_small() && !large.is_small());
        assert_eq!(small, large);
    }
}
