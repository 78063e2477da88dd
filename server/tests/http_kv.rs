//! The HTTP/JSON key API on real `redraft-server` processes (DESIGN.md §9): keys with revisions
//! and conditions, ranges that page, transactions and batches, and watch as Server-Sent Events,
//! checked against what RESP clients see of the same keys.
#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{BufRead, BufReader, Write as _};
use std::time::{Duration, Instant};

use common::{bulk, http_request, ok, ServerProcess};
use redraft_net::resp::Frame;
use serde_json::{json, Value};

fn call(http: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let text = body.map(|b| b.to_string());
    let (status, body) = http_request(http, method, path, text.as_deref());
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body:?}"));
    (status, value)
}

fn revision(body: &Value) -> u64 {
    body["revision"].as_u64().unwrap_or_else(|| panic!("no revision in {body}"))
}

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

/// Reads Server-Sent Events from a watch until `until` says stop or the deadline passes; each
/// event's SSE `id:` is put into its data as `"sse_id"`.
fn watch_events(
    addr: &str,
    path: &str,
    headers: &str,
    until: impl Fn(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    // HTTP/1.0: the body is not chunked, and ends when the connection closes.
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{headers}\r\n").expect("write");
    let mut reader = BufReader::new(stream);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut events, mut kind, mut line, mut id) = (Vec::new(), String::new(), String::new(), None);
    while Instant::now() < deadline && !until(&events) {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                continue
            }
            Err(e) => panic!("reading the watch: {e}"),
        }
        if let Some(name) = line.trim_end().strip_prefix("event: ") {
            kind = name.to_owned();
        } else if let Some(value) = line.trim_end().strip_prefix("id: ") {
            id = Some(value.to_owned());
        } else if let Some(data) = line.trim_end().strip_prefix("data: ") {
            let mut event: Value = serde_json::from_str(data).expect("JSON data");
            event["sse_id"] = json!(id.take());
            events.push((kind.clone(), event));
        } else if line.starts_with("HTTP/1.") && !line.contains(" 200 ") {
            panic!("the watch was refused: {line}");
        }
    }
    events
}

fn summary(events: &[(String, Value)]) -> Vec<String> {
    events
        .iter()
        .filter(|(kind, _)| kind != "progress")
        .map(|(kind, e)| match kind.as_str() {
            "put" => format!(
                "put {}={} @{}",
                e["key"].as_str().unwrap_or("?"),
                e["value"].as_str().unwrap_or("?"),
                e["revision"]
            ),
            "delete" => format!(
                "delete {} {} @{}",
                e["key"].as_str().unwrap_or("?"),
                e["reason"].as_str().unwrap_or("?"),
                e["revision"]
            ),
            other => format!("{other} @{}", e["revision"]),
        })
        .collect()
}

