//! One watcher's stream (DESIGN.md §9): every change its interest wants, in revision order,
//! exactly once from the revision it starts at, read from this node's [`ChangeFeed`] at the
//! watcher's own pace; a progress item (the revision the stream is complete up to) whenever it
//! has been quiet for its interval; and, when it falls behind the feed's window, a
//! [`Compacted`] item that ends it, never a gap.
//!
//! One revision may hold many changes (a transaction, a batch of writes from many clients), so
//! a place in a stream is a [`Resume`]: the next revision, and how many of its changes this
//! watcher was already handed. A watcher cut off in the middle of a revision resumes with the
//! rest of it, on this node or any other: every node's feed holds the same changes per revision.
//!
//! HTTP's Server-Sent Events and WebSocket watches send these items as JSON
//! (`http/watch.rs`); the simulator's watchers take them as they are, through the same calls,
//! across the faults it injects.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redraft_core::Change;

use crate::change_feed::{ChangeFeed, Compacted, Interest};

/// Changes read from the feed at a time.
const READ_BATCH: usize = 1024;

/// Whether the watcher may see a change to this key (its user's read permission).
pub type Readable = Box<dyn Fn(&Bytes) -> bool + Send + Sync>;

/// What a watch sends next.
#[derive(Clone, Debug, PartialEq)]
pub enum WatchItem {
    Change(Arc<Change>),
    /// Every change up to this revision was sent.
    Progress(u64),
    /// The watcher fell behind the window; the stream ends after this.
    Compacted(Compacted),
}

/// Where a stream stands: every change before `revision` was handed out, and the first `skip`
/// changes (of those the stream wants) of `revision` itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    pub revision: u64,
    pub skip: usize,
}

impl Resume {
    /// From the start of `revision`.
    pub fn at(revision: u64) -> Resume {
        Resume { revision, skip: 0 }
    }
}

/// One watcher's place in a feed.
pub struct WatchStream {
    feed: Arc<ChangeFeed>,
    interest: Interest,
    readable: Readable,
    /// The next revision to read from the feed.
    next: u64,
    /// Changes read but not handed out yet.
    queued: VecDeque<Arc<Change>>,
    /// The revision of the last change handed out, and how many of that revision's were.
    handed: (u64, usize),
    progress: Duration,
    done: bool,
}

impl WatchStream {
    /// A stream of the changes `interest` wants from `from` (its revision at least 1), with a
    /// progress item after each `progress` without one; changes to keys not `readable` are left
    /// out.
    pub fn new(
        feed: Arc<ChangeFeed>,
        interest: Interest,
        from: Resume,
        progress: Duration,
        readable: Readable,
    ) -> WatchStream {
        let next = from.revision.max(1);
        WatchStream {
            feed,
            interest,
            readable,
            next,
            queued: VecDeque::new(),
            handed: (next, from.skip),
            progress,
            done: false,
        }
    }

    /// The next item, waiting for one; `None` once the stream is over. Cancel-safe: waiting is
    /// its only await, and nothing is taken from the feed or the queue across it.
    pub async fn next_item(&mut self) -> Option<WatchItem> {
        loop {
            if let Some(change) = self.queued.pop_front() {
                self.handed = match self.handed {
                    (revision, count) if revision == change.revision => (revision, count + 1),
                    _ => (change.revision, 1),
                };
                return Some(WatchItem::Change(change));
            }
            if self.done {
                return None;
            }
            match self.feed.read(self.next, &self.interest, READ_BATCH) {
                Err(compacted) => {
                    self.done = true;
                    return Some(WatchItem::Compacted(compacted));
                }
                Ok(read) => {
                    // Of the first revision, the changes handed out before a resume are left out.
                    let (first, mut skip) = self.handed;
                    for change in read.changes {
                        if !change.kind.key().is_none_or(|key| (self.readable)(key)) {
                            continue;
                        }
                        if change.revision == first && skip > 0 {
                            skip -= 1;
                            continue;
                        }
                        self.queued.push_back(change);
                    }
                    self.next = read.next;
                    if !self.queued.is_empty() || read.next <= read.applied {
                        continue;
                    }
                    // Caught up: wait for more, or say how far the stream is complete.
                    let waited =
                        tokio::time::timeout(self.progress, self.feed.wait_past(self.next - 1)).await;
                    if waited.is_err() {
                        return Some(WatchItem::Progress(self.complete()));
                    }
                }
            }
        }
    }

    /// The revision every change up to which was handed out.
    pub fn complete(&self) -> u64 {
        self.queued.front().map_or(self.next, |change| change.revision) - 1
    }

    /// Where a stream taking over from this one starts, to hand out every change once.
    pub fn resume(&self) -> Resume {
        // In the middle of a revision, or not yet into the one a resume started in.
        let next = self.queued.front().map_or(self.next, |change| change.revision);
        if next == self.handed.0 {
            Resume { revision: next, skip: self.handed.1 }
        } else {
            Resume::at(next)
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use redraft_core::key_range::KeyRange;
    use redraft_core::ChangeKind;

    use super::*;

    fn put(revision: u64, key: &str) -> Change {
        let key = Bytes::copy_from_slice(key.as_bytes());
        let kind =
            ChangeKind::Put { key, value: Bytes::new(), create_revision: revision, expire_at_ms: None };
        Change { revision, kind }
    }

    fn key_of(item: Option<WatchItem>) -> String {
        match item {
            Some(WatchItem::Change(change)) => {
                format!("{}@{}", String::from_utf8_lossy(change.kind.key().expect("a key")), change.revision)
            }
            other => format!("{other:?}"),
        }
    }

    /// A stream cut off inside a revision resumes, on another feed with the same changes, with
    /// the rest of that revision; left out keys (no permission) are not counted.
    #[tokio::test]
    async fn a_resume_inside_a_revision_hands_out_the_rest_of_it() {
        let feeds = [Arc::new(ChangeFeed::new(0)), Arc::new(ChangeFeed::new(0))];
        for feed in &feeds {
            feed.publish(vec![put(1, "a")], 1);
            feed.publish(vec![put(2, "b"), put(2, "secret"), put(2, "c"), put(2, "d")], 2);
            feed.publish(vec![put(3, "e")], 3);
        }
        let all = Interest::Range(KeyRange { start: Bytes::new(), end: None });
        let readable = || -> Readable { Box::new(|key: &Bytes| key.as_ref() != b"secret") };
        let progress = Duration::from_millis(10);
        let mut first = WatchStream::new(feeds[0].clone(), all.clone(), Resume::at(1), progress, readable());
        assert_eq!(key_of(first.next_item().await), "a@1");
        assert_eq!(first.resume(), Resume::at(2));
        assert_eq!(key_of(first.next_item().await), "b@2");
        assert_eq!(key_of(first.next_item().await), "c@2");
        let cut = first.resume();
        assert_eq!(cut, Resume { revision: 2, skip: 2 });
        assert_eq!(first.complete(), 1);

        let mut second = WatchStream::new(feeds[1].clone(), all, cut, progress, readable());
        assert_eq!(second.resume(), cut, "a resume not yet read from keeps its place");
        assert_eq!(key_of(second.next_item().await), "d@2");
        assert_eq!(key_of(second.next_item().await), "e@3");
        assert_eq!(second.next_item().await, Some(WatchItem::Progress(3)));
        assert_eq!(second.resume(), Resume::at(4));
    }
}
