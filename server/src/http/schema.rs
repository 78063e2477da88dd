//! The shapes of the key API's JSON answers, for its OpenAPI description (`openapi.rs`). The
//! handlers build their answers as JSON values; `server/tests/openapi.rs` checks every field they
//! send against these types, so the two cannot drift apart unnoticed.
#![allow(dead_code)] // The types describe JSON built elsewhere; only utoipa reads them.

use serde::Serialize;
use utoipa::ToSchema;

/// A key as a read finds it.
#[derive(ToSchema, Serialize)]
pub struct KeyValue {
    /// The key, as text (absent when it is not UTF-8 and the encoding is text).
    key: Option<String>,
    key_base64: Option<String>,
    /// The value (left out with `keys_only`, and for a hash, list or set).
    value: Option<String>,
    value_base64: Option<String>,
    /// `hash`, `list` or `set` for a key that holds one; absent for a string.
    data_type: Option<String>,
    /// The revision that created the key.
    create_revision: u64,
    /// The revision that last changed it.
    mod_revision: u64,
    /// Milliseconds left before it expires; absent without a TTL.
    ttl_ms: Option<i64>,
}

/// `GET /v1/kv/{key}`: the key, with the revision it was read at.
#[derive(ToSchema, Serialize)]
pub struct KeyResponse {
    key: Option<String>,
    key_base64: Option<String>,
    value: Option<String>,
    value_base64: Option<String>,
    /// `hash`, `list` or `set` for a key that holds one (it then has no value).
    data_type: Option<String>,
    create_revision: u64,
    mod_revision: u64,
    ttl_ms: Option<i64>,
    /// The revision the state read was at.
    revision: u64,
    /// `linearizable` or `stale`.
    consistency: String,
}

/// `GET /v1/kv`: a page of a range, or one key given as `key_base64`.
#[derive(ToSchema, Serialize)]
#[serde(untagged)]
pub enum RootResponse {
    Range(RangeResponse),
    Key(KeyResponse),
}

/// A page of a range.
#[derive(ToSchema, Serialize)]
pub struct RangeResponse {
    kvs: Option<Vec<KeyValue>>,
    /// Keys in the page (or, with `count_only`, in the whole range).
    count: u64,
    /// Whether more keys follow the page.
    more: Option<bool>,
    /// The token for the next page (`after=`), when more follow.
    next: Option<String>,
    revision: u64,
    consistency: String,
}

/// A put or a delete.
#[derive(ToSchema, Serialize)]
pub struct WriteResponse {
    /// The revision of the change (the log index of its entry).
    revision: u64,
    /// A put: whether it created the key.
    created: Option<bool>,
    /// A delete: how many keys it removed (0 or 1).
    deleted: Option<u64>,
    /// The key as it was before, when there was one and `prev=true` asked for it (as etcd's
    /// `prev_kv`).
    prev: Option<KeyValue>,
}

/// The result of one operation: one of its fields.
#[derive(ToSchema, Serialize)]
pub struct OpResult {
    /// `{"created": bool}`.
    #[schema(value_type = Option<Object>)]
    put: Option<()>,
    /// `{"deleted": n}`.
    #[schema(value_type = Option<Object>)]
    delete: Option<()>,
    /// The key, or null.
    get: Option<KeyValue>,
}

/// `POST /v1/txn`.
#[derive(ToSchema, Serialize)]
pub struct TxnResponse {
    /// Whether every compare held (so `success` ran, else `failure`).
    succeeded: bool,
    revision: u64,
    /// One per operation of the branch that ran.
    results: Vec<OpResult>,
}

/// `POST /v1/batch`.
#[derive(ToSchema, Serialize)]
pub struct BatchResponse {
    revision: u64,
    results: Vec<OpResult>,
}

/// Every error.
#[derive(ToSchema, Serialize)]
pub struct ErrorBody {
    /// Stable: `bad_request`, `invalid`, `not_found`, `condition_failed`, `compacted`,
    /// `forbidden`, `unauthorized`, `no_leader`, `unavailable`, `outcome_unknown`, `removed`,
    /// `out_of_memory`, `refused`.
    code: String,
    error: String,
    /// The revision the answer was made at, where one was.
    revision: Option<u64>,
    consistency: Option<String>,
    /// `condition_failed`: the key as it is.
    current: Option<KeyValue>,
    /// `compacted`: the oldest revision still held.
    oldest_revision: Option<u64>,
}

/// One change, progress note or error of a watch.
#[derive(ToSchema, Serialize)]
pub struct WatchEvent {
    /// `put`, `delete`, `flush`, `progress`, or `error`.
    #[serde(rename = "type")]
    kind: String,
    revision: Option<u64>,
    key: Option<String>,
    key_base64: Option<String>,
    value: Option<String>,
    value_base64: Option<String>,
    /// A put of a hash, list or set: its type (it then has no value).
    data_type: Option<String>,
    create_revision: Option<u64>,
    expire_at_ms: Option<u64>,
    /// A delete's: `client` or `expiry`; a flush's: `flush`.
    reason: Option<String>,
    code: Option<String>,
    error: Option<String>,
    oldest_revision: Option<u64>,
}
