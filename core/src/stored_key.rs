//! One key as the map stores it: the key, its value and its metadata in a single allocation
//! behind a thin pointer, so that the hash table holds eight bytes per key.
//!
//! # Layout
//! ```text
//! [mod_index: u64][create_index: u64][expire_at_ms: u64][key_len: u32][value_len: u32][value area][key bytes]
//! ```
//! - `key_len`'s top bit says whether `expire_at_ms` holds an expiry;
//! - a value of at most [`INLINE_VALUE_BYTES_MAX`] bytes is the value area itself (copied out by
//!   a read, as Redis copies a value into its reply buffer); a longer value is kept as a [`Bytes`]
//!   handle in the value area (`value_len` is then [`SHARED`]), so that reads share it without a
//!   copy and applying it moves the buffer decoded from the log instead of copying it (a buffer
//!   of the value's own: see [`copied_on_arrival`]);
//! - a hash, list or set is a `Box<Aggregate>` in the value area (`value_len` is then
//!   [`AGGREGATE`]), changed in place by the commands of its type.
//!
//! # What a key costs
//! For a 12-byte key and a 16-byte value (the figures of `benches/compare/redis.sh`): the record
//! is 32 + 16 + 12 = 60 bytes, which an allocator with 8-byte size classes (mimalloc, jemalloc)
//! serves from its 64-byte class and glibc from a 64-byte chunk. The shard's hash table adds 9
//! bytes per bucket (the pointer and hashbrown's control byte) at a load of 44 % to 87 %, and the
//! SCAN index about 12 (`hash_index.rs`): about 64 + 14 + 12 = 90 bytes in all, against about
//! 100 for Redis 7 (a 24-byte dictEntry, an 8-byte bucket, the key's sds, and an
//! embedded-string object). Eight of them are the create revision the HTTP API
//! reports (etcd's `create_revision`).

use std::alloc::{self, Layout};
use std::fmt;
use std::mem::ManuallyDrop;
use std::ptr::{self, NonNull};

use bytes::Bytes;

use crate::types::{Aggregate, Kind, Value};

/// A value with its metadata, owned: what is stored under a key (as a [`StoredKey`]) and what
/// snapshots carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The string or aggregate.
    pub value: Value,
    /// When the key expires, in state-machine milliseconds; `None` for no TTL.
    pub expire_at_ms: Option<u64>,
    /// Log index of the entry that last changed this key (value or TTL), like etcd's
    /// `mod_revision`. WATCH and compare-and-set rely on it being exact.
    pub mod_index: u64,
    /// Log index of the entry that created the key (etcd's `create_revision`): a write that finds
    /// the key live keeps it, a write that finds it absent or expired sets it to its own index.
    pub create_index: u64,
}

impl Entry {
    /// Whether the key still exists at `now_ms`: a key is expired when `expire_at_ms <= now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.expire_at_ms.is_none_or(|at| at > now_ms)
    }
}

/// Values up to this length live in the record; longer ones are shared [`Bytes`].
pub const INLINE_VALUE_BYTES_MAX: usize = 256;

/// Whether a request argument of `len` bytes, read as a slice of a connection's read buffer, is
/// copied into an allocation of its own before anything keeps it (the RESP decoder and the HTTP
/// API's raw puts ask): a value longer than [`INLINE_VALUE_BYTES_MAX`] is kept by the map as the
/// [`Bytes`] it comes in, and a slice would keep the whole buffer (16 KiB or more, shared with the
/// requests read with it) alive for as long as the key lives. `benches/compare/retained_memory.sh`
/// (60,000 SETs of 1,000-byte values sent 15 to a read, then all keys deleted but one in 15): a
/// node kept 88 MB with slices, 29 MB with copies (of which 13 are its Raft log cache and watch
/// history), Redis 5. Shorter arguments are copied into records anyway, and longer ones than
/// [`ARG_COPIED_BYTES_MAX`](crate::limits::ARG_COPIED_BYTES_MAX) arrive in a buffer grown for
/// them.
pub fn copied_on_arrival(len: usize) -> bool {
    (INLINE_VALUE_BYTES_MAX + 1..=crate::limits::ARG_COPIED_BYTES_MAX).contains(&len)
}

