//! What every command's execution works with: the locked shards, the state-machine time and the
//! log index of the entry being applied ([`Exec`]), and the type checks every command makes.

use bytes::Bytes;

use crate::keyspace_event::{Event, EventClass};
use crate::map::{Entry, WriteSet};
use crate::reply::{errors, Reply};
use crate::stored_key::StoredKey;
use crate::types::{Aggregate, Kind, Value};

pub(crate) struct Exec<'v, 'a> {
    pub(crate) view: &'v mut WriteSet<'a>,
    pub(crate) now_ms: u64,
    pub(crate) log_index: u64,
}

impl Exec<'_, '_> {
    /// An owned copy of a live key's entry (an aggregate copied whole), for commands that go
    /// on to change the map.
    pub(crate) fn live(&self, key: &[u8]) -> Option<Entry> {
        self.view.live(key, self.now_ms).map(StoredKey::to_entry)
    }

    /// Whether `key` is live, after checking that it holds a `kind` if it is; Redis's WRONGTYPE
    /// error when it holds another type.
    pub(crate) fn check(&self, key: &[u8], kind: Kind) -> Result<bool, Reply> {
        match self.view.live(key, self.now_ms) {
            Some(stored) if stored.kind() != kind => Err(wrong_type()),
            found => Ok(found.is_some()),
        }
    }

    /// Changes the aggregate of `kind` under `key` (created when absent, removed when left
    /// empty); the caller has [`Exec::check`]ed the key.
    pub(crate) fn update<R>(&mut self, key: &[u8], kind: Kind, f: impl FnOnce(&mut Aggregate) -> R) -> R {
        self.view.update_aggregate(key, kind, (self.now_ms, self.log_index), f)
    }

    /// A live key's string value and expiry; Redis's WRONGTYPE error for an aggregate.
    pub(crate) fn live_string(&self, key: &[u8]) -> Result<Option<(Bytes, Option<u64>)>, Reply> {
        let stored = string(self.view.live(key, self.now_ms))?;
        Ok(stored.map(|s| (s.value_bytes(), s.expire_at_ms())))
    }

    /// Raises the keyspace event `name` of `class` about `key`.
    pub(crate) fn notify(&mut self, class: EventClass, name: &'static str, key: &[u8]) {
        self.view.notify(Event::new(class, name), key, self.log_index);
    }

    /// Raises the keyspace event `name` of `class` about the aggregate under `key`, and `del`
    /// after it when the command left the aggregate empty (and so removed it), as Redis does.
    pub(crate) fn notify_changed(&mut self, class: EventClass, name: &'static str, key: &[u8]) {
        self.notify(class, name, key);
        if self.view.entry(key).is_none() {
            self.view.notify(Event::DEL, key, self.log_index);
        }
    }

    pub(crate) fn put(&mut self, key: &[u8], value: impl Into<Value>, expire_at_ms: Option<u64>) {
        let (mod_index, create_index) = (self.log_index, self.log_index);
        let entry = Entry { value: value.into(), expire_at_ms, mod_index, create_index };
        self.view.insert(key, entry, self.now_ms);
    }
}

/// A live key's record if it holds a string; Redis's WRONGTYPE error if it holds an aggregate.
pub(crate) fn string(stored: Option<&StoredKey>) -> Result<Option<&StoredKey>, Reply> {
    match stored {
        Some(stored) if stored.aggregate().is_some() => Err(wrong_type()),
        other => Ok(other),
    }
}

/// A live key's aggregate if it is of `kind`; Redis's WRONGTYPE error if it holds another type.
pub(crate) fn aggregate_of(stored: Option<&StoredKey>, kind: Kind) -> Result<Option<&Aggregate>, Reply> {
    match stored {
        None => Ok(None),
        Some(stored) if stored.kind() == kind => Ok(stored.aggregate()),
        Some(_) => Err(wrong_type()),
    }
}

/// Redis's WRONGTYPE error.
pub(crate) fn wrong_type() -> Reply {
    Reply::Error(errors::WRONG_TYPE.to_owned())
}
