//! The keys of an append run and the elements appended to them.
//!
//! A few keys are in use at a time, one per slot. Each slot has one shared counter: the n-th
//! append allocated in slot `s` (from 0, over every client) appends element `n + 1` to key
//! `(n / APPENDS_PER_KEY) * SLOTS + s`. One atomic increment thus gives every client an element
//! no other append to that key ever uses, and moves the slot on to a fresh key after
//! [`APPENDS_PER_KEY`] appends, which keeps every list, and every read of it, short however long
//! the run. Element 0 is never appended; the replies' parser uses it for what it cannot read
//! (see `exchange`).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::elle::{Element, Key};

/// Keys in use at once.
pub const SLOTS: u64 = 8;
/// Appends to one key before its slot moves on: at 200 transactions a second a key lives a few
/// seconds, long enough to cross the clients' paths many times, and a read of it holds at most
/// this many elements.
pub const APPENDS_PER_KEY: u64 = 200;

/// The store key of `key`.
pub fn key_name(key: Key) -> String {
    format!("append:{key}")
}

/// The slots' counters.
#[derive(Debug, Default)]
pub struct AppendKeys {
    /// By slot: the appends allocated so far.
    allocated: [AtomicU64; SLOTS as usize],
}

impl AppendKeys {
    /// Nothing allocated yet.
    pub fn new() -> AppendKeys {
        AppendKeys::default()
    }

    fn counter(&self, slot: u64) -> &AtomicU64 {
        &self.allocated[(slot % SLOTS) as usize]
    }

    /// The key slot `slot` (modulo [`SLOTS`]) is at now, for a read.
    pub fn current(&self, slot: u64) -> Key {
        key_of(slot % SLOTS, self.counter(slot).load(Ordering::SeqCst))
    }

    /// A new append in slot `slot` (modulo [`SLOTS`]): its key and an element never appended to
    /// that key before, by any client.
    pub fn allocate(&self, slot: u64) -> (Key, Element) {
        let n = self.counter(slot).fetch_add(1, Ordering::SeqCst);
        (key_of(slot % SLOTS, n), n + 1)
    }

    /// Every key a client may have read or appended to so far, in order: each slot's keys up to
    /// the one it is at now.
    pub fn used(&self) -> Vec<Key> {
        let mut keys: Vec<Key> = (0..SLOTS)
            .flat_map(|slot| {
                let generations = self.counter(slot).load(Ordering::SeqCst) / APPENDS_PER_KEY;
                (0..=generations).map(move |generation| generation * SLOTS + slot)
            })
            .collect();
        keys.sort_unstable();
        keys
    }
}

fn key_of(slot: u64, allocated: u64) -> Key {
    (allocated / APPENDS_PER_KEY) * SLOTS + slot
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn elements_are_unique_per_key_and_slots_move_on_to_fresh_keys() {
        let keys = AppendKeys::new();
        assert_eq!(keys.used(), (0..SLOTS).collect::<Vec<_>>(), "every slot's first key");
        let appends: Vec<(Key, Element)> = (0..APPENDS_PER_KEY + 1).map(|_| keys.allocate(3)).collect();
        assert_eq!(appends[0], (3, 1));
        assert!(appends[..APPENDS_PER_KEY as usize].iter().all(|&(key, _)| key == 3));
        assert_eq!(appends[APPENDS_PER_KEY as usize], (3 + SLOTS, APPENDS_PER_KEY + 1), "a fresh key");
        let unique: BTreeSet<&(Key, Element)> = appends.iter().collect();
        assert_eq!(unique.len(), appends.len());
        assert!(appends.iter().all(|&(_, element)| element != 0), "0 is never appended");
        assert_eq!(keys.current(3), 3 + SLOTS);
        assert_eq!(keys.current(4), 4);
        assert_eq!(keys.used().len(), SLOTS as usize + 1);
        assert!(keys.used().contains(&(3 + SLOTS)));
        assert_eq!(key_name(11), "append:11");
    }
}
