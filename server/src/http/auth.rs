//! Who an HTTP request runs as, and whether it may (DESIGN.md §8: HTTP takes the same users as
//! RESP). `Authorization: Basic` names a user and its password; a request without it runs as the
//! `default` user when that user is on and needs no password, as a new RESP connection does,
//! and is refused with 401 otherwise. Each route needs the permission of the RESP command that
//! does the same (`GET /v1/cluster` is RAFT.INFO, adding a member RAFT.ADD, ...); `/metrics`,
//! `/healthz` and `/readyz` need none, for scrapers and probes, as etcd serves them.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use bytes::Bytes;
use futures::future::{ready, Either, Ready};
use redraft_core::acl::category::position;
use redraft_core::acl::{KeyAccess, User, Users, DEFAULT_USER};
use tower_service::Service;

use super::{error, Refusal};
use crate::node::Node;

/// Who a request runs as, for the routes that check keys too (`/v1/kv`, `/v1/txn`, `/v1/watch`).
#[derive(Clone)]
pub struct Caller {
    users: Arc<Users>,
    name: String,
}

impl Caller {
    fn user(&self) -> Option<&User> {
        self.users.get(&self.name)
    }

    /// Whether the user may run the RESP command `command` (lower case).
    pub fn may_run(&self, command: &str) -> Result<(), Refusal> {
        let index = position(command.as_bytes()).expect("the command is in the ACL table");
        if self.user().is_some_and(|user| user.may_run(index)) {
            Ok(())
        } else {
            Err(Box::new(error(
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!("NOPERM this user has no permissions to run the '{command}' command"),
            )))
        }
    }

    /// Whether the user may touch `key` as `access` asks.
    pub fn may_touch(&self, key: &[u8], access: KeyAccess) -> bool {
        self.user().is_some_and(|user| user.may_touch(key, access))
    }

    /// As [`Caller::may_touch`], with the 403 Redis's text names.
    pub fn check_key(&self, key: &[u8], access: KeyAccess) -> Result<(), Refusal> {
        if self.may_touch(key, access) {
            Ok(())
        } else {
            Err(Box::new(error(StatusCode::FORBIDDEN, "forbidden", "NOPERM No permissions to access a key")))
        }
    }
}

/// The routes (or any service) behind [`authorize`]: every request is checked before it is
/// routed. Written by hand rather than with `axum::middleware::from_fn`, which clones the
/// route's service and boxes a future for every request; the check itself never waits. It
/// wraps the whole router (`super::service`), not each route as `Router::layer` would: that
/// boxes one more future per request.
#[derive(Clone)]
pub struct Authorized<S> {
    inner: S,
    node: Arc<Node>,
}

impl<S> Authorized<S> {
    pub fn new(node: Arc<Node>, inner: S) -> Authorized<S> {
        Authorized { inner, node }
    }
}

impl<S, B> Service<axum::http::Request<B>> for Authorized<S>
where
    S: Service<Request, Response = Response>,
    B: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let mut request = request.map(Body::new);
        match authorize(&self.node, &mut request) {
            Ok(()) => Either::Right(self.inner.call(request)),
            Err(refused) => Either::Left(ready(Ok(*refused))),
        }
    }
}

/// Finds who `request` runs as and whether the user may run its route, and records the user for
/// the route ([`Caller`]); or the answer that refuses it.
fn authorize(node: &Node, request: &mut Request) -> Result<(), Refusal> {
    let Some(command) = command_of(request.method(), request.uri().path()) else {
        return Ok(());
    };
    let (_, users) = node.users();
    let user: Option<&User> = match request.headers().get(header::AUTHORIZATION) {
        Some(value) => match basic_credentials(value) {
            Some((name, password)) => users.authenticate(name.as_bytes(), password.as_bytes()),
            None => {
                return Err(unauthorized(
                    "the Authorization header is not Basic with user:password in base64",
                ))
            }
        },
        None => match users.get(DEFAULT_USER).filter(|u| u.enabled && u.nopass) {
            Some(user) => Some(user),
            None => {
                return Err(unauthorized("authentication required: give a user and password with Basic auth"))
            }
        },
    };
    let Some(user) = user else {
        return Err(unauthorized("invalid username-password pair or user is disabled"));
    };
    let caller = Caller { name: user.name.clone(), users: users.clone() };
    caller.may_run(command)?;
    request.extensions_mut().insert(caller);
    Ok(())
}

/// The RESP command whose permission a route needs, or `None` for one open to all.
fn command_of(method: &Method, path: &str) -> Option<&'static str> {
    if matches!(path, "/metrics" | "/healthz" | "/readyz" | "/v1/openapi.json") {
        return None;
    }
    if path == "/v1/snapshot" {
        return Some("save");
    }
    // Key routes check each operation's own command and keys as well (`Caller`).
    if path == "/v1/kv" || path.starts_with("/v1/kv/") {
        return Some(match *method {
            Method::PUT => "set",
            Method::DELETE => "del",
            _ => "get",
        });
    }
    if matches!(path, "/v1/txn" | "/v1/batch") {
        return Some("exec");
    }
    if path == "/v1/watch" {
        return Some("get");
    }
    // The dashboard, and anything else: reading the cluster.
    let members = path.strip_prefix("/v1/cluster/members");
    Some(match (method, members) {
        (&Method::POST, Some("" | "/")) => "raft.add",
        (&Method::POST, Some(rest)) if rest.ends_with("/promote") => "raft.promote",
        (&Method::DELETE, Some(_)) => "raft.remove",
        // Reading the cluster, and any other path (which is then not found, or not allowed).
        _ => "raft.info",
    })
}

/// `Basic base64(user:password)`.
fn basic_credentials(value: &HeaderValue) -> Option<(String, String)> {
    let encoded = value.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

fn unauthorized(message: &str) -> Refusal {
    let mut response = error(StatusCode::UNAUTHORIZED, "unauthorized", message);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"redraft\""));
    Box::new(response)
}
