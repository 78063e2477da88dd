//! The sharded map: keys to string values with TTLs and modification indexes.
//!
//! # Layout
//! A key's 64-bit hash is keyed by a seed the caller passes in: fixed in simulation, random per
//! process in production, so hostile keys cannot be crafted to pile into one shard. The top
//! `shard_bits` of the hash pick the shard. Each shard sits behind its own reader-writer lock, so
//! many readers run beside the single apply path, and holds:
//! - a hash table (hashbrown's `HashTable`, probed with the hash already computed) for point
//!   operations, which are most of the traffic;
//! - the keys in hash order, so that SCAN can resume from a 64-bit cursor: the cursor is a hash
//!   value, and because the shard is the top bits of the hash, "every key whose hash is at least
//!   the cursor" is a position in one global order. Every key present for the whole scan is
//!   returned, as Redis promises, whatever is inserted or deleted between calls;
//! - the keys in byte order, so that prefix listing pages in key order;
//! - a min-heap of (expire_at_ms, key) for active expiry.
//!
//! The two ordered indexes share the key's buffer with the table (`Bytes` is reference counted)
//! and are touched only when a key is created or removed; overwriting a key, the common write,
//! touches the table alone. `benches/benches/shard_structure.rs` measures this layout against a
//! single ordered map per shard.
//!
//! # Locking
//! Operations on several keys lock every shard involved, in ascending shard order, before looking
//! at any key, so a multi-key write is atomic to readers and locks are never taken out of order.
//! Commands that see the whole keyspace (KEYS, SCAN, FLUSHALL) lock every shard.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use hashbrown::HashTable;
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::limits::{DELETION_MARK_BUCKETS, SHARD_BITS_MAX};

/// A stored value with its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The string value; binary safe.
    pub value: Bytes,
    /// When the key expires, in state-machine milliseconds; `None` for no TTL.
    pub expire_at_ms: Option<u64>,
    /// Log index of the entry that last changed this key (value or TTL), like etcd's
    /// `mod_revision`. WATCH and compare-and-set rely on it being exact.
    pub mod_index: u64,
}

impl Entry {
    /// Whether the key still exists at `now_ms`: a key is expired when `expire_at_ms <= now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.expire_at_ms.is_none_or(|at| at > now_ms)
    }
}

/// The keys of many shards, each behind its own lock.
pub struct ShardedMap {
    shards: Box<[CacheAligned<RwLock<Shard>>]>,
    shard_bits: u32,
    hasher: ahash::RandomState,
    /// Where the next `collect_expired` starts, so that no shard is starved of active expiry.
    expire_cursor: AtomicUsize,
    /// Log index of the newest deletion of any key in each bucket; a key's bucket comes from a
    /// fixed hash (crc32c), not the seeded one, so that every replica computes the same marks.
    /// Written only by the apply path, under the write lock of the deleted key's shard.
    deletion_marks: Box<[AtomicU64]>,
}

