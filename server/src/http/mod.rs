//! The HTTP side of a node (production only):
//! - the keys (DESIGN.md §9): `/v1/kv` (keys and ranges, `kv.rs`), `/v1/txn` and `/v1/batch`
//!   (`txn.rs`), `/v1/watch` (Server-Sent Events or a WebSocket, `watch.rs`); keys and values in
//!   JSON as `json_bytes.rs` writes them;
//! - `/` the live dashboard (`dashboard.html`); `/v1/openapi.json` the key API's OpenAPI
//!   description (`openapi.rs`);
//! - `/metrics` in Prometheus's text format, `/healthz` (the process and Raft are running),
//!   `/readyz` (this node can serve linearizable requests);
//! - `GET /v1/cluster`: this node's view (role, leader, term, indexes, members, their lag and,
//!   on the leader, whether each answers);
//! - `POST /v1/cluster/members` with `{"id": 4, "raft_addr": "h:p", "resp_addr": "h:p",
//!   "learner": false}`: add a node (it catches up as a learner, then becomes a voter unless
//!   `learner` is true); `POST /v1/cluster/members/{id}/promote`; `DELETE /v1/cluster/members/{id}`;
//! - `GET /v1/snapshot`: a backup, a snapshot built now at one revision (the
//!   `x-redraft-revision` header), as `application/octet-stream` (`node/backup.rs`).
//!
//! Every route but `/metrics`, `/healthz` and `/readyz` runs as a user, with that user's
//! permissions ([`auth`]). Any node takes a change and passes it to the leader. Errors are JSON
//! with a stable `code`: `bad_request` and `invalid` (400, nothing changed), `not_found` (404),
//! `condition_failed` (412, nothing changed), `compacted` (410), `no_leader` and `unavailable`
//! (503, nothing changed, retry), `outcome_unknown` (504, the change may or may not have been
//! made), `removed` (409): this node is no longer a member.
//!
//! axum and hyper call real tokio inside, so this module is compiled out under madsim
//! (DESIGN.md §5); it calls the same [`Node`] the RESP front end calls.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tower_layer::Layer;

use crate::addr::{is_host_port, NodeAddr};
use crate::error::NodeError;
use crate::membership::MembershipChange;
use crate::node::Node;

mod auth;
mod json_bytes;
mod kv;
mod listener;
mod openapi;
mod schema;
mod txn;
mod watch;

pub use listener::{serve, serve_with, HttpLimits};

/// What serves each HTTP request: the routes, with the body limit and [`auth`] around the
/// router once (`Router::layer` would wrap each route, and box one more future per request).
pub type Service = auth::Authorized<<DefaultBodyLimit as Layer<Router>>::Service>;

/// The routes over `node`, behind the body limit and [`auth`].
pub fn service(node: Arc<Node>) -> Service {
    auth::Authorized::new(node.clone(), DefaultBodyLimit::max(BODY_BYTES_MAX).layer(router(node)))
}

/// The routes, over `node`.
fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/cluster", get(cluster_status))
        .route("/v1/cluster/members", post(add_member))
        .route("/v1/cluster/members/:id", delete(remove_member))
        .route("/v1/cluster/members/:id/promote", post(promote_member))
        .route("/v1/snapshot", get(snapshot))
        .route("/v1/kv", get(kv::get_root).put(kv::put_root).delete(kv::delete_root))
        .route("/v1/kv/*key", get(kv::get_key).put(kv::put_key).delete(kv::delete_key))
        .route("/v1/txn", post(txn::txn))
        .route("/v1/batch", post(txn::batch))
        .route("/v1/watch", get(watch::watch))
        .route("/v1/openapi.json", get(openapi_json))
        .with_state(node)
}

/// The live dashboard (`dashboard.html`, built into the binary): the cluster, throughput and
/// latency from `/metrics`, a feed from `/v1/watch`, and a key browser over `/v1/kv`. It needs
/// the permission to read the cluster, so that a browser asks for the user before it loads.
async fn dashboard() -> impl IntoResponse {
    axum::response::Html(include_str!("dashboard.html"))
}

/// The OpenAPI description of the key API (`openapi.rs`).
async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi::document())
}

async fn metrics(State(node): State<Arc<Node>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], node.metrics().render())
}

async fn healthz(State(node): State<Arc<Node>>) -> impl IntoResponse {
    match node.raft_failure() {
        None => (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "failed", "code": "raft_stopped", "error": why })),
        ),
    }
}

async fn readyz(State(node): State<Arc<Node>>) -> impl IntoResponse {
    let metrics = node.raft().metrics().borrow().clone();
    let body = serde_json::json!({
        "ready": node.is_ready(),
        "node_id": node.id(),
        "leader": metrics.current_leader,
        "term": metrics.current_term,
        "applied_index": metrics.last_applied.map_or(0, |id| id.index),
    });
    if node.is_ready() {
        (StatusCode::OK, Json(body))
    } else {
        let mut body = body;
        body["code"] = "not_ready".into();
        (StatusCode::SERVICE_UNAVAILABLE, Json(body))
    }
}

async fn cluster_status(State(node): State<Arc<Node>>) -> Response {
    Json(node.cluster_status()).into_response()
}

