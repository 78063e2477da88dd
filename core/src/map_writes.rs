//! How commands change the map: the write side of a set of locked shards ([`Locked`], defined
//! with its read side in `map.rs`): inserting and removing keys, changing a hash, list, set or
//! sorted set in place, setting expiries, recording each change for watch, loading a snapshot and
//! flushing.

use std::ops::DerefMut;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::change::ChangeKind;
use crate::keyspace_event::Event;
use crate::map::{Entry, Locked, Shard};
use crate::stored_key::StoredKey;
use crate::types::{Aggregate, Kind, Value};

/// The change a record's write makes, as watch sees it: a string's new value, or an aggregate's
/// kind.
fn change_of(stored: &StoredKey) -> ChangeKind {
    let key = Bytes::copy_from_slice(stored.key());
    let (create_revision, expire_at_ms) = (stored.create_index(), stored.expire_at_ms());
    match stored.aggregate() {
        Some(aggregate) => ChangeKind::Update { key, kind: aggregate.kind(), create_revision, expire_at_ms },
        None => ChangeKind::Put { key, value: stored.value_bytes(), create_revision, expire_at_ms },
    }
}

/// Most keys [`Locked::load`] makes room for before they arrive.
const LOAD_PREALLOCATED_KEYS_MAX: usize = 1 << 22;

