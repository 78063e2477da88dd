//! The changes this node has applied, in revision order, for watchers (DESIGN.md §9): the apply
//! path publishes each entry's changes ([`ChangeFeed::publish`]); a watcher reads from the
//! revision it wants ([`ChangeFeed::read`]) and waits for more ([`ChangeFeed::wait_past`]).
//!
//! The feed keeps a bounded window of recent changes, by count and bytes
//! ([`WATCH_HISTORY_CHANGES_MAX`], [`WATCH_HISTORY_BYTES_MAX`]), and never a part of a revision:
//! when the oldest changes leave the window, the whole revision they belong to goes with them,
//! and the window is complete from [`Compacted::oldest`] on. A watcher never has changes of its
//! own queued here: it reads the shared window at its own pace, so a slow watcher costs no
//! memory; when the window moves past it, its next read fails with [`Compacted`] and it is cut
//! off, never handed a gap.
//!
//! A snapshot installed from the leader skips revisions this node never applied one by one: the
//! window is emptied and starts after the snapshot ([`ChangeFeed::restart_after`]).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use redraft_core::key_range::KeyRange;
use redraft_core::keyspace_event::NotifyFlags;
use redraft_core::{Change, ChangeKind};
use tokio::sync::{broadcast, watch};

/// Most changes the window holds.
pub const WATCH_HISTORY_CHANGES_MAX: usize = 100_000;

/// Most bytes (keys and values, about) the window holds. Values are shared with the state
/// machine while the key still holds them, so this mostly counts values overwritten since.
/// Short keys and values may be slices of their entry's encoding, which they then keep alive
/// whole: at most twice what they count (`core/src/change_arena.rs`).
pub const WATCH_HISTORY_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Messages a subscriber may fall behind by before it is disconnected.
pub const MESSAGES_BUFFERED: usize = 4096;

/// The channel prefix of keyspace notifications about a key (database 0, the only one).
const KEYSPACE_PREFIX: &[u8] = b"__keyspace@0__:";

/// The channel prefix of keyspace notifications about an event.
const KEYEVENT_PREFIX: &[u8] = b"__keyevent@0__:";

fn joined(prefix: &[u8], name: &[u8]) -> Bytes {
    let mut channel = BytesMut::with_capacity(prefix.len() + name.len());
    channel.extend_from_slice(prefix);
    channel.extend_from_slice(name);
    channel.freeze()
}

/// The applied changes of one node.
pub struct ChangeFeed {
    window: Mutex<Window>,
    /// Messages published (PUBLISH) and keyspace notifications, as their entries apply, for this
    /// node's subscribers.
    messages: broadcast::Sender<Arc<Change>>,
    /// Which keyspace events this node publishes (`notify-keyspace-events`).
    keyspace_events: Mutex<NotifyFlags>,
    /// The applied index, for waiting watchers.
    applied: watch::Sender<u64>,
    changes_max: usize,
    bytes_max: usize,
}

struct Window {
    /// Invariant: in revision order; every change of each revision from `oldest` on; no batch
    /// empty. Each batch is the list one publish was handed (the list the state machine wrote
    /// the changes into as it applied them), kept as it came: every applied write publishes a
    /// change, and few are ever read, so each change is written once, and a read pays for its
    /// own copies (reference counts of the key and value).
    batches: VecDeque<VecDeque<Change>>,
    /// The changes in `batches`.
    len: usize,
    bytes: usize,
    /// The first revision the window is complete from.
    oldest: u64,
    /// The newest applied revision (the window is complete up to it).
    applied: u64,
}

/// A read from a revision that has left the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("revision {wanted} has been compacted: the oldest revision available is {oldest}")]
pub struct Compacted {
    pub wanted: u64,
    pub oldest: u64,
}

/// What a watcher wants: one key, or a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interest {
    Key(bytes::Bytes),
    Range(KeyRange),
}

impl Interest {
    /// Whether the change concerns this interest (a flush concerns every one).
    pub fn wants(&self, change: &Change) -> bool {
        change.kind.key().is_none_or(|key| self.wants_key(key))
    }

