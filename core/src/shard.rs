//! One shard of the map (see `map.rs` for the layout and the locking): a hash table of
//! [`StoredKey`]s, the key hashes in order for SCAN, and a heap of expiries.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use bytes::Bytes;
use hashbrown::HashTable;

use crate::hash_index::HashIndex;
use crate::key_compare::same_key;
use crate::replay_growth::ReplayGrowth;
use crate::stored_key::{Entry, PinnedRecord, StoredKey};

/// One shard: a hash table of [`StoredKey`]s for point operations, the hashes in order for
/// SCAN, and a TTL heap. What each key costs is in `stored_key.rs`.
pub struct Shard {
    /// Keys the table's hashes, as the map does; the table recomputes hashes when it grows.
    hasher: ahash::RandomState,
    table: HashTable<StoredKey>,
    /// Invariant: holds the hash of every key in `table`, once per key, and nothing else.
    by_hash: HashIndex,
    /// Holds `(expire_at_ms, hash)` for every key with a TTL, plus stale pairs left behind when a
    /// TTL changed or a key went away; a pair is live only if a key of that hash still has that
    /// TTL.
    ttl_heap: BinaryHeap<Reverse<(u64, u64)>>,
    /// Invariant: the number of entries in `table` with a TTL.
    ttl_key_count: usize,
    /// Invariant: the sum of the `allocation_bytes` of the records in `table`.
    record_bytes: usize,
    /// While a snapshot is pinned at this log index (`pin.rs`): a record whose `mod_index` is at
    /// most it is never changed in place or freed, but moved to `retained` when the shard
    /// replaces or removes it, so that the snapshot can still read it.
    pinned_at: Option<u64>,
    /// The records kept for a pinned snapshot, freed when it is unpinned.
    retained: Vec<StoredKey>,
    /// Invariant: the sum of the `allocation_bytes` of the records in `retained`.
    retained_bytes: usize,
    /// While a start replays its log: the writes expected, to grow the table once for them.
    replay_growth: Option<ReplayGrowth>,
}

/// How many records ahead of the one [`Shard::grow`] hashes it fetches the key of (and twice as
/// many ahead, the header that says where the key is).
const GROW_FETCH_AHEAD: usize = 8;

/// What a shard being filled by [`Shard::load_one`] indexes when it is finished.
pub(crate) struct Loading {
    hashes: Vec<u64>,
    expiries: Vec<Reverse<(u64, u64)>>,
}

/// Stale pairs tolerated in a TTL heap beyond twice its live pairs, before it is rebuilt.
const TTL_HEAP_SLACK: usize = 64;

impl Shard {
    /// An empty shard of a map that picks shards by the first `prefix_bits` bits of a hash.
    pub(crate) fn new(hasher: ahash::RandomState, prefix_bits: u32) -> Shard {
        Shard {
            hasher,
            table: HashTable::new(),
            by_hash: HashIndex::new(prefix_bits),
            ttl_heap: BinaryHeap::new(),
            ttl_key_count: 0,
            record_bytes: 0,
            pinned_at: None,
            retained: Vec::new(),
            retained_bytes: 0,
            replay_growth: None,
        }
    }

    /// Expects a replay of about `writes` writes to this shard (`replay_growth.rs`), the SCAN
    /// index taking the new keys' hashes in bulk at its end ([`HashIndex::defer`]); `None` ends
    /// the replay.
    pub(crate) fn expect_replay(&mut self, writes: Option<usize>) {
        self.replay_growth = writes.map(ReplayGrowth::new);
        self.by_hash.defer(writes.is_some());
    }

    /// The number of keys, including expired ones not yet removed.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the shard holds no key.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The number of keys with a TTL, expired ones not yet removed included.
    /// The earliest deadline of a key with a TTL here, or one that has changed since (the heap
    /// may hold stale pairs): no live key's deadline is earlier.
    pub fn earliest_deadline(&self) -> Option<u64> {
        self.ttl_heap.peek().map(|Reverse((at, _))| *at)
    }

    pub fn ttl_key_count(&self) -> usize {
        self.ttl_key_count
    }