impl<G: DerefMut<Target = Shard>> Locked<'_, G> {
    /// Stores `entry` under `key`, replacing any previous entry; returns whether there was one.
    /// A key live at `now_ms` keeps its create index; otherwise it takes `entry.create_index`,
    /// and raises the keyspace event `new`.
    pub fn insert(&mut self, key: &[u8], entry: Entry, now_ms: u64) -> bool {
        let hash = self.map.hash(key);
        // A short value is copied, as its record copies it: sharing it would keep alive the whole
        // buffer it arrived in for as long as the change is kept (the arena finds it in the
        // entry's encoding instead, where it can). A long one is shared, as its record shares
        // it. The key first: the encoding holds it before the value, and the arena looks for
        // each copy after the one before.
        let recorded = if self.changes.is_some() {
            let key = self.arena.copy(key);
            let value = match &entry.value {
                Value::String(bytes) if bytes.len() <= crate::stored_key::INLINE_VALUE_BYTES_MAX => {
                    Ok(self.arena.copy(bytes))
                }
                Value::String(bytes) => Ok(bytes.clone()),
                Value::Aggregate(aggregate) => Err(aggregate.kind()),
            };
            Some((key, entry.mod_index, value, entry.expire_at_ms))
        } else {
            None
        };
        let revision = entry.mod_index;
        let (old, create_revision) = self.shard_mut(hash).insert(hash, key, entry, now_ms);
        if let Some((key, revision, value, expire_at_ms)) = recorded {
            self.record(revision, || match value {
                Ok(value) => ChangeKind::Put { key, value, create_revision, expire_at_ms },
                Err(kind) => ChangeKind::Update { key, kind, create_revision, expire_at_ms },
            });
        }
        if old.is_none_or(|expiry| expiry.is_some_and(|at| at <= now_ms)) {
            self.notify(Event::NEW, key, revision);
        }
        old.is_some()
    }

    /// Changes the aggregate under `key` with `f`, as the entry at `log_index` does; the caller
    /// has checked that the key holds one of `kind` or (when it is not live at `now_ms`) that
    /// it may be created. A key not live starts from an empty aggregate of `kind`, stored only if
    /// `f` leaves something in it; an aggregate `f` leaves empty is removed with its key, as in
    /// Redis. The key's TTL stays.
    ///
    /// # Panics
    /// If the key holds a string or an aggregate of another kind, or `kind` is the string kind:
    /// the caller's type check is missing, which is a bug.
    pub fn update_aggregate<R>(
        &mut self,
        key: &[u8],
        kind: Kind,
        (now_ms, log_index): (u64, u64),
        f: impl FnOnce(&mut Aggregate) -> R,
    ) -> R {
        let hash = self.map.hash(key);
        let live = self.shard(hash).get(hash, key).is_some_and(|s| s.is_live(now_ms));
        if !live {
            let mut aggregate = Aggregate::empty(kind).expect("an aggregate kind");
            let result = f(&mut aggregate);
            if !aggregate.is_empty() {
                let value = Value::Aggregate(Box::new(aggregate));
                let entry =
                    Entry { value, expire_at_ms: None, mod_index: log_index, create_index: log_index };
                self.insert(key, entry, now_ms);
            }
            return result;
        }
        let recording = self.changes.is_some();
        let (result, empty, change) = self
            .shard_mut(hash)
            .update(hash, key, log_index, |stored| {
                let aggregate = stored.aggregate_mut().filter(|a| a.kind() == kind);
                let aggregate = aggregate.expect("the caller checked the key's type");
                let result = f(aggregate);
                let empty = aggregate.is_empty();
                (result, empty, (recording && !empty).then(|| change_of(stored)))
            })
            .expect("live just above");
        if empty {
            self.remove(key, log_index);
        } else if let Some(change) = change {
            self.record(log_index, || change);
        }
        result
    }

    /// Sets or clears the expiry of `key` in place (a hash, list or set is not copied), as the
    /// entry at `log_index` does; returns whether the key was stored.
    pub fn set_expiry(&mut self, key: &[u8], expire_at_ms: Option<u64>, log_index: u64) -> bool {
        let hash = self.map.hash(key);
        let recording = self.changes.is_some();
        let change = self
            .shard_mut(hash)
            .set_expiry(hash, key, expire_at_ms, log_index, |s| recording.then(|| change_of(s)));
        let stored = change.is_some();
        if let Some(Some(change)) = change {
            self.record(log_index, || change);
        }
        stored
    }

    /// Removes `key` as [`Locked::remove`] does, and returns its entry (a hash, list or set is
    /// moved out, not copied).
    pub fn take(&mut self, key: &[u8], log_index: u64) -> Option<Entry> {
        let hash = self.map.hash(key);
        let taken = self.shard_mut(hash).take(hash, key);
        if taken.is_some() {
            self.removed(key, log_index);
        }
        taken
    }

    /// Removes `key`; when it was there, `log_index` becomes its deletion mark (see
    /// [`ShardedMap::deletion_mark`]). Returns whether it was there.
    pub fn remove(&mut self, key: &[u8], log_index: u64) -> bool {
        self.remove_with(key, log_index, |_| ()).is_some()
    }

    /// Removes `key` as [`Locked::remove`] does, returning what `f` makes of its record.
    pub fn remove_with<R>(
        &mut self,
        key: &[u8],
        log_index: u64,
        f: impl FnOnce(&StoredKey) -> R,
    ) -> Option<R> {
        let hash = self.map.hash(key);
        let removed = self.shard_mut(hash).remove_with(hash, key, |stored| f(stored));
        if removed.is_some() {
            self.removed(key, log_index);
        }
        removed
    }

    /// Records a message published by the entry at `log_index` (PUBLISH), when changes are
    /// recorded.
    pub fn record_message(&mut self, log_index: u64, channel: &[u8], message: &[u8]) {
        if self.changes.is_some() {
            // Copies, as a key's change is made of: the watch history keeps the change, and
            // slices would keep alive the buffer the PUBLISH was read or decoded into.
            let (channel, message) = (self.arena.copy(channel), self.arena.copy(message));
            self.record(log_index, || ChangeKind::Message { channel, message });
        }
    }

    /// Marks and records the removal of `key` by the entry at `log_index`.
    fn removed(&mut self, key: &[u8], log_index: u64) {
        self.map.mark_deletion(key, log_index);
        if self.changes.is_some() {
            let (key, reason) = (self.arena.copy(key), self.delete_reason);
            self.record(log_index, || ChangeKind::Delete { key, reason });
        }
    }

    /// Replaces every key with `keys` (installing a snapshot; about `expected` of them), and sets
    /// every deletion mark to `log_index`. Each key goes into its shard as it comes (gathering
    /// all keys by shard first cost a copy of each and was a fifth slower to restart 1M keys),
    /// each shard's table sized once up front and its SCAN index built from its hashes at the
    /// end, its buckets sized for them. A key given twice keeps its
    /// last entry.
    ///
    /// # Panics
    /// If not every shard is locked.
    pub fn load(&mut self, keys: impl IntoIterator<Item = (Bytes, Entry)>, expected: usize, log_index: u64) {
        if self.map.pinned.load(Ordering::Acquire) {
            self.map.pin_broken.store(true, Ordering::Release);
        }
        self.clear(log_index);
        let keys = keys.into_iter();
        // An even share each, and an eighth more for the unevenness of hashing; `expected` may
        // come from a damaged header, so it sizes no more than a few million keys.
        let expected = keys.size_hint().0.max(expected.min(LOAD_PREALLOCATED_KEYS_MAX));
        let share = expected / self.guards.len();
        let mut loading: Vec<_> =
            self.guards.iter_mut().map(|(_, shard)| shard.begin_load(share + share / 8)).collect();
        for (key, entry) in keys {
            let hash = self.map.hash(&key);
            // Every shard is locked (`clear` checked), so a shard's guard is at its own index.
            let id = self.map.shard_of(hash);
            self.guards[id].1.load_one(&mut loading[id], hash, &key, entry);
        }
        for ((_, shard), loading) in self.guards.iter_mut().zip(loading) {
            shard.finish_load(loading);
        }
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
        self.record(log_index, || ChangeKind::Flush);
    }

    fn shard_mut(&mut self, hash: u64) -> &mut Shard {
        let id = self.map.shard_of(hash);
        let position = if self.guards.len() == self.map.shard_count() {
            id
        } else {
            self.guards.binary_search_by_key(&id, |(i, _)| *i).expect("the key's shard is locked")
        };
        &mut self.guards[position].1
    }
}