    /// Whether a change of `key` concerns this interest.
    pub fn wants_key(&self, key: &[u8]) -> bool {
        match self {
            Interest::Key(wanted) => wanted == key,
            Interest::Range(range) => range.contains(key),
        }
    }
}

/// Changes read from the feed.
#[derive(Debug, Default)]
pub struct Read {
    /// The wanted changes, whole revisions only, in order.
    pub changes: Vec<Arc<Change>>,
    /// Where the next read starts: everything before it was looked at.
    pub next: u64,
    /// The applied index when read: when `next` is past it, the reader is complete up to it.
    pub applied: u64,
}

impl Default for ChangeFeed {
    fn default() -> ChangeFeed {
        ChangeFeed::new(0)
    }
}

impl ChangeFeed {
    /// A feed whose window starts after `applied` (what a restart loaded from its snapshot).
    pub fn new(applied: u64) -> ChangeFeed {
        ChangeFeed::with_bounds(applied, WATCH_HISTORY_CHANGES_MAX, WATCH_HISTORY_BYTES_MAX)
    }

    /// A feed with its own window bounds (tests use small ones).
    pub fn with_bounds(applied: u64, changes_max: usize, bytes_max: usize) -> ChangeFeed {
        ChangeFeed {
            window: Mutex::new(Window {
                batches: VecDeque::new(),
                len: 0,
                bytes: 0,
                oldest: applied + 1,
                applied,
            }),
            messages: broadcast::channel(MESSAGES_BUFFERED).0,
            keyspace_events: Mutex::new(NotifyFlags::default()),
            applied: watch::channel(applied).0,
            changes_max,
            bytes_max,
        }
    }

    /// Adds the changes of entries applied up to `applied` (in order, all above the last
    /// published), and wakes the watchers.
    pub fn publish(&self, mut changes: Vec<Change>, applied: u64) {
        if changes.capacity() > 2 * changes.len() {
            // Room made for more changes than came (a batch of writes that changed little):
            // the window would hold it as long as the changes.
            changes.shrink_to_fit();
        }
        let bytes: usize = changes.iter().map(|change| change.kind.weight()).sum();
        let mut window = self.window.lock();
        debug_assert!(changes.iter().all(|c| c.revision > window.applied && c.revision <= applied));
        if !changes.is_empty() {
            window.len += changes.len();
            window.bytes += bytes;
            window.batches.push_back(changes.into());
        }
        window.applied = window.applied.max(applied);
        while window.len > self.changes_max || window.bytes > self.bytes_max {
            window.drop_oldest_revision();
        }
        let applied = window.applied;
        drop(window);
        self.applied.send_replace(applied);
    }

    /// Hands published messages (`ChangeKind::Message`) to this node's subscribers, and each
    /// keyspace event (`ChangeKind::Event`) as the messages `notify-keyspace-events` asks for:
    /// to `__keyspace@0__:<key>`, then to `__keyevent@0__:<event>`, as Redis sends them.
    pub fn publish_messages(&self, messages: Vec<Change>) {
        let flags = *self.keyspace_events.lock();
        let send = |revision, channel: Bytes, message: Bytes| {
            // No receiver is not an error: nobody on this node subscribes.
            let _ = self
                .messages
                .send(Arc::new(Change { revision, kind: ChangeKind::Message { channel, message } }));
        };
        for change in messages {
            match &change.kind {
                ChangeKind::Event { event, key } => {
                    let name = Bytes::from_static(event.name.as_bytes());
                    if flags.keyspace(event.class) {
                        send(change.revision, joined(KEYSPACE_PREFIX, key), name.clone());
                    }
                    if flags.keyevent(event.class) {
                        send(change.revision, joined(KEYEVENT_PREFIX, &name), key.clone());
                    }
                }
                _ => {
                    let _ = self.messages.send(Arc::new(change));
                }
            }
        }
    }

    /// Which keyspace events this node publishes.
    pub fn keyspace_events(&self) -> NotifyFlags {
        *self.keyspace_events.lock()
    }

    /// Publishes the keyspace events `flags` asks for from the next applied entry on; the state
    /// machine must record events ([`redraft_core::StateMachine::record_keyspace_events`])
    /// whenever `flags.publishes()`.
    pub fn set_keyspace_events(&self, flags: NotifyFlags) {
        *self.keyspace_events.lock() = flags;
    }

