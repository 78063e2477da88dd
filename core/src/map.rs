//! The sharded map: keys to values (strings, hashes, lists, sets) with TTLs and modification
//! indexes.
//!
//! # Layout
//! A key's 64-bit hash is keyed by a seed the caller passes in: fixed in simulation, random per
//! process in production, so hostile keys cannot be crafted to pile into one shard. The top
//! `shard_bits` of the hash pick the shard. Each shard sits behind its own reader-writer lock, so
//! many readers run beside the single apply path, and holds:
//! - a hash table (hashbrown's `HashTable`, probed with the hash already computed) of
//!   [`StoredKey`]s, each one allocation holding key, value and metadata, for point operations,
//!   which are most of the traffic;
//! - the key hashes in order, so that SCAN can resume from a 64-bit cursor: the cursor is a hash
//!   value, and because the shard is the top bits of the hash, "every key whose hash is at least
//!   the cursor" is a position in one global order. Every key present for the whole scan is
//!   returned, as Redis promises, whatever is inserted or deleted between calls;
//! - a min-heap of (expire_at_ms, hash) for active expiry.
//!
//! The hash index is touched only when a key is created or removed; overwriting a key, the
//! common write, touches the table alone (and, for a value of the same length, no allocator).
//! There is no index in key order: it would cost about as much memory again as everything else
//! (see `stored_key.rs` for what a key costs), so listing in key order ([`Locked::list_range`],
//! KEYS, snapshots) visits every key and sorts, O(N) as Redis's KEYS is.
//!
//! # Locking
//! Operations on several keys lock every shard involved, in ascending shard order, before looking
//! at any key, so a multi-key write is atomic to readers and locks are never taken out of order.
//! Commands that see the whole keyspace (KEYS, SCAN, FLUSHALL) lock every shard.

use std::collections::BinaryHeap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use smallvec::SmallVec;

