//! The core map under parallel load on every core, beside a plain `RwLock<HashMap>` and the
//! `dashmap` crate measured in the same run; and the per-shard structure choice (hash table versus
//! ordered maps) measured single-threaded at the size one shard holds.
//!
//! Keys are `key:000000` .. `key:099999` (redis-benchmark's `-r 100000` keyspace), values 16
//! bytes, all preloaded. One iteration is one operation on each of the threads, so criterion's
//! "elements/s" is the total operations per second across threads. Run: `cargo bench -p benches`.
#![allow(clippy::disallowed_methods)] // benchmarks run real threads

use std::collections::{BTreeMap, HashMap};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dashmap::DashMap;
use parking_lot::RwLock;
use redraft_core::map::ShardedMap;

const KEY_COUNT: usize = 100_000;

fn keys() -> Vec<Bytes> {
    (0..KEY_COUNT).map(|i| Bytes::from(format!("key:{i:06}"))).collect()
}

fn value() -> Bytes {
    Bytes::from_static(b"0123456789abcdef")
}

/// The three maps behind one interface, so every one runs the very same loop.
trait Store: Sync {
    fn get(&self, key: &[u8]) -> Option<Bytes>;
    fn set(&self, key: Bytes, value: Bytes);
}

impl Store for ShardedMap {
    fn get(&self, key: &[u8]) -> Option<Bytes> {
        ShardedMap::get(self, key, 0)
    }
    fn set(&self, key: Bytes, value: Bytes) {
        ShardedMap::set(self, key, value, 1);
    }
}

impl Store for RwLock<HashMap<Bytes, Bytes>> {
    fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.read().get(key).cloned()
    }
    fn set(&self, key: Bytes, value: Bytes) {
        self.write().insert(key, value);
    }
}

impl Store for DashMap<Bytes, Bytes> {
    fn get(&self, key: &[u8]) -> Option<Bytes> {
        DashMap::get(self, key).map(|v| v.clone())
    }
    fn set(&self, key: Bytes, value: Bytes) {
        self.insert(key, value);
    }
}

/// A xorshift generator per thread: cheap, and no shared state between threads.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs `iterations` operations on each of `threads` threads at once; `write_percent` of them are
/// SETs. Returns the wall time from the common start to the last thread's end.
fn run(store: &dyn Store, keys: &[Bytes], threads: usize, iterations: u64, write_percent: u64) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let barrier = &barrier;
            scope.spawn(move || {
                let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ (thread as u64 + 1));
                let value = value();
                barrier.wait();
                for _ in 0..iterations {
                    let draw = rng.next();
                    let key = &keys[(draw % KEY_COUNT as u64) as usize];
                    if (draw >> 40) % 100 < write_percent {
                        store.set(key.clone(), value.clone());
                    } else {
                        std::hint::black_box(store.get(key));
                    }
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // The scope joins every thread before returning.
        start
    })
    .elapsed()
}

fn parallel(c: &mut Criterion) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let keys = keys();
    let sharded = ShardedMap::new(redraft_core::limits::SHARD_BITS_DEFAULT, 42);
    let locked: RwLock<HashMap<Bytes, Bytes>> = RwLock::new(HashMap::new());
    let dash: DashMap<Bytes, Bytes> = DashMap::new();
    for key in &keys {
        Store::set(&sharded, key.clone(), value());
        Store::set(&locked, key.clone(), value());
        Store::set(&dash, key.clone(), value());
    }
    let stores: [(&str, &dyn Store); 3] =
        [("redraft", &sharded), ("rwlock_hashmap", &locked), ("dashmap", &dash)];
    for (workload, write_percent) in [("get", 0), ("set", 100), ("mix_90_10", 10)] {
        let mut group = c.benchmark_group(format!("map_{workload}_{threads}_threads"));
        group.throughput(Throughput::Elements(threads as u64));
        for (name, store) in stores {
            group.bench_function(name, |b| {
                b.iter_custom(|iterations| run(store, &keys, threads, iterations, write_percent));
            });
        }
        group.finish();
    }
}

/// The per-shard structure, single-threaded, at the keys one of the 64 shards holds for the
/// 100,000-key keyspace: the hash table we use against an ordered map by key and one by
/// (hash, key), the two single-structure layouts that could also serve prefix listing or SCAN.
fn shard_structure(c: &mut Criterion) {
    let per_shard = KEY_COUNT >> redraft_core::limits::SHARD_BITS_DEFAULT;
    let keys: Vec<Bytes> = keys().into_iter().take(per_shard).collect();
    let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
    let mut table: hashbrown::HashTable<(Bytes, u64, Bytes)> = hashbrown::HashTable::new();
    let mut by_key: BTreeMap<Bytes, Bytes> = BTreeMap::new();
    let mut by_hash: BTreeMap<(u64, Bytes), Bytes> = BTreeMap::new();
    for key in &keys {
        let hash = hasher.hash_one(&key[..]);
        table.insert_unique(hash, (key.clone(), hash, value()), |e| e.1);
        by_key.insert(key.clone(), value());
        by_hash.insert((hash, key.clone()), value());
    }
    let mut group = c.benchmark_group(format!("shard_structure_get_{per_shard}_keys"));
    group.throughput(Throughput::Elements(1));
    let mut cycle = Cycle { keys: &keys, index: 0 };
    group.bench_function(BenchmarkId::new("hash_table", per_shard), |b| {
        b.iter(|| {
            let key = cycle.next();
            let hash = hasher.hash_one(&key[..]);
            table.find(hash, |e| e.0 == *key).map(|e| e.2.clone())
        })
    });
    group.bench_function(BenchmarkId::new("btree_by_key", per_shard), |b| {
        b.iter(|| by_key.get(cycle.next()).cloned())
    });
    group.bench_function(BenchmarkId::new("btree_by_hash_and_key", per_shard), |b| {
        b.iter(|| {
            let key = cycle.next();
            let hash = hasher.hash_one(&key[..]);
            by_hash.get(&(hash, key.clone())).cloned()
        })
    });
    group.finish();
}

/// Walks the keys with a prime stride, so consecutive lookups land far apart.
struct Cycle<'a> {
    keys: &'a [Bytes],
    index: usize,
}

impl<'a> Cycle<'a> {
    fn next(&mut self) -> &'a Bytes {
        self.index = (self.index + 7919) % self.keys.len();
        &self.keys[self.index]
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = parallel, shard_structure
}
criterion_main!(benches);
