//! The HTTP/JSON key API on real `redraft-server` processes (DESIGN.md §9): keys with revisions
//! and conditions, ranges that page, transactions and batches, checked against what RESP clients
//! see of the same keys. Watch is in `http_watch.rs`.
#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::Write as _;
use std::time::Duration;

use common::{bulk, http_json as call, ok, revision, ServerProcess};
use redraft_net::resp::Frame;
use serde_json::json;

/// Puts, gets and deletes with revisions and conditions; RESP sees every HTTP write and HTTP
/// every RESP write; bad requests change nothing.
#[test]
fn keys_carry_revisions_and_conditions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("node"), &[]);
    let http = server.http_addr.clone();
    let mut resp = server.client();

    let (status, put) =
        call(&http, "PUT", "/v1/kv/user/1", Some(json!({ "value": "ada", "ttl_ms": 60_000 })));
    assert_eq!((status, &put["created"]), (201, &json!(true)), "{put}");
    let first = revision(&put);
    assert_eq!(resp.call(&["GET", "user/1"]).expect("GET"), bulk("ada"));
    let ttl = resp.call(&["PTTL", "user/1"]).expect("PTTL");
    assert!(matches!(ttl, Frame::Integer(ms) if ms > 59_000 && ms <= 60_000), "{ttl:?}");

    // A RESP write moves the key's modify revision past the HTTP one; create stays.
    assert_eq!(resp.call(&["SET", "user/1", "grace"]).expect("SET"), ok());
    let (status, got) = call(&http, "GET", "/v1/kv/user/1", None);
    assert_eq!(status, 200);
    assert_eq!((got["value"].as_str(), got["create_revision"].as_u64()), (Some("grace"), Some(first)));
    let modified = got["mod_revision"].as_u64().expect("mod_revision");
    assert!(modified > first && revision(&got) >= modified, "{got}");
    assert!(got.get("ttl_ms").is_none(), "SET cleared the TTL: {got}");
    assert_eq!(got["consistency"], "linearizable");
    let (_, stale) = call(&http, "GET", "/v1/kv/user/1?consistency=stale", None);
    assert_eq!((stale["value"].as_str(), stale["consistency"].as_str()), (Some("grace"), Some("stale")));

    // Conditions: a stale revision, a wrong value and if_absent all fail with the key as it is.
    for (path, body) in [
        ("/v1/kv/user/1", json!({ "value": "x", "if_revision": first })),
        ("/v1/kv/user/1", json!({ "value": "x", "if_value": "ada" })),
        ("/v1/kv/user/1", json!({ "value": "x", "if_absent": true })),
        ("/v1/kv/nobody", json!({ "value": "x", "if_present": true })),
    ] {
        let (status, failed) = call(&http, "PUT", path, Some(body.clone()));
        assert_eq!((status, failed["code"].as_str()), (412, Some("condition_failed")), "{body}: {failed}");
    }
    assert_eq!(resp.call(&["GET", "user/1"]).expect("GET"), bulk("grace"));
    assert_eq!(resp.call(&["EXISTS", "nobody"]).expect("EXISTS"), Frame::Integer(0));
    let (_, failed) =
        call(&http, "PUT", "/v1/kv/user/1", Some(json!({ "value": "x", "if_revision": first })));
    assert_eq!(failed["current"]["mod_revision"].as_u64(), Some(modified));
    let (status, swapped) = call(
        &http,
        "PUT",
        "/v1/kv/user/1",
        Some(json!({ "value": "hopper", "if_revision": modified, "prev": true })),
    );
    assert_eq!((status, swapped["created"].as_bool()), (200, Some(false)), "{swapped}");
    assert_eq!(
        (swapped["prev"]["value"].as_str(), swapped["prev"]["mod_revision"].as_u64()),
        (Some("grace"), Some(modified))
    );
    // `prev` only when asked, as etcd's `prev_kv`: a put rewriting the same value has none.
    let (status, plain) = call(&http, "PUT", "/v1/kv/user/1", Some(json!({ "value": "hopper" })));
    assert_eq!((status, plain.get("prev")), (200, None), "{plain}");

    // `encoding=base64`: keys and values in base64 both ways, in their plain fields.
    let (status, _) = call(&http, "PUT", "/v1/kv/YjY0?encoding=base64", Some(json!({ "value": "AAE=" })));
    assert_eq!(status, 201);
    let b64 = resp.call(&["STRLEN", "b64"]).expect("STRLEN");
    assert_eq!(b64, Frame::Integer(2));
    let (status, refused) = call(&http, "GET", "/v1/kv/b64?encoding=base64", None);
    assert_eq!(status, 400, "the path is base64 too: {refused}");
    let (_, got) = call(&http, "GET", "/v1/kv/YjY0?encoding=base64", None);
    assert_eq!((got["key"].as_str(), got["value"].as_str()), (Some("YjY0"), Some("AAE=")), "{got}");

    // Binary keys and values, raw bodies, percent-decoded paths.
    let (status, _) =
        call(&http, "PUT", "/v1/kv?key_base64=%2F%2F8A", Some(json!({ "value_base64": "AP8=" })));
    assert_eq!(status, 201);
    let (_, binary) = call(&http, "GET", "/v1/kv?key_base64=%2F%2F8A", None);
    assert_eq!(
        (binary["key_base64"].as_str(), binary["value_base64"].as_str()),
        (Some("//8A"), Some("AP8="))
    );
    let raw = http_raw_put(&http, "/v1/kv/with%20space?ttl_ms=5000", b"raw \xff bytes");
    assert!(raw.starts_with("HTTP/1.1 201"), "{raw}");
    let got = resp.call_bytes(&[bytes::Bytes::from_static(b"GET"), bytes::Bytes::from_static(b"with space")]);
    assert_eq!(got.expect("GET"), Frame::Bulk(bytes::Bytes::from_static(b"raw \xff bytes")));

    // Bad requests: a clear error, nothing changed.
    for (method, path, body) in [
        ("PUT", "/v1/kv/user/1", Some(json!({ "value": "x", "value_base64": "eA==" }))),
        ("PUT", "/v1/kv/user/1", Some(json!({ "valu": "x" }))),
        ("PUT", "/v1/kv/user/1", Some(json!({ "value": "x", "ttl_ms": 0 }))),
        ("PUT", "/v1/kv/user/1", Some(json!({ "value": "x", "if_absent": true, "if_present": true }))),
        ("GET", "/v1/kv/user/1?consistency=sometimes", None),
        ("GET", "/v1/kv?prefix=a&start=b", None),
        ("GET", "/v1/kv?prefix=a&limit=0", None),
        ("GET", "/v1/kv?prefix=a&after=%21%21", None),
        ("GET", "/v1/kv?prefix=a&encoding=hex", None),
        ("DELETE", "/v1/kv/user/1?ttl_ms=5", None),
        // A field of another route is refused, not ignored.
        ("GET", "/v1/kv/user/1?ttl_ms=5", None),
        ("GET", "/v1/kv/user/1?prev=true", None),
        ("GET", "/v1/kv/user/1?limit=5", None),
        ("GET", "/v1/kv?prefix=a&if_absent=true", None),
        ("PUT", "/v1/kv/user/1?consistency=stale", Some(json!({ "value": "x" }))),
        ("PUT", "/v1/kv/user/1?prefix=a", Some(json!({ "value": "x" }))),
        ("DELETE", "/v1/kv/user/1?keep_ttl=true", None),
        ("DELETE", "/v1/kv/user/1?count_only=true", None),
    ] {
        let (status, refused) = call(&http, method, path, body);
        assert_eq!(
            (status, refused["code"].as_str()),
            (400, Some("bad_request")),
            "{method} {path}: {refused}"
        );
    }
    let (status, _) = call(&http, "GET", "/v1/kv/user/1", None);
    assert_eq!(status, 200);
    assert_eq!(resp.call(&["GET", "user/1"]).expect("GET"), bulk("hopper"));

    // Deletes, conditional and not.
    let (status, kept) = call(&http, "DELETE", "/v1/kv/user/1?if_value=grace", None);
    assert_eq!(status, 412, "{kept}");
    let (status, deleted) = call(&http, "DELETE", "/v1/kv/user/1?if_value=hopper", None);
    assert_eq!((status, deleted["deleted"].as_u64()), (200, Some(1)), "{deleted}");
    let (status, missing) = call(&http, "GET", "/v1/kv/user/1", None);
    assert_eq!((status, missing["code"].as_str()), (404, Some("not_found")));
    assert!(revision(&missing) >= revision(&deleted));
    assert_eq!(call(&http, "DELETE", "/v1/kv/user/1", None).1["deleted"].as_u64(), Some(0));
}