use crate::change::{Change, ChangeKind, DeleteReason};
use crate::change_arena::ChangeArena;
use crate::encoded_string::EncodedString;
use crate::key_range::KeyRange;
use crate::keyspace_event::Event;
use crate::limits::{DELETION_MARK_BUCKETS, SHARD_BITS_MAX};
use crate::shard::table_hash;
pub use crate::shard::Shard;
pub use crate::stored_key::Entry;
use crate::stored_key::{PinnedRecord, StoredKey};

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
    pub(crate) deletion_marks: Box<[AtomicU64]>,
    /// Whether the shards are pinned for a snapshot (`pin.rs`); one pin at a time.
    pub(crate) pinned: AtomicBool,
    /// Set when the whole map was replaced (a snapshot installed) while pinned: what the pin
    /// would read is then a mix of the two states.
    pub(crate) pin_broken: AtomicBool,
    /// Where the recorded changes' copies of keys and short values are made, between the sets
    /// that record them ([`Locked::record_changes`] takes it, [`Locked::take_changes`] gives it
    /// back).
    change_arena: Mutex<ChangeArena>,
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
            shards: (0..1usize << shard_bits)
                .map(|_| CacheAligned(RwLock::new(Shard::new(hasher.clone(), shard_bits))))
                .collect(),
            shard_bits,
            hasher,
            expire_cursor: AtomicUsize::new(0),
            deletion_marks: (0..DELETION_MARK_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            pinned: AtomicBool::new(false),
            pin_broken: AtomicBool::new(false),
            change_arena: Mutex::new(ChangeArena::default()),
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

    pub(crate) fn mark_deletion(&self, key: &[u8], log_index: u64) {
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

    /// The lowest hash that [`ShardedMap::shard_of`] puts in shard `shard`.
    fn first_hash_of(&self, shard: usize) -> u64 {
        if self.shard_bits == 0 {
            0
        } else {
            (shard as u64) << (64 - self.shard_bits)
        }
    }

    /// The string value of a live key at `now_ms` (`None` for a key that holds an aggregate).
    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<Bytes> {
        self.get_with(key, now_ms, Bytes::copy_from_slice)
    }

    /// Calls `f` with the string value of a live key at `now_ms`, under the shard's read lock,
    /// without copying it (as a reply writer copies it once, into its buffer); `None` for a key
    /// that holds an aggregate.
    pub fn get_with<R>(&self, key: &[u8], now_ms: u64, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let hash = self.hash(key);
        let shard = self.shards[self.shard_of(hash)].read();
        let stored = shard.get(hash, key).filter(|e| e.is_live(now_ms) && e.aggregate().is_none());
        stored.map(|e| f(e.value()))
    }

    /// Stores a value without TTL, as a plain `SET` does; returns whether the key was new. The
    /// key is borrowed: a stored key's bytes are copied into its record.
    pub fn set(&self, key: &[u8], value: Bytes, mod_index: u64) -> bool {
        let hash = self.hash(key);
        let mut shard = self.shards[self.shard_of(hash)].write();
        let entry = Entry { value: value.into(), expire_at_ms: None, mod_index, create_index: mod_index };
        shard.insert(hash, key, entry, 0).0.is_none()
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

    /// The bytes the keyspace has asked the allocator for (see [`Shard::allocated_bytes`]).
    pub fn allocated_bytes(&self) -> usize {
        self.shards.iter().map(|s| s.read().allocated_bytes()).sum()
    }

    /// The number of stored keys that have a TTL, expired ones not yet removed included. The
    /// leader keeps time moving (DESIGN.md §3) only while this is not zero.
    pub fn ttl_key_count(&self) -> usize {
        self.shards.iter().map(|s| s.read().ttl_key_count()).sum()
    }

    /// The earliest deadline of any key with a TTL (or, from stale bookkeeping, earlier than
    /// every such key's): no key expires before it.
    pub fn earliest_deadline(&self) -> Option<u64> {
        self.shards.iter().filter_map(|s| s.read().earliest_deadline()).min()
    }

    /// Whether the shard that holds `key` may hold a key whose deadline is at or before `at_ms`:
    /// its earliest deadline (stale bookkeeping included, so never later than a live key's) is
    /// no later. `false` says `key` does not expire by then, without looking it up.
    pub fn may_expire_by(&self, key: &[u8], at_ms: u64) -> bool {
        let shard = self.shards[self.shard_of(self.hash(key))].read();
        shard.earliest_deadline().is_some_and(|at| at <= at_ms)
    }

    /// Read-locks the shards that hold `keys`, in shard order.
    pub fn read_keys<'a, K: AsRef<[u8]>>(&'a self, keys: impl IntoIterator<Item = K>) -> ReadSet<'a> {
        let ids = self.shard_ids(keys);
        Locked::new(self, ids.into_iter().map(|i| (i, self.shards[i].read())).collect())
    }

    /// Read-locks the shard that holds `key`: [`ShardedMap::read_keys`] for one key, without
    /// gathering, sorting and deduplicating shard numbers (a third of a pipelined GET's lookup).
    pub fn read_key(&self, key: &[u8]) -> ReadSet<'_> {
        let id = self.shard_of(self.hash(key));
        let mut guards = SmallVec::new();
        guards.push((id, self.shards[id].read()));
        Locked::new(self, guards)
    }

    /// Write-locks the shards that hold `keys`, in shard order.
    pub fn write_keys<'a, K: AsRef<[u8]>>(&'a self, keys: impl IntoIterator<Item = K>) -> WriteSet<'a> {
        let ids = self.shard_ids(keys);
        Locked::new(self, ids.into_iter().map(|i| (i, self.shards[i].write())).collect())
    }

    /// Read-locks every shard, in order.
    pub fn read_all(&self) -> ReadSet<'_> {
        Locked::new(self, self.shards.iter().map(|s| s.read()).enumerate().collect())
    }

    /// Write-locks every shard, in order.
    pub fn write_all(&self) -> WriteSet<'_> {
        Locked::new(self, self.shards.iter().map(|s| s.write()).enumerate().collect())
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

    /// Pins every shard at log index `at` (see `Shard::pinned_at`); `false` when a pin is
    /// already held. The caller holds the apply lock, so no write runs while the shards are
    /// pinned one by one.
    pub(crate) fn pin(&self, at: u64) -> bool {
        if self.pinned.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.pin_broken.store(false, Ordering::Release);
        for shard in self.shards.iter() {
            shard.write().pin(at);
        }
        true
    }

    /// Adds the pinned records of shard `index` to `out`, holding its read lock only meanwhile.
    pub(crate) fn pinned_records(&self, index: usize, out: &mut Vec<PinnedRecord>) {
        self.shards[index].read().pinned_records(out);
    }

    /// Whether the map was replaced whole since it was pinned.
    pub(crate) fn pin_broken(&self) -> bool {
        self.pin_broken.load(Ordering::Acquire)
    }

    /// Ends the pin, freeing the records kept for it outside the shards' locks. The caller holds
    /// no [`PinnedRecord`] any more.
    pub(crate) fn unpin(&self) {
        for shard in self.shards.iter() {
            let kept = shard.write().unpin();
            drop(kept);
        }
        self.pinned.store(false, Ordering::Release);
    }

    /// Tells the shards that a start is about to replay about `writes` writes from its log, so
    /// that a table the replay fills grows once for the rest (`replay_growth.rs`); `None` ends
    /// that when the replay is over.
    pub fn expect_replay(&self, writes: Option<usize>) {
        let share = writes.map(|writes| writes / self.shards.len() + 1);
        for shard in self.shards.iter() {
            shard.write().expect_replay(share);
        }
    }

    fn shard_ids<K: AsRef<[u8]>>(&self, keys: impl IntoIterator<Item = K>) -> SmallVec<[usize; KEYS_INLINE]> {
        let mut ids: SmallVec<[usize; KEYS_INLINE]> =
            keys.into_iter().map(|k| self.shard_of(self.hash(k.as_ref()))).collect();
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

/// How many keys (and locked shards) a command's lists hold without an allocation: most
/// commands name one key, MSET and RENAME a few.
pub const KEYS_INLINE: usize = 4;

/// A set of locked shards, in ascending shard order, through which commands see the keyspace.
pub struct Locked<'a, G> {
    pub(crate) map: &'a ShardedMap,
    /// Invariant: sorted by shard index, no duplicates. Inline for a command of a few keys, so
    /// that a GET or SET locks its shard without an allocation.
    pub(crate) guards: SmallVec<[(usize, G); KEYS_INLINE]>,
    /// The changes made through this set, when they are recorded ([`Locked::record_changes`]).
    pub(crate) changes: Option<Vec<Change>>,
    /// The reason recorded for removals.
    pub(crate) delete_reason: DeleteReason,
    /// Whether keyspace events are recorded with the changes ([`Locked::record_events`]).
    pub(crate) events: bool,
    /// Where the changes' copies of keys and values are made, while changes are recorded.
    pub(crate) arena: ChangeArena,
}

