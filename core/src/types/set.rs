//! Redis's set: distinct members, in insertion order.
//!
//! # What a member costs
//! An `IndexSet` entry holds the cached hash (8 bytes) and an element (16, holding up to 15
//! bytes inline, `element.rs`): 24 bytes, plus its slot in the index table (10 to 20 bytes) and,
//! for a member longer than 15 bytes, its own allocation rounded up to 8; entries are reserved
//! to match the table, as for a hash. Measured (`benches/compare/type_memory.sh`, 1M members
//! `member:%08d`): 60 bytes a member by MEMORY USAGE, where Redis 7's hashtable encoding costs 64
//! (a 24-byte dictEntry, an 8-byte bucket and an sds). Redis keeps sets of up to 512 integers in
//! a sorted intset instead (2 to 8 bytes a member); redraft has no such compact form.
//!
//! Order: members keep insertion order while the set has at most [`ORDERED_REMOVAL_MAX`]
//! members; a larger set moves its last member into a removed one's place, as a hash does.
//! Every replica makes the same changes in the same order, so all agree on the order.

use std::hash::BuildHasherDefault;

use indexmap::IndexSet;

use super::{element, element_bytes, Element};

/// Up to this many members, a removal keeps the order of the others.
pub const ORDERED_REMOVAL_MAX: usize = 128;

type Members = IndexSet<Element, BuildHasherDefault<ahash::AHasher>>;

/// A set's members.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Set {
    members: Members,
    /// Invariant: the sum of `element_bytes` of every member.
    element_bytes: usize,
}

impl Set {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.members.contains(member)
    }

    /// Adds `member`; returns whether it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if self.members.contains(member) {
            return false;
        }
        self.element_bytes += element_bytes(member);
        self.members.insert(element(member))
    }

    /// Removes `member`; returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let removed = if self.members.len() <= ORDERED_REMOVAL_MAX {
            self.members.shift_take(member)
        } else {
            self.members.swap_take(member)
        };
        match removed {
            Some(member) => {
                self.element_bytes -= element_bytes(&member);
                true
            }
            None => false,
        }
    }

    /// Removes and returns the member at `index` in order.
    pub fn remove_index(&mut self, index: usize) -> Option<Element> {
        let removed = if self.members.len() <= ORDERED_REMOVAL_MAX {
            self.members.shift_remove_index(index)
        } else {
            self.members.swap_remove_index(index)
        }?;
        self.element_bytes -= element_bytes(&removed);
        Some(removed)
    }

    /// The member at `index` in order.
    pub fn get_index(&self, index: usize) -> Option<&[u8]> {
        self.members.get_index(index).map(|member| &**member)
    }

    /// Every member, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.members.iter().map(|member| &**member)
    }

    /// About the bytes the set has asked the allocator for (see the module's notes).
    pub fn allocated_bytes(&self) -> usize {
        let entries = self.members.capacity() * (size_of::<usize>() + size_of::<Element>());
        let index = self.members.capacity() * 8 * 8 / 7;
        entries + index + self.element_bytes
    }
}
