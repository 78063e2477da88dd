//! Redis's set: distinct members, in insertion order.
//!
//! # What a member costs
//! An `IndexSet` entry holds the cached hash (8 bytes) and an element (16, holding up to 15
//! bytes inline, `element.rs`): 24 bytes, plus its slot in the index table (10 to 20 bytes) and,
//! for a member longer than 15 bytes, its own allocation rounded up to 8; entries are reserved
//! to match the table, as for a hash. Measured (`benches/compare/type_memory.sh`, 1M members
//! `member:%08d`): 60 bytes a member by MEMORY USAGE, where Redis 7's hashtable encoding costs 64
//! (a 24-byte dictEntry, an 8-byte bucket and an sds). Redis keeps sets of up to 512 integers in
//! a sorted intset instead (2 to 8 bytes a member).
//!
//! A small set (up to [`SMALL_MEMBERS_MAX`] members of up to [`SMALL_BYTES_MAX`] bytes) is kept
//! instead as one vector of elements: 16 bytes a member of up to 15 bytes, found by a scan
//! (O(N) on at most 128, as Redis 7.2's listpack sets). Measured (10 members `m0`.., MEMORY
//! USAGE of one key): 291 bytes in redraft, 616 in Redis 7.0 (a hash table). A set
//! that grows past either bound becomes an index set for good; order and replies are the same
//! in either form.
//!
//! Order: members keep insertion order while the set has at most [`ORDERED_REMOVAL_MAX`]
//! members; a larger set moves its last member into a removed one's place, as a hash does.
//! Every replica makes the same changes in the same order, so all agree on the order.

use std::hash::BuildHasherDefault;

use indexmap::IndexSet;

use super::{element, element_bytes, Element};

/// Up to this many members, a removal keeps the order of the others.
pub const ORDERED_REMOVAL_MAX: usize = 128;

/// Most members a set keeps in its small form (Redis 7.2's `set-max-listpack-entries`).
pub const SMALL_MEMBERS_MAX: usize = 128;

/// Longest member a set keeps in its small form (Redis 7.2's `set-max-listpack-value`).
pub const SMALL_BYTES_MAX: usize = 64;

type Members = IndexSet<Element, BuildHasherDefault<ahash::AHasher>>;

/// A set's members, in one of two forms with the same order and the same answers.
#[derive(Clone, Debug)]
enum Form {
    Small(Vec<Element>),
    /// Boxed, so that a small set's handle stays small.
    Large(Box<Members>),
}

/// A set's members.
#[derive(Clone, Debug)]
pub struct Set {
    form: Form,
    /// Invariant: the sum of `element_bytes` of every member.
    element_bytes: usize,
}

impl Default for Set {
    fn default() -> Set {
        Set { form: Form::Small(Vec::new()), element_bytes: 0 }
    }
}

/// Two sets are equal when they hold the same members in the same order, whatever their form.
impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Set {}

impl Set {
    pub fn len(&self) -> usize {
        match &self.form {
            Form::Small(members) => members.len(),
            Form::Large(members) => members.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn position(members: &[Element], member: &[u8]) -> Option<usize> {
        members.iter().position(|m| &**m == member)
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.form {
            Form::Small(members) => Set::position(members, member).is_some(),
            Form::Large(members) => members.contains(member),
        }
    }

    /// Adds `member`; returns whether it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if self.contains(member) {
            return false;
        }
        self.element_bytes += element_bytes(member);
        match &mut self.form {
            Form::Small(members) if members.len() < SMALL_MEMBERS_MAX && member.len() <= SMALL_BYTES_MAX => {
                if members.len() == members.capacity() {
                    // A quarter more at a time: a small set keeps little spare room.
                    members.reserve_exact(members.len() / 4 + 1);
                }
                members.push(element(member));
                true
            }
            Form::Small(members) => {
                let mut large = Members::with_capacity_and_hasher(members.len() + 1, Default::default());
                large.extend(std::mem::take(members));
                large.insert(element(member));
                self.form = Form::Large(Box::new(large));
                true
            }
            Form::Large(members) => members.insert(element(member)),
        }
    }

    /// Removes `member`; returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let at = match &self.form {
            Form::Small(members) => Set::position(members, member),
            Form::Large(members) => members.get_index_of(member),
        };
        at.and_then(|at| self.remove_index(at)).is_some()
    }

    /// Removes and returns the member at `index` in order.
    pub fn remove_index(&mut self, index: usize) -> Option<Element> {
        let removed = match &mut self.form {
            Form::Small(members) => (index < members.len()).then(|| members.remove(index)),
            Form::Large(members) if members.len() <= ORDERED_REMOVAL_MAX => members.shift_remove_index(index),
            Form::Large(members) => members.swap_remove_index(index),
        }?;
        self.element_bytes -= element_bytes(&removed);
        Some(removed)
    }

    /// The member at `index` in order.
    pub fn get_index(&self, index: usize) -> Option<&[u8]> {
        match &self.form {
            Form::Small(members) => members.get(index).map(|member| &**member),
            Form::Large(members) => members.get_index(index).map(|member| &**member),
        }
    }

    /// Every member, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let (small, large) = match &self.form {
            Form::Small(members) => (Some(members.iter()), None),
            Form::Large(members) => (None, Some(members.iter())),
        };
        small.into_iter().flatten().chain(large.into_iter().flatten()).map(|member| &**member)
    }

    /// About the bytes the set has asked the allocator for (see the module's notes).
    pub fn allocated_bytes(&self) -> usize {
        let held = match &self.form {
            Form::Small(members) => members.capacity() * size_of::<Element>(),
            Form::Large(members) => {
                let entries = members.capacity() * (size_of::<usize>() + size_of::<Element>());
                let index = members.capacity() * 8 * 8 / 7;
                size_of::<Members>() + entries + index
            }
        };
        held + self.element_bytes
    }

    /// Whether the set is in its small form (OBJECT ENCODING says `listpack`).
    pub fn is_small(&self) -> bool {
        matches!(self.form, Form::Small(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The small form answers as the large one does, and becomes it past either bound.
    #[test]
    fn a_small_set_grows_into_an_index_set_keeping_its_order() {
        let mut set = Set::default();
        for i in 0..SMALL_MEMBERS_MAX {
            assert!(set.insert(format!("m{i}").as_bytes()));
        }
        assert!(set.is_small() && !set.insert(b"m3"));
        assert!(set.remove(b"m0") && !set.remove(b"m0"));
        let before: Vec<Vec<u8>> = set.iter().map(<[u8]>::to_vec).collect();
        assert!(set.insert(&[b'x'; SMALL_BYTES_MAX + 1]));
        assert!(!set.is_small());
        let after: Vec<Vec<u8>> = set.iter().map(<[u8]>::to_vec).collect();
        assert_eq!(after[..before.len()], before[..]);
        assert_eq!(set.get_index(0), Some(&b"m1"[..]));
        assert!(set.contains(b"m5") && !set.contains(b"m0"));
        let mut small = Set::default();
        after.iter().take(4).for_each(|m| {
            small.insert(m);
        });
        let mut large = set.clone();
        after.iter().skip(4).for_each(|m| {
            large.remove(m);
        });
        assert!(small.is_small() && !large.is_small());
        assert_eq!(small, large);
        assert_eq!(large.remove_index(1).as_deref(), Some(&b"m2"[..]));
    }
}
