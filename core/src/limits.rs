//! Every bound the core enforces, in one place, each with the reason for its size.
//!
//! The server checks client input against these at the edge, before allocating; the core checks
//! them again where replicated input arrives, so a bad entry is an error and never an allocation
//! the size of whatever a peer claims. Related bounds are tied together with `const` assertions.

/// Largest key, in bytes. Redis allows 512 MiB keys, but every key is held three times in memory
/// (the hash table and the two ordered indexes share one buffer, yet each pays its node) and sent
/// in every SCAN page; 64 KiB is far above any key seen in practice (etcd refuses requests over
/// 1.5 MiB in total) and keeps one SCAN page bounded.
pub const KEY_BYTES_MAX: usize = 64 * 1024;

/// Largest string value, in bytes: Redis's `proto-max-bulk-len` default. APPEND and SETRANGE
/// refuse to grow a value past it with Redis's own error text.
pub const VALUE_BYTES_MAX: usize = 512 * 1024 * 1024;

/// Longest request argument the server copies out of the buffer it was read into (see
/// [`crate::stored_key::copied_on_arrival`]); a longer one stays a slice of that buffer, which
/// for an argument this long was grown for it and holds little else.
pub const ARG_COPIED_BYTES_MAX: usize = 1024 * 1024;

/// Largest payload of one log or snapshot record. A record is read whole before its checksum is
/// verified, so this is also the most a decoder ever buffers. It must hold the largest value plus
/// its key and the entry's framing.
pub const RECORD_PAYLOAD_BYTES_MAX: usize = VALUE_BYTES_MAX + KEY_BYTES_MAX + 64 * 1024;

/// Smallest `proto-max-bulk-len` a server accepts, as Redis: below 1 MiB ordinary values (and
/// the CLI's own requests) would be refused. The largest is [`VALUE_BYTES_MAX`].
pub const PROTO_MAX_BULK_LEN_MIN: usize = 1024 * 1024;

/// The values `proto-max-bulk-len` may take, from the configuration or `CONFIG SET`.
pub const PROTO_MAX_BULK_LEN_RANGE: std::ops::RangeInclusive<usize> =
    PROTO_MAX_BULK_LEN_MIN..=VALUE_BYTES_MAX;

/// Most arguments in one command, counting the name: Redis's multibulk length limit
/// (1024 * 1024). It bounds MSET, DEL and MGET, whose replies are arrays of the same length.
pub const ARRAY_LEN_MAX: usize = 1024 * 1024;

/// Keys a range page of the HTTP API holds when the request names no `limit`.
pub const RANGE_LIMIT_DEFAULT: usize = 100;

/// Most keys a range page of the HTTP API holds: a page is listed under every shard's read lock
/// (one consistent revision), and its keys and values are answered in one JSON body.
pub const RANGE_LIMIT_MAX: usize = 10_000;

/// Most commands in one MULTI/EXEC transaction. A transaction is one log entry applied while all
/// its shards are locked, so its length is the longest pause it can cause for readers.
pub const TRANSACTION_COMMANDS_MAX: usize = 10_000;

/// Largest COUNT a SCAN call honours; larger requests are clamped. One SCAN page is built while
/// its shards are read-locked, so this bounds both the reply and the time writers wait.
pub const SCAN_COUNT_MAX: usize = 100_000;

/// Most keys a single expiry batch deletes. Active expiry is proposed by the leader as a log
/// entry (DESIGN.md §3); a small batch keeps each entry's apply short, as Redis's active expire
/// cycle does with its 20-keys-per-loop budget, while still freeing thousands of keys a second.
pub const EXPIRE_BATCH_KEYS_MAX: usize = 256;

/// Most client sessions remembered for at-most-once retries (Raft thesis §6.3). The table is part
/// of every snapshot; 100,000 sessions with small cached replies stay within a few MiB. When it is
/// full, the session used least recently is dropped, and a retry from it is refused rather than
/// applied twice.
pub const SESSION_COUNT_MAX: usize = 100_000;

/// Largest reply a session keeps for a retry (by [`Reply::approx_bytes`](crate::Reply::approx_bytes)):
/// a larger one (GETDEL of a big value, a transaction of GETs) is kept as an error that says the
/// write was applied, so a session never holds a 512 MiB value, nor makes a snapshot record
/// larger than a record may be.
pub const SESSION_REPLY_BYTES_MAX: usize = 64 * 1024;