/// A watch sends every change to its keys in revision order, exactly once, from the revision it
/// asks for, puts and deletes with their reason (client, expiry, flush) and progress while quiet;
/// a resume from the last revision seen repeats nothing; a revision older than what the node
/// holds is refused as compacted, naming the oldest available.
#[test]
fn watch_streams_changes_from_a_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("node");
    let server = ServerProcess::start(&data_dir, &[]);
    let http = server.http_addr.clone();
    let mut resp = server.client();
    assert_eq!(resp.call(&["SET", "w/a", "1"]).expect("SET"), ok());
    let (_, a) = call(&http, "GET", "/v1/kv/w/a", None);
    let start = revision(&a);
    assert_eq!(resp.call(&["SET", "elsewhere", "1"]).expect("SET"), ok());
    assert_eq!(resp.call(&["SET", "w/b", "2", "PX", "100"]).expect("SET"), ok());
    assert_eq!(resp.call(&["DEL", "w/a"]).expect("DEL"), Frame::Integer(1));
    // w/b expires, and active expiry removes it (DBSIZE counts expired keys still stored).
    let deadline = Instant::now() + Duration::from_secs(10);
    while resp.call(&["DBSIZE"]).expect("DBSIZE") != Frame::Integer(1) {
        assert!(Instant::now() < deadline, "active expiry did not remove w/b");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(resp.call(&["FLUSHALL"]).expect("FLUSHALL"), ok());
    assert_eq!(resp.call(&["SET", "w/c", "3"]).expect("SET"), ok());

    let done = |events: &[(String, Value)]| events.iter().any(|(_, e)| e["key"] == "w/c");
    let events = watch_events(&http, &format!("/v1/watch?prefix=w/&start_revision={start}"), "", done);
    let seen = summary(&events);
    let kinds: Vec<&str> = seen.iter().map(|s| s.split(" @").next().unwrap_or("")).collect();
    assert_eq!(
        kinds,
        ["put w/a=1", "put w/b=2", "delete w/a client", "delete w/b expiry", "flush", "put w/c=3"],
        "{seen:?}"
    );
    let revisions: Vec<u64> = events
        .iter()
        .filter(|(k, _)| k != "progress")
        .map(|(_, e)| e["revision"].as_u64().expect("revision"))
        .collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]) && revisions[0] == start, "{revisions:?}");

    // Resuming after the delete of w/a (as EventSource does with Last-Event-ID) repeats nothing.
    let last = format!("Last-Event-ID: {}\r\n", revisions[2]);
    let resumed = watch_events(&http, "/v1/watch?prefix=w/", &last, done);
    assert_eq!(summary(&resumed).len(), 3, "{:?}", summary(&resumed));

    // Live: a quiet watch says how far it is complete, then sees a new write once.
    let (_, now) = call(&http, "GET", "/v1/kv/w/c", None);
    let live_from = revision(&now) + 1;
    let writer_addr = server.port();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        let mut client = common::SyncClient::connect(&format!("127.0.0.1:{writer_addr}")).expect("connect");
        client.call(&["SET", "w/live", "now"]).expect("SET")
    });
    let live = watch_events(&http, "/v1/watch?key=w/live&progress_ms=200", "", |events| {
        events.iter().any(|(kind, _)| kind == "put")
    });
    assert_eq!(writer.join().expect("writer"), ok());
    let progress: Vec<u64> = live.iter().filter(|(k, _)| k == "progress").map(|(_, e)| revision(e)).collect();
    assert!(!progress.is_empty() && progress.iter().all(|r| *r + 1 >= live_from), "{live:?}");
    assert_eq!(summary(&live).len(), 1, "{live:?}");

    // After a snapshot and a restart the node holds no history before the snapshot.
    assert_eq!(resp.call(&["SAVE"]).expect("SAVE"), ok());
    drop(resp);
    server.stop();
    let server = ServerProcess::start(&data_dir, &[]);
    let (status, refused) = call(&server.http_addr, "GET", "/v1/watch?prefix=w/&start_revision=1", None);
    assert_eq!((status, refused["code"].as_str()), (410, Some("compacted")), "{refused}");
    assert!(refused["oldest_revision"].as_u64().expect("oldest_revision") > start, "{refused}");
}

/// A transaction's changes share one revision. A stream cut off between two of them resumes, as
/// a browser's EventSource does (the same URL, with `Last-Event-ID`), with the rest of that
/// revision: nothing twice, nothing lost.
#[test]
fn a_watch_cut_off_inside_a_revision_resumes_with_the_rest_of_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("node"), &[]);
    let http = server.http_addr.clone();
    let put = |key: &str, value: &str| json!({ "put": { "key": key, "value": value } });
    let body = json!({ "compare": [], "success": [put("t/a", "1"), put("t/b", "2"), put("t/c", "3")] });
    let (status, done) = call(&http, "POST", "/v1/txn", Some(body));
    assert_eq!((status, done["succeeded"].as_bool()), (200, Some(true)), "{done}");
    let at = revision(&done);
    let path = format!("/v1/watch?prefix=t/&start_revision={at}");
    let changes = |events: &[(String, Value)]| events.iter().filter(|(k, _)| k != "progress").count();
    let first = watch_events(&http, &path, "", |events| changes(events) == 2);
    let ids: Vec<String> =
        first.iter().map(|(_, e)| e["sse_id"].as_str().unwrap_or("none").to_owned()).collect();
    assert_eq!(ids, [format!("{at}.1"), format!("{at}.2")], "{first:?}");

    let header = format!("Last-Event-ID: {}\r\n", ids[1]);
    let rest = watch_events(&http, &path, &header, |events| changes(events) == 1);
    assert_eq!(summary(&rest), [format!("put t/c=3 @{at}")], "{rest:?}");
    assert_eq!(rest[0].1["sse_id"], json!(at.to_string()), "the revision is whole after its last change");
    // Resuming after the whole revision (or after a progress event) starts past it.
    let header = format!("Last-Event-ID: {at}\r\n");
    let (_, more) = call(&http, "PUT", "/v1/kv/t/d", Some(json!({ "value": "4" })));
    let after = watch_events(&http, &path, &header, |events| changes(events) == 1);
    assert_eq!(summary(&after), [format!("put t/d=4 @{}", revision(&more))], "{after:?}");
}

