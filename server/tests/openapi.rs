//! `/v1/openapi.json` against the server and the README: every field a real response carries is
//! described by the schema the description gives for that route and status (so the description
//! cannot drift from the handlers), and the README's route table names exactly the described
//! routes.
#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write as _};
use std::time::Duration;

use common::{http_request, ServerProcess};
use serde_json::{json, Value};

/// Resolves a `$ref` (or returns the schema itself).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().expect("a name");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The schemas a value may match: the schema, or the branches of its `oneOf`/`anyOf`.
fn branches<'a>(doc: &'a Value, schema: &'a Value) -> Vec<&'a Value> {
    let schema = resolve(doc, schema);
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = schema[key].as_array() {
            return list.iter().flat_map(|s| branches(doc, s)).collect();
        }
    }
    vec![schema]
}

/// Every field of `value` (recursively) is a property of `schema`; returns the undescribed paths.
fn undescribed(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let candidates = branches(doc, schema);
    match value {
        Value::Object(fields) => {
            let objects: Vec<&&Value> = candidates.iter().filter(|s| s["properties"].is_object()).collect();
            if objects.is_empty() {
                if candidates.iter().any(|s| {
                    s["type"] == "object"
                        || s["type"].as_array().is_some_and(|t| t.contains(&json!("object")))
                }) {
                    return missing; // a free-form object
                }
                return vec![format!("{at} (an object where the schema has none)")];
            }
            // The branch of a oneOf that describes the value best.
            let best = objects
                .iter()
                .map(|object| {
                    let mut lacking = Vec::new();
                    for (name, field) in fields {
                        match object["properties"].get(name) {
                            Some(property) => {
                                lacking.extend(undescribed(doc, property, field, &format!("{at}.{name}")))
                            }
                            None => lacking.push(format!("{at}.{name}")),
                        }
                    }
                    lacking
                })
                .min_by_key(Vec::len)
                .unwrap_or_default();
            missing.extend(best);
        }
        Value::Array(items) => {
            if let Some(item_schema) = candidates.iter().find_map(|s| s.get("items")) {
                for (i, item) in items.iter().enumerate() {
                    missing.extend(undescribed(doc, item_schema, item, &format!("{at}[{i}]")));
                }
            }
        }
        _ => {}
    }
    missing
}

/// The value with what depends on the clock (`ttl_ms`, `expire_at_ms`) replaced by a marker.
fn redacted(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| match k.as_str() {
                    "ttl_ms" | "expire_at_ms" => (k, json!("[time]")),
                    _ => (k, redacted(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redacted).collect()),
        other => other,
    }
}

fn response_schema<'a>(doc: &'a Value, path: &str, method: &str, status: u16) -> &'a Value {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(response.is_object(), "{method} {path} does not describe status {status}");
    let content = response["content"].as_object().expect("content");
    &content.values().next().expect("a media type")["schema"]
}