/// A PUT with an `application/octet-stream` body; returns the raw response.
fn http_raw_put(addr: &str, path: &str, value: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        value.len()
    );
    stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(value)).expect("write");
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).expect("read");
    response
}

/// A raw value does not keep the buffer its request was read into: a thousand raw puts of
/// 1,000-byte values, each on a connection of its own, grow the node's `used_memory` by about
/// what the keys and the log hold (2.4 MB when measured), not by a read buffer each (9.6 MB when
/// each value was a slice of its buffer).
#[test]
fn raw_values_do_not_keep_their_read_buffers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("node"), &[]);
    let mut resp = server.client();
    let mut used_memory = || {
        // The node counts its memory on its duty pass, every 50 ms.
        std::thread::sleep(Duration::from_millis(300));
        let Frame::Bulk(info) = resp.call(&["INFO", "memory"]).expect("INFO") else { panic!("INFO is text") };
        let info = String::from_utf8_lossy(&info).into_owned();
        let field = info.lines().find_map(|line| line.strip_prefix("used_memory:")).expect("used_memory");
        field.trim().parse::<u64>().expect("a number")
    };
    let before = used_memory();
    for i in 0..1000 {
        let response = http_raw_put(&server.http_addr, &format!("/v1/kv/raw:{i}"), &[b'r'; 1000]);
        assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    }
    let grown = used_memory().saturating_sub(before);
    assert!(grown < 5_000_000, "1,000 raw values of 1,000 bytes grew used_memory by {grown} bytes");
}

