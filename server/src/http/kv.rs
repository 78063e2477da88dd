//! Keys over HTTP (DESIGN.md §9): `GET`, `PUT` and `DELETE /v1/kv/{key}` (the rest of the path,
//! percent-decoded; `/v1/kv?key_base64=` for keys that are not UTF-8), and ranges with
//! `GET /v1/kv?prefix=` or `?start=&end=`.
//!
//! Every answer carries `revision`, the log index the state it shows was at. Reads are
//! linearizable unless `consistency=stale` asks for this node's applied state, which any node
//! answers at once (labelled so). A put or delete is a transaction of one operation (core's
//! `txn.rs`) with its conditions as compares, so a failed condition changes nothing and answers
//! 412 with the key as it is.

use std::sync::Arc;

use axum::body::Bytes as Body;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use redraft_core::acl::KeyAccess;
use redraft_core::key_range::KeyRange;
use redraft_core::limits::{KEY_BYTES_MAX, RANGE_LIMIT_DEFAULT, RANGE_LIMIT_MAX};
use redraft_core::stored_key::copied_on_arrival;
use redraft_core::txn::{Compare, CompareOp, CompareTarget, OpResult, Txn, TxnOp};
use redraft_core::StateMachine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::json_bytes::{self, key_json, Encoding};
use super::schema::{ErrorBody, KeyResponse, RootResponse, WriteResponse};
use super::txn::{commit, ttl_checked};
use super::{error, node_error, Refusal};
use crate::node::Node;

/// The query of every `/v1/kv` route; each route reads the fields it knows and refuses the
/// fields of other routes.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KvQuery {
    key_base64: Option<String>,
    consistency: Option<String>,
    // Ranges.
    prefix: Option<String>,
    prefix_base64: Option<String>,
    start: Option<String>,
    start_base64: Option<String>,
    end: Option<String>,
    end_base64: Option<String>,
    limit: Option<usize>,
    /// The `next` token of the page before.
    after: Option<String>,
    encoding: Option<String>,
    keys_only: Option<bool>,
    count_only: Option<bool>,
    // Puts and deletes (a raw put's options come only here).
    ttl_ms: Option<u64>,
    keep_ttl: Option<bool>,
    if_revision: Option<u64>,
    if_value: Option<String>,
    if_value_base64: Option<String>,
    if_absent: Option<bool>,
    if_present: Option<bool>,
    /// A put or delete: answer with the key as it was before (`prev`), as etcd's `prev_kv`.
    prev: Option<bool>,
}

/// Which `/v1/kv` route a query is for, so that it can refuse the fields of the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Key,
    Range,
    Put,
    Delete,
}

impl KvQuery {
    /// Refuses a field that `route` does not read: a client that sends `ttl_ms` with a GET, or
    /// `limit` with a delete, believes it took effect, so it gets a 400 instead of silence (as
    /// unknown fields do). `key_base64` and `encoding` serve every route.
    fn only_for(&self, route: Route) -> Result<(), Refusal> {
        use Route::{Delete, Key, Put, Range};
        let fields: [(&str, bool, &[Route]); 19] = [
            ("consistency", self.consistency.is_some(), &[Key, Range]),
            ("prefix", self.prefix.is_some(), &[Range]),
            ("prefix_base64", self.prefix_base64.is_some(), &[Range]),
            ("start", self.start.is_some(), &[Range]),
            ("start_base64", self.start_base64.is_some(), &[Range]),
            ("end", self.end.is_some(), &[Range]),
            ("end_base64", self.end_base64.is_some(), &[Range]),
            ("limit", self.limit.is_some(), &[Range]),
            ("after", self.after.is_some(), &[Range]),
            ("keys_only", self.keys_only.is_some(), &[Range]),
            ("count_only", self.count_only.is_some(), &[Range]),
            ("ttl_ms", self.ttl_ms.is_some(), &[Put]),
            ("keep_ttl", self.keep_ttl.is_some(), &[Put]),
            ("if_revision", self.if_revision.is_some(), &[Put, Delete]),
            ("if_value", self.if_value.is_some(), &[Put, Delete]),
            ("if_value_base64", self.if_value_base64.is_some(), &[Put, Delete]),
            ("if_absent", self.if_absent.is_some(), &[Put, Delete]),
            ("if_present", self.if_present.is_some(), &[Put, Delete]),
            ("prev", self.prev.is_some(), &[Put, Delete]),
        ];
        match fields.into_iter().find(|(_, given, routes)| *given && !routes.contains(&route)) {
            Some((field, ..)) => {
                let what = match route {
                    Key => "a read of a key",
                    Range => "a range",
                    Put => "a put",
                    Delete => "a delete",
                };
                Err(bad(format!("{what} takes no {field}")))
            }
            None => Ok(()),
        }
    }

