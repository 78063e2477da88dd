//! The HTTP side of a node (production only): `/metrics` in Prometheus's text format, `/healthz`
//! (the process and Raft are running) and `/readyz` (this node can serve linearizable requests).
//!
//! axum and hyper call real tokio inside, so this module is compiled out under madsim
//! (DESIGN.md §5); it calls the same [`Node`] the RESP front end calls.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::node::Node;

/// The routes, over `node`.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(node)
}

/// Serves the routes until `stop` turns true.
///
/// # Errors
/// The listener failed.
pub async fn serve(
    listener: TcpListener,
    node: Arc<Node>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router(node))
        .with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        })
        .await
}

async fn metrics(State(node): State<Arc<Node>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], node.metrics().render())
}

async fn healthz(State(node): State<Arc<Node>>) -> impl IntoResponse {
    let running = node.raft().metrics().borrow().running_state.clone();
    match running {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))),
        Err(fatal) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                serde_json::json!({ "status": "failed", "code": "raft_stopped", "error": fatal.to_string() }),
            ),
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
