//! The core map under parallel load on every core, beside a plain `RwLock<HashMap>` and the
//! `dashmap` crate measured in the same run; and the per-shard structure choice (hash table versus
//! ordered maps) measured single-threaded at the size one shard holds.
//!
//! Keys are `key:000000` .. `key:099999` (redis-benchmark's `-r 100000` keyspace), values 16
//! bytes, all preloaded. A GET copies the value into a per-thread buffer (what a reply writer
//! does); a SET stores a 16-byte value. Run: `cargo bench -p benches --bench map`.
//!
//! The parallel comparison is not criterion's: one pool of worker threads lives for the whole
//! run (no thread start inside a sample), the maps take turns sample by sample (A B C, B C A,
//! ...) so that a noisy moment hits all of them, and each sample is long (`MAP_BENCH_OPS` per
//! thread, default 2,000,000). It prints the median operations per second of
//! `MAP_BENCH_ROUNDS` samples (default 11) per map and workload, and each map's ratio to
//! `dashmap`. It prints figures and asserts nothing.
#![allow(clippy::disallowed_methods)] // benchmarks run real threads

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
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
trait Store: Send + Sync {
    /// Appends the value of `key` to `out`; whether the key was there.
    fn get_into(&self, key: &[u8], out: &mut Vec<u8>) -> bool;
    fn set(&self, key: &Bytes, value: &Bytes);
}

impl Store for ShardedMap {
    fn get_into(&self, key: &[u8], out: &mut Vec<u8>) -> bool {
        self.get_with(key, 0, |v| out.extend_from_slice(v)).is_some()
    }
    fn set(&self, key: &Bytes, value: &Bytes) {
        ShardedMap::set(self, key, value.clone(), 1);
    }
}

impl Store for RwLock<HashMap<Bytes, Bytes>> {
    fn get_into(&self, key: &[u8], out: &mut Vec<u8>) -> bool {
        self.read().get(key).map(|v| out.extend_from_slice(v)).is_some()
    }
    fn set(&self, key: &Bytes, value: &Bytes) {
        self.write().insert(key.clone(), value.clone());
    }
}

impl Store for DashMap<Bytes, Bytes> {
    fn get_into(&self, key: &[u8], out: &mut Vec<u8>) -> bool {
        DashMap::get(self, key).map(|v| out.extend_from_slice(&v)).is_some()
    }
    fn set(&self, key: &Bytes, value: &Bytes) {
        self.insert(key.clone(), value.clone());
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

/// What the workers run next: a map, a share of writes in percent, operations per thread; or
/// nothing, to stop.
type Job = Option<(Arc<dyn Store>, u64, u64)>;

/// Worker threads kept for the whole run; each sample starts them all at one barrier and ends
/// when the last reaches the next.
struct Pool {
    job: Arc<Mutex<Job>>,
    start: Arc<Barrier>,
    end: Arc<Barrier>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Pool {
    fn new(threads: usize, keys: Arc<Vec<Bytes>>) -> Pool {
        let job: Arc<Mutex<Job>> = Arc::default();
        let (start, end) = (Arc::new(Barrier::new(threads + 1)), Arc::new(Barrier::new(threads + 1)));
        let workers = (0..threads)
            .map(|thread| {
                let (job, start, end, keys) = (job.clone(), start.clone(), end.clone(), keys.clone());
                std::thread::spawn(move || {
                    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ (thread as u64 + 1));
                    let (value, mut out) = (value(), Vec::with_capacity(64));
                    loop {
                        start.wait();
                        let Some((store, write_percent, operations)) = job.lock().unwrap().clone() else {
                            return;
                        };
                        for _ in 0..operations {
                            let draw = rng.next();
                            let key = &keys[(draw % KEY_COUNT as u64) as usize];
                            if (draw >> 40) % 100 < write_percent {
                                store.set(key, &value);
                            } else {
                                out.clear();
                                std::hint::black_box(store.get_into(key, &mut out));
                            }
                        }
                        end.wait();
                    }
                })
            })
            .collect();
        Pool { job, start, end, workers }
    }

    /// One sample: the wall time for every thread to run `operations` operations on `store`.
    fn sample(&self, store: &Arc<dyn Store>, write_percent: u64, operations: u64) -> Duration {
        *self.job.lock().unwrap() = Some((store.clone(), write_percent, operations));
        self.start.wait();
        let started = Instant::now();
        self.end.wait();
        started.elapsed()
    }

    fn stop(self) {
        *self.job.lock().unwrap() = None;
        self.start.wait();
        for worker in self.workers {
            worker.join().expect("a worker panicked");
        }
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The maps in turn, sample by sample, on every workload; prints medians and ratios.
fn parallel_alternated() {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    // `cargo test --benches` passes `--test`: one short round, to show it runs.
    let quick = std::env::args().any(|a| a == "--test");
    let (rounds, operations) = if quick {
        (1, 1_000)
    } else {
        (env_or("MAP_BENCH_ROUNDS", 11) as usize, env_or("MAP_BENCH_OPS", 2_000_000))
    };
    let keys = Arc::new(keys());
    let sharded = ShardedMap::new(redraft_core::limits::SHARD_BITS_DEFAULT, 42);
    let locked: RwLock<HashMap<Bytes, Bytes>> = RwLock::new(HashMap::new());
    let dash: DashMap<Bytes, Bytes> = DashMap::new();
    for key in keys.iter() {
        Store::set(&sharded, key, &value());
        Store::set(&locked, key, &value());
        Store::set(&dash, key, &value());
    }
    let stores: [(&str, Arc<dyn Store>); 3] =
        [("redraft", Arc::new(sharded)), ("rwlock_hashmap", Arc::new(locked)), ("dashmap", Arc::new(dash))];
    let pool = Pool::new(threads, keys);
    println!(
        "map, {threads} threads, {KEY_COUNT} keys, {rounds} alternating samples of {operations} operations per thread"
    );
    println!(
        "{:<10} {:<15} {:>12} {:>12} {:>12} {:>9}",
        "workload", "map", "median op/s", "min", "max", "/dashmap"
    );
    for (workload, write_percent) in [("get", 0), ("set", 100), ("mix_90_10", 10)] {
        // A warm-up sample each, not counted.
        for (_, store) in &stores {
            pool.sample(store, write_percent, operations / 4);
        }
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); stores.len()];
        for round in 0..rounds {
            for turn in 0..stores.len() {
                let index = (round + turn) % stores.len();
                let elapsed = pool.sample(&stores[index].1, write_percent, operations);
                rates[index].push((operations * threads as u64) as f64 / elapsed.as_secs_f64());
            }
        }
        let median = |r: &mut Vec<f64>| {
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        };
        let medians: Vec<f64> = rates.iter_mut().map(median).collect();
        let dash_median = medians[stores.len() - 1];
        for (index, (name, _)) in stores.iter().enumerate() {
            let r = &rates[index];
            println!(
                "{workload:<10} {name:<15} {:>12.0} {:>12.0} {:>12.0} {:>9.2}",
                medians[index],
                r[0],
                r[r.len() - 1],
                medians[index] / dash_median
            );
        }
    }
    pool.stop();
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

fn main() {
    parallel_alternated();
    let mut criterion = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    shard_structure(&mut criterion);
    criterion.final_summary();
}
