//! Transactions and batches over HTTP (DESIGN.md §9), in etcd's `Txn` shape, in JSON:
//!
//! `POST /v1/txn` with
//! `{"compare": [{"key": "k", "target": "value", "op": "eq", "value": "v"}, ...],
//!   "success": [{"put": {"key": "k", "value": "v", "ttl_ms": 1000}}, {"delete": {"key": "k"}},
//!               {"get": {"key": "k"}}],
//!   "failure": [...]}`
//! applies `success` if every compare holds and `failure` otherwise, atomically, as one log entry
//! (core's `txn.rs`), and answers `{"succeeded": true, "revision": R, "results": [{"put":
//! {"created": true}}, {"delete": {"deleted": 1}}, {"get": {...} | null}]}`. A compare's `target`
//! is `value` (with `value` or `value_base64`), `mod_revision` or `create_revision` (with
//! `revision`; 0 for an absent key), `ttl_ms` (with `ttl_ms`: -1 without a TTL, -2 absent) or
//! `exists` (with `exists`: true or false); `op` is `eq` (the default), `ne`, `gt` or `lt`.
//!
//! `POST /v1/batch` with `{"ops": [{"put": ...}, {"delete": ...}]}`: all of them, or (refused
//! before anything is proposed) none; answers `{"revision": R, "results": [...]}`.
//!
//! Both hold at most [`TRANSACTION_COMMANDS_MAX`] compares and operations, as a MULTI block does,
//! and each operation needs the permission of the RESP command that does the same (SET, DEL, GET)
//! on its key.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use redraft_core::acl::KeyAccess;
use redraft_core::limits::{KEY_BYTES_MAX, TRANSACTION_COMMANDS_MAX};
use redraft_core::txn::{Compare, CompareOp, CompareTarget, OpResult, Txn, TxnOp, TxnOutcome};
use redraft_core::{Reply, Write};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::json_bytes::{self, key_json, Encoding};
use super::schema::{BatchResponse, ErrorBody, TxnResponse};
use super::{error, node_error, parse_json, Refusal};
use crate::node::Node;

/// The longest TTL a put may ask for: 100 years.
pub const TTL_MS_MAX: u64 = 100 * 365 * 24 * 3600 * 1000;

/// A TTL in milliseconds, checked: positive and at most [`TTL_MS_MAX`].
///
/// # Errors
/// Zero or too long, with a message naming the bound.
pub fn ttl_checked(ttl_ms: Option<u64>) -> Result<Option<u64>, String> {
    match ttl_ms {
        Some(0) => Err("ttl_ms must be positive".into()),
        Some(ttl) if ttl > TTL_MS_MAX => Err(format!("ttl_ms must be at most {TTL_MS_MAX} (100 years)")),
        other => Ok(other),
    }
}

/// Proposes `txn` through the leader and reads its outcome.
///
/// # Errors
/// The response to send: refused (nothing changed), unknown outcome, or out of memory.
pub async fn commit(node: &Node, txn: Txn) -> Result<TxnOutcome, Refusal> {
    let writes_memory = txn.success.iter().chain(&txn.failure).any(|op| matches!(op, TxnOp::Put { .. }));
    if writes_memory && node.out_of_memory() {
        return Err(Box::new(error(
            StatusCode::INSUFFICIENT_STORAGE,
            "out_of_memory",
            "OOM command not allowed when used memory > 'maxmemory'",
        )));
    }
    match node.write(Write::Txn { session: None, txn: txn.clone() }).await {
        Ok(reply) => match TxnOutcome::from_reply(reply.clone(), &txn) {
            Some(outcome) => Ok(outcome),
            None => Err(Box::new(match reply {
                Reply::Error(text) => error(StatusCode::CONFLICT, "refused", &text),
                other => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    &format!("the transaction answered out of shape: {other:?}"),
                ),
            })),
        },
        Err(failure) => Err(Box::new(node_error(failure))),
    }
}

/// The body of `POST /v1/txn`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TxnBody {
    /// How keys and values are written, both ways (`text` or `base64`).
    encoding: Option<String>,
    #[serde(default)]
    compare: Vec<CompareBody>,
    #[serde(default)]
    success: Vec<OpBody>,
    #[serde(default)]
    failure: Vec<OpBody>,
}

/// The body of `POST /v1/batch`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    encoding: Option<String>,
    ops: Vec<OpBody>,
}