/// `value_len` of a record whose value area holds a [`Bytes`] handle.
const SHARED: u32 = u32::MAX;
/// `value_len` of a record whose value area holds a `Box<Aggregate>`.
const AGGREGATE: u32 = u32::MAX - 1;
/// `key_len`'s flag for "has an expiry".
const HAS_EXPIRY: u32 = 1 << 31;

#[repr(C)]
struct Header {
    mod_index: u64,
    create_index: u64,
    expire_at_ms: u64,
    key_len: u32,
    value_len: u32,
}

const HEADER_BYTES: usize = size_of::<Header>();
const SHARED_BYTES: usize = size_of::<Bytes>();
const AGGREGATE_BYTES: usize = size_of::<Box<Aggregate>>();
const _: () = assert!(HEADER_BYTES == 32 && HEADER_BYTES.is_multiple_of(align_of::<Bytes>()));

/// A key with its value and metadata, owned, in one allocation.
pub struct StoredKey {
    /// Invariant: points to a live allocation of `Self::layout_for(key_len, value area)`, whose
    /// header is initialised, whose value area holds `value_len` bytes, or (when `SHARED`) an
    /// initialised `Bytes`, or (when `AGGREGATE`) an initialised `Box<Aggregate>`, followed by
    /// `key_len` initialised bytes. Owned by this value alone.
    ptr: NonNull<Header>,
}

// SAFETY: a StoredKey owns its allocation exclusively, like a Box, and the only non-plain data in
// it is a `Bytes` or a `Box<Aggregate>`, which are Send and Sync.
unsafe impl Send for StoredKey {}
// SAFETY: shared access only reads, as with a Box; see above.
unsafe impl Sync for StoredKey {}