    fn write_options(&self) -> Result<WriteOptions, Refusal> {
        Ok(WriteOptions {
            encoding: encoding(self.encoding.as_deref())?,
            ttl_ms: self.ttl_ms,
            keep_ttl: self.keep_ttl,
            if_revision: self.if_revision,
            if_value: self.if_value.clone(),
            if_value_base64: self.if_value_base64.clone(),
            if_absent: self.if_absent,
            if_present: self.if_present,
            prev: self.prev,
        })
    }
}

/// What a put or delete may ask, in the query or (for a JSON put) the body.
#[derive(Debug, Default)]
struct WriteOptions {
    encoding: Encoding,
    ttl_ms: Option<u64>,
    keep_ttl: Option<bool>,
    if_revision: Option<u64>,
    if_value: Option<String>,
    if_value_base64: Option<String>,
    if_absent: Option<bool>,
    if_present: Option<bool>,
    prev: Option<bool>,
}

/// The JSON body of a put.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    /// How `value` and `if_value` are written (`text` or `base64`); the key in the path follows
    /// the query's `encoding`.
    encoding: Option<String>,
    value: Option<String>,
    value_base64: Option<String>,
    ttl_ms: Option<u64>,
    keep_ttl: Option<bool>,
    if_revision: Option<u64>,
    if_value: Option<String>,
    if_value_base64: Option<String>,
    if_absent: Option<bool>,
    if_present: Option<bool>,
    /// Answer with the key as it was before (`prev`).
    prev: Option<bool>,
}

fn bad(message: impl AsRef<str>) -> Refusal {
    Box::new(error(StatusCode::BAD_REQUEST, "bad_request", message.as_ref()))
}

fn query(query: Result<Query<KvQuery>, QueryRejection>) -> Result<KvQuery, Refusal> {
    query.map(|Query(q)| q).map_err(|rejection| bad(rejection.body_text()))
}

fn encoding(name: Option<&str>) -> Result<Encoding, Refusal> {
    Encoding::named(name).map_err(bad)
}

/// The key of a route: the path's (base64 itself with `encoding=base64`), or `key_base64` for
/// `/v1/kv` itself.
fn key_of(path: Option<String>, q: &KvQuery) -> Result<Bytes, Refusal> {
    let encoding = encoding(q.encoding.as_deref())?;
    let key = match (path, &q.key_base64) {
        (Some(_), Some(_)) => return Err(bad("give the key in the path or in key_base64, not both")),
        (Some(path), None) => json_bytes::required("key", Some(path), None, encoding).map_err(bad)?,
        (None, Some(encoded)) => {
            json_bytes::required("key", None, Some(encoded.clone()), encoding).map_err(bad)?
        }
        (None, None) => return Err(bad("no key: use /v1/kv/{key} or key_base64")),
    };
    if key.len() > KEY_BYTES_MAX {
        return Err(bad(format!("the key is {} bytes; the limit is {KEY_BYTES_MAX}", key.len())));
    }
    Ok(key)
}

/// Whether the read is linearizable (the default) or stale.
fn linearizable(q: &KvQuery) -> Result<bool, Refusal> {
    match q.consistency.as_deref() {
        None | Some("linearizable") => Ok(true),
        Some("stale") => Ok(false),
        Some(other) => Err(bad(format!("consistency is linearizable or stale, not {other:?}"))),
    }
}

