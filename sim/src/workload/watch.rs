//! The watchers: services following every change through the watch stream every node serves
//! (`redraft_server::watch_stream`, the stream behind HTTP's `/v1/watch`), while the other
//! clients write and the nemesis crashes, pauses and cuts off nodes.
//!
//! A watcher follows one node. When that node goes down it goes on from another, from where it
//! stood ([`Resume`], as a browser's `Last-Event-ID` does: the rest of a revision it was cut off
//! in). A node whose window no longer holds that place ([`WatchItem::Compacted`], a node restarted
//! from a snapshot) is passed over for the next; when no node holds it, the watcher starts a new
//! segment from the oldest revision it is offered, and that gap is recorded, not hidden.
//! What the watchers saw is checked against the history and the nodes' feeds at the end
//! (`invariants/watch.rs`).

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;
use redraft_core::Change;
use redraft_server::change_feed::Interest;
use redraft_server::node::Node;
use redraft_server::watch_stream::{Resume, WatchItem, WatchStream};
use tokio::time::Instant;

/// How often a quiet stream reports progress, and a watcher looks whether its node still runs.
const POLL: Duration = Duration::from_millis(100);

/// Where a watcher starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchStart {
    /// From revision 1: every change of the run.
    Beginning,
    /// From the next revision its node applies, this far into the run.
    After(Duration),
}

/// A stretch of a watcher's stream without a gap.
#[derive(Clone, Debug, Default)]
pub struct Segment {
    /// Where it started.
    pub from: u64,
    /// When it started, in nanoseconds since the start of the run (as the history's times).
    pub started_ns: u64,
    /// The changes handed out, in order.
    pub changes: Vec<Change>,
    /// Where it stood when no node held its place any more (the last segment has none).
    pub closed: Option<Resume>,
}

/// What one watcher saw.
#[derive(Clone, Debug)]
pub struct WatchLog {
    pub name: String,
    pub interest: Interest,
    pub segments: Vec<Segment>,
    /// Where it stands: the next change it expects.
    pub resume: Option<Resume>,
    /// The revision its stream was last known complete up to.
    pub complete: u64,
    /// How many times it went on from another node.
    pub moves: usize,
}

/// The nodes a watcher may follow: each one's name and its current incarnation.
pub type Nodes = Vec<(String, Arc<Mutex<Option<Arc<Node>>>>)>;

/// Follows the nodes from node `first` until `stop` says so, recording into `log`.
pub async fn watch_loop(
    nodes: Nodes,
    first: usize,
    start: WatchStart,
    run_start: Instant,
    log: Arc<Mutex<WatchLog>>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    if let WatchStart::After(delay) = start {
        tokio::time::sleep(delay).await;
    }
    let elapsed_ns = || crate::now().duration_since(run_start).as_nanos() as u64;
    let mut on = first % nodes.len();
    // Nodes passed over in a row because their windows did not hold the watcher's place.
    let mut compacted_in_a_row = 0;
    while !*stop.borrow() {
        let Some(node) = nodes[on].1.lock().clone() else {
            on = (on + 1) % nodes.len();
            tokio::time::sleep(POLL).await;
            continue;
        };
        let feed = node.changes().clone();
        let from = {
            let mut log = log.lock();
            match log.resume {
                Some(resume) => resume,
                None => {
                    let from = match start {
                        WatchStart::Beginning => Resume::at(1),
                        WatchStart::After(_) => Resume::at(feed.bounds().0 + 1),
                    };
                    log.segments.push(Segment {
                        from: from.revision,
                        started_ns: elapsed_ns(),
                        ..Segment::default()
                    });
                    log.resume = Some(from);
                    from
                }
            }
        };
        let interest = log.lock().interest.clone();
        let mut stream = WatchStream::new(feed, interest, from, POLL, Box::new(|_| true));
        loop {
            if *stop.borrow() {
                return;
            }
            let item = tokio::time::timeout(POLL, stream.next_item()).await;
            let still_there = nodes[on].1.lock().as_ref().is_some_and(|live| Arc::ptr_eq(live, &node));
            match item {
                Ok(Some(WatchItem::Change(change))) if still_there => {
                    compacted_in_a_row = 0;
                    {
                        let mut log = log.lock();
                        log.segments.last_mut().expect("a segment").changes.push((*change).clone());
                        log.resume = Some(stream.resume());
                    }
                    // A watcher's network is not always ready for the next change: now and then
                    // its node goes down between two changes of one revision.
                    if madsim::rand::thread_rng().gen_bool(0.1) {
                        let pause = madsim::rand::thread_rng().gen_range(1..20);
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                }
                Ok(Some(WatchItem::Progress(revision))) if still_there => {
                    let mut log = log.lock();
                    log.complete = log.complete.max(revision);
                    log.resume = Some(stream.resume());
                }
                Ok(Some(WatchItem::Compacted(compacted))) => {
                    compacted_in_a_row += 1;
                    if compacted_in_a_row >= nodes.len() {
                        // No node holds the place any more: a new segment from what is offered.
                        compacted_in_a_row = 0;
                        let mut log = log.lock();
                        let closed = log.resume;
                        log.segments.last_mut().expect("a segment").closed = closed;
                        log.resume = Some(Resume::at(compacted.oldest));
                        log.segments.push(Segment {
                            from: compacted.oldest,
                            started_ns: elapsed_ns(),
                            ..Segment::default()
                        });
                    }
                    on = (on + 1) % nodes.len();
                    break;
                }
                Err(_) if still_there => {}
                // Its node went down (what it handed out last may not have been sent): go on
                // from another.
                _ => {
                    log.lock().moves += 1;
                    on = (on + 1) % nodes.len();
                    break;
                }
            }
        }
    }
}

/// Waits until every watcher's stream is complete up to `target`, within `bound`.
pub async fn catch_up(logs: &[Arc<Mutex<WatchLog>>], target: u64, bound: Duration) -> Result<(), String> {
    let deadline = crate::now() + bound;
    loop {
        let behind: Vec<String> = logs
            .iter()
            .map(|log| log.lock())
            .filter(|log| log.complete < target)
            .map(|log| format!("{} at {}", log.name, log.complete))
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        if crate::now() >= deadline {
            return Err(format!(
                "watchers not complete up to revision {target} within {bound:?}: {behind:?}"
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}
