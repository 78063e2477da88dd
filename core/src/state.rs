//! The state machine: applies replicated entries to the sharded map and answers reads.
//!
//! There is one apply path ([`StateMachine::apply`], serialised by an internal lock) and any
//! number of concurrent readers ([`StateMachine::read`]). Consistency between them rests on one
//! rule: the state-machine time is changed only while the applying entry holds the write locks of
//! every shard it touches, and a reader loads the time while holding the read locks of every shard
//! it reads. A reader therefore sees each of its shards, and the time, as of one log index.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use smallvec::SmallVec;

use crate::acl::Users;
use crate::change::{Change, DeleteReason};
use crate::command::Command;
use crate::entry::{AclChange, LogEntry, Payload, SessionRef, Watch, Write};
use crate::exec;
use crate::fnv::Fnv64;
use crate::key_range::KeyRange;
use crate::keyspace_event::Event;
use crate::limits::READS_LOCKED_TOGETHER_MAX;
use crate::map::{Entry, ShardedMap, WriteSet};
use crate::reply::Reply;
use crate::session::{Session, SessionCheck, SessionTable};
use crate::txn::KeyValue;
use crate::types::Value;

/// How to build a state machine.
#[derive(Clone, Copy, Debug)]
pub struct StateMachineConfig {
    /// The map has `2^shard_bits` shards.
    pub shard_bits: u32,
    /// Keys the hash that places keys in shards: fixed in simulation, random per process in
    /// production. Nothing observable (replies, snapshots, digests) depends on it except the
    /// order of SCAN.
    pub hash_seed: u64,
    /// Most client sessions remembered.
    pub session_capacity: usize,
}

impl Default for StateMachineConfig {
    fn default() -> StateMachineConfig {
        StateMachineConfig {
            shard_bits: crate::limits::SHARD_BITS_DEFAULT,
            hash_seed: 0,
            session_capacity: crate::limits::SESSION_COUNT_MAX,
        }
    }
}

/// The keyspace with its replicated metadata.
pub struct StateMachine {
    map: ShardedMap,
    /// The apply path's own state; holding this lock is what makes apply single-threaded.
    applying: Mutex<SessionTable>,
    /// The stamp of the newest applied entry, never decreasing. Written only under the write
    /// locks of the shards the entry touches (see the module comment).
    time_ms: AtomicU64,
    /// Invariant: the index of the newest applied entry; strictly increasing.
    applied_index: AtomicU64,
    session_capacity: usize,
    /// The users, replaced whole by each change (readers keep the table they took).
    users: RwLock<Arc<Users>>,
    /// Invariant: grows with every change to `users`, so a connection can tell that the user it
    /// authenticated as may have changed.
    users_version: AtomicU64,
    /// Whether applying records the keyspace events commands raise (this node publishes
    /// keyspace notifications).
    keyspace_events: AtomicBool,
}

impl StateMachine {
    /// An empty state machine.
    pub fn new(config: StateMachineConfig) -> StateMachine {
        StateMachine {
            map: ShardedMap::new(config.shard_bits, config.hash_seed),
            applying: Mutex::new(SessionTable::with_capacity(config.session_capacity)),
            time_ms: AtomicU64::new(0),
            applied_index: AtomicU64::new(0),
            session_capacity: config.session_capacity,
            users: RwLock::new(Arc::new(Users::default())),
            users_version: AtomicU64::new(0),
            keyspace_events: AtomicBool::new(false),
        }
    }

    /// The users as of the last applied change.
    pub fn users(&self) -> Arc<Users> {
        self.users.read().clone()
    }

    /// A number that changes whenever the users do.
    pub fn users_version(&self) -> u64 {
        self.users_version.load(Ordering::Acquire)
    }

    fn replace_users(&self, users: Users) {
        *self.users.write() = Arc::new(users);
        self.users_version.fetch_add(1, Ordering::AcqRel);
    }