/// Confirms a linearizable read (at this node's time: a key past its deadline by this node's
/// clock reads as absent, see [`Node::linearize_at_now`]); a stale read is served as it is.
async fn read_barrier(
    node: &Node,
    linearizable: bool,
    outlives: impl Fn(&StateMachine, u64) -> bool,
) -> Result<&'static str, Refusal> {
    if linearizable {
        node.linearize_at_now(outlives).await.map_err(|e| Box::new(node_error(e)))?;
        Ok("linearizable")
    } else {
        Ok("stale")
    }
}

fn respond(result: Result<Response, Refusal>) -> Response {
    result.unwrap_or_else(|refusal| *refusal)
}

#[utoipa::path(get, path = "/v1/kv/{key}", tag = "keys",
    params(("key" = String, Path, description = "the key, percent-decoded (base64 with encoding=base64)"), KvQuery),
    responses((status = 200, description = "the key", body = KeyResponse),
        (status = 404, description = "no such key", body = ErrorBody), (status = 400, description = "a bad request; nothing changed", body = ErrorBody),
        (status = 403, description = "the user may not", body = ErrorBody),
        (status = 503, description = "no leader, or unavailable; nothing changed", body = ErrorBody)))]
pub async fn get_key(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    q: Result<Query<KvQuery>, QueryRejection>,
) -> Response {
    respond(get(&node, &caller, Some(key), q).await)
}

#[utoipa::path(get, path = "/v1/kv", tag = "keys", params(KvQuery),
    description = "A range (`prefix`, or `start` and `end`) as a page in key order at one revision, or one key given as `key_base64`.",
    responses((status = 200, description = "a page of keys (or, with count_only, their number), or the key", body = RootResponse),
        (status = 404, description = "no such key (key_base64)", body = ErrorBody), (status = 400, description = "a bad request; nothing changed", body = ErrorBody),
        (status = 403, description = "the user may not", body = ErrorBody),
        (status = 503, description = "no leader, or unavailable; nothing changed", body = ErrorBody)))]
pub async fn get_root(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<KvQuery>, QueryRejection>,
) -> Response {
    respond(get(&node, &caller, None, q).await)
}

async fn get(
    node: &Node,
    caller: &Caller,
    path: Option<String>,
    q: Result<Query<KvQuery>, QueryRejection>,
) -> Result<Response, Refusal> {
    let q = query(q)?;
    if path.is_none() && q.key_base64.is_none() {
        q.only_for(Route::Range)?;
        return range(node, caller, q).await;
    }
    q.only_for(Route::Key)?;
    let key = key_of(path, &q)?;
    let encoding = encoding(q.encoding.as_deref())?;
    caller.check_key(&key, KeyAccess::READ)?;
    let outlives = |state: &StateMachine, now| state.key_outlives_deadline(&key, now);
    let consistency = read_barrier(node, linearizable(&q)?, outlives).await?;
    let (found, revision) = node.state().get_kv(&key);
    Ok(match found {
        Some(kv) => {
            let mut body = key_json(&key, &kv, false, encoding);
            body["revision"] = json!(revision);
            body["consistency"] = json!(consistency);
            Json(body).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "code": "not_found", "error": "no such key", "revision": revision, "consistency": consistency })),
        )
            .into_response(),
    })
}