impl<'a, G> Locked<'a, G> {
    fn new(map: &'a ShardedMap, guards: SmallVec<[(usize, G); KEYS_INLINE]>) -> Locked<'a, G> {
        Locked {
            map,
            guards,
            changes: None,
            delete_reason: DeleteReason::Client,
            events: false,
            arena: ChangeArena::default(),
        }
    }

    /// From now on, records every change made through this set, each removal with `reason`;
    /// `expected` changes fit before the record grows. Their keys and values share `encoding`,
    /// the encoding of the entry making them, where it holds them as `placed` notes or as a part
    /// of it ([`ChangeArena::share_from`]).
    pub fn record_changes(
        &mut self,
        reason: DeleteReason,
        expected: usize,
        (encoding, placed): (Option<&Bytes>, Option<&Arc<[EncodedString]>>),
    ) {
        if self.changes.is_none() {
            self.changes = Some(Vec::with_capacity(expected));
            self.arena = std::mem::take(&mut *self.map.change_arena.lock());
        }
        self.arena.share_from(encoding, placed);
        self.delete_reason = reason;
    }

    /// From now on, records the keyspace events commands raise (`ChangeKind::Event`) among the
    /// changes, when changes are recorded.
    pub fn record_events(&mut self) {
        self.events = true;
    }

    /// Records that the entry at `log_index` raised `event` about `key`, when events are
    /// recorded.
    pub fn notify(&mut self, event: Event, key: &[u8], log_index: u64) {
        if self.events && self.changes.is_some() {
            let key = self.arena.copy(key);
            self.record(log_index, || ChangeKind::Event { event, key });
        }
    }

    /// The changes recorded so far, in the order they were made. The arena goes back to the
    /// map, for the next set that records.
    pub fn take_changes(&mut self) -> Vec<Change> {
        let mut changes = self.changes.as_mut().map(std::mem::take).unwrap_or_default();
        if let Some(encoding) = self.arena.unshared() {
            for change in &mut changes {
                change.kind.bytes_mut().for_each(|bytes| self.arena.recopy(&encoding, bytes));
            }
        }
        if self.changes.is_some() {
            *self.map.change_arena.lock() = std::mem::take(&mut self.arena);
        }
        changes
    }

    pub(crate) fn record(&mut self, revision: u64, kind: impl FnOnce() -> ChangeKind) {
        if let Some(changes) = &mut self.changes {
            changes.push(Change { revision, kind: kind() });
        }
    }
}

impl<G: Deref<Target = Shard>> Locked<'_, G> {
    /// The entry of `key`, live or expired.
    ///
    /// # Panics
    /// If the key's shard is not locked: the caller locked the wrong keys, which is a bug.
    pub fn entry(&self, key: &[u8]) -> Option<&StoredKey> {
        let hash = self.map.hash(key);
        self.shard(hash).get(hash, key)
    }

    /// Fetches what finding and writing every key of a batch reads before the batch runs: the
    /// table's control bytes, the slot, the record's header, its value and its key (four cache
    /// misses or more apiece for a key with a long value, each needing the one before). One
    /// pass per step over all the keys (the control bytes read and the slot fetched, then the
    /// slot read and the header fetched, then the header read and the rest of the record
    /// fetched), so that the misses of one step overlap across the keys, where a whole lookup
    /// per key let the CPU overlap those of two or three keys at most.
    pub fn warm(&self, keys: &[&Bytes]) {
        // The slot of each key's first match, found from the control bytes alone: the slot's
        // address, which the next steps read through.
        let slots: SmallVec<[&StoredKey; 32]> = keys
            .iter()
            .filter_map(|key| {
                let hash = self.map.hash(key);
                let slot = self.shard(hash).first_with_hash(hash)?;
                slot.prefetch_slot();
                Some(slot)
            })
            .collect();
        slots.iter().for_each(|slot| slot.prefetch_header());
        slots.iter().for_each(|slot| slot.prefetch_record());
    }

