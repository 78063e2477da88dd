//! The SCAN index of one shard: the hashes of its keys, so that SCAN can visit them in hash
//! order (its cursor is a hash, `map.rs`). The hashes sit in buckets by the bits that follow
//! the shard's own, one per key and unordered within a bucket; a scan sorts the few a bucket
//! holds as it visits it. A new key costs a push onto one short vector, where a `BTreeSet`
//! walked four levels of nodes: with it, the set's inserts were a sixth of the CPU a restart of
//! 1M keys spent replaying its log (`perf record`, `benches/compare/redis.sh`).
//!
//! Buckets hold [`BUCKET_LOAD`] hashes on average: the index doubles its buckets once it holds
//! twice that many per bucket, and halves them below a quarter of it.
//!
//! # What a hash costs
//! Eight bytes in its bucket's vector, whose capacity is up to twice its length (about 1.4x on
//! average), plus a 24-byte vector header per 32 to 64 hashes: about 12 bytes per key, what the
//! B-tree's nodes cost at their usual two thirds fill.

/// Hashes per bucket on average.
pub(crate) const BUCKET_LOAD: usize = 32;

/// At most `2^BUCKET_BITS_MAX` buckets (never reached: a shard of `2^36` keys).
const BUCKET_BITS_MAX: u32 = 30;

/// The hashes of one shard's keys (see the module comment).
pub(crate) struct HashIndex {
    /// The leading bits that choose the shard (`ShardedMap::shard_of`), the same in every hash
    /// of this index; the bucket's bits follow them.
    prefix_bits: u32,
    /// `log2` of the number of buckets.
    bits: u32,
    /// Invariant: `2^bits` buckets; bucket `b` holds the hashes whose `bits` bits after the
    /// prefix are `b`, one per key (keys that share a hash give it twice).
    buckets: Vec<Vec<u64>>,
    /// Invariant: the number of hashes in `buckets`.
    len: usize,
    /// While a start replays its log ([`HashIndex::defer`]): the hashes of new keys, not yet
    /// spread over the buckets.
    deferred: Option<Vec<u64>>,
}

impl HashIndex {
    /// An empty index for a shard chosen by the first `prefix_bits` bits of its keys' hashes.
    pub(crate) fn new(prefix_bits: u32) -> HashIndex {
        HashIndex { prefix_bits, bits: 0, buckets: vec![Vec::new()], len: 0, deferred: None }
    }

    /// An index of `hashes` (a shard's keys, loaded at once), its buckets sized for them.
    pub(crate) fn from_hashes(prefix_bits: u32, hashes: Vec<u64>) -> HashIndex {
        let mut index = HashIndex::new(prefix_bits);
        index.rebuild(bits_for(hashes.len(), prefix_bits), hashes.into_iter());
        index
    }

    /// The leading bits that choose the shard, as given to [`HashIndex::new`].
    pub(crate) fn prefix_bits(&self) -> u32 {
        self.prefix_bits
    }

    /// The number of hashes (keys) held.
    pub(crate) fn len(&self) -> usize {
        self.len + self.deferred.as_ref().map_or(0, Vec::len)
    }

    /// While `on`, new hashes are kept aside and spread over the buckets all at once when it
    /// ends (or before a removal): a start's replay adds its new keys to every shard in turn,
    /// and a push onto a bucket, which then finds neither the bucket nor the shard's other
    /// buckets in the cache, was a tenth of a restart that replayed half a million new keys
    /// (`perf record`, `benches/compare/redis.sh`). Spread one shard after another, the
    /// pushes find a shard's buckets in the cache, and each bucket grows once.
    pub(crate) fn defer(&mut self, on: bool) {
        self.spread_deferred();
        self.deferred = on.then(Vec::new);
    }

    /// Adds the hash of a new key.
    pub(crate) fn insert(&mut self, hash: u64) {
        if let Some(deferred) = &mut self.deferred {
            deferred.push(hash);
            return;
        }
        let bucket = self.bucket_of(hash);
        self.buckets[bucket].push(hash);
        self.len += 1;
        if self.len > self.buckets.len() * BUCKET_LOAD * 2 && self.bits < self.bits_max() {
            self.resize(self.bits + 1);
        }
    }