async fn range(node: &Node, caller: &Caller, q: KvQuery) -> Result<Response, Refusal> {
    caller.may_run("scan")?;
    let encoding = encoding(q.encoding.as_deref())?;
    let prefix =
        json_bytes::either("prefix", q.prefix.clone(), q.prefix_base64.clone(), encoding).map_err(bad)?;
    let start =
        json_bytes::either("start", q.start.clone(), q.start_base64.clone(), encoding).map_err(bad)?;
    let end = json_bytes::either("end", q.end.clone(), q.end_base64.clone(), encoding).map_err(bad)?;
    let range = match (prefix, start, end) {
        (Some(prefix), None, None) => KeyRange::prefix(&prefix),
        (None, Some(start), end) => KeyRange { start, end },
        (None, None, Some(end)) => KeyRange { start: Bytes::new(), end: Some(end) },
        (Some(_), _, _) => return Err(bad("give prefix, or start and end, not both")),
        (None, None, None) => {
            return Err(bad("GET /v1/kv needs a key (key_base64), a prefix, or start and end"))
        }
    };
    let limit = q.limit.unwrap_or(RANGE_LIMIT_DEFAULT);
    if !(1..=RANGE_LIMIT_MAX).contains(&limit) {
        return Err(bad(format!("limit must be 1 to {RANGE_LIMIT_MAX}")));
    }
    let after = q.after.as_deref().map(json_bytes::from_token).transpose().map_err(bad)?;
    let outlives = |state: &StateMachine, now| state.range_outlives_deadline(now);
    let consistency = read_barrier(node, linearizable(&q)?, outlives).await?;
    let state = node.state().clone();
    if q.count_only == Some(true) {
        let (count, revision) = off_the_workers(move || state.count_range(&range, after.as_deref())).await?;
        return Ok(
            Json(json!({ "count": count, "revision": revision, "consistency": consistency })).into_response()
        );
    }
    let (page, more, revision) =
        off_the_workers(move || state.list_range(&range, after.as_deref(), limit)).await?;
    if let Some((key, _)) = page.iter().find(|(key, _)| !caller.may_touch(key, KeyAccess::READ)) {
        let text = format!("NOPERM No permissions to access a key (the range holds {key:?})");
        return Err(Box::new(error(StatusCode::FORBIDDEN, "forbidden", &text)));
    }
    let keys_only = q.keys_only == Some(true);
    let kvs: Vec<Value> = page.iter().map(|(key, kv)| key_json(key, kv, keys_only, encoding)).collect();
    let mut body = json!({ "kvs": kvs, "count": kvs.len(), "more": more, "revision": revision, "consistency": consistency });
    if more {
        let last = &page.last().expect("more follow a full page").0;
        body["next"] = json!(json_bytes::token(last));
    }
    Ok(Json(body).into_response())
}

/// Runs a scan of the whole keyspace (O(keys), see core's `map.rs`) off the async workers.
async fn off_the_workers<T: Send + 'static>(scan: impl FnOnce() -> T + Send + 'static) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(scan).await.map_err(|e| {
        Box::new(error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &format!("the scan failed: {e}")))
    })
}

#[utoipa::path(put, path = "/v1/kv/{key}", tag = "keys",
    params(("key" = String, Path, description = "the key"), KvQuery),
    request_body(content = PutBody, description = "JSON, or the raw value as application/octet-stream with its options in the query"),
    responses((status = 201, description = "created", body = WriteResponse), (status = 200, description = "replaced", body = WriteResponse),
        (status = 412, description = "a condition did not hold; nothing changed", body = ErrorBody), (status = 400, description = "a bad request; nothing changed", body = ErrorBody),
        (status = 403, description = "the user may not", body = ErrorBody),
        (status = 503, description = "no leader, or unavailable; nothing changed", body = ErrorBody),
        (status = 504, description = "the outcome is unknown", body = ErrorBody)))]
pub async fn put_key(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    q: Result<Query<KvQuery>, QueryRejection>,
    RawValue(raw): RawValue,
    body: Result<Body, BytesRejection>,
) -> Response {
    respond(put(&node, &caller, Some(key), q, raw, body).await)
}

#[utoipa::path(put, path = "/v1/kv", tag = "keys", params(KvQuery), request_body = PutBody,
    description = "A put of the key given as `key_base64`.",
    responses((status = 201, body = WriteResponse), (status = 200, body = WriteResponse), (status = 412, body = ErrorBody), (status = 400, description = "a bad request; nothing changed", body = ErrorBody),
        (status = 403, description = "the user may not", body = ErrorBody),
        (status = 503, description = "no leader, or unavailable; nothing changed", body = ErrorBody)))]
pub async fn put_root(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<KvQuery>, QueryRejection>,
    RawValue(raw): RawValue,
    body: Result<Body, BytesRejection>,
) -> Response {
    respond(put(&node, &caller, None, q, raw, body).await)
}

