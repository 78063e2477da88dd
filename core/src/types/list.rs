//! Redis's list: items in order, pushed and popped at both ends in O(1).
//!
//! # What an item costs
//! A ring buffer slot holds a boxed slice (16 bytes), and the item's own allocation is rounded
//! up to 8: a 16-byte item costs 32 bytes, plus the buffer's spare capacity (at most as much
//! again right after it grows). Redis 7 keeps lists in a quicklist of listpacks, at about the
//! bytes of the data plus 2 to 3 bytes an item: about 19 for the same item. Closing that gap
//! means packing items into chunks, as the quicklist does; not done yet.

use std::collections::VecDeque;

use super::{element, element_bytes, Element};

/// A list's items.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct List {
    items: VecDeque<Element>,
    /// Invariant: the sum of `element_bytes` of every item.
    element_bytes: usize,
}

impl List {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push_back(&mut self, item: &[u8]) {
        self.element_bytes += element_bytes(item);
        self.items.push_back(element(item));
    }

    pub fn push_front(&mut self, item: &[u8]) {
        self.element_bytes += element_bytes(item);
        self.items.push_front(element(item));
    }

    pub fn pop_front(&mut self) -> Option<Element> {
        let item = self.items.pop_front()?;
        self.element_bytes -= element_bytes(&item);
        Some(item)
    }

    pub fn pop_back(&mut self) -> Option<Element> {
        let item = self.items.pop_back()?;
        self.element_bytes -= element_bytes(&item);
        Some(item)
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.items.get(index).map(|item| &**item)
    }

    /// Replaces the item at `index`; `false` when there is none.
    pub fn set(&mut self, index: usize, item: &[u8]) -> bool {
        let Some(slot) = self.items.get_mut(index) else { return false };
        self.element_bytes = self.element_bytes - element_bytes(slot) + element_bytes(item);
        *slot = element(item);
        true
    }

    /// Inserts `item` so that it is at `index` (at most the length).
    pub fn insert(&mut self, index: usize, item: &[u8]) {
        self.element_bytes += element_bytes(item);
        self.items.insert(index, element(item));
    }

    /// Removes the item at `index`.
    pub fn remove(&mut self, index: usize) -> Option<Element> {
        let item = self.items.remove(index)?;
        self.element_bytes -= element_bytes(&item);
        Some(item)
    }

    /// Keeps only the items `start..end` (clamped to the list).
    pub fn keep(&mut self, start: usize, end: usize) {
        let end = end.min(self.items.len());
        let start = start.min(end);
        let tail: usize = self.items.drain(end..).map(|item| element_bytes(&item)).sum();
        let head: usize = self.items.drain(..start).map(|item| element_bytes(&item)).sum();
        self.element_bytes -= tail + head;
    }

    /// Every item, head first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.iter().map(|item| &**item)
    }

    /// About the bytes the list has asked the allocator for (see the module's notes).
    pub fn allocated_bytes(&self) -> usize {
        self.items.capacity() * size_of::<Element>() + self.element_bytes
    }
}