    /// Removes the hash of a key that went away; whether it was there.
    pub(crate) fn remove(&mut self, hash: u64) -> bool {
        self.spread_deferred();
        let bucket = self.bucket_of(hash);
        let bucket = &mut self.buckets[bucket];
        let Some(position) = bucket.iter().position(|&h| h == hash) else { return false };
        bucket.swap_remove(position);
        if bucket.capacity() > 8 && bucket.len() * 4 < bucket.capacity() {
            bucket.shrink_to(bucket.len() * 2);
        }
        self.len -= 1;
        if self.bits > 0 && self.len * 4 < self.buckets.len() * BUCKET_LOAD {
            self.resize(self.bits - 1);
        }
        true
    }

    /// Empties the index (still deferring, if it was).
    pub(crate) fn clear(&mut self) {
        let deferring = self.deferred.is_some();
        *self = HashIndex::new(self.prefix_bits);
        self.defer(deferring);
    }

    /// Spreads the deferred hashes over the buckets, resized once for them.
    fn spread_deferred(&mut self) {
        let Some(deferred) = self.deferred.as_mut().filter(|d| !d.is_empty()) else { return };
        let deferred = std::mem::take(deferred);
        let bits = bits_for(self.len + deferred.len(), self.prefix_bits).max(self.bits);
        let old = std::mem::take(&mut self.buckets);
        self.rebuild(bits, old.into_iter().flatten().chain(deferred));
    }

    /// The distinct hashes from `cursor` on, in order. `cursor` must lie in this shard's range
    /// (have the shard's leading bits), or the buckets before its own are skipped.
    pub(crate) fn hashes_from(&self, cursor: u64) -> Box<dyn Iterator<Item = u64> + '_> {
        let buckets = &self.buckets[self.bucket_of(cursor)..];
        match self.deferred.as_ref().filter(|d| !d.is_empty()) {
            // Only while a start replays, when no one scans: every hash at once, in order.
            Some(deferred) => {
                let mut hashes: Vec<u64> =
                    buckets.iter().flatten().chain(deferred).copied().filter(|&h| h >= cursor).collect();
                hashes.sort_unstable();
                hashes.dedup();
                Box::new(hashes.into_iter())
            }
            None => Box::new(buckets.iter().flat_map(move |bucket| {
                let mut hashes: Vec<u64> = bucket.iter().copied().filter(|&h| h >= cursor).collect();
                hashes.sort_unstable();
                hashes.dedup();
                hashes
            })),
        }
    }

    /// The bytes the index has asked the allocator for.
    pub(crate) fn allocated_bytes(&self) -> usize {
        let deferred = self.deferred.as_ref().map_or(0, Vec::capacity);
        let hashes: usize = self.buckets.iter().map(Vec::capacity).sum::<usize>() + deferred;
        self.buckets.capacity() * size_of::<Vec<u64>>() + hashes * size_of::<u64>()
    }

    fn bucket_of(&self, hash: u64) -> usize {
        if self.bits == 0 {
            0
        } else {
            ((hash << self.prefix_bits) >> (64 - self.bits)) as usize
        }
    }

    fn bits_max(&self) -> u32 {
        BUCKET_BITS_MAX.min(64 - self.prefix_bits)
    }

    /// Spreads the hashes over `2^bits` buckets.
    fn resize(&mut self, bits: u32) {
        let old = std::mem::take(&mut self.buckets);
        self.rebuild(bits, old.into_iter().flatten());
    }

    /// Spreads `hashes` over `2^bits` buckets, each allocated once for the hashes it gets.
    fn rebuild(&mut self, bits: u32, hashes: impl Iterator<Item = u64>) {
        let hashes: Vec<u64> = hashes.collect();
        self.bits = bits.min(self.bits_max());
        let mut counts = vec![0usize; 1 << self.bits];
        for &hash in &hashes {
            counts[self.bucket_of(hash)] += 1;
        }
        self.buckets = counts.into_iter().map(Vec::with_capacity).collect();
        self.len = hashes.len();
        for hash in hashes {
            let bucket = self.bucket_of(hash);
            self.buckets[bucket].push(hash);
        }
    }
}

