//! Watch over HTTP (DESIGN.md §9): `GET /v1/watch?key=|prefix=|start=&end=` (or their `_base64`
//! forms) `&start_revision=N&progress_ms=M`, as Server-Sent Events.
//!
//! The stream sends every change to the watched keys in revision order, exactly once, from
//! `start_revision` (default: the next revision this node applies; a browser's `EventSource`
//! resumes from its `Last-Event-ID`, which wins over `start_revision`, with the rest of a
//! revision it was cut off in), from what this node has applied (any node serves it):
//! - `event: put` / `delete` / `flush`, `id:` where a resume goes on from: the revision the
//!   stream is complete through, the change's own or a later one when the revisions after it
//!   touch no watched key (`revision.count` while more changes of the same revision follow: a
//!   transaction or a batch is one revision), `data:` the change as JSON
//!   (`{"type", "key", "value", "revision", "create_revision", "expire_at_ms", "reason"}`;
//!   a delete's `reason` is `client` or `expiry`; a flush deletes every key);
//! - `event: progress`, `data: {"revision": R}`: the stream is complete up to R (every change up
//!   to it was sent), every `progress_ms` (default 10 s) while nothing else is sent;
//! - `event: error`, `data: {"code": "compacted", ...}`, then the end: the watcher fell so far
//!   behind that the changes it needed left the node's history window. It is cut off rather than
//!   allowed to grow memory, and may resume from a fresh read.
//!
//! The same route upgraded to a WebSocket sends the same items as JSON text messages, each with
//! its `"type"` (`put`, `delete`, `flush`, `progress`, `error`), and answers a client message
//! `{"progress": true}` with a progress message at once (as etcd's progress request).
//!
//! A `start_revision` older than the window is refused at once with 410 and code `compacted`,
//! naming the oldest revision available. Changes to keys the user may not read are left out.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::Stream;
use redraft_core::acl::KeyAccess;
use redraft_core::key_range::KeyRange;
use redraft_core::{Change, ChangeKind, DeleteReason};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error;
use super::json_bytes::{self, Encoding};
use super::schema::{ErrorBody, WatchEvent};
use crate::change_feed::{Compacted, Interest};
use crate::node::Node;
use crate::watch_stream::{Readable, Resume, WatchItem, WatchStream};

/// How often a quiet stream says how far it is complete, by default.
const PROGRESS_MS_DEFAULT: u64 = 10_000;

/// The query of `/v1/watch`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    key: Option<String>,
    key_base64: Option<String>,
    prefix: Option<String>,
    prefix_base64: Option<String>,
    start: Option<String>,
    start_base64: Option<String>,
    end: Option<String>,
    end_base64: Option<String>,
    start_revision: Option<u64>,
    progress_ms: Option<u64>,
    encoding: Option<String>,
}

impl WatchQuery {
    fn interest(self, encoding: Encoding) -> Result<Interest, String> {
        let key = json_bytes::either("key", self.key, self.key_base64, encoding)?;
        let prefix = json_bytes::either("prefix", self.prefix, self.prefix_base64, encoding)?;
        let start = json_bytes::either("start", self.start, self.start_base64, encoding)?;
        let end = json_bytes::either("end", self.end, self.end_base64, encoding)?;
        match (key, prefix, start, end) {
            (Some(key), None, None, None) => Ok(Interest::Key(key)),
            (None, Some(prefix), None, None) => Ok(Interest::Range(KeyRange::prefix(&prefix))),
            (None, None, start, end) if start.is_some() || end.is_some() => {
                Ok(Interest::Range(KeyRange { start: start.unwrap_or_default(), end }))
            }
            _ => {
                Err("watch one of: key, prefix, or start and end (an empty prefix watches every key)".into())
            }
        }
    }
}

/// The JSON of a change.
pub fn change_json(change: &Change, encoding: Encoding) -> Value {
    let mut out = match &change.kind {
        ChangeKind::Put { key, value, create_revision, expire_at_ms } => {
            let mut out = json!({ "type": "put", "create_revision": create_revision });
            if let Some(at) = expire_at_ms {
                out["expire_at_ms"] = json!(at);
            }
            json_bytes::insert(&mut out, "key", key, encoding);
            json_bytes::insert(&mut out, "value", value, encoding);
            out
        }
        ChangeKind::Update { key, kind, create_revision, expire_at_ms } => {
            // A hash, list or set: a put without a value, naming the type.
            let mut out =
                json!({ "type": "put", "data_type": kind.as_str(), "create_revision": create_revision });
            if let Some(at) = expire_at_ms {
                out["expire_at_ms"] = json!(at);
            }
            json_bytes::insert(&mut out, "key", key, encoding);
            out
        }
        ChangeKind::Delete { key, reason } => {
            let reason = match reason {
                DeleteReason::Client => "client",
                DeleteReason::Expiry => "expiry",
            };
            let mut out = json!({ "type": "delete", "reason": reason });
            json_bytes::insert(&mut out, "key", key, encoding);
            out
        }
        ChangeKind::Flush => json!({ "type": "flush", "reason": "flush" }),
        // Published messages and keyspace events never enter the feed watchers read
        // (`state_machine_store.rs`).
        ChangeKind::Message { .. } | ChangeKind::Event { .. } => json!({ "type": "message" }),
    };
    out["revision"] = json!(change.revision);
    out
}

fn compacted_json(compacted: Compacted, behind: bool) -> Value {
    let message = if behind {
        format!(
            "this watcher fell behind: revision {} left the history window (the oldest available is {}); \
             read the keys again and watch from the revision of that read",
            compacted.wanted, compacted.oldest
        )
    } else {
        compacted.to_string()
    };
    json!({ "code": "compacted", "error": message, "oldest_revision": compacted.oldest })
}