impl ShardedMap {
    /// An empty map of `2^shard_bits` shards whose key hashing is keyed by `seed`.
    ///
    /// # Panics
    /// If `shard_bits` exceeds [`SHARD_BITS_MAX`].
    pub fn new(shard_bits: u32, seed: u64) -> ShardedMap {
        assert!(shard_bits <= SHARD_BITS_MAX, "shard_bits {shard_bits} > {SHARD_BITS_MAX}");
        let mut state = seed;
        let mut next = || splitmix64(&mut state);
        let hasher = ahash::RandomState::with_seeds(next(), next(), next(), next());
        ShardedMap {
            shards: (0..1usize << shard_bits).map(|_| CacheAligned(RwLock::new(Shard::default()))).collect(),
            shard_bits,
            hasher,
            expire_cursor: AtomicUsize::new(0),
            deletion_marks: (0..DELETION_MARK_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The log index of the newest deletion of any key that shares `key`'s deletion bucket.
    /// WATCH on an absent key remembers it, so that a key created and deleted again between WATCH
    /// and EXEC still aborts the transaction. It may abort one whose key was not touched (another
    /// key of the bucket was deleted): Redis, too, aborts on more than it must (FLUSHALL).
    pub fn deletion_mark(&self, key: &[u8]) -> u64 {
        self.deletion_marks[deletion_bucket(key)].load(Ordering::Acquire)
    }

    /// Every bucket's deletion mark, for snapshots.
    pub fn deletion_marks(&self) -> Vec<u64> {
        self.deletion_marks.iter().map(|m| m.load(Ordering::Acquire)).collect()
    }

    /// Restores deletion marks from a snapshot; missing buckets become 0.
    pub fn set_deletion_marks(&self, marks: &[u64]) {
        for (index, mark) in self.deletion_marks.iter().enumerate() {
            mark.store(marks.get(index).copied().unwrap_or(0), Ordering::Release);
        }
    }

    fn mark_deletion(&self, key: &[u8], log_index: u64) {
        self.deletion_marks[deletion_bucket(key)].fetch_max(log_index, Ordering::AcqRel);
    }

    /// The number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The keyed 64-bit hash of a key.
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard that holds keys of this hash.
    pub fn shard_of(&self, hash: u64) -> usize {
        if self.shard_bits == 0 {
            0
        } else {
            (hash >> (64 - self.shard_bits)) as usize
        }
    }

    /// The value of a live key at `now_ms`.
    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<Bytes> {
        let hash = self.hash(key);
        let shard = self.shards[self.shard_of(hash)].read();
        shard.get(hash, key).filter(|e| e.is_live(now_ms)).map(|e| e.value.clone())
    }

    /// Stores a value without TTL, as a plain `SET` does; returns whether the key was new.
    pub fn set(&self, key: Bytes, value: Bytes, mod_index: u64) -> bool {
        let hash = self.hash(&key);
        let mut shard = self.shards[self.shard_of(hash)].write();
        let entry = Entry { value, expire_at_ms: None, mod_index };
        shard.insert(hash, key, entry).is_none()
    }

    /// The number of keys stored, including expired keys that active expiry has not removed yet
    /// (as Redis's DBSIZE counts them).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of stored keys that have a TTL, expired ones not yet removed included. The
    /// leader keeps time moving (DESIGN.md §3) only while this is not zero.
    pub fn ttl_key_count(&self) -> usize {
        self.shards.iter().map(|s| s.read().ttl_key_count).sum()
    }

    /// Read-locks the shards that hold `keys`, in shard order.
    pub fn read_keys<'a, K: AsRef<[u8]>>(&'a self, keys: impl IntoIterator<Item = K>) -> ReadSet<'a> {
        let ids = self.shard_ids(keys);
        Locked { map: self, guards: ids.into_iter().map(|i| (i, self.shards[i].read())).collect() }
    }

    /// Write-locks the shards that hold `keys`, in shard order.
    pub fn write_keys<'a, K: AsRef<[u8]>>(&'a self, keys: impl IntoIterator<Item = K>) -> WriteSet<'a> {
        let ids = self.shard_ids(keys);
        Locked { map: self, guards: ids.into_iter().map(|i| (i, self.shards[i].write())).collect() }
    }

    /// Read-locks every shard, in order.
    pub fn read_all(&self) -> ReadSet<'_> {
        Locked { map: self, guards: self.shards.iter().map(|s| s.read()).enumerate().collect() }
    }

    /// Write-locks every shard, in order.
    pub fn write_all(&self) -> WriteSet<'_> {
        Locked { map: self, guards: self.shards.iter().map(|s| s.write()).enumerate().collect() }
    }

    /// Up to `max` keys whose TTL has passed at `now_ms`, for the leader to propose as an expiry
    /// batch (DESIGN.md §3). Nothing is deleted here: the keys stay until the batch is applied,
    /// and a key collected but never deleted (the batch lost with a leader) is collected again.
    /// Stale heap entries met on the way are discarded.
    pub fn collect_expired(&self, now_ms: u64, max: usize) -> Vec<Bytes> {
        let mut keys = Vec::new();
        let count = self.shards.len();
        let start = self.expire_cursor.load(Ordering::Relaxed) % count;
        for offset in 0..count {
            if keys.len() >= max {
                break;
            }
            let index = (start + offset) % count;
            self.shards[index].write().collect_expired(now_ms, max - keys.len(), &mut keys);
            self.expire_cursor.store(index + 1, Ordering::Relaxed);
        }
        keys
    }

    fn shard_ids<K: AsRef<[u8]>>(&self, keys: impl IntoIterator<Item = K>) -> Vec<usize> {
        let mut ids: Vec<usize> = keys.into_iter().map(|k| self.shard_of(self.hash(k.as_ref()))).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Keeps each shard's lock on cache lines of its own: the lock word is written on every access,
/// and neighbouring shards sharing a line would make every core's access invalidate the others'
/// (128 bytes covers the adjacent-line prefetch of x86 and the line size of Apple's ARM cores).
#[repr(align(128))]
struct CacheAligned<T>(T);

impl<T> Deref for CacheAligned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Shards locked for reading.
pub type ReadSet<'a> = Locked<'a, RwLockReadGuard<'a, Shard>>;
/// Shards locked for writing.
pub type WriteSet<'a> = Locked<'a, RwLockWriteGuard<'a, Shard>>;

/// A set of locked shards, in ascending shard order, through which commands see the keyspace.
pub struct Locked<'a, G> {
    map: &'a ShardedMap,
    /// Invariant: sorted by shard index, no duplicates.
    guards: Vec<(usize, G)>,
}