/// Most bytes of replies all sessions keep together; past it, the sessions used least recently
/// are dropped as when the table is full. 64 MiB, in memory and in every snapshot.
pub const SESSION_REPLIES_BYTES_MAX: usize = 64 * 1024 * 1024;
const _: () = assert!(SESSION_REPLY_BYTES_MAX < RECORD_PAYLOAD_BYTES_MAX / 2);

/// Largest glob pattern accepted by KEYS and SCAN MATCH. Redis's matcher recurses on `*`; ours is
/// iterative, but a bound keeps a single match cheap whatever the pattern.
pub const PATTERN_BYTES_MAX: usize = 4 * 1024;

/// Buckets of deletion marks that WATCH on an absent key compares (see
/// `ShardedMap::deletion_mark`). They are replicated state, in every snapshot: 4,096 marks are
/// 32 KiB, and make a false EXEC abort from an unrelated deletion one chance in 4,096.
pub const DELETION_MARK_BUCKETS: usize = 4096;

/// Number of shards in the map, as a power of two. 64 shards keep lock contention negligible on
/// machines with dozens of cores, and keep the per-shard indexes small.
pub const SHARD_BITS_DEFAULT: u32 = 6;

/// Largest shard count exponent. The shard is taken from the top bits of a key's hash, and the
/// bits below it must still spread keys inside the shard's table.
pub const SHARD_BITS_MAX: u32 = 16;

const _: () = assert!(RECORD_PAYLOAD_BYTES_MAX > VALUE_BYTES_MAX + KEY_BYTES_MAX);
const _: () = assert!(RECORD_PAYLOAD_BYTES_MAX <= u32::MAX as usize, "record length is a u32");
const _: () = assert!(SHARD_BITS_DEFAULT <= SHARD_BITS_MAX);
const _: () = assert!(EXPIRE_BATCH_KEYS_MAX * KEY_BYTES_MAX < RECORD_PAYLOAD_BYTES_MAX);

/// Largest write (a command or a transaction, its WATCHed keys included), by
/// [`Write::weight`](crate::Write::weight), that a node accepts: a write larger than this
/// would not fit one log record once encoded (what a session and the entry add is far less than
/// the slack below), so it is refused before it is proposed instead of failing in the log. The
/// largest SET (a 64 KiB key and a 512 MiB value) fits: `MSET` of two 280 MB values does not.
pub const WRITE_WEIGHT_MAX: usize = RECORD_PAYLOAD_BYTES_MAX - 16 * 1024;
const _: () = assert!(WRITE_WEIGHT_MAX > VALUE_BYTES_MAX + KEY_BYTES_MAX + 1024);

/// The default of the most bytes of replies a client may have waiting (`client-output-buffer-
/// limit`): twice the largest value, so any one reply fits, while a small request that asks for
/// the same big value many times (`MGET k k k ...`) closes its connection instead of making the
/// node buffer gigabytes. Redis has no limit for normal clients by default; redraft does.
pub const CLIENT_OUTPUT_BUFFER_LIMIT_DEFAULT: usize = 2 * VALUE_BYTES_MAX;

/// Largest frame between peers. An append-entries request carries up to openraft's
/// `max_payload_entries` entries, each up to a record's size, and a snapshot chunk is
/// `snapshot_max_chunk_size` (3 MiB); a frame is read as it arrives, never allocated from the
/// claimed length alone, so this bounds what a confused peer can make a node buffer.
pub const PEER_FRAME_BYTES_MAX: usize = 2 * RECORD_PAYLOAD_BYTES_MAX;
const _: () = assert!(PEER_FRAME_BYTES_MAX <= u32::MAX as usize, "frame length is a u32");

/// Requests a connection runs from one read before their replies are written. A pipeline longer
/// than this is served in rounds of this many, so one connection's reply buffer stays bounded
/// (about this many replies) however many requests a client sends at once.
pub const PIPELINE_REQUESTS_MAX: usize = 1024;

/// Keys one connection may WATCH at a time. Each watched key is compared at EXEC inside the
/// transaction's log entry, so this bounds that entry's size and the time EXEC holds its shards.
pub const WATCHED_KEYS_MAX: usize = 10_000;

/// Redis's default `maxclients`: connections served at once before new ones are refused with
/// Redis's error. Each holds a task and its buffers; operators raise it with the open-file limit.
pub const MAXCLIENTS_DEFAULT: usize = 10_000;