/// Ranges list live keys in key order, page by page at one revision each, with every key once;
/// counts agree; transactions pick a branch atomically and batches apply all their operations.
#[test]
fn ranges_transactions_and_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("node"), &[]);
    let http = server.http_addr.clone();
    let mut resp = server.client();
    let mut expected = Vec::new();
    for i in 0..57 {
        let key = format!("item/{i:03}");
        assert_eq!(resp.call(&["SET", &key, &i.to_string()]).expect("SET"), ok());
        expected.push(key);
    }
    for other in ["item", "itemz", "other/1"] {
        assert_eq!(resp.call(&["SET", other, "x"]).expect("SET"), ok());
    }
    let mut seen = Vec::new();
    let mut path = "/v1/kv?prefix=item/&limit=10".to_owned();
    loop {
        let (status, page) = call(&http, "GET", &path, None);
        assert_eq!(status, 200, "{page}");
        let kvs = page["kvs"].as_array().expect("kvs");
        assert!(kvs.len() <= 10);
        seen.extend(kvs.iter().map(|kv| kv["key"].as_str().expect("key").to_owned()));
        match page["next"].as_str() {
            Some(token) => path = format!("/v1/kv?prefix=item/&limit=10&after={token}"),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    let (_, count) = call(&http, "GET", "/v1/kv?prefix=item/&count_only=true", None);
    assert_eq!(count["count"].as_u64(), Some(57));
    let (_, between) = call(&http, "GET", "/v1/kv?start=item/050&end=item/053&keys_only=true", None);
    let keys: Vec<&str> =
        between["kvs"].as_array().expect("kvs").iter().filter_map(|kv| kv["key"].as_str()).collect();
    assert_eq!(keys, ["item/050", "item/051", "item/052"]);
    assert!(between["kvs"][0].get("value").is_none(), "keys_only: {between}");

    // A transfer: both keys change, or neither.
    assert_eq!(resp.call(&["MSET", "acct/a", "100", "acct/b", "0"]).expect("MSET"), ok());
    let (_, a) = call(&http, "GET", "/v1/kv/acct/a", None);
    let transfer = |rev: u64| {
        json!({
            "compare": [{ "key": "acct/a", "target": "mod_revision", "op": "==", "value": rev }],
            "success": [
                { "put": { "key": "acct/a", "value": "60" } },
                { "put": { "key": "acct/b", "value": "40" } },
                { "get": { "key": "acct/b" } }
            ],
            "failure": [{ "get": { "key": "acct/a" } }]
        })
    };
    let rev = a["mod_revision"].as_u64().expect("mod_revision");
    let (status, done) = call(&http, "POST", "/v1/txn", Some(transfer(rev)));
    assert_eq!((status, done["succeeded"].as_bool()), (200, Some(true)), "{done}");
    assert_eq!(done["results"][2]["get"]["value"], "40");
    assert_eq!(done["results"][2]["get"]["mod_revision"].as_u64(), Some(revision(&done)));
    let (_, again) = call(&http, "POST", "/v1/txn", Some(transfer(rev)));
    assert_eq!(again["succeeded"].as_bool(), Some(false), "{again}");
    assert_eq!(again["results"][0]["get"]["value"], "60");
    assert_eq!(
        resp.call(&["MGET", "acct/a", "acct/b"]).expect("MGET"),
        Frame::Array(vec![bulk("60"), bulk("40")])
    );

    let (status, batch) = call(
        &http,
        "POST",
        "/v1/batch",
        Some(json!({ "ops": [
            { "put": { "key": "b/1", "value": "one", "ttl_ms": 30000 } },
            { "delete": { "key": "acct/a" } },
            { "put": { "key": "b/2", "value": "two" } }
        ] })),
    );
    assert_eq!(status, 200, "{batch}");
    assert_eq!(
        batch["results"],
        json!([{ "put": { "created": true } }, { "delete": { "deleted": 1 } }, { "put": { "created": true } }])
    );
    let (_, one) = call(&http, "GET", "/v1/kv/b/1", None);
    let (_, two) = call(&http, "GET", "/v1/kv/b/2", None);
    assert_eq!(one["mod_revision"], two["mod_revision"], "one entry, one revision");
    // A batch with a bad operation is refused whole.
    let (status, refused) = call(
        &http,
        "POST",
        "/v1/batch",
        Some(json!({ "ops": [{ "put": { "key": "b/3", "value": "x" } }, { "put": { "key": "b/4" } }] })),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(resp.call(&["EXISTS", "b/3"]).expect("EXISTS"), Frame::Integer(0));
    let (status, _) = call(
        &http,
        "POST",
        "/v1/txn",
        Some(json!({ "compare": [{ "key": "k", "target": "exists", "op": "gt", "exists": true }] })),
    );
    assert_eq!(status, 400);
}