#[test]
fn the_description_covers_every_response_and_the_readme_route_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("node"), &[]);
    let http = server.http_addr.clone();
    let (status, text) = http_request(&http, "GET", "/v1/openapi.json", None);
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);

    let bodies = std::cell::RefCell::new(String::new());
    let check = |method: &str, route: &str, path: &str, body: Option<Value>, expect: u16| {
        let text = body.map(|b| b.to_string());
        let (status, response) = http_request(&http, &method.to_uppercase(), path, text.as_deref());
        assert_eq!(status, expect, "{method} {path}: {response}");
        let value: Value = serde_json::from_str(&response).expect("a JSON body");
        let shown = serde_json::to_string_pretty(&redacted(value.clone())).expect("JSON");
        bodies.borrow_mut().push_str(&format!("{} {path} -> {status}\n{shown}\n\n", method.to_uppercase()));
        let missing = undescribed(&doc, response_schema(&doc, route, method, status), &value, "body");
        assert!(
            missing.is_empty(),
            "{method} {path} ({status}) sends fields the description lacks: {missing:?}"
        );
    };
    let key = "/v1/kv/{key}";
    check("put", key, "/v1/kv/a", Some(json!({ "value": "1", "ttl_ms": 60000 })), 201);
    check("put", key, "/v1/kv/a", Some(json!({ "value": "2", "prev": true })), 200);
    check("put", key, "/v1/kv/a", Some(json!({ "value": "3", "if_revision": 1 })), 412);
    check("put", key, "/v1/kv/a", Some(json!({ "valu": "3" })), 400);
    check("put", "/v1/kv", "/v1/kv?key_base64=%2Fw%3D%3D", Some(json!({ "value_base64": "/w==" })), 201);
    check("get", key, "/v1/kv/a", None, 200);
    check("get", key, "/v1/kv/a?encoding=base64", None, 400);
    check("get", key, "/v1/kv/missing", None, 404);
    check("get", "/v1/kv", "/v1/kv?key_base64=%2Fw%3D%3D", None, 200);
    check("get", "/v1/kv", "/v1/kv?prefix=&limit=1", None, 200);
    check("get", "/v1/kv", "/v1/kv?prefix=&count_only=true", None, 200);
    let txn = json!({ "compare": [{ "key": "a", "target": "exists", "value": true }],
        "success": [{ "put": { "key": "b", "value": "1" } }, { "delete": { "key": "a" } }, { "get": { "key": "b" } }] });
    check("post", "/v1/txn", "/v1/txn", Some(txn), 200);
    check(
        "post",
        "/v1/batch",
        "/v1/batch",
        Some(json!({ "ops": [{ "put": { "key": "c", "value": "1" } }] })),
        200,
    );
    check("delete", key, "/v1/kv/c?prev=true", None, 200);
    check("delete", "/v1/kv", "/v1/kv?key_base64=%2Fw%3D%3D&if_value=x", None, 412);

    // Watch: each event's data is a WatchEvent; the events are pinned with the bodies above.
    let mut stream = std::net::TcpStream::connect(&http).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET /v1/watch?prefix=&start_revision=1&progress_ms=100 HTTP/1.0\r\nHost: x\r\n\r\n")
        .expect("write");
    let event_schema = response_schema(&doc, "/v1/watch", "get", 200);
    let mut kinds = BTreeSet::new();
    for line in BufReader::new(stream).lines() {
        let line = line.expect("a line");
        let Some(data) = line.strip_prefix("data: ") else { continue };
        let event: Value = serde_json::from_str(data).expect("JSON");
        let missing = undescribed(&doc, event_schema, &event, "event");
        assert!(missing.is_empty(), "a watch event has undescribed fields: {missing:?} in {event}");
        kinds.insert(event["type"].as_str().expect("type").to_owned());
        // A progress notification's revision is the node's applied index when it is sent,
        // which its own entries (leader blanks, time advances) move.
        let shown = match event["type"].as_str() {
            Some("progress") => json!({ "type": "progress", "revision": "[revision]" }),
            _ => redacted(event),
        };
        bodies.borrow_mut().push_str(&format!("watch event: {shown}\n"));
        if kinds.contains("progress") {
            break;
        }
    }
    assert_eq!(kinds, BTreeSet::from(["put", "delete", "progress"].map(String::from)));

    // A start_revision the history no longer holds: the node restarted with a window of two
    // changes.
    let data_dir = server.data_dir.clone();
    server.stop();
    let config = data_dir.with_extension("toml");
    std::fs::write(&config, "watch-history-changes = 2\n").expect("config");
    let server = ServerProcess::start(&data_dir, &["--config", config.to_str().expect("utf-8")]);
    let (status, text) = http_request(&server.http_addr, "GET", "/v1/watch?prefix=&start_revision=1", None);
    assert_eq!(status, 410, "{text}");
    let refused: Value = serde_json::from_str(&text).expect("a JSON body");
    let missing = undescribed(&doc, response_schema(&doc, "/v1/watch", "get", 410), &refused, "body");
    assert!(missing.is_empty(), "the compacted refusal sends undescribed fields: {missing:?}");
    // The oldest revision held follows the node's own entries (leader blanks, time advances).
    let oldest = refused["oldest_revision"].as_u64().expect("oldest_revision");
    let mut shown = refused.clone();
    shown["oldest_revision"] = json!("[oldest]");
    let error = refused["error"].as_str().expect("error");
    shown["error"] = json!(error.replace(&format!("is {oldest}"), "is [oldest]"));
    let shown = serde_json::to_string_pretty(&shown).expect("JSON");
    bodies
        .borrow_mut()
        .push_str(&format!("\nGET /v1/watch?prefix=&start_revision=1 after a restart -> 410\n{shown}\n"));

    // Every body, pinned (times redacted; revisions are those of a fresh node).
    insta::assert_snapshot!("http_bodies", bodies.into_inner());

    // The README's route table names exactly the described routes.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
    let section = readme
        .split("### The HTTP API")
        .nth(1)
        .expect("the HTTP section")
        .split("\n### ")
        .next()
        .unwrap_or("");
    let mut in_readme = BTreeSet::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let first_cell = row.split(" | ").next().unwrap_or("");
        for route in first_cell.split('`').skip(1).step_by(2) {
            // `METHOD /path...`; other code in the cell (`?start=&end=`) continues a route.
            let Some((method, path)) =
                route.split_once(' ').filter(|(m, _)| m.chars().all(|c| c.is_ascii_uppercase()))
            else {
                continue;
            };
            let path = path.split('?').next().unwrap_or(path);
            in_readme.insert((method.to_lowercase(), path.to_owned()));
        }
    }
    let described: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().expect("methods").keys().map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    assert_eq!(in_readme, described, "the README's HTTP route table and /v1/openapi.json differ");
}
