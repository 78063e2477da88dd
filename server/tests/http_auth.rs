//! The HTTP API takes the same users as RESP, on a real `redraft-server` process: with a
//! password set, `/v1/cluster` needs Basic auth, each route the permission of the RESP command
//! that does the same, while `/metrics`, `/healthz` and `/readyz` stay open to scrapers and
//! probes. Before this, anyone who reached the HTTP port could add or remove members.
#![cfg(not(madsim))]

mod common;

use base64::Engine as _;
use common::{ok, ServerProcess};

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {token}\r\n")
}

#[test]
fn http_routes_need_a_user_with_the_permission() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("node"), &["--requirepass", "pw"]);
    let http = server.http_addr.clone();
    let get = |path: &str, headers: &str| common::http_request_with(&http, "GET", path, None, headers);

    for open in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get(open, "").0, 200, "{open} needs no user");
    }
    let (status, body) = get("/v1/cluster", "");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"unauthorized\""), "{body}");
    assert_eq!(get("/v1/cluster", &basic("default", "wrong")).0, 401);
    assert_eq!(get("/v1/cluster", "Authorization: Bearer x\r\n").0, 401);
    assert_eq!(get("/v1/cluster", &basic("default", "pw")).0, 200);

    // A user that may read the cluster but not change it.
    let mut client = server.client();
    assert_eq!(client.call(&["AUTH", "pw"]).expect("AUTH"), ok());
    let reply = client.call(&["ACL", "SETUSER", "viewer", "on", ">v", "+raft.info"]).expect("ACL SETUSER");
    assert_eq!(reply, ok());
    assert_eq!(get("/v1/cluster", &basic("viewer", "v")).0, 200);
    let add = r#"{"id": 9, "raft_addr": "127.0.0.1:1", "resp_addr": "127.0.0.1:2"}"#;
    let (status, body) =
        common::http_request_with(&http, "POST", "/v1/cluster/members", Some(add), &basic("viewer", "v"));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("'raft.add'"), "{body}");
    let (status, body) =
        common::http_request_with(&http, "DELETE", "/v1/cluster/members/9", None, &basic("viewer", "v"));
    assert_eq!(status, 403, "{body}");
}