async fn put(
    node: &Node,
    caller: &Caller,
    path: Option<String>,
    q: Result<Query<KvQuery>, QueryRejection>,
    raw: bool,
    body: Result<Body, BytesRejection>,
) -> Result<Response, Refusal> {
    let q = query(q)?;
    q.only_for(Route::Put)?;
    let key = key_of(path, &q)?;
    caller.check_key(&key, KeyAccess::WRITE)?;
    let body =
        body.map_err(|rejection| Box::new(error(rejection.status(), "bad_request", &rejection.body_text())))?;
    let from_query = q.write_options()?;
    let (value, options) = if raw {
        // A body read in one piece is a slice of the connection's read buffer, which the map
        // would keep alive with the value; copied, the buffer goes before the write is awaited
        // (see below).
        let value = if copied_on_arrival(body.len()) {
            let copy = Bytes::copy_from_slice(&body);
            drop(body);
            copy
        } else {
            body
        };
        (value, from_query)
    } else {
        let put: PutBody = serde_json::from_slice(&body).map_err(|e| {
            bad(format!("the body is not a JSON put ({e}); send application/octet-stream for a raw value"))
        })?;
        // Let the read buffer go before the write is awaited: while the body shares it, the
        // connection's next read cannot reuse it and allocates another.
        drop(body);
        let body_encoding = match put.encoding {
            Some(name) => encoding(Some(&name))?,
            None => from_query.encoding,
        };
        let value = json_bytes::required("value", put.value, put.value_base64, body_encoding).map_err(bad)?;
        let options = WriteOptions {
            encoding: body_encoding,
            ttl_ms: put.ttl_ms.or(from_query.ttl_ms),
            keep_ttl: put.keep_ttl.or(from_query.keep_ttl),
            if_revision: put.if_revision.or(from_query.if_revision),
            if_value: put.if_value.or(from_query.if_value),
            if_value_base64: put.if_value_base64.or(from_query.if_value_base64),
            if_absent: put.if_absent.or(from_query.if_absent),
            if_present: put.if_present.or(from_query.if_present),
            prev: put.prev.or(from_query.prev),
        };
        (value, options)
    };
    let ttl_ms = ttl_checked(options.ttl_ms).map_err(bad)?;
    let keep_ttl = options.keep_ttl == Some(true);
    if keep_ttl && ttl_ms.is_some() {
        return Err(bad("give ttl_ms or keep_ttl, not both"));
    }
    let compares = conditions(&key, &options)?;
    let op = TxnOp::Put { key: key.clone(), value, ttl_ms, keep_ttl };
    conditional(node, key, compares, op, &options).await
}

#[utoipa::path(delete, path = "/v1/kv/{key}", tag = "keys",
    params(("key" = String, Path, description = "the key"), KvQuery),
    responses((status = 200, description = "deleted (or absent)", body = WriteResponse),
        (status = 412, description = "a condition did not hold; nothing changed", body = ErrorBody), (status = 400, description = "a bad request; nothing changed", body = ErrorBody),
        (status = 403, description = "the user may not", body = ErrorBody),
        (status = 503, description = "no leader, or unavailable; nothing changed", body = ErrorBody)))]
pub async fn delete_key(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    q: Result<Query<KvQuery>, QueryRejection>,
) -> Response {
    respond(delete(&node, &caller, Some(key), q).await)
}

#[utoipa::path(delete, path = "/v1/kv", tag = "keys", params(KvQuery),
    description = "A delete of the key given as `key_base64`.",
    responses((status = 200, body = WriteResponse), (status = 412, body = ErrorBody), (status = 400, description = "a bad request; nothing changed", body = ErrorBody),
        (status = 403, description = "the user may not", body = ErrorBody),
        (status = 503, description = "no leader, or unavailable; nothing changed", body = ErrorBody)))]
pub async fn delete_root(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<KvQuery>, QueryRejection>,
) -> Response {
    respond(delete(&node, &caller, None, q).await)
}