    /// The hashes of the shard's keys from `cursor` (in the shard's range) on, in order (each
    /// once).
    pub(crate) fn hashes_from(&self, cursor: u64) -> Box<dyn Iterator<Item = u64> + '_> {
        self.by_hash.hashes_from(cursor)
    }

    /// Every key, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &StoredKey> {
        self.table.iter()
    }

    /// The bytes this shard has asked the allocator for: its keys' records (not counting shared
    /// values' own buffers) and those kept for a pinned snapshot, the table, the TTL heap, and
    /// the SCAN index.
    pub fn allocated_bytes(&self) -> usize {
        let by_hash = self.by_hash.allocated_bytes();
        let heap = self.ttl_heap.capacity() * size_of::<Reverse<(u64, u64)>>();
        let retained = self.retained_bytes + self.retained.capacity() * size_of::<StoredKey>();
        self.record_bytes + retained + self.table.allocation_size() + by_hash + heap
    }

    /// Pins the shard's records as of log index `at` (see `pinned_at`).
    pub(crate) fn pin(&mut self, at: u64) {
        debug_assert!(self.pinned_at.is_none() && self.retained.is_empty());
        self.pinned_at = Some(at);
    }

    /// Ends the pin, handing back the records kept for it (the caller frees them outside the
    /// shard's lock).
    pub(crate) fn unpin(&mut self) -> Vec<StoredKey> {
        self.pinned_at = None;
        self.retained_bytes = 0;
        std::mem::take(&mut self.retained)
    }

    /// Every record the pinned snapshot holds: those in the table not changed since the pin, and
    /// those kept. A record is in one or the other: once kept, its key's record in the table (if
    /// any) was written after the pin.
    pub(crate) fn pinned_records(&self, out: &mut Vec<PinnedRecord>) {
        let Some(at) = self.pinned_at else { return };
        let in_table = self.table.iter().filter(|s| s.mod_index() <= at);
        // SAFETY (of what `PinnedRecord::new` asks): every record named here is one the shard
        // neither changes in place nor frees before `unpin` (see `pinned_at`).
        out.extend(in_table.chain(&self.retained).map(|stored| unsafe { PinnedRecord::new(stored) }));
    }

    /// Frees a record the shard let go of, or keeps it for a pinned snapshot.
    fn discard(&mut self, stored: StoredKey) {
        if self.pinned_at.is_some_and(|at| stored.mod_index() <= at) {
            self.retained_bytes += stored.allocation_bytes();
            self.retained.push(stored);
        }
    }

    pub(crate) fn hash_of(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<&StoredKey> {
        self.table.find(table_hash(hash), |s| same_key(s.key(), key))
    }

    /// The first key whose tag matches `hash`'s, without reading any key (almost always the
    /// key of that hash, when one is stored): the record [`Locked::warm`](crate::map::Locked::warm)
    /// fetches.
    pub(crate) fn first_with_hash(&self, hash: u64) -> Option<&StoredKey> {
        self.table.iter_hash(table_hash(hash)).next()
    }

    /// The keys stored under `hash` (almost always one).
    pub(crate) fn with_hash(&self, hash: u64) -> impl Iterator<Item = &StoredKey> {
        self.table.iter_hash(table_hash(hash)).filter(move |s| self.hash_of(s.key()) == hash)
    }

    /// Stores `entry` under `key`; returns `Some(the old expiry)` when the key was there, and
    /// the create index the key has now: a key live at `now_ms` keeps its own, any other takes
    /// `entry.create_index`.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: &[u8],
        entry: Entry,
        now_ms: u64,
    ) -> (Option<Option<u64>>, u64) {
        let new_expiry = entry.expire_at_ms;
        let (old, create_index) = self.insert_untracked(hash, key, entry, Some(now_ms));
        if old.is_none() {
            self.by_hash.insert(hash);
        }
        debug_assert_eq!(self.by_hash.len(), self.table.len(), "one SCAN index hash per key");
        let old_expiry = old.flatten();
        self.ttl_key_count =
            self.ttl_key_count + usize::from(new_expiry.is_some()) - usize::from(old_expiry.is_some());
        if let Some(at) = new_expiry.filter(|at| Some(*at) != old_expiry) {
            self.ttl_heap.push(Reverse((at, hash)));
            self.compact_ttl_heap();
        }
        (old, create_index)
    }

    /// Removes `key`, handing its record to `f` before the record is freed (or kept for a
    /// pinned snapshot).
    pub(crate) fn remove_with<R>(
        &mut self,
        hash: u64,
        key: &[u8],
        f: impl FnOnce(&mut StoredKey) -> R,
    ) -> Option<R> {
        let mut stored = self.table.find_entry(table_hash(hash), |s| same_key(s.key(), key)).ok()?.remove().0;
        self.record_bytes -= stored.allocation_bytes();
        self.by_hash.remove(hash);
        debug_assert_eq!(self.by_hash.len(), self.table.len(), "one SCAN index hash per key");
        if stored.expire_at_ms().is_some() {
            self.ttl_key_count -= 1;
        }
        let seen = f(&mut stored);
        self.discard(stored);
        Some(seen)
    }

    /// Removes `key` and returns its entry: an aggregate is moved out, unless a pinned snapshot
    /// still reads the record, which then keeps it and a copy is returned.
    pub(crate) fn take(&mut self, hash: u64, key: &[u8]) -> Option<Entry> {
        let pinned_at = self.pinned_at;
        self.remove_with(hash, key, |stored| match pinned_at {
            Some(at) if stored.mod_index() <= at => stored.to_entry(),
            _ => stored.take_entry(),
        })
    }

    /// Sets or clears the expiry of `key` in place, stamping it with `log_index`; returns what
    /// `seen` makes of the changed record, or `None` when the key is not stored.
    pub(crate) fn set_expiry<R>(
        &mut self,
        hash: u64,
        key: &[u8],
        expire_at_ms: Option<u64>,
        log_index: u64,
        seen: impl FnOnce(&StoredKey) -> R,
    ) -> Option<R> {
        let (old, result) = self.update(hash, key, log_index, |stored| {
            let old = stored.expire_at_ms();
            stored.set_expire_at_ms(expire_at_ms);
            (old, seen(stored))
        })?;
        self.ttl_key_count =
            self.ttl_key_count + usize::from(expire_at_ms.is_some()) - usize::from(old.is_some());
        if let Some(at) = expire_at_ms.filter(|at| Some(*at) != old) {
            self.ttl_heap.push(Reverse((at, hash)));
            self.compact_ttl_heap();
        }
        Some(result)
    }

    /// Starts filling an empty shard with about `expected` keys, given one by one to
    /// [`Shard::load_one`]: the table is sized once, and the indexes are built in bulk by
    /// [`Shard::finish_load`].
    pub(crate) fn begin_load(&mut self, expected: usize) -> Loading {
        debug_assert!(self.table.is_empty());
        let hasher = &self.hasher;
        self.table.reserve(expected, |s| table_hash(hasher.hash_one(s.key())));
        Loading { hashes: Vec::with_capacity(expected), expiries: Vec::new() }
    }

    /// Adds one key to a shard being filled; a key given twice keeps its last entry.
    pub(crate) fn load_one(&mut self, loading: &mut Loading, hash: u64, key: &[u8], entry: Entry) {
        if let Some(at) = entry.expire_at_ms {
            loading.expiries.push(Reverse((at, hash)));
        }
        match self.insert_untracked(hash, key, entry, None).0 {
            None => loading.hashes.push(hash),
            Some(old_expiry) => self.ttl_key_count -= usize::from(old_expiry.is_some()),
        }
    }

    /// Builds the indexes of a shard filled by [`Shard::load_one`].
    pub(crate) fn finish_load(&mut self, loading: Loading) {
        self.by_hash = HashIndex::from_hashes(self.by_hash.prefix_bits(), loading.hashes);
        debug_assert_eq!(self.by_hash.len(), self.table.len(), "one SCAN index hash per key");
        self.ttl_key_count += loading.expiries.len();
        self.ttl_heap = BinaryHeap::from(loading.expiries);
    }

    /// Inserts or replaces a key in the table alone (and the record count); the caller keeps
    /// `by_hash` and the TTL bookkeeping. Returns `Some(the old expiry)` when the key was there,
    /// and the key's create index: its old one when it was live at `keep_create_at` (ms).
    pub(crate) fn insert_untracked(
        &mut self,
        hash: u64,
        key: &[u8],
        mut entry: Entry,
        keep_create_at: Option<u64>,
    ) -> (Option<Option<u64>>, u64) {
        if self.table.len() == self.table.capacity() {
            // Full: the next key would make hashbrown double the table. During a replay, grow it
            // for the rest of the replay's new keys at once.
            self.grow(self.replay_growth.map_or(1, |growth| growth.room_wanted()));
        }
        let hasher = &self.hasher;
        // One probe of the table whether the key is there or not (a start loads a million keys).
        let slot = self.table.entry(
            table_hash(hash),
            |s| same_key(s.key(), key),
            |s| table_hash(hasher.hash_one(s.key())),
        );
        let inserted = match slot {
            hashbrown::hash_table::Entry::Occupied(mut occupied) => {
                let stored = occupied.get_mut();
                if keep_create_at.is_some_and(|now_ms| stored.is_live(now_ms)) {
                    entry.create_index = stored.create_index();
                }
                let create_index = entry.create_index;
                self.record_bytes -= stored.allocation_bytes();
                let old = if self.pinned_at.is_some_and(|at| stored.mod_index() <= at) {
                    // A pinned record is read by the snapshot: replaced by a new one, not changed.
                    let expiry = stored.expire_at_ms();
                    let pinned = std::mem::replace(stored, StoredKey::new(key, entry));
                    self.retained_bytes += pinned.allocation_bytes();
                    self.retained.push(pinned);
                    expiry
                } else {
                    stored.replace(entry)
                };
                self.record_bytes += stored.allocation_bytes();
                (Some(old), create_index)
            }
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                let create_index = entry.create_index;
                let stored = StoredKey::new(key, entry);
                self.record_bytes += stored.allocation_bytes();
                vacant.insert(stored);
                (None, create_index)
            }
        };
        if let Some(growth) = &mut self.replay_growth {
            growth.applied(inserted.0.is_none());
        }
        inserted
    }

    /// Moves the records into a table with room for `additional` more keys, and at least twice
    /// as many as now (what hashbrown's own growth makes). hashbrown's growth reads each record
    /// for its key's hash one after the other, a cache miss apiece that the CPU overlaps with
    /// few others: a sixth of a restart that replays half a million new keys (`perf record`,
    /// `benches/compare/redis.sh`). Here the hashes are taken first, with the records fetched
    /// some keys ahead, so that many misses are in flight at once.
    fn grow(&mut self, additional: usize) {
        let len = self.table.len();
        let records: Vec<StoredKey> = std::mem::take(&mut self.table).into_iter().collect();
        let hasher = &self.hasher;
        let mut hashes = Vec::with_capacity(len);
        for (i, record) in records.iter().enumerate() {
            if let Some(ahead) = records.get(i + 2 * GROW_FETCH_AHEAD) {
                ahead.prefetch_header();
            }
            if let Some(ahead) = records.get(i + GROW_FETCH_AHEAD) {
                ahead.prefetch_key();
            }
            hashes.push(table_hash(hasher.hash_one(record.key())));
        }
        let mut table = HashTable::with_capacity(len + additional.max(len).max(1));
        for (record, hash) in records.into_iter().zip(hashes) {
            table.insert_unique(hash, record, |s| table_hash(hasher.hash_one(s.key())));
        }
        self.table = table;
    }

    /// Changes the record of `key` in place with `f`, stamping it with `log_index`; `None` when
    /// the key is not stored. A record a pinned snapshot reads is copied first and the copy
    /// changed, as [`Shard::insert_untracked`] replaces one. `f` changes neither the key nor the
    /// expiry.
    pub(crate) fn update<R>(
        &mut self,
        hash: u64,
        key: &[u8],
        log_index: u64,
        f: impl FnOnce(&mut StoredKey) -> R,
    ) -> Option<R> {
        let stored = self.table.find_mut(table_hash(hash), |s| same_key(s.key(), key))?;
        self.record_bytes -= stored.allocation_bytes();
        if self.pinned_at.is_some_and(|at| stored.mod_index() <= at) {
            let copy = stored.clone();
            let pinned = std::mem::replace(stored, copy);
            self.retained_bytes += pinned.allocation_bytes();
            self.retained.push(pinned);
        }
        stored.set_mod_index(log_index);
        let result = f(stored);
        self.record_bytes += stored.allocation_bytes();
        Some(result)
    }

    pub(crate) fn clear(&mut self) {
        for stored in std::mem::take(&mut self.table) {
            self.discard(stored);
        }
        self.by_hash.clear();
        self.ttl_heap = BinaryHeap::new();
        self.ttl_key_count = 0;
        self.record_bytes = 0;
    }

    pub(crate) fn collect_expired(&mut self, now_ms: u64, max: usize, out: &mut Vec<Bytes>) {
        let mut keep = Vec::new();
        let mut collected = 0;
        while collected < max {
            match self.ttl_heap.peek() {
                Some(Reverse((at, _))) if *at <= now_ms => {}
                _ => break,
            }
            let popped = self.ttl_heap.pop().expect("peeked just above");
            // A key given the same expiry twice (SET k EX 2, DEL k, RENAME j k with j's equal
            // TTL) has two identical heap pairs; they pop one after the other, and the key must
            // be collected once. Found by the model test (tests/model.proptest-regressions).
            if keep.last() == Some(&popped) {
                continue;
            }
            let Reverse((at, hash)) = popped;
            let before = out.len();
            out.extend(
                self.with_hash(hash)
                    .filter(|s| s.expire_at_ms() == Some(at))
                    .map(|s| Bytes::copy_from_slice(s.key())),
            );
            if out.len() > before {
                collected += out.len() - before;
                keep.push(Reverse((at, hash)));
            }
        }
        self.ttl_heap.extend(keep);
    }

    pub(crate) fn compact_ttl_heap(&mut self) {
        if self.ttl_heap.len() <= 2 * self.ttl_key_count + TTL_HEAP_SLACK {
            return;
        }
        let hasher = &self.hasher;
        self.ttl_heap = self
            .table
            .iter()
            .filter_map(|s| s.expire_at_ms().map(|at| Reverse((at, hasher.hash_one(s.key())))))
            .collect();
        debug_assert_eq!(self.ttl_heap.len(), self.ttl_key_count);
    }
}

