//! Redis's list: items in order, pushed and popped at both ends in O(1).
//!
//! # What an item costs
//! A ring buffer slot holds an element (16 bytes, `element.rs`): an item of up to 15 bytes costs
//! nothing more, a longer one its own allocation rounded up to 8; plus the buffer's spare
//! capacity: a list of up to [`SMALL_ITEMS_MAX`] items grows by a quarter, a larger one to the
//! next power of two (so up to as much again right after it grows). Redis 7 keeps lists in a
//! quicklist of listpacks, at about the bytes of the data plus 2 to 3 bytes an item. Measured
//! (`benches/compare/type_memory.sh`, MEMORY USAGE): 1M items `item:%010d`, 16 bytes an item
//! against Redis's 17; a list of 10 items `item:0`.., 291 bytes against Redis's 224. Items longer
//! than 15 bytes cost their bytes again in an allocation each, where the quicklist packs them.

use std::collections::VecDeque;

use super::{element, element_bytes, Element};

/// Up to this many items a list grows by a quarter at a time (Redis's listpacks hold 128 items
/// by default).
pub const SMALL_ITEMS_MAX: usize = 128;

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
        self.make_room();
        self.element_bytes += element_bytes(item);
        self.items.push_back(element(item));
    }

    pub fn push_front(&mut self, item: &[u8]) {
        self.make_room();
        self.element_bytes += element_bytes(item);
        self.items.push_front(element(item));
    }

    /// Before a push: a small list grows by a quarter, not by doubling, so that it keeps little
    /// spare room; a large one doubles, to a power of two.
    fn make_room(&mut self) {
        let len = self.items.len();
        if len == self.items.capacity() {
            let target =
                if len < SMALL_ITEMS_MAX { len + len / 4 + 1 } else { (len + 1).next_power_of_two() };
            self.items.reserve_exact(target - len);
        }
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
        self.make_room();
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