/// One compare.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareBody {
    key: Option<String>,
    key_base64: Option<String>,
    target: String,
    op: Option<String>,
    /// What the target is compared with: a string for `value`, a number for the revisions and
    /// `ttl_ms`, a boolean for `exists` (or the field named after the target).
    #[schema(value_type = Option<Object>)]
    value: Option<Value>,
    value_base64: Option<String>,
    revision: Option<u64>,
    ttl_ms: Option<i64>,
    exists: Option<bool>,
}

/// One operation: exactly one of its fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpBody {
    put: Option<PutOp>,
    delete: Option<KeyOp>,
    get: Option<KeyOp>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutOp {
    key: Option<String>,
    key_base64: Option<String>,
    value: Option<String>,
    value_base64: Option<String>,
    ttl_ms: Option<u64>,
    #[serde(default)]
    keep_ttl: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyOp {
    key: Option<String>,
    key_base64: Option<String>,
}

fn key(text: Option<String>, base64: Option<String>, encoding: Encoding) -> Result<Bytes, String> {
    let key = json_bytes::required("key", text, base64, encoding)?;
    if key.len() > KEY_BYTES_MAX {
        return Err(format!("a key of {} bytes is over the limit of {KEY_BYTES_MAX}", key.len()));
    }
    Ok(key)
}

impl CompareBody {
    fn into_compare(self, encoding: Encoding) -> Result<Compare, String> {
        let key = key(self.key, self.key_base64, encoding)?;
        let op = match self.op.as_deref() {
            None | Some("eq" | "==" | "=") => CompareOp::Equal,
            Some("ne" | "!=") => CompareOp::NotEqual,
            Some("gt" | ">") => CompareOp::Greater,
            Some("lt" | "<") => CompareOp::Less,
            Some(other) => return Err(format!("op is ==, !=, > or < (or eq, ne, gt, lt), not {other:?}")),
        };
        let needs = |what: &str| format!("a compare on {} needs {what}", self.target);
        let number = self.value.as_ref().and_then(Value::as_i64);
        let revision = self.revision.or(number.and_then(|n| u64::try_from(n).ok()));
        let target = match self.target.as_str() {
            "value" => {
                let text = match self.value {
                    Some(Value::String(text)) => Some(text),
                    None => None,
                    Some(_) => return Err("a compare on value takes a string value".into()),
                };
                CompareTarget::Value(json_bytes::required("value", text, self.value_base64, encoding)?)
            }
            "mod_revision" => CompareTarget::ModRevision(revision.ok_or_else(|| needs("a revision"))?),
            "create_revision" => CompareTarget::CreateRevision(revision.ok_or_else(|| needs("a revision"))?),
            "ttl_ms" => CompareTarget::TtlMs(self.ttl_ms.or(number).ok_or_else(|| needs("a number of ms"))?),
            "exists" => {
                if !matches!(op, CompareOp::Equal | CompareOp::NotEqual) {
                    return Err("a compare on exists takes op == or !=".into());
                }
                let exists = self.exists.or(self.value.as_ref().and_then(Value::as_bool));
                CompareTarget::Exists(exists.ok_or_else(|| needs("true or false"))?)
            }
            other => {
                return Err(format!(
                    "target is value, mod_revision, create_revision, ttl_ms or exists, not {other:?}"
                ))
            }
        };
        Ok(Compare { key, op, target })
    }
}

impl OpBody {
    fn into_op(self, encoding: Encoding) -> Result<TxnOp, String> {
        match (self.put, self.delete, self.get) {
            (Some(put), None, None) => {
                let ttl_ms = ttl_checked(put.ttl_ms)?;
                if ttl_ms.is_some() && put.keep_ttl {
                    return Err("give ttl_ms or keep_ttl, not both".into());
                }
                Ok(TxnOp::Put {
                    key: key(put.key, put.key_base64, encoding)?,
                    value: json_bytes::required("value", put.value, put.value_base64, encoding)?,
                    ttl_ms,
                    keep_ttl: put.keep_ttl,
                })
            }
            (None, Some(delete), None) => {
                Ok(TxnOp::Delete { key: key(delete.key, delete.key_base64, encoding)? })
            }
            (None, None, Some(get)) => Ok(TxnOp::Get { key: key(get.key, get.key_base64, encoding)? }),
            _ => Err("each operation is an object with exactly one of put, delete or get".into()),
        }
    }
}

/// Checks that `caller` may run every part of `txn`; the 403 otherwise.
fn permitted(caller: &Caller, txn: &Txn) -> Result<(), Refusal> {
    for compare in &txn.compares {
        caller.check_key(&compare.key, KeyAccess::READ)?;
    }
    for op in txn.success.iter().chain(&txn.failure) {
        let (command, access) = match op {
            TxnOp::Put { .. } => ("set", KeyAccess::WRITE),
            TxnOp::Delete { .. } => ("del", KeyAccess::WRITE),
            TxnOp::Get { .. } => ("get", KeyAccess::READ),
        };
        caller.may_run(command)?;
        caller.check_key(op.key(), access)?;
    }
    Ok(())
}

fn bad(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn checked_len(txn: &Txn) -> Result<(), Refusal> {
    if txn.len() > TRANSACTION_COMMANDS_MAX {
        return Err(Box::new(bad(&format!(
            "{} compares and operations; a transaction holds at most {TRANSACTION_COMMANDS_MAX}",
            txn.len()
        ))));
    }
    Ok(())
}

fn results_json(txn: &Txn, outcome: &TxnOutcome, encoding: Encoding) -> Vec<Value> {
    let ops = if outcome.succeeded { &txn.success } else { &txn.failure };
    ops.iter()
        .zip(&outcome.results)
        .map(|(op, result)| match result {
            OpResult::Put { created } => json!({ "put": { "created": created } }),
            OpResult::Delete { deleted } => json!({ "delete": { "deleted": deleted } }),
            OpResult::Get(found) => {
                json!({ "get": found.as_ref().map(|kv| key_json(op.key(), kv, false, encoding)) })
            }
        })
        .collect()
}

#[utoipa::path(post, path = "/v1/txn", tag = "transactions", request_body = TxnBody,
    responses((status = 200, description = "applied, one branch or the other", body = TxnResponse),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
        (status = 504, description = "the outcome is unknown", body = ErrorBody)))]
