//! The change feed every node keeps for watchers (DESIGN.md §9) agrees with the replicated state,
//! checked once the log is quiet, on every node, after every fault of the run:
//! - the changes are in revision order, none past what the node applied;
//! - any two nodes hold the very same changes for the revisions both windows hold;
//! - nothing is missing: a live key last changed at a revision the window holds has a put at
//!   exactly that revision, with its value and create revision;
//! - nothing is a phantom: the window's last change of a key is the key as it is (a put of its
//!   value, or a delete or flush of a key now absent or created again later).

use std::collections::BTreeMap;

use bytes::Bytes;
use redraft_core::key_range::KeyRange;
use redraft_core::{Change, ChangeKind, Frozen};
use redraft_server::change_feed::Interest;

use crate::cluster::SimNode;

/// A node's window of changes and the oldest revision it holds them from.
pub(super) struct Window {
    pub(super) name: String,
    pub(super) oldest: u64,
    pub(super) changes: Vec<Change>,
}

pub(super) fn window(server: &SimNode) -> Result<Window, String> {
    let live = server.live.lock();
    let node = live.as_ref().ok_or(format!("{} is not running", server.name))?;
    let feed = node.changes();
    let (_, oldest) = feed.bounds();
    let everything = Interest::Range(KeyRange { start: Bytes::new(), end: None });
    let read = feed.read(oldest, &everything, usize::MAX).map_err(|e| format!("{}: {e}", server.name))?;
    let changes = read.changes.iter().map(|c| (**c).clone()).collect();
    Ok(Window { name: server.name.clone(), oldest, changes })
}

/// Checks the invariants above against each node's state `states` (frozen at one applied index).
pub fn check_changes(servers: &[SimNode], states: &[Frozen]) -> Result<(), String> {
    let windows: Vec<Window> = servers.iter().map(window).collect::<Result<_, _>>()?;
    for (window, state) in windows.iter().zip(states) {
        check_one(window, state)?;
    }
    for pair in windows.windows(2) {
        let from = pair[0].oldest.max(pair[1].oldest);
        let common =
            |w: &Window| w.changes.iter().filter(|c| c.revision >= from).cloned().collect::<Vec<_>>();
        let (left, right) = (common(&pair[0]), common(&pair[1]));
        if left != right {
            let first =
                left.iter().zip(&right).position(|(a, b)| a != b).unwrap_or(left.len().min(right.len()));
            return Err(format!(
                "the change feeds of {} and {} differ from revision {from}: at position {first}, {:?} against {:?}",
                pair[0].name,
                pair[1].name,
                left.get(first),
                right.get(first)
            ));
        }
    }
    Ok(())
}

fn check_one(window: &Window, state: &Frozen) -> Result<(), String> {
    let name = &window.name;
    let revisions: Vec<u64> = window.changes.iter().map(|c| c.revision).collect();
    if revisions.windows(2).any(|w| w[0] > w[1]) || revisions.first().is_some_and(|r| *r < window.oldest) {
        return Err(format!("{name}: changes out of revision order: {revisions:?}"));
    }
    if revisions.last().is_some_and(|r| *r > state.applied_index) {
        return Err(format!("{name}: a change past the applied index {}", state.applied_index));
    }
    // The last change of each key in the window, and the last flush.
    let mut last: BTreeMap<&Bytes, &Change> = BTreeMap::new();
    let mut last_flush = 0;
    for change in &window.changes {
        match change.kind.key() {
            Some(key) => {
                last.insert(key, change);
            }
            None => last_flush = change.revision,
        }
    }
    let keys: BTreeMap<&Bytes, &redraft_core::map::Entry> = state.keys.iter().map(|(k, e)| (k, e)).collect();
    // Nothing missing.
    for (key, entry) in &keys {
        if entry.mod_index < window.oldest {
            continue;
        }
        let found = last.get(key).map(|c| &c.kind);
        let matches = match found {
            Some(ChangeKind::Put { value, create_revision, .. }) => {
                entry.value == *value && *create_revision == entry.create_index
            }
            Some(ChangeKind::Update { kind, create_revision, .. }) => {
                entry.value.kind() == *kind && *create_revision == entry.create_index
            }
            _ => false,
        } && last.get(key).is_some_and(|c| c.revision == entry.mod_index);
        if !matches {
            return Err(format!(
                "{name}: key {key:?} was last changed at revision {} (in the window from {}), but the feed's last change of it is {:?}",
                entry.mod_index, window.oldest, last.get(key)
            ));
        }
    }
    // No phantoms.
    for (key, change) in &last {
        let ok = match (&change.kind, keys.get(key)) {
            (ChangeKind::Put { value, .. }, Some(entry)) => {
                entry.mod_index == change.revision && entry.value == *value
                    || last_flush > change.revision && entry.mod_index > last_flush
            }
            (ChangeKind::Update { kind, .. }, Some(entry)) => {
                entry.mod_index == change.revision && entry.value.kind() == *kind
                    || last_flush > change.revision && entry.mod_index > last_flush
            }
            (ChangeKind::Put { .. } | ChangeKind::Update { .. }, None) => last_flush > change.revision,
            (ChangeKind::Delete { .. }, None) => true,
            (ChangeKind::Delete { .. }, Some(entry)) => entry.mod_index > change.revision,
            (ChangeKind::Flush | ChangeKind::Message { .. } | ChangeKind::Event { .. }, _) => true,
        };
        if !ok {
            return Err(format!(
                "{name}: the feed's last change of {key:?} is {change:?}, but the key is {:?}",
                keys.get(key)
            ));
        }
    }
    Ok(())
}