    /// The entry of `key` if it is live at `now_ms`.
    pub fn live(&self, key: &[u8], now_ms: u64) -> Option<&StoredKey> {
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
        mut keep: impl FnMut(&StoredKey) -> bool,
    ) -> (u64, Vec<Bytes>) {
        assert!(self.is_whole(), "SCAN needs every shard locked");
        let mut keys = Vec::new();
        let mut visited = 0usize;
        let mut last_hash: Option<u64> = None;
        for (index, shard) in &self.guards[self.map.shard_of(cursor)..] {
            // The first hash of a later shard is past the cursor.
            let from = cursor.max(self.map.first_hash_of(*index));
            for hash in shard.hashes_from(from) {
                // Stop only between two hashes, so that the next cursor (last hash + 1) cannot
                // skip a key that shares the hash of the last one returned.
                if visited >= count {
                    return (last_hash.map_or(0, |h| h.wrapping_add(1)), keys);
                }
                last_hash = Some(hash);
                for stored in shard.with_hash(hash) {
                    visited += 1;
                    if stored.is_live(now_ms) && keep(stored) {
                        keys.push(Bytes::copy_from_slice(stored.key()));
                    }
                }
            }
        }
        (0, keys)
    }

    /// Live keys in `range`, in key order, strictly after `after` when given, at most `limit` of
    /// them; the flag says whether more follow. It visits every key (see the module comment) and
    /// keeps at most `limit + 1` of them, each read by `read`.
    ///
    /// # Panics
    /// If not every shard is locked.
    pub fn list_range<T>(
        &self,
        range: &KeyRange,
        after: Option<&[u8]>,
        limit: usize,
        now_ms: u64,
        read: impl Fn(&StoredKey) -> T,
    ) -> (Vec<(Bytes, T)>, bool) {
        assert!(self.is_whole(), "listing a range needs every shard locked");
        let wanted = |key: &[u8]| range.contains(key) && after.is_none_or(|after| key > after);
        // The `limit + 1` smallest wanted keys: a max-heap by key whose top is the largest kept.
        let mut kept: BinaryHeap<ByKey<'_>> = BinaryHeap::new();
        let bound = limit.saturating_add(1);
        for (_, shard) in &self.guards {
            for stored in shard.iter() {
                if !wanted(stored.key()) || !stored.is_live(now_ms) {
                    continue;
                }
                if kept.len() < bound {
                    kept.push(ByKey(stored));
                } else if kept.peek().is_some_and(|top| stored.key() < top.0.key()) {
                    kept.pop();
                    kept.push(ByKey(stored));
                }
            }
        }
        let mut found: Vec<(Bytes, T)> = kept
            .into_sorted_vec()
            .into_iter()
            .map(|k| (Bytes::copy_from_slice(k.0.key()), read(k.0)))
            .collect();
        let more = found.len() > limit;
        found.truncate(limit);
        (found, more)
    }

    /// The number of live keys in `range` strictly after `after` when given.
    ///
    /// # Panics
    /// If not every shard is locked.
    pub fn count_range(&self, range: &KeyRange, after: Option<&[u8]>, now_ms: u64) -> usize {
        assert!(self.is_whole(), "counting a range needs every shard locked");
        self.shards()
            .flat_map(|shard| shard.iter())
            .filter(|s| {
                range.contains(s.key()) && after.is_none_or(|after| s.key() > after) && s.is_live(now_ms)
            })
            .count()
    }

    pub(crate) fn shard(&self, hash: u64) -> &Shard {
        let id = self.map.shard_of(hash);
        let position = if self.is_whole() {
            id
        } else {
            self.guards.binary_search_by_key(&id, |(i, _)| *i).expect("the key's shard is locked")
        };
        debug_assert_eq!(self.guards[position].0, id);
        &self.guards[position].1
    }
}

/// Orders stored keys by key, for [`Locked::list_range`]'s heap.
struct ByKey<'a>(&'a StoredKey);

impl PartialEq for ByKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}
impl Eq for ByKey<'_> {}
impl PartialOrd for ByKey<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByKey<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.key().cmp(other.0.key())
    }
}

fn deletion_bucket(key: &[u8]) -> usize {
    crc32c::crc32c(key) as usize % DELETION_MARK_BUCKETS
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    table_hash(*state)
}