    /// Applies a change to the users; the reply is what ACL SETUSER or ACL DELUSER answers.
    fn apply_acl(&self, change: &AclChange) -> Reply {
        let mut users = (*self.users()).clone();
        let result = match change {
            AclChange::SetUser { name, rules } => users.set_user(name, rules).map(|()| Reply::Ok),
            AclChange::DelUser { names } => users.del_users(names).map(|n| Reply::Integer(n as i64)),
        };
        match result {
            Ok(reply) => {
                self.replace_users(users);
                reply
            }
            Err(error) => Reply::Error(error),
        }
    }

    /// Records the keyspace events of the entries applied from now on among their changes
    /// (`ChangeKind::Event`), or stops; a node does while it publishes keyspace notifications.
    pub fn record_keyspace_events(&self, on: bool) {
        self.keyspace_events.store(on, Ordering::Release);
    }

    /// The map, for callers that read it directly (benchmarks, listing).
    pub fn map(&self) -> &ShardedMap {
        &self.map
    }

    /// The state-machine time: the stamp of the newest applied entry.
    pub fn time_ms(&self) -> u64 {
        self.time_ms.load(Ordering::Acquire)
    }

    /// The index of the newest applied entry.
    pub fn applied_index(&self) -> u64 {
        self.applied_index.load(Ordering::Acquire)
    }

    /// Applies the entry at `log_index` and returns one reply for each client write it carries,
    /// in order (one reply for an entry that carries none).
    ///
    /// # Panics
    /// If `log_index` is not above the last applied index: applying out of order would corrupt
    /// the replicated state.
    pub fn apply(&self, log_index: u64, entry: &LogEntry) -> Vec<Reply> {
        self.apply_recording(log_index, entry, None)
    }

    /// Applies an entry as [`StateMachine::apply`] does and, when `changes` is given, appends to
    /// it every change the entry made to the keyspace, in order (the stream watch reads).
    ///
    /// # Panics
    /// As [`StateMachine::apply`].
    pub fn apply_recording(
        &self,
        log_index: u64,
        entry: &LogEntry,
        changes: Option<&mut Vec<Change>>,
    ) -> Vec<Reply> {
        let mut sessions = self.applying.lock();
        let applied = self.applied_index.load(Ordering::Acquire);
        assert!(log_index > applied, "entry {log_index} applied after entry {applied}");
        let now_ms = self.time_ms().max(entry.stamp_ms);
        let replies = match &entry.payload {
            // Version-1 entries carry one write each; they apply as a batch of one.
            Payload::Command { session, command } => self.apply_writes(
                &mut sessions,
                &[Write::Command { session: *session, command: command.clone() }],
                (now_ms, log_index),
                changes,
                entry,
            ),
            Payload::Transaction { session, watches, commands } => self.apply_writes(
                &mut sessions,
                &[Write::Transaction {
                    session: *session,
                    watches: watches.clone(),
                    commands: commands.clone(),
                }],
                (now_ms, log_index),
                changes,
                entry,
            ),
            Payload::Batch { writes } => {
                self.apply_writes(&mut sessions, writes, (now_ms, log_index), changes, entry)
            }
            Payload::TimeAdvance => {
                // No shard changes, so a reader sees the same keys at the old or the new time.
                self.time_ms.store(now_ms, Ordering::Release);
                vec![Reply::Ok]
            }
            Payload::ExpireBatch { keys } => {
                let mut view = self.map.write_keys(keys);
                if changes.is_some() {
                    view.record_changes(DeleteReason::Expiry, keys.len(), (entry.encoding(), entry.placed()));
                    if self.keyspace_events.load(Ordering::Acquire) {
                        view.record_events();
                    }
                }
                self.time_ms.store(now_ms, Ordering::Release);
                let mut removed = 0;
                for key in keys {
                    // The key may have been written again since the leader collected it.
                    if view.entry(key).is_some_and(|e| !e.is_live(now_ms)) {
                        view.remove(key, log_index);
                        view.notify(Event::EXPIRED, key, log_index);
                        removed += 1;
                    }
                }
                if let Some(changes) = changes {
                    changes.extend(view.take_changes());
                }
                self.applied_index.store(log_index, Ordering::Release);
                vec![Reply::Integer(removed)]
            }
        };
        self.applied_index.store(log_index, Ordering::Release);
        replies
    }