    /// The messages published from now on; a receiver more than [`MESSAGES_BUFFERED`] behind
    /// is told so (and its client disconnected, as Redis drops a slow subscriber).
    pub fn subscribe_messages(&self) -> broadcast::Receiver<Arc<Change>> {
        self.messages.subscribe()
    }

    /// Empties the window after a snapshot installed at `applied`: the revisions up to it were
    /// not applied one by one here.
    pub fn restart_after(&self, applied: u64) {
        let mut window = self.window.lock();
        window.batches.clear();
        window.len = 0;
        window.bytes = 0;
        window.oldest = applied + 1;
        window.applied = applied;
        drop(window);
        self.applied.send_replace(applied);
    }

    /// The newest applied revision and the oldest the window holds.
    pub fn bounds(&self) -> (u64, u64) {
        let window = self.window.lock();
        (window.applied, window.oldest)
    }

    /// Reads the changes `interest` wants from revision `from` on: whole revisions, stopping
    /// after the revision that brings the count to `max` or more.
    ///
    /// # Errors
    /// [`Compacted`] when `from` is older than the window (and not after everything applied).
    pub fn read(&self, from: u64, interest: &Interest, max: usize) -> Result<Read, Compacted> {
        let window = self.window.lock();
        if from < window.oldest {
            return Err(Compacted { wanted: from, oldest: window.oldest });
        }
        let first = window.batches.partition_point(|b| b.back().is_some_and(|c| c.revision < from));
        let start = window.batches.get(first).map_or(0, |b| b.partition_point(|c| c.revision < from));
        let mut read =
            Read { changes: Vec::new(), next: window.applied.max(from - 1) + 1, applied: window.applied };
        let mut last = None;
        let batches = window.batches.range(first..).enumerate();
        for change in batches.flat_map(|(i, b)| b.range(if i == 0 { start } else { 0 }..)) {
            if read.changes.len() >= max && last != Some(change.revision) {
                read.next = change.revision;
                break;
            }
            if interest.wants(change) {
                read.changes.push(Arc::new(change.clone()));
                last = Some(change.revision);
            }
        }
        Ok(read)
    }

    /// Waits until something past `revision` is applied, or the feed is dropped.
    pub async fn wait_past(&self, revision: u64) {
        let mut applied = self.applied.subscribe();
        let _ = applied.wait_for(|applied| *applied > revision).await;
    }

    /// The number of changes in the window and their bytes ([`ChangeKind::weight`]), for INFO
    /// memory.
    pub fn size(&self) -> (usize, usize) {
        let window = self.window.lock();
        (window.len, window.bytes)
    }
}

/// Where a start's replay begins recording changes for the window, found as the replayed
/// entries are counted one by one, oldest first, with the writes each carries
/// (`LogStore::count_replayed_writes`): from the newest entries that carry `changes_max` writes,
/// where each write changes a key at most once in the common case (a SET, a DEL of one key).
/// The window would drop the changes before them as the replay goes on; not recording them
/// spares copying every key and value replayed. A write that changes several keys (a
/// transaction, a DEL of many) only makes the window hold more than the newest `changes_max`,
/// one that changes none less: either way it holds every change from its oldest revision on,
/// and a reader asking for an older one is told it was compacted, as after a restart from a
/// snapshot. Holds only those newest entries, however long the log.
#[derive(Debug)]
pub struct ReplayHistory {
    changes_max: usize,
    /// The newest entries counted, oldest first: the fewest that carry `changes_max` writes, or
    /// all of them while they carry fewer.
    newest: VecDeque<(u64, usize)>,
    /// Invariant: the writes of the entries in `newest`.
    kept: usize,
    /// Entries and writes counted in all.
    pub entries: usize,
    pub writes: usize,
}

impl ReplayHistory {
    pub fn new(changes_max: usize) -> ReplayHistory {
        ReplayHistory { changes_max, newest: VecDeque::new(), kept: 0, entries: 0, writes: 0 }
    }

