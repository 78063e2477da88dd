//! ACL LOG: the requests this node refused for a user's rules, and the failed logins, newest
//! first, as Redis keeps them (at most [`ACL_LOG_ENTRIES_MAX`]; a repeat of the same refusal
//! within a minute counts on the entry it repeats). The log is this node's, not replicated.

use std::collections::VecDeque;

use redraft_net::resp::Frame;

/// Entries kept, as Redis's `acllog-max-len` default.
pub const ACL_LOG_ENTRIES_MAX: usize = 128;
/// A refusal that repeats one logged less than this long ago counts on it.
const GROUPING_MS: u64 = 60_000;

/// Why a request was logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Auth,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Auth => "auth",
        }
    }
}

/// One logged refusal.
#[derive(Clone, Debug)]
struct Entry {
    count: u64,
    reason: Reason,
    /// `toplevel`, or `multi` for a command queued in a transaction.
    context: &'static str,
    /// The command, the key, or `AUTH`.
    object: String,
    username: String,
    at_ms: u64,
    client_info: String,
}

/// The log.
#[derive(Debug, Default)]
pub struct AclLog {
    entries: parking_lot::Mutex<VecDeque<Entry>>,
}

/// What to log.
pub struct Refusal<'a> {
    pub reason: Reason,
    pub in_multi: bool,
    pub object: &'a str,
    pub username: &'a str,
    pub client_info: String,
}

impl AclLog {
    /// Records a refusal at `now_ms`.
    pub fn record(&self, refusal: Refusal<'_>, now_ms: u64) {
        let context = if refusal.in_multi { "multi" } else { "toplevel" };
        let mut entries = self.entries.lock();
        let repeat = entries.iter_mut().find(|e| {
            e.reason == refusal.reason
                && e.context == context
                && e.object == refusal.object
                && e.username == refusal.username
                && now_ms.saturating_sub(e.at_ms) < GROUPING_MS
        });
        match repeat {
            Some(entry) => {
                entry.count += 1;
                entry.at_ms = now_ms;
                entry.client_info = refusal.client_info;
            }
            None => {
                entries.push_front(Entry {
                    count: 1,
                    reason: refusal.reason,
                    context,
                    object: refusal.object.to_owned(),
                    username: refusal.username.to_owned(),
                    at_ms: now_ms,
                    client_info: refusal.client_info,
                });
                entries.truncate(ACL_LOG_ENTRIES_MAX);
            }
        }
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    /// The newest `count` entries (all when `None`) as ACL LOG replies them.
    pub fn frames(&self, count: Option<usize>, now_ms: u64) -> Frame {
        let entries = self.entries.lock();
        let text = |s: &str| Frame::text(s);
        Frame::Array(
            entries
                .iter()
                .take(count.unwrap_or(usize::MAX))
                .map(|e| {
                    let age = now_ms.saturating_sub(e.at_ms) as f64 / 1000.0;
                    Frame::Map(vec![
                        (text("count"), Frame::Integer(e.count as i64)),
                        (text("reason"), text(e.reason.as_str())),
                        (text("context"), text(e.context)),
                        (text("object"), text(&e.object)),
                        (text("username"), text(&e.username)),
                        (text("age-seconds"), Frame::Double(age)),
                        (text("client-info"), text(&e.client_info)),
                    ])
                })
                .collect(),
        )
    }
}