    /// Answers a read-only command from the applied state, at the state-machine time.
    ///
    /// # Panics
    /// If `command` is a write; writes go through the log.
    pub fn read(&self, command: &Command) -> Reply {
        assert!(!command.is_write(), "{} must go through the log", command.name().as_str());
        match command.keys() {
            Some(keys) if keys.len() == 1 => exec::read(command, &self.map.read_key(keys[0]), self.time_ms()),
            Some(keys) => {
                let view = self.map.read_keys(keys);
                exec::read(command, &view, self.time_ms())
            }
            None => {
                let view = self.map.read_all();
                exec::read(command, &view, self.time_ms())
            }
        }
    }

    /// [`StateMachine::read`] of each command in order, replies to `answer`. A run of up to
    /// [`READS_LOCKED_TOGETHER_MAX`] that all name keys reads one view of their shards, the keys'
    /// slots and records fetched together first (`Locked::warm`), as the apply does for writes:
    /// pipelined GETs waited on each key's slot, then record, in turn (a quarter of the node's
    /// samples in `perf record` of GET -P16). One view is one moment, as a linearizable read may.
    pub fn read_pipeline(&self, commands: &[&Command], mut answer: impl FnMut(Reply)) {
        for run in commands.chunks(READS_LOCKED_TOGETHER_MAX) {
            let mut keys: SmallVec<[&Bytes; 16]> = SmallVec::new();
            let keyed = run.len() > 1
                && run.iter().all(|command| {
                    let before = keys.len();
                    command.for_each_key(|key| keys.push(key)) && keys.len() > before
                });
            if !keyed {
                run.iter().for_each(|command| answer(self.read(command)));
                continue;
            }
            let view = self.map.read_keys(&keys);
            view.warm(&keys);
            let now_ms = self.time_ms();
            for command in run {
                assert!(!command.is_write(), "{} must go through the log", command.name().as_str());
                answer(exec::read(command, &view, now_ms));
            }
        }
    }

    /// The token WATCH remembers for a key: odd for a live key (its modification index), even for
    /// an absent one (its deletion mark, [`ShardedMap::deletion_mark`]). EXEC aborts when a watched key's token
    /// has changed; tokens of absent and live keys never collide.
    pub fn watch_token(&self, key: &Bytes) -> u64 {
        let view = self.map.read_key(key);
        token(&self.map, &view, key, self.time_ms())
    }

    /// A live key with its revisions and TTL left, and the revision the answer holds at (the
    /// key did not change between the two).
    pub fn get_kv(&self, key: &[u8]) -> (Option<KeyValue>, u64) {
        let view = self.map.read_key(key);
        let now_ms = self.time_ms();
        let found = view.live(key, now_ms).map(|stored| KeyValue::of(stored, now_ms));
        (found, self.applied_index())
    }

    /// Live keys in `range`, in key order, strictly after `after`, at most `limit`, at `now_ms`
    /// of the state; the flag says whether more follow. The page is one consistent view of the
    /// keyspace, at the revision returned last.
    pub fn list_range(
        &self,
        range: &KeyRange,
        after: Option<&[u8]>,
        limit: usize,
    ) -> (Vec<(Bytes, KeyValue)>, bool, u64) {
        let view = self.map.read_all();
        let now_ms = self.time_ms();
        let (found, more) =
            view.list_range(range, after, limit, now_ms, |stored| KeyValue::of(stored, now_ms));
        (found, more, self.applied_index())
    }

    /// The number of live keys in `range` strictly after `after`, and the revision it holds at.
    pub fn count_range(&self, range: &KeyRange, after: Option<&[u8]>) -> (usize, u64) {
        let view = self.map.read_all();
        (view.count_range(range, after, self.time_ms()), self.applied_index())
    }