async fn delete(
    node: &Node,
    caller: &Caller,
    path: Option<String>,
    q: Result<Query<KvQuery>, QueryRejection>,
) -> Result<Response, Refusal> {
    let q = query(q)?;
    q.only_for(Route::Delete)?;
    let key = key_of(path, &q)?;
    caller.check_key(&key, KeyAccess::WRITE)?;
    let options = q.write_options()?;
    let compares = conditions(&key, &options)?;
    conditional(node, key.clone(), compares, TxnOp::Delete { key }, &options).await
}

/// Whether a put's body is the raw value (`Content-Type: application/octet-stream`), found
/// without a copy of every header (which axum's `HeaderMap` extractor makes).
pub struct RawValue(bool);

#[axum::async_trait]
impl<S: Sync> FromRequestParts<S> for RawValue {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<RawValue, Self::Rejection> {
        let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        Ok(RawValue(content_type.is_some_and(|v| v.starts_with("application/octet-stream"))))
    }
}

/// The compares a put's or delete's conditions ask for.
fn conditions(key: &Bytes, options: &WriteOptions) -> Result<Vec<Compare>, Refusal> {
    let compare = |target| Compare { key: key.clone(), op: CompareOp::Equal, target };
    let mut compares = Vec::new();
    if let Some(revision) = options.if_revision {
        compares.push(compare(CompareTarget::ModRevision(revision)));
    }
    let (text, base64) = (options.if_value.clone(), options.if_value_base64.clone());
    let if_value = json_bytes::either("if_value", text, base64, options.encoding).map_err(bad)?;
    if let Some(value) = if_value {
        compares.push(compare(CompareTarget::Value(value)));
    }
    match (options.if_absent, options.if_present) {
        (Some(true), Some(true)) => return Err(bad("if_absent and if_present cannot both hold")),
        (Some(true), _) => compares.push(compare(CompareTarget::Exists(false))),
        (_, Some(true)) => compares.push(compare(CompareTarget::Exists(true))),
        _ => {}
    }
    Ok(compares)
}

/// Runs `op` if every compare holds; answers with its revision, or 412 with the key as it is.
/// The key as it was before the operation (`prev`, when asked) is read in the same transaction.
async fn conditional(
    node: &Node,
    key: Bytes,
    compares: Vec<Compare>,
    op: TxnOp,
    options: &WriteOptions,
) -> Result<Response, Refusal> {
    let conditional = !compares.is_empty();
    let with_prev = options.prev == Some(true);
    let get = || TxnOp::Get { key: key.clone() };
    let success = if with_prev { vec![get(), op] } else { vec![op] };
    let failure = if conditional { vec![get()] } else { Vec::new() };
    let outcome = commit(node, Txn { compares, success, failure }).await?;
    let (revision, encoding) = (outcome.revision, options.encoding);
    let (prev, done) = match (outcome.succeeded, outcome.results.as_slice()) {
        (true, [prev, done]) if with_prev => (Some(prev), done),
        (true, [done]) if !with_prev => (None, done),
        (false, [OpResult::Get(current)]) if conditional => {
            let current = current.as_ref().map(|kv| key_json(&key, kv, false, encoding));
            let body = json!({
                "code": "condition_failed",
                "error": "a condition did not hold; nothing was changed",
                "revision": revision,
                "current": current,
            });
            return Ok((StatusCode::PRECONDITION_FAILED, Json(body)).into_response());
        }
        _ => return Err(out_of_shape()),
    };
    let prev = match prev {
        Some(OpResult::Get(Some(prev))) => Some(key_json(&key, prev, false, encoding)),
        _ => None,
    };
    Ok(match *done {
        OpResult::Put { created } => {
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            (status, Json(Written { created: Some(created), deleted: None, prev, revision })).into_response()
        }
        OpResult::Delete { deleted } => {
            Json(Written { created: None, deleted: Some(deleted), prev, revision }).into_response()
        }
        OpResult::Get(_) => return Err(out_of_shape()),
    })
}

fn out_of_shape() -> Refusal {
    Box::new(error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the transaction answered out of shape"))
}

/// The answer to a put or delete that was made (`WriteResponse` in `schema.rs`).
#[derive(serde::Serialize)]
struct Written {
    // In the order of the other answers' keys (serde_json's maps are sorted).
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev: Option<Value>,
    revision: u64,
}