impl<G: Deref<Target = Shard>> Locked<'_, G> {
    /// The entry of `key`, live or expired.
    ///
    /// # Panics
    /// If the key's shard is not locked: the caller locked the wrong keys, which is a bug.
    pub fn entry(&self, key: &[u8]) -> Option<&Entry> {
        let hash = self.map.hash(key);
        self.shard(hash).get(hash, key)
    }

    /// The entry of `key` if it is live at `now_ms`.
    pub fn live(&self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.entry(key).filter(|e| e.is_live(now_ms))
    }

    /// The locked shards, in shard order.
    pub fn shards(&self) -> impl Iterator<Item = &Shard> {
        self.guards.iter().map(|(_, g)| g.deref())
    }

    /// Whether every shard is locked.
    pub fn is_whole(&self) -> bool {
        self.guards.len() == self.map.shard_count()
    }

    /// One page of SCAN: live keys whose hash is at least `cursor`, visiting about `count` keys,
    /// filtered by `keep`. Returns the next cursor (0 when the scan is complete) and the keys.
    ///
    /// # Panics
    /// If not every shard is locked.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        now_ms: u64,
        mut keep: impl FnMut(&[u8]) -> bool,
    ) -> (u64, Vec<Bytes>) {
        assert!(self.is_whole(), "SCAN needs every shard locked");
        let mut keys = Vec::new();
        let mut visited = 0usize;
        let mut last_hash: Option<u64> = None;
        for shard in &self.guards[self.map.shard_of(cursor)..] {
            let from = (cursor, Bytes::new());
            for (hash, key) in shard.1.by_hash.range(from..) {
                // Stop only between two different hashes, so that the next cursor (last hash + 1)
                // cannot skip a key that shares the hash of the last one returned.
                if visited >= count && last_hash != Some(*hash) {
                    return (last_hash.map_or(0, |h| h.wrapping_add(1)), keys);
                }
                visited += 1;
                last_hash = Some(*hash);
                let live = shard.1.get(*hash, key).is_some_and(|e| e.is_live(now_ms));
                if live && keep(key) {
                    keys.push(key.clone());
                }
            }
        }
        (0, keys)
    }

    /// Live keys starting with `prefix`, in key order, strictly after `after` when given, at most
    /// `limit` of them; the flag says whether more follow.
    ///
    /// # Panics
    /// If not every shard is locked.
    pub fn list_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
        now_ms: u64,
    ) -> (Vec<(Bytes, Entry)>, bool) {
        use std::ops::Bound;
        assert!(self.is_whole(), "prefix listing needs every shard locked");
        let lower = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let mut found: Vec<(Bytes, Entry)> = Vec::new();
        for (_, shard) in &self.guards {
            let page = shard
                .by_key
                .range::<[u8], _>((lower, Bound::Unbounded))
                .take_while(|(key, _)| key.starts_with(prefix))
                .filter_map(|(key, hash)| {
                    let entry = shard.get(*hash, key)?;
                    entry.is_live(now_ms).then(|| (key.clone(), entry.clone()))
                })
                .take(limit.saturating_add(1));
            found.extend(page);
        }
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let more = found.len() > limit;
        found.truncate(limit);
        (found, more)
    }

    fn shard(&self, hash: u64) -> &Shard {
        let id = self.map.shard_of(hash);
        let position = if self.is_whole() {
            id
        } else {
            self.guards.iter().position(|(i, _)| *i == id).expect("the key's shard is locked")
        };
        debug_assert_eq!(self.guards[position].0, id);
        &self.guards[position].1
    }
}