/// The watch over a WebSocket: the same changes as JSON messages, and a progress answer as soon
/// as the client asks for one, saying every change up to it was sent.
#[test]
fn watch_over_a_websocket_answers_progress_requests() {
    use tungstenite::Message;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("node"), &[]);
    let mut resp = server.client();
    assert_eq!(resp.call(&["SET", "ws/before", "1"]).expect("SET"), ok());
    let url = format!("ws://{}/v1/watch?prefix=ws/&progress_ms=600000", server.http_addr);
    let (mut socket, _) = tungstenite::connect(url).expect("the WebSocket upgrade");
    let next = |socket: &mut tungstenite::WebSocket<_>| -> Value {
        loop {
            match socket.read().expect("a message") {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    socket.send(Message::Text(json!({ "progress": true }).to_string())).expect("send");
    let progress = next(&mut socket);
    assert_eq!(progress["type"], "progress", "{progress}");
    let (_, before) = call(&server.http_addr, "GET", "/v1/kv/ws/before", None);
    assert!(revision(&progress) >= before["mod_revision"].as_u64().expect("mod_revision"), "{progress}");

    assert_eq!(resp.call(&["SET", "ws/k", "v"]).expect("SET"), ok());
    let put = next(&mut socket);
    assert_eq!(
        (put["type"].as_str(), put["key"].as_str(), put["value"].as_str()),
        (Some("put"), Some("ws/k"), Some("v"))
    );
    socket.send(Message::Text("hello".into())).expect("send");
    assert_eq!(next(&mut socket)["code"], "bad_request");
    socket.send(Message::Text(json!({ "progress": true }).to_string())).expect("send");
    let after = next(&mut socket);
    assert_eq!(
        (after["type"].as_str(), after["revision"].as_u64()),
        (Some("progress"), put["revision"].as_u64())
    );
    socket.close(None).expect("close");
}

fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server's status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// A watcher that stops reading is cut off with `compacted` once the changes it has not taken
/// leave the history window, and costs the server no more memory than the window: 100 MB of
/// changes go by while it sleeps, and the server's resident memory grows by far less.
#[test]
fn a_watcher_that_stops_reading_is_cut_off_with_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("redraft.toml");
    std::fs::write(&config, "watch-history-changes = 50\nfsync = \"no\"\n").expect("config");
    let server =
        ServerProcess::start(&dir.path().join("node"), &["--config", config.to_str().expect("utf-8")]);
    let mut resp = server.client();
    let mut stream = std::net::TcpStream::connect(&server.http_addr).expect("connect");
    write!(stream, "GET /v1/watch?prefix=slow/ HTTP/1.0\r\nHost: x\r\n\r\n").expect("write");
    std::thread::sleep(Duration::from_millis(300));
    let before = resident_bytes(server.child.id());
    let value = "x".repeat(64 * 1024);
    for round in 0..40 {
        let commands: Vec<Vec<String>> = (0..40)
            .map(|i| vec!["SET".into(), format!("slow/{}", i % 10), format!("{round}{value}")])
            .collect();
        let commands: Vec<Vec<&str>> =
            commands.iter().map(|c| c.iter().map(String::as_str).collect()).collect();
        let commands: Vec<&[&str]> = commands.iter().map(Vec::as_slice).collect();
        let replies = resp.pipeline(&commands).expect("SET");
        assert!(replies.iter().all(|r| *r == ok()), "{replies:?}");
    }
    let after = resident_bytes(server.child.id());
    assert!(
        after < before + 40 * 1024 * 1024,
        "RSS grew from {before} to {after} bytes for one stalled watcher"
    );

    // Now it reads: some changes, then the reason it was cut off, then the end.
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut events = Vec::new();
    let mut kind = String::new();
    for line in BufReader::new(stream).lines() {
        let line = line.expect("the stream ends rather than stalls");
        if let Some(name) = line.strip_prefix("event: ") {
            kind = name.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ") {
            events.push((kind.clone(), serde_json::from_str::<Value>(data).expect("JSON")));
        }
    }
    let (last_kind, last) = events.last().expect("events");
    assert_eq!((last_kind.as_str(), last["code"].as_str()), ("error", Some("compacted")), "{last}");
    assert!(last["error"].as_str().is_some_and(|e| e.contains("fell behind")), "{last}");
    let puts = events.iter().filter(|(k, _)| k == "put").count();
    assert!(puts < 1600, "it was cut off before the end: {puts} puts");
}