/// Deepest nesting of aggregates a RESP reply may have: bounds the reply decoder's recursion.
/// redraft's own replies nest at most three deep; 64 leaves room for any Redis reply.
pub const REPLY_DEPTH_MAX: usize = 64;

/// Longest cluster id, in bytes. Every peer frame names its cluster in a one-byte length and
/// that many bytes, so a node of another cluster is refused by name rather than misread.
pub const CLUSTER_ID_BYTES_MAX: usize = 255;

/// Appends that may wait for the log's sync before openraft's `append` itself waits. Each holds
/// only a callback (the entries are already in the log), so the bound is on how far appends run
/// ahead of the disk: with group commit one sync answers all of them.
pub const LOG_FLUSH_QUEUE_DEPTH: usize = 1024;

/// Idle connections a node keeps to one peer. A call borrows a connection of its own so calls
/// never queue behind one another; with pipelined forwarding and per-read heartbeats a few dozen
/// are in flight at once on a busy leader, and more than this are closed after use.
pub const PEER_IDLE_CONNECTIONS_MAX: usize = 32;

/// Open files a server keeps for itself besides one per client: Redis reserves 32 for its own
/// files (the log's segments, the snapshot, listeners); a node also keeps peer connections, up to
/// `PEER_IDLE_CONNECTIONS_MAX` idle to each of the four peers of a five-node cluster and as many
/// coming in. The open-file limit is raised to `maxclients` plus this at start, or `maxclients`
/// lowered to fit, as Redis does.
pub const OPEN_FILES_RESERVED: u64 = 32 + 2 * 4 * PEER_IDLE_CONNECTIONS_MAX as u64;

/// Most client writes the leader's proposer puts in one batch entry. A batch is applied while
/// the shards it touches are locked, so this bounds how long one apply holds readers off (4,096
/// SETs apply in about a millisecond). A batch holds what arrived while the previous one was
/// in flight (`node/proposer.rs`): with 50 clients pipelining 16 writes each, up to 800.
pub const BATCH_WRITES_MAX: usize = 4096;

/// Most bytes (by [`crate::Write::weight`]) the proposer puts in one batch entry, unless a single
/// write is larger: that one goes in an entry of its own, as it would without batching. 4 MiB is
/// about etcd's request limit (1.5 MiB) rounded up for pipelines, and keeps an entry's encoding,
/// checksum and replication a few milliseconds of work.
pub const BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Most bytes the log store keeps in the buffer it encodes appended entries in, between appends:
/// a batch entry fits (see [`BATCH_BYTES_MAX`]); the buffer of an entry with one larger write is
/// let go after it.
pub const LOG_ENCODING_KEPT_BYTES: usize = BATCH_BYTES_MAX + 64 * 1024;

/// Forwarding requests a follower keeps in flight to the leader. While they are in flight, the
/// writes of every connection wait and go together in the next request, bounded as a batch is.
pub const FORWARDS_IN_FLIGHT_MAX: usize = 2;

const _: () = assert!(BATCH_BYTES_MAX < RECORD_PAYLOAD_BYTES_MAX);

/// Most bytes of log entry payloads a node keeps in memory (the newest entries, which are being
/// replicated and applied); older entries are read back from disk when needed. At least two
/// batches of [`BATCH_BYTES_MAX`] in flight fit.
pub const LOG_CACHE_BYTES_MAX: usize = 2 * BATCH_BYTES_MAX;

/// Bytes of entries one AppendEntries carries, when there are several to send: openraft is told
/// to send fewer (its `PayloadTooLarge` hint), so that each request arrives within moments. A
/// single entry larger than this goes alone.
pub const APPEND_BYTES_TARGET: usize = 16 * 1024 * 1024;

/// AppendEntries of at least this many bytes are sent by a task of their own, with a deadline
/// for their size, and kept in flight across openraft's per-request timeout (the heartbeat
/// interval), which a large entry cannot meet (`server/src/peer/append.rs`).
pub const APPEND_DETACHED_BYTES_MIN: usize = 1024 * 1024;

/// What `Command::weight` counts for each argument besides its bytes: its length prefix, an
/// enum tag or a number, as bincode writes them (at most 9 bytes, rounded up).
pub const ARGUMENT_OVERHEAD: usize = 16;

/// Most pipelined reads of one connection run under one set of shard read locks, their records
/// fetched into the cache together first (`StateMachine::read_pipeline`): more would hold off
/// the apply, which needs write locks, for longer.
pub const READS_LOCKED_TOGETHER_MAX: usize = 64;