    /// Whether a read of `command` at `now_ms`, by the serving node's clock, could see a key
    /// whose deadline has passed by that clock but not by the state's time, which moves only
    /// with entries (DESIGN.md §3): such a read first commits a time advance, so that the key
    /// reads as absent. A command that lists the keyspace (KEYS, SCAN) asks about every key.
    pub fn read_outlives_deadline(&self, command: &Command, now_ms: u64) -> bool {
        let time = self.time_ms();
        if now_ms <= time {
            return false;
        }
        let mut passed = false;
        let keyed = command.for_each_key(|key| {
            passed = passed || self.key_outlives_deadline(key, now_ms);
        });
        match command {
            _ if keyed => passed,
            // DBSIZE counts the keys stored, expired ones not yet removed included, as Redis's
            // does: no time advance makes it more exact.
            Command::DbSize => false,
            _ => self.range_outlives_deadline(now_ms),
        }
    }

    /// [`StateMachine::read_outlives_deadline`] for a read of one key.
    pub fn key_outlives_deadline(&self, key: &[u8], now_ms: u64) -> bool {
        // Most reads meet a shard where nothing expires by `now_ms`: one lock and a peek.
        if !self.map.may_expire_by(key, now_ms) {
            return false;
        }
        let time = self.time_ms();
        let view = self.map.read_key(key);
        let deadline = view.entry(key).and_then(|stored| stored.expire_at_ms());
        deadline.is_some_and(|at| at > time && at <= now_ms)
    }

    /// [`StateMachine::read_outlives_deadline`] for a read of many keys: whether any key may
    /// have a deadline between the state's time and `now_ms`. Expired keys not yet removed by
    /// active expiry, and stale bookkeeping of keys whose TTL went away, count too while any
    /// key has a TTL (the advance is then not needed, and harmless); with none, a read of the
    /// whole keyspace never writes.
    pub fn range_outlives_deadline(&self, now_ms: u64) -> bool {
        now_ms > self.time_ms()
            && self.map.ttl_key_count() > 0
            && self.map.earliest_deadline().is_some_and(|at| at <= now_ms)
    }

    /// Up to `max` keys expired at `now_ms`, for the leader's next expiry batch.
    pub fn collect_expired(&self, now_ms: u64, max: usize) -> Vec<Bytes> {
        self.map.collect_expired(now_ms, max)
    }

    /// A consistent copy of the whole state, keys in key order, for snapshots and digests.
    /// Keys and values up to `INLINE_VALUE_BYTES_MAX` bytes are copied, longer values shared;
    /// applying waits while the copy is made.
    pub fn freeze(&self) -> Frozen {
        let sessions = self.applying.lock();
        let view = self.map.read_all();
        let mut keys: Vec<(Bytes, Entry)> = Vec::with_capacity(view.shards().map(|s| s.len()).sum());
        for shard in view.shards() {
            keys.extend(shard.iter().map(|s| (Bytes::copy_from_slice(s.key()), s.to_entry())));
        }
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Frozen { keys, ..self.frozen_rest(&sessions) }
    }

    /// Pins the keyspace at the applied index for a snapshot that reads it in place
    /// (`pin.rs`), and copies the rest of the state (its `keys` left empty); `None` when a pin
    /// is held already. Applying waits only while each shard is marked, not for the keys.
    pub(crate) fn pin(&self) -> Option<Frozen> {
        let sessions = self.applying.lock();
        self.map.pin(self.applied_index()).then(|| self.frozen_rest(&sessions))
    }

    /// Everything of the state but its keys, read under the apply lock.
    fn frozen_rest(&self, sessions: &SessionTable) -> Frozen {
        let users = self.users();
        Frozen {
            applied_index: self.applied_index(),
            time_ms: self.time_ms(),
            keys: Vec::new(),
            sessions: sessions.iter().map(|(id, s)| (id, s.clone())).collect(),
            deletion_marks: self.map.deletion_marks(),
            // A store whose users were never changed writes none.
            users: if *users == Users::default() { Vec::new() } else { users.to_rules() },
        }
    }