    /// Counts the next replayed entry, `index`, which carries `writes` writes.
    pub fn push(&mut self, index: u64, writes: usize) {
        self.entries += 1;
        self.writes += writes;
        self.kept += writes;
        self.newest.push_back((index, writes));
        while let Some(&(_, oldest)) = self.newest.front() {
            if self.kept - oldest < self.changes_max {
                break;
            }
            self.kept -= oldest;
            self.newest.pop_front();
        }
    }

    /// The first entry whose changes are recorded; `None` when the window keeps them all.
    pub fn start(&self) -> Option<u64> {
        self.newest.front().filter(|_| self.kept >= self.changes_max).map(|&(index, _)| index)
    }
}

impl Window {
    /// Drops the changes of the oldest revision, all in the oldest list (a publish only
    /// carries revisions newer than every one before it).
    fn drop_oldest_revision(&mut self) {
        let Some(batch) = self.batches.front_mut() else { return };
        let revision = batch.front().expect("no list is empty").revision;
        while batch.front().is_some_and(|c| c.revision == revision) {
            let change = batch.pop_front().expect("a front change");
            self.len -= 1;
            self.bytes -= change.kind.weight();
        }
        if batch.is_empty() {
            self.batches.pop_front();
        }
        self.oldest = self.oldest.max(revision + 1);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use redraft_core::DeleteReason;

    use redraft_core::ChangeKind;

    use super::*;

    fn put(revision: u64, key: &str) -> Change {
        Change {
            revision,
            kind: ChangeKind::Put {
                key: Bytes::copy_from_slice(key.as_bytes()),
                value: Bytes::from_static(b"v"),
                create_revision: revision,
                expire_at_ms: None,
            },
        }
    }

    fn revisions(read: &Read) -> Vec<u64> {
        read.changes.iter().map(|c| c.revision).collect()
    }

    const ALL: Interest = Interest::Range(KeyRange { start: Bytes::new(), end: None });

    /// The window keeps each publish's list as it came, one revision or several: a read starts
    /// inside a list and goes on across the next ones, and dropping the oldest revision takes
    /// it out of its list, whose other revisions stay.
    #[test]
    fn reads_and_drops_cross_the_published_lists() {
        let feed = ChangeFeed::with_bounds(0, 6, usize::MAX);
        feed.publish(vec![put(1, "a"), put(1, "b"), put(2, "c")], 2);
        feed.publish(vec![put(3, "d")], 3);
        feed.publish(vec![put(4, "e"), put(5, "f")], 5);
        assert_eq!(feed.size().0, 6);
        assert_eq!(feed.bounds(), (5, 1), "six changes fit the window");
        assert_eq!(revisions(&feed.read(2, &ALL, 10).expect("in the window")), [2, 3, 4, 5]);
        assert_eq!(revisions(&feed.read(5, &ALL, 10).expect("in the window")), [5]);
        let first = feed.read(1, &ALL, 3).expect("in the window");
        assert_eq!((revisions(&first), first.next), (vec![1, 1, 2], 3));
        feed.publish(vec![put(6, "g")], 6);
        assert_eq!(feed.bounds(), (6, 2), "revision 1 left, revision 2 of its list stayed");
        assert_eq!(feed.size().0, 5);
        assert_eq!(feed.read(1, &ALL, 10).map(|_| ()), Err(Compacted { wanted: 1, oldest: 2 }));
        assert_eq!(revisions(&feed.read(2, &ALL, 10).expect("in the window")), [2, 3, 4, 5, 6]);
        feed.publish(vec![put(7, "h"), put(7, "i"), put(7, "j")], 7);
        assert_eq!(feed.bounds(), (7, 4), "revisions 2 and 3 left, a list and a half");
        assert_eq!(feed.size().0, 6);
        assert_eq!(revisions(&feed.read(4, &ALL, 10).expect("in the window")), [4, 5, 6, 7, 7, 7]);
        let mut sparse = Vec::with_capacity(1000);
        sparse.push(put(8, "k"));
        feed.publish(sparse, 8);
        let kept = feed.window.lock().batches.back().map(VecDeque::capacity);
        assert!(kept.is_some_and(|capacity| capacity < 10), "a list is not kept with room for 1000");
    }

    /// Reads resume exactly where the last stopped, whole revisions at a time, filtered by key
    /// or range; an entry without changes still moves `next` and `applied`.
    #[test]
    fn reads_resume_without_gaps_or_repeats() {
        let feed = ChangeFeed::new(0);
        feed.publish(vec![put(1, "a"), put(1, "b"), put(1, "c")], 1);
        feed.publish(vec![], 2);
        feed.publish(vec![put(3, "b")], 3);
        let first = feed.read(1, &ALL, 2).expect("in the window");
        // Revision 2 changed nothing, so the next read may start at 3.
        assert_eq!((revisions(&first), first.next), (vec![1, 1, 1], 3), "a revision is never split");
        let rest = feed.read(first.next, &ALL, 2).expect("in the window");
        assert_eq!((revisions(&rest), rest.next, rest.applied), (vec![3], 4, 3));
        let only_b = feed.read(1, &Interest::Key(Bytes::from_static(b"b")), 10).expect("in the window");
        assert_eq!(revisions(&only_b), [1, 3]);
        let range = Interest::Range(KeyRange::prefix(b"c"));
        assert_eq!(revisions(&feed.read(1, &range, 10).expect("in the window")), [1]);
        // Reading past the end waits for nothing and repeats nothing.
        let nothing = feed.read(4, &ALL, 10).expect("the future is not compacted");
        assert_eq!((nothing.changes.len(), nothing.next), (0, 4));
    }

    /// The window drops whole revisions, oldest first, and a read of a dropped revision says
    /// which is the oldest left; a flush concerns every interest.
    #[test]
    fn the_window_is_bounded_and_says_what_it_dropped() {
        let feed = ChangeFeed::with_bounds(0, 3, usize::MAX);
        feed.publish(vec![put(1, "a"), put(1, "b")], 1);
        feed.publish(vec![put(2, "a"), put(2, "b")], 2);
        assert_eq!(feed.bounds(), (2, 2));
        assert_eq!(feed.read(1, &ALL, 10).unwrap_err(), Compacted { wanted: 1, oldest: 2 });
        feed.publish(vec![Change { revision: 3, kind: ChangeKind::Flush }], 3);
        let key = Interest::Key(Bytes::from_static(b"zzz"));
        assert_eq!(revisions(&feed.read(2, &key, 10).expect("in the window")), [3]);
        let delete = Change {
            revision: 4,
            kind: ChangeKind::Delete { key: Bytes::from_static(b"a"), reason: DeleteReason::Expiry },
        };
        feed.publish(vec![delete], 4);
        assert_eq!(
            revisions(&feed.read(3, &Interest::Key(Bytes::from_static(b"a")), 10).expect("kept")),
            [3, 4]
        );
        let by_bytes = ChangeFeed::with_bounds(0, usize::MAX, 100);
        by_bytes.publish(vec![put(1, "a")], 1);
        by_bytes.publish(vec![put(2, "b")], 2);
        assert_eq!(by_bytes.bounds(), (2, 2), "two changes of about 66 bytes do not fit 100");
        by_bytes.restart_after(10);
        assert_eq!(by_bytes.read(5, &ALL, 1).unwrap_err().oldest, 11);
        assert_eq!(by_bytes.read(11, &ALL, 1).expect("after the snapshot").next, 11);
    }

    /// A replay records from the newest entries that carry the window's worth of writes: from
    /// the entry that completes it, or from the first when they all fit.
    #[test]
    fn a_replay_records_the_newest_writes_the_window_holds() {
        let start = |changes_max, writes: &[(u64, usize)]| {
            let mut history = ReplayHistory::new(changes_max);
            writes.iter().for_each(|&(index, count)| history.push(index, count));
            assert_eq!(history.writes, writes.iter().map(|w| w.1).sum::<usize>());
            history.start()
        };
        let writes = [(5, 2), (6, 0), (7, 3), (8, 1)];
        assert_eq!(start(4, &writes), Some(7));
        assert_eq!(start(1, &writes), Some(8));
        assert_eq!(start(6, &writes), Some(5));
        assert_eq!(start(7, &writes), None);
        assert_eq!(start(1, &[]), None);
        let mut long = ReplayHistory::new(3);
        (1..=100_000).for_each(|index| long.push(index, 1));
        assert_eq!((long.start(), long.newest.len(), long.entries), (Some(99_998), 3, 100_000));
    }
}