impl StoredKey {
    /// A record of `key` holding `entry`.
    ///
    /// # Panics
    /// If the key is longer than 2^31 - 1 bytes (the parser allows [`crate::limits::KEY_BYTES_MAX`]).
    pub fn new(key: &[u8], entry: Entry) -> StoredKey {
        let Entry { value, expire_at_ms, mod_index, create_index } = entry;
        let key_len = u32::try_from(key.len()).ok().filter(|len| len & HAS_EXPIRY == 0);
        let key_len = key_len.unwrap_or_else(|| panic!("a key of {} bytes cannot be stored", key.len()));
        let (value_len, value_area) = match &value {
            Value::String(bytes) if bytes.len() > INLINE_VALUE_BYTES_MAX => (SHARED, SHARED_BYTES),
            Value::String(bytes) => (bytes.len() as u32, bytes.len()),
            Value::Aggregate(_) => (AGGREGATE, AGGREGATE_BYTES),
        };
        let layout = layout_for(value_area, key.len());
        // SAFETY: the layout is never zero-sized (it holds the header).
        let raw = unsafe { alloc::alloc(layout) }.cast::<Header>();
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(layout) };
        let header = Header {
            mod_index,
            create_index,
            expire_at_ms: expire_at_ms.unwrap_or(0),
            key_len: key_len | if expire_at_ms.is_some() { HAS_EXPIRY } else { 0 },
            value_len,
        };
        // SAFETY: the allocation holds a header, then `value_area` bytes (aligned for `Bytes` and
        // for a box because the header's size is a multiple of their alignment), then the key's
        // bytes.
        unsafe {
            ptr.as_ptr().write(header);
            let area = ptr.as_ptr().cast::<u8>().add(HEADER_BYTES);
            match value {
                Value::String(bytes) if value_len == SHARED => area.cast::<Bytes>().write(bytes),
                Value::String(bytes) => ptr::copy_nonoverlapping(bytes.as_ptr(), area, bytes.len()),
                Value::Aggregate(aggregate) => area.cast::<Box<Aggregate>>().write(aggregate),
            }
            ptr::copy_nonoverlapping(key.as_ptr(), area.add(value_area), key.len());
        }
        StoredKey { ptr }
    }

    fn header(&self) -> &Header {
        // SAFETY: the invariant says the header is initialised and owned by self.
        unsafe { self.ptr.as_ref() }
    }

    fn is_shared(&self) -> bool {
        self.header().value_len == SHARED
    }

    fn is_aggregate(&self) -> bool {
        self.header().value_len == AGGREGATE
    }

    fn value_area(&self) -> usize {
        match self.header().value_len {
            SHARED => SHARED_BYTES,
            AGGREGATE => AGGREGATE_BYTES,
            inline => inline as usize,
        }
    }

    fn area(&self) -> *mut u8 {
        // SAFETY: the value area starts right after the header, inside the allocation.
        unsafe { self.ptr.as_ptr().cast::<u8>().add(HEADER_BYTES) }
    }

    /// Starts fetching the table's slot that holds this record's address, for a loop that
    /// reads it a few iterations later (`Locked::warm`); reads nothing.
    pub(crate) fn prefetch_slot(&self) {
        prefetch((self as *const StoredKey).cast());
    }

    /// Starts fetching the record's header into the cache, for a loop that reads it a few
    /// iterations later (`Shard::grow`); a hint the CPU may ignore.
    pub(crate) fn prefetch_header(&self) {
        prefetch(self.ptr.as_ptr().cast());
    }

    /// Starts fetching the start of the key into the cache; reads the header, which
    /// [`StoredKey::prefetch_header`] fetched some iterations before.
    pub(crate) fn prefetch_key(&self) {
        prefetch(self.area().wrapping_add(self.value_area()));
    }

    /// Starts fetching the whole record: the header, an inline value (of up to
    /// [`PREFETCH_LINES_MAX`] lines) and the start of the key; reads the header, which
    /// [`StoredKey::prefetch_header`] fetched some iterations before. A write that replaces a
    /// value of the same length writes it in place ([`StoredKey::replace`]), into lines the
    /// CPU would otherwise fetch one by one while the writes pile up behind them. (A fetch for
    /// writing, `prefetchw`, needs a target feature the baseline x86-64 build does not assume;
    /// asked for without it, the compiler emits this plain fetch.)
    pub(crate) fn prefetch_record(&self) {
        let key = self.area().wrapping_add(self.value_area());
        let start = self.ptr.as_ptr().cast::<u8>();
        let lines = (key as usize - start as usize) / CACHE_LINE_BYTES;
        for line in 1..=lines.min(PREFETCH_LINES_MAX) {
            prefetch(start.wrapping_add(line * CACHE_LINE_BYTES));
        }
        prefetch(key);
    }

    /// The key.
    pub fn key(&self) -> &[u8] {
        let len = (self.header().key_len & !HAS_EXPIRY) as usize;
        // SAFETY: `len` initialised key bytes follow the value area (the invariant).
        unsafe { std::slice::from_raw_parts(self.area().add(self.value_area()), len) }
    }

    /// The string value; empty for a key that holds an aggregate (a caller that may meet one
    /// checks [`StoredKey::kind`] first, as every string command does for WRONGTYPE).
    pub fn value(&self) -> &[u8] {
        if self.is_shared() {
            self.shared()
        } else if self.is_aggregate() {
            debug_assert!(false, "the string value of a {} asked for", self.kind().as_str());
            &[]
        } else {
            // SAFETY: an inline value area holds `value_len` initialised bytes (the invariant).
            unsafe { std::slice::from_raw_parts(self.area(), self.header().value_len as usize) }
        }
    }

    fn shared(&self) -> &Bytes {
        debug_assert!(self.is_shared());
        // SAFETY: a shared value area holds an initialised, aligned `Bytes` (the invariant).
        unsafe { &*self.area().cast::<Bytes>() }
    }

    /// The string value as [`Bytes`]: a copy of an inline value, a shared handle to a long one
    /// (empty for an aggregate, as [`StoredKey::value`]).
    pub fn value_bytes(&self) -> Bytes {
        if self.is_shared() {
            self.shared().clone()
        } else {
            Bytes::copy_from_slice(self.value())
        }
    }

    /// Which type the key holds.
    pub fn kind(&self) -> Kind {
        self.aggregate().map_or(Kind::String, Aggregate::kind)
    }

    /// The hash, list or set the key holds, if it holds one.
    pub fn aggregate(&self) -> Option<&Aggregate> {
        // SAFETY: an aggregate value area holds an initialised, aligned box (the invariant).
        self.is_aggregate().then(|| unsafe { &**self.area().cast::<Box<Aggregate>>() })
    }

    /// The hash, list or set the key holds, to change in place. The caller keeps the map's
    /// accounting (`Shard::update`) and never leaves it empty in the map.
    pub(crate) fn aggregate_mut(&mut self) -> Option<&mut Aggregate> {
        // SAFETY: as `aggregate`, and the record is borrowed mutably.
        self.is_aggregate().then(|| unsafe { &mut **self.area().cast::<Box<Aggregate>>() })
    }

    /// The value, owned: a string as [`StoredKey::value_bytes`] gives it, an aggregate copied.
    pub fn to_value(&self) -> Value {
        match self.aggregate() {
            Some(aggregate) => Value::Aggregate(Box::new(aggregate.clone())),
            None => Value::String(self.value_bytes()),
        }
    }

    /// The entry, with an aggregate moved out rather than copied (the record is left holding an
    /// empty one, to be freed).
    pub(crate) fn take_entry(&mut self) -> Entry {
        let value = match self.aggregate_mut() {
            Some(aggregate) => {
                let empty = Aggregate::empty(aggregate.kind()).expect("an aggregate kind");
                Value::Aggregate(Box::new(std::mem::replace(aggregate, empty)))
            }
            None => Value::String(self.value_bytes()),
        };
        Entry {
            value,
            expire_at_ms: self.expire_at_ms(),
            mod_index: self.mod_index(),
            create_index: self.create_index(),
        }
    }

    /// Sets or clears the expiry in place.
    pub(crate) fn set_expire_at_ms(&mut self, expire_at_ms: Option<u64>) {
        // SAFETY: the header is owned by self, borrowed mutably.
        let header = unsafe { self.ptr.as_mut() };
        header.expire_at_ms = expire_at_ms.unwrap_or(0);
        header.key_len = (header.key_len & !HAS_EXPIRY) | if expire_at_ms.is_some() { HAS_EXPIRY } else { 0 };
    }

    /// Sets the log index of the entry that last changed the key.
    pub(crate) fn set_mod_index(&mut self, index: u64) {
        // SAFETY: the header is owned by self, borrowed mutably.
        unsafe { self.ptr.as_mut().mod_index = index }
    }

    /// When the key expires, in state-machine milliseconds.
    pub fn expire_at_ms(&self) -> Option<u64> {
        let header = self.header();
        (header.key_len & HAS_EXPIRY != 0).then_some(header.expire_at_ms)
    }

    /// The log index of the entry that last changed the key.
    pub fn mod_index(&self) -> u64 {
        self.header().mod_index
    }

    /// The log index of the entry that created the key.
    pub fn create_index(&self) -> u64 {
        self.header().create_index
    }

    /// Whether the key still exists at `now_ms` (see [`Entry::is_live`]).
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.expire_at_ms().is_none_or(|at| at > now_ms)
    }

    /// An owned copy of the value and metadata.
    pub fn to_entry(&self) -> Entry {
        Entry {
            value: self.to_value(),
            expire_at_ms: self.expire_at_ms(),
            mod_index: self.mod_index(),
            create_index: self.create_index(),
        }
    }

    /// Replaces the value and metadata, keeping the key; returns the old expiry (the old value
    /// is not copied: a caller that needs it reads it first). A value of the same length as an
    /// inline one is written in place, without allocating.
    pub fn replace(&mut self, entry: Entry) -> Option<u64> {
        let old = self.expire_at_ms();
        let fits = match &entry.value {
            Value::String(bytes) => {
                !self.is_shared() && !self.is_aggregate() && bytes.len() == self.value().len()
            }
            Value::Aggregate(_) => false,
        };
        if let (true, Value::String(bytes)) = (fits, &entry.value) {
            let key_len = self.header().key_len & !HAS_EXPIRY;
            // SAFETY: the header and the inline value area are owned by self, and the new value
            // has exactly the area's length.
            unsafe {
                let header = self.ptr.as_mut();
                header.mod_index = entry.mod_index;
                header.create_index = entry.create_index;
                header.expire_at_ms = entry.expire_at_ms.unwrap_or(0);
                header.key_len = key_len | if entry.expire_at_ms.is_some() { HAS_EXPIRY } else { 0 };
                ptr::copy_nonoverlapping(bytes.as_ptr(), self.area(), bytes.len());
            }
        } else {
            *self = StoredKey::new(self.key(), entry);
        }
        old
    }

    /// The bytes of this record's allocation and of what it holds: an aggregate, or a shared
    /// string's buffer (its length rounded up to 8, as the allocator's classes round it; the
    /// buffer is the value's own, as [`copied_on_arrival`] and the log's decoder make sure).
    pub fn allocation_bytes(&self) -> usize {
        let record = layout_for(self.value_area(), self.key().len()).size();
        match self.header().value_len {
            SHARED | AGGREGATE => record + self.held_bytes(),
            _ => record,
        }
    }

    /// What a shared string's buffer or an aggregate costs: out of line, because the common
    /// record (an inline value) has neither and its accounting runs on every write.
    #[inline(never)]
    fn held_bytes(&self) -> usize {
        match self.aggregate() {
            Some(aggregate) => aggregate.allocated_bytes(),
            None => self.shared().len().next_multiple_of(8),
        }
    }
}