/// The hash the table probes with. The shard is the top bits of the key hash, so inside one shard
/// those bits are all equal; hashbrown takes its 7-bit tag from the top bits too. Mixing spreads
/// the entropy back over every bit (the finaliser of splitmix64).
pub(crate) fn table_hash(hash: u64) -> u64 {
    let mut z = hash;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Value;

    fn put(shard: &mut Shard, key: &[u8], index: u64) -> bool {
        let hash = shard.hasher.hash_one(key);
        let value = Value::String(Bytes::copy_from_slice(key));
        let entry = Entry { value, expire_at_ms: None, mod_index: index, create_index: index };
        shard.insert(hash, key, entry, 0).0.is_none()
    }

    fn key(i: u64) -> Vec<u8> {
        format!("key:{i}").into_bytes()
    }

    /// Counts the times the table's allocation changed while `f` ran, calling it once per key.
    fn growths(shard: &mut Shard, keys: impl Iterator<Item = u64>, index: u64) -> usize {
        let mut count = 0;
        for i in keys {
            let before = shard.table.allocation_size();
            put(shard, &key(i), index);
            count += usize::from(shard.table.allocation_size() != before);
        }
        count
    }

    /// Every key is found after the table grew many times, and after removals left tombstones
    /// that later growths clear.
    #[test]
    fn growing_keeps_every_key() {
        let mut shard = Shard::new(ahash::RandomState::with_seeds(1, 2, 3, 4), 0);
        assert!((0..20_000).all(|i| put(&mut shard, &key(i), 1)));
        for i in (0..20_000).step_by(2) {
            let hash = shard.hasher.hash_one(key(i));
            assert!(shard.remove_with(hash, &key(i), |_| ()).is_some());
        }
        assert!((20_000..50_000).all(|i| put(&mut shard, &key(i), 2)));
        assert_eq!(shard.len(), 40_000);
        for i in 0..50_000 {
            let found = shard.get(shard.hasher.hash_one(key(i)), &key(i)).map(|s| s.value().to_vec());
            assert_eq!(found, (i >= 20_000 || i % 2 == 1).then(|| key(i)), "key {i}");
        }
        assert_eq!(shard.by_hash.len(), 40_000);
    }

    /// A replay of new keys grows the table once it knows they are new, where doubling grew it
    /// at every power of two; a replay of overwrites grows nothing.
    #[test]
    fn a_replay_grows_the_table_for_the_keys_it_brings() {
        let mut doubling = Shard::new(ahash::RandomState::with_seeds(1, 2, 3, 4), 0);
        assert!(growths(&mut doubling, 0..20_000, 1) >= 13, "3, 7, 14, ... 14,336 keys");
        let mut replaying = Shard::new(ahash::RandomState::with_seeds(1, 2, 3, 4), 0);
        replaying.expect_replay(Some(20_000));
        // The first hundred keys grow the table as doubling does; then it is known keys are new.
        assert!(growths(&mut replaying, 0..20_000, 1) <= 7);
        replaying.expect_replay(Some(60_000));
        assert_eq!(growths(&mut replaying, (0..20_000).cycle().take(60_000), 2), 0);
        assert_eq!(replaying.len(), 20_000);
    }
}