impl<G: DerefMut<Target = Shard>> Locked<'_, G> {
    /// Stores `entry` under `key`, replacing any previous entry, which is returned.
    pub fn insert(&mut self, key: Bytes, entry: Entry) -> Option<Entry> {
        let hash = self.map.hash(&key);
        self.shard_mut(hash).insert(hash, key, entry)
    }

    /// Removes `key`; when it was there, `log_index` becomes its deletion mark (see
    /// [`ShardedMap::deletion_mark`]).
    pub fn remove(&mut self, key: &[u8], log_index: u64) -> Option<Entry> {
        let hash = self.map.hash(key);
        let removed = self.shard_mut(hash).remove(hash, key);
        if removed.is_some() {
            self.map.mark_deletion(key, log_index);
        }
        removed
    }

    /// Removes every key, and sets every deletion mark to `log_index`.
    ///
    /// # Panics
    /// If not every shard is locked.
    pub fn clear(&mut self, log_index: u64) {
        assert!(self.guards.len() == self.map.shard_count(), "clearing needs every shard locked");
        for (_, shard) in &mut self.guards {
            shard.clear();
        }
        for mark in self.map.deletion_marks.iter() {
            mark.store(log_index, Ordering::Release);
        }
    }

    fn shard_mut(&mut self, hash: u64) -> &mut Shard {
        let id = self.map.shard_of(hash);
        let position = if self.guards.len() == self.map.shard_count() {
            id
        } else {
            self.guards.iter().position(|(i, _)| *i == id).expect("the key's shard is locked")
        };
        &mut self.guards[position].1
    }
}

/// One shard: a hash table for point operations, two ordered indexes and a TTL heap.
#[derive(Default)]
pub struct Shard {
    table: HashTable<Slot>,
    /// Invariant: holds `(hash, key)` for exactly the keys in `table`.
    by_hash: BTreeSet<(u64, Bytes)>,
    /// Invariant: maps exactly the keys in `table` to their hash.
    by_key: BTreeMap<Bytes, u64>,
    /// Holds `(expire_at_ms, hash, key)` for every key with a TTL, plus stale triples left behind
    /// when a TTL changed or a key went away; a triple is live only if the key still has that TTL.
    ttl_heap: BinaryHeap<Reverse<(u64, u64, Bytes)>>,
    /// Invariant: the number of entries in `table` with a TTL.
    ttl_key_count: usize,
}

struct Slot {
    key: Bytes,
    hash: u64,
    entry: Entry,
}

/// Stale pairs tolerated in a TTL heap beyond twice its live pairs, before it is rebuilt.
const TTL_HEAP_SLACK: usize = 64;