    /// Replaces the whole state with the given one (installing a snapshot).
    pub fn install(&self, frozen: Frozen) {
        let Frozen { keys, applied_index, time_ms, sessions, deletion_marks, users } = frozen;
        let rest = Frozen { keys: Vec::new(), applied_index, time_ms, sessions, deletion_marks, users };
        let expected = keys.len();
        self.install_streamed(keys, expected, || Some(rest));
    }

    /// Installs a snapshot whose keys come from `keys` while they are still being read (a
    /// restart reads a snapshot on one thread and installs it on another), then takes the rest
    /// of the state from `rest` once `keys` ends: a [`Frozen`] whose own keys are ignored, or
    /// `None` when reading failed, which leaves the state empty. Returns whether it installed.
    /// `expected` keys size the shards' tables up front.
    pub fn install_streamed(
        &self,
        keys: impl IntoIterator<Item = (Bytes, Entry)>,
        expected: usize,
        rest: impl FnOnce() -> Option<Frozen>,
    ) -> bool {
        let mut sessions = self.applying.lock();
        let mut view = self.map.write_all();
        // Every deletion mark is set below, from the snapshot's.
        view.load(keys, expected, 0);
        // Users that do not rebuild (a snapshot from another version) fail the install like a
        // damaged snapshot: falling back to the default user would open every door.
        let rest =
            rest().and_then(|frozen| Users::from_rules(&frozen.users).ok().map(|users| (frozen, users)));
        let Some((frozen, users)) = rest else {
            view.clear(0);
            *sessions = SessionTable::with_capacity(self.session_capacity);
            self.applied_index.store(0, Ordering::Release);
            return false;
        };
        self.replace_users(users);
        *sessions = SessionTable::with_capacity(self.session_capacity);
        for (client_id, session) in frozen.sessions {
            sessions.insert(client_id, session);
        }
        self.map.set_deletion_marks(&frozen.deletion_marks);
        self.time_ms.store(frozen.time_ms, Ordering::Release);
        self.applied_index.store(frozen.applied_index, Ordering::Release);
        true
    }

    /// Applies client writes in order under one set of locks, the union of what they touch, with
    /// one reply each.
    /// The applied index is set before the locks are released, so that a reader holding the
    /// locks of its keys never sees their state with an older index (the revision the HTTP API
    /// labels a read with).
    fn apply_writes(
        &self,
        sessions: &mut SessionTable,
        writes: &[Write],
        (now_ms, log_index): (u64, u64),
        changes: Option<&mut Vec<Change>>,
        entry: &LogEntry,
    ) -> Vec<Reply> {
        let mut keys = Vec::with_capacity(writes.len());
        let some_keys = writes.iter().all(|write| write.push_keys(&mut keys));
        let mut view = lock_for_write(&self.map, some_keys.then_some(&keys[..]));
        if some_keys && keys.len() > 1 {
            view.warm(&keys);
        }
        if changes.is_some() {
            view.record_changes(DeleteReason::Client, writes.len(), (entry.encoding(), entry.placed()));
            if self.keyspace_events.load(Ordering::Acquire) {
                view.record_events();
            }
        }
        self.time_ms.store(now_ms, Ordering::Release);
        let replies = writes
            .iter()
            .map(|write| {
                with_session(sessions, write.session(), log_index, || match write {
                    Write::Command { command, .. } => exec::write(command, &mut view, now_ms, log_index),
                    Write::Transaction { watches, commands, .. } => {
                        self.transaction(&mut view, watches, commands, now_ms, log_index)
                    }
                    Write::Acl { change, .. } => self.apply_acl(change),
                    Write::Txn { txn, .. } => txn.apply(&mut view, now_ms, log_index),
                })
            })
            .collect();
        if let Some(changes) = changes {
            if changes.is_empty() {
                *changes = view.take_changes();
            } else {
                changes.extend(view.take_changes());
            }
        }
        self.applied_index.store(log_index, Ordering::Release);
        replies
    }