/// A record that a pinned snapshot reads after its shard's lock is released (`pin.rs`): it names a
/// [`StoredKey`] without owning it, and never frees it.
pub(crate) struct PinnedRecord(ManuallyDrop<StoredKey>);

impl PinnedRecord {
    /// Names `stored` beyond the borrow.
    ///
    /// # Safety
    /// The record must be neither changed nor freed while the returned value is used: its shard
    /// is pinned (`Shard::pinned_at`) at an index no older than the record's `mod_index`, and the
    /// value is dropped before the shard is unpinned.
    pub(crate) unsafe fn new(stored: &StoredKey) -> PinnedRecord {
        PinnedRecord(ManuallyDrop::new(StoredKey { ptr: stored.ptr }))
    }

    /// The record.
    pub(crate) fn get(&self) -> &StoredKey {
        &self.0
    }
}

fn layout_for(value_area: usize, key_len: usize) -> Layout {
    Layout::from_size_align(HEADER_BYTES + value_area + key_len, align_of::<Header>())
        .expect("a key and value within the limits make a valid layout")
}

impl Drop for StoredKey {
    fn drop(&mut self) {
        let layout = layout_for(self.value_area(), self.key().len());
        // SAFETY: the allocation was made with this layout (the lengths never change without a
        // new allocation); a shared or aggregate value area holds a handle dropped exactly once, here.
        unsafe {
            if self.is_shared() {
                ptr::drop_in_place(self.area().cast::<Bytes>());
            } else if self.is_aggregate() {
                ptr::drop_in_place(self.area().cast::<Box<Aggregate>>());
            }
            alloc::dealloc(self.ptr.as_ptr().cast::<u8>(), layout);
        }
    }
}