/// The bucket bits for `len` hashes: about [`BUCKET_LOAD`] per bucket.
fn bits_for(len: usize, prefix_bits: u32) -> u32 {
    let buckets = len.div_ceil(BUCKET_LOAD).max(1);
    buckets.next_power_of_two().trailing_zeros().min(BUCKET_BITS_MAX).min(64 - prefix_bits)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// The index answers as a multiset of hashes would, through growth and shrinking: every
    /// distinct hash from a cursor once, in order.
    fn check(prefix_bits: u32, shard: u64, ops: &[(Op, u64)], cursors: &[u64]) {
        let prefix = if prefix_bits == 0 { 0 } else { shard << (64 - prefix_bits) };
        let in_shard = |low: u64| if prefix_bits == 0 { low } else { prefix | (low >> prefix_bits) };
        let mut index = HashIndex::new(prefix_bits);
        let mut model: BTreeMap<u64, usize> = BTreeMap::new();
        let mut total = 0;
        for &(op, low) in ops {
            // Few distinct hashes, so that removals and repeats find something.
            let hash = in_shard(low);
            if op == Op::Defer {
                index.defer(index.deferred.is_none());
            } else if op == Op::Insert {
                index.insert(hash);
                *model.entry(hash).or_default() += 1;
                total += 1;
            } else {
                let held = model.get(&hash).copied().unwrap_or(0);
                assert_eq!(index.remove(hash), held > 0);
                total -= usize::from(held > 0);
                match held {
                    0 => {}
                    1 => drop(model.remove(&hash)),
                    _ => *model.get_mut(&hash).unwrap() -= 1,
                }
            }
            assert_eq!(index.len(), total);
        }
        for &low in cursors {
            let cursor = in_shard(low);
            let expected: Vec<u64> = model.range(cursor..).map(|(h, _)| *h).collect();
            assert_eq!(index.hashes_from(cursor).collect::<Vec<_>>(), expected, "from {cursor:#x}");
        }
        let loaded = HashIndex::from_hashes(
            prefix_bits,
            model.iter().flat_map(|(h, n)| std::iter::repeat_n(*h, *n)).collect(),
        );
        assert_eq!(loaded.hashes_from(prefix).collect::<Vec<_>>(), model.keys().copied().collect::<Vec<_>>());
    }

    /// What [`check`] does to the index: inserts and removes a hash, or starts or ends
    /// deferring.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Op {
        Insert,
        Remove,
        Defer,
    }

    proptest! {
        #[test]
        fn the_index_is_a_multiset_in_hash_order(
            prefix_bits in prop_oneof![Just(0u32), Just(6u32), Just(16u32)],
            shard in any::<u64>(),
            ops in prop::collection::vec(
                (
                    prop_oneof![70 => Just(Op::Insert), 30 => Just(Op::Remove), 1 => Just(Op::Defer)],
                    prop_oneof![(0u64..400).prop_map(|n| n << 52), any::<u64>()],
                ),
                0..6000,
            ),
            cursors in prop::collection::vec(prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()], 1..8),
        ) {
            let shard = if prefix_bits == 0 { 0 } else { shard >> (64 - prefix_bits) };
            check(prefix_bits, shard, &ops, &cursors);
        }
    }

    /// Thousands of keys grow the buckets, and removing them shrinks them again.
    #[test]
    fn buckets_grow_and_shrink_with_the_keys() {
        let mut index = HashIndex::new(6);
        let hashes: Vec<u64> =
            (0..20_000u64).map(|i| (5 << 58) | i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 6).collect();
        for &hash in &hashes {
            index.insert(hash);
        }
        assert!(index.buckets.len() >= 20_000 / (2 * BUCKET_LOAD), "{} buckets", index.buckets.len());
        assert!(index.buckets.iter().all(|b| b.len() < BUCKET_LOAD * 8), "the hashes spread out");
        for &hash in &hashes[100..] {
            assert!(index.remove(hash));
        }
        assert!(
            index.buckets.len() <= 100_usize.div_ceil(BUCKET_LOAD / 4),
            "{} buckets",
            index.buckets.len()
        );
        let mut expected = hashes[..100].to_vec();
        expected.sort_unstable();
        assert_eq!(index.hashes_from(5 << 58).collect::<Vec<_>>(), expected);
    }
}