#[utoipa::path(get, path = "/v1/watch", tag = "watch", params(WatchQuery),
    description = "Server-Sent Events (`put`, `delete`, `flush`, `progress`, `error`), or a WebSocket when upgraded; each event's data is a WatchEvent.",
    responses((status = 200, description = "the event stream", content_type = "text/event-stream", body = WatchEvent),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 410, description = "start_revision is older than the history window", body = ErrorBody)))]
pub async fn watch(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    query: Result<Query<WatchQuery>, QueryRejection>,
    socket: Option<WebSocketUpgrade>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, "bad_request", &rejection.body_text()),
    };
    let progress = Duration::from_millis(query.progress_ms.unwrap_or(PROGRESS_MS_DEFAULT).max(10));
    // A browser's EventSource reconnects to the same URL with the id of the last event it got:
    // that id, where present, says where to go on from.
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(parse_event_id);
    let start = resume.or(query.start_revision.map(Resume::at));
    let (interest, encoding) =
        match Encoding::named(query.encoding.as_deref()).and_then(|e| Ok((query.interest(e)?, e))) {
            Ok(parsed) => parsed,
            Err(why) => return error(StatusCode::BAD_REQUEST, "bad_request", &why),
        };
    if let Interest::Key(key) = &interest {
        if let Err(refused) = caller.check_key(key, KeyAccess::READ) {
            return *refused;
        }
    }
    let feed = node.changes().clone();
    let from = match start {
        Some(Resume { revision: 0, .. }) => {
            return error(StatusCode::BAD_REQUEST, "bad_request", "start_revision starts at 1")
        }
        Some(from) => from,
        None => Resume::at(feed.bounds().0 + 1),
    };
    if let Err(compacted) = feed.read(from.revision, &interest, 0) {
        return (StatusCode::GONE, Json(compacted_json(compacted, false))).into_response();
    }
    let readable: Readable = Box::new(move |key| caller.may_touch(key, KeyAccess::READ));
    let watcher = Watcher { stream: WatchStream::new(feed, interest, from, progress, readable), encoding };
    match socket {
        Some(socket) => socket.on_upgrade(move |socket| over_websocket(socket, watcher)),
        None => Sse::new(server_sent_events(watcher)).keep_alive(KeepAlive::default()).into_response(),
    }
}

/// A watch and how its changes are written.
struct Watcher {
    stream: WatchStream,
    encoding: Encoding,
}

fn item_json(item: &WatchItem, encoding: Encoding) -> Value {
    match item {
        WatchItem::Change(change) => change_json(change, encoding),
        WatchItem::Progress(revision) => json!({ "type": "progress", "revision": revision }),
        WatchItem::Compacted(compacted) => {
            let mut out = compacted_json(*compacted, true);
            out["type"] = json!("error");
            out
        }
    }
}

fn server_sent_events(watcher: Watcher) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(watcher, |mut watcher| async move {
        let item = watcher.stream.next_item().await?;
        let data = item_json(&item, watcher.encoding).to_string();
        let event = match &item {
            WatchItem::Change(change) => {
                Event::default().event(kind_name(&change.kind)).id(event_id(watcher.stream.resume()))
            }
            WatchItem::Progress(revision) => Event::default().event("progress").id(revision.to_string()),
            WatchItem::Compacted(_) => Event::default().event("error"),
        };
        Some((Ok(event.data(data)), watcher))
    })
}

/// The same stream over a WebSocket, one JSON text message per item (`"type"` says which); the
/// client may send `{"progress": true}` at any time, and is answered with a progress message
/// as soon as every change before it was sent.
async fn over_websocket(mut socket: WebSocket, mut watcher: Watcher) {
    loop {
        let item = tokio::select! {
            item = watcher.stream.next_item() => match item {
                Some(item) => item,
                None => break,
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<Value>(&text) {
                    Ok(request) if request["progress"] == json!(true) => WatchItem::Progress(watcher.stream.complete()),
                    _ => {
                        let refusal = json!({ "type": "error", "code": "bad_request", "error": "send {\"progress\": true}" });
                        if socket.send(Message::Text(refusal.to_string())).await.is_err() {
                            break;
                        }
                        continue;
                    }
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
        };
        if socket.send(Message::Text(item_json(&item, watcher.encoding).to_string())).await.is_err() {
            break;
        }
    }
    let _ = socket.close().await;
}

/// The SSE id after a change: its revision once every change of that revision was sent, or
/// `revision.count` in the middle of one (a revision may hold many changes).
fn event_id(resume: Resume) -> String {
    match resume.skip {
        0 => (resume.revision - 1).to_string(),
        skip => format!("{}.{skip}", resume.revision),
    }
}

/// Where a `Last-Event-ID` says to go on from (see [`event_id`]).
fn parse_event_id(id: &str) -> Option<Resume> {
    match id.split_once('.') {
        None => Some(Resume::at(id.parse::<u64>().ok()?.checked_add(1)?)),
        Some((revision, skip)) => Some(Resume { revision: revision.parse().ok()?, skip: skip.parse().ok()? }),
    }
}

fn kind_name(kind: &ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Put { .. } | ChangeKind::Update { .. } => "put",
        ChangeKind::Delete { .. } => "delete",
        ChangeKind::Flush => "flush",
        ChangeKind::Message { .. } | ChangeKind::Event { .. } => "message",
    }
}