/// The body of `POST /v1/cluster/members`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMember {
    id: u64,
    raft_addr: String,
    resp_addr: String,
    #[serde(default)]
    learner: bool,
}

async fn add_member(State(node): State<Arc<Node>>, body: Result<Json<AddMember>, JsonRejection>) -> Response {
    let Json(add) = match body {
        Ok(body) => body,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, "bad_request", &rejection.body_text()),
    };
    if add.id == 0 {
        return error(StatusCode::BAD_REQUEST, "bad_request", "id must be a positive integer");
    }
    for (name, value) in [("raft_addr", &add.raft_addr), ("resp_addr", &add.resp_addr)] {
        if !is_host_port(value) {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("{name} {value:?} is not host:port"),
            );
        }
    }
    let addr = NodeAddr { raft_addr: add.raft_addr, resp_addr: add.resp_addr };
    change(&node, MembershipChange::Add { id: add.id, addr, voter: !add.learner }).await
}

async fn promote_member(State(node): State<Arc<Node>>, Path(id): Path<String>) -> Response {
    match member_id(&id) {
        Some(id) => change(&node, MembershipChange::Promote { id }).await,
        None => bad_member_id(&id),
    }
}

async fn remove_member(State(node): State<Arc<Node>>, Path(id): Path<String>) -> Response {
    match member_id(&id) {
        Some(id) => change(&node, MembershipChange::Remove { id }).await,
        None => bad_member_id(&id),
    }
}

fn member_id(text: &str) -> Option<u64> {
    text.parse::<u64>().ok().filter(|id| *id > 0)
}

fn bad_member_id(text: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", &format!("node id {text:?} is not a positive integer"))
}

/// Makes a membership change through the leader and answers with the cluster as it is after it.
async fn change(node: &Node, change: MembershipChange) -> Response {
    match node.change_membership(change).await {
        Ok(result) => Json(json!({ "result": result, "cluster": node.cluster_status() })).into_response(),
        Err(NodeError::Unknown(why)) => error(
            StatusCode::GATEWAY_TIMEOUT,
            "outcome_unknown",
            &format!("the change's outcome is unknown ({why}); read GET /v1/cluster before retrying"),
        ),
        Err(other) => node_error(other),
    }
}

/// A response that ends a request early (boxed: a `Response` is large for an `Err`).
type Refusal = Box<Response>;

/// A JSON request body, whatever its `Content-Type` says (`curl -d` sends a form type).
fn parse_json<T: serde::de::DeserializeOwned>(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<T, Refusal> {
    let body =
        body.map_err(|rejection| Box::new(error(rejection.status(), "bad_request", &rejection.body_text())))?;
    serde_json::from_slice(&body).map_err(|e| {
        Box::new(error(StatusCode::BAD_REQUEST, "bad_request", &format!("the body is not valid: {e}")))
    })
}

/// The response to a request the node refused or could not finish.
fn node_error(failure: NodeError) -> Response {
    match failure {
        NodeError::Invalid(why) => error(StatusCode::BAD_REQUEST, "invalid", &why),
        NodeError::NotLeader { .. } => {
            error(StatusCode::SERVICE_UNAVAILABLE, "no_leader", "no leader is elected yet; retry shortly")
        }
        NodeError::Unavailable(why) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &why),
        removed @ NodeError::Removed { .. } => error(StatusCode::CONFLICT, "removed", &removed.reply_text()),
        NodeError::Unknown(why) => error(
            StatusCode::GATEWAY_TIMEOUT,
            "outcome_unknown",
            &format!("the outcome is unknown ({why}); read before retrying"),
        ),
    }
}

async fn snapshot(State(node): State<Arc<Node>>) -> Response {
    let backup = node.backup().await.and_then(|backup| {
        let length =
            backup.data.len().map_err(|e| NodeError::Unavailable(format!("the snapshot file: {e}")))?;
        Ok((backup, length))
    });
    match backup {
        Ok((backup, length)) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (header::CONTENT_LENGTH, length.to_string()),
                (header::HeaderName::from_static("x-redraft-revision"), backup.revision.to_string()),
            ],
            axum::body::Body::from_stream(chunks(backup.data)),
        )
            .into_response(),
        Err(error) => self::error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &error.to_string()),
    }
}

/// The bytes of `data` from where it stands, in pieces of [`BODY_CHUNK_BYTES`], ending after the
/// first error.
fn chunks(
    data: crate::snapshot_data::SnapshotData,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    futures::stream::unfold(Some(data), |data| async move {
        let mut data = data?;
        let mut piece = vec![0; BODY_CHUNK_BYTES];
        match std::io::Read::read(&mut data, &mut piece) {
            Ok(0) => None,
            Ok(read) => {
                piece.truncate(read);
                Some((Ok(bytes::Bytes::from(piece)), Some(data)))
            }
            Err(error) => Some((Err(error), None)),
        }
    })
}

/// The largest request body the key routes take: a value of up to this size, or a transaction
/// or batch of up to this much JSON. Larger values go through RESP (up to its
/// `proto-max-bulk-len`).
pub const BODY_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The pieces a snapshot is sent in.
const BODY_CHUNK_BYTES: usize = 256 * 1024;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "code": code, "error": message }))).into_response()
}