impl Clone for StoredKey {
    fn clone(&self) -> StoredKey {
        StoredKey::new(self.key(), self.to_entry())
    }
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("key", &Bytes::copy_from_slice(self.key()))
            .field("kind", &self.kind())
            .field("expire_at_ms", &self.expire_at_ms())
            .field("mod_index", &self.mod_index())
            .field("create_index", &self.create_index())
            .finish()
    }
}

/// The cache line size of x86-64 and of most ARM cores.
const CACHE_LINE_BYTES: usize = 64;

/// Most lines of a record's value [`StoredKey::prefetch_record`] fetches: for a batch of long
/// values, enough to cover the common sizes without fetching more than the cache keeps until
/// the writes come.
const PREFETCH_LINES_MAX: usize = 16;

/// Asks the CPU to fetch the cache line at `at` (a hint: it never faults, whatever `at` is).
fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing and cannot fault; SSE, which it needs, is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &[u8], expire_at_ms: Option<u64>, mod_index: u64) -> Entry {
        let value = Bytes::copy_from_slice(value).into();
        Entry { value, expire_at_ms, mod_index, create_index: mod_index / 2 }
    }

    fn check(stored: &StoredKey, key: &[u8], expected: &Entry) {
        assert_eq!(stored.key(), key);
        let value = expected.value.as_string().expect("a string");
        assert_eq!(stored.value(), &value[..]);
        assert_eq!(&stored.value_bytes(), value);
        assert_eq!(stored.expire_at_ms(), expected.expire_at_ms);
        assert_eq!(stored.mod_index(), expected.mod_index);
        assert_eq!(&stored.to_entry(), expected);
    }

    /// Every field reads back for empty, inline, boundary and shared values, with and without
    /// an expiry (including an expiry at 0, which must not read as "none").
    #[test]
    fn fields_read_back() {
        let long = vec![7u8; INLINE_VALUE_BYTES_MAX + 1];
        let boundary = vec![9u8; INLINE_VALUE_BYTES_MAX];
        for key in [&b""[..], b"k", b"key:00000001", &[0xff; 300][..]] {
            for value in [&b""[..], b"value:0000000001", &boundary, &long] {
                for expire in [None, Some(0), Some(u64::MAX)] {
                    let expected = entry(value, expire, 42);
                    let stored = StoredKey::new(key, expected.clone());
                    check(&stored, key, &expected);
                    check(&stored.clone(), key, &expected);
                }
            }
        }
    }

    /// A long value is shared with the caller's buffer, not copied.
    #[test]
    fn long_values_are_shared() {
        let value = Bytes::from(vec![1u8; 4096]);
        let stored = StoredKey::new(
            b"k",
            Entry { value: value.clone().into(), expire_at_ms: None, mod_index: 1, create_index: 1 },
        );
        assert_eq!(stored.value_bytes().as_ptr(), value.as_ptr());
        assert_eq!(stored.allocation_bytes(), HEADER_BYTES + SHARED_BYTES + 1 + 4096);
    }

    /// Replacing goes in place for an inline value of the same length and reallocates
    /// otherwise; either way the key stays and the old entry comes back.
    #[test]
    fn replace_keeps_the_key_and_returns_the_old_entry() {
        let long = vec![3u8; 1000];
        let steps = [
            entry(b"aaaa", None, 1),
            entry(b"bbbb", Some(5), 2),
            entry(b"cc", None, 3),
            entry(&long, Some(9), 4),
            entry(&long, None, 5),
            entry(b"", Some(0), 6),
            entry(b"dddd", None, 7),
        ];
        let mut stored = StoredKey::new(b"the key", steps[0].clone());
        for pair in steps.windows(2) {
            let before = stored.ptr;
            assert_eq!(stored.to_entry(), pair[0]);
            let old_expiry = stored.replace(pair[1].clone());
            assert_eq!(old_expiry, pair[0].expire_at_ms);
            check(&stored, b"the key", &pair[1]);
            let len = |e: &Entry| e.value.as_string().expect("a string").len();
            let in_place = len(&pair[0]) == len(&pair[1]) && len(&pair[0]) <= 256;
            assert_eq!(stored.ptr == before, in_place, "{:?} -> {:?}", pair[0], pair[1]);
        }
    }

    /// A record holding a hash reads it back, changes it in place, copies it whole, and hands
    /// it over without a copy; its expiry changes in place; strings and hashes replace each
    /// other.
    #[test]
    fn aggregates_live_behind_one_pointer() {
        let mut hash = crate::types::Hash::default();
        hash.insert(b"field", b"value");
        let value = Value::Aggregate(Box::new(Aggregate::Hash(hash)));
        let entry = Entry { value, expire_at_ms: Some(9), mod_index: 3, create_index: 2 };
        let mut stored = StoredKey::new(b"h", entry.clone());
        assert_eq!(stored.kind(), Kind::Hash);
        assert_eq!(stored.to_entry(), entry);
        assert_eq!(
            stored.allocation_bytes(),
            HEADER_BYTES + AGGREGATE_BYTES + 1 + stored.aggregate().unwrap().allocated_bytes()
        );
        let Some(Aggregate::Hash(hash)) = stored.aggregate_mut() else { panic!("a hash") };
        hash.insert(b"other", b"x");
        stored.set_expire_at_ms(None);
        assert_eq!(stored.expire_at_ms(), None);
        let copy = stored.clone();
        assert_eq!(copy.aggregate().map(Aggregate::len), Some(2));
        let taken = stored.take_entry();
        assert_eq!(taken.value, copy.to_entry().value);
        assert_eq!(stored.aggregate().map(Aggregate::len), Some(0));
        stored.replace(Entry { value: Bytes::from_static(b"now a string").into(), ..taken.clone() });
        assert_eq!((stored.kind(), stored.value()), (Kind::String, &b"now a string"[..]));
        stored.replace(taken.clone());
        assert_eq!(stored.to_entry(), taken);
    }
}