pub async fn txn(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Response {
    let body: TxnBody = match parse_json(body) {
        Ok(body) => body,
        Err(refused) => return *refused,
    };
    let parsed = (|| -> Result<(Txn, Encoding), String> {
        let encoding = Encoding::named(body.encoding.as_deref())?;
        let ops = |ops: Vec<OpBody>| ops.into_iter().map(|op| op.into_op(encoding)).collect::<Result<_, _>>();
        let compares =
            body.compare.into_iter().map(|c| c.into_compare(encoding)).collect::<Result<_, _>>()?;
        Ok((Txn { compares, success: ops(body.success)?, failure: ops(body.failure)? }, encoding))
    })();
    let (txn, encoding) = match parsed {
        Ok(txn) => txn,
        Err(why) => return bad(&why),
    };
    if let Err(refused) = checked_len(&txn).and_then(|()| permitted(&caller, &txn)) {
        return *refused;
    }
    match commit(&node, txn.clone()).await {
        Ok(outcome) => Json(json!({
            "succeeded": outcome.succeeded,
            "revision": outcome.revision,
            "results": results_json(&txn, &outcome, encoding),
        }))
        .into_response(),
        Err(refused) => *refused,
    }
}

#[utoipa::path(post, path = "/v1/batch", tag = "transactions", request_body = BatchBody,
    responses((status = 200, description = "every operation applied, in one log entry", body = BatchResponse),
        (status = 400, description = "refused whole; nothing changed", body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn batch(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Response {
    let body: BatchBody = match parse_json(body) {
        Ok(body) => body,
        Err(refused) => return *refused,
    };
    let parsed = Encoding::named(body.encoding.as_deref()).and_then(|encoding| {
        let ops = body.ops.into_iter().map(|op| op.into_op(encoding)).collect::<Result<Vec<_>, _>>()?;
        Ok((ops, encoding))
    });
    let (ops, encoding) = match parsed {
        Ok(parsed) => parsed,
        Err(why) => return bad(&why),
    };
    if ops.iter().any(|op| matches!(op, TxnOp::Get { .. })) {
        return bad("a batch holds puts and deletes; read with GET /v1/kv or in POST /v1/txn");
    }
    let txn = Txn { compares: Vec::new(), success: ops, failure: Vec::new() };
    if let Err(refused) = checked_len(&txn).and_then(|()| permitted(&caller, &txn)) {
        return *refused;
    }
    match commit(&node, txn.clone()).await {
        Ok(outcome) => {
            Json(json!({ "revision": outcome.revision, "results": results_json(&txn, &outcome, encoding) }))
                .into_response()
        }
        Err(refused) => *refused,
    }
}