impl Shard {
    /// The number of keys, including expired ones not yet removed.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the shard holds no key.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Every key with its entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Entry)> {
        self.table.iter().map(|slot| (&slot.key, &slot.entry))
    }

    /// Every key with its entry, in key order.
    pub fn iter_ordered(&self) -> impl Iterator<Item = (&Bytes, &Entry)> {
        self.by_key.iter().map(|(key, hash)| {
            let slot = self
                .table
                .find(table_hash(*hash), |s| s.key == *key)
                .expect("by_key holds only keys of the table");
            (&slot.key, &slot.entry)
        })
    }

    fn get(&self, hash: u64, key: &[u8]) -> Option<&Entry> {
        self.table.find(table_hash(hash), |s| s.key == key).map(|s| &s.entry)
    }

    fn insert(&mut self, hash: u64, key: Bytes, entry: Entry) -> Option<Entry> {
        let new_expiry = entry.expire_at_ms;
        let old = match self.table.find_mut(table_hash(hash), |s| s.key == key) {
            Some(slot) => Some(std::mem::replace(&mut slot.entry, entry)),
            None => {
                self.by_hash.insert((hash, key.clone()));
                self.by_key.insert(key.clone(), hash);
                self.table.insert_unique(table_hash(hash), Slot { key: key.clone(), hash, entry }, |s| {
                    table_hash(s.hash)
                });
                None
            }
        };
        let old_expiry = old.as_ref().and_then(|e| e.expire_at_ms);
        self.ttl_key_count =
            self.ttl_key_count + usize::from(new_expiry.is_some()) - usize::from(old_expiry.is_some());
        if let Some(at) = new_expiry.filter(|at| Some(*at) != old_expiry) {
            self.ttl_heap.push(Reverse((at, hash, key)));
            self.compact_ttl_heap();
        }
        old
    }

    fn remove(&mut self, hash: u64, key: &[u8]) -> Option<Entry> {
        let slot = self.table.find_entry(table_hash(hash), |s| s.key == key).ok()?.remove().0;
        self.by_hash.remove(&(hash, slot.key.clone()));
        self.by_key.remove(key);
        if slot.entry.expire_at_ms.is_some() {
            self.ttl_key_count -= 1;
        }
        Some(slot.entry)
    }

    fn clear(&mut self) {
        self.table.clear();
        self.by_hash.clear();
        self.by_key.clear();
        self.ttl_heap.clear();
        self.ttl_key_count = 0;
    }

    fn collect_expired(&mut self, now_ms: u64, max: usize, out: &mut Vec<Bytes>) {
        let mut keep = Vec::new();
        while keep.len() < max {
            match self.ttl_heap.peek() {
                Some(Reverse((at, _, _))) if *at <= now_ms => {}
                _ => break,
            }
            let popped = self.ttl_heap.pop().expect("peeked just above");
            // A key given the same expiry twice (SET k EX 2, DEL k, RENAME j k with j's equal
            // TTL) has two identical heap pairs; they pop one after the other, and the key must
            // be collected once. Found by the model test (tests/model.proptest-regressions).
            if keep.last() == Some(&popped) {
                continue;
            }
            let Reverse((at, hash, key)) = popped;
            if self.get(hash, &key).is_some_and(|e| e.expire_at_ms == Some(at)) {
                out.push(key.clone());
                keep.push(Reverse((at, hash, key)));
            }
        }
        self.ttl_heap.extend(keep);
    }

    fn compact_ttl_heap(&mut self) {
        if self.ttl_heap.len() <= 2 * self.ttl_key_count + TTL_HEAP_SLACK {
            return;
        }
        self.ttl_heap = self
            .table
            .iter()
            .filter_map(|s| s.entry.expire_at_ms.map(|at| Reverse((at, s.hash, s.key.clone()))))
            .collect();
        debug_assert_eq!(self.ttl_heap.len(), self.ttl_key_count);
    }
}

/// The hash the table probes with. The shard is the top bits of the key hash, so inside one shard
/// those bits are all equal; hashbrown takes its 7-bit tag from the top bits too. Mixing spreads
/// the entropy back over every bit (the finaliser of splitmix64).
fn table_hash(hash: u64) -> u64 {
    let mut z = hash;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn deletion_bucket(key: &[u8]) -> usize {
    crc32c::crc32c(key) as usize % DELETION_MARK_BUCKETS
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    table_hash(*state)
}