    /// Runs a MULTI/EXEC block on shards already locked for it (its commands' keys and its
    /// watched keys): nothing if a watched key changed since WATCH.
    fn transaction(
        &self,
        view: &mut WriteSet<'_>,
        watches: &[Watch],
        commands: &[Command],
        now_ms: u64,
        log_index: u64,
    ) -> Reply {
        if watches.iter().any(|w| token(&self.map, view, &w.key, now_ms) != w.token) {
            return Reply::NilArray;
        }
        Reply::Array(commands.iter().map(|c| exec::write(c, view, now_ms, log_index)).collect())
    }
}

/// The whole state at one applied index: what a snapshot holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Frozen {
    pub applied_index: u64,
    pub time_ms: u64,
    /// Every stored key, expired or not, in key order.
    pub keys: Vec<(Bytes, Entry)>,
    /// Every client session, in client-id order.
    pub sessions: Vec<(u64, Session)>,
    /// The deletion marks WATCH compares for absent keys ([`ShardedMap::deletion_mark`]).
    pub deletion_marks: Vec<u64>,
    /// The users, as (name, rules) ([`Users::to_rules`]); empty for users never changed.
    pub users: Vec<(String, String)>,
}

impl Frozen {
    /// A digest of the replicated state (keys, values, TTLs, modification indexes, sessions and
    /// time): equal on every replica that applied the same entries, whatever its hash seed.
    pub fn digest(&self) -> u64 {
        let mut hash = Fnv64::default();
        hash.write(&self.time_ms.to_le_bytes());
        for (key, entry) in &self.keys {
            hash.write(&(key.len() as u64).to_le_bytes());
            hash.write(key);
            match &entry.value {
                Value::String(value) => {
                    hash.write(&(value.len() as u64).to_le_bytes());
                    hash.write(value);
                }
                Value::Aggregate(aggregate) => {
                    hash.write(aggregate.kind().as_str().as_bytes());
                    hash.write(&(aggregate.part_count() as u64).to_le_bytes());
                    for part in aggregate.parts() {
                        hash.write(&(part.len() as u64).to_le_bytes());
                        hash.write(&part);
                    }
                }
            }
            hash.write(&entry.expire_at_ms.map_or(u64::MAX, |at| at).to_le_bytes());
            hash.write(&entry.mod_index.to_le_bytes());
            hash.write(&entry.create_index.to_le_bytes());
        }
        for mark in &self.deletion_marks {
            hash.write(&mark.to_le_bytes());
        }
        for (client_id, session) in &self.sessions {
            hash.write(&client_id.to_le_bytes());
            hash.write(&session.sequence.to_le_bytes());
            hash.write(&session.log_index.to_le_bytes());
        }
        for (name, rules) in &self.users {
            hash.write(&(name.len() as u64).to_le_bytes());
            hash.write(name.as_bytes());
            hash.write(&(rules.len() as u64).to_le_bytes());
            hash.write(rules.as_bytes());
        }
        hash.0
    }
}

fn with_session(
    sessions: &mut SessionTable,
    session: Option<SessionRef>,
    log_index: u64,
    apply: impl FnOnce() -> Reply,
) -> Reply {
    let Some(request) = session else { return apply() };
    match sessions.check(request) {
        SessionCheck::Apply => {
            let reply = apply();
            sessions.record(request, log_index, reply.clone());
            reply
        }
        SessionCheck::Duplicate(reply) | SessionCheck::Refuse(reply) => reply,
    }
}

fn lock_for_write<'a>(map: &'a ShardedMap, keys: Option<&[&Bytes]>) -> WriteSet<'a> {
    match keys {
        Some(keys) => map.write_keys(keys),
        None => map.write_all(),
    }
}

fn token<G: std::ops::Deref<Target = crate::map::Shard>>(
    map: &ShardedMap,
    view: &crate::map::Locked<'_, G>,
    key: &[u8],
    now_ms: u64,
) -> u64 {
    match view.live(key, now_ms) {
        Some(entry) => entry.mod_index() * 2 + 1,
        None => map.deletion_mark(key) * 2,
    }
}
